package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// SMS sends text messages to mobile phones. The real one is an SMS
// gateway's API; SandboxSMS stands in for it here.
type SMS interface {
	Send(ctx context.Context, to, text string) (id string, err error)
}

// SMSRecord is one message handed to the SMS adapter, and what came of it.
type SMSRecord struct {
	ID         int64     `json:"id"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"` // sent, failed
	Error      string    `json:"error,omitempty"`
	ProviderID string    `json:"provider_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// SMSLog keeps the record of what the sandbox would have sent.
type SMSLog interface {
	RecordSMS(ctx context.Context, r *SMSRecord) error
	SMSSent(ctx context.Context, to string, limit int) ([]SMSRecord, error)
}

// Errors of the SMS adapter (as a gateway answers them).
var (
	ErrSMSNumber   = errors.New("sms: not a mainland mobile number")
	ErrSMSTooLong  = errors.New("sms: text longer than 500 characters")
	ErrSMSRejected = errors.New("sms: gateway rejected the message")
)

var mobileRE = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// SandboxSMS is the SMS adapter of the sandbox: it checks a message as a
// gateway would, waits as a gateway does, fails every FailEvery-th message,
// and records every attempt in the log instead of sending anything.
type SandboxSMS struct {
	Log       SMSLog
	Delay     time.Duration // per message
	FailEvery int64         // 0: never
	Now       func() time.Time
	n         atomic.Int64
}

// Send records what would be sent.
func (s *SandboxSMS) Send(ctx context.Context, to, text string) (string, error) {
	rec := &SMSRecord{To: to, Text: text, Status: "sent", CreatedAt: time.Now().UTC()}
	if s.Now != nil {
		rec.CreatedAt = s.Now().UTC()
	}
	if k, ok := ctx.Value(smsKindKey{}).(string); ok {
		rec.Kind = k
	}
	var err error
	switch {
	case !mobileRE.MatchString(to):
		err = ErrSMSNumber
	case utf8.RuneCountInString(text) > 500:
		err = ErrSMSTooLong
	case s.FailEvery > 0 && s.n.Add(1)%s.FailEvery == 0:
		err = ErrSMSRejected
	}
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if err != nil {
		rec.Status, rec.Error = "failed", err.Error()
	} else {
		var b [8]byte
		rand.Read(b[:])
		rec.ProviderID = "sandbox-" + hex.EncodeToString(b[:])
	}
	if lerr := s.Log.RecordSMS(ctx, rec); lerr != nil {
		return "", lerr
	}
	return rec.ProviderID, err
}

type smsKindKey struct{}

// WithKind tags the messages sent with ctx by the notification kind.
func WithKind(ctx context.Context, kind string) context.Context {
	return context.WithValue(ctx, smsKindKey{}, kind)
}
