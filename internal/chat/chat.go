// Package chat carries a visit's conversation: text and image messages
// numbered per visit and persisted before anyone sees them, the WebRTC
// signalling of the video call (relayed, never stored), read marks and
// state changes. It knows no transport: the web package bridges it to
// WebSocket connections.
//
// Messages of all visits are written by one writer in group commits (many
// messages a transaction); each visit's messages are numbered under the
// visit's lock and delivered after their commit, in order, so a client that
// reconnects with the last number it saw gets what it missed, none twice.
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
	AppendMessages(ctx context.Context, ms []visit.Message) error
	Messages(ctx context.Context, visitID, after int64, limit int) ([]visit.Message, error)
	LastSeq(ctx context.Context, visitID int64) (int64, error)
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
	id      int64
	mu      sync.Mutex
	loaded  bool
	next    int64
	clients map[string]int64 // sender/client id → seq, of recent messages
	subs    map[*Sub]struct{}
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
		r = &room{id: id, clients: map[string]int64{}, subs: map[*Sub]struct{}{}}
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

// Post numbers a message, stores it and delivers it to the visit's
// subscribers; it returns once the message is committed. A message with
// a client id already seen from the same sender is not stored again: the
// earlier one is returned.
func (h *Hub) Post(ctx context.Context, m visit.Message) (visit.Message, error) {
	r := h.room(m.VisitID)
	r.mu.Lock()
	if !r.loaded {
		if err := h.load(ctx, r); err != nil {
			r.mu.Unlock()
			return m, err
		}
	}
	key := clientKey(m)
	if key != "" {
		if seq, ok := r.clients[key]; ok {
			r.mu.Unlock()
			ms, err := h.store.Messages(ctx, m.VisitID, seq-1, 1)
			if err == nil && len(ms) == 1 {
				return ms[0], nil
			}
			return m, err
		}
	}
	r.next++
	m.Seq = r.next
	m.CreatedAt = h.now().UTC()
	if key != "" {
		r.clients[key] = m.Seq
		if len(r.clients) > 4096 {
			clear(r.clients)
		}
	}
	p := &pending{m: m, r: r, done: make(chan error, 1)}
	select {
	case h.queue <- p:
	case <-h.closed:
		r.mu.Unlock()
		return m, ErrClosed
	}
	r.mu.Unlock()
	select {
	case err := <-p.done:
		return m, err
	case <-ctx.Done():
		return m, ctx.Err()
	}
}

func clientKey(m visit.Message) string {
	if m.ClientID == "" {
		return ""
	}
	b, _ := json.Marshal([]any{m.SenderID, m.ClientID})
	return string(b)
}

// load reads a room's last number and its recent client ids.
func (h *Hub) load(ctx context.Context, r *room) error {
	last, err := h.store.LastSeq(ctx, r.id)
	if err != nil {
		return err
	}
	from := last - 200
	if from < 0 {
		from = 0
	}
	ms, err := h.store.Messages(ctx, r.id, from, 200)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if k := clientKey(m); k != "" {
			r.clients[k] = m.Seq
		}
	}
	r.next, r.loaded = last, true
	return nil
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
		// The numbers handed out are lost: reload the rooms' numbering.
		for _, p := range batch {
			p.r.mu.Lock()
			p.r.loaded = false
			clear(p.r.clients)
			p.r.mu.Unlock()
		}
	}
	for _, p := range batch {
		if err == nil {
			m := p.m
			h.send(p.r, nil, Event{Type: "message", Message: &m})
		}
		p.done <- err
	}
}

// Since returns the stored messages after seq, in order (for a client that
// reconnects), at most limit.
func (h *Hub) Since(ctx context.Context, visitID, after int64, limit int) ([]visit.Message, error) {
	return h.store.Messages(ctx, visitID, after, limit)
}
