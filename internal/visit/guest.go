package visit

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// A guest is someone without an account invited into one visit's call by
// its guardian or its doctor (issue 14): a second parent, an interpreter,
// or the child's community doctor (the clinician N-4 wants beside a child
// under 6). The guest's one-time link admits them once; they then hold a
// session bound to that visit only: its chat and video, nothing else.

// PartyGuest is the party of a guest in a visit's chat.
const PartyGuest Party = "guest"

// GuestRole is what a guest is to the visit.
type GuestRole string

// Guest roles.
const (
	GuestGuardian    GuestRole = "guardian"
	GuestInterpreter GuestRole = "interpreter"
	GuestClinician   GuestRole = "clinician"
)

// GuestRoles are the roles a guest may be invited as.
var GuestRoles = []GuestRole{GuestGuardian, GuestInterpreter, GuestClinician}

// GuestLinkTTL is the longest a guest link (and the session it opens)
// lives; it also ends with the visit.
const GuestLinkTTL = 24 * time.Hour

// MaxGuests bounds the guests invited to one visit.
const MaxGuests = 5

// Guest is an invited guest of a visit.
type Guest struct {
	ID        int64     `json:"id"`
	VisitID   int64     `json:"visit_id"`
	Role      GuestRole `json:"role"`
	Phone     string    `json:"-"`
	Name      string    `json:"name"`                 // as invited, then the real name given on joining
	Licence   string    `json:"licence_no,omitempty"` // a clinician's practising licence number
	InvitedBy int64     `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	JoinedAt  time.Time `json:"joined_at,omitzero"`  // the link redeemed
	LeftAt    time.Time `json:"left_at,omitzero"`    // the guest left (the session ended)
	RemovedAt time.Time `json:"removed_at,omitzero"` // the doctor removed the guest
	RemovedBy int64     `json:"removed_by,omitempty"`
	// N-4: the doctor recorded that this clinician is with the child.
	PresentAt time.Time `json:"clinician_present_at,omitzero"`
	PresentBy int64     `json:"clinician_present_by,omitempty"`
	CSRF      string    `json:"-"` // the guest session's synchronizer token
}

// Status is where the guest stands: invited, joined, left or removed.
func (g *Guest) Status() string {
	switch {
	case !g.RemovedAt.IsZero():
		return "removed"
	case !g.LeftAt.IsZero():
		return "left"
	case !g.JoinedAt.IsZero():
		return "joined"
	}
	return "invited"
}

// Admitted reports whether the guest holds a live session at now for a
// visit in state st: joined, neither left nor removed, before the link's
// term, and the visit not over.
func (g *Guest) Admitted(st State, now time.Time) bool {
	return !g.JoinedAt.IsZero() && g.LeftAt.IsZero() && g.RemovedAt.IsZero() && now.Before(g.ExpiresAt) && !st.Final()
}

// GuestInvite is an invitation as sent.
type GuestInvite struct {
	Phone string    `json:"phone"`
	Role  GuestRole `json:"role"`
	Name  string    `json:"name"`
}

var guestPhoneRe = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// licenceRe is a practising licence number (执业证书编码: 15 digits; some
// regions add letters): 6 to 30 letters and digits.
var licenceRe = regexp.MustCompile(`^[0-9A-Za-z]{6,30}$`)

// CheckInvite validates an invitation to a visit in state st.
func CheckInvite(in *GuestInvite, st State) error {
	in.Phone, in.Name = strings.TrimSpace(in.Phone), strings.TrimSpace(in.Name)
	var f errs.Fields
	if in.Phone == "" {
		f.Add("phone", "required")
	} else if !guestPhoneRe.MatchString(in.Phone) {
		f.Add("phone", "phone_format")
	}
	ok := false
	for _, r := range GuestRoles {
		ok = ok || in.Role == r
	}
	if in.Role == "" {
		f.Add("role", "required")
	} else if !ok {
		f.Add("role", "not_an_option")
	}
	if in.Name != "" {
		realName(&f, "name", in.Name)
	}
	if err := f.Err(); err != nil {
		return err
	}
	if st.Final() {
		return errs.E("visit_ended")
	}
	return nil
}

// GuestJoin is what a guest gives on opening the link.
type GuestJoin struct {
	Token   string `json:"token"`
	Name    string `json:"name"`
	Licence string `json:"licence_no"`
}

// CheckJoin validates a guest's real name and, for a clinician, the
// licence number.
func CheckJoin(in *GuestJoin, role GuestRole) error {
	in.Name, in.Licence = strings.TrimSpace(in.Name), strings.TrimSpace(in.Licence)
	var f errs.Fields
	realName(&f, "name", in.Name)
	if role == GuestClinician {
		if in.Licence == "" {
			f.Add("licence_no", "required")
		} else if !licenceRe.MatchString(in.Licence) {
			f.Add("licence_no", "licence_format")
		}
	} else {
		in.Licence = ""
	}
	return f.Err()
}

// realName: 2 to 30 letters (Han or Latin), the middle dot, spaces.
func realName(f *errs.Fields, field, n string) {
	if n == "" {
		f.Add(field, "required")
		return
	}
	if c := utf8.RuneCountInString(n); c < 2 || c > 30 {
		f.Add(field, "name_format")
		return
	}
	for _, r := range n {
		if !(unicode.IsLetter(r) || r == '·' || r == ' ') {
			f.Add(field, "name_format")
			return
		}
	}
}
