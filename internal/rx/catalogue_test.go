package rx_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/yunyi-health/yunyi/internal/rx"
)

func loadCatalogue(t *testing.T) *rx.Catalogue {
	t.Helper()
	c, err := rx.LoadCatalogue()
	if err != nil {
		t.Fatalf("the shipped catalogue does not load: %v", err)
	}
	return c
}

// The shipped tables load, are large enough, and every row has what the
// prescription checks need.
func TestCatalogueLoads(t *testing.T) {
	c := loadCatalogue(t)
	all := c.All()
	if len(all) < 250 {
		t.Fatalf("%d drugs, want at least 250", len(all))
	}
	if n := len(c.Interactions()); n < 20 || n > 40 {
		t.Errorf("%d interactions, want 20 to 40", n)
	}
	if rx.DefaultCatalogue() != rx.DefaultCatalogue() {
		t.Error("DefaultCatalogue loads more than once")
	}
	if got := len(rx.DefaultCatalogue().All()); got != len(all) {
		t.Errorf("DefaultCatalogue has %d drugs, LoadCatalogue %d", got, len(all))
	}
	seen := map[string]bool{}
	controlled := 0
	for _, d := range all {
		if seen[d.Code] {
			t.Errorf("code %s twice", d.Code)
		}
		seen[d.Code] = true
		if got, ok := c.Drug(d.Code); !ok || got.Code != d.Code {
			t.Errorf("Drug(%q) does not find it", d.Code)
		}
		if strings.TrimSpace(d.Source) == "" {
			t.Errorf("%s has no source", d.Code)
		}
		if d.NameZH == "" || d.Generic == "" || len(d.Ingredients) == 0 || d.DoseUnit == "" || d.Unit == "" || d.Form == "" {
			t.Errorf("%s: incomplete row %+v", d.Code, d)
		}
		if !slices.Contains(rx.CatalogueRoutes, d.Route) {
			t.Errorf("%s: route %q", d.Code, d.Route)
		}
		if !slices.Contains(rx.ControlClasses, d.Control) {
			t.Errorf("%s: control %q", d.Code, d.Control)
		}
		if d.Control != rx.NoControl {
			controlled++
			if !slices.Contains(d.Tags, "controlled") {
				t.Errorf("%s is %s but not tagged controlled", d.Code, d.Control)
			}
		}
		if d.PaedMin < 0 || d.PaedMin > d.PaedMax || (d.PaedMax > 0) != (d.PaedMin > 0) {
			t.Errorf("%s: paediatric range %v–%v", d.Code, d.PaedMin, d.PaedMax)
		}
		if len(d.Tags) == 0 {
			t.Errorf("%s has no tag", d.Code)
		}
		for _, tag := range d.Tags {
			if !slices.Contains(rx.CatalogueTags, tag) {
				t.Errorf("%s: tag %q", d.Code, tag)
			}
		}
		for _, ing := range d.Ingredients {
			if ing == "" || ing != strings.ToLower(ing) {
				t.Errorf("%s: ingredient %q", d.Code, ing)
			}
		}
	}
	if controlled < 25 || controlled > 45 {
		t.Errorf("%d controlled or high-risk rows, want about 25 to 40", controlled)
	}
	if _, ok := c.Drug("no-such-drug"); ok {
		t.Error("Drug finds an unknown code")
	}
}

// Initials are lower-case letters, one per Chinese character of the name
// (the letters themselves were checked against go-pinyin outside the repo,
// polyphones by hand; see data/SOURCES.md), and a few known ones.
func TestCatalogueInitials(t *testing.T) {
	c := loadCatalogue(t)
	for _, d := range c.All() {
		han := 0
		for _, r := range d.NameZH {
			if unicode.Is(unicode.Han, r) {
				han++
			}
		}
		if len(d.Initials) != han {
			t.Errorf("%s %s: initials %q for %d characters", d.Code, d.NameZH, d.Initials, han)
		}
		for _, r := range d.Initials {
			if r < 'a' || r > 'z' {
				t.Errorf("%s: initials %q", d.Code, d.Initials)
				break
			}
		}
	}
	known := map[string]string{
		"盐酸西替利嗪口服溶液": "ysxtlqkfry",
		"醋酸地塞米松片":    "csdsmsp",    // 地 d
		"氯雷他定片":      "lltdp",      // 氯 l
		"重组人生长激素注射液": "czrszjszsy", // 重组 c, 生长 z
		"枸橼酸西地那非片":   "jysxdnfp",   // 枸橼 j
		"复方多粘菌素B软膏":  "ffdnjsrg",   // 粘 = 黏 n
		"乳酸依沙吖啶溶液":   "rsysadry",   // 吖啶 a
		"单硝酸异山梨酯缓释片": "dxsyslzhsp",
		"盐酸吡格列酮片":    "ysbgltp", // 吡 b
	}
	found := 0
	for _, d := range c.All() {
		if want, ok := known[d.NameZH]; ok {
			found++
			if d.Initials != want {
				t.Errorf("%s: initials %q, want %q", d.NameZH, d.Initials, want)
			}
		}
	}
	if found < len(known) {
		t.Errorf("only %d of the %d names checked are in the catalogue", found, len(known))
	}
}

