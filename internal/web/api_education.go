package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/education"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Health education (W-6, issue 14): an institution's articles per
// specialty, public at GET /api/v1/institutions/{code}/education and
// /institutions/{code}/education; the visit's doctor attaches some to the
// visit's advice (POST /api/v1/visits/{id}/education), and the family
// reads them on the visit page and at GET /api/v1/visits/{id}/education
// (audited, as everything of a visit).

// articleJSON is an article with its specialty's name.
type articleJSON struct {
	education.Article
	SpecialtyName string `json:"specialty_name"`
}

type articlesOut struct {
	Articles []articleJSON `json:"articles"`
}

// specialtyNames are an institution's specialties' names by code, in lang.
func specialtyNames(inst *directory.Institution, lang i18n.Lang) map[string]string {
	names := map[string]string{}
	for _, d := range inst.Departments {
		for _, sp := range d.Specialties {
			names[sp.Code] = sp.Name
			if lang == i18n.EN && sp.NameEN != "" {
				names[sp.Code] = sp.NameEN
			}
		}
	}
	return names
}

func articlesJSON(list []education.Article, names map[string]string) []articleJSON {
	out := []articleJSON{}
	for _, a := range list {
		out = append(out, articleJSON{Article: a, SpecialtyName: orDefault(names[a.Specialty], a.Specialty)})
	}
	return out
}

// institutionArticles lists an institution's articles (public), those of
// one specialty with ?specialty=.
func (s *Server) institutionArticles(ctx context.Context, c call, _ none) (*articlesOut, error) {
	inst, err := s.dir.Institution(ctx, c.Path("code"))
	if err != nil {
		return nil, err
	}
	list, err := s.db.Articles(ctx, inst.Code)
	if err != nil {
		return nil, err
	}
	if sp := c.Query("specialty"); sp != "" {
		kept := list[:0]
		for _, a := range list {
			if a.Specialty == sp {
				kept = append(kept, a)
			}
		}
		list = kept
	}
	return &articlesOut{Articles: articlesJSON(list, specialtyNames(inst, apiLang(c.r)))}, nil
}

// visitArticles are the articles attached to a visit, with names.
func (s *Server) visitArticles(ctx context.Context, v *visit.Visit, lang i18n.Lang) ([]articleJSON, error) {
	list, err := s.db.VisitArticles(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	if inst, err := s.dir.Institution(ctx, v.Institution); err == nil {
		names = specialtyNames(inst, lang)
	} else if !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	return articlesJSON(list, names), nil
}

// getVisitEducation answers the articles attached to a visit, for its
// participants.
func (s *Server) getVisitEducation(ctx context.Context, c call, _ none) (*articlesOut, error) {
	vc, err := s.loadVisit(c.r, false)
	if err != nil {
		return nil, err
	}
	list, err := s.visitArticles(ctx, vc.v, apiLang(c.r))
	if err != nil {
		return nil, err
	}
	if err := s.record(c.r, "visit.education.read", "visit", strconv.FormatInt(vc.v.ID, 10), vc.v.Institution, ""); err != nil {
		return nil, err
	}
	return &articlesOut{Articles: list}, nil
}

type attachIn struct {
	Articles []int64 `json:"articles"`
}

// attachEducation attaches articles of the visit's institution to the
// visit (its doctor, while the visit is in progress or once completed).
func (s *Server) attachEducation(ctx context.Context, c call, in attachIn) (*articlesOut, error) {
	vc, err := s.loadVisit(c.r, false)
	if err != nil {
		return nil, err
	}
	if err := s.attach(c.r, vc, in.Articles); err != nil {
		return nil, err
	}
	list, err := s.visitArticles(ctx, vc.v, apiLang(c.r))
	if err != nil {
		return nil, err
	}
	return &articlesOut{Articles: list}, nil
}

func (s *Server) attach(r *http.Request, vc *visitCtx, ids []int64) error {
	if err := vc.must(visit.PartyDoctor); err != nil {
		return err
	}
	if st := vc.v.State; st != visit.InProgress && st != visit.Completed {
		return errs.E(visit.CodeIllegal, i18n.Ref("act.education"), i18n.Ref("state."+string(st)))
	}
	ctx := r.Context()
	available, err := s.db.Articles(ctx, vc.v.Institution)
	if err != nil {
		return err
	}
	attached, err := s.db.VisitArticles(ctx, vc.v.ID)
	if err != nil {
		return err
	}
	if err := education.CheckAttach(ids, available, attached); err != nil {
		return err
	}
	if err := s.db.AttachArticles(ctx, vc.v.ID, ids, actor(r).ID, s.cfg.Now()); err != nil {
		return err
	}
	detail := ""
	for i, id := range ids {
		if i > 0 {
			detail += ","
		}
		detail += strconv.FormatInt(id, 10)
	}
	return s.record(r, "visit.education.attach", "visit", strconv.FormatInt(vc.v.ID, 10), vc.v.Institution, "articles "+detail)
}
