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
// none twice. Live delivery reaches the subscribers of this process, and
// through a Bus (PostgreSQL's LISTEN/NOTIFY) those of the other servers
// sharing the database.
package chat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
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

// Bus carries the events of a visit between the servers that share the
// database: each server publishes what happens on it and delivers what
// the others publish to its own subscribers.
type Bus interface {
	// Publish sends a notice to the other servers (it may queue).
	Publish(n Notice)
	// Listen calls fn with every notice, its own included, until ctx ends.
	Listen(ctx context.Context, fn func(Notice))
}

// Notice is an event of one server for the others. A message's notice
// carries its number only: the others read it from the store.
type Notice struct {
	Origin  string `json:"o"`
	VisitID int64  `json:"v"`
	Event   Event  `json:"e"`
}

// Event is what a subscriber receives.
type Event struct {
	Type    string          `json:"type"` // message, signal, read, state, call, presence, line
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

	bus       Bus
	origin    string // this server, in its notices
	stopBus   context.CancelFunc
	busClosed chan struct{}
}

type room struct {
	id      int64
	mu      sync.Mutex
	subs    map[*Sub]struct{}
	lastSeq int64                    // the last message number delivered here
	remote  map[string][]visit.Party // who is online on the other servers
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

// Close stops the writer after the queued messages, and the bus.
func (h *Hub) Close() {
	h.once.Do(func() {
		close(h.closed)
		<-h.done
		if h.stopBus != nil {
			h.stopBus()
			<-h.busClosed
		}
	})
}

// UseBus connects the hub to the other servers sharing the database.
func (h *Hub) UseBus(b Bus) {
	var id [8]byte
	rand.Read(id[:])
	h.bus, h.origin = b, hex.EncodeToString(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	h.stopBus, h.busClosed = cancel, make(chan struct{})
	go func() {
		defer close(h.busClosed)
		b.Listen(ctx, h.receive)
	}()
}

// Origin is this server's name in its notices ("" without a bus).
func (h *Hub) Origin() string { return h.origin }

// receive delivers another server's notice to this server's subscribers
// of the visit (if any).
func (h *Hub) receive(n Notice) {
	if n.Origin == h.origin {
		return
	}
	h.mu.Lock()
	r := h.rooms[n.VisitID]
	h.mu.Unlock()
	if r == nil {
		return
	}
	switch n.Event.Type {
	case "message": // read what this server has not delivered, in order
		r.mu.Lock()
		after := r.lastSeq
		r.mu.Unlock()
		if n.Event.Seq <= after {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ms, err := h.store.Messages(ctx, n.VisitID, after, 500)
		cancel()
		if err != nil {
			h.log.Error("chat: read messages of another server", "visit", n.VisitID, "err", err)
			return
		}
		for i := range ms {
			h.deliver(r, nil, Event{Type: "message", Message: &ms[i]})
		}
	case "presence":
		r.mu.Lock()
		if r.remote == nil {
			r.remote = map[string][]visit.Party{}
		}
		r.remote[n.Origin] = n.Event.Online
		online := r.online()
		r.mu.Unlock()
		h.deliver(r, nil, Event{Type: "presence", Online: online})
	default:
		h.deliver(r, nil, n.Event)
	}
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
	r.mu.Unlock()
	h.presence(r)
	return s
}

// presence tells the visit's subscribers who is online (here and on the
// other servers) and the other servers who is online here.
func (h *Hub) presence(r *room) {
	r.mu.Lock()
	online, here := r.online(), r.local()
	r.mu.Unlock()
	h.deliver(r, nil, Event{Type: "presence", Online: online})
	h.publish(r.id, Event{Type: "presence", Online: here})
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
	r.mu.Unlock()
	// The room stays (its numbering and recent client ids) while messages
	// may be in flight; Forget drops it when the visit ends.
	s.h.presence(r)
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

// local is who is online on this server.
func (r *room) local() []visit.Party {
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

// online is who is online here or on another server.
func (r *room) online() []visit.Party {
	out := r.local()
	for _, ps := range r.remote {
		for _, p := range ps {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// send delivers an event here and publishes it to the other servers.
func (h *Hub) send(r *room, skip *Sub, e Event) {
	h.deliver(r, skip, e)
	h.publish(r.id, e)
}

// publish tells the other servers (a message by its number only).
func (h *Hub) publish(visitID int64, e Event) {
	if h.bus == nil {
		return
	}
	if e.Message != nil {
		e = Event{Type: e.Type, Seq: e.Message.Seq}
	}
	h.bus.Publish(Notice{Origin: h.origin, VisitID: visitID, Event: e})
}

// deliver gives an event to every subscriber of a room here except skip.
// Messages go out once each, in number order: one already delivered (read
// for another server's notice) is not sent again. A subscriber whose
// buffer is full is dropped (its client reconnects and resumes from its
// last number).
func (h *Hub) deliver(r *room, skip *Sub, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Message != nil {
		if e.Message.Seq <= r.lastSeq {
			return
		}
		r.lastSeq = e.Message.Seq
	}
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

// Tell sends an event to the subscribers of a visit here and on the other
// servers, without keeping a room for a visit nobody here is in (a moved
// line tells every visit of a session, most with nobody connected).
func (h *Hub) Tell(visitID int64, e Event) {
	h.mu.Lock()
	r := h.rooms[visitID]
	h.mu.Unlock()
	if r != nil {
		h.deliver(r, nil, e)
	}
	h.publish(visitID, e)
}

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
