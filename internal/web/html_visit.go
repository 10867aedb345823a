package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/visit"
)

func (s *Server) visitRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /doctor", s.requireLogin(s.show("doctor", s.doctorPage)))
	mux.HandleFunc("GET /visits/{id}", s.requireLogin(s.show("visit", s.visitPage)))
	for _, f := range []struct {
		path string
		do   func(r *http.Request, vc *visitCtx) error
	}{
		{"pre-consult", s.formAnswers},
		{"attachments", func(r *http.Request, vc *visitCtx) error { _, err := s.addAttachment(r, vc, "pre_consult"); return err }},
		{"wait", s.wait},
		{"start", s.startVisit},
		{"record", s.formRecord},
		{"amend", func(r *http.Request, vc *visitCtx) error { return s.amend(r, vc, readRecordForm(r)) }},
		{"terminate", s.formTerminate},
		{"no-show", s.noShow},
		{"skip", s.skip},
		{"guests", s.formInviteGuest},
		{"messages", func(r *http.Request, vc *visitCtx) error {
			_, err := s.post(r.Context(), vc, actor(r).ID, messageIn{Text: r.PostFormValue("text"), ClientID: r.PostFormValue("client_id")})
			return err
		}},
	} {
		mux.HandleFunc("POST /visits/{id}/"+f.path, s.requireLogin(s.visitForm(f.do)))
	}
	s.guestForms(mux)
	mux.HandleFunc("POST /visits/{id}/attachments/{aid}/delete", s.requireLogin(s.visitForm(s.deleteAttachment)))
}

// visitForm runs a form of the visit page: on success back to the page;
// a refusal shows the page again with the error (and the fields' errors).
func (s *Server) visitForm(do func(r *http.Request, vc *visitCtx) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Multipart uploads carry the CSRF token as a form field too; the
		// authentication middleware reads it from the query for those.
		vc, err := s.loadVisit(r, false)
		if err == nil {
			err = do(r, vc)
		}
		if err == nil {
			http.Redirect(w, r, fmt.Sprintf("/visits/%d#%s", vc.v.ID, strings.TrimPrefix(r.URL.Path[strings.LastIndex(r.URL.Path, "/"):], "/")), http.StatusSeeOther)
			return
		}
		switch errs.Code(err) {
		case errs.NotFound, errs.Unauthorized, errs.Internal:
			s.fail(w, r, err)
			return
		}
		p, perr := s.visitPage(w, r)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		p.setErr(err)
		p.Form = r.PostForm
		s.render(w, r, statusOf(errs.Code(err)), "visit", p)
	}
}

// formAnswers reads the pre-consultation form by the questionnaire.
func (s *Server) formAnswers(r *http.Request, vc *visitCtx) error {
	if vc.v.Questionnaire == "" {
		return errs.E(errs.Conflict)
	}
	q, err := s.db.Questionnaire(r.Context(), vc.v.Questionnaire)
	if err != nil {
		return err
	}
	r.ParseForm()
	answers := map[string]any{}
	for _, f := range q.Fields {
		switch f.Type {
		case visit.FieldFiles:
		case visit.FieldMulti:
			if vals := r.PostForm[f.Key]; len(vals) > 0 {
				answers[f.Key] = vals
			}
		case visit.FieldTable:
			var rows []any
			for i := range tableRows(f) {
				row := map[string]any{}
				for _, c := range f.Columns {
					if v := strings.TrimSpace(r.PostFormValue(fmt.Sprintf("%s.%d.%s", f.Key, i, c.Key))); v != "" {
						row[c.Key] = v
					}
				}
				rows = append(rows, row)
			}
			answers[f.Key] = rows
		default:
			if v := r.PostFormValue(f.Key); v != "" {
				answers[f.Key] = v
			}
		}
	}
	return s.saveAnswers(r, vc, answers)
}

