package monitor

import (
	"hash/fnv"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-ego/gse"
	"golang.org/x/text/width"
)

// Text processing of the monitoring pipeline: normalisation (traditional
// characters to simplified, full-width forms folded), segmentation (gse),
// near-duplicate fingerprints (SimHash) and extractive summaries
// (TextRank over sentences).

// The converter and the segmenter load their dictionaries on first use
// (the segmenter's takes a second or two and tens of megabytes).
var (
	t2sOnce sync.Once
	t2sFast *t2sTable // OpenCC's t2s dictionaries read into maps
	t2sErr  error
	segOnce sync.Once
	seg     gse.Segmenter
	segErr  error
)

func converter() (*t2sTable, error) {
	t2sOnce.Do(func() {
		t2sFast, t2sErr = newT2STable()
		if t2sErr != nil {
			return
		}
		// The characters t2s changes, found once by converting the CJK
		// block: a text with none of them is converted by returning it.
		var block []rune
		for r := rune(0x4E00); r <= 0x9FFF; r++ {
			block = append(block, r)
		}
		if conv := []rune(t2sFast.convert(string(block))); len(conv) == len(block) {
			traditional = new([(0x9FFF - 0x4E00 + 64) / 64]uint64)
			for i, r := range block {
				if conv[i] != r {
					traditional[(r-0x4E00)/64] |= 1 << ((r - 0x4E00) % 64)
				}
			}
		}
	})
	return t2sFast, t2sErr
}

// traditional is the set of CJK characters that t2s converts, a bit per
// character from U+4E00 (nil: unknown, convert everything).
var traditional *[(0x9FFF - 0x4E00 + 64) / 64]uint64

func hasTraditional(s string) bool {
	if traditional == nil {
		return true
	}
	for _, r := range s {
		if r >= 0x4E00 && r <= 0x9FFF && traditional[(r-0x4E00)/64]&(1<<((r-0x4E00)%64)) != 0 {
			return true
		}
	}
	return false
}

func segmenter() (*gse.Segmenter, error) {
	segOnce.Do(func() { seg, segErr = gse.NewEmbed("zh_s") })
	return &seg, segErr
}

