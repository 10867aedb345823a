package crawl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"codeberg.org/readeck/go-readability/v2"
	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"github.com/mmcdole/gofeed"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

// CheckSelector parses a CSS selector (for validating sources).
func CheckSelector(sel string) error {
	_, err := cascadia.Compile(sel)
	return err
}

// SourceResult is what a crawl did with one source.
type SourceResult struct {
	SourceID  int64  `json:"source_id"`
	Name      string `json:"name"`
	Found     int    `json:"found"`
	New       int    `json:"new"`
	Unchanged int    `json:"unchanged"`
	Skipped   int    `json:"skipped"` // disallowed by robots.txt or refused
	Error     string `json:"error,omitempty"`
}

// Run is one collection: its status and what it did with each source so
// far. Runs are stored, so their progress survives the page, the process
// and another server answering.
type Run struct {
	ID       int64          `json:"id"`
	Status   string         `json:"status"` // running | done | failed
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished,omitzero"`
	Sources  []SourceResult `json:"sources"`
	Error    string         `json:"error,omitempty"`
	By       int64          `json:"-"` // the account that asked (0: the schedule)
}

// Run statuses.
const (
	RunRunning = "running"
	RunDone    = "done"
	RunFailed  = "failed"
)

// RunStore keeps runs.
type RunStore interface {
	CreateRun(ctx context.Context, r *Run) error
	UpdateRun(ctx context.Context, r *Run) error
	Run(ctx context.Context, id int64) (*Run, error)
	// InterruptRuns marks the runs left running by a stopped process as
	// failed.
	InterruptRuns(ctx context.Context, at time.Time, reason string) (int, error)
}

// Crawler collects the active sources into the store.
type Crawler struct {
	Fetch *Fetcher
	Store monitor.Store
	Now   func() time.Time
	// OnNew, when set, is told of every new or changed item (alerts).
	OnNew func(ctx context.Context, it *monitor.Item)
}

// article is one article found on a source.
type article struct {
	url, title, date, text string
}

// Run crawls every active source; one failing source does not stop the
// others. progress, when given, is called after each source.
func (c *Crawler) Run(ctx context.Context, progress func([]SourceResult)) ([]SourceResult, error) {
	sources, err := c.Store.Sources(ctx)
	if err != nil {
		return nil, err
	}
	tax, err := c.Store.Taxonomy(ctx)
	if err != nil {
		return nil, err
	}
	lex, err := c.Store.Lexicon(ctx)
	if err != nil {
		return nil, err
	}
	var out []SourceResult
	for _, s := range sources {
		if !s.Active {
			continue
		}
		r := c.source(ctx, s, tax, lex)
		out = append(out, r)
		c.Store.RecordCrawl(ctx, s.ID, c.Now(), r.New, r.Error)
		if progress != nil {
			progress(out)
		}
	}
	return out, nil
}

