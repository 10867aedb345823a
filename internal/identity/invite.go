package identity

import (
	"context"
	"crypto/rand"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// A child has more than one guardian: the guardian who registered the child
// gives the other an invitation code; the other redeems it and is linked to
// the same patient (one person, one patient: N-5). Knowing a child's name
// and resident ID is not enough to link oneself to the child's records.

// InviteTTL is how long an invitation code can be redeemed.
const InviteTTL = 24 * time.Hour

// inviteAlphabet has no 0/O, 1/I/L: codes are read aloud and typed.
const inviteAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// Invite is a guardian invitation for a child.
type Invite struct {
	Code      string    `json:"code"` // shown once; only its hash is stored
	PatientID int64     `json:"patient_id"`
	CreatedBy int64     `json:"-"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NewInviteCode makes a 10-character code (about 50 bits).
func NewInviteCode() string {
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = inviteAlphabet[int(b[i])%len(inviteAlphabet)]
	}
	return string(b)
}

// NormalizeInviteCode uppercases a typed code and drops spaces and dashes.
func NormalizeInviteCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(s)))
}

// InviteStore keeps invitations.
type InviteStore interface {
	CreateInvite(ctx context.Context, codeHash []byte, inv *Invite) error
	// RedeemInvite links the account to the invitation's patient as a
	// guardian and spends the code, in one transaction; errs.NotFound for an
	// unknown, used or expired code.
	RedeemInvite(ctx context.Context, codeHash []byte, accountID int64, now time.Time) (*Patient, error)
}

// InviteGuardian makes an invitation for a child of the account: only a
// guardian of a minor may invite.
func (s *Service) InviteGuardian(ctx context.Context, st InviteStore, acct *Account, patientID int64) (*Invite, error) {
	if acct.Role != RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	p, err := s.Store.AccountPatient(ctx, acct.ID, patientID)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if p.Relation != RelChild || p.Age(now) >= AdultAge {
		return nil, errs.E("invite_not_child")
	}
	inv := &Invite{Code: NewInviteCode(), PatientID: p.ID, CreatedBy: acct.ID, ExpiresAt: now.Add(InviteTTL)}
	if err := st.CreateInvite(ctx, HashToken(inv.Code), inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// RedeemInvite links the account to the child of a code.
func (s *Service) RedeemInvite(ctx context.Context, st InviteStore, acct *Account, code string) (*Patient, error) {
	if acct.Role != RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	code = NormalizeInviteCode(code)
	if len(code) != 10 {
		var f errs.Fields
		f.Add("code", "invite_code")
		return nil, f.Err()
	}
	p, err := st.RedeemInvite(ctx, HashToken(code), acct.ID, s.Now())
	if errs.Is(err, errs.NotFound) {
		var f errs.Fields
		f.Add("code", "invite_code")
		return nil, f.Err()
	}
	return p, err
}
