package monitor

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// OpenCC's traditional-to-simplified dictionaries (Apache-2.0; see
// data/SOURCES.md): phrases first, then single characters.
var (
	//go:embed data/TSPhrases.txt
	tsPhrases []byte
	//go:embed data/TSCharacters.txt
	tsCharacters []byte
)

// t2sTable is OpenCC's traditional-to-simplified conversion ("t2s": one
// group of the dictionaries TSPhrases and TSCharacters) read into maps.
// It converts as OpenCC's and the former Go port's forward maximum
// matching did: at each place the first dictionary of the group that has
// a key there gives its longest key, at most 10 characters, and the
// first of that key's values; else the character is kept.
type t2sTable struct {
	groups [][]phraseDict // applied one after the other
}

type phraseDict struct {
	m       map[string]string
	longest map[rune]int // the longest key, in characters, by first character
}

// openccWindow is how many characters the conversion looks ahead.
const openccWindow = 10

// newT2STable reads the embedded dictionaries.
func newT2STable() (*t2sTable, error) {
	var group []phraseDict
	for _, f := range []struct {
		name string
		data []byte
	}{{"TSPhrases.txt", tsPhrases}, {"TSCharacters.txt", tsCharacters}} {
		d, err := readDict(f.data)
		if err != nil {
			return nil, fmt.Errorf("monitor: %s: %w", f.name, err)
		}
		group = append(group, d)
	}
	return &t2sTable{groups: [][]phraseDict{group}}, nil
}

// readDict reads an OpenCC text dictionary: a line is a key, a tab and
// its values separated by spaces (the first is the conversion). A key
// given twice keeps its last line.
func readDict(data []byte) (phraseDict, error) {
	d := phraseDict{m: map[string]string{}, longest: map[rune]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, vals, ok := strings.Cut(line, "\t")
		fields := strings.Fields(vals)
		if !ok || key == "" || len(fields) == 0 || !utf8.ValidString(line) {
			return d, fmt.Errorf("line %d: not \"key<TAB>value ...\"", n)
		}
		d.m[key] = fields[0]
		r, _ := utf8.DecodeRuneInString(key)
		d.longest[r] = max(d.longest[r], utf8.RuneCountInString(key))
	}
	if err := sc.Err(); err != nil {
		return d, err
	}
	if len(d.m) == 0 {
		return d, fmt.Errorf("empty dictionary")
	}
	return d, nil
}

// convert converts text; invalid UTF-8 bytes become U+FFFD first.
func (t *t2sTable) convert(s string) string {
	if !utf8.ValidString(s) {
		s = string([]rune(s))
	}
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

// s2tChars is the inverse of TSCharacters, character by character: each
// simplified character to the first traditional one listed for it.
var s2tChars = sync.OnceValue(func() map[rune]rune {
	m := map[rune]rune{}
	sc := bufio.NewScanner(bytes.NewReader(tsCharacters))
	for sc.Scan() {
		trad, vals, ok := strings.Cut(sc.Text(), "\t")
		for _, simp := range strings.Fields(vals) {
			t, tn := utf8.DecodeRuneInString(trad)
			s, sn := utf8.DecodeRuneInString(simp)
			if ok && tn == len(trad) && sn == len(simp) && t != s {
				if _, have := m[s]; !have {
					m[s] = t
				}
			}
		}
	}
	return m
})

// Traditional writes simplified text in traditional characters, one
// character at a time (the first traditional form TSCharacters lists for
// each): not OpenCC's s2t, which knows phrases, but enough to make
// traditional-script text for tests and the benchmark.
func Traditional(s string) string {
	m := s2tChars()
	return strings.Map(func(r rune) rune {
		if t, ok := m[r]; ok {
			return t
		}
		return r
	}, s)
}
