package web

import (
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
)

func (s *Server) apiInstitutions(w http.ResponseWriter, r *http.Request) {
	list, err := s.dir.Institutions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (s *Server) apiInstitution(w http.ResponseWriter, r *http.Request) {
	inst, err := s.dir.Institution(r.Context(), r.PathValue("code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeInstitution(w, r, http.StatusOK, inst)
}

// institutionIn is the editable part of an institution.
type institutionIn struct {
	Code         string `json:"code"`
	Name         string `json:"name"`
	NameEN       string `json:"name_en"`
	Alias        string `json:"alias"`
	OnlineSince  string `json:"online_since"`
	Channel      string `json:"channel"`
	Insurance    bool   `json:"insurance"`
	Delivery     string `json:"delivery"`
	DeliveryArea string `json:"delivery_area"`
	// Set only by the regulator:
	StatusNote string `json:"status_note"`
	// Never set here: the qualification comes from an approved application
	// (or a suspension) and the pilot from the regulator's designations.
	// A new institution is pending; a value other than that is refused,
	// naming the field.
	Status     directory.Qualification `json:"status"`
	ApprovedOn string                  `json:"approved_on"`
	ValidUntil string                  `json:"valid_until"`
	Pilot      bool                    `json:"first_visit_pilot"`
}

func (in institutionIn) apply(i *directory.Institution, regulator bool) {
	i.Name, i.NameEN, i.Alias, i.OnlineSince, i.Channel = in.Name, in.NameEN, in.Alias, in.OnlineSince, in.Channel
	i.Insurance, i.Delivery, i.DeliveryArea = in.Insurance, in.Delivery, in.DeliveryArea
	if regulator {
		i.StatusNote = in.StatusNote
	}
}

// notHere refuses, by name, the fields of a new institution that only the
// regulator's decisions set (S-1, G-1, G-2).
func (in institutionIn) notHere() error {
	var denied []errs.FieldError
	if in.Status != "" && in.Status != directory.QualPending {
		denied = append(denied, errs.FieldError{Field: "status", Code: "qualification_resource"})
	}
	if in.ApprovedOn != "" {
		denied = append(denied, errs.FieldError{Field: "approved_on", Code: "qualification_resource"})
	}
	if in.ValidUntil != "" {
		denied = append(denied, errs.FieldError{Field: "valid_until", Code: "qualification_resource"})
	}
	if in.Pilot {
		denied = append(denied, errs.FieldError{Field: "first_visit_pilot", Code: "pilot_resource"})
	}
	if len(denied) > 0 {
		return &errs.Error{Code: errs.Forbidden, Fields: denied}
	}
	return nil
}

func (s *Server) apiCreateInstitution(w http.ResponseWriter, r *http.Request) {
	if !authz.Qualify(actor(r)) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	var in institutionIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := in.notHere(); err != nil {
		s.fail(w, r, err)
		return
	}
	i := &directory.Institution{Code: in.Code, Status: directory.QualPending}
	in.apply(i, true)
	if err := i.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.dir.Institution(r.Context(), i.Code); err == nil {
		var f errs.Fields
		f.Add("code", "duplicate")
		s.fail(w, r, f.Err())
		return
	}
	s.saveInstitution(w, r, i, http.StatusCreated, "institution.create")
}

func (s *Server) saveInstitution(w http.ResponseWriter, r *http.Request, i *directory.Institution, status int, action string) {
	if err := s.dir.SaveInstitution(r.Context(), i); err != nil {
		s.fail(w, r, err)
		return
	}
	s.invalidateBooking()
	if err := s.record(r, action, "institution", i.Code, i.Code, string(i.Status)); err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.dir.Institution(r.Context(), i.Code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeInstitution(w, r, status, out)
}

// Who may change which field of an institution through PUT and PATCH
// (N-19, least privilege): its admin the description, the regulator (and
// sysadmin) its note too. The qualification (status, approved_on,
// valid_until) changes only by the regulator's decision on an application
// or a suspension (S-1, G-1, N-23), the pilot (first_visit_pilot, pilots)
// only by the regulator's designations (G-2): read-only here, as are code
// and departments.
var (
	institutionAdminFields     = []string{"name", "name_en", "alias", "online_since", "channel", "insurance", "delivery", "delivery_area"}
	institutionRegulatorFields = []string{"status_note"}
	// institutionShownFields are always in the representation, empty or
	// not, with their empty value.
	institutionShownFields = map[string]any{"status": "", "approved_on": "", "valid_until": "", "first_visit_pilot": false, "pilots": []any{},
		"insurance": false}
)

// institutionDoc is the representation of an institution that GET answers,
// PUT replaces and PATCH merges into: every field the API may change is
// present, empty or not, so what a client read it can send back.
func institutionDoc(i *directory.Institution) (map[string]any, error) {
	b, err := json.Marshal(i)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	for _, k := range append(append([]string{}, institutionAdminFields...), institutionRegulatorFields...) {
		if _, ok := doc[k]; !ok {
			doc[k] = ""
		}
	}
	for k, v := range institutionShownFields {
		if cur, ok := doc[k]; !ok || cur == nil {
			doc[k] = v
		}
	}
	return doc, nil
}

func (s *Server) writeInstitution(w http.ResponseWriter, r *http.Request, status int, i *directory.Institution) {
	doc, err := institutionDoc(i)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, doc)
}

// apiUpdateInstitution is PUT: the body replaces every field the caller
// may change, so each of them must be there (a field left out is refused,
// never cleared; PATCH changes some). Fields the caller may not change may
// be sent back as they are; a different value is refused, naming the field.
func (s *Server) apiUpdateInstitution(w http.ResponseWriter, r *http.Request) {
	s.editInstitution(w, r, false)
}

// apiPatchInstitution is PATCH with a JSON merge patch (RFC 7396,
// application/merge-patch+json or application/json): the fields it names
// change, null clears one, the others stay.
func (s *Server) apiPatchInstitution(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/merge-patch+json" && mt != "application/json") {
			s.fail(w, r, errs.E(errs.Unsupported))
			return
		}
	}
	s.editInstitution(w, r, true)
}

func (s *Server) editInstitution(w http.ResponseWriter, r *http.Request, patch bool) {
	code := r.PathValue("code")
	a := actor(r)
	if !authz.ManageInstitution(a, code) && !authz.Qualify(a) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	i, err := s.dir.Institution(r.Context(), code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body map[string]any
	if err := decode(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body == nil {
		s.fail(w, r, &errs.Error{Code: "bad_json"})
		return
	}
	cur, err := institutionDoc(i)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writable := map[string]bool{}
	for _, k := range institutionAdminFields {
		writable[k] = true
	}
	if authz.Qualify(a) {
		for _, k := range institutionRegulatorFields {
			writable[k] = true
		}
	}
	var target map[string]any
	var missing errs.Fields
	if patch {
		target = mergePatch(cur, body)
	} else {
		target = map[string]any{}
		for k, v := range body {
			target[k] = v
		}
		for _, k := range sortedKeys(cur) {
			if _, sent := body[k]; !sent {
				if writable[k] {
					missing.Add(k, "put_missing")
				} else {
					target[k] = cur[k] // read-only here: left out is left as it is
				}
			}
		}
	}
	var unknown errs.Fields
	for _, k := range sortedKeys(target) {
		if _, known := cur[k]; !known {
			unknown.Add(k, "unknown_field")
		}
	}
	if err := unknown.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	// Least privilege: a field the caller may not change is refused by
	// name, not ignored.
	var denied []errs.FieldError
	for _, k := range sortedKeys(cur) {
		if writable[k] || reflect.DeepEqual(target[k], cur[k]) {
			continue
		}
		why := "field_not_allowed"
		switch k {
		case "code":
			why = "code_immutable"
		case "departments":
			why = "read_only"
		case "status", "approved_on", "valid_until":
			if authz.Qualify(a) {
				why = "qualification_resource" // the decisions' resources change it
			}
		case "first_visit_pilot", "pilots":
			if authz.Qualify(a) {
				why = "pilot_resource" // PUT /api/v1/pilots/{institution}/{specialty}
			}
		}
		denied = append(denied, errs.FieldError{Field: k, Code: why})
	}
	if len(denied) > 0 {
		s.fail(w, r, &errs.Error{Code: errs.Forbidden, Fields: denied})
		return
	}
	if err := missing.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	// What changes, decoded as the API's types (a wrong type names its
	// field); a field a merge patch cleared is empty.
	change := map[string]any{}
	for k := range writable {
		if v, ok := target[k]; ok {
			change[k] = v
		}
	}
	b, err := json.Marshal(change)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in institutionIn
	if err := decodeBytes(b, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	i.Name, i.NameEN, i.Alias, i.OnlineSince, i.Channel = in.Name, in.NameEN, in.Alias, in.OnlineSince, in.Channel
	i.Insurance, i.Delivery, i.DeliveryArea = in.Insurance, in.Delivery, in.DeliveryArea
	if err := i.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	if authz.Qualify(a) && in.StatusNote != i.StatusNote {
		if err := s.dir.SetStatusNote(r.Context(), i.Code, in.StatusNote); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.saveInstitution(w, r, i, http.StatusOK, "institution.update")
}

// mergePatch applies an RFC 7396 JSON merge patch to doc: a null removes a
// member, an object merges into the member, anything else replaces it.
func mergePatch(doc, patch map[string]any) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		out[k] = v
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			sub, _ := out[k].(map[string]any)
			out[k] = mergePatch(sub, pv)
		default:
			out[k] = v
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type qualificationIn struct {
	Status     directory.Qualification `json:"status"`
	ApprovedOn string                  `json:"approved_on"` // ignored: an approval's day is its decision's
	Note       string                  `json:"note"`
}

// setQualification is the regulator's direct action on an institution's
// qualification (G-1, G-3), shared by the API and the regulator's page:
// suspend an approved institution, with the reason (its services close and
// the families booked on them are told), or lift a suspension while the
// approval is still valid. Approving a pending institution takes its
// application (POST /api/v1/applications/{id}/decision); an approval that
// lapsed takes a re-validation (N-23).
func (s *Server) setQualification(r *http.Request, code string, in qualificationIn) error {
	if !authz.Qualify(actor(r)) {
		return errs.E(errs.Forbidden)
	}
	var f errs.Fields
	if in.Status != directory.QualApproved && in.Status != directory.QualSuspended {
		f.Add("status", "status_invalid")
	}
	if in.Status == directory.QualSuspended && strings.TrimSpace(in.Note) == "" {
		f.Add("note", "required")
	}
	if err := f.Err(); err != nil {
		return err
	}
	if in.Status == directory.QualSuspended {
		_, err := s.suspendInstitution(r.Context(), code, strings.TrimSpace(in.Note), "", s.entry(r, "institution.qualification", "institution", code, code,
			"suspended "+strings.TrimSpace(in.Note)))
		return err
	}
	return s.reinstateInstitution(r, code, strings.TrimSpace(in.Note))
}

// manage checks that the actor may edit the institution in the path and
// that it exists.
func (s *Server) manage(r *http.Request) (*directory.Institution, error) {
	code := r.PathValue("code")
	if !authz.ManageInstitution(actor(r), code) {
		return nil, errs.E(errs.Forbidden)
	}
	return s.dir.Institution(r.Context(), code)
}

func (s *Server) apiSaveDepartment(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var d directory.Department
	d.Online = true
	if err := decode(w, r, &d); err != nil {
		s.fail(w, r, err)
		return
	}
	d.Institution, d.Code = inst.Code, r.PathValue("dept")
	if err := s.saveDepartment(r, &d); err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Services == nil {
		d.Services = []directory.Service{} // a list, as GET /institutions/{code} gives it
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) saveDepartment(r *http.Request, d *directory.Department) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := s.dir.SaveDepartment(r.Context(), d); err != nil {
		return err
	}
	return s.record(r, "department.save", "department", d.Institution+"/"+d.Code, d.Institution, d.Name)
}

func (s *Server) apiSaveSpecialty(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in struct {
		Department string `json:"department"`
		Name       string `json:"name"`
		NameEN     string `json:"name_en"`
		Pilot      *bool  `json:"first_visit_pilot"` // read-only: only sent back as it is
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	code := r.PathValue("spec")
	// G-2: the pilot is the regulator's designation (PUT /api/v1/pilots/…):
	// an institution can neither set nor clear it here. A value other than
	// the current one is refused by name; leaving it out changes nothing.
	if in.Pilot != nil && *in.Pilot != inst.SpecialtyPilot(code) {
		s.fail(w, r, &errs.Error{Code: errs.Forbidden, Fields: []errs.FieldError{{Field: "first_visit_pilot", Code: "field_not_allowed"}}})
		return
	}
	sp := directory.Specialty{Institution: inst.Code, Department: in.Department, Code: code, Name: in.Name, NameEN: in.NameEN}
	if err := s.saveSpecialty(r, inst, &sp); err != nil {
		s.fail(w, r, err)
		return
	}
	sp.Pilot = inst.SpecialtyPilot(code)
	writeJSON(w, http.StatusOK, sp)
}

// saveSpecialty stores a specialty's description; its pilot designation
// is not written here (G-2).
func (s *Server) saveSpecialty(r *http.Request, inst *directory.Institution, sp *directory.Specialty) error {
	if err := sp.Validate(); err != nil {
		return err
	}
	if err := s.dir.SaveSpecialty(r.Context(), sp); err != nil {
		return err
	}
	s.invalidateBooking()
	return s.record(r, "specialty.save", "specialty", sp.Institution+"/"+sp.Code, sp.Institution, sp.Name)
}

// serviceIn is a service as clients send it: the price in yuan (or fen).
type serviceIn struct {
	Department string                `json:"department"`
	Name       string                `json:"name"`
	NameEN     string                `json:"name_en"`
	Kind       directory.ServiceKind `json:"kind"`
	Specialty  string                `json:"specialty"`
	Price      *float64              `json:"price"`
	PriceFen   *int64                `json:"price_fen"`
	Days       directory.Weekdays    `json:"days"`
	Active     *bool                 `json:"active"`
	// Booking window and release (S-2); defaults when absent.
	MinDays       *int      `json:"book_min_days"`
	MaxDays       *int      `json:"book_max_days"`
	ReleaseTime   string    `json:"release_time"`
	OpensAt       time.Time `json:"opens_at"`
	CancelCutoffM *int      `json:"cancel_cutoff_minutes"`
	Questionnaire string    `json:"questionnaire"` // pre-consultation template (V-1)
	// One visit's length (estimated times) and how much later a time may
	// move before the family is told; defaults 10 and 15 minutes.
	VisitMinutes      *int `json:"visit_minutes"`
	LateNoticeMinutes *int `json:"late_notice_minutes"`
}

func (in serviceIn) service(inst, code string) (*directory.Service, error) {
	sv := &directory.Service{Institution: inst, Code: code, Department: in.Department, Name: in.Name, NameEN: in.NameEN,
		Kind: in.Kind, Specialty: in.Specialty, Days: in.Days, Active: true, Questionnaire: in.Questionnaire}
	if in.Active != nil {
		sv.Active = *in.Active
	}
	sv.Release = directory.DefaultRelease
	if in.MinDays != nil {
		sv.MinDays = *in.MinDays
	}
	if in.MaxDays != nil {
		sv.MaxDays = *in.MaxDays
	}
	if in.ReleaseTime != "" {
		sv.ReleaseTime = in.ReleaseTime
	}
	if in.CancelCutoffM != nil {
		sv.CancelCutoffM = *in.CancelCutoffM
	}
	sv.OpensAt = in.OpensAt
	switch {
	case in.PriceFen != nil:
		sv.PriceFen = *in.PriceFen
	case in.Price != nil:
		sv.PriceFen = int64(math.Round(*in.Price * 100))
	}
	var f errs.Fields
	if in.Department == "" {
		f.Add("department", "required")
	}
	for _, d := range in.Days {
		if d < 1 || d > 7 {
			f.Add("days", "days_format")
			break
		}
	}
	if sv.Days == nil {
		sv.Days = directory.Weekdays{1, 2, 3, 4, 5, 6, 7}
	}
	for _, m := range []struct {
		field string
		v     *int
		to    *int
	}{{"visit_minutes", in.VisitMinutes, &sv.VisitMinutes}, {"late_notice_minutes", in.LateNoticeMinutes, &sv.LateNoticeMinutes}} {
		if m.v == nil {
			continue
		}
		if *m.v < 1 || *m.v > 240 {
			f.Add(m.field, "invalid")
			continue
		}
		*m.to = *m.v
	}
	if err := sv.Validate(); err != nil {
		return nil, mergeFields(&f, err)
	}
	return sv, f.Err()
}

// mergeFields adds the field errors of err to f and returns f's error.
func mergeFields(f *errs.Fields, err error) error {
	if e, ok := err.(*errs.Error); ok && e.Code == errs.Invalid {
		for _, fe := range e.Fields {
			f.Add(fe.Field, fe.Code, fe.Args...)
		}
		return f.Err()
	}
	return err
}

func (s *Server) apiSaveService(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in serviceIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	sv, err := in.service(inst.Code, r.PathValue("svc"))
	if err == nil {
		err = s.saveService(r, inst, sv)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.dir.Service(r.Context(), sv.Code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) saveService(r *http.Request, inst *directory.Institution, sv *directory.Service) error {
	if sv.Specialty != "" && !hasSpecialty(inst, sv.Department, sv.Specialty) {
		var f errs.Fields
		f.Add("specialty", "not_found")
		return f.Err()
	}
	if err := s.dir.SaveService(r.Context(), sv); err != nil {
		return err
	}
	s.invalidateBooking()
	return s.record(r, "service.save", "service", sv.Code, sv.Institution, sv.Name)
}

func hasSpecialty(inst *directory.Institution, dept, code string) bool {
	for _, d := range inst.Departments {
		for _, sp := range d.Specialties {
			if sp.Code == code && d.Code == dept {
				return true
			}
		}
	}
	return false
}

// --- practitioners ---

type reasonJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type firstVisitJSON struct {
	Eligible bool         `json:"eligible"`
	Reasons  []reasonJSON `json:"reasons"`
}

type practitionerJSON struct {
	*directory.Practitioner
	FirstVisit    firstVisitJSON `json:"first_visit"`
	MayWorkOnline bool           `json:"may_work_online"`
}

// publicPractitioner is what the institution publishes (N-8).
type publicPractitioner struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Profession    string `json:"profession"`
	Title         string `json:"title"`
	Department    string `json:"department,omitempty"`
	Bio           string `json:"bio,omitempty"`
	FirstVisit    bool   `json:"first_visit"`
	MayWorkOnline bool   `json:"may_work_online"`
}

func firstVisit(p *directory.Practitioner, day time.Time, lang i18n.Lang) firstVisitJSON {
	ok, reasons := p.FirstVisitCheck(day)
	out := firstVisitJSON{Eligible: ok, Reasons: []reasonJSON{}}
	for _, rs := range reasons {
		out.Reasons = append(out.Reasons, reasonJSON{Code: rs.Code, Message: i18n.T(lang, rs.Code, rs.Args...)})
	}
	return out
}

func (s *Server) practitionerOut(r *http.Request, p *directory.Practitioner, full bool) any {
	if full {
		return practitionerJSON{Practitioner: p, FirstVisit: firstVisit(p, s.today(), apiLang(r)), MayWorkOnline: p.MayWorkOnline()}
	}
	ok, _ := p.FirstVisitCheck(s.today())
	return publicPractitioner{ID: p.ID, Name: p.Name, Profession: string(p.Profession), Title: string(p.Title), Department: p.Department,
		Bio: p.Bio, FirstVisit: ok, MayWorkOnline: p.MayWorkOnline()}
}

func (s *Server) apiPractitioners(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if _, err := s.dir.Institution(r.Context(), code); err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.dir.Practitioners(r.Context(), code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	full := authz.SeeInstitutionStaff(actor(r), code)
	out := make([]any, 0, len(list))
	for i := range list {
		out = append(out, s.practitionerOut(r, &list[i], full))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Server) loadPractitioner(r *http.Request) (*directory.Practitioner, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, errs.E(errs.NotFound)
	}
	return s.dir.Practitioner(r.Context(), id)
}

func (s *Server) apiPractitioner(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadPractitioner(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.practitionerOut(r, p, authz.SeeInstitutionStaff(actor(r), p.Institution)))
}

type practitionerIn struct {
	Department       string               `json:"department"`
	AccountID        int64                `json:"account_id"`
	Name             string               `json:"name"`
	Profession       directory.Profession `json:"profession"`
	Title            directory.Title      `json:"title"`
	LicenceNo        string               `json:"licence_no"`
	PracticeSince    string               `json:"practice_since"`
	InternetSince    string               `json:"internet_since"`
	TrainingPassedOn string               `json:"training_passed_on"`
	Bio              string               `json:"bio"`
}

func (in practitionerIn) apply(p *directory.Practitioner) {
	p.Department, p.AccountID, p.Name, p.Profession, p.Title = in.Department, in.AccountID, in.Name, in.Profession, in.Title
	p.LicenceNo, p.PracticeSince, p.InternetSince, p.TrainingPassedOn, p.Bio = in.LicenceNo, in.PracticeSince, in.InternetSince, in.TrainingPassedOn, in.Bio
}

// savePractitioner validates and stores p for the actor, checking that the
// department and linked account belong to p's institution.
func (s *Server) savePractitioner(r *http.Request, inst *directory.Institution, p *directory.Practitioner) error {
	var f errs.Fields
	if err := p.Validate(); err != nil {
		mergeFields(&f, err)
	}
	if p.Department != "" && !hasDepartment(inst, p.Department) {
		f.Add("department", "not_found")
	}
	if p.AccountID != 0 {
		a, err := s.ids.Store.AccountByID(r.Context(), p.AccountID)
		if err != nil || a.Institution != inst.Code {
			f.Add("account_id", "not_found")
		}
	}
	if err := f.Err(); err != nil {
		return err
	}
	action := "practitioner.update"
	if p.ID == 0 {
		action = "practitioner.create"
	}
	if err := s.dir.SavePractitioner(r.Context(), p); err != nil {
		return err
	}
	return s.record(r, action, "practitioner", strconv.FormatInt(p.ID, 10), p.Institution, p.Name)
}

func hasDepartment(inst *directory.Institution, code string) bool {
	for _, d := range inst.Departments {
		if d.Code == code {
			return true
		}
	}
	return false
}

func (s *Server) apiCreatePractitioner(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in practitionerIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	p := &directory.Practitioner{Institution: inst.Code}
	in.apply(p)
	if err := s.savePractitioner(r, inst, p); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.practitionerOut(r, p, true))
}

// managedPractitioner loads the practitioner in the path for an actor who
// may manage its institution; others get not_found or forbidden.
func (s *Server) managedPractitioner(r *http.Request) (*directory.Practitioner, *directory.Institution, error) {
	p, err := s.loadPractitioner(r)
	if err != nil {
		return nil, nil, err
	}
	if !authz.ManageInstitution(actor(r), p.Institution) {
		return nil, nil, errs.E(errs.Forbidden)
	}
	inst, err := s.dir.Institution(r.Context(), p.Institution)
	return p, inst, err
}

func (s *Server) apiUpdatePractitioner(w http.ResponseWriter, r *http.Request) {
	p, inst, err := s.managedPractitioner(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in practitionerIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	in.apply(p)
	if err := s.savePractitioner(r, inst, p); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.practitionerOut(r, p, true))
}

type suspendIn struct {
	Scope  directory.SuspensionScope `json:"scope"`
	Reason string                    `json:"reason"`
}

// suspend stops a practitioner's first visits or all internet work (D-2).
func (s *Server) suspend(r *http.Request, p *directory.Practitioner, in suspendIn) (*directory.Suspension, error) {
	var f errs.Fields
	if in.Scope != directory.SuspendFirstVisit && in.Scope != directory.SuspendAll {
		f.Add("scope", "scope_invalid")
	}
	if in.Reason == "" {
		f.Add("reason", "required")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	sus := &directory.Suspension{PractitionerID: p.ID, Scope: in.Scope, Reason: in.Reason, Since: s.cfg.Now(), By: actor(r).ID}
	if err := s.dir.AddSuspension(r.Context(), sus); err != nil {
		return nil, err
	}
	// D-2: the doctor loses the bookings that depend on the suspended work.
	cancelled, err := s.bk.DoctorSuspended(r.Context(), p, in.Scope, in.Reason)
	if err != nil {
		return nil, err
	}
	for _, a := range cancelled {
		s.record(r, "appointment.cancel", "appointment", strconv.FormatInt(a.ID, 10), a.Institution, "doctor suspended")
	}
	return sus, s.record(r, "practitioner.suspend", "practitioner", strconv.FormatInt(p.ID, 10), p.Institution, string(in.Scope)+": "+in.Reason)
}

func (s *Server) apiSuspend(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.managedPractitioner(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in suspendIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	sus, err := s.suspend(r, p, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sus)
}

func (s *Server) liftSuspension(r *http.Request, p *directory.Practitioner, sid int64) error {
	if err := s.dir.LiftSuspension(r.Context(), p.ID, sid, s.cfg.Now()); err != nil {
		return err
	}
	s.invalidateBooking()
	return s.record(r, "practitioner.lift", "practitioner", strconv.FormatInt(p.ID, 10), p.Institution, strconv.FormatInt(sid, 10))
}

func (s *Server) apiLift(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.managedPractitioner(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sid, err := strconv.ParseInt(r.PathValue("sid"), 10, 64)
	if err != nil {
		s.fail(w, r, errs.E(errs.NotFound))
		return
	}
	if err := s.liftSuspension(r, p, sid); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
