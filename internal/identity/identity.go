// Package identity holds accounts, roles, real-name patient profiles and the
// guardian relation, with the rules that validate them. It knows nothing of
// the web or the database; Store is what a database must provide.
package identity

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Role of an account.
type Role string

const (
	RolePatient          Role = "patient"
	RoleDoctor           Role = "doctor"
	RolePharmacist       Role = "pharmacist"
	RoleInstitutionAdmin Role = "institution_admin"
	RoleCourier          Role = "courier"
	RoleQuality          Role = "quality" // an institution's quality staff (医务/质控): prescribing statistics (N-15)
	RoleRegulator        Role = "regulator"
	RoleSysadmin         Role = "sysadmin"
	// RoleRetailPharmacist works for a retail pharmacy (零售药店) that
	// institutions list for delivery, not for an institution.
	RoleRetailPharmacist Role = "retail_pharmacist"
	// Separation of duties (三员分立, 等保三级): the system administrator
	// runs the platform; the security administrator keeps accounts and
	// roles; the audit administrator reads and verifies the audit log and
	// changes nothing. None sees medical data or acts for another.
	RoleSecurityAdmin Role = "security_admin"
	RoleAuditAdmin    Role = "audit_admin"
)

// Roles lists every role.
var Roles = []Role{RolePatient, RoleDoctor, RolePharmacist, RoleInstitutionAdmin, RoleCourier, RoleQuality, RoleRegulator, RoleSysadmin, RoleRetailPharmacist, RoleSecurityAdmin, RoleAuditAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Staff roles work for one institution.
func (r Role) Staff() bool {
	switch r {
	case RoleDoctor, RolePharmacist, RoleInstitutionAdmin, RoleCourier, RoleQuality:
		return true
	}
	return false
}

// Account is a login.
type Account struct {
	ID           int64
	Username     string
	PasswordHash string
	Role         Role
	Institution  string // institution code for staff roles, else ""
	Pharmacy     string // retail pharmacy code for retail_pharmacist, else ""
	Phone        string
	Disabled     bool
	CreatedAt    time.Time
}

// Relation of an account to a patient profile.
type Relation string

const (
	RelSelf  Relation = "self"
	RelChild Relation = "child"
)

// Patient is a real-name person who is treated. One resident ID is one
// patient across the platform (N-5).
type Patient struct {
	ID         int64
	Name       string
	ResidentID string
	Birth      time.Time
	Sex        Sex
	Phone      string
	CreatedAt  time.Time
	Relation   Relation // relation to the account that listed it
}

// Age on day.
func (p Patient) Age(day time.Time) int { return AgeOn(p.Birth, day) }

// AdultAge is the age of majority; a guardian may add children under it.
const AdultAge = 18

var (
	usernameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{2,31}$`)
	phoneRe    = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
)

// ValidUsername checks a username.
func validUsername(f *errs.Fields, u string) {
	if u == "" {
		f.Add("username", "required")
	} else if !usernameRe.MatchString(u) {
		f.Add("username", "username_format")
	}
}

// ValidatePassword checks password strength (N-20): 8 to 128 characters
// with at least a letter and a digit, not the username, and not one of the
// common passwords (CommonPassword).
func validatePassword(f *errs.Fields, username, pw string) {
	n := utf8.RuneCountInString(pw)
	if n == 0 {
		f.Add("password", "required")
		return
	}
	var letter, digit bool
	for _, r := range pw {
		letter = letter || unicode.IsLetter(r)
		digit = digit || unicode.IsDigit(r)
	}
	switch {
	case n < 8 || n > 128:
		f.Add("password", "password_length")
	case !letter || !digit:
		f.Add("password", "password_weak")
	case strings.EqualFold(pw, username):
		f.Add("password", "password_weak")
	case CommonPassword(pw):
		f.Add("password", "password_common")
	}
}

// ValidPhone checks a mainland mobile number (11 digits starting 13 to 19).
func validPhone(f *errs.Fields, p string) {
	if p == "" {
		f.Add("phone", "required")
	} else if !phoneRe.MatchString(p) {
		f.Add("phone", "phone_format")
	}
}

// validName checks a real name: 2 to 30 characters, letters (Han or Latin),
// the middle dot of minority names, and spaces.
func validName(f *errs.Fields, field, n string) {
	if n == "" {
		f.Add(field, "required")
		return
	}
	c := utf8.RuneCountInString(n)
	if c < 2 || c > 30 {
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

// Registration is what a person gives to open a patient account with a real
// name.
type Registration struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	Name       string `json:"name"`
	ResidentID string `json:"resident_id"`
	Phone      string `json:"phone"`
	// Optional; when given they must agree with the resident ID.
	BirthDate string `json:"birth_date,omitempty"`
	Sex       string `json:"sex,omitempty"`
	// SMSCode proves the phone (N-5): sent by POST /api/v1/auth/sms-code.
	SMSCode string `json:"sms_code"`
}

// Normalize trims the fields.
func (r *Registration) Normalize() {
	r.Username = strings.TrimSpace(r.Username)
	r.Name = strings.TrimSpace(r.Name)
	r.ResidentID = strings.ToUpper(strings.TrimSpace(r.ResidentID))
	r.Phone = strings.TrimSpace(r.Phone)
}

// Validate checks every field and reports all errors at once. It returns the
// parsed resident ID on success.
func (r Registration) Validate(now time.Time) (ResidentID, error) {
	var f errs.Fields
	validUsername(&f, r.Username)
	validatePassword(&f, r.Username, r.Password)
	validName(&f, "name", r.Name)
	validPhone(&f, r.Phone)
	rid := checkResidentID(&f, r.ResidentID, r.BirthDate, r.Sex, now)
	if err := f.Err(); err != nil {
		return ResidentID{}, err
	}
	return rid, nil
}

func checkResidentID(f *errs.Fields, number, birth, sex string, now time.Time) ResidentID {
	rid, err := ParseResidentID(number, now)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			for _, fe := range e.Fields {
				f.Add(fe.Field, fe.Code)
			}
		}
		return rid
	}
	if birth != "" && birth != rid.Birth.Format("2006-01-02") {
		f.Add("birth_date", "resident_id_mismatch_birth")
	}
	if sex != "" && Sex(sex) != rid.Sex {
		f.Add("sex", "resident_id_mismatch_sex")
	}
	return rid
}

// NewPatient is a profile that an account adds for itself or a child.
type NewPatient struct {
	Name       string   `json:"name"`
	ResidentID string   `json:"resident_id"`
	Relation   Relation `json:"relation"`
	Phone      string   `json:"phone,omitempty"`
	BirthDate  string   `json:"birth_date,omitempty"`
	Sex        string   `json:"sex,omitempty"`
	// SMSCode proves the account's phone when it was never proved (N-5).
	SMSCode string `json:"sms_code,omitempty"`
}

// Validate checks the profile. A child must be under 18 on now; "self" is
// created by registration, so only "child" is accepted here.
func (n *NewPatient) Validate(now time.Time) (ResidentID, error) {
	n.Name = strings.TrimSpace(n.Name)
	n.ResidentID = strings.ToUpper(strings.TrimSpace(n.ResidentID))
	n.Phone = strings.TrimSpace(n.Phone)
	var f errs.Fields
	validName(&f, "name", n.Name)
	if n.Phone != "" {
		validPhone(&f, n.Phone)
	}
	rid := checkResidentID(&f, n.ResidentID, n.BirthDate, n.Sex, now)
	switch n.Relation {
	case RelChild:
		if !f.Has("resident_id") && AgeOn(rid.Birth, now) >= AdultAge {
			f.Add("resident_id", "child_not_minor")
		}
	case "":
		f.Add("relation", "required")
	default:
		f.Add("relation", "relation_invalid")
	}
	if err := f.Err(); err != nil {
		return ResidentID{}, err
	}
	return rid, nil
}

// Store is what identity needs from a database.
type Store interface {
	// CreatePatientAccount creates the account and its own patient profile
	// in one transaction. Duplicate username or resident ID give
	// errs.Duplicate with the field.
	CreatePatientAccount(ctx context.Context, a *Account, p *Patient) error
	CreateAccount(ctx context.Context, a *Account) error
	AccountByUsername(ctx context.Context, username string) (*Account, error)
	AccountByID(ctx context.Context, id int64) (*Account, error)
	SetPassword(ctx context.Context, id int64, hash string) error

	AddPatient(ctx context.Context, accountID int64, p *Patient, rel Relation) error
	PatientsOf(ctx context.Context, accountID int64) ([]Patient, error)
	PatientByID(ctx context.Context, id int64) (*Patient, error)
	// AccountPatient returns a patient linked to the account, with the
	// relation, or errs.NotFound. PatientsOf, AccountPatient and
	// LinkedAccounts leave out a profile frozen by a claim (claim.go).
	AccountPatient(ctx context.Context, accountID, patientID int64) (*Patient, error)
	// Guardians returns the account ids linked to a patient.
	LinkedAccounts(ctx context.Context, patientID int64) ([]int64, error)

	CreateSession(ctx context.Context, s *Session) error
	SessionByTokenHash(ctx context.Context, hash []byte) (*Session, error)
	// SessionAccount reads a session and its account in one query.
	SessionAccount(ctx context.Context, hash []byte) (*Session, *Account, error)
	TouchSession(ctx context.Context, hash []byte, now, idleExpiry time.Time) error
	RevokeSession(ctx context.Context, hash []byte) error
	RevokeAccountSessions(ctx context.Context, accountID int64) error
}
