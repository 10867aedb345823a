package booking

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/history"
)

// visitsStore answers LastDefiniteVisits and counts its calls.
type visitsStore struct {
	history.Store
	mu      sync.Mutex
	calls   int
	largest int
	gate    chan struct{}
}

func (s *visitsStore) LastDefiniteVisits(ctx context.Context, qs []history.Query) ([]history.Last, error) {
	<-s.gate
	s.mu.Lock()
	s.calls++
	s.largest = max(s.largest, len(qs))
	s.mu.Unlock()
	out := make([]history.Last, len(qs))
	for i, q := range qs {
		out[i] = history.Last{Found: true, Date: q.OnOrBefore, DiagnosisCode: q.ResidentID}
	}
	return out, nil
}

// Lookups waiting together are answered by few statements, each its own
// answer; after close a lookup fails at once instead of waiting forever.
func TestVisitReaderBatchesAndCloses(t *testing.T) {
	st := &visitsStore{gate: make(chan struct{})}
	r := newVisitReader(st)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rid := string(rune('A' + i%26))
			l, err := r.last(context.Background(), history.Query{ResidentID: rid, OnOrBefore: "2026-11-26"})
			if err != nil || l.DiagnosisCode != rid {
				t.Errorf("%s: %+v %v", rid, l, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // all queued behind the held statements
	close(st.gate)
	wg.Wait()
	if st.calls >= 200 || st.largest < 2 {
		t.Fatalf("%d statements for 200 lookups, the largest %d", st.calls, st.largest)
	}
	r.close()
	done := make(chan error, 1)
	go func() {
		_, err := r.last(context.Background(), history.Query{ResidentID: "Z"})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a lookup after close was answered")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a lookup after close hangs")
	}
}