func (c *Crawler) source(ctx context.Context, s monitor.Source, tax monitor.Taxonomy, lex monitor.Lexicon) SourceResult {
	r := SourceResult{SourceID: s.ID, Name: s.Name}
	arts, err := c.list(ctx, s)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Found = len(arts)
	for _, a := range arts {
		if a.text == "" {
			full, unchanged, err := c.article(ctx, s, a)
			if unchanged {
				r.Unchanged++
				continue
			}
			if err != nil {
				if errors.Is(err, ErrDisallowed) || errors.Is(err, ErrBlocked) {
					r.Skipped++
					continue
				}
				r.Error = joinErr(r.Error, err.Error())
				continue
			}
			a = full
		}
		it := monitor.Process(monitor.Raw{SourceID: s.ID, Media: s.Media, URL: a.url, Title: a.title, Published: a.date, Text: a.text, FetchedAt: c.Now()}, tax, lex)
		changed, err := c.Store.UpsertItem(ctx, it)
		if err != nil {
			r.Error = joinErr(r.Error, err.Error())
			continue
		}
		if changed {
			r.New++
			if c.OnNew != nil {
				c.OnNew(ctx, it)
			}
		} else {
			r.Unchanged++
		}
	}
	return r
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// list reads a source's feed or list page.
func (c *Crawler) list(ctx context.Context, s monitor.Source) ([]article, error) {
	etag, lm, _ := c.Store.FetchState(ctx, s.URL)
	p, err := c.Fetch.Get(ctx, s.URL, etag, lm)
	if err != nil {
		return nil, err
	}
	if p.Status == 304 {
		return nil, nil
	}
	defer c.Store.SaveFetchState(ctx, s.URL, p.ETag, p.LastModified)
	base, _ := url.Parse(p.URL)
	switch s.Kind {
	case monitor.KindRSS:
		feed, err := gofeed.NewParser().Parse(bytes.NewReader(p.Body))
		if err != nil {
			return nil, fmt.Errorf("not a feed: %w", err)
		}
		var out []article
		for _, it := range feed.Items {
			a := article{url: resolve(base, it.Link), title: strings.TrimSpace(it.Title)}
			if it.PublishedParsed != nil {
				a.date = it.PublishedParsed.In(dates.Beijing).Format(dates.Layout)
			}
			// The feed's own content when that is all there is; the page otherwise.
			if content := firstNonEmpty(it.Content, it.Description); content != "" && s.BodySelector == "" && len([]rune(textOf(content))) > 200 {
				a.text = textOf(content)
			}
			out = append(out, a)
		}
		return out, nil
	case monitor.KindHTML:
		if !strings.Contains(strings.ToLower(p.ContentType), "html") && !bytes.Contains(bytes.ToLower(p.Body[:min(len(p.Body), 512)]), []byte("<html")) {
			return nil, fmt.Errorf("not an HTML page (%s)", p.ContentType)
		}
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(p.Body))
		if err != nil {
			return nil, err
		}
		var out []article
		seen := map[string]bool{}
		doc.Find(s.LinkSelector).Each(func(_ int, a *goquery.Selection) {
			href, ok := a.Attr("href")
			if !ok {
				return
			}
			u := resolve(base, href)
			if u == "" || seen[u] {
				return
			}
			seen[u] = true
			out = append(out, article{url: u, title: strings.TrimSpace(a.Text())})
		})
		return out, nil
	}
	return nil, fmt.Errorf("unknown source kind %q", s.Kind)
}

// article fetches and extracts one article page.
func (c *Crawler) article(ctx context.Context, s monitor.Source, a article) (article, bool, error) {
	etag, lm, _ := c.Store.FetchState(ctx, a.url)
	p, err := c.Fetch.Get(ctx, a.url, etag, lm)
	if err != nil {
		return a, false, err
	}
	if p.Status == 304 {
		return a, true, nil
	}
	base, _ := url.Parse(p.URL)
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(p.Body))
	if err != nil {
		return a, false, err
	}
	if s.TitleSelector != "" {
		if t := strings.TrimSpace(doc.Find(s.TitleSelector).First().Text()); t != "" {
			a.title = t
		}
	}
	if s.DateSelector != "" {
		a.date = findDate(doc.Find(s.DateSelector).First().Text())
	}
	if s.BodySelector != "" {
		a.text = strings.TrimSpace(doc.Find(s.BodySelector).First().Text())
	}
	if a.text == "" || a.title == "" || a.date == "" {
		parser := readability.NewParser()
		art, err := parser.Parse(bytes.NewReader(p.Body), base)
		if err == nil {
			if a.title == "" {
				a.title = strings.TrimSpace(art.Title())
			}
			if a.text == "" {
				var b strings.Builder
				art.RenderText(&b)
				a.text = strings.TrimSpace(b.String())
			}
			if a.date == "" {
				if t, err := art.PublishedTime(); err == nil && !t.IsZero() {
					a.date = t.In(dates.Beijing).Format(dates.Layout)
				}
			}
		}
	}
	if a.date == "" {
		a.date = findDate(doc.Find("body").Text())
	}
	if a.text == "" {
		return a, false, fmt.Errorf("%s: no article text", a.url)
	}
	c.Store.SaveFetchState(ctx, a.url, p.ETag, p.LastModified)
	return a, false, nil
}

var datePattern = regexp.MustCompile(`(20\d{2}|19\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})`)

// findDate returns the first date in s as YYYY-MM-DD.
func findDate(s string) string {
	m := datePattern.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	t, err := time.Parse("2006-1-2", m[1]+"-"+strings.TrimLeft(m[2], "0")+"-"+strings.TrimLeft(m[3], "0"))
	if err != nil {
		return ""
	}
	return t.Format(dates.Layout)
}

func resolve(base *url.URL, href string) string {
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil || base == nil {
		return ""
	}
	r := base.ResolveReference(u)
	if r.Scheme != "http" && r.Scheme != "https" {
		return ""
	}
	r.Fragment = ""
	return r.String()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// textOf strips the markup of a feed's HTML content.
func textOf(h string) string {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(h))
	if err != nil {
		return h
	}
	return strings.TrimSpace(doc.Text())
}