// Control classes of the real national catalogues (data/SOURCES.md).
func TestCatalogueControlClasses(t *testing.T) {
	c := loadCatalogue(t)
	classOf := func(generic string) map[rx.ControlClass]bool {
		out := map[rx.ControlClass]bool{}
		for _, d := range c.All() {
			if d.Generic == generic && len(d.Ingredients) == 1 {
				out[d.Control] = true
			}
		}
		return out
	}
	cases := []struct {
		generic string
		want    rx.ControlClass
		why     string
	}{
		{"morphine", rx.Narcotic, "麻醉药品品种目录"},
		{"fentanyl", rx.Narcotic, "麻醉药品品种目录"},
		{"pethidine", rx.Narcotic, "麻醉药品品种目录"},
		{"codeine", rx.Narcotic, "麻醉药品品种目录 (single-ingredient codeine)"},
		{"oxycodone", rx.Narcotic, "麻醉药品品种目录"},
		{"hydromorphone", rx.Narcotic, "麻醉药品品种目录"},
		{"sufentanil", rx.Narcotic, "麻醉药品品种目录"},
		{"methylphenidate", rx.Psychotropic1, "精神药品品种目录 第一类"},
		{"ketamine", rx.Psychotropic1, "精神药品品种目录 第一类"},
		{"diazepam", rx.Psychotropic2, "精神药品品种目录 第二类"},
		{"alprazolam", rx.Psychotropic2, "精神药品品种目录 第二类"},
		{"estazolam", rx.Psychotropic2, "精神药品品种目录 第二类"},
		{"zolpidem", rx.Psychotropic2, "精神药品品种目录 第二类"},
		{"zopiclone", rx.Psychotropic2, "精神药品品种目录 第二类"},
		{"tramadol", rx.Psychotropic2, "精神药品品种目录 第二类"},
		{"phenobarbital", rx.Psychotropic2, "精神药品品种目录 第二类"},
		{"midazolam", rx.Psychotropic2, "精神药品品种目录 第二类 (oral)"},
		{"dextromethorphan", rx.Psychotropic2, "2024 addition to 第二类"},
		{"arsenic trioxide", rx.Toxic, "医疗用毒性药品管理办法"},
		{"botulinum toxin type a", rx.Toxic, "A型肉毒毒素按毒性药品管理"},
		{"sodium iodide (131i)", rx.Radioactive, "放射性药品管理办法"},
		{"ephedrine", rx.Precursor, "药品类易制毒化学品: single-ingredient ephedrine"},
		{"warfarin", rx.HighRisk, "高警示药品: anticoagulant"},
		{"insulin glargine", rx.HighRisk, "高警示药品: insulin"},
		{"methotrexate", rx.HighRisk, "高警示药品: oral methotrexate, non-oncology"},
		{"somatropin", rx.Special, "反兴奋剂条例: peptide hormone"},
		{"cetirizine", rx.NoControl, "ordinary"},
		{"amoxicillin", rx.NoControl, "ordinary"},
		{"metformin", rx.NoControl, "ordinary"},
	}
	for _, tc := range cases {
		got := classOf(tc.generic)
		if len(got) != 1 || !got[tc.want] {
			t.Errorf("%s: classes %v, want only %s (%s)", tc.generic, got, tc.want, tc.why)
		}
	}
	// Compound products: codeine in an oral liquid is psychotropic II (2015),
	// oxycodone ≤ 5 mg with paracetamol psychotropic II (2019), and a
	// compound pseudoephedrine product is not a precursor chemical.
	for _, d := range c.All() {
		switch {
		case slices.Contains(d.Ingredients, "codeine") && len(d.Ingredients) > 1:
			if d.Control != rx.Psychotropic2 {
				t.Errorf("%s: %s, want psychotropic_2", d.Code, d.Control)
			}
		case slices.Contains(d.Ingredients, "oxycodone") && len(d.Ingredients) > 1:
			if d.Control != rx.Psychotropic2 {
				t.Errorf("%s: %s, want psychotropic_2", d.Code, d.Control)
			}
		case slices.Contains(d.Ingredients, "pseudoephedrine"):
			if d.Control == rx.Precursor {
				t.Errorf("%s: a compound pseudoephedrine product is not a precursor", d.Code)
			}
		}
	}
}

