// Package chat carries a visit's conversation: text and image messages
// numbered per visit and persisted before anyone sees them, the WebRTC
// signalling of the video call (relayed, never stored), read marks and
// state changes. It knows no transport: the web package bridges it to
// WebSocket connections.
//
// Messages of all visits are written by one writer in group commits (many
// messages a transaction); the store numbers each visit's messages in the
// writing transaction (so servers sharing a database never repeat a
// number), and the hub delivers them after their commit, in order, so a
// client that reconnects with the last number it saw gets what it missed,
// none twice. Live delivery reaches the subscribers of this process.
package chat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/visit"
)

// Store is what the hub needs of the database.
type Store interface {
	// AppendMessages numbers and stores messages (Seq), marking resends of
	// a stored client id Replayed with the stored number.
	AppendMessages(ctx context.Context, ms []visit.Message) error
	Messages(ctx context.Context, visitID, after int64, limit int) ([]visit.Message, error)
}

// Event is what a subscriber receives.
type Event struct {
	Type    string          `json:"type"` // message, signal, read, state, call, presence
	Message *visit.Message  `json:"message,omitempty"`
	From    int64           `json:"from,omitempty"`
	Role    visit.Party     `json:"role,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Seq     int64           `json:"seq,omitempty"`
	State   visit.State     `json:"state,omitempty"`
	Online  []visit.Party   `json:"online,omitempty"`
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("chat: hub closed")

// Hub holds the visits' rooms and the message writer.
type Hub struct {
	store Store
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex
	rooms map[int64]*room

	queue  chan *pending
	closed chan struct{}
	done   chan struct{}
	once   sync.Once
}

type room struct {
	id   int64
	mu   sync.Mutex
	subs map[*Sub]struct{}
}

type pending struct {
	m    visit.Message
	r    *room
	done chan error
}

// Sub is one connection's subscription to a visit.
type Sub struct {
	C         chan Event // closed when the hub drops a slow subscriber or on Leave
	AccountID int64
	Role      visit.Party
	r         *room
	h         *Hub
	gone      bool
}

// BatchMax is the most messages one transaction writes.
const BatchMax = 512

// New starts a hub over a store.
func New(store Store, log *slog.Logger, now func() time.Time) *Hub {
	if now == nil {
		now = time.Now
	}
	h := &Hub{store: store, log: log, now: now, rooms: map[int64]*room{}, queue: make(chan *pending, 8192),
		closed: make(chan struct{}), done: make(chan struct{})}
	go h.writer()
	return h
}

// Close stops the writer after the queued messages.
func (h *Hub) Close() {
	h.once.Do(func() {
		close(h.closed)
		<-h.done
	})
}

func (h *Hub) room(id int64) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	if r == nil {
		r = &room{id: id, subs: map[*Sub]struct{}{}}
		h.rooms[id] = r
	}
	return r
}

// Join subscribes an account to a visit's events.
func (h *Hub) Join(visitID, accountID int64, role visit.Party) *Sub {
	r := h.room(visitID)
	s := &Sub{C: make(chan Event, 256), AccountID: accountID, Role: role, r: r, h: h}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	online := r.online()
	r.mu.Unlock()
	h.send(r, nil, Event{Type: "presence", Online: online})
	return s
}

// Leave ends a subscription.
func (s *Sub) Leave() {
	r := s.r
	r.mu.Lock()
	if !s.gone {
		s.gone = true
		delete(r.subs, s)
		close(s.C)
	}
	online := r.online()
	r.mu.Unlock()
	// The room stays (its numbering and recent client ids) while messages
	// may be in flight; Forget drops it when the visit ends.
	s.h.send(r, nil, Event{Type: "presence", Online: online})
}

// Forget drops a finished visit's room once nobody is in it.
func (h *Hub) Forget(visitID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[visitID]; r != nil {
		r.mu.Lock()
		empty := len(r.subs) == 0
		r.mu.Unlock()
		if empty {
			delete(h.rooms, visitID)
		}
	}
}

func (r *room) online() []visit.Party {
	seen := map[visit.Party]bool{}
	out := []visit.Party{}
	for s := range r.subs {
		if !seen[s.Role] {
			seen[s.Role] = true
			out = append(out, s.Role)
		}
	}
	return out
}

// send delivers an event to every subscriber of a room except skip. A
// subscriber whose buffer is full is dropped (its client reconnects and
// resumes from its last number).
func (h *Hub) send(r *room, skip *Sub, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		if s == skip {
			continue
		}
		select {
		case s.C <- e:
		default:
			s.gone = true
			delete(r.subs, s)
			close(s.C)
		}
	}
}

// Broadcast sends an event to everyone in a visit (state changes, call
// events).
func (h *Hub) Broadcast(visitID int64, e Event) { h.send(h.room(visitID), nil, e) }

// Relay sends an event from one subscriber to the others of its visit
// (WebRTC signalling, typing, read marks).
func (s *Sub) Relay(e Event) {
	e.From, e.Role = s.AccountID, s.Role
	s.h.send(s.r, s, e)
}

// Post stores a message (the store numbers it) and delivers it to the
// visit's subscribers; it returns the stored message once committed. A
// message with a client id already stored for the same sender is not
// stored again: the stored number is returned and nothing is delivered.
func (h *Hub) Post(ctx context.Context, m visit.Message) (visit.Message, error) {
	m.CreatedAt = h.now().UTC()
	p := &pending{m: m, r: h.room(m.VisitID), done: make(chan error, 1)}
	select {
	case h.queue <- p:
	case <-h.closed:
		return m, ErrClosed
	}
	select {
	case err := <-p.done:
		return p.m, err
	case <-ctx.Done():
		return m, ctx.Err()
	}
}

// writer commits queued messages in batches and delivers each after its
// commit, in queue order (which is every room's number order).
func (h *Hub) writer() {
	defer close(h.done)
	batch := make([]*pending, 0, BatchMax)
	for {
		batch = batch[:0]
		select {
		case p := <-h.queue:
			batch = append(batch, p)
		case <-h.closed:
			// Drain what is queued, then stop.
			for {
				select {
				case p := <-h.queue:
					batch = append(batch, p)
					if len(batch) == BatchMax {
						h.flush(batch)
						batch = batch[:0]
					}
				default:
					if len(batch) > 0 {
						h.flush(batch)
					}
					return
				}
			}
		}
	fill:
		for len(batch) < BatchMax {
			select {
			case p := <-h.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		h.flush(batch)
	}
}

func (h *Hub) flush(batch []*pending) {
	ms := make([]visit.Message, len(batch))
	for i, p := range batch {
		ms[i] = p.m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := h.store.AppendMessages(ctx, ms)
	cancel()
	if err != nil {
		h.log.Error("chat: store messages", "n", len(ms), "err", err)
	}
	for i, p := range batch {
		if err == nil {
			p.m = ms[i]
			if !p.m.Replayed {
				m := p.m
				h.send(p.r, nil, Event{Type: "message", Message: &m})
			}
		}
		p.done <- err
	}
}

// Since returns the stored messages after seq, in order (for a client that
// reconnects), at most limit.
func (h *Hub) Since(ctx context.Context, visitID, after int64, limit int) ([]visit.Message, error) {
	return h.store.Messages(ctx, visitID, after, limit)
}
