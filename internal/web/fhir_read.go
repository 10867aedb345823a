package web

// Read and search of each FHIR resource, with the JSON API's authorisation:
// the public directory for anyone; a patient account its own profiles and
// its children's; an institution's staff what was booked there; the
// regulator the visits it supervises. Every access to patient data is
// audited (s.record); a resource the caller may not see is not_found, as
// a missing one.

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/fhir/r4"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// fhirTypes are the resource types served (r4.Specs lists them).
func (s *Server) fhirTypes() map[string]fhirType {
	return map[string]fhirType{
		"Organization":      {s.readOrganization, s.searchOrganizations},
		"HealthcareService": {s.readHealthcareService, s.searchHealthcareServices},
		"Practitioner":      {s.readPractitioner, s.searchPractitioners},
		"PractitionerRole":  {s.readPractitionerRole, s.searchPractitionerRoles},
		"Schedule":          {s.readSchedule, s.searchSchedules},
		"Slot":              {s.readSlot, s.searchSlots},
		"Patient":           {s.readPatient, s.searchPatients},
		"RelatedPerson":     {s.readRelatedPerson, s.searchRelatedPersons},
		"Appointment":       {s.readAppointment, s.searchAppointments},
		"Encounter":         {s.readEncounter, s.searchEncounters},
		"Condition":         {s.readCondition, s.searchConditions},
		"MedicationRequest": {s.readMedicationRequest, s.searchMedicationRequests},
		"Consent":           {s.readConsent, s.searchConsents},
	}
}

// --- the directory, read once per request ---

// dirView reads institutions and practitioners at most once a request.
type dirView struct {
	s     *Server
	ctx   context.Context
	insts map[string]*directory.Institution
	prs   map[int64]*directory.Practitioner
}

func (s *Server) dirView(ctx context.Context) *dirView {
	return &dirView{s: s, ctx: ctx, insts: map[string]*directory.Institution{}, prs: map[int64]*directory.Practitioner{}}
}

func (d *dirView) inst(code string) (*directory.Institution, error) {
	if i, ok := d.insts[code]; ok {
		return i, nil
	}
	i, err := d.s.dir.Institution(d.ctx, code)
	if err != nil {
		return nil, err
	}
	d.insts[code] = i
	return i, nil
}

// all is every institution with its departments and services.
func (d *dirView) all() ([]*directory.Institution, error) {
	list, err := d.s.dir.Institutions(d.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*directory.Institution, 0, len(list))
	for _, i := range list {
		full, err := d.inst(i.Code)
		if err != nil {
			return nil, err
		}
		out = append(out, full)
	}
	return out, nil
}

// service finds a service with its department and institution.
func (d *dirView) service(code string) (*directory.Service, *directory.Department, *directory.Institution, error) {
	svc, err := d.s.bk.Service(d.ctx, code)
	if err != nil {
		return nil, nil, nil, err
	}
	inst, err := d.inst(svc.Institution)
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range inst.Departments {
		if dep := &inst.Departments[i]; dep.Code == svc.Department {
			for j := range dep.Services {
				if dep.Services[j].Code == code {
					return &dep.Services[j], dep, inst, nil
				}
			}
			return svc, dep, inst, nil
		}
	}
	return svc, &directory.Department{Code: svc.Department, Name: svc.Department}, inst, nil
}

// deptName is a department's name ("" when unknown).
func (d *dirView) deptName(institution, dept string) string {
	inst, err := d.inst(institution)
	if err != nil {
		return ""
	}
	for _, x := range inst.Departments {
		if x.Code == dept {
			return x.Name
		}
	}
	return ""
}

func (d *dirView) practitioner(id int64) (*directory.Practitioner, error) {
	if p, ok := d.prs[id]; ok {
		return p, nil
	}
	p, err := d.s.dir.Practitioner(d.ctx, id)
	if err != nil {
		return nil, err
	}
	d.prs[id] = p
	return p, nil
}

// practitioners is every practitioner of every institution.
func (d *dirView) practitioners() ([]*directory.Practitioner, error) {
	insts, err := d.all()
	if err != nil {
		return nil, err
	}
	var out []*directory.Practitioner
	for _, i := range insts {
		list, err := d.s.dir.Practitioners(d.ctx, i.Code)
		if err != nil {
			return nil, err
		}
		for k := range list {
			p := &list[k]
			d.prs[p.ID] = p
			out = append(out, p)
		}
	}
	return out, nil
}

func intID(id string) (int64, error) {
	n, ok := r4.ParseInt(id)
	if !ok {
		return 0, errs.E(errs.NotFound)
	}
	return n, nil
}

func anyOf[T any](list []T) []any {
	out := make([]any, len(list))
	for i := range list {
		out[i] = list[i]
	}
	return out
}

// single is a parameter that takes one value (no comma list); "" when
// absent.
func (q *fhirQuery) single(name string) (string, error) {
	vs := q.list(name)
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", errs.E(codeFHIRParamValue, name)
}

// --- Organization ---

