package sqlstore_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// The second factor's store (N-20, N-7) on both engines: a TOTP step, a
// recovery code and a challenge's attempt are each spent once, also by
// requests at once; waits only grow; a confirmation belongs to a live
// session; the settings' platform row comes with the migration.
func TestFactorStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a := &identity.Account{Username: "bch-doc-f", PasswordHash: "h", Role: identity.RoleDoctor, CreatedAt: now()}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Factor(ctx, a.ID); errs.Code(err) != errs.NotFound {
			t.Fatalf("no factor yet: %v", err)
		}
		// An enrolment waits, then a confirmation puts it in force with
		// its recovery codes.
		if err := db.SavePendingTOTP(ctx, a.ID, []byte("\x00P1"), now()); err != nil {
			t.Fatal(err)
		}
		if err := db.ConfirmTOTP(ctx, a.ID, []byte("\x00other"), 10, now(), nil); errs.Code(err) != errs.Conflict {
			t.Fatalf("confirming another pending secret: %v", err)
		}
		hashes := [][]byte{[]byte("h1"), []byte("h2"), []byte("h3")}
		if err := db.ConfirmTOTP(ctx, a.ID, []byte("\x00P1"), 100, now(), hashes); err != nil {
			t.Fatal(err)
		}
		f, err := db.Factor(ctx, a.ID)
		if err != nil || !f.Enrolled() || !bytes.Equal(f.Secret, []byte("\x00P1")) || f.Pending != nil || f.LastStep != 100 {
			t.Fatalf("%+v %v", f, err)
		}
		if ok, _ := db.EnrolTOTP(ctx, a.ID, []byte("\x00demo"), now()); ok {
			t.Fatal("a known secret replaced an enrolled one")
		}
		// A step once, and only forward.
		for _, c := range []struct {
			step int64
			ok   bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
			if ok, err := db.UseTOTPStep(ctx, a.ID, c.step); err != nil || ok != c.ok {
				t.Fatalf("step %d: %v %v", c.step, ok, err)
			}
		}
		// Twenty requests at once with the same new step: one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := db.UseTOTPStep(ctx, a.ID, 200)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("step 200 used %d times", wins)
		}
		// Failures count; a wait only grows; a right code clears both.
		for i := 1; i <= 3; i++ {
			if n, err := db.FailTOTP(ctx, a.ID); err != nil || n != i {
				t.Fatalf("failure %d: %d %v", i, n, err)
			}
		}
		later, sooner := now().Add(time.Hour), now().Add(time.Minute)
		db.DelayTOTP(ctx, a.ID, later)
		db.DelayTOTP(ctx, a.ID, sooner)
		if f, _ := db.Factor(ctx, a.ID); !f.WaitUntil.Equal(later.UTC().Truncate(time.Microsecond)) || f.Failures != 3 {
			t.Fatalf("wait %s failures %d", f.WaitUntil, f.Failures)
		}
		db.UseTOTPStep(ctx, a.ID, 201)
		if f, _ := db.Factor(ctx, a.ID); !f.WaitUntil.IsZero() || f.Failures != 0 {
			t.Fatalf("after a right code: wait %s failures %d", f.WaitUntil, f.Failures)
		}
		// A recovery code once.
		if ok, _ := db.UseRecoveryCode(ctx, a.ID, []byte("h2"), now()); !ok {
			t.Fatal("recovery code")
		}
		if ok, _ := db.UseRecoveryCode(ctx, a.ID, []byte("h2"), now()); ok {
			t.Fatal("a recovery code twice")
		}
		if ok, _ := db.UseRecoveryCode(ctx, a.ID, []byte("nope"), now()); ok {
			t.Fatal("an unknown recovery code")
		}
		if n, _ := db.RecoveryCodesLeft(ctx, a.ID); n != 2 {
			t.Fatalf("%d left", n)
		}

		// A challenge: a few attempts within its time.
		ch := &identity.LoginChallenge{TokenHash: []byte("challenge-1"), AccountID: a.ID, Kind: identity.SessionBrowser, CreatedAt: now(), ExpiresAt: now().Add(5 * time.Minute)}
		if err := db.CreateLoginChallenge(ctx, ch); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			c, err := db.TakeLoginChallenge(ctx, ch.TokenHash, now(), 3)
			if err != nil || c.Attempts != i || c.AccountID != a.ID || c.Kind != identity.SessionBrowser {
				t.Fatalf("attempt %d: %+v %v", i, c, err)
			}
		}
		if _, err := db.TakeLoginChallenge(ctx, ch.TokenHash, now(), 3); errs.Code(err) != errs.NotFound {
			t.Fatalf("a fourth attempt: %v", err)
		}
		ch2 := &identity.LoginChallenge{TokenHash: []byte("challenge-2"), AccountID: a.ID, Kind: identity.SessionAPI, CreatedAt: now(), ExpiresAt: now().Add(5 * time.Minute)}
		db.CreateLoginChallenge(ctx, ch2)
		if _, err := db.TakeLoginChallenge(ctx, ch2.TokenHash, now().Add(5*time.Minute), 3); errs.Code(err) != errs.NotFound {
			t.Fatalf("a challenge after its time: %v", err)
		}

		// N-7: a confirmation belongs to a live session of its account.
		s := &identity.Session{TokenHash: []byte("sess-1"), AccountID: a.ID, Kind: identity.SessionAPI, CSRF: "c", CreatedAt: now(),
			ExpiresAt: now().Add(12 * time.Hour), IdleExpiry: now().Add(30 * time.Minute)}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if u, err := db.SessionConfirmedUntil(ctx, s.TokenHash); err != nil || !u.IsZero() {
			t.Fatalf("unconfirmed: %s %v", u, err)
		}
		until := now().Add(4 * time.Hour)
		if err := db.ConfirmSession(ctx, s.TokenHash, a.ID, now(), until); err != nil {
			t.Fatal(err)
		}
		if u, _ := db.SessionConfirmedUntil(ctx, s.TokenHash); !u.Equal(until.UTC().Truncate(time.Microsecond)) {
			t.Fatalf("confirmed until %s", u)
		}
		db.RevokeSession(ctx, s.TokenHash)
		if u, _ := db.SessionConfirmedUntil(ctx, s.TokenHash); !u.IsZero() {
			t.Fatal("a revoked session stays confirmed")
		}

		// The settings: the platform's row from the migration, an
		// institution's written and replaced.
		rows, err := db.SecuritySettings(ctx)
		if err != nil || len(rows) != 1 || rows[0].Institution != "" || rows[0].StaffIdleMinutes != 30 || rows[0].PatientIdleMinutes != 120 ||
			rows[0].ConfirmationMinutes != 240 {
			t.Fatalf("%+v %v", rows, err)
		}
		if err := db.SaveSecuritySetting(ctx, identity.SecuritySetting{Institution: "nowhere", StaffIdleMinutes: 10}); errs.Code(err) != errs.NotFound {
			t.Fatalf("an unknown institution: %v", err)
		}

		if err := db.RemoveTOTP(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.RecoveryCodesLeft(ctx, a.ID); n != 0 {
			t.Fatalf("%d recovery codes after removal", n)
		}
		if ok, err := db.EnrolTOTP(ctx, a.ID, []byte("\x00demo"), now()); !ok || err != nil {
			t.Fatalf("enrol after removal: %v %v", ok, err)
		}
	})
}
