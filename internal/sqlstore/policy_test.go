package sqlstore_test

import (
	"context"
	"testing"

	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// S-1: a booking rule keeps both of its texts, what refuses and what is met
// (migration 0020), through an insert and an update, on both engines.
func TestRulePassedTexts(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		r := &policy.Rule{Code: "qualified", Source: "S-1", Expr: "institution_approved", Active: true,
			MessageZH: "该机构尚未获得互联网诊疗资质批准，暂不能预约", MessageEN: "This institution is not yet approved for internet diagnosis",
			PassedZH: "已获互联网诊疗资质", PassedEN: "Approved for internet diagnosis"}
		old := &policy.Rule{Institution: "bch", Code: "critical", Source: "S-4", Expr: "!critical", Active: true,
			MessageZH: "急危重症患者请立即到线下急诊就医", MessageEN: "Emergency: go to an emergency department now"}
		for _, x := range []*policy.Rule{r, old} {
			if err := db.SaveRule(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		read := func() map[string]policy.Rule {
			rules, err := db.Rules(ctx, "bch")
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]policy.Rule{}
			for _, x := range rules {
				out[x.Code] = x
			}
			return out
		}
		got := read()
		if g := got["qualified"]; g.PassedZH != r.PassedZH || g.PassedEN != r.PassedEN || g.MessageZH != r.MessageZH {
			t.Fatalf("inserted: %+v", g)
		}
		if g := got["critical"]; g.PassedZH != "" || g.PassedEN != "" {
			t.Fatalf("a rule without passed texts: %+v", g)
		}
		old.PassedZH, old.PassedEN = "没有急危重症状", "No emergency or critical symptoms"
		if err := db.SaveRule(ctx, old); err != nil {
			t.Fatal(err)
		}
		if g := read()["critical"]; g.PassedZH != old.PassedZH || g.PassedEN != old.PassedEN {
			t.Fatalf("updated: %+v", g)
		}
	})
}
