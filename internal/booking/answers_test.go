package booking_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// S-4: the pre-booking questions (pregnancy, emergency symptoms, difficult
// case, first visit) must each be answered yes or no; one left out or null
// is refused by name, never taken as no.
func TestParseAnswersRequiresEveryQuestion(t *testing.T) {
	yes, no := true, false
	all := func() map[string]*bool {
		return map[string]*bool{"pregnant": &no, "critical": &no, "difficult": &no, "first_visit": &yes}
	}
	without := func(keys ...string) map[string]*bool {
		m := all()
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	withNull := all()
	withNull["critical"] = nil
	extra := all()
	extra["smoker"] = &yes
	cases := []struct {
		name  string
		in    map[string]*bool
		wrong string // field=code pairs, sorted
	}{
		{"all answered", all(), ""},
		{"nothing answered", nil, "answers.critical=required answers.difficult=required answers.first_visit=required answers.pregnant=required"},
		{"one left out", without("pregnant"), "answers.pregnant=required"},
		{"null is not an answer", withNull, "answers.critical=required"},
		{"an unknown question", extra, "answers.smoker=unknown_field"},
		{"left out and unknown", func() map[string]*bool { m := without("difficult"); m["smoker"] = &no; return m }(), "answers.difficult=required answers.smoker=unknown_field"},
	}
	for _, c := range cases {
		got, err := booking.ParseAnswers(c.in)
		var fields []string
		var fe *errs.Error
		if errors.As(err, &fe) {
			if fe.Code != errs.Invalid {
				t.Errorf("%s: code %s", c.name, fe.Code)
			}
			for _, f := range fe.Fields {
				fields = append(fields, f.Field+"="+f.Code)
			}
		} else if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		sort.Strings(fields)
		if strings.Join(fields, " ") != c.wrong {
			t.Errorf("%s: %v, want %s", c.name, fields, c.wrong)
		}
		if c.wrong == "" && (len(got) != 4 || !got["first_visit"] || got["pregnant"]) {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}
