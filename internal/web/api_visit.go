package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/blob"
	"github.com/yunyi-health/yunyi/internal/chat"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Attachment limits (V-1).
const (
	maxFileBytes    = 10 << 20
	maxVisitBytes   = 30 << 20
	maxVisitFiles   = 10
	maxChatImageLen = 5 << 20
)

// allowedTypes are the attachment types, judged from the content.
var allowedTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}

// visitCtx is a loaded visit and the caller's part in it.
type visitCtx struct {
	v     *visit.Visit
	party visit.Party
}

// patientAccounts are the accounts linked to a patient (self, guardians);
// links are only ever added, so they are cached for a minute.
func (s *Server) patientAccounts(ctx context.Context, patientID int64) ([]int64, error) {
	v, err := s.links.Get(ctx, "accounts:"+strconv.FormatInt(patientID, 10), func(ctx context.Context) (any, error) {
		return s.ids.Store.LinkedAccounts(ctx, patientID)
	})
	if err != nil {
		return nil, err
	}
	return v.([]int64), nil
}

// loadVisit loads the visit of the path and checks that the caller takes
// part in it: the patient's own or guardian account, or the visit's
// doctor. Anyone else gets not_found, and the attempt is audited.
func (s *Server) loadVisit(r *http.Request, audited bool) (*visitCtx, error) {
	idStr := r.PathValue("id")
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return nil, errs.E(errs.NotFound)
	}
	v, err := s.db.Visit(r.Context(), id)
	if err != nil {
		return nil, err
	}
	linked, err := s.patientAccounts(r.Context(), v.PatientID)
	if err != nil {
		return nil, err
	}
	a := actor(r)
	party, ok := v.Participant(a.ID, linked)
	if !ok || (party == visit.PartyPatient && a.Role != identity.RolePatient) || (party == visit.PartyDoctor && a.Role != identity.RoleDoctor) {
		s.record(r, "visit.read.denied", "visit", idStr, v.Institution, "")
		return nil, errs.E(errs.NotFound)
	}
	if audited {
		if err := s.record(r, "visit.read", "visit", idStr, v.Institution, ""); err != nil {
			return nil, err
		}
	}
	return &visitCtx{v: v, party: party}, nil
}

// must refuses an action to the wrong party.
func (vc *visitCtx) must(p visit.Party) error {
	if vc.party != p {
		return errs.E(errs.Forbidden)
	}
	return nil
}

type visitJSON struct {
	*visit.Visit
	StateText     string               `json:"state_text"`
	WaitSeconds   int64                `json:"wait_seconds"`
	TalkSeconds   int64                `json:"talk_seconds"`
	Role          visit.Party          `json:"role"`
	Questionnaire *visit.Questionnaire `json:"questionnaire_form,omitempty"`
	Flags         []visit.Flag         `json:"flags,omitempty"` // red flags raised (the doctor's)
	Attachments   []visit.Attachment   `json:"attachments"`
	Draft         *visit.Record        `json:"draft,omitempty"`
	Record        *visit.Record        `json:"record,omitempty"`
	Versions      int                  `json:"record_versions"`
	Termination   *terminationJSON     `json:"termination,omitempty"`
	History       []history.Visit      `json:"history,omitempty"`
	PatientAge    int                  `json:"patient_age,omitempty"` // the doctor's view
	PatientSex    identity.Sex         `json:"patient_sex,omitempty"`
	// While the visit is still to be seen: how many are ahead in its
	// session's line (the one in progress included) and the expected wait.
	Ahead               *int `json:"ahead,omitempty"`
	ExpectedWaitMinutes *int `json:"expected_wait_minutes,omitempty"`
}

type terminationJSON struct {
	*visit.Termination
	ReasonTexts []string `json:"reason_texts"`
	Urgency     string   `json:"urgency_text"`
	Department  string   `json:"department_name"`
}

