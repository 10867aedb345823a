package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/blob"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/qualification"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// The regulator's side (issue 13): an institution's application for its
// internet-diagnosis qualification and its yearly re-validation (S-1, G-1,
// N-23), the regulator's decision, suspension and its lifting, the
// re-validation loop, the pilot designations (G-2, S-5), and the public
// directory of the institutions allowed online (N-8, N-21).

// complaintsPath is the complaint channel (N-21) the public directory
// links to.
const complaintsPath = "/complaints/new"

// Error codes of the qualification's web side.
const (
	codeNotApproved          = "not_approved"
	codeNotSuspended         = "not_suspended"
	codeApplicationRequired  = "application_required"
	codeRevalidationRequired = "revalidation_required"
	codePhotoType            = "photo_type"
)

// --- applications ---

// applicationIn is an application as the institution sends it: JSON, or
// the multipart part "application" beside its "file" parts.
type applicationIn struct {
	Kind          qualification.Kind `json:"kind"`
	Departments   []string           `json:"departments"`
	Services      []string           `json:"services"`
	Practitioners []int64            `json:"practitioners"`
	Note          string             `json:"note"`
}

// upload is a file of a request, read once.
type upload struct {
	name string
	body io.Reader
}

// storeDocument keeps an uploaded file in the blob store: its type judged
// from its first bytes (JPEG, PNG or PDF), its size bounded while reading.
func (s *Server) storeDocument(ctx context.Context, institution string, u upload, by int64) (qualification.Document, error) {
	ctype, ext, br, err := blob.Sniff(u.body, allowedTypes)
	if err != nil {
		return qualification.Document{}, errs.E("attachment_type")
	}
	info, err := s.blobs.Put(ctx, "qualification/"+institution, br, qualification.MaxDocumentBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, blob.ErrTooLarge) || errors.As(err, &mbe) {
			return qualification.Document{}, errs.E("attachment_too_large", qualification.MaxDocumentBytes>>20)
		}
		return qualification.Document{}, err
	}
	return qualification.Document{Name: cleanName(u.name, ext), ContentType: ctype, Size: info.Size, SHA256: info.SHA256, BlobKey: info.Key,
		UploadedBy: by, CreatedAt: s.cfg.Now()}, nil
}

// dropDocuments removes the blobs of documents that were not recorded.
func (s *Server) dropDocuments(ctx context.Context, docs []qualification.Document) {
	for _, d := range docs {
		s.blobs.Delete(context.WithoutCancel(ctx), d.BlobKey)
	}
}

// readApplication reads a new application: a JSON body, or a multipart
// form whose part "application" is the JSON and whose "file" parts are its
// documents (stored as they come; the caller drops them when the
// application is refused).
func (s *Server) readApplication(w http.ResponseWriter, r *http.Request, institution string) (applicationIn, []qualification.Document, error) {
	var in applicationIn
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return in, nil, decode(w, r, &in)
	}
	r.Body = http.MaxBytesReader(w, r.Body, qualification.MaxTotalBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return in, nil, errs.E("bad_file")
	}
	var docs []qualification.Document
	fail := func(err error) (applicationIn, []qualification.Document, error) {
		s.dropDocuments(r.Context(), docs)
		return in, nil, err
	}
	sawJSON := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(errs.E("bad_file"))
		}
		switch part.FormName() {
		case "application":
			body, err := io.ReadAll(io.LimitReader(part, maxBody+1))
			part.Close()
			if err != nil || len(body) > maxBody {
				return fail(errs.E(errs.PayloadTooBig))
			}
			if err := decodeBytes(body, &in); err != nil {
				return fail(err)
			}
			sawJSON = true
		case "file":
			if len(docs) >= qualification.MaxDocuments {
				part.Close()
				return fail(errs.E(sqlstore.CodeDocumentCount, qualification.MaxDocuments))
			}
			if !s.limits.allow("upload-account", strconv.FormatInt(actor(r).ID, 10)) {
				part.Close()
				return fail(errs.E(errs.RateLimited))
			}
			d, err := s.storeDocument(r.Context(), institution, upload{name: part.FileName(), body: part}, actor(r).ID)
			part.Close()
			if err != nil {
				return fail(err)
			}
			docs = append(docs, d)
		default:
			part.Close()
		}
	}
	if !sawJSON {
		var f errs.Fields
		f.Add("application", "required")
		return fail(f.Err())
	}
	var total int64
	for _, d := range docs {
		total += d.Size
	}
	if total > qualification.MaxTotalBytes {
		return fail(errs.E(sqlstore.CodeDocumentTotal, qualification.MaxTotalBytes>>20))
	}
	return in, docs, nil
}

