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
	Summary   string // when the source gives one (else extracted)
	FetchedAt time.Time
}

// SummaryRunes is the default length of a summary (主要内容).
const SummaryRunes = 300

// Process normalises, scores, fingerprints, summarises and classifies an
// article.
func Process(r Raw, tax Taxonomy, lex Lexicon) *Item {
	title := Simplify(r.Title)
	text := Simplify(r.Text)
	norm := fold(title + "\n" + text) // analysed once: scored, classified, fingerprinted
	score, terms := tax.Score(norm)
	it := &Item{SourceID: r.SourceID, Title: title, Media: r.Media, Published: r.Published, URL: r.URL, Text: text,
		FetchedAt: r.FetchedAt, Score: score, Terms: terms, Threshold: tax.Threshold, Reposts: []Repost{}}
	if it.Published == "" {
		it.Published = r.FetchedAt.Format("2006-01-02")
	}
	it.Fingerprint = Fingerprint(norm)
	it.Relevant = it.Verdict()
	// Only kept items are summarised (most news is dropped); an item the
	// editor keeps later gets its summary then (EnsureSummary).
	it.Summary = Simplify(r.Summary)
	if it.Summary == "" && it.Relevant {
		it.Summary = Summarize(text, SummaryRunes)
	}
	it.Sentiment, it.Feeling = lex.Classify(norm)
	return it
}

// EnsureSummary fills the summary of an item kept without one (one the
// editor kept against the score), from its own text.
func (it *Item) EnsureSummary() bool {
	if it.Summary != "" || it.Text == "" {
		return false
	}
	it.Summary = Summarize(it.Text, SummaryRunes)
	return it.Summary != ""
}
