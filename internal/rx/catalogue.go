package rx

import (
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// The shipped catalogue and interaction table (data/SOURCES.md says where
// every fact comes from).
//
//go:embed data/drugs.tsv data/interactions.tsv
var catalogueData embed.FS

const (
	catDrugsFile        = "data/drugs.tsv"
	catInteractionsFile = "data/interactions.tsv"
)

// catDrugColumns are drugs.tsv's columns, in order.
var catDrugColumns = []string{"code", "generic", "name_zh", "initials", "form", "strength", "route", "unit", "dose_unit",
	"ingredients", "control", "insurance", "paed_min_per_kg_day", "paed_max_per_kg_day", "tags", "source"}

// catInteractionColumns are interactions.tsv's columns, in order.
var catInteractionColumns = []string{"a", "b", "severity", "message_zh", "message_en", "source"}

// CatalogueRoutes are the administration routes a catalogue drug may have.
var CatalogueRoutes = []string{"oral", "topical", "inhaled", "nasal", "ophthalmic", "rectal", "injection", "transdermal", "sublingual"}

// CatalogueTags are the tags a catalogue drug may carry: the demo
// specialties it serves, and controlled.
var CatalogueTags = []string{"paed-skin", "growth", "nutrition", "allergy", "paediatric", "chronic", "neuro", "rheum", "general", "controlled"}

// catSaltPrefixes are the words a Chinese generic name may start with before
// the drug's own name (salts, esters, 复方, 注射用, 吸入用): searching by
// pinyin initials matches the name with or without them, so "xtlq" finds
// 盐酸西替利嗪滴剂. Longer prefixes first.
var catSaltPrefixes = []string{"注射用", "吸入用", "马来酸", "枸橼酸", "酒石酸", "苯磺酸", "琥珀酸", "富马酸", "甲磺酸", "氢溴酸",
	"苯甲酸", "盐酸", "硫酸", "磷酸", "醋酸", "丙酸", "丁酸", "糠酸", "草酸", "乳酸", "复方", "小儿"}

// Catalogue is the drug catalogue with its interaction table. It is read
// only once loaded and safe for concurrent use.
type Catalogue struct {
	drugs        []Drug
	byCode       map[string]int
	core         []string // per drug: NameZH without its salt prefix
	coreInitials []string // per drug: Initials without the salt prefix's letters
	interactions []Interaction
}

var (
	defaultCatalogue     *Catalogue
	defaultCatalogueOnce sync.Once
)

// DefaultCatalogue is the shipped catalogue, loaded once. The data ship
// with the binary and are tested, so a load error is a bug: it panics.
func DefaultCatalogue() *Catalogue {
	defaultCatalogueOnce.Do(func() {
		c, err := LoadCatalogue()
		if err != nil {
			panic(err)
		}
		defaultCatalogue = c
	})
	return defaultCatalogue
}

// LoadCatalogue parses and checks the shipped drugs.tsv and
// interactions.tsv. An error names the file and line of the first bad row.
func LoadCatalogue() (*Catalogue, error) {
	drugs, err := catalogueData.ReadFile(catDrugsFile)
	if err != nil {
		return nil, err
	}
	inter, err := catalogueData.ReadFile(catInteractionsFile)
	if err != nil {
		return nil, err
	}
	return catParse(string(drugs), string(inter))
}

// catRows splits a TSV text into its rows after checking the header; blank
// lines and lines starting with # are skipped. Each row keeps its line
// number.
func catRows(file, text string, columns []string) ([]catRow, error) {
	var rows []catRow
	header := false
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cells := strings.Split(line, "\t")
		if !header {
			if strings.Join(cells, "\t") != strings.Join(columns, "\t") {
				return nil, fmt.Errorf("%s:%d: the header must be %q", file, i+1, strings.Join(columns, " "))
			}
			header = true
			continue
		}
		if len(cells) != len(columns) {
			return nil, fmt.Errorf("%s:%d: %d columns, want %d", file, i+1, len(cells), len(columns))
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, catRow{line: i + 1, cells: cells})
	}
	if !header {
		return nil, fmt.Errorf("%s: no header", file)
	}
	return rows, nil
}

type catRow struct {
	line  int
	cells []string
}