// collapseSpaces replaces each run of spaces, tabs, ideographic and
// no-break spaces with one space and trims the ends; text that needs no
// change is returned as it is.
func collapseSpaces(s string) string {
	isSpace := func(r rune) bool { return r == ' ' || r == '\t' || r == '\u3000' || r == '\u00a0' }
	clean := true
	prev := false
	for _, r := range s {
		sp := isSpace(r)
		if sp && (prev || r != ' ') {
			clean = false
			break
		}
		prev = sp
	}
	if clean {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	prev = false
	for _, r := range s {
		if isSpace(r) {
			if !prev {
				b.WriteByte(' ')
			}
			prev = true
			continue
		}
		prev = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// Simplify converts traditional characters to simplified and collapses
// runs of spaces: the text as shown (Chinese punctuation kept).
func Simplify(s string) string {
	if t, err := converter(); err == nil && hasTraditional(s) {
		s = t.convert(s)
	}
	return collapseSpaces(s)
}

// Normalize is Simplify with full-width letters, digits and punctuation
// folded to their normal width: the text as analysed (matched, scored,
// fingerprinted).
func Normalize(s string) string { return fold(Simplify(s)) }

// fold is Normalize for text already simplified.
func fold(s string) string {
	return collapseSpaces(width.Fold.String(s))
}

// Tokens segments normalised text into words, dropping punctuation and
// spaces.
func Tokens(s string) []string {
	sg, err := segmenter()
	if err != nil {
		return strings.Fields(s)
	}
	var out []string
	for _, w := range gse.ToSlice(sg.Segment([]byte(s)), false) {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsPunct(r) || unicode.IsSymbol(r) {
			continue
		}
		out = append(out, strings.ToLower(w))
	}
	return out
}

// wordHashes are the FNV-1a hashes of the words of two or more characters
// of s, as Tokens would give them (lower-cased, no punctuation), read from
// the segmenter's byte offsets without building the words.
func wordHashes(s string) []uint64 {
	sg, err := segmenter()
	if err != nil {
		var out []uint64
		for _, t := range Tokens(s) {
			if utf8.RuneCountInString(t) >= 2 {
				out = append(out, fnvLower(t))
			}
		}
		return out
	}
	b := []byte(s)
	segs := sg.Segment(b)
	out := make([]uint64, 0, len(segs))
	for i := range segs {
		w := strings.TrimSpace(s[segs[i].Start():segs[i].End()])
		if utf8.RuneCountInString(w) < 2 {
			continue
		}
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsPunct(r) || unicode.IsSymbol(r) {
			continue
		}
		out = append(out, fnvLower(w))
	}
	return out
}

// fnvLower is FNV-1a of strings.ToLower(w), without the copy for text
// that has no upper-case letters (Chinese, digits).
func fnvLower(w string) uint64 {
	for _, r := range w {
		if unicode.IsUpper(r) {
			w = strings.ToLower(w)
			break
		}
	}
	x := uint64(14695981039346656037)
	for i := 0; i < len(w); i++ {
		x ^= uint64(w[i])
		x *= 1099511628211
	}
	return x
}

// Shingles are the character bigrams of a text's letters and digits: the
// features of its fingerprint (no dictionary needed, robust to reposts
// that change a word or the punctuation).
func Shingles(s string) []string {
	var rs []rune
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			rs = append(rs, unicode.ToLower(r))
		}
	}
	out := make([]string, 0, len(rs))
	for i := 0; i+1 < len(rs); i++ {
		out = append(out, string(rs[i:i+2]))
	}
	return out
}

// nibbleLanes spreads a nibble's four bits over four 16-bit lanes.
var nibbleLanes = func() (t [16]uint64) {
	for n := range t {
		for j := 0; j < 4; j++ {
			if n&(1<<j) != 0 {
				t[n] |= 1 << (16 * j)
			}
		}
	}
	return t
}()

// Fingerprint is SimHash(Shingles(s)) without building the shingles: the
// character bigrams are hashed as they are read, and the bits set in each
// position are counted four positions to a word (a nibble at a time), a
// quarter of the additions of one counter per bit.
func Fingerprint(s string) uint64 {
	var acc [16]uint64 // acc[n] lane j counts hashes with bit 4n+j set
	var ones [64]int64
	flush := func() {
		for n := range acc {
			for j := 0; j < 4; j++ {
				ones[4*n+j] += int64((acc[n] >> (16 * j)) & 0xffff)
			}
			acc[n] = 0
		}
	}
	total, pending := int64(0), 0
	var prev rune = -1
	var buf [8]byte
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			continue
		}
		r = unicode.ToLower(r)
		if prev >= 0 {
			// FNV-1a over the bigram's UTF-8 bytes, as SimHash hashes its string.
			x := uint64(14695981039346656037)
			n := utf8.EncodeRune(buf[:], prev)
			n += utf8.EncodeRune(buf[n:], r)
			for _, c := range buf[:n] {
				x ^= uint64(c)
				x *= 1099511628211
			}
			for k := range acc {
				acc[k] += nibbleLanes[(x>>(4*k))&0xf]
			}
			total++
			if pending++; pending == 0xffff { // before a lane overflows
				flush()
				pending = 0
			}
		}
		prev = r
	}
	flush()
	var out uint64
	for i := 0; i < 64; i++ {
		if 2*ones[i] > total { // more hashes with the bit than without
			out |= 1 << uint(i)
		}
	}
	return out
}

