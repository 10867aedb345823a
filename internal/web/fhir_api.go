package web

// The FHIR R4 API at /fhir/R4: routes, content negotiation, errors as
// OperationOutcome, searchset bundles with paging and _include. What each
// resource is and who may see it is in fhir_read.go; IHE scheduling in
// fhir_sched.go; the resources themselves in internal/fhir/r4.

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/fhir/r4"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// fhirBase is the path of the FHIR API.
const fhirBase = "/fhir/R4"

// fhirContentType is what the API answers with.
const fhirContentType = "application/fhir+json; charset=utf-8"

// Paging of searches.
const (
	fhirDefaultCount = 20
	fhirMaxCount     = 100
)

// Error codes of the FHIR API (their texts are in internal/i18n/fhir.go).
const (
	codeFHIRFormat       = "fhir_format"        // 406: a format other than JSON asked for
	codeFHIRParam        = "fhir_param_unknown" // a search or operation parameter not supported
	codeFHIRParamValue   = "fhir_param_invalid" // a parameter's value cannot be read
	codeFHIRParamRepeat  = "fhir_param_repeated"
	codeFHIRPaymentFirst = "fhir_payment_required" // $book of a hold that only its payment confirms
	codeFHIRNeedsFilter  = "fhir_search_needs_patient"
)

// fhirType is how one resource type is read and searched: both decide who
// may see what and audit the access.
type fhirType struct {
	read   func(r *http.Request, id string) (any, error)
	search func(r *http.Request, q *fhirQuery) ([]any, int, error)
}

// isFHIR says whether a request is for the FHIR API.
func isFHIR(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, fhirBase+"/") || r.URL.Path == fhirBase
}

// fhirRoutes mounts the FHIR API.
func (s *Server) fhirRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+fhirBase+"/metadata", s.fhirMetadata)
	types := s.fhirTypes()
	for _, spec := range r4.Specs {
		t, typ := types[spec.Type], spec.Type
		mux.HandleFunc("GET "+fhirBase+"/"+typ, s.fhirHandler(func(w http.ResponseWriter, r *http.Request) { s.fhirSearch(w, r, typ, t) }))
		mux.HandleFunc("GET "+fhirBase+"/"+typ+"/{id}", s.fhirHandler(func(w http.ResponseWriter, r *http.Request) { s.fhirRead(w, r, typ, t) }))
	}
	mux.HandleFunc("GET "+fhirBase+"/Appointment/$find", s.fhirHandler(s.fhirFind))
	mux.HandleFunc("POST "+fhirBase+"/Appointment/$find", s.fhirHandler(s.fhirFind))
	mux.HandleFunc("POST "+fhirBase+"/Appointment/$hold", s.fhirHandler(s.fhirHold))
	mux.HandleFunc("POST "+fhirBase+"/Appointment/$book", s.fhirHandler(s.fhirBook))
}

// fhirHandler refuses a format other than JSON before the handler runs.
func (s *Server) fhirHandler(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !fhirAcceptable(r) {
			s.fail(w, r, errs.E(codeFHIRFormat))
			return
		}
		h(w, r)
	}
}

// fhirAcceptable says whether the answer may be JSON: _format, when
// given, and Accept must allow it.
func fhirAcceptable(r *http.Request) bool {
	if f := r.URL.Query().Get("_format"); f != "" {
		switch f {
		case "json", "application/json", "application/fhir+json", "application/json+fhir":
		default:
			return false
		}
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch {
		case mt == "*/*", mt == "application/*", mt == "application/json", mt == "application/fhir+json", mt == "application/json+fhir":
			return true
		}
	}
	return false
}

func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", fhirContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// fhirStatus is the HTTP status of an error code of the FHIR API, falling
// back on the JSON API's mapping.
func fhirStatus(code string) int {
	switch code {
	case codeFHIRFormat:
		return http.StatusNotAcceptable
	case codeFHIRParam, codeFHIRParamValue, codeFHIRParamRepeat, codeFHIRNeedsFilter:
		return http.StatusBadRequest
	case codeFHIRPaymentFirst, sqlstore.CodeHoldGone:
		return http.StatusConflict
	}
	return statusOf(code)
}

