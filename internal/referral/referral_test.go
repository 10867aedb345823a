package referral

import (
	"errors"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// N-24: a referral names where it goes, which way, how urgent and why.
func TestReferralValidate(t *testing.T) {
	ok := Referral{FromInstitution: "bch", ToInstitution: "ccmc", ToDepartment: "dermatology", Direction: Down, Urgency: Routine, Reason: "随访"}
	for _, c := range []struct {
		name   string
		change func(r *Referral)
		fields []string
	}{
		{"complete", func(r *Referral) {}, nil},
		{"to itself", func(r *Referral) { r.ToInstitution = "bch" }, []string{"to_institution"}},
		{"nothing", func(r *Referral) { *r = Referral{FromInstitution: "bch"} }, []string{"to_institution", "to_department", "direction", "urgency", "reason"}},
		{"unknown words", func(r *Referral) { r.Direction, r.Urgency = "sideways", "now" }, []string{"direction", "urgency"}},
	} {
		r := ok
		c.change(&r)
		err := r.Validate()
		var e *errs.Error
		if len(c.fields) == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := map[string]bool{}
		for _, f := range e.Fields {
			got[f.Field] = true
		}
		for _, f := range c.fields {
			if !got[f] {
				t.Errorf("%s: %s not refused (%v)", c.name, f, e.Fields)
			}
		}
	}
}

// W-4: a consent allows reads by its grantee, of its source, in its
// period, until revoked.
func TestConsentCovers(t *testing.T) {
	now := testclock.Start()
	today := now.In(dates.Beijing).Format(dates.Layout)
	tomorrow := now.Add(24 * time.Hour).In(dates.Beijing).Format(dates.Layout)
	c := Consent{Grantee: "ccmc", Source: "bch", ValidFrom: today}
	for _, k := range []struct {
		name string
		c    Consent
		g, s string
		want bool
	}{
		{"grantee reads the source", c, "ccmc", "bch", true},
		{"another source", c, "ccmc", "pumch", false},
		{"another grantee", c, "pumch", "bch", false},
		{"all sources", Consent{Grantee: "ccmc", ValidFrom: today}, "ccmc", "pumch", true},
		{"not its own records", Consent{Grantee: "ccmc", ValidFrom: today}, "ccmc", "ccmc", false},
		{"not yet", Consent{Grantee: "ccmc", ValidFrom: tomorrow}, "ccmc", "bch", false},
		{"ended", Consent{Grantee: "ccmc", ValidFrom: "2020-01-01", ValidTo: "2020-12-31"}, "ccmc", "bch", false},
		{"revoked", Consent{Grantee: "ccmc", ValidFrom: today, RevokedAt: now}, "ccmc", "bch", false},
	} {
		if got := k.c.Covers(k.g, k.s, now); got != k.want {
			t.Errorf("%s: %v, want %v", k.name, got, k.want)
		}
	}
}
