package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// The guest's pages (issue 14): the link's join form, then the call.

type guestPage struct {
	Join      bool
	Token     string
	RoleText  string
	Patient   string
	Doctor    string
	Clinician bool
	View      *guestView
	Message   string
}

func (s *Server) guestPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /guest/{token}", s.pageGuestLink)
	mux.HandleFunc("POST /guest/{token}", s.postGuestLink)
	mux.HandleFunc("GET /guest/visits/{id}", s.pageGuestCall)
	mux.HandleFunc("POST /guest/visits/{id}/leave", s.postGuestLeave)
}

// guestLinkPage fills the join form of a link, or says it no longer works.
func (s *Server) guestLinkPage(w http.ResponseWriter, r *http.Request, p *page) (int, bool) {
	token := strings.TrimSpace(r.PathValue("token"))
	g, err := s.db.GuestByLink(r.Context(), identity.HashToken(token), s.cfg.Now())
	var v *visit.Visit
	if err == nil {
		v, err = s.db.Visit(r.Context(), g.VisitID)
	}
	if err != nil || v.State.Final() {
		p.Data = guestPage{Message: i18n.T(p.Lang, "guest_link_invalid")}
		return http.StatusGone, false
	}
	p.Data = guestPage{Join: true, Token: token, RoleText: p.T("guest.role." + string(g.Role)), Patient: v.PatientName, Doctor: v.DoctorName,
		Clinician: g.Role == visit.GuestClinician}
	return http.StatusOK, true
}

func (s *Server) pageGuestLink(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "guest.title")
	status, _ := s.guestLinkPage(w, r, p)
	s.render(w, r, status, "guest", p)
}

func (s *Server) postGuestLink(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "guest.title")
	if !anonCSRFOK(r) {
		s.renderError(w, r, http.StatusForbidden, apiError{Code: errs.CSRF, Message: p.T(errs.CSRF)})
		return
	}
	status, ok := s.guestLinkPage(w, r, p)
	if !ok {
		s.render(w, r, status, "guest", p)
		return
	}
	_, v, err := s.joinGuest(w, r, visit.GuestJoin{Token: r.PathValue("token"), Name: r.PostFormValue("name"), Licence: r.PostFormValue("licence_no")})
	if err != nil {
		p.Form = r.PostForm
		p.setErr(err)
		st, _ := describe(err, p.Lang)
		s.render(w, r, st, "guest", p)
		return
	}
	http.Redirect(w, r, "/guest/visits/"+strconv.FormatInt(v.ID, 10), http.StatusSeeOther)
}

func (s *Server) pageGuestCall(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "guest.title")
	g, v, err := s.guestSession(r)
	if err != nil {
		p.Data = guestPage{Message: p.T("guest.ended")}
		s.render(w, r, http.StatusNotFound, "guest", p)
		return
	}
	view, err := s.guestViewOf(r.Context(), g, v, p.Lang)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Data = guestPage{View: view}
	s.render(w, r, http.StatusOK, "guest", p)
}

func (s *Server) postGuestLeave(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "guest.title")
	if err := s.leaveGuest(w, r); err != nil {
		s.fail(w, r, err)
		return
	}
	p.Data = guestPage{Message: p.T("guest.left")}
	s.render(w, r, http.StatusOK, "guest", p)
}

// --- the guest panel of the visit page (the guardian's and the doctor's) ---

// guestPanel is what the visit page shows of the call's participants and
// the visit's guests while the visit is to be seen.
type guestPanel struct {
	GuestPanel   bool
	Participants []participantJSON
	Guests       []guestJSON
	GuestRoles   []visit.GuestRole
}

func (s *Server) fillGuestPanel(r *http.Request, vc *visitCtx, gp *guestPanel, lang i18n.Lang) error {
	if !vc.v.State.ChatOpen() || (vc.party != visit.PartyDoctor && vc.party != visit.PartyPatient) {
		return nil
	}
	ctx := r.Context()
	var err error
	if gp.Participants, err = s.participants(ctx, vc.v, lang); err != nil {
		return err
	}
	gs, err := s.db.VisitGuests(ctx, vc.v.ID)
	if err != nil {
		return err
	}
	for i := range gs {
		gp.Guests = append(gp.Guests, guestOut(&gs[i], lang))
	}
	gp.GuestPanel, gp.GuestRoles = true, visit.GuestRoles
	return nil
}

// guestForms are the visit page's forms over the guests' JSON handlers:
// the same checks, audit and notices.
func (s *Server) guestForms(mux *http.ServeMux) {
	for _, f := range []struct {
		path string
		do   func(ctx context.Context, c call, _ none) (guestJSON, error)
	}{
		{"remove", s.removeGuest},
		{"clinician-present", s.clinicianPresent},
	} {
		do := f.do
		mux.HandleFunc("POST /visits/{id}/guests/{gid}/"+f.path, s.requireLogin(s.visitForm(func(r *http.Request, vc *visitCtx) error {
			_, err := do(r.Context(), call{Actor: actor(r), r: r}, none{})
			return err
		})))
	}
}

// formInviteGuest sends an invitation from the visit page, which then
// lists the guest as invited (the link itself goes to the guest's phone
// only).
func (s *Server) formInviteGuest(r *http.Request, vc *visitCtx) error {
	_, err := s.inviteGuest(r.Context(), call{Actor: actor(r), r: r},
		visit.GuestInvite{Phone: r.PostFormValue("phone"), Role: visit.GuestRole(r.PostFormValue("role"))})
	return err
}
