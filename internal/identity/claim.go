package identity

import (
	"context"
	"errors"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// Identity that cannot be squatted (N-5, issue 15). A profile is created
// for a resident ID only after the identity check matched its name and the
// phone of the account was proved by an SMS code. When another profile
// already holds the ID (a squatter's, or one made before these checks, or
// a second parent's), the verified newcomer claims it:
//
//   - the claimant gets a new profile with the ID; nothing of the old
//     profile's online data (appointments, visits, records, prescriptions,
//     payments, files) comes with it, and nothing of the claimant's is
//     visible to the old profile's holders. The hospital's offline history,
//     which is kept by resident ID, follows the ID;
//   - the old profile is frozen: its ID is released (the claim record keeps
//     it), it is no longer listed, read, booked for or linked to by its
//     holders; an account whose own profile it was can no longer log in
//     (its sessions end); pending guardian invitations of it are void;
//   - its holders are told at once in their inbox and by SMS, with the way
//     back: an ID check in person at a hospital counter;
//   - the claim is recorded (identity_claims) and audited.
//
// The answer to the claimant is the answer of a free ID: same status, same
// shape, the extra statements of a claim costing milliseconds beside the
// identity check and the password hash, and the holders' SMS going out
// after the answer. Two cases differ, neither telling a stranger anything:
// an ID claimed within ClaimCooldown is not claimed again online (a dispute
// goes to the counter: no ping-pong between two people who both know the
// name and the ID), and a holder account proved by the same phone is the
// claimant's own (answered with its username, to the owner of that phone).

// ClaimCooldown is how long after a claim an ID cannot be claimed online
// again.
const ClaimCooldown = 30 * 24 * time.Hour

// Holder is an account linked to a frozen profile.
type Holder struct {
	AccountID int64
	Username  string
	Relation  Relation
	Phone     string
	Frozen    bool // its own profile: the account can no longer log in
}

// Claim is a verified person taking their resident ID from a profile that
// held it.
type Claim struct {
	ID            int64
	ResidentID    string
	FrozenPatient int64
	FrozenName    string // the frozen profile's name (told to its holders)
	NewPatient    int64
	Claimant      int64 // the claimant's account
	Holders       []Holder
	At            time.Time
}

// ClaimNotices makes the inbox messages of a claim's holders, written in
// the claim's transaction.
type ClaimNotices func(c *Claim) []notify.Notification

// VerifiedStore creates verified accounts and profiles, with claims.
type VerifiedStore interface {
	// CreateVerifiedAccount spends the SMS code codeID and creates the
	// account (its phone verified) and its own profile (verified), in one
	// transaction; when another profile holds the resident ID, it is
	// claimed (see Claim). Errors: sms_code_invalid (the code was spent or
	// expired meanwhile), a duplicate username, ErrDisputed,
	// *OwnAccountError, errs.Conflict (a concurrent claim).
	CreateVerifiedAccount(ctx context.Context, codeID int64, a *Account, p *Patient, now time.Time, tell ClaimNotices) (*Claim, error)
	// AddVerifiedPatient adds a verified profile to an account, spending
	// codeID when it is not 0 (and marking the account's phone verified);
	// a profile holding the ID is claimed as above, unless it is one of
	// the account's own (a duplicate resident_id).
	AddVerifiedPatient(ctx context.Context, codeID int64, acct *Account, p *Patient, rel Relation, now time.Time, tell ClaimNotices) (*Claim, error)
	// PhoneVerified reports whether the account's phone is phone and was
	// proved by a code.
	PhoneVerified(ctx context.Context, accountID int64, phone string) (bool, error)
}

// ErrDisputed: the resident ID was claimed within ClaimCooldown.
var ErrDisputed = errs.E("identity_disputed")

// OwnAccountError: the profile holding the ID is the own profile of an
// account proved by the claimant's phone.
type OwnAccountError struct{ Username string }

func (e *OwnAccountError) Error() string { return "identity_registered: " + e.Username }

// AsError is the application error of e.
func (e *OwnAccountError) AsError() error { return errs.E("identity_registered", e.Username) }

// RealName runs registration and adding a child with the checks of N-5.
type RealName struct {
	Service *Service
	Codes   *Codes
	Check   IDCheck
	Store   VerifiedStore
	// CheckTimeout bounds one identity check (0: 5 s); past it the check
	// is unavailable.
	CheckTimeout time.Duration
	// Notices are the claimed holders' inbox messages.
	Notices ClaimNotices
	// Checked is told every answer of the identity check (for the audit
	// log); may be nil.
	Checked func(ctx context.Context, name string, rid ResidentID, res Result)
}

// mergeFields copies the field errors of err into f, or returns err when
// it is not a field error.
func mergeFields(f *errs.Fields, err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid {
		return err
	}
	for _, fe := range e.Fields {
		f.Add(fe.Field, fe.Code, fe.Args...)
	}
	return nil
}

// verify runs the identity check: a mismatch is a field error of the
// resident ID, no answer is identity_check_unavailable.
func (rn *RealName) verify(ctx context.Context, name string, rid ResidentID) error {
	d := rn.CheckTimeout
	if d <= 0 {
		d = 5 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	res, err := rn.Check.Verify(cctx, name, rid.Number)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the client went away
		}
		res = Result{Outcome: Unavailable}
	}
	if rn.Checked != nil {
		rn.Checked(ctx, name, rid, res)
	}
	switch res.Outcome {
	case Match:
		return nil
	case Mismatch:
		var f errs.Fields
		f.Add("resident_id", "identity_mismatch")
		return f.Err()
	default:
		return errs.E("identity_check_unavailable")
	}
}

