// Package cdc reports notifiable infectious diseases to disease control
// (疾控, W-5; issue 16). The notifiable list is data (ICD-10 codes the
// regulator edits); a visit record signed (or amended) with a diagnosis on
// it writes a report to an outbox in the same transaction, and a sender
// posts each report as a FHIR message Bundle to the configured receiver,
// retrying with backoff until it is taken: nothing is lost, and the
// receiver knows a report sent twice by its message id.
package cdc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Disease is a notifiable disease of the list: an ICD-10 code (a category
// such as A38 also matches its subcodes A38.x).
type Disease struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	NameEN    string    `json:"name_en"`
	Class     string    `json:"class"` // A (甲类), B (乙类), C (丙类)
	Active    bool      `json:"active"`
	UpdatedBy int64     `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Matches says whether a diagnosis code is the disease's code or one of
// its subcodes.
func (d Disease) Matches(code string) bool {
	code = strings.ToUpper(strings.TrimSpace(code))
	return d.Active && (code == d.Code || strings.HasPrefix(code, d.Code+"."))
}

// Match finds the notifiable disease a diagnosis code is on the list as.
func Match(list []Disease, code string) (Disease, bool) {
	for _, d := range list {
		if d.Matches(code) {
			return d, true
		}
	}
	return Disease{}, false
}

// Validate checks a disease to save; known says whether a code is on the
// shipped ICD-10 list (a category is known when one of its codes is).
func (d *Disease) Validate(known func(string) bool) error {
	var f errs.Fields
	d.Code, d.Name, d.NameEN = strings.ToUpper(strings.TrimSpace(d.Code)), strings.TrimSpace(d.Name), strings.TrimSpace(d.NameEN)
	if d.Code == "" {
		f.Add("code", "required")
	} else if !known(d.Code) {
		f.Add("code", "icd_unknown")
	}
	if d.Name == "" {
		f.Add("name", "required")
	} else if utf8.RuneCountInString(d.Name) > 100 {
		f.Add("name", "too_long")
	}
	switch d.Class {
	case "A", "B", "C":
	case "":
		f.Add("class", "required")
	default:
		f.Add("class", "invalid")
	}
	return f.Err()
}

// Report is one report in the outbox: a visit's diagnosis on the list.
type Report struct {
	ID          int64     `json:"id"`
	VisitID     int64     `json:"visit_id"`
	Code        string    `json:"code"`    // the diagnosis' code
	Disease     string    `json:"disease"` // the list's code it matched
	Institution string    `json:"institution"`
	CreatedAt   time.Time `json:"created_at"`
	Attempts    int       `json:"attempts"`
	NextAt      time.Time `json:"next_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	SentAt      time.Time `json:"sent_at,omitzero"`
}

// MessageID is the report's message id, the same on every try.
func (r Report) MessageID() string { return fmt.Sprintf("yunyi-cdc-%d", r.ID) }

// Store keeps the list and the outbox. The outbox rows are written by the
// store itself, in the transaction that signs a record.
type Store interface {
	NotifiableDiseases(ctx context.Context) ([]Disease, error)
	SaveNotifiable(ctx context.Context, d *Disease) error
	// ClaimReports takes up to limit reports due at now, each leased until
	// now+lease so that another sender does not post it meanwhile.
	ClaimReports(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Report, error)
	ReportSent(ctx context.Context, id int64, body []byte, at time.Time) error
	ReportFailed(ctx context.Context, id int64, reason string, next time.Time) error
	CDCReports(ctx context.Context, limit int) ([]Report, error)
}

// Backoff is the wait after the n-th failed try: 5 s doubling, at most
// 10 minutes.
func Backoff(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// Sender posts the outbox to the receiver.
type Sender struct {
	Store  Store
	URL    string
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time
	// Build makes the report's FHIR message Bundle.
	Build func(ctx context.Context, r Report) ([]byte, error)
	// Every is the wait between rounds (default 2 s).
	Every time.Duration
}

// Lease is how long a claimed report is left to its sender.
const Lease = time.Minute

// RunOnce posts every report due now, once each; it answers how many the
// receiver took.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	sent := 0
	for {
		list, err := s.Store.ClaimReports(ctx, s.Now(), Lease, 50)
		if err != nil || len(list) == 0 {
			return sent, err
		}
		for _, r := range list {
			if err := s.post(ctx, r); err != nil {
				if ctx.Err() != nil {
					return sent, ctx.Err()
				}
				next := s.Now().Add(Backoff(r.Attempts + 1))
				s.Log.Warn("cdc report not taken", "report", r.ID, "attempt", r.Attempts+1, "retry_at", next, "err", err)
				if err := s.Store.ReportFailed(ctx, r.ID, err.Error(), next); err != nil {
					return sent, err
				}
				continue
			}
			sent++
		}
	}
}

func (s *Sender) post(ctx context.Context, r Report) error {
	body, err := s.Build(ctx, r)
	if err != nil {
		return fmt.Errorf("build report %d: %w", r.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := s.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return s.Store.ReportSent(ctx, r.ID, body, s.Now())
}

// Run sends until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("cdc sender", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