// SimHash is a 64-bit fingerprint of a token multiset: near-identical
// texts have fingerprints a few bits apart.
func SimHash(tokens []string) uint64 {
	var v [64]int
	for _, t := range tokens {
		if utf8.RuneCountInString(t) < 2 {
			continue // single characters carry little of the text
		}
		h := fnv.New64a()
		h.Write([]byte(t))
		x := h.Sum64()
		for i := 0; i < 64; i++ {
			if x&(1<<uint(i)) != 0 {
				v[i]++
			} else {
				v[i]--
			}
		}
	}
	var out uint64
	for i := 0; i < 64; i++ {
		if v[i] > 0 {
			out |= 1 << uint(i)
		}
	}
	return out
}

// NearDuplicate reports whether two fingerprints are within the distance
// of reposts of one article.
func NearDuplicate(a, b uint64) bool { return bits.OnesCount64(a^b) <= 3 }

// Sentences splits text into sentences: each runs to its end marks
// (。！？!?, kept) or to a line break, and has eight characters or more.
func Sentences(text string) []string {
	isEnd := func(r rune) bool { return r == '。' || r == '！' || r == '？' || r == '!' || r == '?' }
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); utf8.RuneCountInString(s) >= 8 {
			out = append(out, s)
		}
	}
	start, ending := -1, false // start of the sentence read; in its end marks
	for i, r := range text {
		switch {
		case r == '\n':
			if start >= 0 {
				add(text[start:i])
			}
			start, ending = -1, false
		case isEnd(r):
			if start >= 0 {
				ending = true
			}
		default:
			if ending {
				add(text[start:i])
				start, ending = -1, false
			}
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		add(text[start:])
	}
	return out
}

// SummarySentences bounds the sentences TextRank ranks (an article's lead
// and body up to there).
const SummarySentences = 40

// Summarize picks the most central sentences of text (TextRank with
// word-overlap similarity) up to maxRunes, in their original order.
func Summarize(text string, maxRunes int) string {
	sents := Sentences(text)
	if len(sents) > SummarySentences {
		sents = sents[:SummarySentences]
	}
	if len(sents) == 0 {
		return ""
	}
	// Each sentence's words, as sorted distinct hashes: overlaps are merges.
	sets := make([][]uint64, len(sents))
	for i, s := range sents {
		hs := wordHashes(s)
		slices.Sort(hs)
		sets[i] = slices.Compact(hs)
	}
	n := len(sents)
	w := make([][]float64, n)
	for i := range w {
		w[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			a, b := sets[i], sets[j]
			if len(a) < 2 || len(b) < 2 {
				continue
			}
			common := 0
			for x, y := 0, 0; x < len(a) && y < len(b); {
				switch {
				case a[x] == b[y]:
					common++
					x++
					y++
				case a[x] < b[y]:
					x++
				default:
					y++
				}
			}
			if common == 0 {
				continue
			}
			sim := float64(common) / (logf(len(a)) + logf(len(b)))
			w[i][j], w[j][i] = sim, sim
		}
	}
	// PageRank over the weighted graph, with the row sums computed once.
	sums := make([]float64, n)
	for j := 0; j < n; j++ {
		for k := 0; k < n; k++ {
			sums[j] += w[j][k]
		}
	}
	score := make([]float64, n)
	for i := range score {
		score[i] = 1
	}
	out := make([]float64, n)
	for iter := 0; iter < 30; iter++ {
		for i := 0; i < n; i++ {
			sum := 0.0
			for j := 0; j < n; j++ {
				if w[j][i] != 0 {
					sum += w[j][i] / sums[j] * score[j]
				}
			}
			out[i] = 0.15 + 0.85*sum
		}
		copy(score, out)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
	var chosen []int
	total := 0
	for _, i := range order {
		l := utf8.RuneCountInString(sents[i])
		if total > 0 && total+l > maxRunes {
			continue
		}
		chosen = append(chosen, i)
		total += l
		if total >= maxRunes {
			break
		}
	}
	sort.Ints(chosen)
	var b strings.Builder
	for _, i := range chosen {
		b.WriteString(sents[i])
	}
	return b.String()
}

func logf(n int) float64 { return math.Log(float64(n)) + 1e-9 }