func (s *Server) readOrganization(r *http.Request, id string) (any, error) {
	inst, err := s.dir.Institution(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return r4.OrganizationOf(inst), nil
}

func (s *Server) searchOrganizations(r *http.Request, q *fhirQuery) ([]any, int, error) {
	list, err := s.dir.Institutions(r.Context())
	if err != nil {
		return nil, 0, err
	}
	active, hasActive, err := q.boolean("active")
	if err != nil {
		return nil, 0, err
	}
	var out []*r4.Organization
	for i := range list {
		o := r4.OrganizationOf(&list[i])
		if q.idIn(o.ID) && q.anyToken("identifier", r4.Coding{System: r4.SystemInstitution, Code: o.ID}) &&
			q.contains("name", append([]string{o.Name}, o.Alias...)...) && (!hasActive || *o.Active == active) {
			out = append(out, o)
		}
	}
	return anyOf(fhirPage(q, out)), len(out), nil
}

// --- HealthcareService ---

func (s *Server) readHealthcareService(r *http.Request, id string) (any, error) {
	svc, dep, inst, err := s.dirView(r.Context()).service(id)
	if err != nil {
		return nil, err
	}
	return r4.HealthcareServiceOf(inst, dep, svc), nil
}

func (s *Server) searchHealthcareServices(r *http.Request, q *fhirQuery) ([]any, int, error) {
	insts, err := s.dirView(r.Context()).all()
	if err != nil {
		return nil, 0, err
	}
	orgs, err := q.refs("organization", "Organization")
	if err != nil {
		return nil, 0, err
	}
	active, hasActive, err := q.boolean("active")
	if err != nil {
		return nil, 0, err
	}
	var out []*r4.HealthcareService
	for _, inst := range insts {
		if orgs != nil && !slices.Contains(orgs, inst.Code) {
			continue
		}
		for i := range inst.Departments {
			dep := &inst.Departments[i]
			for j := range dep.Services {
				svc := &dep.Services[j]
				h := r4.HealthcareServiceOf(inst, dep, svc)
				code := r4.Coding{System: r4.SystemService, Code: svc.Code}
				if q.idIn(h.ID) && q.anyToken("identifier", code) && q.anyToken("service-type", code) &&
					q.anyToken("specialty", codings(h.Specialty)...) && (!hasActive || *h.Active == active) {
					out = append(out, h)
				}
			}
		}
	}
	return anyOf(fhirPage(q, out)), len(out), nil
}

// codings are the codings of concepts.
func codings(cs []r4.CodeableConcept) []r4.Coding {
	var out []r4.Coding
	for _, c := range cs {
		out = append(out, c.Coding...)
	}
	return out
}

// --- Practitioner and PractitionerRole ---

// practitionerOf maps a practitioner with what the caller may see of it:
// the licence only for its institution's admins and the regulator (N-8).
func (s *Server) practitionerOf(r *http.Request, p *directory.Practitioner) *r4.Practitioner {
	return r4.PractitionerOf(p, authz.SeeInstitutionStaff(actor(r), p.Institution))
}

func (s *Server) readPractitioner(r *http.Request, id string) (any, error) {
	n, err := intID(id)
	if err != nil {
		return nil, err
	}
	p, err := s.dir.Practitioner(r.Context(), n)
	if err != nil {
		return nil, err
	}
	return s.practitionerOf(r, p), nil
}

func (s *Server) searchPractitioners(r *http.Request, q *fhirQuery) ([]any, int, error) {
	prs, err := s.dirView(r.Context()).practitioners()
	if err != nil {
		return nil, 0, err
	}
	var out []*r4.Practitioner
	for _, p := range prs {
		m := s.practitionerOf(r, p)
		var ids []r4.Coding
		for _, id := range m.Identifier {
			ids = append(ids, r4.Coding{System: id.System, Code: id.Value})
		}
		if q.idIn(m.ID) && q.contains("name", p.Name) && (!q.has("identifier") || q.anyToken("identifier", ids...)) {
			out = append(out, m)
		}
	}
	return anyOf(fhirPage(q, out)), len(out), nil
}

// servicesOf groups the services each practitioner has sessions of.
func (s *Server) servicesOf(ctx context.Context, practitioner int64) (map[int64][]string, error) {
	keys, err := s.db.FHIRSchedules(ctx, "", practitioner)
	if err != nil {
		return nil, err
	}
	out := map[int64][]string{}
	for _, k := range keys {
		out[k.PractitionerID] = append(out[k.PractitionerID], k.Service)
	}
	return out, nil
}

func (s *Server) readPractitionerRole(r *http.Request, id string) (any, error) {
	n, err := intID(id)
	if err != nil {
		return nil, err
	}
	d := s.dirView(r.Context())
	p, err := d.practitioner(n)
	if err != nil {
		return nil, err
	}
	inst, err := d.inst(p.Institution)
	if err != nil {
		return nil, err
	}
	svcs, err := s.servicesOf(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	return r4.PractitionerRoleOf(p, inst, svcs[p.ID]), nil
}

func (s *Server) searchPractitionerRoles(r *http.Request, q *fhirQuery) ([]any, int, error) {
	d := s.dirView(r.Context())
	prs, err := d.practitioners()
	if err != nil {
		return nil, 0, err
	}
	svcs, err := s.servicesOf(r.Context(), 0)
	if err != nil {
		return nil, 0, err
	}
	who, err := q.refs("practitioner", "Practitioner")
	if err != nil {
		return nil, 0, err
	}
	orgs, err := q.refs("organization", "Organization")
	if err != nil {
		return nil, 0, err
	}
	wants, err := q.refs("service", "HealthcareService")
	if err != nil {
		return nil, 0, err
	}
	active, hasActive, err := q.boolean("active")
	if err != nil {
		return nil, 0, err
	}
	var out []*r4.PractitionerRole
	for _, p := range prs {
		id := strconv.FormatInt(p.ID, 10)
		if !q.idIn(id) || (who != nil && !slices.Contains(who, id)) || (orgs != nil && !slices.Contains(orgs, p.Institution)) {
			continue
		}
		if wants != nil && !slices.ContainsFunc(svcs[p.ID], func(s string) bool { return slices.Contains(wants, s) }) {
			continue
		}
		inst, err := d.inst(p.Institution)
		if err != nil {
			return nil, 0, err
		}
		role := r4.PractitionerRoleOf(p, inst, svcs[p.ID])
		if q.anyToken("specialty", codings(role.Specialty)...) && (!hasActive || *role.Active == active) {
			out = append(out, role)
		}
	}
	return anyOf(fhirPage(q, out)), len(out), nil
}

// --- Schedule and Slot ---

func (s *Server) scheduleOf(d *dirView, k sqlstore.FHIRScheduleKey) (*r4.Schedule, error) {
	svc, dep, _, err := d.service(k.Service)
	if err != nil {
		return nil, err
	}
	p, err := d.practitioner(k.PractitionerID)
	if err != nil {
		return nil, err
	}
	return r4.ScheduleOf(svc, dep.Name, p, s.cfg.Now()), nil
}

func (s *Server) readSchedule(r *http.Request, id string) (any, error) {
	svc, pr, ok := r4.ParseScheduleID(id)
	if !ok {
		return nil, errs.E(errs.NotFound)
	}
	keys, err := s.db.FHIRSchedules(r.Context(), svc, pr)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errs.E(errs.NotFound)
	}
	return s.scheduleOf(s.dirView(r.Context()), keys[0])
}

func (s *Server) searchSchedules(r *http.Request, q *fhirQuery) ([]any, int, error) {
	keys, err := s.db.FHIRSchedules(r.Context(), "", 0)
	if err != nil {
		return nil, 0, err
	}
	var actors []string // "Practitioner/1", "HealthcareService/x"
	for _, v := range q.list("actor") {
		if id, ok := r4.ParseRef("Practitioner", v); ok {
			actors = append(actors, "Practitioner/"+id)
		} else if id, ok := r4.ParseRef("HealthcareService", v); ok {
			actors = append(actors, "HealthcareService/"+id)
		} else {
			return nil, 0, errs.E(codeFHIRParamValue, "actor")
		}
	}
	active, hasActive, err := q.boolean("active")
	if err != nil {
		return nil, 0, err
	}
	d := s.dirView(r.Context())
	var out []*r4.Schedule
	for _, k := range keys {
		if !q.idIn(r4.ScheduleID(k.Service, k.PractitionerID)) || !q.anyToken("service-type", r4.Coding{System: r4.SystemService, Code: k.Service}) {
			continue
		}
		if actors != nil && !slices.Contains(actors, "Practitioner/"+strconv.FormatInt(k.PractitionerID, 10)) &&
			!slices.Contains(actors, "HealthcareService/"+k.Service) {
			continue
		}
		sc, err := s.scheduleOf(d, k)
		if err != nil {
			return nil, 0, err
		}
		if !hasActive || *sc.Active == active {
			out = append(out, sc)
		}
	}
	return anyOf(fhirPage(q, out)), len(out), nil
}

func (s *Server) slotOf(d *dirView, sl *schedule.Slot) (*r4.Slot, error) {
	svc, dep, inst, err := d.service(sl.Service)
	if err != nil {
		return nil, err
	}
	return r4.SlotOf(sl, svc, dep.Name, inst.Open()), nil
}

func (s *Server) readSlot(r *http.Request, id string) (any, error) {
	n, err := intID(id)
	if err != nil {
		return nil, err
	}
	sl, err := s.db.Slot(r.Context(), n)
	if err != nil {
		return nil, err
	}
	return s.slotOf(s.dirView(r.Context()), sl)
}

func (s *Server) searchSlots(r *http.Request, q *fhirQuery) ([]any, int, error) {
	sq := sqlstore.FHIRSlotQuery{IDs: q.intIDs(), Statuses: q.list("status")}
	sched, err := q.single("schedule")
	if err != nil {
		return nil, 0, err
	}
	if sched != "" {
		id, ok := r4.ParseRef("Schedule", sched)
		svc, pr, ok2 := r4.ParseScheduleID(id)
		if !ok || !ok2 {
			return nil, 0, errs.E(codeFHIRParamValue, "schedule")
		}
		sq.Service, sq.PractitionerID = svc, pr
	}
	if err := tokenFilter(q, "service-type", r4.SystemService, &sq.Service); err != nil {
		return nil, 0, err
	}
	if err := tokenFilter(q, "specialty", r4.SystemDepartment, &sq.Department); err != nil {
		return nil, 0, err
	}
	rg, err := q.dateRange("start")
	if err != nil {
		return nil, 0, err
	}
	sq.From, sq.To = rg.From, rg.To
	limit, offset := q.storePage()
	slots, total, err := s.db.FHIRSlots(r.Context(), sq, sqlstore.Page{Limit: limit, Offset: offset})
	if err != nil {
		return nil, 0, err
	}
	d := s.dirView(r.Context())
	out := make([]any, 0, len(slots))
	for i := range slots {
		m, err := s.slotOf(d, &slots[i])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	return out, total, nil
}

// tokenFilter reads a one-value token parameter of system into *dst: a
// value of another system, or one that contradicts *dst, matches nothing
// ("\x00").
func tokenFilter(q *fhirQuery, name, system string, dst *string) error {
	v, err := q.single(name)
	if err != nil || v == "" {
		return err
	}
	t := r4.ParseToken(v)
	code := t.Code
	if (t.HasSystem && t.System != system) || code == "" || (*dst != "" && *dst != code) {
		code = "\x00"
	}
	*dst = code
	return nil
}

// --- Patient ---

// patientFor reads a patient the caller may see: a patient account its
// own and its children's (the JSON API's rule, with contact details); an
// institution's staff those booked there (without them). The read is
// audited; anything else is not_found, and the attempt audited.
func (s *Server) patientFor(r *http.Request, id int64) (*r4.Patient, error) {
	if err := needLogin(r); err != nil {
		return nil, err
	}
	idStr := strconv.FormatInt(id, 10)
	a := actor(r)
	if a.Role == identity.RolePatient {
		p, err := s.patientOf(r, idStr) // audits a denial
		if err != nil {
			return nil, err
		}
		out := r4.PatientOf(p, true)
		if err := s.withMRNs(r.Context(), "", []*identity.Patient{p}, []*r4.Patient{out}); err != nil {
			return nil, err
		}
		return out, s.record(r, "patient.read", "patient", idStr, "", "fhir")
	}
	sight, ok, err := s.bookingSight(r.Context(), a)
	if err != nil {
		return nil, err
	}
	inst := sight.Institution
	if ok {
		ok, err := s.db.FHIRPatientSeen(r.Context(), id, sight)
		if err != nil {
			return nil, err
		}
		if ok {
			p, err := s.ids.Store.PatientByID(r.Context(), id)
			if err != nil {
				return nil, err
			}
			out := r4.PatientOf(p, false)
			if err := s.withMRNs(r.Context(), inst, []*identity.Patient{p}, []*r4.Patient{out}); err != nil {
				return nil, err
			}
			return out, s.record(r, "patient.read", "patient", idStr, inst, joinDetail("fhir", widenedSight(sight)))
		}
	}
	s.record(r, "patient.read.denied", "patient", idStr, inst, "fhir")
	return nil, errs.E(errs.NotFound)
}

func (s *Server) readPatient(r *http.Request, id string) (any, error) {
	n, err := intID(id)
	if err != nil {
		return nil, err
	}
	return s.patientFor(r, n)
}

// withMRNs adds to each FHIR Patient (out[i] of ps[i]) the medical record
// numbers linked to it (issue 16), as identifiers of type MR in their
// institution's system: every one to the family; to an institution's
// staff (institution given) their institution's alone (N-19).
func (s *Server) withMRNs(ctx context.Context, institution string, ps []*identity.Patient, out []*r4.Patient) error {
	rids := make([]string, 0, len(ps))
	at := map[string][]*r4.Patient{}
	for i, p := range ps {
		if p.ResidentID == "" {
			continue
		}
		if at[p.ResidentID] == nil {
			rids = append(rids, p.ResidentID)
		}
		at[p.ResidentID] = append(at[p.ResidentID], out[i])
	}
	if len(rids) == 0 {
		return nil
	}
	ms, err := s.db.MRNsLinkedTo(ctx, rids)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if institution != "" && m.Institution != institution {
			continue
		}
		for _, p := range at[m.ResidentID] {
			p.AddMRN(m.Institution, m.MRN)
		}
	}
	return nil
}

// residentIDFilter reads the identifier parameter: a resident ID, of the
// resident ID system or none.
func residentIDFilter(q *fhirQuery) (string, bool, error) {
	v, err := q.single("identifier")
	if err != nil || v == "" {
		return "", false, err
	}
	t := r4.ParseToken(v)
	if t.HasSystem && t.System != r4.SystemResidentID {
		return "\x00", true, nil
	}
	return strings.ToUpper(strings.TrimSpace(t.Code)), true, nil
}

// ownPatients are the profiles of a patient account, with their ids.
func (s *Server) ownPatients(r *http.Request) ([]identity.Patient, []int64, error) {
	ps, err := s.ids.Store.PatientsOf(r.Context(), actor(r).ID)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int64, len(ps))
	for i := range ps {
		ids[i] = ps[i].ID
	}
	return ps, ids, nil
}

