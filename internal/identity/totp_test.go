package identity

import (
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// The codes are RFC 6238's (appendix B, SHA-1, the last six of its eight
// digits): what every authenticator app computes.
func TestTOTPRFC6238Vectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, c := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
		got, err := TOTPCode(secret, time.Unix(c.unix, 0))
		if err != nil || got != c.want {
			t.Errorf("T=%d: %q %v, want %q", c.unix, got, err, c.want)
		}
	}
}

// A code is accepted for its step and one either side (a phone's clock a
// little off), not two; the step it matched is returned (each is used
// once).
func TestTOTPWindow(t *testing.T) {
	secret := NewTOTPSecret()
	if len(secret) != 32 {
		t.Fatalf("secret %q: want 160 bits in 32 base32 characters", secret)
	}
	now := testclock.Start()
	cur := TOTPStep(now)
	for d := int64(-3); d <= 3; d++ {
		code, _ := TOTPCodeAt(secret, cur+d)
		step, ok := matchTOTP(secret, code, now)
		if want := d >= -1 && d <= 1; ok != want || (ok && step != cur+d) {
			t.Errorf("step %+d: ok %v step %d", d, ok, step)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := matchTOTP(secret, bad, now); ok {
			t.Errorf("%q matched", bad)
		}
	}
	u, err := TOTPURL("bch-doctor", secret)
	if err != nil || !strings.HasPrefix(u, "otpauth://totp/Yunyi:bch-doctor?") || !strings.Contains(u, "secret="+secret) {
		t.Fatalf("%s %v", u, err)
	}
}

// Secrets are sealed with SM4-GCM under a key derived from the master key,
// bound to their account; without a master key they are marked plain.
func TestSecretBox(t *testing.T) {
	master := []byte("0123456789abcdef0123456789abcdef")
	box, err := NewSecretBox(master)
	if err != nil {
		t.Fatal(err)
	}
	secret := NewTOTPSecret()
	sealed, err := box.Seal(7, secret)
	if err != nil || sealed[0] != boxSealed || strings.Contains(string(sealed), secret) {
		t.Fatalf("sealed %x %v", sealed, err)
	}
	if got, err := box.Open(7, sealed); err != nil || got != secret {
		t.Fatalf("open %q %v", got, err)
	}
	if _, err := box.Open(8, sealed); !errors.Is(err, ErrSecretBox) {
		t.Fatalf("another account opened it: %v", err)
	}
	other, _ := NewSecretBox([]byte("fedcba9876543210fedcba9876543210"))
	if _, err := other.Open(7, sealed); !errors.Is(err, ErrSecretBox) {
		t.Fatalf("another master key opened it: %v", err)
	}
	var none *SecretBox
	if _, err := none.Open(7, sealed); !errors.Is(err, ErrSecretBox) {
		t.Fatalf("no master key opened it: %v", err)
	}
	plain, _ := none.Seal(7, secret)
	if plain[0] != boxPlain {
		t.Fatalf("plain %x", plain)
	}
	for _, b := range []*SecretBox{none, box} {
		if got, err := b.Open(7, plain); err != nil || got != secret {
			t.Fatalf("a plain secret: %q %v", got, err)
		}
	}
	if _, err := NewSecretBox(master[:16]); err == nil {
		t.Fatal("a short master key")
	}
}

// Recovery codes: ten, distinct, about 50 bits each; typed in any case
// with or without the dash they hash alike, and bound to their account.
func TestRecoveryCodes(t *testing.T) {
	codes := NewRecoveryCodes()
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] || isTOTPCode(normalizeCode(c)) {
			t.Fatalf("codes %v", codes)
		}
		seen[c] = true
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
	h := recoveryHash(3, codes[0])
	if string(recoveryHash(3, strings.ToUpper(strings.ReplaceAll(codes[0], "-", " ")))) != string(h) {
		t.Fatal("typed otherwise, hashed otherwise")
	}
	if string(recoveryHash(4, codes[0])) == string(h) {
		t.Fatal("the hash does not bind the account")
	}
}

