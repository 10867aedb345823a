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

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// Medical record numbers (病案号, MRN; issue 16). A hospital's system keys
// its patients by MRN, not always by resident ID: offline history whose
// patient has no resident ID is kept under the institution's MRN
// (history.Importer), and counts for follow-up eligibility once the MRN is
// linked to a Yunyi patient (by resident ID):
//
//  1. from the file itself, when a row or a FHIR Patient carries both;
//  2. from the institution's link file (CSV mrn,resident_id), uploaded
//     by its administrator: POST /api/v1/institutions/{code}/mrn-links;
//  3. when the patient (or a guardian, for a child) binds the hospital
//     card: POST /api/v1/me/hospital-cards. Knowing the card's number is
//     not enough: the hospital's record must give the patient's name and
//     birth date (and sex, when it gives one), history.MRN.CardHolder. An
//     unknown number and a record of someone else are refused alike
//     (hospital_card_mismatch), so that numbers cannot be probed.
//
// A link is never changed once made: an MRN linked to another patient is
// reported (a link file's row, an import's note) or refused
// (hospital_card_taken).

// Error codes of binding a hospital card.
const (
	codeCardMismatch = "hospital_card_mismatch" // no such MRN, or not the patient's
	codeCardTaken    = "hospital_card_taken"    // linked to another patient
)