func (s *Server) searchPatients(r *http.Request, q *fhirQuery) ([]any, int, error) {
	if err := needLogin(r); err != nil {
		return nil, 0, err
	}
	rid, hasRID, err := residentIDFilter(q)
	if err != nil {
		return nil, 0, err
	}
	a := actor(r)
	var out []*r4.Patient
	total, inst, detail := 0, "", ""
	switch {
	case a.Role == identity.RolePatient:
		ps, _, err := s.ownPatients(r)
		if err != nil {
			return nil, 0, err
		}
		var all []*r4.Patient
		var whose []*identity.Patient
		for i := range ps {
			p := &ps[i]
			if q.idIn(strconv.FormatInt(p.ID, 10)) && q.contains("name", p.Name) && (!hasRID || p.ResidentID == rid) {
				all, whose = append(all, r4.PatientOf(p, true)), append(whose, p)
			}
		}
		if err := s.withMRNs(r.Context(), "", whose, all); err != nil {
			return nil, 0, err
		}
		out, total = fhirPage(q, all), len(all)
	default:
		sight, ok, err := s.bookingSight(r.Context(), a)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			return nil, 0, errs.E(errs.Forbidden)
		}
		inst, detail = sight.Institution, widenedSight(sight)
		name, err := q.single("name")
		if err != nil {
			return nil, 0, err
		}
		limit, offset := q.storePage()
		ps, n, err := s.db.FHIRPatientsAt(r.Context(), sqlstore.FHIRPatientQuery{Sight: sight, IDs: q.intIDs(), ResidentID: rid, Name: name},
			sqlstore.Page{Limit: limit, Offset: offset})
		if err != nil {
			return nil, 0, err
		}
		whose := make([]*identity.Patient, len(ps))
		for i := range ps {
			out, whose[i] = append(out, r4.PatientOf(&ps[i], false)), &ps[i]
		}
		if err := s.withMRNs(r.Context(), inst, whose, out); err != nil {
			return nil, 0, err
		}
		total = n
	}
	ids := make([]string, len(out))
	for i, p := range out {
		ids[i] = p.ID
	}
	if err := s.auditList(r, "patient.list", "patient", ids, inst, detail); err != nil {
		return nil, 0, err
	}
	return anyOf(out), total, nil
}

