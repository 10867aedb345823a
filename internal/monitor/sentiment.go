package monitor

import (
	"sort"
	"strings"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Sentiment of an item.
type Sentiment string

const (
	Positive Sentiment = "正面"
	Neutral  Sentiment = "中性"
	Negative Sentiment = "负面"
)

// Lexicon holds the words that make an article positive or negative
// (data: the editor changes it), with the margin a side must win by.
type Lexicon struct {
	Positive []string `json:"positive"`
	Negative []string `json:"negative"`
	Margin   int      `json:"margin"`
}

// Validate checks that both word lists have words and the margin is
// positive.
func (l Lexicon) Validate() error {
	var f errs.Fields
	if len(l.Positive) == 0 {
		f.Add("positive", "required")
	}
	if len(l.Negative) == 0 {
		f.Add("negative", "required")
	}
	if l.Margin < 1 {
		f.Add("margin", "number")
	}
	return f.Err()
}

// DefaultLexicon is the starting lexicon.
func DefaultLexicon() Lexicon {
	return Lexicon{
		Positive: []string{"便捷", "高效", "惠及", "优质", "创新", "提升", "有序发展", "获得感", "方便", "受益", "成效", "突破", "改善", "满意", "共享"},
		Negative: []string{"泄露", "违规", "投诉", "事故", "纠纷", "故障", "瘫痪", "漏洞", "处罚", "整改", "问责", "延误", "乱象", "欺诈", "曝光", "宕机", "隐患"},
		Margin:   2,
	}
}

// Classify counts the lexicon's words in normalised text and returns the
// sentiment with the words that decided it.
func (l Lexicon) Classify(text string) (Sentiment, []string) {
	count := func(words []string) (int, []string) {
		n := 0
		var hit []string
		counts := counterFor(words).Count(text)
		for i, w := range words {
			if c := counts[i]; c > 0 {
				n += c
				hit = append(hit, w)
			}
		}
		sort.Strings(hit)
		return n, hit
	}
	pos, pw := count(l.Positive)
	neg, nw := count(l.Negative)
	switch {
	case neg >= pos+l.Margin || (neg > 0 && pos == 0):
		return Negative, nw
	case pos >= neg+l.Margin:
		return Positive, pw
	}
	return Neutral, append(pw, nw...)
}

// BeijingInstitutions are the names a negative item is checked for (the
// directory's institutions are added by the caller).
func MentionedInstitutions(text string, names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" && strings.Contains(text, n) {
			out = append(out, n)
		}
	}
	return out
}
