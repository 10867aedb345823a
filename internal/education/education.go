// Package education is health education for the public (W-6): short
// articles an institution publishes per specialty, stored as data (title,
// body, source), listed publicly, and attached by a visit's doctor to the
// visit's advice for the family to read on the visit page.
package education

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Article is one health-education article of an institution.
type Article struct {
	ID          int64     `json:"id"`
	Institution string    `json:"institution"`
	Specialty   string    `json:"specialty"` // the specialty's code at the institution (growth, nutrition, skin, ...)
	Title       string    `json:"title"`
	TitleEN     string    `json:"title_en,omitempty"`
	Body        string    `json:"body"`
	Source      string    `json:"source"` // who wrote it, where it comes from
	CreatedAt   time.Time `json:"created_at"`
}

// Paragraphs is the body split at its blank or single line breaks, for
// pages.
func (a Article) Paragraphs() []string {
	var out []string
	for _, p := range strings.Split(a.Body, "\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Limits of an article and of one attachment request.
const (
	MaxTitle    = 100
	MaxBody     = 8000
	MaxSource   = 200
	MaxAttached = 10 // articles attached to one visit
)

// Validate trims and checks an article: a title, a body and a source
// (health education names where it comes from), within the limits.
func (a *Article) Validate() error {
	for _, p := range []*string{&a.Institution, &a.Specialty, &a.Title, &a.TitleEN, &a.Body, &a.Source} {
		*p = strings.TrimSpace(*p)
	}
	var f errs.Fields
	for _, c := range []struct {
		name, v string
		max     int
	}{{"institution", a.Institution, 32}, {"specialty", a.Specialty, 64}, {"title", a.Title, MaxTitle},
		{"body", a.Body, MaxBody}, {"source", a.Source, MaxSource}} {
		if c.v == "" {
			f.Add(c.name, "required")
		} else if utf8.RuneCountInString(c.v) > c.max {
			f.Add(c.name, "too_long")
		}
	}
	if utf8.RuneCountInString(a.TitleEN) > MaxTitle {
		f.Add("title_en", "too_long")
	}
	return f.Err()
}

// CheckAttach checks the ids a doctor attaches to a visit against the
// articles of the visit's institution: at least one, no duplicates, each
// one of the institution's, and at most MaxAttached in all with those
// already attached.
func CheckAttach(ids []int64, available []Article, attached []Article) error {
	var f errs.Fields
	if len(ids) == 0 {
		f.Add("articles", "required")
		return f.Err()
	}
	have := map[int64]bool{}
	for _, a := range available {
		have[a.ID] = true
	}
	already := map[int64]bool{}
	for _, a := range attached {
		already[a.ID] = true
	}
	seen := map[int64]bool{}
	total := len(attached)
	for i, id := range ids {
		switch {
		case seen[id]:
			f.Add("articles["+itoa(i)+"]", "duplicate")
		case !have[id]:
			f.Add("articles["+itoa(i)+"]", "not_found")
		case !already[id]:
			total++
		}
		seen[id] = true
	}
	if total > MaxAttached {
		f.Add("articles", "too_many_rows")
	}
	return f.Err()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// Store persists articles and what is attached to visits.
type Store interface {
	// SaveArticle inserts an article (ID 0) or replaces one.
	SaveArticle(ctx context.Context, a *Article) error
	// Articles are an institution's articles, by specialty then id.
	Articles(ctx context.Context, institution string) ([]Article, error)
	// AttachArticles attaches articles to a visit; one already attached
	// stays as it was.
	AttachArticles(ctx context.Context, visitID int64, ids []int64, by int64, at time.Time) error
	// VisitArticles are the articles attached to a visit, in the order
	// attached.
	VisitArticles(ctx context.Context, visitID int64) ([]Article, error)
}
