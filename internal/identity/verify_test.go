package identity

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// mapRegistry is a population register in memory.
type mapRegistry struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *mapRegistry) EnrolSandboxPerson(ctx context.Context, id, name string, at time.Time) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if held, ok := r.m[id]; ok {
		return held, nil
	}
	r.m[id] = name
	return name, nil
}

// N-5: the sandbox check answers as the public-security check does: the
// name an ID is held under matches, another does not, an ID never issued
// does not, and a reserved range gets no answer (after the timeout); it
// takes its time, and the caller's deadline cuts it short.
func TestSandboxIDCheck(t *testing.T) {
	birth := now().AddDate(-30, 0, 0)
	known := MakeResidentID("110105", birth, 11, Female)
	fresh := MakeResidentID("110108", birth, 12, Male)
	reg := &mapRegistry{m: map[string]string{known: "李小雨"}}
	c := NewSandboxIDCheck(reg, SandboxCheckConfig{Delay: 2 * time.Millisecond, Timeout: 40 * time.Millisecond, Now: now})
	cases := []struct {
		name, id string
		want     Outcome
	}{
		{"李小雨", known, Match},
		{"李小云", known, Mismatch},
		{"王五", fresh, Match},    // first seen: the register takes the name
		{"王六", fresh, Mismatch}, // one ID, one person
		{"王五", fresh, Match},
		{"赵一", MakeResidentID(SandboxRegionNoRecord, birth, 1, Male), Mismatch},
		{"赵一", known[:17] + "0", Mismatch}, // not a valid ID
		{"", known, Mismatch},
		{"赵一", MakeResidentID(SandboxRegionUnavailable, birth, 1, Male), Unavailable},
	}
	for _, tc := range cases {
		start := time.Now()
		res, err := c.Verify(context.Background(), tc.name, tc.id)
		took := time.Since(start)
		if err != nil || res.Outcome != tc.want || res.Ref == "" {
			t.Errorf("%s %s: %+v %v, want %s", tc.name, tc.id, res, err, tc.want)
		}
		if floor := map[bool]time.Duration{true: 40 * time.Millisecond, false: 2 * time.Millisecond}[tc.want == Unavailable]; took < floor {
			t.Errorf("%s %s answered in %s", tc.name, tc.id, took)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := c.Verify(ctx, "赵一", MakeResidentID(SandboxRegionUnavailable, birth, 1, Male)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a caller's deadline: %v", err)
	}
}

func TestCodeFormat(t *testing.T) {
	for code, want := range map[string]string{"": "required", "123456": "", "12345": "sms_code_format", "12345a": "sms_code_format", "1234567": "sms_code_format"} {
		var f errs.Fields
		checkCodeFormat(&f, NormalizeCode(code))
		got := ""
		if err := f.Err(); err != nil {
			got = fieldCodes(t, err)["sms_code"]
		}
		if got != want {
			t.Errorf("%q: %q, want %q", code, got, want)
		}
	}
	if NormalizeCode(" 123 456 ") != "123456" {
		t.Fatal("spaces are not dropped")
	}
	for i := 0; i < 200; i++ {
		c, err := newCode()
		if err != nil || len(c) != CodeLength {
			t.Fatalf("%q %v", c, err)
		}
	}
}
