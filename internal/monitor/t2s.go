package monitor

import (
	"strings"
	"unicode/utf8"

	"github.com/longbridgeapp/opencc"
)

// t2sTable is OpenCC's traditional-to-simplified conversion, read from the
// library's own dictionaries into maps: the same forward maximum matching
// as opencc's Convert (at each place the first dictionary of a group that
// has a key there gives its longest key, at most 10 characters; else the
// character is kept), without a map and a string allocated at every
// character, which made the library's conversion the costliest step of the
// pipeline for a traditional-script article (tested equal to it).
type t2sTable struct {
	groups [][]phraseDict // applied one after the other
}

type phraseDict struct {
	m       map[string]string
	longest map[rune]int // the longest key, in characters, by first character
}

// openccWindow is how many characters opencc's Convert looks ahead.
const openccWindow = 10

func newT2STable(cc *opencc.OpenCC) *t2sTable {
	t := &t2sTable{}
	for _, g := range cc.DictChains {
		var group []phraseDict
		for _, d := range g.Dicts {
			pd := phraseDict{m: map[string]string{}, longest: map[rune]int{}}
			for _, id := range d.Trie.PrefixPredict(nil, 0) {
				key, err := d.Trie.Key(id)
				if err != nil {
					return nil
				}
				v, err := d.Trie.Value(id)
				if err != nil || v < 0 || v >= len(d.Values) || len(d.Values[v]) == 0 {
					return nil
				}
				k := string(key)
				pd.m[k] = d.Values[v][0]
				r, _ := utf8.DecodeRuneInString(k)
				pd.longest[r] = max(pd.longest[r], utf8.RuneCountInString(k))
			}
			group = append(group, pd)
		}
		t.groups = append(t.groups, group)
	}
	return t
}

// convert converts valid UTF-8 text.
func (t *t2sTable) convert(s string) string {
	for _, g := range t.groups {
		s = convertGroup(g, s)
	}
	return s
}

func convertGroup(g []phraseDict, s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var ends [openccWindow]int
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		out, next := s[i:i+size], i+size // no key here: the character stays
	dicts:
		for _, d := range g {
			n := min(d.longest[r], openccWindow)
			if n == 0 {
				continue
			}
			// The byte ends of the first n characters from i.
			k, j := 0, i
			for k < n && j < len(s) {
				_, sz := utf8.DecodeRuneInString(s[j:])
				j += sz
				ends[k] = j
				k++
			}
			for k--; k >= 0; k-- {
				if v, ok := d.m[s[i:ends[k]]]; ok {
					out, next = v, ends[k]
					break dicts
				}
			}
		}
		b.WriteString(out)
		i = next
	}
	return b.String()
}
