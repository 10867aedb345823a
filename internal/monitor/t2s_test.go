package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// t2sCorpus is text on which the conversion is pinned: every character of
// the CJK block and of extension A in lines of 60 with punctuation and
// Latin between, and every key of TSPhrases alone, followed by its first
// character and inside traditional text.
func t2sCorpus(t *testing.T) []string {
	t.Helper()
	var block strings.Builder
	for r := rune(0x3400); r <= 0x9FFF; r++ {
		block.WriteRune(r)
		switch {
		case r%60 == 0:
			block.WriteString("。\n")
		case r%17 == 0:
			block.WriteString("，Ab9 ")
		}
	}
	var phrases strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(tsPhrases)), "\n") {
		key, _, _ := strings.Cut(line, "\t")
		first := string([]rune(key)[:1])
		phrases.WriteString(key + "、" + key + first + "、醫療" + key + "資訊。\n")
	}
	return []string{block.String(), phrases.String()}
}

// The conversion is OpenCC's t2s: examples, and the digests of what the
// former converter (github.com/longbridgeapp/opencc v0.3.13, over the same
// dictionaries) gave for the corpus and the seed documents.
func TestT2SIsOpenCC(t *testing.T) {
	tb, err := converter()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range t2sExamples {
		if got := tb.convert(c[0]); got != c[1] {
			t.Errorf("convert(%q) = %q, want %q", c[0], got, c[1])
		}
	}
	for i, c := range t2sCorpus(t) {
		if got := digest(tb.convert(c)); got != t2sCorpusDigests[i] {
			t.Errorf("corpus %d: digest %s, want %s", i, got, t2sCorpusDigests[i])
		}
	}
	for f, want := range t2sSeedDigests {
		b, err := os.ReadFile("../../../shared/seeds/" + f)
		if err != nil {
			t.Logf("seed %s not here: %v", f, err)
			continue
		}
		if got := digest(tb.convert(string(b))); got != want {
			t.Errorf("seed %s: digest %s, want %s", f, got, want)
		}
	}
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Traditional and then Simplify gives the simplified text back where no
// character has several traditional forms.
func TestTraditionalRoundTrip(t *testing.T) {
	for _, s := range []string{"北京市试点互联网诊疗首诊服务", "医疗卫生信息化", "电子处方"} {
		tr := Traditional(s)
		if tr == s {
			t.Errorf("Traditional(%q) changed nothing", s)
		}
		if got := Simplify(tr); got != s {
			t.Errorf("Simplify(Traditional(%q)) = %q (via %q)", s, got, tr)
		}
	}
}

// t2sExamples were converted by the former converter.
var t2sExamples = [][2]string{
	{"", ""},
	{"北京市試點互聯網診療首診服務", "北京市试点互联网诊疗首诊服务"},
	{"乾燥的乾隆年間，著作權與髮型", "干燥的乾隆年间，著作权与发型"},
	{"ＡＢＣ１２３ abc 123。", "ＡＢＣ１２３ abc 123。"},
	{"頭髮發達", "头发发达"},
	{"一目瞭然", "一目了然"},
	{"瞭望台", "瞭望台"},
	{"開發與開鍊", "开发与开炼"},
	{"醫療衛生資訊化", "医疗卫生资讯化"},
	{"電子處方箋", "电子处方笺"},
	{"皇后與後來", "皇后与后来"},
	{"穀物與山谷", "谷物与山谷"},
	{"麵條", "面条"},
	{"乾坤與乾淨", "乾坤与干净"},
	{"著名", "著名"},
	{"鐘錶和鍾情", "钟表和钟情"},
	{"藉口", "借口"},
	{"憑藉", "凭借"},
	{"於是", "于是"},
	{"臺灣", "台湾"},
	{"颱風", "台风"},
	{"註冊", "注册"},
	{"週末", "周末"},
	{"\xffa", "\ufffda"},
}

var t2sCorpusDigests = []string{
	"32f844e8f444e7a7cdd7d8786db52c0781cb8a8cf41932b50fd399b9ee4c3ee8",
	"b7df60f09b6cd2b8ab4f4b7ec72d081b383ba1eccdca6c1aa68253d6653f0514",
}

var t2sSeedDigests = map[string]string{
	"002_8fc21cac9b61f19b.txt": "8dbffad34cccde2aae574a74f087c3e38fa7bcdb166df07310e4ecae50a0c848",
	"000_084e12d233652512.txt": "90f61ad4aec2fcd7cb3dfb6882c91ac31164403e3f7c2b864e73609f4b1a0aed",
}