// Wrong codes cost nothing for the first four, then a minute doubling to
// an hour.
func TestFactorBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: 0, 4: 0, 5: time.Minute, 6: 2 * time.Minute, 8: 8 * time.Minute, 10: 32 * time.Minute,
		11: time.Hour, 40: time.Hour} {
		if got := factorBackoff(n); got != want {
			t.Errorf("%d failures: %s, want %s", n, got, want)
		}
	}
}

// The password policy (N-20): length, letters and digits, not the
// username, not a common password; the demo password passes.
func TestPasswordPolicy(t *testing.T) {
	for _, c := range []struct{ user, pw, want string }{
		{"liming", "yunyi2026", ""},
		{"liming", "Clinic-2026x", ""},
		{"liming", "", "required"},
		{"liming", "ab1", "password_length"},
		{"liming", strings.Repeat("a1", 65), "password_length"},
		{"liming", "abcdefgh", "password_weak"},
		{"liming", "12345678", "password_weak"},
		{"liming1", "LIMING1", "password_length"},
		{"liming12", "LiMing12", "password_weak"},
		{"liming", "password1", "password_common"},
		{"liming", "PASSWORD1", "password_common"},
		{"liming", "abc12345", "password_common"},
		{"liming", "q1w2e3r4", "password_common"},
	} {
		var f errs.Fields
		validatePassword(&f, c.user, c.pw)
		got := ""
		if e, ok := f.Err().(*errs.Error); ok {
			got = e.Fields[0].Code
		}
		if got != c.want {
			t.Errorf("%s / %q: %q, want %q", c.user, c.pw, got, c.want)
		}
	}
	if n := len(commonPasswords()); n != 10_000 {
		t.Fatalf("%d common passwords, want the 10,000 of the list", n)
	}
	// Registration applies it too.
	r := Registration{Username: "wangwu", Password: "iloveyou1", Name: "王五", ResidentID: MakeResidentID("110105", testclock.Start().AddDate(-30, 0, 0), 5, Male), Phone: "13900000000"}
	_, err := r.Validate(testclock.Start())
	found := false
	if e, ok := err.(*errs.Error); ok {
		for _, f := range e.Fields {
			found = found || (f.Field == "password" && f.Code == "password_common")
		}
	}
	if !found {
		t.Fatalf("registration with a common password: %v", err)
	}
}

// A session setting's values are bounded; an institution's row leaves a
// value at 0 (the platform's) and has no patient value.
func TestSecuritySettingValidate(t *testing.T) {
	for _, c := range []struct {
		s  SecuritySetting
		ok bool
	}{
		{SecuritySetting{StaffIdleMinutes: 30, PatientIdleMinutes: 120, ConfirmationMinutes: 240}, true},
		{SecuritySetting{StaffIdleMinutes: 0, PatientIdleMinutes: 120, ConfirmationMinutes: 240}, false},
		{SecuritySetting{StaffIdleMinutes: 121, PatientIdleMinutes: 120, ConfirmationMinutes: 240}, false},
		{SecuritySetting{StaffIdleMinutes: 30, PatientIdleMinutes: 721, ConfirmationMinutes: 240}, false},
		{SecuritySetting{StaffIdleMinutes: 30, PatientIdleMinutes: 120, ConfirmationMinutes: 20}, false},
		{SecuritySetting{Institution: "bch", StaffIdleMinutes: 10}, true},
		{SecuritySetting{Institution: "bch", ConfirmationMinutes: 60}, true},
		{SecuritySetting{Institution: "bch", StaffIdleMinutes: 3}, false},
		{SecuritySetting{Institution: "bch", PatientIdleMinutes: 60}, false},
	} {
		if err := c.s.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.s, err)
		}
	}
}