// --- RelatedPerson: a child's guardians ---

// guardiansOf are the RelatedPersons of a child: the accounts linked to it
// as guardians, if the caller is one of the accounts linked to it.
func (s *Server) guardiansOf(ctx context.Context, a authz.Actor, childID int64) ([]*r4.RelatedPerson, error) {
	linked, err := s.ids.Store.LinkedAccounts(ctx, childID)
	if err != nil {
		return nil, err
	}
	if !authz.SeeGuardians(a, linked) {
		return nil, errs.E(errs.NotFound)
	}
	var out []*r4.RelatedPerson
	for _, acc := range linked {
		link, err := s.ids.Store.AccountPatient(ctx, acc, childID)
		if err != nil {
			return nil, err
		}
		if link.Relation != identity.RelChild {
			continue
		}
		own, err := s.ids.Store.PatientsOf(ctx, acc)
		if err != nil {
			return nil, err
		}
		var self *identity.Patient
		for i := range own {
			if own[i].Relation == identity.RelSelf {
				self = &own[i]
			}
		}
		account, err := s.ids.Store.AccountByID(ctx, acc)
		if err != nil {
			return nil, err
		}
		out = append(out, r4.RelatedPersonOf(childID, acc, self, account.Phone))
	}
	return out, nil
}

func (s *Server) readRelatedPerson(r *http.Request, id string) (any, error) {
	if err := needLogin(r); err != nil {
		return nil, err
	}
	child, _, ok := r4.ParseRelatedPersonID(id)
	if !ok {
		return nil, errs.E(errs.NotFound)
	}
	childStr := strconv.FormatInt(child, 10)
	list, err := s.guardiansOf(r.Context(), actor(r), child)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			s.record(r, "guardian.read.denied", "patient", childStr, "", "fhir")
		}
		return nil, err
	}
	for _, g := range list {
		if g.ID == id {
			return g, s.record(r, "guardian.read", "patient", childStr, "", "fhir")
		}
	}
	return nil, errs.E(errs.NotFound)
}

