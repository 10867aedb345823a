package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// SMS verification codes (短信验证码, N-5): a phone number given at
// registration is proved by a six-digit code sent to it. A code is good for
// CodePolicy.TTL, once, for one phone and one purpose, and only the newest
// code of a phone and purpose counts; a few wrong entries make it void.
// Only a salted HMAC of the code is stored, keyed by the operator's master
// key when there is one, so that a copy of the database does not hold the
// codes. Sending is limited per phone here (the store counts, so every
// server sharing the database agrees) and per client address by the caller.

// Purposes of a code.
const (
	PurposeRegister = "register"  // opening an account (anonymous)
	PurposeAddChild = "add_child" // adding a child from an account whose phone is not verified yet
)

// CodeLength is the number of digits of a code.
const CodeLength = 6

// CodePolicy bounds codes.
type CodePolicy struct {
	TTL         time.Duration // how long a code is good
	Resend      time.Duration // the least time between two codes to one phone
	PerHour     int           // codes to one phone in an hour
	MaxAttempts int           // wrong entries that make a code void
}

// DefaultCodePolicy: 5 minutes, one a minute, five an hour, five tries.
var DefaultCodePolicy = CodePolicy{TTL: 5 * time.Minute, Resend: time.Minute, PerHour: 5, MaxAttempts: 5}

// SMSCode is a code as stored: never the code itself.
type SMSCode struct {
	ID        int64
	Phone     string
	Purpose   string
	Salt      []byte
	Hash      []byte
	IP        string // the client that asked for it
	AccountID int64  // the account that asked for it (add_child), else 0
	Attempts  int
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CodeStore keeps codes.
type CodeStore interface {
	// SaveSMSCode stores c unless its phone had a code less than p.Resend
	// ago or p.PerHour codes in the last hour (at c.CreatedAt); then it
	// stores nothing and returns how long to wait.
	SaveSMSCode(ctx context.Context, c *SMSCode, p CodePolicy) (wait time.Duration, err error)
	// LiveSMSCode returns the newest code of phone and purpose when it is
	// unused, unexpired at now and has fewer than maxAttempts wrong
	// entries; errs.NotFound otherwise.
	LiveSMSCode(ctx context.Context, phone, purpose string, now time.Time, maxAttempts int) (*SMSCode, error)
	// FailSMSCode counts a wrong entry of a code.
	FailSMSCode(ctx context.Context, id int64) error
	// DropSMSCode removes a code that could not be sent.
	DropSMSCode(ctx context.Context, id int64) error
}

// SMSSender sends a text message (notify.SMS).
type SMSSender interface {
	Send(ctx context.Context, to, text string) (id string, err error)
}

// WaitError says how long a refused request must wait.
type WaitError struct{ Wait time.Duration }

func (e *WaitError) Error() string { return "wait " + e.Wait.String() }

// Codes sends and checks codes.
type Codes struct {
	Store  CodeStore
	SMS    SMSSender
	Key    []byte // HMAC key of the stored hashes (may be empty)
	Policy CodePolicy
	Now    func() time.Time
	// Text is the message carrying a code for a purpose.
	Text func(purpose, code string) string
}

func validPurpose(p string) bool { return p == PurposeRegister || p == PurposeAddChild }

// NormalizeCode drops spaces from a typed code.
func NormalizeCode(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), " ", "") }

// checkCodeFormat adds the field error of a malformed code.
func checkCodeFormat(f *errs.Fields, code string) {
	if code == "" {
		f.Add("sms_code", "required")
		return
	}
	if len(code) != CodeLength || strings.Trim(code, "0123456789") != "" {
		f.Add("sms_code", "sms_code_format")
	}
}

func (c *Codes) mac(salt []byte, purpose, phone, code string) []byte {
	m := hmac.New(sha256.New, c.Key)
	m.Write(salt)
	for _, s := range []string{purpose, phone, code} {
		m.Write([]byte{0})
		m.Write([]byte(s))
	}
	return m.Sum(nil)
}

// newCode is a uniformly random code of CodeLength digits.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// Send makes a code for phone and purpose and texts it. A phone that had a
// code too recently gets errs.RateLimited wrapping a *WaitError, and no
// message; a message the gateway refuses leaves no code (sms_failed).
func (c *Codes) Send(ctx context.Context, phone, purpose, ip string, accountID int64) error {
	phone = strings.TrimSpace(phone)
	var f errs.Fields
	validPhone(&f, phone)
	if !validPurpose(purpose) {
		f.Add("purpose", "purpose_invalid")
	}
	if err := f.Err(); err != nil {
		return err
	}
	code, err := newCode()
	if err != nil {
		return err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	now := c.Now()
	sc := &SMSCode{Phone: phone, Purpose: purpose, Salt: salt, Hash: c.mac(salt, purpose, phone, code), IP: ip, AccountID: accountID,
		CreatedAt: now, ExpiresAt: now.Add(c.Policy.TTL)}
	wait, err := c.Store.SaveSMSCode(ctx, sc, c.Policy)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &errs.Error{Code: errs.RateLimited, Err: &WaitError{Wait: wait}}
	}
	if _, err := c.SMS.Send(notify.WithKind(ctx, "sms_code"), phone, c.Text(purpose, code)); err != nil {
		if derr := c.Store.DropSMSCode(context.WithoutCancel(ctx), sc.ID); derr != nil {
			return derr
		}
		return errs.Wrap("sms_failed", err)
	}
	return nil
}

// errCodeInvalid is the one answer for a code that is wrong, expired,
// used, void or was never sent.
func errCodeInvalid() error {
	var f errs.Fields
	f.Add("sms_code", "sms_code_invalid")
	return f.Err()
}

// Check finds the live code of phone and purpose and compares code with
// it, counting a wrong entry. It returns the code's id, to be spent in the
// transaction that uses it; the code stays good until then.
func (c *Codes) Check(ctx context.Context, phone, purpose, code string) (int64, error) {
	sc, err := c.Store.LiveSMSCode(ctx, phone, purpose, c.Now(), c.Policy.MaxAttempts)
	if errs.Is(err, errs.NotFound) {
		return 0, errCodeInvalid()
	}
	if err != nil {
		return 0, err
	}
	if !hmac.Equal(c.mac(sc.Salt, purpose, phone, NormalizeCode(code)), sc.Hash) {
		if err := c.Store.FailSMSCode(ctx, sc.ID); err != nil {
			return 0, err
		}
		return 0, errCodeInvalid()
	}
	return sc.ID, nil
}