// visitOut gathers what a participant sees of a visit. The doctor also
// sees the red flags, the draft and the patient's offline history at the
// institution.
func (s *Server) visitOut(ctx context.Context, vc *visitCtx, lang i18n.Lang) (*visitJSON, error) {
	v := vc.v
	out := &visitJSON{Visit: v, StateText: i18n.T(lang, "state."+string(v.State)), WaitSeconds: v.WaitSeconds(), TalkSeconds: v.TalkSeconds(), Role: vc.party}
	if v.Questionnaire != "" {
		q, err := s.db.Questionnaire(ctx, v.Questionnaire)
		if err != nil && !errs.Is(err, errs.NotFound) {
			return nil, err
		}
		if q != nil && vc.party == visit.PartyDoctor {
			out.Flags = q.Flags(ctx, v.Answers)
		} else if q != nil {
			q.RedFlags = nil // the warnings are the doctor's
		}
		out.Questionnaire = q
	}
	pos, err := s.position(ctx, v)
	if err != nil {
		return nil, err
	}
	if pos != nil {
		out.Ahead, out.ExpectedWaitMinutes = &pos.Ahead, &pos.WaitMinutes
	}
	if out.Attachments, err = s.db.Attachments(ctx, v.ID); err != nil {
		return nil, err
	}
	recs, err := s.db.Records(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 {
		out.Record, out.Versions = &recs[len(recs)-1], len(recs)
	}
	if vc.party == visit.PartyDoctor {
		if d, err := s.db.Draft(ctx, v.ID); err == nil {
			out.Draft = d
		} else if !errs.Is(err, errs.NotFound) {
			return nil, err
		}
		p, err := s.ids.Store.PatientByID(ctx, v.PatientID)
		if err != nil {
			return nil, err
		}
		out.PatientAge, out.PatientSex = p.Age(s.cfg.Now()), p.Sex
		all, err := s.db.Visits(ctx, p.ResidentID)
		if err != nil {
			return nil, err
		}
		for _, h := range all {
			if h.Institution == v.Institution {
				out.History = append(out.History, h)
			}
		}
	}
	if v.State == visit.Terminated {
		t, err := s.db.Termination(ctx, v.ID)
		if err != nil && !errs.Is(err, errs.NotFound) {
			return nil, err
		}
		if t != nil {
			out.Termination, err = s.terminationOut(ctx, t, lang)
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (s *Server) terminationOut(ctx context.Context, t *visit.Termination, lang i18n.Lang) (*terminationJSON, error) {
	reasons, err := s.db.TerminationReasons(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, r := range reasons {
		names[r.Code] = r.Name
		if lang == i18n.EN && r.NameEN != "" {
			names[r.Code] = r.NameEN
		}
	}
	tj := &terminationJSON{Termination: t, Urgency: i18n.T(lang, "urgency."+t.Referral.Urgency), Department: t.Referral.Department}
	for _, c := range t.Reasons {
		tj.ReasonTexts = append(tj.ReasonTexts, names[c])
	}
	if inst, err := s.dir.Institution(ctx, t.Institution); err == nil {
		for _, d := range inst.Departments {
			if d.Code == t.Referral.Department {
				tj.Department = d.Name
				if lang == i18n.EN && d.NameEN != "" {
					tj.Department = d.NameEN
				}
			}
		}
	}
	return tj, nil
}

func (s *Server) apiVisit(w http.ResponseWriter, r *http.Request) {
	vc, err := s.loadVisit(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerVisit(w, r, vc)
}

// answerVisit answers with the visit as its participant sees it.
func (s *Server) answerVisit(w http.ResponseWriter, r *http.Request, vc *visitCtx) {
	out, err := s.visitOut(r.Context(), vc, apiLang(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// --- pre-consultation ---

// saveAnswers validates and stores the pre-consultation; complete answers
// check a booked visit in.
func (s *Server) saveAnswers(r *http.Request, vc *visitCtx, answers map[string]any) error {
	if err := vc.must(visit.PartyPatient); err != nil {
		return err
	}
	v := vc.v
	if v.State.AnswersLocked() {
		return errs.E("visit_locked")
	}
	if v.Questionnaire == "" {
		return errs.E(errs.Conflict)
	}
	q, err := s.db.Questionnaire(r.Context(), v.Questionnaire)
	if err != nil {
		return err
	}
	atts, err := s.db.Attachments(r.Context(), v.ID)
	if err != nil {
		return err
	}
	clean, err := q.Check(answers, len(atts) > 0)
	if err != nil {
		return err
	}
	var checkIn *visit.Transition
	if v.State == visit.Booked {
		checkIn = &visit.Transition{VisitID: v.ID, Action: visit.ActCheckIn, To: visit.CheckedIn, At: s.cfg.Now(), By: actor(r).ID}
	}
	if err := s.db.SaveAnswers(r.Context(), v.ID, q.Code, clean, checkIn); err != nil {
		return err
	}
	return s.record(r, "visit.pre_consult", "visit", strconv.FormatInt(v.ID, 10), v.Institution, "")
}

func (s *Server) apiPreConsult(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Answers map[string]any `json:"answers"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.visitAction(w, r, func(vc *visitCtx) error { return s.saveAnswers(r, vc, in.Answers) })
}

// visitAction loads the visit, runs fn and answers with the visit as it is
// now.
func (s *Server) visitAction(w http.ResponseWriter, r *http.Request, fn func(vc *visitCtx) error) {
	vc, err := s.loadVisit(r, false)
	if err == nil {
		err = fn(vc)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if vc.v, err = s.db.Visit(r.Context(), vc.v.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerVisit(w, r, vc)
}

// --- attachments ---

// readUpload takes the file of a request: multipart field "file", or the
// raw body with ?name=.
func readUpload(r *http.Request) (name string, body io.Reader, closer func(), err error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return "", nil, nil, errs.E("bad_file")
		}
		for {
			part, err := mr.NextPart()
			if err != nil {
				return "", nil, nil, errs.E("bad_file")
			}
			if part.FormName() == "file" {
				return part.FileName(), part, func() { part.Close() }, nil
			}
			part.Close()
		}
	}
	return r.URL.Query().Get("name"), r.Body, func() {}, nil
}

// addAttachment stores an uploaded file: its type judged from its first
// bytes, its size bounded while reading, and the visit's limits checked in
// the transaction that records it. Any failure removes the stored blob.
func (s *Server) addAttachment(r *http.Request, vc *visitCtx, purpose string) (*visit.Attachment, error) {
	v := vc.v
	switch purpose {
	case "pre_consult":
		if err := vc.must(visit.PartyPatient); err != nil {
			return nil, err
		}
		if v.State.AnswersLocked() {
			return nil, errs.E("visit_locked")
		}
	case "chat":
		if !v.State.ChatOpen() {
			return nil, errs.E("chat_closed")
		}
	default:
		var f errs.Fields
		f.Add("purpose", "not_an_option")
		return nil, f.Err()
	}
	if !s.limits.allow("upload-account", strconv.FormatInt(actor(r).ID, 10)) {
		return nil, errs.E(errs.RateLimited)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFileBytes+1<<20)
	name, body, closeFn, err := readUpload(r)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	ctype, ext, br, err := blob.Sniff(body, allowedTypes)
	if err != nil || (purpose == "chat" && ctype == "application/pdf") {
		return nil, errs.E("attachment_type")
	}
	name = cleanName(name, ext)
	info, err := s.blobs.Put(r.Context(), fmt.Sprintf("visits/%d", v.ID), br, maxFileBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, blob.ErrTooLarge) || errors.As(err, &mbe) {
			return nil, errs.E("attachment_too_large", maxFileBytes>>20)
		}
		return nil, err
	}
	a := &visit.Attachment{VisitID: v.ID, Purpose: purpose, Name: name, ContentType: ctype, Size: info.Size, SHA256: info.SHA256,
		BlobKey: info.Key, UploadedBy: actor(r).ID, CreatedAt: s.cfg.Now()}
	if err := s.db.AddAttachment(r.Context(), a, maxVisitFiles, maxVisitBytes); err != nil {
		s.blobs.Delete(context.WithoutCancel(r.Context()), info.Key)
		return nil, err
	}
	s.record(r, "visit.attachment.add", "visit", strconv.FormatInt(v.ID, 10), v.Institution, a.Name)
	return a, nil
}

// cleanName keeps a display name: the base name, no control characters,
// at most 100 characters, with the extension of the detected type.
func cleanName(name, ext string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 32 || r == 127 || r == '"' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSuffix(name, filepath.Ext(name))
	if name == "" || name == "." || name == "/" {
		name = "file"
	}
	if utf8.RuneCountInString(name) > 100 {
		name = string([]rune(name)[:100])
	}
	return name + ext
}

func (s *Server) apiAddAttachment(w http.ResponseWriter, r *http.Request) {
	vc, err := s.loadVisit(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	purpose := r.URL.Query().Get("purpose")
	if purpose == "" {
		purpose = "pre_consult"
	}
	a, err := s.addAttachment(r, vc, purpose)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) apiAttachment(w http.ResponseWriter, r *http.Request) {
	vc, err := s.loadVisit(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	aid, _ := strconv.ParseInt(r.PathValue("aid"), 10, 64)
	a, err := s.db.Attachment(r.Context(), vc.v.ID, aid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.record(r, "visit.attachment.read", "visit", strconv.FormatInt(vc.v.ID, 10), vc.v.Institution, a.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveStored(w, r, storedFile{Key: a.BlobKey, ContentType: a.ContentType, Name: a.Name, Size: a.Size})
}

func (s *Server) apiDeleteAttachment(w http.ResponseWriter, r *http.Request) {
	vc, err := s.loadVisit(r, false)
	if err == nil {
		err = s.deleteAttachment(r, vc) // api_retention.go (N-17)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- steps ---

// step runs one transition of the state machine for the caller, audits it
// and tells the room.
func (s *Server) step(r *http.Request, vc *visitCtx, a visit.Action, also func(tx visit.Tx) error) error {
	if err := vc.must(visit.By(a)); err != nil {
		return err
	}
	to, err := visit.Next(vc.v.State, a)
	if err != nil {
		return err
	}
	t := visit.Transition{VisitID: vc.v.ID, Action: a, To: to, At: s.cfg.Now(), By: actor(r).ID}
	if err := s.db.Step(r.Context(), t, also); err != nil {
		return err
	}
	vc.v.State = to
	s.record(r, "visit."+string(a), "visit", strconv.FormatInt(vc.v.ID, 10), vc.v.Institution, string(to))
	s.hub.Broadcast(vc.v.ID, chat.Event{Type: "state", State: to})
	if to.Final() {
		s.hub.Forget(vc.v.ID)
	}
	if movesLine[a] {
		s.lineMoved(r.Context(), vc.v.SlotID)
	}
	return nil
}

func (s *Server) apiWait(w http.ResponseWriter, r *http.Request) {
	s.visitAction(w, r, func(vc *visitCtx) error { return s.wait(r, vc) })
}

// wait puts the patient in the waiting room and tells the doctor.
func (s *Server) wait(r *http.Request, vc *visitCtx) error {
	v := vc.v
	return s.step(r, vc, visit.ActWait, func(tx visit.Tx) error {
		if v.DoctorAccountID == 0 {
			return nil
		}
		at := v.Start.In(dates.Beijing).Format("15:04")
		return tx.Notify(&notify.Notification{AccountID: v.DoctorAccountID, Kind: "waiting", Title: "患者已候诊",
			Body:    fmt.Sprintf("%s（%s，%s）已完成预问诊并进入候诊。", v.PatientName, v.ServiceName, at),
			TitleEN: "A patient is waiting", BodyEN: fmt.Sprintf("%s (%s, %s) has done the pre-consultation and is waiting.", v.PatientName, v.ServiceName, at),
			Ref: "visit/" + strconv.FormatInt(v.ID, 10), CreatedAt: s.cfg.Now()})
	})
}

// startVisit calls the patient in: the doctor must have confirmed their
// identity for the session (N-7), must still meet D-1 for a first visit
// and must not be suspended (D-2).
func (s *Server) startVisit(r *http.Request, vc *visitCtx) error {
	if err := vc.must(visit.PartyDoctor); err != nil {
		return err
	}
	// N-7: the doctor confirmed their identity for this session of visits.
	if err := s.requireConfirmation(r); err != nil {
		return err
	}
	doc, err := s.dir.Practitioner(r.Context(), vc.v.DoctorID)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	var reasons []directory.Reason
	if vc.v.Kind == directory.FirstVisit {
		_, reasons = doc.FirstVisitCheck(now)
	} else if sp, ok := doc.ActiveSuspension(); ok && sp.Scope == directory.SuspendAll {
		reasons = []directory.Reason{{Code: "d2_suspended_all", Args: []any{sp.Reason}}}
	}
	if len(reasons) > 0 {
		e := errs.E("doctor_not_eligible")
		for _, rs := range reasons {
			e.Fields = append(e.Fields, errs.FieldError{Field: "doctor", Code: rs.Code, Args: rs.Args})
		}
		return e
	}
	v := vc.v
	// The session runs as late as this call-in is after the visit's planned
	// time; the families still waiting hear it once if their time moved by
	// more than the service's notice (texts by SMS once committed).
	delay := v.LateBy(now)
	var texts []smsOut
	err = s.step(r, vc, visit.ActStart, func(tx visit.Tx) error {
		if err := s.tellPatient(r.Context(), tx, v, "calling", "医生正在呼叫您",
			fmt.Sprintf("%s 医师已开始 %s 的问诊（%s），请进入问诊页面。", v.DoctorName, v.PatientName, v.ServiceName),
			"Your doctor is calling", fmt.Sprintf("Dr %s has started %s's visit (%s); please open the visit page.", v.DoctorName, v.PatientName, v.ServiceName)); err != nil {
			return err
		}
		late, err := tx.RunLate(v.SlotID, v.ID, delay, visit.TellLate(delay, v.LateNotice))
		if err != nil {
			return err
		}
		texts, err = s.tellLate(r.Context(), tx, late)
		return err
	})
	if err != nil {
		return err
	}
	for _, m := range texts {
		s.sendSMS(m.account, m.kind, m.text)
	}
	return nil
}

func (s *Server) apiStart(w http.ResponseWriter, r *http.Request) {
	s.visitAction(w, r, func(vc *visitCtx) error { return s.startVisit(r, vc) })
}

// tellPatient writes a notice to every account of the visit's patient in
// the transition's transaction, and sends an SMS after it.
func (s *Server) tellPatient(ctx context.Context, tx visit.Tx, v *visit.Visit, kind, title, body, titleEN, bodyEN string) error {
	accounts, err := s.patientAccounts(ctx, v.PatientID)
	if err != nil {
		return err
	}
	for _, id := range accounts {
		if err := tx.Notify(&notify.Notification{AccountID: id, Kind: kind, Title: title, Body: body, TitleEN: titleEN, BodyEN: bodyEN,
			Ref: "visit/" + strconv.FormatInt(v.ID, 10), CreatedAt: s.cfg.Now()}); err != nil {
			return err
		}
		s.sendSMS(id, kind, "【云医】"+body)
	}
	return nil
}

// sendSMS hands a text to the SMS adapter in the background; what came of
// it is in the adapter's log.
func (s *Server) sendSMS(accountID int64, kind, text string) {
	if s.sms == nil {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(notify.WithKind(context.Background(), kind), 30*time.Second)
		defer cancel()
		a, err := s.ids.Store.AccountByID(ctx, accountID)
		if err != nil || a.Phone == "" {
			return
		}
		if _, err := s.sms.Send(ctx, a.Phone, text); err != nil {
			s.log.Warn("sms not sent", "kind", kind, "err", err)
		}
	}()
}

type recordIn struct {
	ChiefComplaint string            `json:"chief_complaint"`
	PresentIllness string            `json:"present_illness"`
	History        string            `json:"history"`
	Observations   string            `json:"observations"`
	Diagnoses      []visit.Diagnosis `json:"diagnoses"`
	Advice         string            `json:"advice"`
	AmendReason    string            `json:"amend_reason,omitempty"`
}

func (s *Server) recordOf(r *http.Request, vc *visitCtx, in recordIn) *visit.Record {
	rec := &visit.Record{VisitID: vc.v.ID, ChiefComplaint: in.ChiefComplaint, PresentIllness: in.PresentIllness, History: in.History,
		Observations: in.Observations, Diagnoses: in.Diagnoses, Advice: in.Advice, AmendReason: in.AmendReason, AuthorID: actor(r).ID,
		UpdatedAt: s.cfg.Now()}
	rec.Normalise()
	return rec
}

func (s *Server) saveDraft(r *http.Request, vc *visitCtx, in recordIn) error {
	if err := vc.must(visit.PartyDoctor); err != nil {
		return err
	}
	rec := s.recordOf(r, vc, in)
	if err := rec.ValidateDraft(); err != nil {
		return err
	}
	if err := s.db.SaveDraft(r.Context(), rec); err != nil {
		return err
	}
	return s.record(r, "visit.record.draft", "visit", strconv.FormatInt(vc.v.ID, 10), vc.v.Institution, "")
}

func (s *Server) apiSaveDraft(w http.ResponseWriter, r *http.Request) {
	var in recordIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.visitAction(w, r, func(vc *visitCtx) error { return s.saveDraft(r, vc, in) })
}

// complete signs the record (the one given, or the saved draft) and ends
// the visit.
func (s *Server) complete(r *http.Request, vc *visitCtx, in *recordIn) error {
	if err := vc.must(visit.PartyDoctor); err != nil {
		return err
	}
	if _, err := visit.Next(vc.v.State, visit.ActComplete); err != nil {
		return err
	}
	var rec *visit.Record
	if in != nil {
		rec = s.recordOf(r, vc, *in)
	} else {
		d, err := s.db.Draft(r.Context(), vc.v.ID)
		if errs.Is(err, errs.NotFound) {
			d = &visit.Record{VisitID: vc.v.ID}
		} else if err != nil {
			return err
		}
		rec = d
		rec.AuthorID = actor(r).ID
		rec.Normalise()
	}
	if err := rec.ValidateSigned(); err != nil {
		return err
	}
	v := vc.v
	return s.step(r, vc, visit.ActComplete, func(tx visit.Tx) error {
		if err := tx.SignRecord(rec); err != nil {
			return err
		}
		return s.tellPatient(r.Context(), tx, v, "visit_ended", "问诊已结束",
			fmt.Sprintf("%s 的问诊（%s，%s 医师）已结束，病历已签署，可在问诊页面查看。", v.PatientName, v.ServiceName, v.DoctorName),
			"Visit ended", fmt.Sprintf("%s's visit (%s, Dr %s) has ended; the signed record is on the visit page.", v.PatientName, v.ServiceName, v.DoctorName))
	})
}

func (s *Server) apiComplete(w http.ResponseWriter, r *http.Request) {
	var in *recordIn
	if r.ContentLength != 0 {
		in = &recordIn{}
		if err := decode(w, r, in); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.visitAction(w, r, func(vc *visitCtx) error { return s.complete(r, vc, in) })
}

func (s *Server) amend(r *http.Request, vc *visitCtx, in recordIn) error {
	if err := vc.must(visit.PartyDoctor); err != nil {
		return err
	}
	rec := s.recordOf(r, vc, in)
	if err := rec.ValidateAmendment(); err != nil {
		return err
	}
	rec.SignedAt = s.cfg.Now()
	if err := s.db.AddAmendment(r.Context(), rec); err != nil {
		return err
	}
	return s.record(r, "visit.record.amend", "visit", strconv.FormatInt(vc.v.ID, 10), vc.v.Institution, fmt.Sprintf("version %d", rec.Version))
}

func (s *Server) apiAmend(w http.ResponseWriter, r *http.Request) {
	var in recordIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.visitAction(w, r, func(vc *visitCtx) error { return s.amend(r, vc, in) })
}

func (s *Server) apiRecords(w http.ResponseWriter, r *http.Request) {
	vc, err := s.loadVisit(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	recs, err := s.db.Records(r.Context(), vc.v.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": recs})
}

type terminateIn struct {
	Reasons  []string       `json:"reasons"`
	Note     string         `json:"note"`
	Referral visit.Referral `json:"referral"`
}

// terminate stops a visit and refers the patient offline (V-3): the
// reasons come from the list stored as data; the patient is told, the fee
// is marked for refund and the termination is kept for supervision.
func (s *Server) terminate(r *http.Request, vc *visitCtx, in terminateIn) error {
	if err := vc.must(visit.PartyDoctor); err != nil {
		return err
	}
	v := vc.v
	reasons, err := s.db.TerminationReasons(r.Context())
	if err != nil {
		return err
	}
	inst, err := s.dir.Institution(r.Context(), v.Institution)
	if err != nil {
		return err
	}
	depts := map[string]bool{}
	names := map[string]string{}
	for _, d := range inst.Departments {
		depts[d.Code], names[d.Code] = true, d.Name
	}
	t := &visit.Termination{VisitID: v.ID, Institution: v.Institution, Department: v.Department, Kind: string(v.Kind), DoctorID: v.DoctorID,
		Reasons: in.Reasons, Note: in.Note, Referral: in.Referral, By: actor(r).ID, At: s.cfg.Now()}
	if err := t.Validate(reasons, depts); err != nil {
		return err
	}
	if _, err := visit.Next(v.State, visit.ActTerminate); err != nil {
		return err
	}
	urg, urgEN := i18n.T(i18n.ZH, "urgency."+t.Referral.Urgency), i18n.T(i18n.EN, "urgency."+t.Referral.Urgency)
	err = s.step(r, vc, visit.ActTerminate, func(tx visit.Tx) error {
		if err := tx.SaveTermination(t); err != nil {
			return err
		}
		return s.tellPatient(r.Context(), tx, v, "terminated", "问诊已终止，请到医院线下就诊",
			fmt.Sprintf("%s 的线上问诊已由 %s 医师终止，请到%s %s就诊（%s）。医生建议：%s。本次问诊费用将退还。", v.PatientName, v.DoctorName, inst.Name, names[t.Referral.Department], urg, t.Referral.Advice),
			"Visit stopped: please see a doctor in person", fmt.Sprintf("Dr %s stopped %s's online visit; please visit %s, %s (%s). Advice: %s. The fee will be refunded.", v.DoctorName, v.PatientName, inst.NameEN, t.Referral.Department, urgEN, t.Referral.Advice))
	})
	if err != nil {
		return err
	}
	// V-3: the fee of a terminated visit goes back (refund_due made real).
	if err := s.refundAppointment(r.Context(), v.ID, billing.ReasonTerminated, "问诊终止转线下，退还挂号费"); err != nil {
		s.log.Warn("terminated visit not refunded yet", "visit", v.ID, "err", err)
	}
	return nil
}

func (s *Server) apiTerminate(w http.ResponseWriter, r *http.Request) {
	var in terminateIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.visitAction(w, r, func(vc *visitCtx) error { return s.terminate(r, vc, in) })
}

// noShow marks a visit no-show once its time has come: a patient in the
// waiting room only on the last call (see skip).
func (s *Server) noShow(r *http.Request, vc *visitCtx) error {
	// The party first: a patient is refused the doctor's act whatever the
	// visit's state (the authorisation matrix test found a patient told
	// 409 on a finished visit, the state checked before who asks).
	if err := vc.must(visit.By(visit.ActNoShow)); err != nil {
		return err
	}
	if err := visit.NoShowAllowed(vc.v.State, vc.v.Calls); err != nil {
		return err
	}
	if s.cfg.Now().Before(vc.v.Start) {
		return errs.E("too_early")
	}
	return s.step(r, vc, visit.ActNoShow, nil)
}

func (s *Server) apiNoShow(w http.ResponseWriter, r *http.Request) {
	s.visitAction(w, r, func(vc *visitCtx) error { return s.noShow(r, vc) })
}

// --- chat over HTTP (the WebSocket is in ws.go) ---

func (s *Server) apiMessages(w http.ResponseWriter, r *http.Request) {
	vc, err := s.loadVisit(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	ms, err := s.hub.Since(r.Context(), vc.v.ID, after, 500)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": ms})
}

type messageIn struct {
	Kind         string `json:"kind"`
	Text         string `json:"text"`
	AttachmentID int64  `json:"attachment_id"`
	ClientID     string `json:"client_id"`
}

// check is what a message's fields alone say (chat.CheckMessage).
func (in messageIn) check() (visit.Message, errs.Fields) {
	return chat.CheckMessage(in.Kind, in.Text, in.ClientID)
}

// post checks and posts a message of a participant.
func (s *Server) post(ctx context.Context, vc *visitCtx, accountID int64, in messageIn) (visit.Message, error) {
	if !vc.v.State.ChatOpen() {
		return visit.Message{}, errs.E("chat_closed")
	}
	if !s.limits.allow("chat-account", strconv.FormatInt(accountID, 10)) {
		return visit.Message{}, errs.E(errs.RateLimited)
	}
	m, f := in.check()
	m.VisitID, m.SenderID, m.SenderRole = vc.v.ID, accountID, vc.party
	if m.Kind == visit.MsgImage {
		a, err := s.db.Attachment(ctx, vc.v.ID, in.AttachmentID)
		if err != nil || !strings.HasPrefix(a.ContentType, "image/") {
			f.Add("attachment_id", "not_found")
		} else {
			m.AttachmentID, m.Text = a.ID, a.Name
		}
	}
	if err := f.Err(); err != nil {
		return m, err
	}
	return s.hub.Post(ctx, m)
}

func (s *Server) apiPostMessage(w http.ResponseWriter, r *http.Request) {
	var in messageIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	vc, err := s.loadVisit(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.post(r.Context(), vc, actor(r).ID, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

func (s *Server) apiChatRead(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Seq int64 `json:"seq"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	vc, err := s.loadVisit(r, false)
	if err == nil {
		err = s.markRead(r.Context(), vc, actor(r).ID, in.Seq)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) markRead(ctx context.Context, vc *visitCtx, accountID, seq int64) error {
	if seq <= 0 {
		return nil
	}
	if err := s.db.MarkChatRead(ctx, vc.v.ID, accountID, seq); err != nil {
		return err
	}
	s.hub.Broadcast(vc.v.ID, chat.Event{Type: "read", From: accountID, Role: vc.party, Seq: seq})
	return nil
}

// callEvent records that the call connected or ended (reported by a
// participant's browser).
func (s *Server) callEvent(ctx context.Context, vc *visitCtx, event string) error {
	switch event {
	case "started", "ended":
	default:
		var f errs.Fields
		f.Add("event", "not_an_option")
		return f.Err()
	}
	if event == "started" && !vc.v.State.Live() {
		return errs.E("chat_closed")
	}
	if err := s.db.CallEvent(ctx, vc.v.ID, event == "started", s.cfg.Now()); err != nil {
		return err
	}
	s.hub.Broadcast(vc.v.ID, chat.Event{Type: "call", Data: []byte(strconv.Quote(event))})
	return nil
}

func (s *Server) apiCall(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Event string `json:"event"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.visitAction(w, r, func(vc *visitCtx) error { return s.callEvent(r.Context(), vc, in.Event) })
}

func (s *Server) apiICE(w http.ResponseWriter, r *http.Request) {
	vc, err := s.loadVisit(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	servers := []any{}
	if s.cfg.TURN != nil {
		list, err := s.cfg.TURN.ICEServers(fmt.Sprintf("v%d-a%d", vc.v.ID, actor(r).ID))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, x := range list {
			servers = append(servers, x)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ice_servers": servers})
}

// --- the doctor's queue, code lists, supervision ---

func (s *Server) apiQueue(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	if a.Role != identity.RoleDoctor {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	day := r.URL.Query().Get("day")
	if day == "" {
		day = s.cfg.Now().In(dates.Beijing).Format(dates.Layout)
	} else if _, err := time.Parse(dates.Layout, day); err != nil {
		var f errs.Fields
		f.Add("day", "date_format")
		s.fail(w, r, f.Err())
		return
	}
	q, err := s.db.Queue(r.Context(), a.ID, day)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows, err := s.queueRows(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "visit.queue", "queue", day, a.Institution, "")
	writeJSON(w, http.StatusOK, map[string]any{"day": day, "visits": rows})
}

func (s *Server) apiICD(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"codes": visit.SearchICD(r.URL.Query().Get("q"), 50)})
}

// answerList answers with what a store lists, under key.
func answerList[T any](s *Server, w http.ResponseWriter, r *http.Request, key string, list func(context.Context) ([]T, error)) {
	items, err := list(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{key: items})
}

// saveData stores a piece of data named by the path's code (a
// termination reason, a questionnaire) for the roles that edit it: decoded,
// named, validated, saved and audited.
func saveData[T any, P interface {
	*T
	Validate() error
}](s *Server, w http.ResponseWriter, r *http.Request, roles []identity.Role, kind string, name func(P, string), save func(context.Context, P) error) {
	if !actor(r).Is(roles...) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	var v T
	p := P(&v)
	if err := decode(w, r, p); err != nil {
		s.fail(w, r, err)
		return
	}
	name(p, r.PathValue("code"))
	if err := p.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := save(r.Context(), p); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, kind+".save", kind, r.PathValue("code"), "", "")
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) apiReasons(w http.ResponseWriter, r *http.Request) {
	answerList(s, w, r, "reasons", s.db.TerminationReasons)
}

// apiSaveReason edits the list of termination reasons (V-3): the
// regulator's and the platform's.
func (s *Server) apiSaveReason(w http.ResponseWriter, r *http.Request) {
	saveData(s, w, r, []identity.Role{identity.RoleRegulator}, "termination_reason",
		func(v *visit.Reason, code string) { v.Code = code }, s.db.SaveTerminationReason)
}

func (s *Server) apiQuestionnaires(w http.ResponseWriter, r *http.Request) {
	answerList(s, w, r, "questionnaires", s.db.Questionnaires)
}

func (s *Server) apiQuestionnaire(w http.ResponseWriter, r *http.Request) {
	q, err := s.db.Questionnaire(r.Context(), r.PathValue("code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

// apiSaveQuestionnaire edits a template. Templates are shared by every
// institution's services, so only the platform's administrator edits them;
// an institution chooses one for each of its services.
func (s *Server) apiSaveQuestionnaire(w http.ResponseWriter, r *http.Request) {
	saveData(s, w, r, []identity.Role{identity.RoleSysadmin}, "questionnaire",
		func(q *visit.Questionnaire, code string) { q.Code, q.UpdatedAt = code, s.cfg.Now() }, s.db.SaveQuestionnaire)
}

// apiTerminations lists terminations for supervision: the regulator sees
// all, an institution's admin its own.
func (s *Server) apiTerminations(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	f := visit.TerminationFilter{Institution: r.URL.Query().Get("institution")}
	switch {
	case a.Is(identity.RoleRegulator):
	case a.Role == identity.RoleInstitutionAdmin:
		f.Institution = a.Institution
	default:
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	var fe errs.Fields
	for _, p := range []struct {
		name string
		t    *time.Time
		add  int
	}{{"from", &f.From, 0}, {"to", &f.To, 1}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			d, err := time.ParseInLocation(dates.Layout, v, dates.Beijing)
			if err != nil {
				fe.Add(p.name, "date_format")
				continue
			}
			*p.t = d.AddDate(0, 0, p.add)
		}
	}
	if err := fe.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.db.Terminations(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts := map[string]int{}
	out := make([]*terminationJSON, 0, len(list))
	for i := range list {
		for _, c := range list[i].Reasons {
			counts[c]++
		}
		tj, err := s.terminationOut(r.Context(), &list[i], apiLang(r))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, tj)
	}
	s.record(r, "oversight.terminations", "termination", "", f.Institution, "")
	writeJSON(w, http.StatusOK, map[string]any{"terminations": out, "by_reason": counts})
}

func (s *Server) apiSMSLog(w http.ResponseWriter, r *http.Request) {
	if !actor(r).Is(identity.RoleSysadmin) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	list, err := s.db.SMSSent(r.Context(), r.URL.Query().Get("to"), 200)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sandbox": true, "messages": list})
}

// ReminderLead is how long before a visit's estimated time its patient is
// reminded.
const ReminderLead = 30 * time.Minute

// SendReminders tells the patients of the visits expected to start within
// ReminderLead (their estimated times: the number's place, moved by how
// late the doctor runs), once each, in the inbox and by SMS.
func (s *Server) SendReminders(ctx context.Context) error {
	now := s.cfg.Now()
	due, err := s.db.DueReminders(ctx, now, now.Add(ReminderLead))
	if err != nil {
		return err
	}
	for _, v := range due {
		accounts, err := s.patientAccounts(ctx, v.PatientID)
		if err != nil {
			return err
		}
		args := []any{v.PatientName, v.ServiceName, v.DoctorName, v.Number, hhmm(v.EstimatedAt)}
		body := i18n.T(i18n.ZH, "queue.reminder.body", args...)
		for _, id := range accounts {
			if err := s.db.Notify(ctx, &notify.Notification{AccountID: id, Kind: "reminder", Title: i18n.T(i18n.ZH, "queue.reminder.title"), Body: body,
				TitleEN: i18n.T(i18n.EN, "queue.reminder.title"), BodyEN: i18n.T(i18n.EN, "queue.reminder.body", args...),
				Ref: "visit/" + strconv.FormatInt(v.ID, 10), CreatedAt: now}); err != nil {
				return err
			}
			s.sendSMS(id, "reminder", "【云医】"+body)
		}
	}
	return nil
}
