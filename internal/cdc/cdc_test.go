package cdc

import (
	"testing"
	"time"
)

// W-5: a diagnosis is reported when its code, or the category it belongs
// to, is active on the list.
func TestMatch(t *testing.T) {
	list := []Disease{{Code: "B05", Active: true}, {Code: "B08.4", Active: true}, {Code: "A38", Active: false}}
	for _, c := range []struct {
		code string
		want string
	}{
		{"B05.9", "B05"}, {"b05", "B05"}, {"B08.4", "B08.4"}, {"B08.1", ""}, {"B050", ""}, {"A38", ""}, {"L20.9", ""},
	} {
		d, ok := Match(list, c.code)
		if got := map[bool]string{true: d.Code, false: ""}[ok]; got != c.want {
			t.Errorf("Match(%q) = %q, want %q", c.code, got, c.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 4: 40 * time.Second, 20: 10 * time.Minute} {
		if got := Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	known := func(c string) bool { return c == "B05" || c == "A38" }
	for _, c := range []struct {
		d     Disease
		field string
	}{
		{Disease{Code: "b05", Name: "麻疹", Class: "B"}, ""},
		{Disease{Code: "Z99", Name: "x", Class: "C"}, "code"},
		{Disease{Code: "A38", Class: "B"}, "name"},
		{Disease{Code: "A38", Name: "猩红热", Class: "D"}, "class"},
	} {
		err := c.d.Validate(known)
		if (err == nil) != (c.field == "") {
			t.Errorf("%+v: %v, want a refusal of %q", c.d, err, c.field)
		}
	}
}