func TestCatalogueSearch(t *testing.T) {
	c := loadCatalogue(t)
	has := func(list []rx.Drug, generic string) bool {
		for _, d := range list {
			if d.Generic == generic {
				return true
			}
		}
		return false
	}
	cases := []struct {
		q     string
		want  string // a generic among the results
		first string // the first result's generic, when it matters
	}{
		{"西替利嗪", "cetirizine", ""},
		{"xtlq", "cetirizine", "cetirizine"},
		{"XT", "cetirizine", ""},
		{"ysxtlq", "cetirizine", "cetirizine"},
		{"cetiri", "cetirizine", "cetirizine"},
		{"Cetirizine", "cetirizine", "cetirizine"},
		{"cetirizine-oral-solution-1mg-ml", "cetirizine", "cetirizine"},
		{"布洛芬", "ibuprofen", ""},
		{"amox", "amoxicillin", ""},
		{"amxl", "amoxicillin", "amoxicillin"},
		{"华法林", "warfarin", "warfarin"},
		{"czrszjs", "somatropin", "somatropin"},
		{"ebst", "irbesartan", "irbesartan"},
	}
	for _, tc := range cases {
		got := c.Search(tc.q, 50)
		if !has(got, tc.want) {
			t.Errorf("Search(%q) does not find %s: %d results", tc.q, tc.want, len(got))
			continue
		}
		if tc.first != "" && got[0].Generic != tc.first {
			t.Errorf("Search(%q) first %s (%s), want %s", tc.q, got[0].Generic, got[0].NameZH, tc.first)
		}
	}
	// "cetiri" is a prefix of cetirizine but only inside levocetirizine:
	// every cetirizine comes before the first levocetirizine.
	got := c.Search("cetiri", 0)
	lastCet, firstLevo := -1, len(got)
	for i, d := range got {
		if d.Generic == "cetirizine" {
			lastCet = i
		}
		if d.Generic == "levocetirizine" && i < firstLevo {
			firstLevo = i
		}
	}
	if lastCet < 0 || firstLevo == len(got) || lastCet > firstLevo {
		t.Errorf("cetiri: prefix matches must come before substrings: %v", generics(got))
	}
	if r := c.Search("", 10); len(r) != 0 {
		t.Errorf("an empty query found %d", len(r))
	}
	if r := c.Search("   ", 10); len(r) != 0 {
		t.Errorf("a blank query found %d", len(r))
	}
	if r := c.Search("zzzzqqqq", 10); len(r) != 0 {
		t.Errorf("nonsense found %d", len(r))
	}
	if r := c.Search("片", 5); len(r) != 5 {
		t.Errorf("limit 5 gave %d", len(r))
	}
	// Deterministic.
	a, b := c.Search("sh", 0), c.Search("sh", 0)
	if !slices.Equal(codes(a), codes(b)) {
		t.Error("two searches differ")
	}
}

func generics(list []rx.Drug) []string {
	var out []string
	for _, d := range list {
		out = append(out, d.Generic)
	}
	return out
}

func codes(list []rx.Drug) []string {
	var out []string
	for _, d := range list {
		out = append(out, d.Code)
	}
	return out
}