// fhirFail answers err as an OperationOutcome: each field error and each
// failed booking rule is an issue of its own, with Yunyi's stable code in
// issue.details.coding and its text in the caller's language.
func (s *Server) fhirFail(w http.ResponseWriter, r *http.Request, err error) {
	lang := apiLang(r)
	var ie *booking.IneligibleError
	if errors.As(err, &ie) {
		var ps []r4.Problem
		for _, v := range verdictsOut(ie.Result.Rules, lang) {
			if !v.Passed {
				ps = append(ps, r4.Problem{Code: schedule.CodeIneligible, Text: v.Message, Expression: "rule." + v.Code,
					More: []r4.Coding{{System: r4.SystemRule, Code: v.Code}}})
			}
		}
		writeFHIR(w, http.StatusUnprocessableEntity, r4.Outcome(http.StatusUnprocessableEntity, ps...))
		return
	}
	_, body := describe(err, lang)
	status := fhirStatus(body.Code)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", requestID(r))
	}
	switch status {
	case http.StatusTooManyRequests:
		setRetryAfter(w, err)
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="yunyi"`)
	}
	ps := []r4.Problem{{Code: body.Code, Text: body.Message}}
	if body.Code == schedule.CodeSlotFull || body.Code == schedule.CodeSlotClosed {
		// IHE ITI-116/117: a place already taken is fatal, not-found.
		ps[0].Severity, ps[0].Type = "fatal", "not-found"
	}
	for _, f := range body.Fields {
		p := r4.Problem{Code: f.Code, Text: f.Message, Expression: f.Field}
		if f.Code == "required" {
			p.Type = "required"
		}
		ps = append(ps, p)
	}
	o := r4.Outcome(status, ps...)
	if id := requestID(r); id != "" {
		o.ID = strings.ReplaceAll(id, "_", "-")
		if !r4.ValidID(o.ID) {
			o.ID = ""
		}
	}
	writeFHIR(w, status, o)
}

func (s *Server) fhirMetadata(w http.ResponseWriter, r *http.Request) {
	if !fhirAcceptable(r) {
		s.fail(w, r, errs.E(codeFHIRFormat))
		return
	}
	writeFHIR(w, http.StatusOK, r4.Capability(fhirBaseURL(r), buildVersion(), s.cfg.Now()))
}

// buildVersion is the module's version as the build recorded it ("" in
// development builds).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ""
}

// fhirBaseURL is the absolute base of the FHIR API as the caller reached it.
func fhirBaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + fhirBase
}

// needLogin refuses anonymous callers of patient data.
func needLogin(r *http.Request) error {
	if actor(r).Anonymous() {
		return errs.E(errs.Unauthorized)
	}
	return nil
}

// --- read ---

func (s *Server) fhirRead(w http.ResponseWriter, r *http.Request, typ string, t fhirType) {
	id := r.PathValue("id")
	if !r4.ValidID(id) {
		s.fail(w, r, errs.E(errs.NotFound))
		return
	}
	for k := range r.URL.Query() {
		if k != "_format" {
			s.fail(w, r, errs.E(codeFHIRParam, k))
			return
		}
	}
	res, err := t.read(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeFHIR(w, http.StatusOK, res)
}

// --- search ---

// fhirQuery is a search's parameters, checked against the resource's spec.
type fhirQuery struct {
	spec     *r4.ResourceSpec
	values   url.Values // the search parameters proper
	count    int
	offset   int
	includes []string
}

// parseQuery checks every parameter of a search: an unknown one, a
// modifier, a repeated one (but date) or a bad paging value is refused,
// naming it.
func parseQuery(spec *r4.ResourceSpec, raw url.Values) (*fhirQuery, error) {
	q := &fhirQuery{spec: spec, values: url.Values{}, count: fhirDefaultCount}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs := raw[k]
		p, ok := spec.Param(k)
		if !ok {
			return nil, errs.E(codeFHIRParam, k)
		}
		switch k {
		case "_count", "_offset":
			if len(vs) != 1 {
				return nil, errs.E(codeFHIRParamRepeat, k)
			}
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 0 {
				return nil, errs.E(codeFHIRParamValue, k)
			}
			if k == "_count" {
				q.count = min(n, fhirMaxCount)
			} else {
				q.offset = n
			}
		case "_include":
			for _, v := range vs {
				if !spec.Include(v) {
					return nil, errs.E(codeFHIRParamValue, k)
				}
				q.includes = append(q.includes, v)
			}
		case "_format":
		default:
			if len(vs) > 1 && p.Type != "date" {
				return nil, errs.E(codeFHIRParamRepeat, k)
			}
			for _, v := range vs {
				if v == "" {
					return nil, errs.E(codeFHIRParamValue, k)
				}
			}
			q.values[k] = vs
		}
	}
	return q, nil
}

// has says whether the search has the parameter.
func (q *fhirQuery) has(name string) bool { _, ok := q.values[name]; return ok }

// list is a parameter's comma-separated values (OR), nil when absent.
func (q *fhirQuery) list(name string) []string {
	vs, ok := q.values[name]
	if !ok {
		return nil
	}
	return strings.Split(vs[0], ",")
}

// tokens are a token parameter's values.
func (q *fhirQuery) tokens(name string) []r4.Token {
	var out []r4.Token
	for _, v := range q.list(name) {
		out = append(out, r4.ParseToken(v))
	}
	return out
}

// refs are a reference parameter's ids of typ; a value naming another type
// is refused.
func (q *fhirQuery) refs(name, typ string) ([]string, error) {
	var out []string
	for _, v := range q.list(name) {
		id, ok := r4.ParseRef(typ, v)
		if !ok {
			return nil, errs.E(codeFHIRParamValue, name)
		}
		out = append(out, id)
	}
	return out, nil
}

// intRefs are refs with numeric ids; nil when absent, and an id that is
// not a number matches nothing.
func (q *fhirQuery) intRefs(name, typ string) ([]int64, error) {
	ids, err := q.refs(name, typ)
	if err != nil || ids == nil {
		return nil, err
	}
	out := []int64{}
	for _, id := range ids {
		if n, ok := r4.ParseInt(id); ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// ids is _id as numbers (see intRefs).
func (q *fhirQuery) intIDs() []int64 {
	vs := q.list("_id")
	if vs == nil {
		return nil
	}
	out := []int64{}
	for _, v := range vs {
		if n, ok := r4.ParseInt(v); ok {
			out = append(out, n)
		}
	}
	return out
}

// dateRange is the intersection of a date parameter's values.
func (q *fhirQuery) dateRange(name string) (r4.Range, error) {
	var out r4.Range
	for _, v := range q.values[name] {
		rg, err := r4.ParseDate(v)
		if err != nil {
			return r4.Range{}, errs.E(codeFHIRParamValue, name)
		}
		out = out.Narrow(rg)
	}
	return out, nil
}

// boolean is a true|false token parameter; ok is false when absent.
func (q *fhirQuery) boolean(name string) (v, ok bool, err error) {
	vs := q.list(name)
	if vs == nil {
		return false, false, nil
	}
	if len(vs) != 1 || (vs[0] != "true" && vs[0] != "false") {
		return false, false, errs.E(codeFHIRParamValue, name)
	}
	return vs[0] == "true", true, nil
}

// contains matches a string parameter (FHIR's default: starts with,
// case-insensitive; Yunyi matches anywhere in the name, as Chinese names
// are searched by any of their characters).
func (q *fhirQuery) contains(name string, texts ...string) bool {
	vs := q.list(name)
	if vs == nil {
		return true
	}
	for _, v := range vs {
		for _, t := range texts {
			if strings.Contains(strings.ToLower(t), strings.ToLower(v)) {
				return true
			}
		}
	}
	return false
}

// anyToken says whether one of a token parameter's values matches one of
// the codings (a parameter absent matches).
func (q *fhirQuery) anyToken(name string, codings ...r4.Coding) bool {
	ts := q.tokens(name)
	if ts == nil {
		return true
	}
	for _, t := range ts {
		for _, c := range codings {
			if t.Matches(c.System, c.Code) {
				return true
			}
		}
	}
	return false
}

// idIn says whether _id (absent: any) names id.
func (q *fhirQuery) idIn(id string) bool {
	vs := q.list("_id")
	if vs == nil {
		return true
	}
	for _, v := range vs {
		if v == id {
			return true
		}
	}
	return false
}

// fhirPage cuts a whole result to the query's page.
func fhirPage[T any](q *fhirQuery, all []T) []T {
	if q.offset >= len(all) {
		return nil
	}
	return all[q.offset:min(len(all), q.offset+q.count)]
}

// storePage is the store's window of the query.
func (q *fhirQuery) storePage() (limit, offset int) { return q.count, q.offset }

func (s *Server) fhirSearch(w http.ResponseWriter, r *http.Request, typ string, t fhirType) {
	spec, _ := r4.Spec(typ)
	q, err := parseQuery(spec, r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	matches, total, err := t.search(r, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.searchset(r, typ, q, matches, total)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeFHIR(w, http.StatusOK, b)
}

// searchset makes the bundle of a search's page: the matches, the
// resources they _include (each read as its own read would be, so only
// what the caller may see, audited), and the paging links.
func (s *Server) searchset(r *http.Request, typ string, q *fhirQuery, matches []any, total int) (*r4.Bundle, error) {
	base := fhirBaseURL(r)
	b := &r4.Bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Timestamp: r4.Instant(s.cfg.Now())}
	seen := map[string]bool{}
	for _, m := range matches {
		ref := resourceRef(m)
		seen[ref] = true
		b.Entry = append(b.Entry, r4.BundleEntry{FullURL: base + "/" + ref, Resource: m, Search: &r4.BundleSearch{Mode: "match"}})
	}
	if len(q.includes) > 0 {
		types := s.fhirTypes()
		for _, inc := range q.includes {
			for _, m := range matches {
				for _, ref := range includeRefs(inc, m) {
					if seen[ref] {
						continue
					}
					seen[ref] = true
					rt, id, _ := strings.Cut(ref, "/")
					t, ok := types[rt]
					if !ok {
						continue
					}
					res, err := t.read(r, id)
					if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Unauthorized) || errs.Is(err, errs.Forbidden) {
						continue // included only when the caller may see it
					}
					if err != nil {
						return nil, err
					}
					b.Entry = append(b.Entry, r4.BundleEntry{FullURL: base + "/" + ref, Resource: res, Search: &r4.BundleSearch{Mode: "include"}})
				}
			}
		}
	}
	link := func(rel string, offset int) r4.BundleLink {
		v := url.Values{}
		for k, vs := range q.values {
			v[k] = vs
		}
		if len(q.includes) > 0 {
			v["_include"] = q.includes
		}
		v.Set("_count", strconv.Itoa(q.count))
		if offset > 0 {
			v.Set("_offset", strconv.Itoa(offset))
		}
		return r4.BundleLink{Relation: rel, URL: base + "/" + typ + "?" + v.Encode()}
	}
	b.Link = []r4.BundleLink{link("self", q.offset)}
	if q.count > 0 && q.offset+q.count < total {
		b.Link = append(b.Link, link("next", q.offset+q.count))
	}
	if q.offset > 0 {
		b.Link = append(b.Link, link("previous", max(0, q.offset-q.count)))
	}
	return b, nil
}

// resourceRef is "<type>/<id>" of a resource.
func resourceRef(res any) string {
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	switch v := res.(type) {
	case *r4.Patient:
		return "Patient/" + v.ID
	case *r4.RelatedPerson:
		return "RelatedPerson/" + v.ID
	case *r4.Practitioner:
		return "Practitioner/" + v.ID
	case *r4.PractitionerRole:
		return "PractitionerRole/" + v.ID
	case *r4.Organization:
		return "Organization/" + v.ID
	case *r4.HealthcareService:
		return "HealthcareService/" + v.ID
	case *r4.Schedule:
		return "Schedule/" + v.ID
	case *r4.Slot:
		return "Slot/" + v.ID
	case *r4.Appointment:
		return "Appointment/" + v.ID
	case *r4.Encounter:
		return "Encounter/" + v.ID
	case *r4.Condition:
		return "Condition/" + v.ID
	case *r4.MedicationRequest:
		return "MedicationRequest/" + v.ID
	}
	raw, _ := json.Marshal(res)
	json.Unmarshal(raw, &head)
	return head.ResourceType + "/" + head.ID
}

// includeRefs are the references an _include follows from a match.
func includeRefs(include string, res any) []string {
	var refs []*r4.Reference
	switch v := res.(type) {
	case *r4.HealthcareService:
		if include == "HealthcareService:organization" {
			refs = append(refs, v.ProvidedBy)
		}
	case *r4.PractitionerRole:
		switch include {
		case "PractitionerRole:practitioner":
			refs = append(refs, v.Practitioner)
		case "PractitionerRole:organization":
			refs = append(refs, v.Organization)
		case "PractitionerRole:service":
			for i := range v.HealthcareService {
				refs = append(refs, &v.HealthcareService[i])
			}
		}
	case *r4.Schedule:
		if include == "Schedule:actor" {
			for i := range v.Actor {
				refs = append(refs, &v.Actor[i])
			}
		}
	case *r4.Slot:
		if include == "Slot:schedule" {
			refs = append(refs, &v.Schedule)
		}
	case *r4.RelatedPerson:
		if include == "RelatedPerson:patient" {
			refs = append(refs, &v.Patient)
		}
	case *r4.Appointment:
		for i := range v.Participant {
			ref := v.Participant[i].Actor
			if ref == nil {
				continue
			}
			if (include == "Appointment:patient" && strings.HasPrefix(ref.Reference, "Patient/")) ||
				(include == "Appointment:practitioner" && strings.HasPrefix(ref.Reference, "Practitioner/")) {
				refs = append(refs, ref)
			}
		}
		if include == "Appointment:slot" {
			for i := range v.Slot {
				refs = append(refs, &v.Slot[i])
			}
		}
	case *r4.Encounter:
		switch include {
		case "Encounter:patient":
			refs = append(refs, v.Subject)
		case "Encounter:practitioner":
			for i := range v.Participant {
				refs = append(refs, v.Participant[i].Individual)
			}
		}
	case *r4.Condition:
		switch include {
		case "Condition:patient":
			refs = append(refs, &v.Subject)
		case "Condition:encounter":
			refs = append(refs, v.Encounter)
		}
	case *r4.MedicationRequest:
		switch include {
		case "MedicationRequest:patient":
			refs = append(refs, &v.Subject)
		case "MedicationRequest:requester":
			refs = append(refs, v.Requester)
		}
	}
	var out []string
	for _, ref := range refs {
		if ref != nil && ref.Reference != "" {
			out = append(out, ref.Reference)
		}
	}
	return out
}

// auditList records a search of patient data: the resource type's
// object, the ids shown, and the institution when one bounds it.
func (s *Server) auditList(r *http.Request, action, objType string, ids []string, institution string, detail ...string) error {
	return s.record(r, action, objType, strings.Join(ids, ","), institution, joinDetail(append([]string{"fhir"}, detail...)...))
}

// patientOnly refuses, as the JSON API does, a caller who is not a patient
// account where only patients may act.
func patientOnly(r *http.Request) error {
	if err := needLogin(r); err != nil {
		return err
	}
	if actor(r).Role != identity.RolePatient {
		return errs.E(errs.Forbidden)
	}
	return nil
}