func (s *Server) searchRelatedPersons(r *http.Request, q *fhirQuery) ([]any, int, error) {
	if err := patientOnly(r); err != nil {
		return nil, 0, err
	}
	ps, _, err := s.ownPatients(r)
	if err != nil {
		return nil, 0, err
	}
	want, err := q.intRefs("patient", "Patient")
	if err != nil {
		return nil, 0, err
	}
	var all []*r4.RelatedPerson
	var children []string
	for _, p := range ps {
		if p.Relation != identity.RelChild || (want != nil && !slices.Contains(want, p.ID)) {
			continue
		}
		gs, err := s.guardiansOf(r.Context(), actor(r), p.ID)
		if err != nil {
			return nil, 0, err
		}
		children = append(children, strconv.FormatInt(p.ID, 10))
		for _, g := range gs {
			if q.idIn(g.ID) {
				all = append(all, g)
			}
		}
	}
	if err := s.auditList(r, "guardian.list", "patient", children, ""); err != nil {
		return nil, 0, err
	}
	return anyOf(fhirPage(q, all)), len(all), nil
}

// --- Appointment ---

var (
	apptStatuses = []string{schedule.Booked, schedule.Held, schedule.Cancelled, schedule.Expired}
	visitStates  = []visit.State{visit.Booked, visit.CheckedIn, visit.Waiting, visit.InProgress, visit.Completed, visit.Terminated, visit.NoShow, visit.Cancelled}
)

// apptStates are the (appointment status, visit state) pairs whose FHIR
// status is one of codes, from the one mapping (r4.AppointmentStatus).
func apptStates(codes []string) [][2]string {
	out := [][2]string{}
	for _, a := range apptStatuses {
		for _, v := range visitStates {
			if slices.Contains(codes, r4.AppointmentStatus(a, string(v))) {
				out = append(out, [2]string{a, string(v)})
			}
		}
	}
	return out
}

// AppointmentStates are the (appointment status, visit state) pairs a
// search of Appointment by FHIR status codes asks the store for
// (the FHIR benchmark makes the handler's store query with it).
func AppointmentStates(codes []string) [][2]string { return apptStates(codes) }

func (s *Server) appointmentOf(d *dirView, a *sqlstore.FHIRAppointment) (*r4.Appointment, error) {
	svc, dep, _, err := d.service(a.Service)
	if err != nil {
		return nil, err
	}
	return r4.AppointmentOf(&a.Appointment, a.PractitionerID, dep.Name, svc.VisitLength()), nil
}

// appointmentSeen says whether the caller sees an appointment: the
// patient's accounts, or staff whose sight covers it (the JSON API's
// rule); detail is the audit detail of a read through a widening.
func (s *Server) appointmentSeen(ctx context.Context, act authz.Actor, a *schedule.Appointment) (ok bool, detail string, err error) {
	if act.Role == identity.RolePatient {
		linked, err := s.ids.Store.LinkedAccounts(ctx, a.PatientID)
		if err != nil {
			return false, "", err
		}
		return authz.SeePatient(act, linked), "", nil
	}
	sight, seen, err := s.bookingSight(ctx, act)
	if err != nil {
		return false, "", err
	}
	return seen && sight.Covers(a.Institution, a.Department, a.PractitionerID), widened(sight, a.PractitionerID), nil
}

