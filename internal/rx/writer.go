package rx

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/groupcommit"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// IssueRequest is one signed prescription to store (P carries its reserved
// id, its version and the doctor's signature), with its notices and the
// audit entry that commits with it. The store sets Err.
type IssueRequest struct {
	P     *Prescription
	Notes []notify.Notification
	Audit *audit.Entry
	Err   error
}

// ReviewRequest is one review to store: P carries the decision (Status),
// the reviewer, the reasons and, for an approval, the pharmacist's
// signature as its last Signatures entry. The store sets Err.
type ReviewRequest struct {
	P     *Prescription
	Notes []notify.Notification
	Audit *audit.Entry
	Err   error
}

// BatchMax is the most prescriptions (or reviews) one transaction writes.
const BatchMax = 64

// Writer writes issues and reviews by group commit: concurrent requests
// share one transaction, and everything slow (reading, checking, signing)
// happens before, outside the writer.
type Writer struct {
	st     Store
	issue  *groupcommit.Writer[*IssueRequest]
	review *groupcommit.Writer[*ReviewRequest]

	mu     sync.Mutex
	visits map[int64]*visitLock // issues in progress, by visit
}

type visitLock struct {
	sync.Mutex
	users int
}

// lockVisit serialises this server's issues for one visit, so that they
// do not race for its next version (servers sharing a database still may:
// the store's uniqueness decides, and the loser tries again).
func (w *Writer) lockVisit(id int64) func() {
	w.mu.Lock()
	l := w.visits[id]
	if l == nil {
		l = &visitLock{}
		w.visits[id] = l
	}
	l.users++
	w.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		w.mu.Lock()
		if l.users--; l.users == 0 {
			delete(w.visits, id)
		}
		w.mu.Unlock()
	}
}

// NewWriter starts the writers; Close stops them.
func NewWriter(st Store) *Writer {
	return &Writer{st: st, visits: map[int64]*visitLock{},
		issue:  groupcommit.New("prescription issue", BatchMax, st.Issue),
		review: groupcommit.New("prescription review", BatchMax, st.Review)}
}

// Close writes what is queued and stops.
func (w *Writer) Close() {
	w.issue.Close()
	w.review.Close()
}

// Issue numbers, signs and stores a checked prescription: the version is
// the visit's next (when p.Revises is set, that one must be the visit's
// latest and rejected), the id reserved, the doctor's signature made over
// both, and the row written whole with its signature. A concurrent issue
// for the same visit that took the version first makes it read, sign and
// try again. The audit entry (if any) gets the id and commits with it.
func (w *Writer) Issue(ctx context.Context, p *Prescription, doctor *Signer, notes []notify.Notification, entry *audit.Entry) error {
	defer w.lockVisit(p.VisitID)()
	for attempt := 0; ; attempt++ {
		latestID, latest, status, err := w.st.LatestVersion(ctx, p.VisitID)
		if err != nil {
			return err
		}
		if p.Revises != 0 && (p.Revises != latestID || status != Rejected) {
			return errs.E(CodeRevises)
		}
		p.Version = latest + 1
		if p.ID, err = w.st.ReservePrescriptionID(ctx); err != nil {
			return err
		}
		sig, err := doctor.Sign(DoctorContent(p), p.IssuedAt)
		if err != nil {
			return err
		}
		p.Signatures = []Signature{sig}
		if entry != nil {
			entry.ObjectID, entry.Institution, entry.Detail = itoa(p.ID), p.Institution, "v"+strconv.Itoa(p.Version)
			if len(p.Confirmed) > 0 {
				entry.Detail += " confirmed " + strings.Join(p.Confirmed, ",")
			}
		}
		err = w.Write(ctx, &IssueRequest{P: p, Notes: notes, Audit: entry})
		if errs.Is(err, errs.Conflict) && attempt < 5 {
			continue
		}
		return err
	}
}

// Write queues one signed prescription for the next group commit and
// returns its outcome (Issue numbers and signs before calling it).
func (w *Writer) Write(ctx context.Context, req *IssueRequest) error {
	if err := w.issue.Do(ctx, req); err != nil {
		return err
	}
	return req.Err
}

// Review stores a review (see ReviewRequest); sign the approval before.
func (w *Writer) Review(ctx context.Context, p *Prescription, notes []notify.Notification, entry *audit.Entry) error {
	if entry != nil {
		entry.ObjectID, entry.Institution = itoa(p.ID), p.Institution
	}
	req := &ReviewRequest{P: p, Notes: notes, Audit: entry}
	if err := w.review.Do(ctx, req); err != nil {
		return err
	}
	return req.Err
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
