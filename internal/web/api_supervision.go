package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/sign"
	"github.com/yunyi-health/yunyi/internal/supervision"
)

// The supervision feed (N-16, N-22; package supervision): this server's
// reporter sends its institutions' outboxes to the platform at
// Config.SupervisionURL, and the same server can be the platform: it takes
// signed batches at POST /api/v1/supervision/events from the institutions
// the regulator registered, and the regulator reads what was received.

// setUpFeed makes the institutions' signing keys (with a master key) and
// starts the reporter's loop when the feed has an address.
func (s *Server) setUpFeed(cfg Config) {
	if s.rxKeys != nil {
		s.feedKeys = &supervision.Keys{Store: s.db, Sealer: s.rxKeys.Sealer, Now: cfg.Now}
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stopFeed = stop
	if cfg.SupervisionURL == "" || s.feedKeys == nil {
		return
	}
	rep := s.FeedReporter(cfg.SupervisionURL)
	s.feedDone = make(chan struct{})
	go func() {
		defer close(s.feedDone)
		rep.Run(ctx)
	}()
}

// FeedReporter is a reporter of this server's outboxes to the platform at
// target, on the server's clock (the tests set its Sleep).
func (s *Server) FeedReporter(target string) *supervision.Reporter {
	client := s.cfg.SupervisionClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return &supervision.Reporter{Store: s.db, Keys: s.feedKeys, URL: target, Client: client, Log: s.log, Now: s.cfg.Now,
		Owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))}
}

// apiFeedReceive takes a signed batch of an institution's events. It
// needs no login: the batch's SM2 signature with the institution's
// registered key is its authentication.
func (s *Server) apiFeedReceive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, supervision.MaxBatchBytes))
	if err != nil {
		s.fail(w, r, errs.E(errs.PayloadTooBig))
		return
	}
	inst := r.Header.Get(supervision.InstitutionHeader)
	rcv := supervision.Receiver{Store: s.db, Now: s.cfg.Now}
	rec, err := rcv.Receive(r.Context(), inst, r.Header.Get(supervision.SignatureHeader), body)
	if err != nil {
		if code := errs.Code(err); code == supervision.CodeBadSignature || code == supervision.CodeUnknownSource || code == supervision.CodeGap {
			s.log.Warn("supervision batch refused", "institution", inst, "code", code)
		}
		var gap *supervision.GapError
		if errors.As(err, &gap) {
			// The reporter resumes after the platform's last event.
			status, out := describe(err, apiLang(r))
			out.RequestID = requestID(r)
			out.Details = map[string]int64{"last_seq": gap.Last}
			writeJSON(w, status, map[string]apiError{"error": out})
			return
		}
		s.fail(w, r, err)
		return
	}
	object := inst // what was stored: the institution's numbers first-last
	if rec.Accepted > 0 {
		object += ":" + strconv.FormatInt(rec.LastSeq-int64(rec.Accepted)+1, 10) + "-" + strconv.FormatInt(rec.LastSeq, 10)
	}
	if err := s.audit.Record(r.Context(), *s.entry(r, "supervision.receive", "feed", object, inst,
		fmt.Sprintf("accepted %d, duplicates %d", rec.Accepted, rec.Duplicates))); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// feedStatusOut is the feed's state: what this server (as the platform)
// received of each institution, and how far this server's own outboxes
// were acknowledged by the platform it reports to.
type feedStatusOut struct {
	Reporting bool            `json:"reporting"`          // this server sends its outboxes (--supervision-url)
	Platform  string          `json:"platform,omitempty"` // the host it sends them to
	Received  []feedOut       `json:"received"`
	Outbox    []feedCursorOut `json:"outbox"`
}

type feedOut struct {
	supervision.Feed
	InstitutionName string `json:"institution_name"`
}

type feedCursorOut struct {
	supervision.Cursor
	InstitutionName string `json:"institution_name"`
}

