package web

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/fhir/r4"
)

// FHIR Consent (W-4; api_referral.go): a family's record-sharing consents,
// read and searched by the family alone; every access audited.

func (s *Server) readConsent(r *http.Request, id string) (any, error) {
	if err := needLogin(r); err != nil {
		return nil, err
	}
	cid, ok := r4.ParseInt(id)
	if !ok {
		return nil, errs.E(errs.NotFound)
	}
	c, err := s.db.Consent(r.Context(), cid)
	if err != nil {
		return nil, err
	}
	_, ids, err := s.ownPatients(r)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(ids, c.PatientID) {
		s.record(r, "consent.read.denied", "consent", id, "", "fhir")
		return nil, errs.E(errs.NotFound)
	}
	return r4.ConsentOf(c, c.Active(s.cfg.Now())), s.record(r, "consent.read", "consent", id, c.Grantee, "fhir")
}

func (s *Server) searchConsents(r *http.Request, q *fhirQuery) ([]any, int, error) {
	if err := patientOnly(r); err != nil {
		return nil, 0, err
	}
	_, ids, err := s.ownPatients(r)
	if err != nil {
		return nil, 0, err
	}
	want, err := q.intRefs("patient", "Patient")
	if err != nil {
		return nil, 0, err
	}
	if want != nil {
		ids = slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return !slices.Contains(want, id) })
	}
	statuses := q.list("status")
	list, err := s.db.Consents(r.Context(), ids)
	if err != nil {
		return nil, 0, err
	}
	now := s.cfg.Now()
	var all []*r4.Consent
	var seen []string
	for i := range list {
		c := r4.ConsentOf(&list[i], list[i].Active(now))
		if !q.idIn(c.ID) || (statuses != nil && !slices.Contains(statuses, c.Status)) {
			continue
		}
		all = append(all, c)
		seen = append(seen, strconv.FormatInt(list[i].ID, 10))
	}
	if err := s.auditList(r, "consent.list", "consent", seen, ""); err != nil {
		return nil, 0, err
	}
	return anyOf(fhirPage(q, all)), len(all), nil
}
