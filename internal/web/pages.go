package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

type pages struct{ byName map[string]*template.Template }

var funcs = template.FuncMap{
	"yuan": func(fen int64) string { return fmt.Sprintf("%.2f", float64(fen)/100) },
	"list": func(v ...string) []string { return v },
	"cn":   monitor.ChineseNumber,
	"join": strings.Join,
	// fmtTime is an instant in Beijing time, to the minute.
	"fmtTime": func(t time.Time) string { return t.In(dates.Beijing).Format("2006-01-02 15:04") },
	// The visit page's helpers.
	"minutes":   func(sec int64) string { return fmt.Sprintf("%d:%02d", sec/60, sec%60) },
	"kb":        func(n int64) int64 { return (n + 1023) / 1024 },
	"hasPrefix": strings.HasPrefix,
	"rows":      tableRows,
	"answer":    func(a map[string]any, key string) string { return answerValue(a[key]) },
	"has": func(a map[string]any, key, val string) bool {
		list, _ := a[key].([]any)
		for _, x := range list {
			if x == val {
				return true
			}
		}
		return false
	},
	"cell": func(a map[string]any, key string, i int, col string) string {
		rows, _ := a[key].([]any)
		if i >= len(rows) {
			return ""
		}
		m, _ := rows[i].(map[string]any)
		return answerValue(m[col])
	},
	"bars": func(pos, neu, neg, max int) template.HTML {
		// A stacked bar as inline SVG (the CSP forbids inline styles).
		if max == 0 {
			return ""
		}
		var b strings.Builder
		b.WriteString(`<svg class="bar" width="200" height="14" role="img">`)
		x := 0
		for _, seg := range []struct {
			n     int
			color string
		}{{pos, "#0b6e4f"}, {neu, "#8a9aa9"}, {neg, "#b42318"}} {
			w := seg.n * 200 / max
			fmt.Fprintf(&b, `<rect x="%d" y="0" width="%d" height="14" fill="%s"></rect>`, x, w, seg.color)
			x += w
		}
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	},
	"inc": func(i int) int { return i + 1 },
	"weekdays": func(l i18n.Lang, w directory.Weekdays) string {
		if len(w) == 7 {
			return i18n.T(l, "days.all")
		}
		if len(w) == 0 {
			return i18n.T(l, "days.none")
		}
		names := make([]string, len(w))
		for i, d := range w {
			names[i] = i18n.T(l, fmt.Sprintf("day.%d", d))
		}
		return strings.Join(names, i18n.T(l, "list.sep"))
	},
	"pform": newPractitionerForm,
	// hm is a time of day in Beijing, 09:20.
	"hm": func(t time.Time) string { return t.In(dates.Beijing).Format("15:04") },
	"localtime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		lt := t.In(dates.Beijing)
		if lt.Hour() == 0 && lt.Minute() == 0 && lt.Second() == 0 {
			return lt.Format("2006-01-02")
		}
		return lt.Format("15:04")
	},
}

// practitionerForm is the data of the shared practitioner form: values come
// from the submitted form after an error, else from the practitioner.
type practitionerForm struct {
	Page   *page
	Inst   *directory.Institution
	P      *directory.Practitioner
	Action string
	Titles []directory.Title
}

func newPractitionerForm(p *page, inst *directory.Institution, v any, action string) practitionerForm {
	var pr *directory.Practitioner
	switch x := v.(type) {
	case *directory.Practitioner:
		pr = x
	case directory.Practitioner:
		pr = &x
	}
	titles := append(append([]directory.Title{}, directory.DoctorTitles...), directory.PharmacistTitles...)
	return practitionerForm{Page: p, Inst: inst, P: pr, Action: action, Titles: titles}
}

// Val is the value to show in a field.
func (f practitionerForm) Val(name string) string {
	if f.Page.Form != nil && f.Page.Form.Has(name) {
		return f.Page.Form.Get(name)
	}
	if f.P == nil {
		return ""
	}
	switch name {
	case "name":
		return f.P.Name
	case "profession":
		return string(f.P.Profession)
	case "title":
		return string(f.P.Title)
	case "department":
		return f.P.Department
	case "licence_no":
		return f.P.LicenceNo
	case "practice_since":
		return f.P.PracticeSince
	case "internet_since":
		return f.P.InternetSince
	case "training_passed_on":
		return f.P.TrainingPassedOn
	case "bio":
		return f.P.Bio
	case "account_id":
		if f.P.AccountID != 0 {
			return strconv.FormatInt(f.P.AccountID, 10)
		}
	}
	return ""
}

