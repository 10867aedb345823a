// Package monitor makes the Beijing health-IT public-opinion monitoring
// monthly report (卫生信息化舆情监测月报, seed 000, rule G-5): sources are
// data; collected articles are normalised, scored against a keyword
// taxonomy stored as data, merged when they are reposts of one article,
// summarised from their own sentences, and laid out issue after issue in
// the seed's format.
package monitor

import (
	"context"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// SourceKind says how a source is read.
type SourceKind string

const (
	KindRSS  SourceKind = "rss"  // an RSS or Atom feed
	KindHTML SourceKind = "html" // a list page with CSS selectors
)

// Source is a site the monitor collects from.
type Source struct {
	ID            int64      `json:"id"`
	Name          string     `json:"name"`
	Media         string     `json:"media"` // as printed in the report (媒体)
	Kind          SourceKind `json:"kind"`
	URL           string     `json:"url"`
	LinkSelector  string     `json:"link_selector,omitempty"`  // html: links to articles on the list page
	TitleSelector string     `json:"title_selector,omitempty"` // html: on the article page (default: readability)
	DateSelector  string     `json:"date_selector,omitempty"`
	BodySelector  string     `json:"body_selector,omitempty"`
	Active        bool       `json:"active"`
	IntervalMin   int        `json:"interval_minutes"`
	LastCrawl     time.Time  `json:"last_crawl,omitzero"`
	LastError     string     `json:"last_error,omitempty"`
	LastCount     int        `json:"last_count"`
}

// SelectorChecker parses a CSS selector (the crawler's library does it).
type SelectorChecker func(sel string) error

// Validate checks a source; selectors are parsed with check.
func (s *Source) Validate(check SelectorChecker) error {
	var f errs.Fields
	s.Name, s.Media, s.URL = strings.TrimSpace(s.Name), strings.TrimSpace(s.Media), strings.TrimSpace(s.URL)
	if s.Name == "" {
		f.Add("name", "required")
	}
	if s.Media == "" {
		f.Add("media", "required")
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		f.Add("url", "required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		f.Add("url", "url_scheme")
	}
	switch s.Kind {
	case KindRSS:
	case KindHTML:
		if s.LinkSelector == "" {
			f.Add("link_selector", "required")
		}
	default:
		f.Add("kind", "source_kind")
	}
	for field, sel := range map[string]string{"link_selector": s.LinkSelector, "title_selector": s.TitleSelector, "date_selector": s.DateSelector, "body_selector": s.BodySelector} {
		if sel != "" && check != nil {
			if err := check(sel); err != nil {
				f.Add(field, "selector_invalid", err.Error())
			}
		}
	}
	if s.IntervalMin == 0 {
		s.IntervalMin = 360
	}
	if s.IntervalMin < 5 || s.IntervalMin > 7*24*60 {
		f.Add("interval_minutes", "interval_range")
	}
	return f.Err()
}

// Term is a weighted keyword of a topic.
type Term struct {
	Topic  string  `json:"topic"`
	Term   string  `json:"term"`
	Weight float64 `json:"weight"`
}

// Taxonomy is the keyword taxonomy of health IT, with the score an item
// needs to be relevant.
type Taxonomy struct {
	Terms     []Term  `json:"terms"`
	Threshold float64 `json:"threshold"`
}

// Validate checks a taxonomy: terms with a topic, a word and a positive
// weight, and a positive threshold.
func (t Taxonomy) Validate() error {
	var f errs.Fields
	if len(t.Terms) == 0 {
		f.Add("terms", "required")
	}
	for i, x := range t.Terms {
		if x.Term == "" || x.Topic == "" || x.Weight <= 0 {
			f.Add("terms."+strconv.Itoa(i), "term_invalid")
		}
	}
	if t.Threshold <= 0 {
		f.Add("threshold", "number")
	}
	return f.Err()
}

// DefaultTaxonomy is the starting taxonomy (data; the editor changes it).
func DefaultTaxonomy() Taxonomy {
	add := func(topic string, w float64, terms ...string) []Term {
		var out []Term
		for _, t := range terms {
			out = append(out, Term{Topic: topic, Term: t, Weight: w})
		}
		return out
	}
	var ts []Term
	ts = append(ts, add("互联网医疗", 3, "互联网医院", "互联网诊疗", "云医疗", "远程医疗", "在线诊疗", "线上诊疗", "线上复诊", "互联网首诊", "在线问诊", "互联网+医疗健康")...)
	ts = append(ts, add("电子处方与医保", 2, "电子处方", "医保支付", "医保结算", "药品配送", "处方流转")...)
	ts = append(ts, add("电子病历与数据", 2, "电子病历", "健康档案", "互联互通", "信息共享", "数据共享", "电子健康卡")...)
	ts = append(ts, add("新技术", 1.5, "5G", "大数据", "人工智能", "区块链", "物联网", "云计算")...)
	ts = append(ts, add("信息化与安全", 1.5, "信息化", "信息安全", "数据安全", "网络安全", "信息系统", "智慧医院", "数字医学")...)
	return Taxonomy{Terms: ts, Threshold: 6}
}

// Score is the relevance of a text: the weighted count of taxonomy terms,
// each counted at most 3 times, with the terms that matched.
func (t Taxonomy) Score(normalized string) (float64, []string) {
	words := make([]string, len(t.Terms))
	for i, term := range t.Terms {
		words[i] = strings.ToLower(term.Term)
	}
	counts := counterFor(words).Count(strings.ToLower(normalized))
	score := 0.0
	var matched []string
	for i, term := range t.Terms {
		n := counts[i]
		if n == 0 {
			continue
		}
		score += term.Weight * float64(min(n, 3))
		matched = append(matched, term.Term)
	}
	sort.Strings(matched)
	return score, matched
}

// Item is a collected article.
type Item struct {
	ID          int64     `json:"id"`
	SourceID    int64     `json:"source_id"`
	Title       string    `json:"title"`
	Media       string    `json:"media"`
	Published   string    `json:"published"` // YYYY-MM-DD
	URL         string    `json:"url"`
	Text        string    `json:"-"`
	Summary     string    `json:"summary"`
	FetchedAt   time.Time `json:"fetched_at"`
	Score       float64   `json:"score"`
	Terms       []string  `json:"terms"`
	Threshold   float64   `json:"threshold"`
	Relevant    bool      `json:"relevant"`
	Sentiment   Sentiment `json:"sentiment"`
	Feeling     []string  `json:"sentiment_words"`    // the words that decided the sentiment
	Override    *bool     `json:"override,omitempty"` // the editor's verdict, when given
	Fingerprint uint64    `json:"-"`
	DuplicateOf int64     `json:"duplicate_of,omitempty"`
	Reposts     []Repost  `json:"reposts"`
}

// Repost is where else a merged article ran.
type Repost struct {
	Media     string `json:"media"`
	Title     string `json:"title"`
	URL       string `json:"url"`
	Published string `json:"published"`
}

// Verdict is the item's relevance: the editor's override, else the score.
func (i Item) Verdict() bool {
	if i.Override != nil {
		return *i.Override
	}
	return i.Score >= i.Threshold
}

// Report is one issue of the monthly report.
type Report struct {
	ID          int64        `json:"id"`
	Number      int          `json:"number"`
	From        string       `json:"from"`
	To          string       `json:"to"`
	Date        string       `json:"date"` // issue date, YYYY-MM-DD
	Publisher   string       `json:"publisher"`
	Scope       string       `json:"scope"`
	Status      string       `json:"status"` // draft | published
	PublishedAt time.Time    `json:"published_at,omitzero"`
	Items       []ReportItem `json:"items"`
}

// ReportItem is an entry of a report, editable until publication.
type ReportItem struct {
	ItemID    int64  `json:"item_id"`
	Title     string `json:"title"`
	Media     string `json:"media"`
	Published string `json:"published"`
	URL       string `json:"url"`
	Summary   string `json:"summary"`
	Included  bool   `json:"included"`
}

// Report defaults (the commission's, data in a deployment's settings).
const (
	DefaultPublisher = "北京市卫生健康委信息中心"
	DefaultScope     = "北京市主流媒体及政府网站等"
	Draft            = "draft"
	Published        = "published"
)

// Store persists the monitor's data.
type Store interface {
	SaveSource(ctx context.Context, s *Source) error
	Sources(ctx context.Context) ([]Source, error)
	Source(ctx context.Context, id int64) (*Source, error)
	RecordCrawl(ctx context.Context, sourceID int64, at time.Time, count int, errText string) error
	// Conditional GET state of a URL.
	FetchState(ctx context.Context, url string) (etag, lastModified string, err error)
	SaveFetchState(ctx context.Context, url, etag, lastModified string) error
	// UpsertItem stores an item by URL; unchanged items are left alone.
	UpsertItem(ctx context.Context, it *Item) (changed bool, err error)
	Items(ctx context.Context, f ItemFilter) ([]Item, error)
	SetOverride(ctx context.Context, id int64, v *bool) error
	Taxonomy(ctx context.Context) (Taxonomy, error)
	Lexicon(ctx context.Context) (Lexicon, error)
	SaveLexicon(ctx context.Context, l Lexicon) error
	SaveTaxonomy(ctx context.Context, t Taxonomy) error
	CreateReport(ctx context.Context, r *Report) error
	SaveReport(ctx context.Context, r *Report) error
	Report(ctx context.Context, id int64) (*Report, error)
	Reports(ctx context.Context) ([]Report, error)
	LastReportNumber(ctx context.Context) (int, error)
}

// ItemFilter selects items.
type ItemFilter struct {
	From, To string
	Relevant *bool
	Limit    int
}
