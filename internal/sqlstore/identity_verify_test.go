package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// N-5: a phone's codes are limited in the statement that stores them; a
// code is live until spent, expired or tried too often, and spent once.
func TestSMSCodeStore(t *testing.T) {
	ctx := context.Background()
	pol := identity.DefaultCodePolicy
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		t0 := now()
		code := func(phone string, at time.Time) *identity.SMSCode {
			return &identity.SMSCode{Phone: phone, Purpose: identity.PurposeRegister, Salt: []byte("0123456789abcdef"), Hash: []byte("h"),
				CreatedAt: at, ExpiresAt: at.Add(pol.TTL)}
		}
		const phone = "13900000001"
		for i, c := range []struct {
			at       time.Duration
			wantWait time.Duration // 0: stored
		}{
			{0, 0},
			{30 * time.Second, 30 * time.Second}, // one a minute
			{61 * time.Second, 0},                // 2
			{122 * time.Second, 0},               // 3
			{183 * time.Second, 0},               // 4
			{244 * time.Second, 0},               // 5
			{305 * time.Second, time.Hour - 305*time.Second}, // five an hour
			{time.Hour + time.Second, 0},
		} {
			wait, err := db.SaveSMSCode(ctx, code(phone, t0.Add(c.at)), pol)
			if err != nil || wait != c.wantWait {
				t.Fatalf("code %d at +%s: wait %s, want %s (%v)", i, c.at, wait, c.wantWait, err)
			}
		}
		// Another phone is not limited by this one.
		if wait, err := db.SaveSMSCode(ctx, code("13900000002", t0.Add(30*time.Second)), pol); err != nil || wait != 0 {
			t.Fatalf("another phone: %s %v", wait, err)
		}
		// The newest code is live; tried too often, it is not.
		at := t0.Add(2 * time.Hour)
		c := code("13900000003", at)
		if _, err := db.SaveSMSCode(ctx, c, pol); err != nil {
			t.Fatal(err)
		}
		live, err := db.LiveSMSCode(ctx, c.Phone, c.Purpose, at.Add(time.Minute), pol.MaxAttempts)
		if err != nil || live.ID != c.ID || string(live.Salt) != "0123456789abcdef" || string(live.Hash) != "h" {
			t.Fatalf("live %+v %v", live, err)
		}
		if _, err := db.LiveSMSCode(ctx, c.Phone, c.Purpose, c.ExpiresAt, pol.MaxAttempts); !errs.Is(err, errs.NotFound) {
			t.Fatalf("expired: %v", err)
		}
		if _, err := db.LiveSMSCode(ctx, c.Phone, identity.PurposeAddChild, at, pol.MaxAttempts); !errs.Is(err, errs.NotFound) {
			t.Fatalf("another purpose: %v", err)
		}
		for i := 0; i < pol.MaxAttempts; i++ {
			db.FailSMSCode(ctx, c.ID)
		}
		if _, err := db.LiveSMSCode(ctx, c.Phone, c.Purpose, at, pol.MaxAttempts); !errs.Is(err, errs.NotFound) {
			t.Fatalf("tried too often: %v", err)
		}
		// A code not sent is dropped and does not count.
		d := code("13900000004", at)
		db.SaveSMSCode(ctx, d, pol)
		if err := db.DropSMSCode(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if wait, err := db.SaveSMSCode(ctx, code("13900000004", at.Add(time.Second)), pol); err != nil || wait != 0 {
			t.Fatalf("after a drop: %s %v", wait, err)
		}
	})
}