func catParse(drugsText, interactionsText string) (*Catalogue, error) {
	rows, err := catRows(catDrugsFile, drugsText, catDrugColumns)
	if err != nil {
		return nil, err
	}
	c := &Catalogue{byCode: map[string]int{}}
	ingredients := map[string]bool{}
	for _, r := range rows {
		d, err := catParseDrug(r.cells)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", catDrugsFile, r.line, err)
		}
		if _, dup := c.byCode[d.Code]; dup {
			return nil, fmt.Errorf("%s:%d: code %s appears twice", catDrugsFile, r.line, d.Code)
		}
		c.byCode[d.Code] = len(c.drugs)
		c.drugs = append(c.drugs, d)
		core, coreInitials := catStripSalt(d.NameZH, d.Initials)
		c.core = append(c.core, core)
		c.coreInitials = append(c.coreInitials, coreInitials)
		for _, ing := range d.Ingredients {
			ingredients[ing] = true
		}
	}
	rows, err = catRows(catInteractionsFile, interactionsText, catInteractionColumns)
	if err != nil {
		return nil, err
	}
	pairs := map[[2]string]int{}
	for _, r := range rows {
		x := Interaction{A: r.cells[0], B: r.cells[1], Severity: r.cells[2], MessageZH: r.cells[3], MessageEN: r.cells[4], Source: r.cells[5]}
		if err := catCheckInteraction(x, ingredients); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", catInteractionsFile, r.line, err)
		}
		key := catPairKey(x.A, x.B)
		if at, dup := pairs[key]; dup {
			return nil, fmt.Errorf("%s:%d: %s + %s is already on line %d", catInteractionsFile, r.line, x.A, x.B, at)
		}
		pairs[key] = r.line
		c.interactions = append(c.interactions, x)
	}
	return c, nil
}

func catParseDrug(cells []string) (Drug, error) {
	get := func(name string) string {
		for i, col := range catDrugColumns {
			if col == name {
				return cells[i]
			}
		}
		panic("rx: no column " + name)
	}
	d := Drug{Code: get("code"), Generic: get("generic"), NameZH: get("name_zh"), Initials: get("initials"), Form: get("form"),
		Strength: get("strength"), Route: get("route"), Unit: get("unit"), DoseUnit: get("dose_unit"),
		Control: ControlClass(get("control")), Insurance: get("insurance"), Source: get("source")}
	if d.Code == "" || strings.IndexFunc(d.Code, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.')
	}) >= 0 {
		return d, fmt.Errorf("code %q: lower-case letters, digits, '-' and '.' only", d.Code)
	}
	for _, f := range []struct{ name, v string }{{"generic", d.Generic}, {"name_zh", d.NameZH}, {"form", d.Form},
		{"unit", d.Unit}, {"dose_unit", d.DoseUnit}, {"source", d.Source}} {
		if f.v == "" {
			return d, fmt.Errorf("%s %s: %s is empty", d.Code, d.NameZH, f.name)
		}
	}
	if d.Generic != strings.ToLower(d.Generic) {
		return d, fmt.Errorf("%s: generic %q is not lower case", d.Code, d.Generic)
	}
	if d.Initials == "" || strings.IndexFunc(d.Initials, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
		return d, fmt.Errorf("%s: initials %q: lower-case letters only, one per Chinese character", d.Code, d.Initials)
	}
	if han := catHanCount(d.NameZH); han != len(d.Initials) {
		return d, fmt.Errorf("%s: initials %q have %d letters for %d Chinese characters", d.Code, d.Initials, len(d.Initials), han)
	}
	if !catContains(CatalogueRoutes, d.Route) {
		return d, fmt.Errorf("%s: unknown route %q", d.Code, d.Route)
	}
	known := false
	for _, k := range ControlClasses {
		known = known || d.Control == k
	}
	if !known {
		return d, fmt.Errorf("%s: unknown control class %q", d.Code, d.Control)
	}
	if d.Insurance != "" && d.Insurance != "甲" && d.Insurance != "乙" && d.Insurance != "丙" {
		return d, fmt.Errorf("%s: insurance %q is not 甲, 乙, 丙 or empty", d.Code, d.Insurance)
	}
	for _, ing := range strings.Split(get("ingredients"), ",") {
		ing = strings.TrimSpace(ing)
		if ing == "" {
			return d, fmt.Errorf("%s: an empty ingredient", d.Code)
		}
		if ing != strings.ToLower(ing) {
			return d, fmt.Errorf("%s: ingredient %q is not lower case", d.Code, ing)
		}
		if catContains(d.Ingredients, ing) {
			return d, fmt.Errorf("%s: ingredient %s twice", d.Code, ing)
		}
		d.Ingredients = append(d.Ingredients, ing)
	}
	var err error
	if d.PaedMin, d.PaedMax, err = catPaedRange(get("paed_min_per_kg_day"), get("paed_max_per_kg_day")); err != nil {
		return d, fmt.Errorf("%s: %w", d.Code, err)
	}
	if tags := get("tags"); tags != "" {
		for _, t := range strings.Split(tags, ",") {
			t = strings.TrimSpace(t)
			if !catContains(CatalogueTags, t) {
				return d, fmt.Errorf("%s: unknown tag %q", d.Code, t)
			}
			if !catContains(d.Tags, t) {
				d.Tags = append(d.Tags, t)
			}
		}
	}
	return d, nil
}

// catPaedRange parses the paediatric range: both empty, or 0 < min <= max.
func catPaedRange(lo, hi string) (float64, float64, error) {
	if lo == "" && hi == "" {
		return 0, 0, nil
	}
	if lo == "" || hi == "" {
		return 0, 0, fmt.Errorf("paediatric range %q–%q: give both ends or neither", lo, hi)
	}
	lo2, err1 := strconv.ParseFloat(lo, 64)
	hi2, err2 := strconv.ParseFloat(hi, 64)
	if err1 != nil || err2 != nil || !(lo2 > 0) || !(hi2 >= lo2) || hi2 > 1e6 {
		return 0, 0, fmt.Errorf("paediatric range %q–%q: want numbers with 0 < min <= max", lo, hi)
	}
	return lo2, hi2, nil
}