// createApplication validates and stores an institution's application
// with the documents already in the blob store (dropped when refused).
func (s *Server) createApplication(r *http.Request, code string, in applicationIn, docs []qualification.Document) (*qualification.Application, error) {
	a := actor(r)
	if !authz.ApplyForQualification(a, code) {
		s.dropDocuments(r.Context(), docs)
		return nil, errs.E(errs.Forbidden)
	}
	app, err := s.newApplication(r.Context(), code, in, docs, a.ID)
	if err == nil {
		err = s.db.CreateApplication(r.Context(), app, s.entry(r, "qualification.apply", "application", "", code, string(app.Kind)))
	}
	if err != nil {
		s.dropDocuments(r.Context(), docs)
		return nil, err
	}
	return s.db.Application(r.Context(), app.ID)
}

func (s *Server) newApplication(ctx context.Context, code string, in applicationIn, docs []qualification.Document, by int64) (*qualification.Application, error) {
	inst, err := s.dir.Institution(ctx, code)
	if err != nil {
		return nil, err
	}
	doctors, err := s.dir.Practitioners(ctx, code)
	if err != nil {
		return nil, err
	}
	app := &qualification.Application{Institution: code, Kind: in.Kind, Departments: in.Departments, Services: in.Services,
		Practitioners: in.Practitioners, Note: strings.TrimSpace(in.Note), Documents: docs, SubmittedBy: by, SubmittedAt: s.cfg.Now()}
	if app.Kind == "" {
		app.Kind = qualification.KindQualification
		if inst.ApprovedOn != "" {
			app.Kind = qualification.KindRevalidation
		}
	}
	return app, app.Validate(inst, doctors)
}

func (s *Server) apiApply(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !authz.ApplyForQualification(actor(r), code) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	in, docs, err := s.readApplication(w, r, code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	app, err := s.createApplication(r, code, in, docs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, app)
}

type applicationList struct {
	Items []qualification.Application `json:"items"`
}

// institutionApplications lists an institution's applications, newest
// first: its admin and the regulator.
func (s *Server) institutionApplications(ctx context.Context, c call, _ none) (applicationList, error) {
	code := c.Path("code")
	if !authz.SeeApplications(c.Actor, code) {
		return applicationList{}, errs.E(errs.Forbidden)
	}
	if _, err := s.dir.Institution(ctx, code); err != nil {
		return applicationList{}, err
	}
	list, err := s.db.Applications(ctx, qualification.Filter{Institution: code})
	return applicationList{Items: list}, err
}

// listApplications is the regulator's queue (?status=pending, the oldest
// waiting first) or list; an institution's admin gets its own.
func (s *Server) listApplications(ctx context.Context, c call, _ none) (applicationList, error) {
	f := qualification.Filter{Institution: c.Query("institution"), Status: qualification.Status(c.Query("status"))}
	switch {
	case c.Actor.Role == identity.RoleRegulator:
	case c.Actor.Role == identity.RoleInstitutionAdmin:
		f.Institution = c.Actor.Institution
	default:
		return applicationList{}, errs.E(errs.Forbidden)
	}
	switch f.Status {
	case "", qualification.Pending, qualification.Approved, qualification.Refused:
	default:
		var fe errs.Fields
		fe.Add("status", "not_an_option")
		return applicationList{}, fe.Err()
	}
	list, err := s.db.Applications(ctx, f)
	if err != nil {
		return applicationList{}, err
	}
	if f.Status == qualification.Pending {
		for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
			list[i], list[j] = list[j], list[i] // oldest waiting first
		}
	}
	return applicationList{Items: list}, nil
}

// seeApplication loads the application of the path for someone who may
// see it; to anyone else it does not exist.
func (s *Server) seeApplication(ctx context.Context, c call) (*qualification.Application, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	app, err := s.db.Application(ctx, id)
	if err != nil {
		return nil, err
	}
	if !authz.SeeApplications(c.Actor, app.Institution) {
		return nil, errs.E(errs.NotFound)
	}
	return app, nil
}

func (s *Server) getApplication(ctx context.Context, c call, _ none) (*qualification.Application, error) {
	return s.seeApplication(ctx, c)
}