func TestCatalogueInteractions(t *testing.T) {
	c := loadCatalogue(t)
	ingredients := map[string]bool{}
	for _, d := range c.All() {
		for _, ing := range d.Ingredients {
			ingredients[ing] = true
		}
	}
	pairs := map[[2]string]bool{}
	for _, x := range c.Interactions() {
		if !ingredients[x.A] || !ingredients[x.B] {
			t.Errorf("%s + %s: an ingredient in no catalogue drug", x.A, x.B)
		}
		if x.Severity != "high" && x.Severity != "moderate" {
			t.Errorf("%s + %s: severity %q", x.A, x.B, x.Severity)
		}
		if x.MessageZH == "" || x.MessageEN == "" || x.Source == "" {
			t.Errorf("%s + %s: missing message or source", x.A, x.B)
		}
		k := [2]string{min(x.A, x.B), max(x.A, x.B)}
		if pairs[k] {
			t.Errorf("%s + %s twice", x.A, x.B)
		}
		pairs[k] = true
	}
	cases := []struct {
		ingredients []string
		want        [][2]string
	}{
		{[]string{"warfarin", "aspirin"}, [][2]string{{"warfarin", "aspirin"}}},
		{[]string{"aspirin", "warfarin"}, [][2]string{{"warfarin", "aspirin"}}},
		{[]string{"omeprazole", "clopidogrel"}, [][2]string{{"clopidogrel", "omeprazole"}}},
		{[]string{"clarithromycin", "simvastatin"}, [][2]string{{"simvastatin", "clarithromycin"}}},
		// co-trimoxazole's two ingredients: trimethoprim with methotrexate,
		// sulfamethoxazole with warfarin.
		{[]string{"sulfamethoxazole", "trimethoprim", "methotrexate", "warfarin"},
			[][2]string{{"warfarin", "sulfamethoxazole"}, {"methotrexate", "trimethoprim"}}},
		{[]string{"warfarin", "aspirin", "ibuprofen", "warfarin", "aspirin"},
			[][2]string{{"warfarin", "aspirin"}, {"warfarin", "ibuprofen"}}},
		{[]string{"cetirizine", "amoxicillin"}, nil},
		{[]string{"warfarin"}, nil},
		{nil, nil},
	}
	for _, tc := range cases {
		got := c.InteractionsAmong(tc.ingredients)
		if len(got) != len(tc.want) {
			t.Errorf("%v: %d interactions, want %d: %v", tc.ingredients, len(got), len(tc.want), got)
			continue
		}
		for _, w := range tc.want {
			found := false
			for _, x := range got {
				found = found || (x.A == w[0] && x.B == w[1])
			}
			if !found {
				t.Errorf("%v: %s + %s not found in %v", tc.ingredients, w[0], w[1], got)
			}
		}
	}
	// Every row of the table is found among its own two ingredients.
	for _, x := range c.Interactions() {
		if got := c.InteractionsAmong([]string{x.B, x.A}); len(got) != 1 || got[0] != x {
			t.Errorf("%s + %s: InteractionsAmong gives %v", x.A, x.B, got)
		}
	}
}

// The drugs the prescription tests rely on: an oral amoxicillin and
// ibuprofen with paediatric ranges in mg that hold the usual doses, two
// single-ingredient cetirizine products, morphine and diazepam, warfarin
// and aspirin by mouth.
func TestCatalogueTestDrugs(t *testing.T) {
	c := loadCatalogue(t)
	find := func(generic string, paed bool) []rx.Drug {
		var out []rx.Drug
		for _, d := range c.All() {
			if d.Generic == generic && len(d.Ingredients) == 1 && (!paed || d.PaedMax > 0) {
				out = append(out, d)
			}
		}
		return out
	}
	for _, g := range []string{"amoxicillin", "ibuprofen", "paracetamol"} {
		ds := find(g, true)
		if len(ds) == 0 || ds[0].Route != "oral" || ds[0].DoseUnit != "mg" {
			t.Errorf("%s: no oral product with a paediatric range in mg", g)
		}
	}
	if d := find("amoxicillin", true); len(d) > 0 && (30 < d[0].PaedMin || 30 > d[0].PaedMax) {
		t.Errorf("amoxicillin 30 mg/kg/day outside %v–%v", d[0].PaedMin, d[0].PaedMax)
	}
	if d := find("ibuprofen", true); len(d) > 0 && (d[0].PaedMin != 20 || d[0].PaedMax != 40) {
		t.Errorf("ibuprofen range %v–%v, want 20–40 mg/kg/day", d[0].PaedMin, d[0].PaedMax)
	}
	if n := len(find("cetirizine", false)); n < 2 {
		t.Errorf("%d single-ingredient cetirizine products, want 2 or more", n)
	}
	for _, g := range []string{"morphine", "diazepam", "warfarin", "aspirin"} {
		if len(find(g, false)) == 0 {
			t.Errorf("no %s", g)
		}
	}
	if d, ok := c.Drug("cetirizine-oral-solution-1mg-ml"); !ok || d.NameZH != "盐酸西替利嗪口服溶液" {
		t.Errorf("cetirizine-oral-solution-1mg-ml: %+v", d)
	}
}