// N-5: a verified account spends its code once; a resident ID another
// profile holds is claimed: that profile frozen (its ID released, out of
// its holders' lists and reach), its own account disabled with its
// sessions, its invitations void, the claim recorded and the holders'
// notices written, all in the registration's transaction.
func TestVerifiedStoreClaims(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		at := now()
		newCode := func(phone string, when time.Time) int64 {
			c := &identity.SMSCode{Phone: phone, Purpose: identity.PurposeRegister, Salt: []byte("s"), Hash: []byte("h"), CreatedAt: when, ExpiresAt: when.Add(5 * time.Minute)}
			if wait, err := db.SaveSMSCode(ctx, c, identity.DefaultCodePolicy); err != nil || wait != 0 {
				t.Fatalf("code: %s %v", wait, err)
			}
			return c.ID
		}
		patient := func(name, id string) *identity.Patient {
			r, err := identity.ParseResidentID(id, at)
			if err != nil {
				t.Fatal(err)
			}
			return &identity.Patient{Name: name, ResidentID: id, Birth: r.Birth, Sex: r.Sex, CreatedAt: at}
		}
		// A squatter of before N-5: its own profile and a child's, a
		// session, an open invitation for the child.
		squatter := &identity.Account{Username: "squatter", PasswordHash: "h", Role: identity.RolePatient, Phone: "13900000010", CreatedAt: at}
		adultID, childID := rid(1, 40), rid(2, 6)
		if err := db.CreatePatientAccount(ctx, squatter, patient("冒名者", adultID)); err != nil {
			t.Fatal(err)
		}
		sqChild := patient("冒名小孩", childID)
		if err := db.AddPatient(ctx, squatter.ID, sqChild, identity.RelChild); err != nil {
			t.Fatal(err)
		}
		sess := &identity.Session{TokenHash: []byte("token-of-the-squatter-32-bytes!!"), AccountID: squatter.ID, Kind: identity.SessionAPI, CSRF: "c",
			CreatedAt: at, ExpiresAt: at.Add(time.Hour), IdleExpiry: at.Add(time.Hour)}
		if err := db.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateInvite(ctx, []byte("invite-hash"), &identity.Invite{PatientID: sqChild.ID, CreatedBy: squatter.ID, ExpiresAt: at.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		tell := func(c *identity.Claim) []notify.Notification {
			var out []notify.Notification
			for _, h := range c.Holders {
				out = append(out, notify.Notification{AccountID: h.AccountID, Kind: "identity_claimed", Title: "t", Body: c.FrozenName})
			}
			return out
		}

		// The child's guardian registers (a free ID for her own profile) ...
		mother := &identity.Account{Username: "mother", PasswordHash: "h", Role: identity.RolePatient, Phone: "13900000011", CreatedAt: at}
		code := newCode(mother.Phone, at)
		claim, err := db.CreateVerifiedAccount(ctx, code, mother, patient("周妈妈", rid(3, 35)), at, tell)
		if err != nil || claim != nil {
			t.Fatalf("free registration: %+v %v", claim, err)
		}
		if ok, err := db.PhoneVerified(ctx, mother.ID, mother.Phone); !ok || err != nil {
			t.Fatalf("phone verified %v %v", ok, err)
		}
		// ... and the code is spent.
		again := &identity.Account{Username: "mother2", PasswordHash: "h", Role: identity.RolePatient, Phone: mother.Phone, CreatedAt: at}
		if _, err := db.CreateVerifiedAccount(ctx, code, again, patient("周妈妈", rid(4, 35)), at, tell); errs.Code(err) != errs.Invalid {
			t.Fatalf("a spent code: %v", err)
		}
		// She adds the child: a claim.
		child := patient("周小禾", childID)
		claim, err = db.AddVerifiedPatient(ctx, 0, mother, child, identity.RelChild, at, tell)
		if err != nil || claim == nil || claim.FrozenPatient != sqChild.ID || claim.NewPatient != child.ID || claim.FrozenName != "冒名小孩" ||
			len(claim.Holders) != 1 || claim.Holders[0].AccountID != squatter.ID || claim.Holders[0].Frozen {
			t.Fatalf("claim %+v %v", claim, err)
		}
		held, err := db.PatientByID(ctx, sqChild.ID)
		if err != nil || held.ResidentID == childID {
			t.Fatalf("the frozen profile keeps the ID: %+v %v", held, err)
		}
		if _, err := db.AccountPatient(ctx, squatter.ID, sqChild.ID); !errs.Is(err, errs.NotFound) {
			t.Fatalf("the squatter reaches the frozen child: %v", err)
		}
		if ps, _ := db.PatientsOf(ctx, squatter.ID); len(ps) != 1 {
			t.Fatalf("the squatter lists %+v", ps)
		}
		if ids, _ := db.LinkedAccounts(ctx, sqChild.ID); len(ids) != 0 {
			t.Fatalf("linked to the frozen child: %v", ids)
		}
		if ids, _ := db.LinkedAccounts(ctx, child.ID); len(ids) != 1 || ids[0] != mother.ID {
			t.Fatalf("linked to the new child: %v", ids)
		}
		if _, err := db.RedeemInvite(ctx, []byte("invite-hash"), mother.ID, at.Add(time.Second)); !errs.Is(err, errs.NotFound) {
			t.Fatalf("the frozen child's invitation: %v", err)
		}
		if ns, _ := db.Inbox(ctx, squatter.ID, 10); len(ns) != 1 || ns[0].Body != "冒名小孩" {
			t.Fatalf("notices %+v", ns)
		}
		// The squatter's own account goes on (its child was taken) ...
		if a, _ := db.AccountByID(ctx, squatter.ID); a.Disabled {
			t.Fatal("the guardian's account was disabled")
		}
		// ... until the adult claims his own profile.
		zhou := &identity.Account{Username: "zhou", PasswordHash: "h", Role: identity.RolePatient, Phone: "13900000012", CreatedAt: at}
		claim, err = db.CreateVerifiedAccount(ctx, newCode(zhou.Phone, at), zhou, patient("周建国", adultID), at, tell)
		if err != nil || claim == nil || len(claim.Holders) != 1 || !claim.Holders[0].Frozen {
			t.Fatalf("claim of an own profile: %+v %v", claim, err)
		}
		if a, _ := db.AccountByID(ctx, squatter.ID); !a.Disabled {
			t.Fatal("the squatter's account is not disabled")
		}
		if s, err := db.SessionByTokenHash(ctx, sess.TokenHash); err != nil || !s.Revoked {
			t.Fatalf("the squatter's session: %+v %v", s, err)
		}
		claims, err := db.IdentityClaims(ctx, adultID)
		if err != nil || len(claims) != 1 || claims[0].Claimant != zhou.ID {
			t.Fatalf("claims %+v %v", claims, err)
		}
		// Within the cooldown, the ID is not claimed again; the claimant's
		// own profile is a duplicate; a phone that proved the holding
		// account is told its username.
		other := &identity.Account{Username: "other", PasswordHash: "h", Role: identity.RolePatient, Phone: "13900000013", CreatedAt: at}
		if _, err := db.CreateVerifiedAccount(ctx, newCode(other.Phone, at.Add(time.Hour)), other, patient("周建国", adultID), at.Add(time.Hour), tell); !errs.Is(err, "identity_disputed") {
			t.Fatalf("a second claim: %v", err)
		}
		if _, err := db.AccountByUsername(ctx, "other"); !errs.Is(err, errs.NotFound) {
			t.Fatal("the refused claim left an account")
		}
		if _, err := db.AddVerifiedPatient(ctx, 0, mother, patient("周小禾", childID), identity.RelChild, at, tell); errs.Code(err) != errs.Duplicate {
			t.Fatalf("the same child again: %v", err)
		}
		same := &identity.Account{Username: "zhou2", PasswordHash: "h", Role: identity.RolePatient, Phone: zhou.Phone, CreatedAt: at}
		_, err = db.CreateVerifiedAccount(ctx, newCode(zhou.Phone, at.Add(2*time.Minute)), same, patient("周建国", adultID), at.Add(2*time.Minute), tell)
		if own, ok := err.(*identity.OwnAccountError); !ok || own.Username != "zhou" {
			t.Fatalf("the same phone: %v", err)
		}
		// After the cooldown, a claim is possible again.
		later := at.Add(identity.ClaimCooldown + time.Hour)
		third := &identity.Account{Username: "third", PasswordHash: "h", Role: identity.RolePatient, Phone: "13900000014", CreatedAt: later}
		if claim, err := db.CreateVerifiedAccount(ctx, newCode(third.Phone, later), third, patient("周建国", adultID), later, tell); err != nil || claim == nil {
			t.Fatalf("after the cooldown: %+v %v", claim, err)
		}
	})
}

// The sandbox register answers one ID with one person: the first name
// enrolled stays.
func TestSandboxRegistry(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		id := rid(9, 30)
		for _, c := range []struct{ name, want string }{{"张三", "张三"}, {"李四", "张三"}, {"张三", "张三"}} {
			if held, err := db.EnrolSandboxPerson(ctx, id, c.name, now()); err != nil || held != c.want {
				t.Fatalf("%s: %q %v", c.name, held, err)
			}
		}
	})
}
