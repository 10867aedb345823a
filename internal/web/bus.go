package web

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/chat"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// Servers sharing a PostgreSQL database tell each other, through the
// database's notifications, what the others hold in memory: a visit's
// chat events (the chat hub's bus), and what this server changed that
// the others cache (a revoked session, directory data and rules, a place
// given back, a patient's new guardian), so that a logout or an edit takes
// effect on every server at once, not after the caches' lifetimes.

// chatBus is the chat hub's bus over a notifier.
type chatBus struct{ n *sqlstore.Notifier }

func (b chatBus) Publish(n chat.Notice) {
	if p, err := json.Marshal(n); err == nil {
		b.n.Publish(p)
	}
}

func (b chatBus) Listen(ctx context.Context, fn func(chat.Notice)) {
	b.n.Listen(ctx, func(p []byte) {
		var x chat.Notice
		if json.Unmarshal(p, &x) == nil {
			fn(x)
		}
	})
}

// change is a cached thing one server changed.
type change struct {
	Origin string `json:"o"`
	Kind   string `json:"k"` // session, booking, slot, links
	Key    string `json:"s,omitempty"`
	ID     int64  `json:"i,omitempty"`
}

// startBuses connects the server to the others sharing its database (on
// PostgreSQL); they stop with ctx.
func (s *Server) startBuses(ctx context.Context) error {
	chatN, err := s.db.Notifier(ctx, "chat", s.log)
	if err != nil || chatN == nil {
		return err
	}
	s.hub.UseBus(chatBus{chatN})
	if s.changes, err = s.db.Notifier(ctx, "changes", s.log); err != nil {
		return err
	}
	go s.changes.Listen(ctx, func(p []byte) {
		var c change
		if json.Unmarshal(p, &c) == nil && c.Origin != s.hub.Origin() {
			s.apply(c)
		}
	})
	return nil
}

// changed tells the other servers what this one changed (it has already
// dropped it from its own caches). A place given back (a booking
// cancelled, a hold expired) also moves the line of its session: the
// visits still to be seen hear their new positions (over the chat bus).
func (s *Server) changed(kind, key string, id int64) {
	if kind == "slot" {
		s.lineMoved(context.Background(), id)
	}
	if s.changes == nil {
		return
	}
	if p, err := json.Marshal(change{Origin: s.hub.Origin(), Kind: kind, Key: key, ID: id}); err == nil {
		s.changes.Publish(p)
	}
}

// apply drops what another server changed from this one's caches.
func (s *Server) apply(c change) {
	switch c.Kind {
	case "session":
		if h, err := hex.DecodeString(c.Key); err == nil {
			s.ids.ForgetToken(h)
		}
	case "booking":
		s.bk.Invalidate()
	case "slot":
		s.bk.PlaceFreed(c.ID)
	case "links":
		s.links.Drop("accounts:" + strconv.FormatInt(c.ID, 10))
	case "account": // disabled or enabled by the security administrator
		s.ids.ForgetAccount(c.ID)
	case "security_settings": // session settings changed (api_security.go)
		s.ids.ForgetSettings()
	case "cache":
		s.links.Drop(c.Key)
	}
}

// dropCached drops a key of the short-lived cache here and on the other
// servers (a formulary or an institution's prescription rules changed).
func (s *Server) dropCached(key string) {
	s.links.Drop(key)
	s.changed("cache", key, 0)
}

// loggedOut revokes a session here and on the other servers.
func (s *Server) loggedOut(token string) {
	s.changed("session", hex.EncodeToString(identity.HashToken(token)), 0)
}

// invalidateBooking drops the directory data and rules the booking path
// caches, here and on the other servers (after an edit).
func (s *Server) invalidateBooking() {
	s.bk.Invalidate()
	s.changed("booking", "", 0)
}
