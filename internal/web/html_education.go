package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// The pages of health education (W-6): the public list of an
// institution's articles, and the visit page's part (the attached articles
// for both parties; for the doctor, the form attaching more).

func (s *Server) educationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /institutions/{code}/education", s.show("education", s.educationPage))
	mux.HandleFunc("POST /visits/{id}/education", s.requireLogin(s.visitForm(func(r *http.Request, vc *visitCtx) error {
		r.ParseForm()
		var ids []int64
		for _, v := range r.PostForm["articles"] {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				id = 0 // refused by name as not_found
			}
			ids = append(ids, id)
		}
		return s.attach(r, vc, ids)
	})))
}

// educationGroup is one specialty's articles.
type educationGroup struct {
	Specialty string
	Name      string
	Articles  []articleJSON
}

type educationPageData struct {
	Inst   *directory.Institution
	Groups []educationGroup
}

func (s *Server) educationPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.education")
	inst, err := s.dir.Institution(r.Context(), r.PathValue("code"))
	if err != nil {
		return nil, err
	}
	list, err := s.db.Articles(r.Context(), inst.Code)
	if err != nil {
		return nil, err
	}
	d := &educationPageData{Inst: inst}
	for _, a := range articlesJSON(list, specialtyNames(inst, p.Lang)) {
		if n := len(d.Groups); n == 0 || d.Groups[n-1].Specialty != a.Specialty {
			d.Groups = append(d.Groups, educationGroup{Specialty: a.Specialty, Name: a.SpecialtyName})
		}
		d.Groups[len(d.Groups)-1].Articles = append(d.Groups[len(d.Groups)-1].Articles, a)
	}
	name := inst.Name
	if p.Lang == i18n.EN && inst.NameEN != "" {
		name = inst.NameEN
	}
	p.Title = p.T("title.education") + " · " + name
	p.Data = d
	return p, nil
}

// visitEducation is the visit page's health education: the attached
// articles, and for the doctor of a visit in progress or completed the
// institution's other articles to attach (the visit's specialty first).
type visitEducation struct {
	Attached  []articleJSON
	Available []articleJSON
	CanAttach bool
}

func (s *Server) visitEducationView(ctx context.Context, vc *visitCtx, lang i18n.Lang) (*visitEducation, error) {
	out := &visitEducation{}
	var err error
	if out.Attached, err = s.visitArticles(ctx, vc.v, lang); err != nil {
		return nil, err
	}
	st := vc.v.State
	out.CanAttach = vc.party == visit.PartyDoctor && (st == visit.InProgress || st == visit.Completed)
	if !out.CanAttach {
		return out, nil
	}
	inst, err := s.dir.Institution(ctx, vc.v.Institution)
	if err != nil {
		return nil, err
	}
	list, err := s.db.Articles(ctx, inst.Code)
	if err != nil {
		return nil, err
	}
	spec := ""
	if svc, err := s.bk.Service(ctx, vc.v.Service); err == nil {
		spec = svc.Specialty
	}
	have := map[int64]bool{}
	for _, a := range out.Attached {
		have[a.ID] = true
	}
	var mine, others []articleJSON
	for _, a := range articlesJSON(list, specialtyNames(inst, lang)) {
		switch {
		case have[a.ID]:
		case a.Specialty == spec:
			mine = append(mine, a)
		default:
			others = append(others, a)
		}
	}
	out.Available = append(mine, others...)
	return out, nil
}
