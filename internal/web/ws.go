package web

import (
	"context"
	"encoding/json"
	"github.com/yunyi-health/yunyi/internal/metrics"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/yunyi-health/yunyi/internal/chat"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/visit"
)

var errChatClosed = errs.E("chat_closed")

// wsOut is a frame to a client: a hub event, or an error answering a
// client's frame.
type wsOut struct {
	chat.Event
	Error    *apiError `json:"error,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
}

// apiWS is a visit's live connection: first every stored message after
// ?after= (in order), then live events; the client posts messages, read
// marks, call events and WebRTC signalling on it. Only the visit's
// patient (or guardian) and doctor may join; the join is audited. A
// guest of the visit joins by its own route (api_guest.go).
// chatSockets counts the visits' open connections on this server (issue
// 17), participants' and guests'.
var chatSockets = metrics.NewGauge("yunyi_chat_sockets", "Open visit chat sockets (participants and guests) on this server.").With()

func (s *Server) apiWS(w http.ResponseWriter, r *http.Request) {
	vc, err := s.loadVisit(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.visitSocket(w, r, vc, actor(r).ID, nil)
}

// visitSocket serves a visit's connection to a participant: an account,
// or a guest g (accountID then -g.ID) who may post messages and signal,
// nothing else, and whose socket closes when the doctor removes them or
// the visit ends.
func (s *Server) visitSocket(w http.ResponseWriter, r *http.Request, vc *visitCtx, accountID int64, g *visit.Guest) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	// The server's read and write timeouts are for requests; a visit's
	// connection lives as long as the visit (pings keep it honest).
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	c, err := websocket.Accept(w, r, nil) // same-origin only
	if err != nil {
		return
	}
	defer c.CloseNow()
	chatSockets.Inc()
	defer chatSockets.Dec()
	c.SetReadLimit(64 << 10)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()

	// A page opens its socket in the page's language (?lang=); other
	// clients by Accept-Language.
	lang := apiLang(r)
	if l := r.URL.Query().Get("lang"); l != "" {
		lang = i18n.Parse(l)
	}
	sub := s.hub.Join(vc.v.ID, accountID, vc.party)
	defer sub.Leave()
	var state atomic.Value
	state.Store(vc.v.State)
	replies := make(chan wsOut, 16)

	// Writer: the backlog, then live events; numbers already sent are
	// skipped, so nothing arrives twice.
	go func() {
		defer cancel()
		last := after
		for {
			ms, err := s.hub.Since(ctx, vc.v.ID, last, 500)
			if err != nil {
				return
			}
			for i := range ms {
				if write(ctx, c, wsOut{Event: chat.Event{Type: "message", Message: &ms[i]}}) != nil {
					return
				}
				last = ms[i].Seq
			}
			if len(ms) < 500 {
				break
			}
		}
		write(ctx, c, wsOut{Event: chat.Event{Type: "state", State: state.Load().(visit.State)}})
		// Where the visit stands in its session's line, if still to be
		// seen; then each time the line moves (lineEvent).
		cur := *vc.v
		cur.State = state.Load().(visit.State)
		if p, err := s.position(ctx, &cur); err == nil && p != nil {
			data, _ := json.Marshal(p)
			write(ctx, c, wsOut{Event: chat.Event{Type: lineEvent, Data: data}})
		}
		// Who is in the call (guests with their roles); again whenever a
		// guest is invited, joins, leaves or is removed.
		if s.writeParticipants(ctx, c, vc.v, lang) != nil {
			return
		}
		ping := time.NewTicker(30 * time.Second)
		defer ping.Stop()
		for {
			select {
			case <-ping.C:
				pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
				err := c.Ping(pctx)
				pcancel()
				if err != nil {
					return
				}
			case e, ok := <-sub.C:
				if !ok {
					c.Close(websocket.StatusTryAgainLater, "slow consumer: reconnect")
					return
				}
				if e.Type == "message" {
					if e.Message.Seq <= last {
						continue
					}
					last = e.Message.Seq
				}
				if e.Type == "state" {
					state.Store(e.State)
				}
				if e.Type == participantsEvent {
					if g != nil && !s.guestStillIn(ctx, g, state.Load().(visit.State)) {
						c.Close(guestRemovedStatus, "removed")
						return
					}
					if s.writeParticipants(ctx, c, vc.v, lang) != nil {
						return
					}
					continue
				}
				if write(ctx, c, wsOut{Event: e}) != nil {
					return
				}
				if g != nil && e.Type == "state" && e.State.Final() {
					c.Close(websocket.StatusNormalClosure, "visit ended")
					return
				}
			case out := <-replies:
				if write(ctx, c, out) != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		in, err := chat.DecodeFrame(typ == websocket.MessageText, data)
		if err != nil {
			_, body := describe(err, lang)
			select {
			case replies <- wsOut{Event: chat.Event{Type: "error"}, Error: &body}:
				continue
			case <-ctx.Done():
				return
			}
		}
		cur := *vc
		v := *vc.v
		v.State = state.Load().(visit.State)
		cur.v = &v
		switch in.Type {
		case "message":
			_, err = s.post(ctx, &cur, accountID, messageIn{Kind: in.Kind, Text: in.Text, AttachmentID: in.AttachmentID, ClientID: in.ClientID})
		case "signal":
			if !v.State.Live() {
				err = errChatClosed
			} else {
				sub.Relay(chat.Event{Type: "signal", Data: in.Data})
			}
		case "read":
			if g == nil { // a guest's read marks are not kept
				err = s.markRead(ctx, &cur, accountID, in.Seq)
			}
		case "call":
			if g != nil { // the call's times are the visit's parties'
				err = errs.E(errs.Forbidden)
			} else {
				err = s.callEvent(ctx, &cur, in.Event)
			}
		}
		if err != nil {
			_, body := describe(err, lang)
			select {
			case replies <- wsOut{Event: chat.Event{Type: "error"}, Error: &body, ClientID: in.ClientID}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func write(ctx context.Context, c *websocket.Conn, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return wsjson.Write(ctx, c, v)
}
