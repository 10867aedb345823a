package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// now is the tests' instant (testclock): checks against "today" hold on any date.
func now() time.Time { return testclock.Start() }

func fieldCodes(t *testing.T, err error) map[string]string {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *errs.Error, got %v", err)
	}
	out := map[string]string{}
	for _, f := range e.Fields {
		out[f.Field] = f.Code
	}
	return out
}

func TestParseResidentID(t *testing.T) {
	valid := MakeResidentID("110105", time.Date(1988, 3, 9, 0, 0, 0, 0, time.UTC), 12, Female)
	cases := []struct {
		name, in, code string
	}{
		{"valid", valid, ""},
		{"known valid with X", "11010519491231002X", ""},
		{"lower-case x accepted", "11010519491231002x", ""},
		{"empty", "", "required"},
		{"too short", "1101051949123100", "resident_id_length"},
		{"letters", "11010519491231A02X", "resident_id_format"},
		{"bad check digit", valid[:17] + string("0123456789X"[(indexOf(valid[17])+1)%11]), "resident_id_checksum"},
		{"unknown province", "99010519491231002X", "resident_id_region"},
		{"impossible date", "110105" + "19890230" + "0012", "resident_id_birth"},
		{"born in the future", MakeResidentID("110105", now().AddDate(0, 0, 3), 1, Male), "resident_id_future"},
		{"before 1900", MakeResidentID("110105", time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC), 1, Male), "resident_id_birth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rid, err := ParseResidentID(c.in, now())
			if c.code == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if len(rid.Number) != 18 {
					t.Fatalf("number %q", rid.Number)
				}
				return
			}
			if got := fieldCodes(t, err)["resident_id"]; got != c.code {
				t.Fatalf("want %s, got %s (%v)", c.code, got, err)
			}
		})
	}
}

func indexOf(c byte) int {
	for i := 0; i < 11; i++ {
		if "0123456789X"[i] == c {
			return i
		}
	}
	return 0
}

func TestResidentIDDerivesBirthAndSex(t *testing.T) {
	rid, err := ParseResidentID("11010519491231002X", now())
	if err != nil {
		t.Fatal(err)
	}
	if rid.Birth.Format("2006-01-02") != "1949-12-31" || rid.Sex != Female || rid.Region != "110105" {
		t.Fatalf("got %+v", rid)
	}
	m := MakeResidentID("310101", now().AddDate(-7, -2, 0), 7, Male)
	rid, err = ParseResidentID(m, now())
	if err != nil || rid.Sex != Male || AgeOn(rid.Birth, now()) != 7 {
		t.Fatalf("got %+v %v", rid, err)
	}
}

func TestAgeOn(t *testing.T) {
	cases := []struct {
		birth, on string
		want      int
	}{
		{"2008-11-26", "2026-11-25", 17}, // the day before the 18th birthday
		{"2008-11-26", "2026-11-26", 18}, // on the birthday
		{"2008-02-29", "2026-02-28", 17}, // born on a leap day: 18 on 1 March in a common year
		{"2008-02-29", "2026-03-01", 18},
		{"2008-02-29", "2028-02-29", 20},
		{"2009-12-31", "2027-12-31", 18}, // across the year change
		{"2009-12-31", "2027-12-30", 17},
	}
	for _, c := range cases {
		b, _ := time.Parse("2006-01-02", c.birth)
		on, _ := time.Parse("2006-01-02", c.on)
		if got := AgeOn(b, on); got != c.want {
			t.Errorf("born %s, on %s: %d, want %d", c.birth, c.on, got, c.want)
		}
	}
}

func TestRegistrationReportsEveryField(t *testing.T) {
	good := MakeResidentID("110105", time.Date(1988, 3, 9, 0, 0, 0, 0, time.UTC), 1, Male)
	bad := good[:17] + string("0123456789X"[(indexOf(good[17])+1)%11])
	r := Registration{Username: "1x", Password: "short", Name: "A", ResidentID: bad, Phone: "12345"}
	_, err := r.Validate(now())
	got := fieldCodes(t, err)
	want := map[string]string{"username": "username_format", "password": "password_length", "name": "name_format",
		"resident_id": "resident_id_checksum", "phone": "phone_format"}
	for f, c := range want {
		if got[f] != c {
			t.Errorf("%s: want %s, got %q", f, c, got[f])
		}
	}
}