// apiMRNLinks reads an institution's link file (text/csv, header
// mrn,resident_id) as a stream and links each MRN; the answer is the
// report, every row counted and the rows not linked listed with their line.
func (s *Server) apiMRNLinks(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit := s.importMaxBytes()
	if r.ContentLength > limit {
		s.fail(w, r, importTooLarge(r, limit, nil))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "text/csv" {
		s.fail(w, r, errs.E(errs.Unsupported))
		return
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	rc := http.NewResponseController(w)
	moveOn := func() {
		d := time.Now().Add(importIdle)
		rc.SetReadDeadline(d)
		rc.SetWriteDeadline(d)
	}
	moveOn()
	rep, err := s.linkFile(r, inst, body)
	if err != nil {
		s.fail(w, r, importErr(r, err, limit, nil))
		return
	}
	rep.Localize(apiLang(r))
	writeJSON(w, http.StatusOK, rep)
}

// linkFile links the MRNs of an institution's link file (the API's body or
// the history page's upload), audited once it is known to be one.
func (s *Server) linkFile(r *http.Request, inst *directory.Institution, body io.Reader) (*history.LinkReport, error) {
	im := &history.Importer{Store: s.db, Institution: inst.Code, Now: s.cfg.Now(),
		Begin: func() error { return s.record(r, "history.mrn_links", "institution", inst.Code, inst.Code, "") }}
	rep := &history.LinkReport{}
	err := im.Links(r.Context(), body, actor(r).ID, rep)
	if rep.Linked > 0 {
		s.invalidateBooking() // a linked MRN's history counts at once
	}
	s.log.Info("mrn links", "institution", inst.Code, "rows", rep.Total, "linked", rep.Linked, "already", rep.Already, "failed", rep.Failed, "err", err)
	return rep, err
}

type hospitalCardIn struct {
	PatientID   int64  `json:"patient_id"`
	Institution string `json:"institution"`
	MRN         string `json:"mrn"`
}

// hospitalCardJSON is an MRN linked to a patient of the caller's account.
type hospitalCardJSON struct {
	PatientID       int64     `json:"patient_id"`
	PatientName     string    `json:"patient_name"`
	Institution     string    `json:"institution"`
	InstitutionName string    `json:"institution_name"`
	MRN             string    `json:"mrn"`
	LinkedBy        string    `json:"linked_by"` // import | file | card
	LinkedAt        time.Time `json:"linked_at"`
}

type hospitalCardsOut struct {
	Items []hospitalCardJSON `json:"items"`
}

func (s *Server) cardOut(ctx context.Context, p *identity.Patient, m *history.MRN) hospitalCardJSON {
	out := hospitalCardJSON{PatientID: p.ID, PatientName: p.Name, Institution: m.Institution, MRN: m.MRN, LinkedBy: m.LinkedBy, LinkedAt: m.LinkedAt}
	if inst, err := s.dir.Institution(ctx, m.Institution); err == nil {
		out.InstitutionName = inst.Name
	}
	return out
}

// bindHospitalCard links an institution's MRN to a patient of the
// caller's account (themselves or a child), when the hospital's record is
// the patient's (history.MRN.CardHolder). Binding it again answers the
// same.
func (s *Server) bindHospitalCard(ctx context.Context, c call, in hospitalCardIn) (*hospitalCardJSON, error) {
	if c.Actor.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	in.Institution, in.MRN = strings.TrimSpace(in.Institution), history.NormMRN(in.MRN)
	var f errs.Fields
	if in.PatientID <= 0 {
		f.Add("patient_id", "required")
	}
	if in.Institution == "" {
		f.Add("institution", "required")
	}
	switch {
	case in.MRN == "":
		f.Add("mrn", "required")
	case !history.ValidMRN(in.MRN):
		f.Add("mrn", "invalid")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	pid := strconv.FormatInt(in.PatientID, 10)
	p, err := s.loadPatient(c.r, pid) // the account's own patient or child; audited
	if err != nil {
		return nil, err
	}
	if _, err := s.dir.Institution(ctx, in.Institution); errs.Is(err, errs.NotFound) {
		f.Add("institution", "not_found")
		return nil, f.Err()
	} else if err != nil {
		return nil, err
	}
	refuse := func(code string) error {
		if err := s.record(c.r, "hospital_card.refused", "patient", pid, in.Institution, code); err != nil {
			return err
		}
		return errs.E(code)
	}
	rec, err := s.db.MRN(ctx, in.Institution, in.MRN)
	if errs.Is(err, errs.NotFound) {
		return nil, refuse(codeCardMismatch)
	} else if err != nil {
		return nil, err
	}
	if !rec.CardHolder(p.Name, p.Birth, string(p.Sex)) {
		return nil, refuse(codeCardMismatch)
	}
	now := s.cfg.Now().UTC()
	res, err := s.db.LinkMRNs(ctx, []history.Link{{Institution: in.Institution, MRN: in.MRN, ResidentID: p.ResidentID,
		BirthDate: rec.BirthDate, By: history.LinkCard, Account: c.Actor.ID, At: now}})
	if err != nil {
		return nil, err
	}
	switch res[0] {
	case history.LinkConflict:
		return nil, refuse(codeCardTaken)
	case history.LinkBirth: // the record changed since it was read
		return nil, refuse(codeCardMismatch)
	case history.Linked:
		s.invalidateBooking() // its history counts at once
		if err := s.record(c.r, "hospital_card.bind", "patient", pid, in.Institution, in.MRN); err != nil {
			return nil, err
		}
	}
	if rec, err = s.db.MRN(ctx, in.Institution, in.MRN); err != nil {
		return nil, err
	}
	out := s.cardOut(ctx, p, rec)
	return &out, nil
}

// hospitalCards lists the MRNs linked to the patients of the caller's
// account, however they were linked.
func (s *Server) hospitalCards(ctx context.Context, c call, _ none) (hospitalCardsOut, error) {
	out := hospitalCardsOut{Items: []hospitalCardJSON{}}
	if c.Actor.Role != identity.RolePatient {
		return out, errs.E(errs.Forbidden)
	}
	ps, err := s.ids.Store.PatientsOf(ctx, c.Actor.ID)
	if err != nil {
		return out, err
	}
	byRID := map[string]*identity.Patient{}
	rids := make([]string, 0, len(ps))
	for i := range ps {
		byRID[ps[i].ResidentID] = &ps[i]
		rids = append(rids, ps[i].ResidentID)
	}
	ms, err := s.db.MRNsLinkedTo(ctx, rids)
	if err != nil {
		return out, err
	}
	for i := range ms {
		if p := byRID[ms[i].ResidentID]; p != nil {
			out.Items = append(out.Items, s.cardOut(ctx, p, &ms[i]))
		}
	}
	return out, s.record(c.r, "hospital_card.list", "account", strconv.FormatInt(c.Actor.ID, 10), "", "")
}

// --- the institution's MRNs: those not linked, and corrections ---

// mrnJSON is an institution's MRN as its admin sees it: the hospital's
// record, the link (the resident ID masked, N-19) and the visits kept
// under it.
type mrnJSON struct {
	MRN        string     `json:"mrn"`
	Name       string     `json:"name"`
	BirthDate  string     `json:"birth_date"`
	Sex        string     `json:"sex"`
	Linked     bool       `json:"linked"`
	ResidentID string     `json:"resident_id,omitempty"` // masked
	LinkedBy   string     `json:"linked_by,omitempty"`   // import | file | card | admin
	LinkedAt   *time.Time `json:"linked_at,omitempty"`
	Visits     *int       `json:"visits,omitempty"` // in lists
	LastVisit  string     `json:"last_visit,omitempty"`
}

func mrnOut(m *history.MRN) mrnJSON {
	out := mrnJSON{MRN: m.MRN, Name: m.Name, BirthDate: m.BirthDate, Sex: m.Sex, Linked: m.ResidentID != ""}
	if out.Linked {
		at := m.LinkedAt
		out.ResidentID, out.LinkedBy, out.LinkedAt = identity.MaskResidentID(m.ResidentID), m.LinkedBy, &at
	}
	return out
}

type mrnsOut struct {
	Items  []mrnJSON `json:"items"`
	Total  int       `json:"total"`
	Limit  int       `json:"limit"`
	Offset int       `json:"offset"`
}

// mrnPage reads ?linked=true|false (false), ?limit (1-200, 50) and ?offset.
func mrnPage(c call) (history.MRNQuery, error) {
	q := history.MRNQuery{Limit: 50}
	var f errs.Fields
	switch c.Query("linked") {
	case "", "false":
	case "true":
		q.Linked = true
	default:
		f.Add("linked", "invalid")
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			f.Add("limit", "invalid")
		}
		q.Limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			f.Add("offset", "invalid")
		}
		q.Offset = n
	}
	return q, f.Err()
}

// listMRNs lists the institution's MRNs not linked to a patient (or the
// linked ones, ?linked=true), a page at a time, with the visits kept under
// each: what the link file or the patients' cards have yet to link.
func (s *Server) listMRNs(ctx context.Context, c call, _ none) (*mrnsOut, error) {
	inst, err := s.manage(c.r)
	if err != nil {
		return nil, err
	}
	q, err := mrnPage(c)
	if err != nil {
		return nil, err
	}
	q.Institution = inst.Code
	list, total, err := s.db.MRNs(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &mrnsOut{Items: make([]mrnJSON, 0, len(list)), Total: total, Limit: q.Limit, Offset: q.Offset}
	for i := range list {
		m := mrnOut(&list[i].MRN)
		m.Visits, m.LastVisit = &list[i].Visits, list[i].LastVisit
		out.Items = append(out.Items, m)
	}
	detail := fmt.Sprintf("linked=%v offset=%d: %d of %d", q.Linked, q.Offset, len(list), total)
	return out, s.record(c.r, "mrn.list", "institution", inst.Code, inst.Code, detail)
}

// mrnLinkIn corrects an MRN's link: the resident ID of the right patient,
// or "" to remove it, and why (kept in the audit log).
type mrnLinkIn struct {
	ResidentID string `json:"resident_id"`
	Reason     string `json:"reason"`
}

// maxReason bounds a correction's reason.
const maxReason = 500

// relinkMRN lets an institution's admin correct a wrongly linked MRN
// (link it to the resident ID given) or unlink it (resident_id ""),
// however it was linked, with a reason; audited with the reason and the
// masked resident IDs before and after. The history under the MRN stops
// counting for the patient it was linked to at once (booking's caches
// are dropped on every server).
func (s *Server) relinkMRN(ctx context.Context, c call, in mrnLinkIn) (*mrnJSON, error) {
	inst, err := s.manage(c.r)
	if err != nil {
		return nil, err
	}
	mrn := history.NormMRN(c.Path("mrn"))
	if !history.ValidMRN(mrn) {
		return nil, errs.E(errs.NotFound)
	}
	in.Reason = strings.TrimSpace(in.Reason)
	var f errs.Fields
	switch {
	case in.Reason == "":
		f.Add("reason", "required")
	case len([]rune(in.Reason)) > maxReason:
		f.Add("reason", "too_long")
	}
	now := s.cfg.Now()
	r := history.Relink{Institution: inst.Code, MRN: mrn, Account: c.Actor.ID, At: now.UTC()}
	if rid := strings.TrimSpace(in.ResidentID); rid != "" {
		p, err := identity.ParseResidentID(rid, now)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) {
				return nil, err
			}
			for _, fe := range e.Fields {
				f.Add(fe.Field, fe.Code)
			}
		} else {
			r.ResidentID, r.BirthDate = p.Number, p.Birth.Format(dates.Layout)
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	previous, err := s.db.RelinkMRN(ctx, r)
	if err != nil {
		return nil, err
	}
	s.invalidateBooking() // the old patient's history stops counting, the new one's starts
	action, mask := "mrn.relink", func(rid string) string {
		if rid == "" {
			return "-"
		}
		return identity.MaskResidentID(rid)
	}
	if r.ResidentID == "" {
		action = "mrn.unlink"
	}
	if err := s.record(c.r, action, "mrn", inst.Code+"/"+mrn, inst.Code,
		fmt.Sprintf("%s → %s; reason: %s", mask(previous), mask(r.ResidentID), in.Reason)); err != nil {
		return nil, err
	}
	m, err := s.db.MRN(ctx, inst.Code, mrn)
	if err != nil {
		return nil, err
	}
	out := mrnOut(m)
	return &out, nil
}
