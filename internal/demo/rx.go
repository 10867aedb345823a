package demo

import (
	"context"
	"hash/fnv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/rx"
)

// formularyTags are the catalogue tags each demo institution stocks: the
// children's hospitals their paediatric specialties, the adults' hospitals
// chronic disease. Every institution also stocks a few controlled drugs
// (not for online use) so that R-2 and the formulary rules show.
var formularyTags = map[string][]string{
	"bch":       {"paed-skin", "growth", "nutrition", "allergy", "paediatric", "general"},
	"ccmc":      {"paed-skin", "growth", "nutrition", "allergy", "paediatric", "general"},
	"xuanwu":    {"chronic", "neuro", "general"},
	"shijitan":  {"chronic", "rheum", "general"},
	"pumch":     {"chronic", "rheum", "paed-skin", "allergy", "general"},
	"changgung": {"chronic", "general"},
}

// Formulary is a demo institution's formulary: the catalogue drugs carrying
// its tags, online; every controlled drug is stocked too, those under special
// management for the wards only, not online. Prices are fixed per drug (fen).
func Formulary(inst string) []rx.FormularyItem {
	want := map[string]bool{}
	for _, t := range formularyTags[inst] {
		want[t] = true
	}
	var out []rx.FormularyItem
	for _, d := range rx.DefaultCatalogue().All() {
		tagged := false
		for _, t := range d.Tags {
			tagged = tagged || want[t]
		}
		controlled, banned := d.Control != rx.NoControl, false
		for _, c := range rx.SpecialManagement {
			banned = banned || d.Control == c
		}
		if !tagged && !controlled {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(d.Code))
		price := 800 + int64(h.Sum32()%9000) // 8 to 98 yuan
		out = append(out, rx.FormularyItem{Institution: inst, Drug: d.Code, PriceFen: price, Online: !banned})
	}
	return out
}

// prescribing loads the formularies and 宣武医院's own prescription rule
// (the platform's rules are the server's defaults).
func (l *loader) prescribing(ctx context.Context) error {
	for inst := range formularyTags {
		if err := l.s.SaveFormulary(ctx, Formulary(inst)); err != nil {
			return err
		}
	}
	for _, r := range RxRules() {
		if err := l.s.SaveRxRule(ctx, &r); err != nil {
			return err
		}
	}
	return nil
}

// RxRules are the demo institutions' own prescription rules: 宣武医院 never
// prescribes other high-risk or special-management drugs online either (R-2,
// seed H-XW), replacing the platform's rule of the same code there.
func RxRules() []rx.Rule {
	var classes []string
	for _, c := range append(rx.SpecialManagement, rx.HighRisk, rx.Special) {
		classes = append(classes, `"`+string(c)+`"`)
	}
	return []rx.Rule{{Institution: "xuanwu", Code: "banned-control-class", Source: "R-2, N-10, H-XW", Severity: rx.Refuse, Position: 10, Active: true,
		Detail:    "controlled",
		MessageZH: "本院不在线开具麻醉药品、精神药品、其他高警示药品和特殊管理药品",
		MessageEN: "This hospital never prescribes narcotic, psychotropic, other high-risk or special-management drugs online",
		Expr:      "!control_classes.exists(c, c in [" + strings.Join(classes, ", ") + "])"}}
}