// feedStatus: the regulator sees every institution, an institution's admin
// its own (N-16: the institution sees that its data interface works).
func (s *Server) feedStatus(ctx context.Context, c call, _ none) (*feedStatusOut, error) {
	if !authz.SeeFeedStatus(c.Actor, c.Actor.Institution) {
		return nil, errs.E(errs.Forbidden)
	}
	lang := apiLang(c.r)
	out := &feedStatusOut{Reporting: s.cfg.SupervisionURL != "" && s.feedKeys != nil, Received: []feedOut{}, Outbox: []feedCursorOut{}}
	if u, err := url.Parse(s.cfg.SupervisionURL); err == nil {
		out.Platform = u.Host
	}
	feeds, err := s.db.Feeds(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range feeds {
		if authz.SeeFeedStatus(c.Actor, f.Institution) {
			out.Received = append(out.Received, feedOut{Feed: f, InstitutionName: s.instNameOf(ctx, f.Institution).in(lang)})
		}
	}
	curs, err := s.db.FeedCursors(ctx)
	if err != nil {
		return nil, err
	}
	for _, cur := range curs {
		if authz.SeeFeedStatus(c.Actor, cur.Institution) {
			out.Outbox = append(out.Outbox, feedCursorOut{Cursor: cur, InstitutionName: s.instNameOf(ctx, cur.Institution).in(lang)})
		}
	}
	return out, nil
}

// listFeedEvents: the received events, for the regulator alone (codes and
// pseudonymous keys, yet about patients: every read is audited).
func (s *Server) listFeedEvents(ctx context.Context, c call, _ none) (map[string]any, error) {
	if !authz.Supervise(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	f := supervision.Filter{Institution: c.Query("institution"), Kind: supervision.Kind(c.Query("kind")), From: c.Query("from"), To: c.Query("to")}
	var fe errs.Fields
	for name, v := range map[string]string{"from": f.From, "to": f.To} {
		if v != "" && !dates.Valid(v) {
			fe.Add(name, "invalid")
		}
	}
	for name, p := range map[string]*int64{"after_seq": &f.AfterSeq} {
		if v := c.Query(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				fe.Add(name, "invalid")
			}
			*p = n
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fe.Add("limit", "invalid")
		}
		f.Limit = n
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	list, err := s.db.ReceivedEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("kind=%s from=%s to=%s after=%d: %d events", f.Kind, f.From, f.To, f.AfterSeq, len(list))
	return map[string]any{"items": list}, s.record(c.r, "supervision.events.read", "feed", f.Institution, f.Institution, detail)
}

// feedSourceIn registers the key an institution's batches are signed with.
type feedSourceIn struct {
	PublicKey string `json:"public_key"`
}

// putFeedSource: the regulator registers (or replaces) an institution's
// public key on the platform.
func (s *Server) putFeedSource(ctx context.Context, c call, in feedSourceIn) (*supervision.Source, error) {
	if !authz.Supervise(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	if _, err := sign.ParsePublic(in.PublicKey); err != nil {
		var f errs.Fields
		f.Add("public_key", "invalid")
		return nil, f.Err()
	}
	src := &supervision.Source{Institution: c.Path("institution"), PublicKey: in.PublicKey, By: c.Actor.ID,
		UpdatedAt: s.cfg.Now().UTC().Truncate(time.Microsecond)}
	if err := s.db.SaveFeedSource(ctx, src); err != nil {
		return nil, err
	}
	return src, s.record(c.r, "supervision.source.save", "institution", src.Institution, src.Institution, "")
}

func (s *Server) listFeedSources(ctx context.Context, c call, _ none) (map[string]any, error) {
	if !authz.Supervise(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	list, err := s.db.FeedSources(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"items": list}, nil
}

// feedKeyOut is an institution's public key, to register on the platform.
type feedKeyOut struct {
	Institution string `json:"institution"`
	PublicKey   string `json:"public_key"`
	Algorithm   string `json:"algorithm"`
}

// institutionFeedKey: the public key this server signs an institution's
// batches with (made on first use), for its admin and the regulator.
func (s *Server) institutionFeedKey(ctx context.Context, c call, _ none) (*feedKeyOut, error) {
	code := c.Path("code")
	if !authz.SeeInstitutionStaff(c.Actor, code) {
		return nil, errs.E(errs.Forbidden)
	}
	if _, err := s.dir.Institution(ctx, code); err != nil {
		return nil, err
	}
	if s.feedKeys == nil {
		return nil, errs.E("signing_unavailable")
	}
	k, err := s.feedKeys.Signer(ctx, code)
	if err != nil {
		return nil, err
	}
	return &feedKeyOut{Institution: code, PublicKey: k.PublicKey, Algorithm: "SM2-SM3"}, nil
}
