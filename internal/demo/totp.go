package demo

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"

	"github.com/yunyi-health/yunyi/internal/identity"
)

// TOTPSecret is the known second-factor secret of a demo staff account
// (N-20): derived from its username, printed at start and on the login
// page, so that a demo user adds it to an authenticator app. Demo data
// only: a real account's secret is random and shown once at enrolment.
func TOTPSecret(username string) string {
	h := sha256.Sum256([]byte("yunyi demo TOTP secret\x00" + username))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:20])
}

// Enroller puts a known second-factor secret in force for an account
// without one (identity.Service).
type Enroller interface {
	EnrolKnownTOTP(ctx context.Context, a *identity.Account, secret string) (bool, error)
}

// EnrolStaff enrols every demo account but the patients with its known
// TOTP secret, unless it has a second factor already (a demo user who
// moved it to their own phone keeps it), and returns the accounts with
// their secrets. It runs on every start: a database loaded before second
// factors existed gets them.
func EnrolStaff(ctx context.Context, s identity.Store, e Enroller, accounts []Account) ([]Account, error) {
	out := make([]Account, len(accounts))
	copy(out, accounts)
	for i := range out {
		if out[i].Role == string(identity.RolePatient) {
			continue
		}
		a, err := s.AccountByUsername(ctx, out[i].Username)
		if err != nil {
			return nil, fmt.Errorf("demo account %s: %w", out[i].Username, err)
		}
		out[i].TOTPSecret = TOTPSecret(a.Username)
		if _, err := e.EnrolKnownTOTP(ctx, a, out[i].TOTPSecret); err != nil {
			return nil, fmt.Errorf("demo account %s: %w", a.Username, err)
		}
	}
	return out, nil
}
