package monitor

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// wordCounter counts many words in a text in one pass, each word's count
// being what strings.Count gives (leftmost, non-overlapping occurrences).
// The taxonomy and the lexicon are a few dozen words each; scanning the
// text once, with a bit per possible first character, replaces one scan
// of the text per word.
type wordCounter struct {
	words  []string
	byLead map[rune][]int // word indexes by first character
	lead   [1 << 16 / 64]uint64
	wide   bool // some word starts outside the basic plane
}

func newWordCounter(words []string) *wordCounter {
	c := &wordCounter{words: words, byLead: map[rune][]int{}}
	for i, w := range words {
		if w == "" {
			continue
		}
		r, _ := utf8.DecodeRuneInString(w)
		c.byLead[r] = append(c.byLead[r], i)
		if r < 1<<16 {
			c.lead[r/64] |= 1 << (r % 64)
		} else {
			c.wide = true
		}
	}
	return c
}

// Count returns the occurrences of each word in text, by the words' order.
func (c *wordCounter) Count(text string) []int {
	counts := make([]int, len(c.words))
	ends := make([]int, len(c.words)) // where each word's last counted occurrence ends
	for i, r := range text {
		if r < 1<<16 {
			if c.lead[r/64]&(1<<(r%64)) == 0 {
				continue
			}
		} else if !c.wide {
			continue
		}
		for _, k := range c.byLead[r] {
			if i >= ends[k] && strings.HasPrefix(text[i:], c.words[k]) {
				counts[k]++
				ends[k] = i + len(c.words[k])
			}
		}
	}
	return counts
}

// counters keeps the counter of each word list in use (the taxonomy and
// the lexicon change rarely; a full cache is emptied).
var counters sync.Map

func counterFor(words []string) *wordCounter {
	key := strings.Join(words, "\x00")
	if c, ok := counters.Load(key); ok {
		return c.(*wordCounter)
	}
	c := newWordCounter(words)
	n := 0
	counters.Range(func(any, any) bool { n++; return n < 64 })
	if n >= 64 {
		counters.Clear()
	}
	counters.Store(key, c)
	return c
}