func TestRegistrationBirthAndSexMustAgree(t *testing.T) {
	id := MakeResidentID("110105", time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), 3, Male)
	r := Registration{Username: "zhang3", Password: "secret123", Name: "张三", ResidentID: id, Phone: "13800001111", BirthDate: "1990-01-03", Sex: "female"}
	got := fieldCodes(t, mustErr(r.Validate(now())))
	if got["birth_date"] != "resident_id_mismatch_birth" || got["sex"] != "resident_id_mismatch_sex" {
		t.Fatalf("got %v", got)
	}
	r.BirthDate, r.Sex = "1990-01-02", "male"
	if _, err := r.Validate(now()); err != nil {
		t.Fatal(err)
	}
}

func mustErr(_ ResidentID, err error) error { return err }

func TestChildMustBeMinor(t *testing.T) {
	adult := MakeResidentID("110105", now().AddDate(-18, 0, -1), 1, Male)
	n := NewPatient{Name: "李小明", ResidentID: adult, Relation: RelChild}
	if got := fieldCodes(t, mustErr(n.Validate(now())))["resident_id"]; got != "child_not_minor" {
		t.Fatalf("got %s", got)
	}
	n.ResidentID = MakeResidentID("110105", now().AddDate(-17, 0, 0).AddDate(0, 0, 1), 1, Male)
	if _, err := n.Validate(now()); err != nil {
		t.Fatal(err)
	}
	n.Relation = "spouse"
	if got := fieldCodes(t, mustErr(n.Validate(now())))["relation"]; got != "relation_invalid" {
		t.Fatalf("got %s", got)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse 1")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "correct horse 1") || CheckPassword(h, "correct horse 2") || CheckPassword("garbage", "x") {
		t.Fatal("check mismatch")
	}
	h2, _ := HashPassword("correct horse 1")
	if h == h2 {
		t.Fatal("hashes must be salted")
	}
}

func TestSessionValidity(t *testing.T) {
	s := Session{ExpiresAt: now().Add(time.Hour), IdleExpiry: now().Add(time.Minute)}
	if !s.Valid(now()) || s.Valid(now().Add(2*time.Minute)) {
		t.Fatal("idle expiry")
	}
	s.Revoked = true
	if s.Valid(now()) {
		t.Fatal("revoked")
	}
}

// fits lists the resident IDs in region that agree with what an answer
// shows next to a masked ID: the mask's visible characters, the birth date
// and the sex.
func fits(masked, region string, birth time.Time, sex Sex) []string {
	var out []string
	for seq := 0; seq < 1000; seq++ {
		s := region + birth.Format("20060102") + fmt.Sprintf("%03d", seq)
		if (seq%2 == 1) != (sex == Male) {
			continue
		}
		id := s + string(CheckDigit(s))
		ok := true
		for i := range masked {
			ok = ok && (masked[i] == '*' || masked[i] == id[i])
		}
		if ok {
			out = append(out, id)
		}
	}
	return out
}

// Issue 15 (N-19): the masked ID, the birth date and the sex shown with it
// do not rebuild the ID, even for someone who knows the region (the old
// mask, first 6 and last 4 visible, left exactly one).
func TestMaskedIDCannotBeRebuilt(t *testing.T) {
	birth := time.Date(1988, 3, 9, 0, 0, 0, 0, time.UTC)
	for seq, sex := range map[int]Sex{36: Female, 71: Male, 4: Female} {
		id := MakeResidentID("110105", birth, seq, sex)
		m := MaskResidentID(id)
		if len(m) != 18 || m[0] != id[0] || m[17] != id[17] || strings.Count(m, "*") != 16 {
			t.Fatalf("%s masked as %s", id, m)
		}
		if n := len(fits(m, "110105", birth, sex)); n < 20 {
			t.Errorf("%s: %d IDs fit %s, the birth date and the sex", id, n, m)
		}
		if old := id[:6] + "********" + id[14:]; len(fits(old, "110105", birth, sex)) != 1 {
			t.Fatal("the old mask should have been rebuildable")
		}
	}
	if MaskResidentID("123") != "******" {
		t.Fatal("a malformed ID shows nothing")
	}
}