// fhirAppointment reads an appointment the caller may see, audited.
func (s *Server) fhirAppointment(r *http.Request, id int64) (*sqlstore.FHIRAppointment, error) {
	if err := needLogin(r); err != nil {
		return nil, err
	}
	list, _, err := s.db.FHIRAppointments(r.Context(), sqlstore.FHIRApptQuery{IDs: []int64{id}}, sqlstore.Page{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, errs.E(errs.NotFound)
	}
	a := &list[0]
	ok, detail, err := s.appointmentSeen(r.Context(), actor(r), &a.Appointment)
	if err != nil {
		return nil, err
	}
	idStr := strconv.FormatInt(id, 10)
	if !ok {
		s.record(r, "appointment.read.denied", "appointment", idStr, a.Institution, "fhir")
		return nil, errs.E(errs.NotFound)
	}
	return a, s.record(r, "appointment.read", "appointment", idStr, a.Institution, joinDetail("fhir", detail))
}

func (s *Server) readAppointment(r *http.Request, id string) (any, error) {
	n, err := intID(id)
	if err != nil {
		return nil, err
	}
	a, err := s.fhirAppointment(r, n)
	if err != nil {
		return nil, err
	}
	minimumNecessary(actor(r), &a.Appointment) // no health answers to an admin (N-19)
	return s.appointmentOf(s.dirView(r.Context()), a)
}

// apptScope bounds a search of appointments or visits to what the caller
// sees: a patient account its own profiles (narrowed by patient), staff
// their sight of their institution (a doctor's own sessions unless a rule
// widens it), narrowing a practitioner the search already asked for. It
// runs after apptFilters.
func (s *Server) apptScope(r *http.Request, q *fhirQuery, aq *sqlstore.FHIRApptQuery) (authz.Sight, error) {
	want, err := q.intRefs("patient", "Patient")
	if err != nil {
		return authz.Sight{}, err
	}
	a := actor(r)
	if a.Role == identity.RolePatient {
		_, own, err := s.ownPatients(r)
		if err != nil {
			return authz.Sight{}, err
		}
		aq.PatientIDs = own
		if want != nil {
			aq.PatientIDs = slices.DeleteFunc(own, func(id int64) bool { return !slices.Contains(want, id) })
		}
		return authz.Sight{}, nil
	}
	sight, ok, err := s.bookingSight(r.Context(), a)
	if err != nil {
		return authz.Sight{}, err
	}
	if !ok {
		return authz.Sight{}, errs.E(errs.Forbidden)
	}
	aq.Institution, aq.Department, aq.PatientIDs = sight.Institution, sight.Department, want
	if sight.PractitionerID != 0 {
		if aq.PractitionerID != 0 && aq.PractitionerID != sight.PractitionerID {
			aq.PractitionerID = -1
		} else {
			aq.PractitionerID = sight.PractitionerID
		}
	}
	return sight, nil
}

func (s *Server) searchAppointments(r *http.Request, q *fhirQuery) ([]any, int, error) {
	if err := needLogin(r); err != nil {
		return nil, 0, err
	}
	aq := sqlstore.FHIRApptQuery{IDs: q.intIDs()}
	if err := s.apptFilters(q, &aq); err != nil {
		return nil, 0, err
	}
	sight, err := s.apptScope(r, q, &aq)
	if err != nil {
		return nil, 0, err
	}
	if codes := q.list("status"); codes != nil {
		aq.States = apptStates(codes)
	}
	slot, err := q.intRefs("slot", "Slot")
	if err != nil {
		return nil, 0, err
	}
	if len(slot) > 1 {
		return nil, 0, errs.E(codeFHIRParamValue, "slot")
	} else if slot != nil {
		aq.SlotID = -1
		if len(slot) == 1 {
			aq.SlotID = slot[0]
		}
	}
	if err := tokenFilter(q, "service-type", r4.SystemService, &aq.Service); err != nil {
		return nil, 0, err
	}
	limit, offset := q.storePage()
	list, total, err := s.db.FHIRAppointments(r.Context(), aq, sqlstore.Page{Limit: limit, Offset: offset})
	if err != nil {
		return nil, 0, err
	}
	d := s.dirView(r.Context())
	out := make([]any, 0, len(list))
	ids := make([]string, 0, len(list))
	prs := make([]int64, 0, len(list))
	for i := range list {
		minimumNecessary(actor(r), &list[i].Appointment) // no health answers to an admin (N-19)
		m, err := s.appointmentOf(d, &list[i])
		if err != nil {
			return nil, 0, err
		}
		out, ids, prs = append(out, m), append(ids, m.ID), append(prs, list[i].PractitionerID)
	}
	if err := s.auditList(r, "appointment.list", "appointment", ids, aq.Institution, widened(sight, prs...)); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// apptFilters reads the practitioner and date parameters shared by
// Appointment and Encounter.
func (s *Server) apptFilters(q *fhirQuery, aq *sqlstore.FHIRApptQuery) error {
	prs, err := q.intRefs("practitioner", "Practitioner")
	if err != nil {
		return err
	}
	switch {
	case len(prs) > 1:
		return errs.E(codeFHIRParamValue, "practitioner")
	case len(prs) == 1:
		aq.PractitionerID = prs[0]
	case prs != nil:
		aq.PractitionerID = -1
	}
	rg, err := q.dateRange("date")
	if err != nil {
		return err
	}
	aq.From, aq.To = rg.From, rg.To
	return nil
}

// --- Encounter and Condition: the visit and its record ---

// encounterStates are the pairs whose Encounter status is one of codes
// (all when codes is nil); only booked (and later cancelled) appointments
// are visits.
func encounterStates(codes []string) [][2]string {
	out := [][2]string{}
	for _, a := range []string{schedule.Booked, schedule.Cancelled} {
		for _, v := range visitStates {
			eff := v
			if a == schedule.Cancelled {
				eff = visit.Cancelled
			}
			if codes == nil || slices.Contains(codes, r4.EncounterStatus(&visit.Visit{State: eff})) {
				out = append(out, [2]string{a, string(v)})
			}
		}
	}
	return out
}

// visitAccess is how the caller sees a visit: as its patient (or
// guardian) or doctor (the JSON API's rule), or as the regulator
// supervising one terminated (without the patient).
type visitAccess int

const (
	visitDenied visitAccess = iota
	visitParticipant
	visitSupervisor
)

func (s *Server) visitAccess(ctx context.Context, a authz.Actor, v *visit.Visit) (visitAccess, error) {
	if authz.SuperviseVisits(a) {
		if v.State == visit.Terminated {
			return visitSupervisor, nil
		}
		return visitDenied, nil
	}
	linked, err := s.ids.Store.LinkedAccounts(ctx, v.PatientID)
	if err != nil {
		return visitDenied, err
	}
	party, ok := v.Participant(a.ID, linked)
	if !ok || (party == visit.PartyPatient && a.Role != identity.RolePatient) || (party == visit.PartyDoctor && a.Role != identity.RoleDoctor) {
		return visitDenied, nil
	}
	return visitParticipant, nil
}

// fhirVisit reads a visit the caller may see, audited as the JSON API's
// visit.read is.
func (s *Server) fhirVisit(r *http.Request, id int64, what string) (*visit.Visit, visitAccess, error) {
	if err := needLogin(r); err != nil {
		return nil, visitDenied, err
	}
	list, _, err := s.db.FHIRVisits(r.Context(), sqlstore.FHIRApptQuery{IDs: []int64{id}, States: encounterStates(nil)}, sqlstore.Page{Limit: 1})
	if err != nil {
		return nil, visitDenied, err
	}
	if len(list) == 0 {
		return nil, visitDenied, errs.E(errs.NotFound)
	}
	v := &list[0]
	access, err := s.visitAccess(r.Context(), actor(r), v)
	if err != nil {
		return nil, visitDenied, err
	}
	idStr := strconv.FormatInt(id, 10)
	if access == visitDenied {
		s.record(r, "visit.read.denied", "visit", idStr, v.Institution, "fhir "+what)
		return nil, visitDenied, errs.E(errs.NotFound)
	}
	detail := "fhir " + what
	if access == visitSupervisor {
		detail += " supervision"
	}
	return v, access, s.record(r, "visit.read", "visit", idStr, v.Institution, detail)
}

// signedRecord is the latest signed version of a visit's record (nil:
// none).
func (s *Server) signedRecord(ctx context.Context, visitID int64) (*visit.Record, error) {
	recs, err := s.db.Records(ctx, visitID)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return &recs[len(recs)-1], nil
}

func (s *Server) encounterOf(ctx context.Context, d *dirView, v *visit.Visit, access visitAccess) (*r4.Encounter, error) {
	n := 0
	if access == visitParticipant {
		rec, err := s.signedRecord(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			n = len(rec.Diagnoses)
		}
	}
	return r4.EncounterOf(v, d.deptName(v.Institution, v.Department), n, access == visitParticipant), nil
}

func (s *Server) readEncounter(r *http.Request, id string) (any, error) {
	n, err := intID(id)
	if err != nil {
		return nil, err
	}
	v, access, err := s.fhirVisit(r, n, "encounter")
	if err != nil {
		return nil, err
	}
	return s.encounterOf(r.Context(), s.dirView(r.Context()), v, access)
}

// visitScope bounds a search of visits to the caller's: a patient account
// its profiles', a doctor its own, the regulator the terminated ones.
func (s *Server) visitScope(r *http.Request, q *fhirQuery, aq *sqlstore.FHIRApptQuery) (visitAccess, error) {
	a := actor(r)
	switch {
	case a.Role == identity.RolePatient:
		_, err := s.apptScope(r, q, aq)
		return visitParticipant, err
	case a.Role == identity.RoleDoctor:
		p, err := s.db.PractitionerByAccount(r.Context(), a.ID)
		if errs.Is(err, errs.NotFound) {
			aq.PractitionerID = -1
			return visitParticipant, nil
		}
		if err != nil {
			return visitDenied, err
		}
		if aq.PractitionerID != 0 && aq.PractitionerID != p.ID {
			aq.PractitionerID = -1
		} else {
			aq.PractitionerID = p.ID
		}
		want, err := q.intRefs("patient", "Patient")
		aq.PatientIDs = want
		return visitParticipant, err
	case authz.SuperviseVisits(a):
		if q.has("patient") {
			return visitDenied, errs.E(errs.Forbidden) // supervision never reaches patients
		}
		states := [][2]string{}
		for _, st := range aq.States {
			if st[0] == schedule.Booked && st[1] == string(visit.Terminated) {
				states = append(states, st)
			}
		}
		aq.States = states
		return visitSupervisor, nil
	}
	return visitDenied, errs.E(errs.Forbidden)
}

func (s *Server) searchEncounters(r *http.Request, q *fhirQuery) ([]any, int, error) {
	if err := needLogin(r); err != nil {
		return nil, 0, err
	}
	aq := sqlstore.FHIRApptQuery{IDs: q.intIDs(), States: encounterStates(q.list("status"))}
	if err := s.apptFilters(q, &aq); err != nil {
		return nil, 0, err
	}
	access, err := s.visitScope(r, q, &aq)
	if err != nil {
		return nil, 0, err
	}
	limit, offset := q.storePage()
	list, total, err := s.db.FHIRVisits(r.Context(), aq, sqlstore.Page{Limit: limit, Offset: offset})
	if err != nil {
		return nil, 0, err
	}
	d := s.dirView(r.Context())
	out := make([]any, 0, len(list))
	ids := make([]string, 0, len(list))
	for i := range list {
		m, err := s.encounterOf(r.Context(), d, &list[i], access)
		if err != nil {
			return nil, 0, err
		}
		out, ids = append(out, m), append(ids, m.ID)
	}
	if err := s.auditList(r, "visit.list", "visit", ids, aq.Institution); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

func (s *Server) readCondition(r *http.Request, id string) (any, error) {
	if err := needLogin(r); err != nil {
		return nil, err
	}
	vid, n, ok := r4.ParseConditionID(id)
	if !ok {
		return nil, errs.E(errs.NotFound)
	}
	v, access, err := s.fhirVisit(r, vid, "condition")
	if err != nil {
		return nil, err
	}
	if access != visitParticipant {
		return nil, errs.E(errs.NotFound)
	}
	rec, err := s.signedRecord(r.Context(), v.ID)
	if err != nil {
		return nil, err
	}
	if rec == nil || n > len(rec.Diagnoses) {
		return nil, errs.E(errs.NotFound)
	}
	return r4.ConditionOf(v, rec, n), nil
}

// conditionVisits bounds a search of diagnoses: it needs a patient or an
// encounter, so that the visits read for their records are few.
const conditionVisits = 200

func (s *Server) searchConditions(r *http.Request, q *fhirQuery) ([]any, int, error) {
	if err := needLogin(r); err != nil {
		return nil, 0, err
	}
	if !q.has("patient") && !q.has("encounter") && !q.has("_id") {
		return nil, 0, errs.E(codeFHIRNeedsFilter)
	}
	aq := sqlstore.FHIRApptQuery{States: encounterStates([]string{"finished"})}
	if ids := q.list("_id"); ids != nil {
		aq.IDs = []int64{}
		for _, id := range ids {
			if v, _, ok := r4.ParseConditionID(id); ok {
				aq.IDs = append(aq.IDs, v)
			}
		}
	}
	if encs, err := q.intRefs("encounter", "Encounter"); err != nil {
		return nil, 0, err
	} else if encs != nil {
		if aq.IDs != nil {
			encs = slices.DeleteFunc(encs, func(id int64) bool { return !slices.Contains(aq.IDs, id) })
		}
		aq.IDs = encs
	}
	access, err := s.visitScope(r, q, &aq)
	if err != nil {
		return nil, 0, err
	}
	if access != visitParticipant {
		return nil, 0, errs.E(errs.Forbidden)
	}
	visits, _, err := s.db.FHIRVisits(r.Context(), aq, sqlstore.Page{Limit: conditionVisits})
	if err != nil {
		return nil, 0, err
	}
	var all []*r4.Condition
	var ids []string
	for i := range visits {
		v := &visits[i]
		rec, err := s.signedRecord(r.Context(), v.ID)
		if err != nil {
			return nil, 0, err
		}
		if rec == nil {
			continue
		}
		ids = append(ids, strconv.FormatInt(v.ID, 10))
		for n := 1; n <= len(rec.Diagnoses); n++ {
			c := r4.ConditionOf(v, rec, n)
			if q.idIn(c.ID) && q.anyToken("code", c.Code.Coding...) {
				all = append(all, c)
			}
		}
	}
	if err := s.auditList(r, "record.list", "visit", ids, ""); err != nil {
		return nil, 0, err
	}
	return anyOf(fhirPage(q, all)), len(all), nil
}

// --- MedicationRequest: the lines of prescriptions ---

func (s *Server) readMedicationRequest(r *http.Request, id string) (any, error) {
	if err := needLogin(r); err != nil {
		return nil, err
	}
	rxID, n, ok := r4.ParseMedicationRequestID(id)
	if !ok {
		return nil, errs.E(errs.NotFound)
	}
	p, _, err := s.prescriptionFor(r, rxID, true) // the JSON API's rule, audited
	if err != nil {
		return nil, err
	}
	if n > len(p.Items) {
		return nil, errs.E(errs.NotFound)
	}
	return r4.MedicationRequestOf(p, n), nil
}

// rxSearchLimit is how many prescriptions, newest first, a search covers.
const rxSearchLimit = 500

func (s *Server) searchMedicationRequests(r *http.Request, q *fhirQuery) ([]any, int, error) {
	if err := needLogin(r); err != nil {
		return nil, 0, err
	}
	a := actor(r)
	f := rx.Filter{Limit: rxSearchLimit}
	want, err := q.intRefs("patient", "Patient")
	if err != nil {
		return nil, 0, err
	}
	patientView := false
	switch a.Role {
	case identity.RolePharmacist:
		f.Institution, f.PatientIDs = a.Institution, want
	case identity.RoleDoctor:
		p, err := s.db.PractitionerByAccount(r.Context(), a.ID)
		switch {
		case errs.Is(err, errs.NotFound):
			f.DoctorID = -1 // a doctor's account without a practitioner prescribed nothing
		case err != nil:
			return nil, 0, err
		default:
			f.DoctorID = p.ID
		}
		f.PatientIDs = want
	case identity.RolePatient:
		_, own, err := s.ownPatients(r)
		if err != nil {
			return nil, 0, err
		}
		if want != nil {
			own = slices.DeleteFunc(own, func(id int64) bool { return !slices.Contains(want, id) })
		}
		f.PatientIDs, patientView = own, true
	default:
		return nil, 0, errs.E(errs.Forbidden)
	}
	encs, err := q.intRefs("encounter", "Encounter")
	if err != nil {
		return nil, 0, err
	}
	if len(encs) > 1 {
		return nil, 0, errs.E(codeFHIRParamValue, "encounter")
	} else if encs != nil {
		f.VisitID = -1
		if len(encs) == 1 {
			f.VisitID = encs[0]
		}
	}
	list, err := s.db.Prescriptions(r.Context(), f)
	if err != nil {
		return nil, 0, err
	}
	statuses := q.list("status")
	var all []*r4.MedicationRequest
	var ids []string
	for i := range list {
		p := &list[i]
		if patientView && p.Status != rx.Approved && p.Status != rx.Dispensed {
			continue // patients see a prescription once approved
		}
		if statuses != nil && !slices.Contains(statuses, p.Status.FHIRStatus()) {
			continue
		}
		ids = append(ids, strconv.FormatInt(p.ID, 10))
		for n := 1; n <= len(p.Items); n++ {
			if m := r4.MedicationRequestOf(p, n); q.idIn(m.ID) {
				all = append(all, m)
			}
		}
	}
	if err := s.auditList(r, "prescription.list", "prescription", ids, f.Institution); err != nil {
		return nil, 0, err
	}
	return anyOf(fhirPage(q, all)), len(all), nil
}
