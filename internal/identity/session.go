package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// SessionKind tells browser sessions (cookie + CSRF token) from API tokens.
type SessionKind string

const (
	SessionBrowser SessionKind = "browser"
	SessionAPI     SessionKind = "api"
)

// Session is a logged-in client. Only the SHA-256 of the token is stored.
type Session struct {
	TokenHash  []byte
	AccountID  int64
	Kind       SessionKind
	CSRF       string
	CreatedAt  time.Time
	ExpiresAt  time.Time // absolute expiry
	IdleExpiry time.Time // moves forward on use
	Revoked    bool
	IP         string
}

// Valid reports whether the session may be used at now.
func (s *Session) Valid(now time.Time) bool {
	return !s.Revoked && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiry)
}

// NewToken returns a random URL-safe token and its hash.
func NewToken() (token string, hash []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken hashes a session token for storage and lookup.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