// tableRows is how many rows a table field shows.
func tableRows(f visit.Field) []int {
	n := f.MaxRows
	if n == 0 || n > 6 {
		n = 6
	}
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func readRecordForm(r *http.Request) recordIn {
	in := recordIn{ChiefComplaint: r.PostFormValue("chief_complaint"), PresentIllness: r.PostFormValue("present_illness"),
		History: r.PostFormValue("history"), Observations: r.PostFormValue("observations"), Advice: r.PostFormValue("advice"),
		AmendReason: r.PostFormValue("amend_reason"), Diagnoses: []visit.Diagnosis{}}
	for _, c := range strings.FieldsFunc(r.PostFormValue("diagnoses"), func(r rune) bool { return r == ',' || r == '，' || r == ' ' || r == '\n' }) {
		// "L20.9 特应性皮炎" or "L20.9": the code is the first word.
		in.Diagnoses = append(in.Diagnoses, visit.Diagnosis{Code: c})
	}
	return in
}

// formRecord saves the draft, or signs it and completes the visit.
func (s *Server) formRecord(r *http.Request, vc *visitCtx) error {
	in := readRecordForm(r)
	// Words after a code (from the code list's suggestions) are not codes.
	ds := in.Diagnoses[:0]
	for _, d := range in.Diagnoses {
		if _, ok := visit.LookupICD(d.Code); ok || looksLikeCode(d.Code) {
			ds = append(ds, d)
		}
	}
	in.Diagnoses = ds
	if r.PostFormValue("action") == "complete" {
		if err := s.saveDraft(r, vc, in); err != nil {
			return err
		}
		return s.complete(r, vc, &in)
	}
	return s.saveDraft(r, vc, in)
}

func looksLikeCode(s string) bool {
	return len(s) >= 3 && len(s) <= 7 && s[0] >= 'A' && s[0] <= 'Z' || len(s) >= 3 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= '0' && s[1] <= '9'
}

func (s *Server) formTerminate(r *http.Request, vc *visitCtx) error {
	r.ParseForm()
	return s.terminate(r, vc, terminateIn{Reasons: r.PostForm["reasons"], Note: r.PostFormValue("note"),
		Referral: visit.Referral{Department: r.PostFormValue("department"), Urgency: r.PostFormValue("urgency"), Advice: r.PostFormValue("advice")}})
}

// visitPageData is what the visit page shows.
type visitPageData struct {
	*visitJSON
	Doctor     bool
	Patient    bool
	Start      string
	Reasons    []visit.Reason
	Depts      []directory.Department
	Urgencies  []string
	Messages   []visit.Message
	LastSeq    int64
	Draft      *visit.Record
	Diagnoses  string
	Versions   []visit.Record
	AnswerText []answerLine
	Editable   bool
	// InLine: the visit is still to be seen; LineAhead and LineWait are
	// its position (visit.Position); LastCall: a missed call now marks the
	// no-show.
	InLine    bool
	LineAhead int
	LineWait  int
	LastCall  bool
	// Education is the health education attached to the visit (W-6).
	Education *visitEducation
	// Referrals are the visit's referrals (N-24); the doctor's form.
	Referrals *visitReferrals
	guestPanel
}

type answerLine struct{ Label, Value string }

func (s *Server) visitPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.visit")
	vc, err := s.loadVisit(r, true)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	vj, err := s.visitOut(ctx, vc, p.Lang)
	if err != nil {
		return nil, err
	}
	d := &visitPageData{visitJSON: vj, Doctor: vc.party == visit.PartyDoctor, Patient: vc.party == visit.PartyPatient,
		Start: vc.v.Start.In(dates.Beijing).Format("2006-01-02 15:04"), Urgencies: visit.Urgencies,
		Editable: vc.party == visit.PartyPatient && !vc.v.State.AnswersLocked()}
	if vj.Ahead != nil {
		d.InLine, d.LineAhead, d.LineWait = true, *vj.Ahead, *vj.ExpectedWaitMinutes
		act, err := visit.Missed(vc.v.State, vc.v.Calls)
		d.LastCall = err == nil && act == visit.ActNoShow
	}
	if d.Messages, err = s.hub.Since(ctx, vc.v.ID, 0, 500); err != nil {
		return nil, err
	}
	if n := len(d.Messages); n > 0 {
		d.LastSeq = d.Messages[n-1].Seq
	}
	if d.Doctor {
		if d.Reasons, err = s.db.TerminationReasons(ctx); err != nil {
			return nil, err
		}
		inst, err := s.dir.Institution(ctx, vc.v.Institution)
		if err != nil {
			return nil, err
		}
		d.Depts = inst.Departments
		d.Draft = vj.Draft
		if d.Draft == nil && vj.Record != nil {
			d.Draft = vj.Record
		}
		if d.Draft != nil {
			var codes []string
			for _, dg := range d.Draft.Diagnoses {
				codes = append(codes, dg.Code)
			}
			d.Diagnoses = strings.Join(codes, ", ")
		}
	}
	if vj.Versions > 1 {
		if d.Versions, err = s.db.Records(ctx, vc.v.ID); err != nil {
			return nil, err
		}
	}
	if q := vj.Questionnaire; q != nil {
		d.AnswerText = answerLines(q, vc.v.Answers, p.Lang)
	}
	if d.Education, err = s.visitEducationView(ctx, vc, p.Lang); err != nil {
		return nil, err
	}
	if d.Referrals, err = s.visitReferralsView(ctx, vc, p.Lang); err != nil {
		return nil, err
	}
	if err := s.fillGuestPanel(r, vc, &d.guestPanel, p.Lang); err != nil {
		return nil, err
	}
	p.Title = fmt.Sprintf("%s · %s", vc.v.ServiceName, vc.v.PatientName)
	p.Data = d
	return p, nil
}