func loadPages() (*pages, error) {
	layout, err := assets.ReadFile("templates/layout.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		body, _ := assets.ReadFile(f)
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err == nil {
			_, err = t.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// page is the data every template gets.
type page struct {
	Lang         i18n.Lang
	Actor        authz.Actor
	CSRF         string
	Demo         bool
	DemoAccounts []DemoAccount
	Title        string
	Path         string
	Flash        string
	Error        string
	Errors       map[string]string // field → message
	Form         url.Values
	Data         any
	Confirm      *confirmPrompt // a doctor's N-7 identity prompt (html_security.go)
}

// T translates key in the page's language.
func (p *page) T(key string, args ...any) string { return i18n.T(p.Lang, key, args...) }

// F returns the submitted value of a form field, for re-filling forms.
func (p *page) F(name string) string {
	if p.Form == nil {
		return ""
	}
	return p.Form.Get(name)
}

// E returns the error of a field.
func (p *page) E(field string) string { return p.Errors[field] }

// Role reports whether the actor has the role.
func (p *page) Role(r string) bool { return string(p.Actor.Role) == r }

// uiLang is the language of pages: the switch's cookie, else Chinese.
func uiLang(r *http.Request) i18n.Lang {
	if l := r.URL.Query().Get("lang"); l != "" {
		return i18n.Parse(l)
	}
	if c, err := r.Cookie(langCookie); err == nil {
		return i18n.Parse(c.Value)
	}
	return i18n.ZH
}

func (s *Server) newPage(w http.ResponseWriter, r *http.Request, title string) *page {
	p := &page{Lang: uiLang(r), Actor: actor(r), Demo: s.cfg.Demo, Path: r.URL.Path, Errors: map[string]string{}}
	p.CSRF = s.csrfToken(w, r)
	p.Confirm = s.doctorPrompt(r)
	p.Title = p.T(title)
	p.Flash = r.URL.Query().Get("ok")
	if p.Flash != "" {
		p.Flash = p.T("flash." + p.Flash)
	}
	return p
}

// setErr shows err on the page: the summary and each field's message.
func (p *page) setErr(err error) {
	_, body := describe(err, p.Lang)
	p.Error = body.Message
	for _, f := range body.Fields {
		p.Errors[f.Field] = f.Message
	}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t := s.pages.byName[name]
	if t == nil {
		s.fail(w, r, errs.Errorf("no template %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("render", "template", name, "err", err)
		http.Error(w, "render error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, body apiError) {
	if status == http.StatusUnauthorized {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	p := s.newPage(w, r, "title.error")
	p.Error = body.Message
	for _, f := range body.Fields {
		p.Errors[f.Field] = f.Message // named on the page (a refused form field)
	}
	p.Data = status
	s.render(w, r, status, "error", p)
}

// formErr re-renders a form page with err, or fails the request when err
// is not about the input.
func (s *Server) formErr(w http.ResponseWriter, r *http.Request, name string, p *page, err error) {
	code := errs.Code(err)
	if code != errs.Invalid && code != errs.Duplicate && code != errs.BadCredentials && code != errs.RateLimited {
		s.fail(w, r, err)
		return
	}
	if code == errs.RateLimited {
		setRetryAfter(w, err)
	}
	p.setErr(err)
	p.Form = r.PostForm
	s.render(w, r, statusOf(code), name, p)
}

// safeNext returns a local redirect target.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return ""
	}
	return next
}

// pageBuilder makes the page of a form: its data, ready to render.
type pageBuilder func(w http.ResponseWriter, r *http.Request) (*page, error)

// show renders the page a builder makes.
func (s *Server) show(name string, build pageBuilder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := build(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, name, p)
	}
}

// submit runs a form action: on success it redirects to next(r); on a
// refusal it shows the form's page again with every error and the input.
func (s *Server) submit(name string, build pageBuilder, do func(r *http.Request) error, next func(r *http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := do(r); err != nil {
			p, perr := build(w, r)
			if perr != nil {
				s.fail(w, r, perr)
				return
			}
			s.formErr(w, r, name, p, err)
			return
		}
		http.Redirect(w, r, next(r), http.StatusSeeOther)
	}
}

// answerValue writes an answer back into a form field.
func answerValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}