func storeErr(err error) error {
	var own *OwnAccountError
	if errors.As(err, &own) {
		return own.AsError()
	}
	return err
}

// Register opens a patient account with a verified phone and a verified
// real name (N-5). Every field is checked first (and reported at once),
// then the code, then the identity; nothing is stored unless all pass.
func (rn *RealName) Register(ctx context.Context, r Registration) (*Account, *Patient, *Claim, error) {
	r.Normalize()
	r.SMSCode = NormalizeCode(r.SMSCode)
	now := rn.Service.Now()
	var f errs.Fields
	rid, err := r.Validate(now)
	if err := mergeFields(&f, err); err != nil {
		return nil, nil, nil, err
	}
	checkCodeFormat(&f, r.SMSCode)
	if err := f.Err(); err != nil {
		return nil, nil, nil, err
	}
	codeID, err := rn.Codes.Check(ctx, r.Phone, PurposeRegister, r.SMSCode)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := rn.verify(ctx, r.Name, rid); err != nil {
		return nil, nil, nil, err
	}
	hash, err := HashPassword(r.Password)
	if err != nil {
		return nil, nil, nil, err
	}
	a := &Account{Username: r.Username, PasswordHash: hash, Role: RolePatient, Phone: r.Phone, CreatedAt: now}
	p := &Patient{Name: r.Name, ResidentID: rid.Number, Birth: rid.Birth, Sex: rid.Sex, Phone: r.Phone, CreatedAt: now, Relation: RelSelf}
	claim, err := rn.Store.CreateVerifiedAccount(ctx, codeID, a, p, now, rn.Notices)
	if err != nil {
		return nil, nil, nil, storeErr(err)
	}
	return a, p, claim, nil
}

// AddChild adds a child's verified profile to a guardian's account. An
// account whose phone was never proved (made before codes were asked)
// proves it with a code of purpose add_child in the same request. The
// profile of another account holding the ID is claimed.
func (rn *RealName) AddChild(ctx context.Context, acct *Account, n NewPatient) (*Patient, *Claim, error) {
	if acct.Role != RolePatient {
		return nil, nil, errs.E(errs.Forbidden)
	}
	now := rn.Service.Now()
	n.SMSCode = NormalizeCode(n.SMSCode)
	var f errs.Fields
	rid, err := n.Validate(now)
	if err := mergeFields(&f, err); err != nil {
		return nil, nil, err
	}
	verified, err := rn.Store.PhoneVerified(ctx, acct.ID, acct.Phone)
	if err != nil {
		return nil, nil, err
	}
	if !verified {
		if acct.Phone == "" {
			f.Add("phone", "required")
		} else {
			checkCodeFormat(&f, n.SMSCode)
		}
	}
	if err := f.Err(); err != nil {
		return nil, nil, err
	}
	var codeID int64
	if !verified {
		if codeID, err = rn.Codes.Check(ctx, acct.Phone, PurposeAddChild, n.SMSCode); err != nil {
			return nil, nil, err
		}
	}
	if err := rn.verify(ctx, n.Name, rid); err != nil {
		return nil, nil, err
	}
	p := &Patient{Name: n.Name, ResidentID: rid.Number, Birth: rid.Birth, Sex: rid.Sex, Phone: n.Phone, CreatedAt: now, Relation: n.Relation}
	claim, err := rn.Store.AddVerifiedPatient(ctx, codeID, acct, p, n.Relation, now, rn.Notices)
	if err != nil {
		return nil, nil, storeErr(err)
	}
	return p, claim, nil
}