func catCheckInteraction(x Interaction, ingredients map[string]bool) error {
	for _, ing := range []string{x.A, x.B} {
		if ing == "" || ing != strings.ToLower(ing) {
			return fmt.Errorf("ingredient %q: lower-case INN required", ing)
		}
		if !ingredients[ing] {
			return fmt.Errorf("ingredient %q is in no catalogue drug", ing)
		}
	}
	if x.A == x.B {
		return fmt.Errorf("%s interacts with itself", x.A)
	}
	if x.Severity != "high" && x.Severity != "moderate" {
		return fmt.Errorf("severity %q: high or moderate", x.Severity)
	}
	if x.MessageZH == "" || x.MessageEN == "" || x.Source == "" {
		return fmt.Errorf("%s + %s: messages and source are required", x.A, x.B)
	}
	return nil
}

func catPairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

func catHanCount(s string) int {
	n := 0
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			n++
		}
	}
	return n
}

// catStripSalt removes a leading salt or preparation word from a Chinese name
// (e.g. 盐酸西替利嗪滴剂 → 西替利嗪滴剂) and the same letters from its
// initials. Names without one come back unchanged.
func catStripSalt(name, initials string) (string, string) {
	for _, p := range catSaltPrefixes {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" && catHanCount(p) <= len(initials) {
			return rest, initials[catHanCount(p):]
		}
	}
	return name, initials
}

// Drug is the catalogue drug with that code.
func (c *Catalogue) Drug(code string) (Drug, bool) {
	i, ok := c.byCode[code]
	if !ok {
		return Drug{}, false
	}
	return c.drugs[i], true
}

// All is every drug, in file order. The slice is a copy.
func (c *Catalogue) All() []Drug {
	return append([]Drug(nil), c.drugs...)
}

// Search finds drugs by Chinese name (substring), English generic name
// (substring), pinyin initials (prefix, with or without a salt prefix:
// "xtlq" and "ysxtlq" both find 盐酸西替利嗪滴剂) or code, ignoring case.
// Exact matches come first, then prefix matches, then substrings; within
// each, by name in pinyin order (initials, then the Chinese name), then code. An empty query finds nothing; limit <= 0
// means no limit.
func (c *Catalogue) Search(q string, limit int) []Drug {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return nil
	}
	type hit struct {
		rank int
		i    int
	}
	var hits []hit
	for i, d := range c.drugs {
		rank := catSearchRank(q, d, c.core[i], c.coreInitials[i])
		if rank >= 0 {
			hits = append(hits, hit{rank, i})
		}
	}
	sort.SliceStable(hits, func(x, y int) bool {
		a, b := hits[x], hits[y]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		da, db := c.drugs[a.i], c.drugs[b.i]
		if da.Initials != db.Initials {
			return da.Initials < db.Initials
		}
		if da.NameZH != db.NameZH {
			return da.NameZH < db.NameZH
		}
		return da.Code < db.Code
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]Drug, len(hits))
	for k, h := range hits {
		out[k] = c.drugs[h.i]
	}
	return out
}

// catSearchRank is 0 for an exact match, 1 for a prefix, 2 for a substring and
// -1 for no match. q is lower case.
func catSearchRank(q string, d Drug, core, coreInitials string) int {
	name := strings.ToLower(d.NameZH)
	generic := d.Generic
	switch {
	case q == d.Code || q == generic || q == name || q == strings.ToLower(core) || q == d.Initials || q == coreInitials:
		return 0
	case strings.HasPrefix(name, q) || strings.HasPrefix(strings.ToLower(core), q) || strings.HasPrefix(generic, q) ||
		strings.HasPrefix(d.Initials, q) || strings.HasPrefix(coreInitials, q) || strings.HasPrefix(d.Code, q):
		return 1
	case strings.Contains(name, q) || strings.Contains(generic, q) || strings.Contains(d.Code, q):
		return 2
	}
	return -1
}

// Interactions is the whole interaction table, in file order. The slice is
// a copy.
func (c *Catalogue) Interactions() []Interaction {
	return append([]Interaction(nil), c.interactions...)
}

// InteractionsAmong is every known interaction between two of the given
// ingredients, whichever order the table names them in, each once, in
// table order.
func (c *Catalogue) InteractionsAmong(ingredients []string) []Interaction {
	have := make(map[string]bool, len(ingredients))
	for _, ing := range ingredients {
		have[strings.ToLower(strings.TrimSpace(ing))] = true
	}
	var out []Interaction
	for _, x := range c.interactions {
		if have[x.A] && have[x.B] {
			out = append(out, x)
		}
	}
	return out
}

func catContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
