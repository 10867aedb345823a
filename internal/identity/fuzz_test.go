package identity

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// residentIDCodes are the field codes a refused resident ID may carry.
var residentIDCodes = map[string]bool{"required": true, "resident_id_length": true, "resident_id_format": true,
	"resident_id_region": true, "resident_id_birth": true, "resident_id_future": true, "resident_id_checksum": true}

// FuzzResidentID: a resident ID (N-5) that is accepted is 18 characters
// with a valid GB 11643 check character, a known region, a birth date that
// parses, round-trips and is no later than the day of now in Beijing, and
// the sex of its 17th digit; parsing its number again gives the same ID;
// any other check character is refused as a checksum error. A refused one
// is refused with one stable field code on "resident_id" that has its
// texts in both languages. now is fuzzed too (seconds from the test clock).
func FuzzResidentID(f *testing.F) {
	base := testclock.Start()
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", " 11010519491231002X\t", "110105194912310021",
		MakeResidentID("110105", time.Date(1988, 3, 9, 0, 0, 0, 0, time.UTC), 12, Female),
		MakeResidentID("810000", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), 3, Male),
		MakeResidentID("110105", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), 1, Male),
		"", "1101051949123100", "11010519491231A02X", "99010519491231002X", "110105198902300012",
		"11010518991231002X", "１１０１０５１９４９１２３１００２Ｘ", "11010519491231002\u0130", "\u00a011010519491231002X",
		"110105194912310０2X", "11010519491231002X11010519491231002X", "\x00\xff\xfe", strings.Repeat("9", 18),
	} {
		f.Add(s, int64(0))
	}
	// Born today in Beijing, checked early in the morning and late at night
	// (a birth date is a Beijing day, whatever the server's zone).
	for _, at := range []int64{-9 * 3600, -2 * 3600, 13*3600 + 59*60} {
		day := base.Add(time.Duration(at) * time.Second).In(dates.Beijing)
		birth := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
		f.Add(MakeResidentID("110105", birth, 5, Female), at)
		f.Add(MakeResidentID("110105", birth.AddDate(0, 0, 1), 5, Female), at)
	}
	f.Fuzz(func(t *testing.T, s string, offset int64) {
		const century = 100 * 366 * 24 * 3600
		now := base.Add(time.Duration(offset%century) * time.Second)
		today := now.In(dates.Beijing).Format("20060102")
		rid, err := ParseResidentID(s, now)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Fields) != 1 || e.Fields[0].Field != "resident_id" ||
				!residentIDCodes[e.Fields[0].Code] {
				t.Fatalf("ParseResidentID(%q) = %v: want one stable field code on resident_id", s, err)
			}
			code := e.Fields[0].Code
			if !i18n.Has("field." + code) {
				t.Fatalf("code %s has no text", code)
			}
			// A number whose only fault is its check character is accepted
			// with the right one.
			if code == "resident_id_checksum" {
				n := strings.ToUpper(strings.TrimSpace(s))
				fixed := n[:17] + string(CheckDigit(n[:17]))
				if _, err := ParseResidentID(fixed, now); err != nil {
					t.Fatalf("%q refused for its check character, %q with the right one: %v", s, fixed, err)
				}
			}
			// A birth date in the future is after today in Beijing.
			if code == "resident_id_future" {
				if n := strings.ToUpper(strings.TrimSpace(s)); n[6:14] <= today {
					t.Fatalf("%q: born %s, refused as in the future on %s (Beijing)", s, n[6:14], today)
				}
			}
			return
		}
		n := rid.Number
		if n != strings.ToUpper(strings.TrimSpace(s)) || len(n) != 18 {
			t.Fatalf("%q accepted as %q", s, n)
		}
		for i := 0; i < 17; i++ {
			if n[i] < '0' || n[i] > '9' {
				t.Fatalf("%q accepted with %q at %d", s, n[i], i)
			}
		}
		if CheckDigit(n[:17]) != n[17] {
			t.Fatalf("%q accepted with a wrong check character", s)
		}
		if rid.Region != n[:6] || !provinces[n[:2]] {
			t.Fatalf("%q: region %q", s, rid.Region)
		}
		if rid.Birth.Format("20060102") != n[6:14] || rid.Birth.Location() != time.UTC || rid.Birth.Year() < 1900 || n[6:14] > today {
			t.Fatalf("%q: birth %v (today %s)", s, rid.Birth, today)
		}
		if back, err := time.Parse(dates.Layout, rid.Birth.Format(dates.Layout)); err != nil || !back.Equal(rid.Birth) {
			t.Fatalf("%q: birth %v does not round-trip: %v %v", s, rid.Birth, back, err)
		}
		if want := map[bool]Sex{true: Male, false: Female}[(n[16]-'0')%2 == 1]; rid.Sex != want {
			t.Fatalf("%q: sex %s", s, rid.Sex)
		}
		if again, err := ParseResidentID(n, now); err != nil || again != rid {
			t.Fatalf("%q: parsed again %+v %v, first %+v", n, again, err, rid)
		}
		if m := MaskResidentID(n); len(m) != 18 || m[0] != n[0] || m[17] != n[17] || strings.Count(m, "*") != 16 {
			t.Fatalf("mask %q of %q", m, n)
		}
		if age := AgeOn(rid.Birth, now); age < 0 {
			t.Fatalf("%q: age %d on %v", n, age, now)
		}
		for _, c := range []byte(gbCheck) {
			if c == n[17] {
				continue
			}
			_, err := ParseResidentID(n[:17]+string(c), now)
			var e *errs.Error
			if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Code != "resident_id_checksum" {
				t.Fatalf("%q with check character %c: %v", n, c, err)
			}
		}
	})
}
