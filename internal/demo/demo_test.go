package demo

import (
	"context"
	"testing"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// The demo loads once; a later start keeps everything and moves the
// offline visits to the same distance before the new day, so S-3's windows
// answer as on the first day. Every questionnaire is valid (V-1).
func TestLoadTwiceRefreshesHistory(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		t0 := testclock.Start()
		if _, loaded, err := Load(ctx, db, t0); err != nil || !loaded {
			t.Fatalf("first load: %v %v", loaded, err)
		}
		later := t0.AddDate(0, 0, 60)
		accts, loaded, err := Load(ctx, db, later)
		if err != nil || loaded || len(accts) == 0 {
			t.Fatalf("second load: %v %v", loaded, err)
		}
		var day string
		if err := db.Writer().QueryRow(`SELECT visit_date FROM visit_history WHERE external_id = 'demo:3'`).Scan(&day); err != nil {
			t.Fatal(err)
		}
		if want := later.AddDate(0, 0, -20).In(dates.Beijing).Format(dates.Layout); day != want {
			t.Fatalf("李小雨's allergy visit on %s, want %s", day, want)
		}
		for _, q := range Questionnaires() {
			if err := q.Validate(); err != nil {
				t.Errorf("%s: %v", q.Code, err)
			}
		}
	})
}

// The demo hospitals' own prescription rules compile (H-XW).
func TestDemoRxRulesCompile(t *testing.T) {
	e := rx.NewEngine()
	for _, r := range RxRules() {
		if err := e.Validate(&r); err != nil {
			t.Errorf("%s: %v", r.Code, err)
		}
	}
}

// Every shipped rule (booking, prescription, red flag) is within the cost
// estimate that refuses hostile rules at save (issue 15).
func TestShippedRulesWithinCostLimit(t *testing.T) {
	pe := policy.NewEngine()
	for _, r := range Rules() {
		if err := pe.Validate(&r); err != nil {
			t.Errorf("booking rule %s: %v", r.Code, err)
		}
	}
	re := rx.NewEngine()
	for _, r := range append(rx.DefaultRules(), RxRules()...) {
		if err := re.Validate(&r); err != nil {
			t.Errorf("prescription rule %s: %v", r.Code, err)
		}
	}
	for _, q := range Questionnaires() {
		if err := q.Validate(); err != nil {
			t.Errorf("questionnaire %s: %v", q.Code, err)
		}
	}
}

// S-4: every demo rule says, in both languages, what is met when it passes
// (read by families on the booking page), distinct from its refusal; a demo
// database written before rules had passed texts gets them on its next
// start, and a rule staff have changed keeps what they wrote.
func TestDemoRulesHavePassedTexts(t *testing.T) {
	for _, r := range Rules() {
		if r.PassedZH == "" || r.PassedEN == "" || r.PassedZH == r.MessageZH || r.PassedEN == r.MessageEN {
			t.Errorf("%s/%s/%s: passed %q / %q", r.Institution, r.Department, r.Code, r.PassedZH, r.PassedEN)
		}
	}
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		t0 := testclock.Start()
		if _, _, err := Load(ctx, db, t0); err != nil {
			t.Fatal(err)
		}
		// As before migration 0020; and one rule changed by staff.
		if _, err := db.Writer().Exec(`UPDATE policy_rules SET passed_zh = '', passed_en = ''`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer().Exec(`UPDATE policy_rules SET expr = 'age >= 20' WHERE institution = 'shijitan' AND code = 'sjt-age'`); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(ctx, db, t0.AddDate(0, 0, 1)); err != nil {
			t.Fatal(err)
		}
		rules, err := db.Rules(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			changed := r.Institution == "shijitan" && r.Code == "sjt-age"
			if changed != (r.PassedZH == "") || changed != (r.PassedEN == "") {
				t.Errorf("%s/%s/%s after the second start: passed %q / %q", r.Institution, r.Department, r.Code, r.PassedZH, r.PassedEN)
			}
		}
	})
}
