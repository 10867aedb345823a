package identity

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// Staff accounts have a second factor (N-20, 等保三级 strong
// authentication): a time-based one-time password (TOTP, RFC 6238) from an
// authenticator app, in the parameters every app reads from an otpauth://
// URL: HMAC-SHA1, 6 digits, a 30-second step. A code is accepted for the
// current step and one step either side (a phone's clock a little off),
// and only once: a step at or before the last accepted one is refused
// (RFC 6238 §5.2).

const (
	// TOTPPeriod is the time step of a code.
	TOTPPeriod = 30 * time.Second
	// TOTPDigits is the length of a code.
	TOTPDigits = 6
	// TOTPIssuer names the platform in the authenticator app.
	TOTPIssuer = "Yunyi"
	// totpSkew is how many steps either side of the current one a code
	// may be from.
	totpSkew = 1
	// RecoveryCodeCount is how many recovery codes an enrolment gives.
	RecoveryCodeCount = 10
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a new random secret (160 bits, RFC 4226's
// recommended length) in base32 without padding, as apps take it.
func NewTOTPSecret() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b32.EncodeToString(b)
}

// TOTPURL is the otpauth:// URL of a secret (what the QR code holds).
func TOTPURL(account, secret string) (string, error) {
	raw, err := b32.DecodeString(secret)
	if err != nil {
		return "", fmt.Errorf("identity: TOTP secret: %w", err)
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: account, Secret: raw,
		Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("identity: TOTP URL: %w", err)
	}
	return k.URL(), nil
}

// TOTPStep is the time step of t.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCodeAt is the code of a secret for a time step.
func TOTPCodeAt(secret string, step int64) (string, error) {
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// TOTPCode is the code of a secret at t.
func TOTPCode(secret string, t time.Time) (string, error) { return TOTPCodeAt(secret, TOTPStep(t)) }

// matchTOTP returns the step whose code code is, among the steps around
// now; every candidate is computed and compared in constant time.
func matchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	if len(code) != TOTPDigits {
		return 0, false
	}
	cur := TOTPStep(now)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		want, err := TOTPCodeAt(secret, s)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// isTOTPCode reports whether a typed code is a TOTP code (six digits)
// rather than a recovery code.
func isTOTPCode(code string) bool {
	if len(code) != TOTPDigits {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// normalizeCode drops the spaces and dashes people type in codes.
func normalizeCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// NewRecoveryCodes makes RecoveryCodeCount codes of 10 characters (about
// 50 bits each), shown as two groups of five.
func NewRecoveryCodes() []string {
	out := make([]string, RecoveryCodeCount)
	for i := range out {
		c := NewInviteCode()
		out[i] = strings.ToLower(c[:5] + "-" + c[5:])
	}
	return out
}

// recoveryHash is what is stored of a recovery code: SHA-256 over the
// account and the normalized code (the codes carry 50 random bits, so a
// fast hash suffices; the account binds a code to its owner).
func recoveryHash(accountID int64, code string) []byte {
	h := sha256.New()
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], uint64(accountID))
	h.Write([]byte("yunyi recovery code\x00"))
	h.Write(id[:])
	h.Write([]byte(strings.ToUpper(normalizeCode(code))))
	return h.Sum(nil)
}

// SecretBox keeps TOTP secrets sealed at rest: SM4-GCM under a key derived
// from the operator's master key (the one that seals signing keys, --keys)
// by HKDF-SM3 with its own info string, the account id bound as
// additional data (a sealed secret copied to another account does not
// open). A nil *SecretBox stores secrets plain, marked so: a server run
// without a master key (it says so at start) still has second factors.
type SecretBox struct {
	aead cipher.AEAD
}

const (
	boxPlain  = 0 // version byte of a secret stored plain
	boxSealed = 1 // version byte of an SM4-GCM sealed secret
	boxInfo   = "yunyi/identity: SM4-GCM sealing TOTP secrets, v1"
)

// ErrSecretBox is returned (wrapped) when a sealed secret does not open:
// another master key, or altered bytes.
var ErrSecretBox = errors.New("identity: TOTP secret does not open: wrong master key, or altered bytes")

// NewSecretBox derives the sealing key from the 32-byte master key.
func NewSecretBox(master []byte) (*SecretBox, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("identity: master key is %d bytes, want 32", len(master))
	}
	key, err := hkdf.Key(sm3.New, master, nil, boxInfo, 16)
	if err != nil {
		return nil, fmt.Errorf("identity: derive TOTP key: %w", err)
	}
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

func boxAAD(version byte, accountID int64) []byte {
	b := make([]byte, 9)
	b[0] = version
	binary.BigEndian.PutUint64(b[1:], uint64(accountID))
	return b
}

// Seal returns the stored form of a secret.
func (b *SecretBox) Seal(accountID int64, secret string) ([]byte, error) {
	if b == nil {
		return append([]byte{boxPlain}, secret...), nil
	}
	n := b.aead.NonceSize()
	out := make([]byte, 1+n, 1+n+len(secret)+b.aead.Overhead())
	out[0] = boxSealed
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return b.aead.Seal(out, out[1:1+n], []byte(secret), boxAAD(boxSealed, accountID)), nil
}

// Open returns the secret of its stored form. A plain one opens with any
// box; a sealed one needs the box of its master key.
func (b *SecretBox) Open(accountID int64, stored []byte) (string, error) {
	if len(stored) == 0 {
		return "", fmt.Errorf("identity: empty TOTP secret; %w", ErrSecretBox)
	}
	switch stored[0] {
	case boxPlain:
		return string(stored[1:]), nil
	case boxSealed:
		if b == nil {
			return "", fmt.Errorf("identity: the TOTP secret is sealed and the server has no master key (--keys); %w", ErrSecretBox)
		}
		n := b.aead.NonceSize()
		if len(stored) < 1+n+b.aead.Overhead() {
			return "", fmt.Errorf("identity: truncated TOTP secret; %w", ErrSecretBox)
		}
		plain, err := b.aead.Open(nil, stored[1:1+n], stored[1+n:], boxAAD(boxSealed, accountID))
		if err != nil {
			return "", ErrSecretBox
		}
		return string(plain), nil
	}
	return "", fmt.Errorf("identity: unknown TOTP secret version %d; %w", stored[0], ErrSecretBox)
}
