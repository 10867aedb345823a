package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/yunyi-health/yunyi/internal/chat"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Guests in a visit's call (issue 14). The visit's guardian or doctor
// invites someone without an account; the one-time link (only its hash is
// stored) goes by SMS. Redeeming it with a real name (and a clinician's
// licence number) opens a guest session: an HttpOnly cookie whose token
// (hashed in the store) is bound to that one visit. It is no account: the
// authentication middleware never sees it, and the fence below answers
// not_found to every route but the guest's own (the visit's socket and
// ICE credentials, the guest's view, leaving). The guest appears to all
// in the call with their role; the doctor may remove them (their socket
// closes, their link and session stop working) and may record a guest
// clinician as present with the child (N-4), which confirms the N-4 rule
// of the visit's prescriptions. Every invitation, join, connection, leave
// and removal is audited.

const (
	guestCookie       = "yunyi_guest"
	participantsEvent = "participants"
	// guestRemovedStatus closes a removed guest's socket.
	guestRemovedStatus websocket.StatusCode = 4403
)

// guestPathRe are the API paths a guest session may use.
var guestPathRe = regexp.MustCompile(`^/api/v1/visits/[0-9]+/guest(/|$)`)

// guestPath reports whether a guest session may reach a path.
func guestPath(p string) bool {
	return p == "/healthz" || strings.HasPrefix(p, "/static/") || strings.HasPrefix(p, "/guest/") ||
		strings.HasPrefix(p, "/api/v1/guest/") || guestPathRe.MatchString(p)
}

