package monitor

import (
	"hash/fnv"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeTraditionalAndFullWidth(t *testing.T) {
	got := Normalize("北京市試點互聯網診療首診服務　ＡＢＣ１２３")
	if got != "北京市试点互联网诊疗首诊服务 ABC123" {
		t.Fatalf("%q", got)
	}
}

func TestTokensAndSimHash(t *testing.T) {
	a := Tokens(Normalize("北京多所医院开通互联网诊疗，开放部分科室复诊服务。互联网医院更为便捷。"))
	joined := strings.Join(a, "|")
	if !strings.Contains(joined, "互联网") || !strings.Contains(joined, "医院") {
		t.Fatalf("%v", a)
	}
	b := Tokens(Normalize("北京多所医院开通互联网诊疗，开放部分科室复诊服务！互联网医院更为便捷。"))
	c := Tokens(Normalize("今日天气晴朗，适合户外运动，公园里游人如织，孩子们在草地上放风筝。"))
	_, _ = b, c
	long := strings.Repeat("北京多所医院开通互联网诊疗，开放部分科室复诊服务。互联网医院更为便捷，患者足不出户即可复诊开药。", 5)
	repost := strings.Replace(long, "更为便捷", "更加便捷", 1) + "（来源：健康北京）"
	other := strings.Repeat("今日天气晴朗，适合户外运动，公园里游人如织，孩子们在草地上放风筝。", 5)
	if Fingerprint(long) != SimHash(Shingles(long)) {
		t.Fatal("Fingerprint must equal SimHash of the shingles")
	}
	if !NearDuplicate(SimHash(Shingles(long)), SimHash(Shingles(repost))) {
		t.Fatal("a repost must be a near duplicate")
	}
	if NearDuplicate(SimHash(Shingles(long)), SimHash(Shingles(other))) {
		t.Fatal("different texts are not duplicates")
	}
}

func TestSummarizeUsesOwnSentences(t *testing.T) {
	raw, err := os.ReadFile("../../../shared/seeds/000_084e12d233652512.txt")
	if err != nil {
		t.Skip(err)
	}
	text := Normalize(string(raw))
	s := Summarize(text, 200)
	if s == "" || len([]rune(s)) > 260 {
		t.Fatalf("summary %q", s)
	}
	rest := s
	for _, sent := range Sentences(text) {
		rest = strings.Replace(rest, sent, "", 1)
	}
	if strings.TrimSpace(rest) != "" {
		t.Fatalf("not made of the article's own sentences: %q", rest)
	}
}

func TestChineseNumber(t *testing.T) {
	for n, want := range map[int]string{1: "一", 10: "十", 11: "十一", 20: "二十", 27: "二十七", 99: "九十九", 100: "一百", 105: "一百零五", 110: "一百一十", 1001: "一千零一"} {
		if got := ChineseNumber(n); got != want {
			t.Errorf("%d: %s, want %s", n, got, want)
		}
	}
}

func TestSentiment(t *testing.T) {
	l := DefaultLexicon()
	if s, w := l.Classify("互联网医院更为便捷、高效，惠及更多患者"); s != Positive || len(w) != 3 {
		t.Fatalf("%s %v", s, w)
	}
	if s, w := l.Classify("某医院互联网诊疗平台发生患者信息泄露，被责令整改"); s != Negative || len(w) != 2 {
		t.Fatalf("%s %v", s, w)
	}
	if s, _ := l.Classify("北京市卫生健康委发布通知"); s != Neutral {
		t.Fatalf("%s", s)
	}
}

// The counting four bits to a word flushes before a lane overflows: a text
// of more than 65,535 bigrams still fingerprints as SimHash does.
func TestFingerprintLong(t *testing.T) {
	long := strings.Repeat("互联网医院远程医疗电子处方ABC123，", 8000) // > 65535 bigrams
	if Fingerprint(long) != SimHash(Shingles(long)) {
		t.Fatal("long")
	}
	for _, s := range []string{"", "a", "ab", "数字医学", "推动“云医疗”有序发展"} {
		if Fingerprint(s) != SimHash(Shingles(s)) {
			t.Fatal(s)
		}
	}
}

// The summary's word hashes read from the segmenter's offsets are the
// hashes of Tokens' words of two or more characters.
func TestWordHashesMatchTokens(t *testing.T) {
	for _, s := range []string{"北京多所医院开通互联网诊疗，开放部分科室复诊服务。", "5G 与 AI 助力远程医疗：Beijing Health Commission 发布通知！", ""} {
		var want []uint64
		for _, w := range Tokens(s) {
			if utf8.RuneCountInString(w) >= 2 {
				h := fnv.New64a()
				h.Write([]byte(w))
				want = append(want, h.Sum64())
			}
		}
		got := wordHashes(s)
		if len(got) != len(want) {
			t.Fatalf("%q: %d hashes, want %d", s, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q: hash %d differs", s, i)
			}
		}
	}
}

func TestCollapseSpaces(t *testing.T) {
	re := regexp.MustCompile(`[ \t\x{3000}\x{00a0}]+`)
	for _, s := range []string{"", " ", "互联网医院", " 互联网 医院 ", "互联网  医院", "a\tb", "互联网\u3000医院", "a\u00a0 \tb",
		"\u3000\u3000首诊\u3000", "line\n  next", "x \u3000"} {
		want := strings.TrimSpace(re.ReplaceAllString(s, " "))
		if got := collapseSpaces(s); got != want {
			t.Errorf("collapseSpaces(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestWordCounterIsStringsCount(t *testing.T) {
	words := []string{"互联网", "互联网医院", "医院", "哈哈", "5g", "a", "aa", "😀x", "院"}
	for _, text := range []string{"", "互联网医院和互联网诊疗，医院医院", "哈哈哈哈哈", "5g5g 5G", "aaaaa", "😀x😀😀x", "院院互联网医院院"} {
		got := newWordCounter(words).Count(text)
		for i, w := range words {
			if want := strings.Count(text, w); got[i] != want {
				t.Errorf("Count(%q)[%q] = %d, strings.Count = %d", text, w, got[i], want)
			}
		}
	}
}

func TestSentencesAsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`[^。！？!?\n]+[。！？!?]*`)
	seed, _ := os.ReadFile("../../../shared/seeds/000_084e12d233652512.txt")
	for _, text := range []string{"", "。。。", "短句。", "这是第一句很长的话。这是第二句也很长吧！？\n第三句没有结束标记但很长",
		"！！开头是标记的一句话很长很长。", "Is this an English sentence? Yes it is!\n\n  spaced  line of words  ", string(seed)} {
		var want []string
		for _, s := range re.FindAllString(text, -1) {
			if s = strings.TrimSpace(s); utf8.RuneCountInString(s) >= 8 {
				want = append(want, s)
			}
		}
		if got := Sentences(text); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("Sentences(%.30q) = %q, want %q", text, got, want)
		}
	}
}