// addDocument adds a file to the institution's pending application.
func (s *Server) addDocument(r *http.Request, app *qualification.Application, u upload) (*qualification.Document, error) {
	if !authz.ApplyForQualification(actor(r), app.Institution) {
		return nil, errs.E(errs.Forbidden)
	}
	if app.Status != qualification.Pending {
		return nil, errs.E(sqlstore.CodeApplicationDecided)
	}
	if !s.limits.allow("upload-account", strconv.FormatInt(actor(r).ID, 10)) {
		return nil, errs.E(errs.RateLimited)
	}
	d, err := s.storeDocument(r.Context(), app.Institution, u, actor(r).ID)
	if err != nil {
		return nil, err
	}
	d.ApplicationID = app.ID
	if err := s.db.AddDocument(r.Context(), &d, s.entry(r, "qualification.document.add", "application", strconv.FormatInt(app.ID, 10),
		app.Institution, d.Name)); err != nil {
		s.dropDocuments(r.Context(), []qualification.Document{d})
		return nil, err
	}
	return &d, nil
}

func (s *Server) apiAddDocument(w http.ResponseWriter, r *http.Request) {
	app, err := s.seeApplication(r.Context(), call{Actor: actor(r), r: r})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, qualification.MaxDocumentBytes+1<<20)
	name, body, closeFn, err := readUpload(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer closeFn()
	d, err := s.addDocument(r, app, upload{name: name, body: body})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

// apiDocument serves a document of an application to its institution's
// admin and the regulator (audited).
func (s *Server) apiDocument(w http.ResponseWriter, r *http.Request) {
	c := call{Actor: actor(r), r: r}
	app, err := s.seeApplication(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	did, err := c.PathID("did")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.db.Document(r.Context(), app.ID, did)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.record(r, "qualification.document.read", "application", strconv.FormatInt(app.ID, 10), app.Institution, d.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveStored(w, r, storedFile{Key: d.BlobKey, ContentType: d.ContentType, Name: d.Name, Size: d.Size})
}

// decisionIn is the regulator's decision on an application.
type decisionIn struct {
	Approve    *bool  `json:"approve"`
	Reasons    string `json:"reasons"`
	ValidUntil string `json:"valid_until"` // optional: a shorter term than a year
}

// decide approves or refuses an application with reasons (G-1): an
// approval opens the institution's services for the term (N-23); a refusal
// keeps them as they are. The institution's admins are told either way.
func (s *Server) decide(ctx context.Context, c call, in decisionIn) (*qualification.Application, error) {
	if !authz.DecideApplications(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	app, err := s.seeApplication(ctx, c)
	if err != nil {
		return nil, err
	}
	if in.Approve == nil {
		var f errs.Fields
		f.Add("approve", "required")
		return nil, f.Err()
	}
	inst, err := s.dir.Institution(ctx, app.Institution)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	from, until := qualification.TermOf(app.Kind, inst, qualification.Day(now))
	reasons := strings.TrimSpace(in.Reasons)
	if err := qualification.ValidateDecision(*in.Approve, reasons, in.ValidUntil, from, until); err != nil {
		return nil, err
	}
	if app.Status != qualification.Pending {
		return nil, errs.E(sqlstore.CodeApplicationDecided)
	}
	if in.ValidUntil != "" {
		until = in.ValidUntil
	}
	verdict := "refused"
	if *in.Approve {
		verdict = "approved " + from + ".." + until
	}
	d := qualification.Decision{ApplicationID: app.ID, Approve: *in.Approve, Reasons: reasons, By: c.Actor.ID, At: now, From: from, Until: until}
	decided, told, err := s.db.Decide(ctx, d, s.teller(inst, "reopened", ""),
		s.entry(c.r, "qualification.decide", "application", strconv.FormatInt(app.ID, 10), app.Institution, verdict+" "+reasons))
	if err != nil {
		return nil, err
	}
	s.invalidateBooking()
	s.textFamilies(inst, "reopened", "", told)
	s.tellAdmins(ctx, inst, "qualification_decided", decisionNotice(inst, decided))
	return decided, nil
}

// decisionNotice is what the institution's admins read of a decision.
func decisionNotice(inst *directory.Institution, a *qualification.Application) func(l i18n.Lang) (string, string) {
	return func(l i18n.Lang) (string, string) {
		kind := i18n.T(l, "application.kind."+string(a.Kind))
		if a.Status == qualification.Approved {
			return i18n.T(l, "qual.approved.title"), i18n.T(l, "qual.approved.body", regName(inst, l), kind, a.ValidFrom, a.ValidUntil, a.Reasons)
		}
		return i18n.T(l, "qual.refused.title"), i18n.T(l, "qual.refused.body", regName(inst, l), kind, a.Reasons)
	}
}

func regName(inst *directory.Institution, l i18n.Lang) string {
	if l == i18n.EN && inst.NameEN != "" {
		return inst.NameEN
	}
	return inst.Name
}

// teller writes the notice of a family booked on the institution's
// services when they close (suspended, with the reason) or open again
// (reopened).
func (s *Server) teller(inst *directory.Institution, kind, reason string) qualification.Teller {
	return func(a schedule.Appointment) notify.Notification {
		at := a.Start.In(dates.Beijing).Format("2006-01-02 15:04")
		n := notify.Notification{AccountID: a.AccountID, Kind: "institution_" + kind, Ref: "appointment/" + strconv.FormatInt(a.ID, 10), CreatedAt: s.cfg.Now()}
		n.Title, n.TitleEN = i18n.T(i18n.ZH, "qual."+kind+".title"), i18n.T(i18n.EN, "qual."+kind+".title")
		n.Body = i18n.T(i18n.ZH, "qual."+kind+".body", inst.Name, reason, a.PatientName, a.ServiceName, at, a.DoctorName)
		n.BodyEN = i18n.T(i18n.EN, "qual."+kind+".body", regName(inst, i18n.EN), reason, a.PatientName, a.Service, at, a.DoctorName)
		return n
	}
}

// textFamilies sends the families told of a change their SMS (the inbox
// notices are written with the change).
func (s *Server) textFamilies(inst *directory.Institution, kind, reason string, told []schedule.Appointment) {
	tell := s.teller(inst, kind, reason)
	for _, a := range told {
		n := tell(a)
		s.sendSMS(a.AccountID, n.Kind, "【云医】"+n.Body)
	}
}

// tellAdmins writes a notice to every admin account of the institution
// and texts them (best effort: the change is made and audited already).
func (s *Server) tellAdmins(ctx context.Context, inst *directory.Institution, kind string, text func(l i18n.Lang) (string, string)) {
	admins, err := s.db.InstitutionAdmins(ctx, inst.Code)
	if err != nil {
		s.log.Warn("institution admins not told", "institution", inst.Code, "err", err)
		return
	}
	title, body := text(i18n.ZH)
	titleEN, bodyEN := text(i18n.EN)
	for _, id := range admins {
		n := &notify.Notification{AccountID: id, Kind: kind, Title: title, Body: body, TitleEN: titleEN, BodyEN: bodyEN,
			Ref: "institution/" + inst.Code, CreatedAt: s.cfg.Now()}
		if err := s.db.Notify(ctx, n); err != nil {
			s.log.Warn("institution admin not told", "institution", inst.Code, "err", err)
			continue
		}
		s.sendSMS(id, kind, "【云医】"+body)
	}
}

// --- suspension and its lifting ---

// suspendInstitution closes an approved institution's services (G-3, or
// N-23 when overdueOn is set: only if its approval lapsed before that
// day): the status becomes suspended with the reason, its future slots
// stop taking bookings, and every family booked on them is told, by inbox
// in the same transaction and by SMS after it. A direct suspension of an
// institution that is not approved is refused (not_approved); an overdue
// one that another server made already is nothing.
func (s *Server) suspendInstitution(ctx context.Context, code, reason, overdueOn string, entry *audit.Entry) (bool, error) {
	inst, err := s.dir.Institution(ctx, code)
	if err != nil {
		return false, err
	}
	told, done, err := s.db.Suspend(ctx, qualification.Suspension{Institution: code, Reason: reason, At: s.cfg.Now(), OverdueOn: overdueOn,
		Tell: s.teller(inst, "suspended", reason), Audit: entry})
	if err != nil {
		return false, err
	}
	if !done {
		if overdueOn != "" {
			return false, nil
		}
		return false, errs.E(codeNotApproved)
	}
	s.invalidateBooking()
	s.textFamilies(inst, "suspended", reason, told)
	s.tellAdmins(ctx, inst, "institution_suspended", func(l i18n.Lang) (string, string) {
		return i18n.T(l, "qual.suspended_admin.title"), i18n.T(l, "qual.suspended_admin.body", regName(inst, l), reason, len(told))
	})
	return true, nil
}

// reinstateInstitution lifts a suspension while the approval is valid
// (G-3): the services open again and the families still booked are told.
// A pending institution needs an application; a lapsed approval a
// re-validation.
func (s *Server) reinstateInstitution(r *http.Request, code, note string) error {
	ctx := r.Context()
	inst, err := s.dir.Institution(ctx, code)
	if err != nil {
		return err
	}
	today := qualification.Day(s.cfg.Now())
	told, done, err := s.db.Reinstate(ctx, qualification.Reinstatement{Institution: code, Today: today, Note: note, At: s.cfg.Now(),
		Tell: s.teller(inst, "reopened", ""), Audit: s.entry(r, "institution.qualification", "institution", code, code, "approved (reinstated) "+note)})
	if err != nil {
		return err
	}
	if !done {
		switch {
		case inst.Status == directory.QualApproved:
			return errs.E(codeNotSuspended)
		case inst.ApprovedOn == "":
			return errs.E(codeApplicationRequired)
		default:
			return errs.E(codeRevalidationRequired)
		}
	}
	s.invalidateBooking()
	s.textFamilies(inst, "reopened", "", told)
	return nil
}

func (s *Server) apiQualification(w http.ResponseWriter, r *http.Request) {
	var in qualificationIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	code := r.PathValue("code")
	if err := s.setQualification(r, code, in); err != nil {
		s.fail(w, r, err)
		return
	}
	i, err := s.dir.Institution(r.Context(), code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeInstitution(w, r, http.StatusOK, i)
}

// --- the yearly re-validation (N-23) ---

// Revalidation is what one run of the re-validation did.
type Revalidation struct {
	Reminded  []string // institutions whose admins were reminded
	Suspended []string // institutions suspended because their approval lapsed
}

// Revalidate runs the re-validation once (N-23), as the loop inside
// `yunyi serve` does: the admins of every approved institution whose
// approval lapses within NoticeDays are reminded, once per approval; an
// institution whose approval lapsed is suspended on the day it lapses,
// once. Both are compare-and-set in the database, so servers sharing it
// may all run the loop.
func (s *Server) Revalidate(ctx context.Context) (Revalidation, error) {
	var out Revalidation
	now := s.cfg.Now()
	today := qualification.Day(now)
	overdue, err := s.db.Overdue(ctx, today)
	if err != nil {
		return out, err
	}
	for _, code := range overdue {
		reason := i18n.T(i18n.ZH, "qual.lapsed_reason")
		entry := &audit.Entry{At: now.UTC().Truncate(time.Microsecond), ActorRole: "system", Action: "institution.qualification",
			ObjectType: "institution", ObjectID: code, Institution: code, Detail: "suspended: re-validation overdue (N-23)"}
		done, err := s.suspendInstitution(ctx, code, reason, today, entry)
		if err != nil {
			return out, err
		}
		if done {
			out.Suspended = append(out.Suspended, code)
		}
	}
	var texts []struct {
		account int64
		body    string
	}
	insts, err := s.db.RemindRevalidations(ctx, qualification.RemindUntil(today), now, func(inst directory.Institution, admins []int64) ([]notify.Notification, *audit.Entry) {
		due := qualification.DueOn(inst.ValidUntil)
		var ns []notify.Notification
		for _, id := range admins {
			n := notify.Notification{AccountID: id, Kind: "revalidation_due", Ref: "institution/" + inst.Code, CreatedAt: now,
				Title: i18n.T(i18n.ZH, "qual.reminder.title"), TitleEN: i18n.T(i18n.EN, "qual.reminder.title"),
				Body: i18n.T(i18n.ZH, "qual.reminder.body", inst.Name, inst.ValidUntil, due), BodyEN: i18n.T(i18n.EN, "qual.reminder.body", regName(&inst, i18n.EN), inst.ValidUntil, due)}
			ns = append(ns, n)
			texts = append(texts, struct {
				account int64
				body    string
			}{id, n.Body})
		}
		return ns, &audit.Entry{At: now.UTC().Truncate(time.Microsecond), ActorRole: "system", Action: "qualification.remind", ObjectType: "institution",
			ObjectID: inst.Code, Institution: inst.Code, Detail: "valid until " + inst.ValidUntil}
	})
	if err != nil {
		return out, err
	}
	for _, t := range texts {
		s.sendSMS(t.account, "revalidation_due", "【云医】"+t.body)
	}
	for _, i := range insts {
		out.Reminded = append(out.Reminded, i.Code)
	}
	return out, nil
}

// startRevalidation runs Revalidate every cfg.QualificationLoop (default
// 10 minutes) until stop.
func (s *Server) startRevalidation(cfg Config) {
	ctx, stop := context.WithCancel(context.Background())
	s.stopQual = stop
	if cfg.QualificationLoop < 0 {
		return
	}
	every := cfg.QualificationLoop
	if every == 0 {
		every = 10 * time.Minute
	}
	// Not in s.bg: that group is what tests wait on for background sends.
	s.qualDone = make(chan struct{})
	go func() {
		defer close(s.qualDone)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := s.Revalidate(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("re-validation not run", "err", err)
			}
		}
	}()
}

// --- pilot designations (G-2, S-5) ---

// pilotIn is a designation as the regulator writes it; PUT replaces both
// dates, so both must be there (to: "" for no end).
type pilotIn struct {
	From *string `json:"from"`
	To   *string `json:"to"`
}

// putPilot designates a specialty of an institution for first visits from
// a day to a day, or changes the dates: the regulator alone (G-2).
func (s *Server) putPilot(ctx context.Context, c call, in pilotIn) (*directory.Designation, error) {
	return s.designate(ctx, c, c.Path("institution"), c.Path("specialty"), in)
}

func (s *Server) designate(ctx context.Context, c call, code, spec string, in pilotIn) (*directory.Designation, error) {
	if !authz.DesignatePilots(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	inst, err := s.dir.Institution(ctx, code)
	if err != nil {
		return nil, err
	}
	var f errs.Fields
	if in.From == nil {
		f.Add("from", "put_missing")
	}
	if in.To == nil {
		f.Add("to", "put_missing")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if !hasSpecialtyCode(inst, spec) {
		return nil, errs.E(errs.NotFound)
	}
	d := &directory.Designation{Institution: inst.Code, Specialty: spec, From: strings.TrimSpace(*in.From), To: strings.TrimSpace(*in.To), By: c.Actor.ID}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if err := s.dir.SavePilot(ctx, d); err != nil {
		return nil, err
	}
	s.invalidateBooking()
	to := d.To
	if to == "" {
		to = "open"
	}
	return d, s.record(c.r, "pilot.designate", "pilot", inst.Code+"/"+spec, inst.Code, d.From+".."+to)
}

// withdrawPilot withdraws a designation (G-2): first visits of the
// specialty stop at once. The regulator alone.
func (s *Server) withdrawPilot(r *http.Request, code, spec string) error {
	if !authz.DesignatePilots(actor(r)) {
		return errs.E(errs.Forbidden)
	}
	if err := s.dir.DeletePilot(r.Context(), code, spec); err != nil {
		return err
	}
	s.invalidateBooking()
	return s.record(r, "pilot.withdraw", "pilot", code+"/"+spec, code, "")
}

func (s *Server) apiDeletePilot(w http.ResponseWriter, r *http.Request) {
	if err := s.withdrawPilot(r, r.PathValue("institution"), r.PathValue("specialty")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type pilotList struct {
	Items []directory.Designation `json:"items"`
}

// listPilots is the public list of designations (?institution=).
func (s *Server) listPilots(ctx context.Context, c call, _ none) (pilotList, error) {
	list, err := s.dir.Designations(ctx, c.Query("institution"))
	return pilotList{Items: list}, err
}

func hasSpecialtyCode(inst *directory.Institution, code string) bool {
	for _, d := range inst.Departments {
		for _, sp := range d.Specialties {
			if sp.Code == code {
				return true
			}
		}
	}
	return false
}

// --- practitioners' photos (N-8) ---

// photoTypes are the photo types, judged from the content.
var photoTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png"}

const maxPhotoBytes = 2 << 20

// apiPutPhoto sets a practitioner's published photo: the institution's
// admin (JPEG or PNG, at most 2 MB).
func (s *Server) apiPutPhoto(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.managedPractitioner(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPhotoBytes+1<<20)
	_, body, closeFn, err := readUpload(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer closeFn()
	ctype, _, br, err := blob.Sniff(body, photoTypes)
	if err != nil {
		s.fail(w, r, errs.E(codePhotoType))
		return
	}
	info, err := s.blobs.Put(r.Context(), fmt.Sprintf("practitioners/%d", p.ID), br, maxPhotoBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, blob.ErrTooLarge) || errors.As(err, &mbe) {
			err = errs.E("attachment_too_large", maxPhotoBytes>>20)
		}
		s.fail(w, r, err)
		return
	}
	old, err := s.dir.SetPhoto(r.Context(), p.ID, info.Key, ctype)
	if err != nil {
		s.blobs.Delete(context.WithoutCancel(r.Context()), info.Key)
		s.fail(w, r, err)
		return
	}
	if old != "" {
		s.blobs.Delete(r.Context(), old)
	}
	if err := s.record(r, "practitioner.photo", "practitioner", strconv.FormatInt(p.ID, 10), p.Institution, ctype); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"photo_url": photoURL(p.ID)})
}

// apiPhoto serves a practitioner's published photo to anyone (N-8).
func (s *Server) apiPhoto(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadPractitioner(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !p.HasPhoto() {
		s.fail(w, r, errs.E(errs.NotFound))
		return
	}
	f, err := s.blobs.Open(r.Context(), p.PhotoKey)
	if err != nil {
		s.fail(w, r, errs.E(errs.NotFound))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", p.PhotoType)
	w.Header().Set("Cache-Control", "public, max-age=300")
	io.Copy(w, f)
}

func photoURL(id int64) string {
	return "/api/v1/practitioners/" + strconv.FormatInt(id, 10) + "/photo"
}

// --- the public directory (N-8, N-21) ---

// publicService is an online service as the directory lists it.
type publicService struct {
	Code             string                `json:"code"`
	Name             string                `json:"name"`
	NameEN           string                `json:"name_en"`
	Kind             directory.ServiceKind `json:"kind"`
	Department       string                `json:"department"`
	DepartmentName   string                `json:"department_name"`
	DepartmentNameEN string                `json:"department_name_en"`
	Specialty        string                `json:"specialty,omitempty"`
	Price            float64               `json:"price"`
	FirstVisitPilot  bool                  `json:"first_visit_pilot,omitempty"` // a first visit of a specialty designated today
}

// publicDoctor is a doctor as the institution publishes it (N-8): name,
// title, department, photo; no credentials.
type publicDoctor struct {
	ID               int64  `json:"id"`
	Name             string `json:"name"`
	Title            string `json:"title"`
	TitleText        string `json:"title_text"`
	Department       string `json:"department,omitempty"`
	DepartmentName   string `json:"department_name,omitempty"`
	DepartmentNameEN string `json:"department_name_en,omitempty"`
	PhotoURL         string `json:"photo_url,omitempty"`
}

// publicPilot is a designation as the directory lists it.
type publicPilot struct {
	Specialty       string `json:"specialty"`
	SpecialtyName   string `json:"specialty_name"`
	SpecialtyNameEN string `json:"specialty_name_en"`
	From            string `json:"from"`
	To              string `json:"to"`
}

// publicInstitution is an institution of the public directory (N-21).
type publicInstitution struct {
	Code             string                  `json:"code"`
	Name             string                  `json:"name"`
	NameEN           string                  `json:"name_en"`
	Status           directory.Qualification `json:"status"`
	StatusText       string                  `json:"status_text"`
	ApprovedOn       string                  `json:"approved_on,omitempty"`
	ValidUntil       string                  `json:"valid_until,omitempty"`
	SuspensionReason string                  `json:"suspension_reason,omitempty"`
	Channel          string                  `json:"channel,omitempty"`
	FirstVisitPilot  bool                    `json:"first_visit_pilot"`
	Pilots           []publicPilot           `json:"pilots"`
	Services         []publicService         `json:"services"`
	Doctors          []publicDoctor          `json:"doctors"`
	ComplaintURL     string                  `json:"complaint_url"`
}

// publicDirectory is the list the regulator publishes (N-21): the
// institutions allowed to offer internet diagnosis, those suspended with
// the reason, and the complaint channel.
type publicDirectory struct {
	Items        []publicInstitution `json:"items"`
	ComplaintURL string              `json:"complaint_url"`
	AsOf         string              `json:"as_of"`
}

// directoryOf builds the public directory in lang: approved and suspended
// institutions (pending ones are not allowed online and are not listed),
// their active services in online departments and their doctors who may
// work online.
func (s *Server) directoryOf(ctx context.Context, lang i18n.Lang) (*publicDirectory, error) {
	list, err := s.dir.Institutions(ctx)
	if err != nil {
		return nil, err
	}
	out := &publicDirectory{Items: []publicInstitution{}, ComplaintURL: complaintsPath, AsOf: qualification.Day(s.cfg.Now())}
	for _, li := range list {
		if li.Status != directory.QualApproved && li.Status != directory.QualSuspended {
			continue
		}
		inst, err := s.dir.Institution(ctx, li.Code)
		if err != nil {
			return nil, err
		}
		docs, err := s.dir.Practitioners(ctx, li.Code)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, publicEntry(inst, docs, lang))
	}
	return out, nil
}

func publicEntry(inst *directory.Institution, docs []directory.Practitioner, lang i18n.Lang) publicInstitution {
	pi := publicInstitution{Code: inst.Code, Name: inst.Name, NameEN: inst.NameEN, Status: inst.Status, StatusText: i18n.T(lang, "status."+string(inst.Status)),
		ApprovedOn: inst.ApprovedOn, ValidUntil: inst.ValidUntil, Channel: inst.Channel, FirstVisitPilot: inst.Pilot,
		Pilots: []publicPilot{}, Services: []publicService{}, Doctors: []publicDoctor{},
		ComplaintURL: complaintsPath + "?institution=" + inst.Code}
	if inst.Status == directory.QualSuspended {
		pi.SuspensionReason = inst.StatusNote
	}
	depts := map[string]directory.Department{}
	specs := map[string]directory.Specialty{}
	for _, d := range inst.Departments {
		depts[d.Code] = d
		for _, sp := range d.Specialties {
			specs[sp.Code] = sp
		}
		if !d.Online {
			continue
		}
		for _, sv := range d.Services {
			if !sv.Active {
				continue
			}
			pi.Services = append(pi.Services, publicService{Code: sv.Code, Name: sv.Name, NameEN: sv.NameEN, Kind: sv.Kind, Department: d.Code,
				DepartmentName: d.Name, DepartmentNameEN: d.NameEN, Specialty: sv.Specialty, Price: float64(sv.PriceFen) / 100,
				FirstVisitPilot: sv.Kind == directory.FirstVisit && specs[sv.Specialty].Pilot})
		}
	}
	for _, d := range inst.Pilots {
		sp := specs[d.Specialty]
		pi.Pilots = append(pi.Pilots, publicPilot{Specialty: d.Specialty, SpecialtyName: sp.Name, SpecialtyNameEN: sp.NameEN, From: d.From, To: d.To})
	}
	for _, p := range docs {
		if p.Profession != directory.Doctor || !p.MayWorkOnline() {
			continue
		}
		d := depts[p.Department]
		pd := publicDoctor{ID: p.ID, Name: p.Name, Title: string(p.Title), TitleText: i18n.T(lang, "title."+string(p.Title)), Department: p.Department,
			DepartmentName: d.Name, DepartmentNameEN: d.NameEN}
		if p.HasPhoto() {
			pd.PhotoURL = photoURL(p.ID)
		}
		pi.Doctors = append(pi.Doctors, pd)
	}
	return pi
}

// publicInstitutions answers the public directory (no login).
func (s *Server) publicInstitutions(ctx context.Context, c call, _ none) (*publicDirectory, error) {
	return s.directoryOf(ctx, apiLang(c.r))
}

// applicationView is an application as the pages show it: with its
// institution (to name what it lists) and the doctors it lists.
type applicationView struct {
	qualification.Application
	Inst    *directory.Institution
	Doctors []directory.Practitioner
}

// applicationView loads what a page shows of an application.
func (s *Server) applicationView(ctx context.Context, app *qualification.Application) (*applicationView, error) {
	inst, err := s.dir.Institution(ctx, app.Institution)
	if err != nil {
		return nil, err
	}
	all, err := s.dir.Practitioners(ctx, app.Institution)
	if err != nil {
		return nil, err
	}
	listed := map[int64]bool{}
	for _, id := range app.Practitioners {
		listed[id] = true
	}
	v := &applicationView{Application: *app, Inst: inst}
	for _, p := range all {
		if listed[p.ID] {
			v.Doctors = append(v.Doctors, p)
		}
	}
	return v, nil
}

// DeptName and ServiceName name a listed code for the pages.
func (v *applicationView) DeptName(code string) string {
	for _, d := range v.Inst.Departments {
		if d.Code == code {
			return d.Name
		}
	}
	return code
}

func (v *applicationView) ServiceName(code string) string {
	for _, d := range v.Inst.Departments {
		for _, sv := range d.Services {
			if sv.Code == code {
				return sv.Name
			}
		}
	}
	return code
}