// guestFence answers not_found to a request that carries a guest session
// (and no account) for anything but the guest's own routes: a guest sees
// neither the record, nor the files, nor the pre-consultation, nor any
// other visit.
func (s *Server) guestFence(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if actor(r).Anonymous() && !guestPath(r.URL.Path) {
			if c, err := r.Cookie(guestCookie); err == nil && c.Value != "" {
				if g, err := s.db.GuestBySession(r.Context(), identity.HashToken(c.Value)); err == nil {
					s.guestRecord(r, g, "", "visit.guest.denied", r.Method+" "+r.URL.Path)
					s.fail(w, r, errs.E(errs.NotFound))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// guestRecord audits what a guest did, or what was done to one.
func (s *Server) guestRecord(r *http.Request, g *visit.Guest, institution, action, detail string) error {
	d := fmt.Sprintf("guest %d (%s %s)", g.ID, g.Role, g.Name)
	if detail != "" {
		d += ": " + detail
	}
	e := s.entry(r, action, "visit", strconv.FormatInt(g.VisitID, 10), institution, d)
	if e.ActorID == 0 {
		e.ActorRole = string(visit.PartyGuest)
	}
	return s.audit.Record(r.Context(), *e)
}

// guestSession is the guest of the request's guest session for the visit
// of the path, admitted at this moment; anything else is not_found.
func (s *Server) guestSession(r *http.Request) (*visit.Guest, *visit.Visit, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, nil, errs.E(errs.NotFound)
	}
	c, err := r.Cookie(guestCookie)
	if err != nil || c.Value == "" {
		return nil, nil, errs.E(errs.NotFound)
	}
	g, err := s.db.GuestBySession(r.Context(), identity.HashToken(c.Value))
	if err != nil {
		return nil, nil, err
	}
	if g.VisitID != id {
		s.guestRecord(r, g, "", "visit.guest.denied", r.Method+" "+r.URL.Path)
		return nil, nil, errs.E(errs.NotFound)
	}
	v, err := s.db.Visit(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if !g.Admitted(v.State, s.cfg.Now()) {
		return nil, nil, errs.E(errs.NotFound)
	}
	return g, v, nil
}

// guestCSRFOK checks a guest's state-changing request: the X-CSRF-Token
// header or the form's csrf field must be the guest session's token.
func guestCSRFOK(r *http.Request, g *visit.Guest) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && !isAPI(r) {
		got = r.PostFormValue("csrf")
	}
	return got != "" && g.CSRF != "" && subtle.ConstantTimeCompare([]byte(got), []byte(g.CSRF)) == 1
}

// --- who is in the call ---

type participantJSON struct {
	Party            visit.Party     `json:"party"`              // doctor, patient, guest
	GuestID          int64           `json:"guest_id,omitempty"` // a guest's
	SenderID         int64           `json:"sender_id"`          // as in chat messages (a guest's is minus the guest's id)
	Role             visit.GuestRole `json:"role,omitempty"`
	Name             string          `json:"name"`
	Label            string          `json:"label"` // 翻译：张三
	ClinicianPresent bool            `json:"clinician_present,omitempty"`
}

// participants are who is in a visit's call: its doctor, its patient and
// its admitted guests with their roles.
func (s *Server) participants(ctx context.Context, v *visit.Visit, lang i18n.Lang) ([]participantJSON, error) {
	gs, err := s.db.VisitGuests(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	out := []participantJSON{
		{Party: visit.PartyDoctor, SenderID: v.DoctorAccountID, Name: v.DoctorName, Label: i18n.T(lang, "guest.label", i18n.T(lang, "guest.party.doctor"), v.DoctorName)},
		{Party: visit.PartyPatient, Name: v.PatientName, Label: i18n.T(lang, "guest.label", i18n.T(lang, "guest.party.patient"), v.PatientName)},
	}
	now := s.cfg.Now()
	for _, g := range gs {
		if !g.Admitted(v.State, now) {
			continue
		}
		out = append(out, participantJSON{Party: visit.PartyGuest, GuestID: g.ID, SenderID: -g.ID, Role: g.Role, Name: g.Name,
			Label: i18n.T(lang, "guest.label", i18n.T(lang, "guest.role."+string(g.Role)), g.Name), ClinicianPresent: !g.PresentAt.IsZero()})
	}
	return out, nil
}

// writeParticipants sends a socket the participant list.
func (s *Server) writeParticipants(ctx context.Context, c *websocket.Conn, v *visit.Visit, lang i18n.Lang) error {
	cur, err := s.db.Visit(ctx, v.ID)
	if err != nil {
		return err
	}
	list, err := s.participants(ctx, cur, lang)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(map[string]any{"participants": list})
	return write(ctx, c, wsOut{Event: chat.Event{Type: participantsEvent, Data: data}})
}

// guestStillIn reports whether a connected guest is still admitted.
func (s *Server) guestStillIn(ctx context.Context, g *visit.Guest, st visit.State) bool {
	cur, err := s.db.VisitGuest(ctx, g.VisitID, g.ID)
	return err == nil && cur.Admitted(st, s.cfg.Now())
}

// participantsChanged tells everyone in the visit, on every server, to
// fetch the participant list again (a removed guest's socket closes).
func (s *Server) participantsChanged(visitID int64) {
	s.hub.Broadcast(visitID, chat.Event{Type: participantsEvent})
}

// --- the guardian's and the doctor's side ---

type guestJSON struct {
	*visit.Guest
	Phone      string `json:"phone"` // masked
	RoleText   string `json:"role_text"`
	Label      string `json:"label"`
	Status     string `json:"status"`
	StatusText string `json:"status_text"`
}

func guestOut(g *visit.Guest, lang i18n.Lang) guestJSON {
	role := i18n.T(lang, "guest.role."+string(g.Role))
	phone := g.Phone
	if len(phone) == 11 {
		phone = phone[:3] + "****" + phone[7:]
	}
	label := role
	if g.Name != "" {
		label = i18n.T(lang, "guest.label", role, g.Name)
	}
	return guestJSON{Guest: g, Phone: phone, RoleText: role, Label: label, Status: g.Status(), StatusText: i18n.T(lang, "guest.status."+g.Status())}
}

type guestInvited struct {
	ID   int64  `json:"id"`
	Link string `json:"link"`
}

// guestLink is the address of a guest link on the host the request came
// to (as verifyURL).
func guestLink(r *http.Request, token string) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s/guest/%s", scheme, r.Host, token)
}

// inviteGuest: the visit's guardian (its patient accounts) or its doctor
// invites a guest; the link goes by SMS and is answered once here.
func (s *Server) inviteGuest(ctx context.Context, c call, in visit.GuestInvite) (guestInvited, error) {
	vc, err := s.loadVisit(c.r, false)
	if err != nil {
		return guestInvited{}, err
	}
	if err := visit.CheckInvite(&in, vc.v.State); err != nil {
		return guestInvited{}, err
	}
	now := s.cfg.Now()
	token, hash := identity.NewToken()
	g := &visit.Guest{VisitID: vc.v.ID, Role: in.Role, Phone: in.Phone, Name: in.Name, InvitedBy: c.Actor.ID, CreatedAt: now,
		ExpiresAt: now.Add(visit.GuestLinkTTL)}
	if err := s.db.CreateGuest(ctx, g, hash, visit.MaxGuests); err != nil {
		return guestInvited{}, err
	}
	link := guestLink(c.r, token)
	if err := s.guestRecord(c.r, g, vc.v.Institution, "visit.guest.invite", "by "+string(vc.party)); err != nil {
		return guestInvited{}, err
	}
	// The SMS speaks Chinese (the visit's language); the link is the same.
	s.sendSMSTo(in.Phone, "visit.guest", i18n.T(i18n.ZH, "guest.sms", vc.v.PatientName, vc.v.DoctorName,
		i18n.T(i18n.ZH, "guest.role."+string(in.Role)), link))
	s.participantsChanged(vc.v.ID)
	return guestInvited{ID: g.ID, Link: link}, nil
}

// sendSMSTo hands a text for a number (a guest has no account) to the SMS
// adapter in the background.
func (s *Server) sendSMSTo(phone, kind, text string) {
	if s.sms == nil {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(notify.WithKind(context.Background(), kind), 30*time.Second)
		defer cancel()
		if _, err := s.sms.Send(ctx, phone, text); err != nil {
			s.log.Warn("sms not sent", "kind", kind, "err", err)
		}
	}()
}

type guestsOut struct {
	Items []guestJSON `json:"items"`
}

// listGuests: the visit's guests, for its guardian and doctor.
func (s *Server) listGuests(ctx context.Context, c call, _ none) (guestsOut, error) {
	vc, err := s.loadVisit(c.r, false)
	if err != nil {
		return guestsOut{}, err
	}
	gs, err := s.db.VisitGuests(ctx, vc.v.ID)
	if err != nil {
		return guestsOut{}, err
	}
	out := guestsOut{Items: []guestJSON{}}
	for i := range gs {
		out.Items = append(out.Items, guestOut(&gs[i], apiLang(c.r)))
	}
	return out, nil
}

// visitGuestOf loads the guest of the path for the visit's doctor.
func (s *Server) visitGuestOf(c call) (*visitCtx, int64, error) {
	vc, err := s.loadVisit(c.r, false)
	if err != nil {
		return nil, 0, err
	}
	if err := vc.must(visit.PartyDoctor); err != nil {
		return nil, 0, err
	}
	gid, err := c.PathID("gid")
	return vc, gid, err
}

// removeGuest: the doctor removes a guest; the guest's socket closes and
// the link and session stop working.
func (s *Server) removeGuest(ctx context.Context, c call, _ none) (guestJSON, error) {
	vc, gid, err := s.visitGuestOf(c)
	if err != nil {
		return guestJSON{}, err
	}
	g, err := s.db.RemoveGuest(ctx, vc.v.ID, gid, c.Actor.ID, s.cfg.Now())
	if err != nil {
		return guestJSON{}, err
	}
	if err := s.guestRecord(c.r, g, vc.v.Institution, "visit.guest.remove", ""); err != nil {
		return guestJSON{}, err
	}
	s.participantsChanged(vc.v.ID)
	return guestOut(g, apiLang(c.r)), nil
}

// clinicianPresent: the doctor records (N-4) that a guest clinician in the
// call is with the child.
func (s *Server) clinicianPresent(ctx context.Context, c call, _ none) (guestJSON, error) {
	vc, gid, err := s.visitGuestOf(c)
	if err != nil {
		return guestJSON{}, err
	}
	g, err := s.db.VisitGuest(ctx, vc.v.ID, gid)
	if err != nil {
		return guestJSON{}, err
	}
	if g.Role != visit.GuestClinician || !g.Admitted(vc.v.State, s.cfg.Now()) {
		var f errs.Fields
		f.Add("guest", "not_a_clinician_in_call")
		return guestJSON{}, f.Err()
	}
	if g, err = s.db.GuestClinicianPresent(ctx, vc.v.ID, gid, c.Actor.ID, s.cfg.Now()); err != nil {
		return guestJSON{}, err
	}
	if err := s.guestRecord(c.r, g, vc.v.Institution, "visit.guest.clinician_present", "N-4, licence "+g.Licence); err != nil {
		return guestJSON{}, err
	}
	s.participantsChanged(vc.v.ID)
	return guestOut(g, apiLang(c.r)), nil
}

// n4Confirmations are the N-4 rules a visit's prescriptions have confirmed
// by the doctor's recording of a guest clinician present in the call (the
// guardian is the visit's own party).
func (s *Server) n4Confirmations(ctx context.Context, visitID int64, rules []rx.Rule) ([]string, error) {
	g, err := s.db.ClinicianPresent(ctx, visitID)
	if err != nil || g == nil {
		return nil, err
	}
	var out []string
	for _, r := range rules {
		if r.Source == "N-4" {
			out = append(out, r.Code)
		}
	}
	return out, nil
}

// --- the guest's side ---

// joinGuest redeems a link: the guest's real name (and licence), then the
// guest session's cookie.
func (s *Server) joinGuest(w http.ResponseWriter, r *http.Request, in visit.GuestJoin) (*visit.Guest, *visit.Visit, error) {
	ctx, now := r.Context(), s.cfg.Now()
	hash := identity.HashToken(strings.TrimSpace(in.Token))
	g, err := s.db.GuestByLink(ctx, hash, now)
	if errs.Is(err, errs.NotFound) {
		return nil, nil, errs.E("guest_link_invalid")
	} else if err != nil {
		return nil, nil, err
	}
	v, err := s.db.Visit(ctx, g.VisitID)
	if err != nil {
		return nil, nil, err
	}
	if v.State.Final() {
		return nil, nil, errs.E("guest_link_invalid")
	}
	if err := visit.CheckJoin(&in, g.Role); err != nil {
		return nil, nil, err
	}
	token, sessHash := identity.NewToken()
	csrf, _ := identity.NewToken()
	g, err = s.db.RedeemGuestLink(ctx, hash, sessHash, in.Name, in.Licence, csrf, now)
	if errs.Is(err, errs.NotFound) {
		return nil, nil, errs.E("guest_link_invalid") // spent meanwhile
	} else if err != nil {
		return nil, nil, err
	}
	http.SetCookie(w, &http.Cookie{Name: guestCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: cookieMaxAge(g.ExpiresAt.Sub(now))})
	if err := s.guestRecord(r, g, v.Institution, "visit.guest.join", "licence "+g.Licence); err != nil {
		return nil, nil, err
	}
	s.participantsChanged(v.ID)
	return g, v, nil
}

type guestView struct {
	VisitID      int64             `json:"visit_id"`
	State        visit.State       `json:"state"`
	StateText    string            `json:"state_text"`
	Doctor       string            `json:"doctor"`
	Patient      string            `json:"patient_name"`
	Me           guestJSON         `json:"me"`
	Participants []participantJSON `json:"participants"`
	CSRF         string            `json:"csrf"`
	WS           string            `json:"ws"`
	ICE          string            `json:"ice"`
}

func (s *Server) guestViewOf(ctx context.Context, g *visit.Guest, v *visit.Visit, lang i18n.Lang) (*guestView, error) {
	ps, err := s.participants(ctx, v, lang)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("/api/v1/visits/%d/guest", v.ID)
	return &guestView{VisitID: v.ID, State: v.State, StateText: i18n.T(lang, "state."+string(v.State)), Doctor: v.DoctorName, Patient: v.PatientName,
		Me: guestOut(g, lang), Participants: ps, CSRF: g.CSRF, WS: base + "/ws", ICE: base + "/ice"}, nil
}

// apiGuestJoin: POST /api/v1/guest/join {"token","name","licence_no"}.
func (s *Server) apiGuestJoin(w http.ResponseWriter, r *http.Request) {
	var in visit.GuestJoin
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	g, v, err := s.joinGuest(w, r, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.guestViewOf(r.Context(), g, v, apiLang(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

// apiGuestView: what the guest sees of the visit (who is in the call).
func (s *Server) apiGuestView(w http.ResponseWriter, r *http.Request) {
	g, v, err := s.guestSession(r)
	if err == nil {
		var out *guestView
		if out, err = s.guestViewOf(r.Context(), g, v, apiLang(r)); err == nil {
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	s.fail(w, r, err)
}

// apiGuestWS: the guest's connection to the visit's chat and signalling.
func (s *Server) apiGuestWS(w http.ResponseWriter, r *http.Request) {
	g, v, err := s.guestSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.guestRecord(r, g, v.Institution, "visit.guest.connect", ""); err != nil {
		s.fail(w, r, err)
		return
	}
	s.visitSocket(w, r, &visitCtx{v: v, party: visit.PartyGuest}, -g.ID, g)
	s.guestRecord(r.WithContext(context.WithoutCancel(r.Context())), g, v.Institution, "visit.guest.disconnect", "")
}

// apiGuestICE: the guest's STUN/TURN credentials for the visit's call.
func (s *Server) apiGuestICE(w http.ResponseWriter, r *http.Request) {
	g, v, err := s.guestSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	servers := []any{}
	if s.cfg.TURN != nil {
		list, err := s.cfg.TURN.ICEServers(fmt.Sprintf("v%d-g%d", v.ID, g.ID))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, x := range list {
			servers = append(servers, x)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ice_servers": servers})
}

// leaveGuest ends the guest's session (audited); the cookie is cleared.
func (s *Server) leaveGuest(w http.ResponseWriter, r *http.Request) error {
	g, v, err := s.guestSession(r)
	if err != nil {
		return err
	}
	if !guestCSRFOK(r, g) {
		return errCSRF()
	}
	if err := s.db.GuestLeft(r.Context(), g.ID, s.cfg.Now()); err != nil {
		return err
	}
	s.clearCookie(w, guestCookie)
	if err := s.guestRecord(r, g, v.Institution, "visit.guest.leave", ""); err != nil {
		return err
	}
	s.participantsChanged(v.ID)
	return nil
}

func (s *Server) apiGuestLeave(w http.ResponseWriter, r *http.Request) {
	if err := s.leaveGuest(w, r); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
