package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"strings"
	"time"
)

// Identity verification (实名认证, N-5): a name and a resident ID are
// checked against the population register by the public-security identity
// check (公安部公民身份信息核验, the "two-element" check of name and ID
// number), before a profile is created for them. The real service answers
// 一致 (match), 不一致 or 库中无此号 (mismatch: the name is not the ID's,
// or no such ID was issued), or not at all (unavailable: down, overloaded,
// timed out). IDCheck is its adapter; SandboxIDCheck stands in for it.

// Outcome of an identity check.
type Outcome string

const (
	Match       Outcome = "match"       // 一致
	Mismatch    Outcome = "mismatch"    // 不一致 / 库中无此号
	Unavailable Outcome = "unavailable" // no answer: try again later
)

// Result is the answer of an identity check. Ref is the checker's
// reference of the query (kept in the audit log, as the ministry's
// 流水号 is kept for disputes).
type Result struct {
	Outcome Outcome
	Ref     string
}

// IDCheck checks that name is the name of the person with residentID.
// An error is returned only when ctx ended before the answer; a service
// that does not answer is Unavailable, not an error.
type IDCheck interface {
	Verify(ctx context.Context, name, residentID string) (Result, error)
}

// SandboxRegistry is the sandbox's population register: who holds which
// resident ID. The sandbox keeps it in the database so that every server
// of a deployment, and the demo across restarts, sees the same persons.
type SandboxRegistry interface {
	// EnrolSandboxPerson records that residentID is name's unless the
	// register holds the ID already; it returns the name held for it.
	EnrolSandboxPerson(ctx context.Context, residentID, name string, at time.Time) (held string, err error)
}

// Reserved regions of the sandbox: administrative division codes that no
// Beijing district has (Beijing's run 110101 to 110119), so that no real ID
// and no ID of the demo or the tests falls in them by chance.
const (
	// SandboxRegionUnavailable: the check does not answer (as when the
	// ministry's interface is down), after SandboxConfig.Timeout.
	SandboxRegionUnavailable = "110199"
	// SandboxRegionNoRecord: the check answers 库中无此号 (mismatch).
	SandboxRegionNoRecord = "110198"
)

// SandboxCheckConfig sets up a SandboxIDCheck.
type SandboxCheckConfig struct {
	// Delay is how long an answer takes, plus up to half as much again at
	// random (the real check answers in about 0.2 to 0.8 s); 0 means 300 ms.
	Delay time.Duration
	// Timeout is how long an unanswered check waits before it is
	// reported unavailable (0 means 3 s).
	Timeout time.Duration
	Now     func() time.Time // nil: time.Now
}

// SandboxIDCheck is the identity check of the sandbox. It is deterministic
// for a given register:
//
//   - an ID of region SandboxRegionUnavailable gets no answer: Unavailable
//     after Timeout;
//   - an ID of region SandboxRegionNoRecord was never issued: Mismatch;
//   - an ID the register holds matches exactly the name it holds (the demo
//     enrols its persons; tests enrol theirs);
//   - an ID the register does not hold is enrolled under the name it is
//     first checked with, which it then matches, and no other name does:
//     the sandbox cannot know everyone, but it answers one ID with one
//     person, as the real register does.
//
// So a second person giving another name for a known ID is refused, and
// the same name is accepted: as the real two-element check, which proves
// that a name and an ID belong together, not who is asking (which is why
// a claim also needs a phone verified by code, and why the holder it
// displaces is told).
type SandboxIDCheck struct {
	Registry SandboxRegistry
	cfg      SandboxCheckConfig
}

// NewSandboxIDCheck returns the sandbox check over a register.
func NewSandboxIDCheck(reg SandboxRegistry, cfg SandboxCheckConfig) *SandboxIDCheck {
	if cfg.Delay <= 0 {
		cfg.Delay = 300 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SandboxIDCheck{Registry: reg, cfg: cfg}
}

var _ IDCheck = (*SandboxIDCheck)(nil)

// wait sleeps d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// jitter is a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d)))
	if err != nil {
		return 0
	}
	return time.Duration(n.Int64())
}

func newRef() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "sandbox-idc-" + hex.EncodeToString(b)
}

// Verify answers as described on SandboxIDCheck.
func (c *SandboxIDCheck) Verify(ctx context.Context, name, residentID string) (Result, error) {
	name, residentID = strings.TrimSpace(name), strings.ToUpper(strings.TrimSpace(residentID))
	ref := newRef()
	if strings.HasPrefix(residentID, SandboxRegionUnavailable) {
		if err := wait(ctx, c.cfg.Timeout); err != nil {
			return Result{}, err
		}
		return Result{Outcome: Unavailable, Ref: ref}, nil
	}
	if err := wait(ctx, c.cfg.Delay+jitter(c.cfg.Delay/2)); err != nil {
		return Result{}, err
	}
	if _, err := ParseResidentID(residentID, c.cfg.Now()); err != nil || name == "" || strings.HasPrefix(residentID, SandboxRegionNoRecord) {
		return Result{Outcome: Mismatch, Ref: ref}, nil
	}
	held, err := c.Registry.EnrolSandboxPerson(ctx, residentID, name, c.cfg.Now())
	if err != nil {
		// The register did not answer: as the service being down.
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return Result{Outcome: Unavailable, Ref: ref}, nil
	}
	if held != name {
		return Result{Outcome: Mismatch, Ref: ref}, nil
	}
	return Result{Outcome: Match, Ref: ref}, nil
}
