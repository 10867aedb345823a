package monitor

import (
	"time"
)

// Raw is an article as collected.
type Raw struct {
	SourceID  int64
	Media     string
	URL       string
	Title     string
	Published string
	Text      string
	FetchedAt time.Time
}

// SummaryRunes is the default length of a summary (主要内容).
const SummaryRunes = 300

// Process normalises, scores, fingerprints and summarises an article.
func Process(r Raw, tax Taxonomy) *Item {
	title := Normalize(r.Title)
	text := Normalize(r.Text)
	score, terms := tax.Score(title + "\n" + text)
	it := &Item{SourceID: r.SourceID, Title: title, Media: r.Media, Published: r.Published, URL: r.URL, Text: text,
		FetchedAt: r.FetchedAt, Score: score, Terms: terms, Threshold: tax.Threshold, Reposts: []Repost{}}
	if it.Published == "" {
		it.Published = r.FetchedAt.Format("2006-01-02")
	}
	it.Fingerprint = SimHash(Tokens(text))
	it.Summary = Summarize(text, SummaryRunes)
	it.Relevant = it.Verdict()
	return it
}
