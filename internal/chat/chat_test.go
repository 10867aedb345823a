package chat

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/visit"
)

type memStore struct {
	mu   sync.Mutex
	msgs map[int64][]visit.Message
	fail bool
}

func (m *memStore) AppendMessages(ctx context.Context, ms []visit.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("disk full")
	}
	next := map[int64]int64{}
	for i := range ms {
		x := &ms[i]
		x.Replayed = false
		if x.ClientID != "" {
			for _, old := range m.msgs[x.VisitID] {
				if old.SenderID == x.SenderID && old.ClientID == x.ClientID {
					x.Seq, x.Replayed = old.Seq, true
				}
			}
		}
		if x.Replayed {
			continue
		}
		if _, ok := next[x.VisitID]; !ok {
			next[x.VisitID] = int64(len(m.msgs[x.VisitID])) + 1
		}
		x.Seq = next[x.VisitID]
		next[x.VisitID]++
		m.msgs[x.VisitID] = append(m.msgs[x.VisitID], *x)
	}
	return nil
}

func (m *memStore) Messages(ctx context.Context, visitID, after int64, limit int) ([]visit.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []visit.Message
	for _, x := range m.msgs[visitID] {
		if x.Seq > after && len(out) < limit {
			out = append(out, x)
		}
	}
	return out, nil
}

func newHub(t *testing.T, st *memStore) *Hub {
	h := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	t.Cleanup(h.Close)
	return h
}

// Many senders on one visit: numbers 1..n without gaps (the store's),
// delivered to a subscriber in number order, stored before delivery; a
// resend with the same client id is not stored twice nor delivered again.
func TestOrderAndDedupe(t *testing.T) {
	st := &memStore{msgs: map[int64][]visit.Message{7: {{VisitID: 7, Seq: 1, SenderID: 1, ClientID: "old"}}}}
	h := newHub(t, st)
	sub := h.Join(7, 2, visit.PartyDoctor)
	defer sub.Leave()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Post(ctx, visit.Message{VisitID: 7, SenderID: int64(i%2 + 1), Kind: visit.MsgText, Text: "x"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A resend of a message stored before the hub started (loaded with the room).
	if m, err := h.Post(ctx, visit.Message{VisitID: 7, SenderID: 1, ClientID: "old"}); err != nil || m.Seq != 1 {
		t.Fatalf("resend: %v %v", m, err)
	}
	var last int64 = 1
	for last < 201 {
		select {
		case e := <-sub.C:
			if e.Type != "message" {
				continue
			}
			if e.Message.Seq != last+1 {
				t.Fatalf("got %d after %d", e.Message.Seq, last)
			}
			last = e.Message.Seq
		case <-time.After(3 * time.Second):
			t.Fatalf("stuck at %d", last)
		}
	}
	if n := len(st.msgs[7]); n != 201 {
		t.Fatalf("%d stored", n)
	}
}

// A store failure is reported to the sender and nothing is delivered; the
// room reloads its numbering from the store afterwards.
func TestStoreFailure(t *testing.T) {
	st := &memStore{msgs: map[int64][]visit.Message{}}
	h := newHub(t, st)
	sub := h.Join(1, 2, visit.PartyDoctor)
	defer sub.Leave()
	st.fail = true
	if _, err := h.Post(context.Background(), visit.Message{VisitID: 1, SenderID: 1, Text: "lost"}); err == nil {
		t.Fatal("no error")
	}
	st.fail = false
	m, err := h.Post(context.Background(), visit.Message{VisitID: 1, SenderID: 1, Text: "kept"})
	if err != nil || m.Seq != 1 {
		t.Fatalf("after failure: %+v %v", m, err)
	}
	for e := range sub.C {
		if e.Type == "message" {
			if e.Message.Text != "kept" {
				t.Fatalf("delivered %q", e.Message.Text)
			}
			break
		}
	}
}

// A subscriber that does not read is dropped (its channel closed) instead
// of holding up the others.
func TestSlowSubscriberDropped(t *testing.T) {
	st := &memStore{msgs: map[int64][]visit.Message{}}
	h := newHub(t, st)
	slow := h.Join(1, 3, visit.PartyPatient)
	for range 300 {
		h.Post(context.Background(), visit.Message{VisitID: 1, SenderID: 1, Text: "x"})
	}
	n := 0
	for range slow.C {
		n++
	}
	if n == 0 || n > 257 {
		t.Fatalf("the slow subscriber got %d before being dropped", n)
	}
	slow.Leave() // leaving twice is harmless
}