// answerLines renders the answers for reading, in the template's order.
func answerLines(q *visit.Questionnaire, answers map[string]any, lang i18n.Lang) []answerLine {
	label := func(zh, en string) string {
		if lang == i18n.EN && en != "" {
			return en
		}
		return zh
	}
	var out []answerLine
	for _, f := range q.Fields {
		v, ok := answers[f.Key]
		if !ok {
			continue
		}
		var text string
		switch f.Type {
		case visit.FieldYesNo:
			text = map[bool]string{true: i18n.T(lang, "yes"), false: i18n.T(lang, "no")}[v == true]
		case visit.FieldChoice, visit.FieldMulti:
			vals := []string{}
			switch x := v.(type) {
			case string:
				vals = append(vals, x)
			case []any:
				for _, e := range x {
					vals = append(vals, fmt.Sprint(e))
				}
			}
			for i, val := range vals {
				for _, o := range f.Options {
					if o.Value == val {
						vals[i] = label(o.Label, o.LabelEN)
					}
				}
			}
			text = strings.Join(vals, "、")
		case visit.FieldTable:
			rows, _ := v.([]any)
			var parts []string
			for _, row := range rows {
				m, _ := row.(map[string]any)
				var cells []string
				for _, c := range f.Columns {
					if x, ok := m[c.Key]; ok {
						cells = append(cells, fmt.Sprintf("%s %v%s", label(c.Label, c.LabelEN), x, c.Unit))
					}
				}
				parts = append(parts, strings.Join(cells, "，"))
			}
			text = strings.Join(parts, "；")
		case visit.FieldNumber:
			text = strconv.FormatFloat(toFloat(v), 'f', -1, 64) + f.Unit
		default:
			text = fmt.Sprint(v)
		}
		out = append(out, answerLine{Label: label(f.Label, f.LabelEN), Value: text})
	}
	return out
}

func toFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}

type doctorPageData struct {
	Day    string
	Visits []queueRow
}

// doctorPage is the doctor's workstation: the day's queue, session by
// session in line order (see queueRow).
func (s *Server) doctorPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.doctor")
	a := actor(r)
	if a.Role != identity.RoleDoctor {
		return nil, errs.E(errs.Forbidden)
	}
	day := r.URL.Query().Get("day")
	if _, err := schedule.ParseDay(day); err != nil || day == "" {
		day = s.cfg.Now().In(dates.Beijing).Format(dates.Layout)
	}
	q, err := s.db.Queue(r.Context(), a.ID, day)
	if err != nil {
		return nil, err
	}
	s.record(r, "visit.queue", "queue", day, a.Institution, "")
	d := doctorPageData{Day: day}
	if d.Visits, err = s.queueRows(r.Context(), q); err != nil {
		return nil, err
	}
	p.Data = d
	return p, nil
}
