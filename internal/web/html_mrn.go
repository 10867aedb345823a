package web

import (
	"net/http"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/history"
)

// The pages of medical record numbers (issue 16): a patient's hospital
// cards (我的就诊卡: the MRNs linked to the account's patients, and the
// form that binds one), and on the institution's history page its MRNs
// not linked yet (with their visits, paged) and the admin's correction
// of a wrong link.
func (s *Server) mrnPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /me/hospital-cards", s.requireLogin(s.show("hospital_cards", s.hospitalCardsPage)))
	mux.HandleFunc("POST /me/hospital-cards", s.requireLogin(s.postHospitalCard))
	mux.HandleFunc("POST /admin/institutions/{code}/history/mrn-link", s.requireLogin(s.postRelinkMRN))
}

// hospitalCardsPage lists the account's hospital cards, with the form to
// bind one: its patients and the institutions.
func (s *Server) hospitalCardsPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	c := call{Actor: actor(r), r: r}
	cards, err := s.hospitalCards(r.Context(), c, none{})
	if err != nil {
		return nil, err
	}
	ps, err := s.ids.Store.PatientsOf(r.Context(), c.Actor.ID)
	if err != nil {
		return nil, err
	}
	insts, err := s.dir.Institutions(r.Context())
	if err != nil {
		return nil, err
	}
	open := make([]directory.Institution, 0, len(insts))
	for _, i := range insts {
		if i.Open() {
			open = append(open, i)
		}
	}
	p := s.newPage(w, r, "title.hospital_cards")
	p.Data = map[string]any{"Cards": cards.Items, "Patients": ps, "Institutions": open}
	return p, nil
}

// postHospitalCard binds a card from the form (bindHospitalCard); a
// refusal shows the page again with it, fields by name, the card's own
// refusals (hospital_card_mismatch, hospital_card_taken) above the form.
func (s *Server) postHospitalCard(w http.ResponseWriter, r *http.Request) {
	pid, _ := strconv.ParseInt(r.PostFormValue("patient_id"), 10, 64)
	in := hospitalCardIn{PatientID: pid, Institution: r.PostFormValue("institution"), MRN: r.PostFormValue("mrn")}
	_, err := s.bindHospitalCard(r.Context(), call{Actor: actor(r), r: r}, in)
	if err == nil {
		http.Redirect(w, r, "/me/hospital-cards?ok=hospital_card_bound", http.StatusSeeOther)
		return
	}
	code := errs.Code(err)
	if code != errs.Invalid && code != codeCardMismatch && code != codeCardTaken {
		s.fail(w, r, err)
		return
	}
	p, perr := s.hospitalCardsPage(w, r)
	if perr != nil {
		s.fail(w, r, perr)
		return
	}
	p.setErr(err)
	p.Form = r.PostForm
	s.render(w, r, statusOf(code), "hospital_cards", p)
}

// historyData is the history page's data: the institution, a link file's
// report when one was just sent, and a page of its MRNs not linked
// (?offset=), read as the API lists them (audited).
func (s *Server) historyData(r *http.Request, inst *directory.Institution, links *history.LinkReport) (map[string]any, error) {
	q := r.URL.Query()
	q.Del("linked") // the page lists those not linked
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	list, err := s.listMRNs(r.Context(), call{Actor: actor(r), r: r2}, none{})
	if errs.Is(err, errs.Invalid) { // a hand-made ?offset=: the first page
		r2.URL.RawQuery = ""
		list, err = s.listMRNs(r.Context(), call{Actor: actor(r), r: r2}, none{})
	}
	if err != nil {
		return nil, err
	}
	d := map[string]any{"Inst": inst, "MRNs": list}
	if list.Offset > 0 {
		d["Prev"] = max(0, list.Offset-list.Limit)
	}
	if list.Offset+len(list.Items) < list.Total {
		d["Next"] = list.Offset + list.Limit
	}
	if links != nil {
		d["Links"] = links
	}
	return d, nil
}

// postRelinkMRN corrects or removes an MRN's link from the history page
// (relinkMRN); a refusal shows the page again with its errors.
func (s *Server) postRelinkMRN(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	mrn := history.NormMRN(r.PostFormValue("mrn"))
	in := mrnLinkIn{ResidentID: r.PostFormValue("resident_id"), Reason: r.PostFormValue("reason")}
	if mrn == "" {
		var f errs.Fields
		f.Add("mrn", "required")
		err = f.Err()
	} else {
		r.SetPathValue("mrn", mrn)
		_, err = s.relinkMRN(r.Context(), call{Actor: actor(r), r: r}, in)
		if errs.Is(err, errs.NotFound) {
			var f errs.Fields
			f.Add("mrn", "not_found")
			err = f.Err()
		}
	}
	if err == nil {
		ok := "mrn_relinked"
		if in.ResidentID == "" {
			ok = "mrn_unlinked"
		}
		http.Redirect(w, r, "/admin/institutions/"+inst.Code+"/history?ok="+ok, http.StatusSeeOther)
		return
	}
	if errs.Code(err) != errs.Invalid {
		s.fail(w, r, err)
		return
	}
	p := s.newPage(w, r, "title.history")
	data, derr := s.historyData(r, inst, nil)
	if derr != nil {
		s.fail(w, r, derr)
		return
	}
	p.Data = data
	s.formErr(w, r, "history", p, err)
}
