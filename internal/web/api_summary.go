package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/summary"
)

// The visit summary (门诊病历, issue 14): what the family keeps after the
// visit. GET /api/v1/visits/{id}/summary?format=json|pdf, for the visit's
// participants (the patient's own and guardian accounts, the visit's
// doctor; anyone else gets not_found), once the record is signed. Every
// read is audited (visit.summary.read).

func (s *Server) apiVisitSummary(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "pdf" {
		var f errs.Fields
		f.Add("format", "format_unknown")
		s.fail(w, r, f.Err())
		return
	}
	vc, err := s.loadVisit(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sum, err := s.visitSummary(r.Context(), vc)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.record(r, "visit.summary.read", "visit", strconv.FormatInt(vc.v.ID, 10), vc.v.Institution, "format="+orDefault(format, "json")); err != nil {
		s.fail(w, r, err)
		return
	}
	if format != "pdf" {
		writeJSON(w, http.StatusOK, sum)
		return
	}
	var buf bytes.Buffer
	if err := sum.RenderPDF(&buf); err != nil {
		s.fail(w, r, errs.Wrap("pdf_font_missing", err))
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="visit-summary-%d.pdf"`, vc.v.ID))
	w.Write(buf.Bytes())
}

func orDefault(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}

// visitSummary gathers the summary of a visit whose record is signed;
// before that, summary_not_ready. Its texts are Chinese, as printed.
func (s *Server) visitSummary(ctx context.Context, vc *visitCtx) (*summary.Summary, error) {
	v := vc.v
	recs, err := s.db.Records(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errs.E("summary_not_ready")
	}
	latest, earlier := summary.Versions(recs)
	out := &summary.Summary{VisitID: v.ID, Institution: v.Institution, InstitutionName: v.Institution, Department: v.Department,
		DepartmentName: v.Department, ServiceName: v.ServiceName, VisitTime: v.StartedAt, EndedAt: v.EndedAt,
		Record: latest, Earlier: earlier, Prescriptions: []summary.Prescription{}, Education: []summary.Article{}, GeneratedAt: s.cfg.Now()}
	if out.VisitTime.IsZero() {
		out.VisitTime = v.Start
	}
	if inst, err := s.dir.Institution(ctx, v.Institution); err == nil {
		out.InstitutionName = inst.Name
		for _, d := range inst.Departments {
			if d.Code == v.Department {
				out.DepartmentName = d.Name
			}
		}
	} else if !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	p, err := s.ids.Store.PatientByID(ctx, v.PatientID)
	if err != nil {
		return nil, err
	}
	at := out.VisitTime
	out.Patient = summary.Patient{Name: p.Name, Sex: string(p.Sex), SexText: i18n.T(i18n.ZH, "sex."+string(p.Sex)),
		Age: rx.AgeText(p.Birth, at), ResidentID: identity.MaskResidentID(p.ResidentID)}
	out.Doctor = summary.Doctor{Name: v.DoctorName}
	if doc, err := s.dir.Practitioner(ctx, v.DoctorID); err == nil {
		out.Doctor.Name, out.Doctor.Title = doc.Name, string(doc.Title)
		out.Doctor.TitleText = i18n.T(i18n.ZH, "title."+string(doc.Title))
	} else if !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	list, err := s.db.Prescriptions(ctx, rx.Filter{VisitID: v.ID, Limit: 500})
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	for _, pr := range list {
		if summary.Dispensable(pr.Status) {
			out.Prescriptions = append(out.Prescriptions, summary.FromRx(pr, i18n.T(i18n.ZH, "rx.status."+string(pr.Status))))
		}
	}
	arts, err := s.db.VisitArticles(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	for _, a := range arts {
		out.Education = append(out.Education, summary.Article{ID: a.ID, Title: a.Title, Source: a.Source})
	}
	return out, nil
}
