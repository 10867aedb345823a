package identity

import (
	"fmt"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Sex as derived from a resident ID (GB 11643-1999: the 17th digit is odd for
// male, even for female).
type Sex string

const (
	Male   Sex = "male"
	Female Sex = "female"
)

// ResidentID is a parsed and verified 18-character resident identity number.
type ResidentID struct {
	Number string    // normalised: upper-case X
	Region string    // the 6-digit administrative division code
	Birth  time.Time // date of birth, UTC midnight
	Sex    Sex
}

var gbWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const gbCheck = "10X98765432"

// provinces are the first two digits of valid administrative division codes
// (GB/T 2260), including Hong Kong, Macao and Taiwan residence permits.
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true, "83": true,
}

// CheckDigit computes the GB 11643-1999 check character of the first 17
// digits.
func CheckDigit(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * gbWeights[i]
	}
	return gbCheck[sum%11]
}

// ParseResidentID validates s and returns its parts. now is the reference
// time for refusing birth dates in the future. Errors are *errs.Error with
// code invalid_input and one field error on "resident_id".
func ParseResidentID(s string, now time.Time) (ResidentID, error) {
	fail := func(code string) (ResidentID, error) {
		var f errs.Fields
		f.Add("resident_id", code)
		return ResidentID{}, f.Err()
	}
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return fail("required")
	}
	if len(s) != 18 {
		return fail("resident_id_length")
	}
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return fail("resident_id_format")
		}
	}
	if c := s[17]; !(c >= '0' && c <= '9') && c != 'X' {
		return fail("resident_id_format")
	}
	if !provinces[s[:2]] {
		return fail("resident_id_region")
	}
	birth, err := time.Parse("20060102", s[6:14])
	if err != nil {
		return fail("resident_id_birth")
	}
	if birth.Year() < 1900 {
		return fail("resident_id_birth")
	}
	// The birth date is a day in Beijing: a child born today is born,
	// whatever the hour and the server's zone (before 08:00 Beijing, UTC
	// midnight of today is still ahead).
	if s[6:14] > now.In(dates.Beijing).Format("20060102") {
		return fail("resident_id_future")
	}
	if CheckDigit(s[:17]) != s[17] {
		return fail("resident_id_checksum")
	}
	sex := Female
	if (s[16]-'0')%2 == 1 {
		sex = Male
	}
	return ResidentID{Number: s, Region: s[:6], Birth: birth, Sex: sex}, nil
}

// AgeOn returns the age in whole years on the given day.
func AgeOn(birth, day time.Time) int { return dates.Years(birth, day) }

// MaskResidentID hides a resident ID (the real-name identity of N-5) for
// display, showing only its first and last characters ("1****************8"),
// so that an answer carrying it cannot rebuild it (issue 15, N-19). An ID
// is region (6 digits), birth date (8), sequence (3, the last odd for men)
// and a check character, and the same answers show the birth date and the
// sex: the usual mask (first 6 and last 4 visible) left exactly one ID that
// fits. With only the first and last characters visible, someone who knows
// the region (a Beijing district) is left with about 45 IDs that fit the
// check character, and thousands for someone who does not.
func MaskResidentID(s string) string {
	if len(s) != 18 {
		return "******"
	}
	return s[:1] + strings.Repeat("*", 16) + s[17:]
}

// MakeResidentID builds a valid resident ID for a region code (6 digits),
// birth date, sequence (0 to 99) and sex, computing the check digit. Demo
// data and tests use it.
func MakeResidentID(region string, birth time.Time, seq int, sex Sex) string {
	odd := 1
	if sex == Female {
		odd = 0
	}
	s := fmt.Sprintf("%s%s%02d%d", region, birth.Format("20060102"), seq%100, (seq%5)*2+odd)
	return s + string(CheckDigit(s))
}
