package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// Identity that cannot be squatted (N-5, issue 15): registration and
// adding a child prove the phone by an SMS code and the name and resident
// ID by the public-security identity check (identity.RealName); an ID that
// another profile held is claimed, that profile frozen and its holders
// told; the answers are those of a free ID.

// setUpRealName makes the registration service: Config.IDCheck or the
// sandbox check over the database's register, codes sent by the server's
// SMS adapter and hashed with a key derived from the master key.
func (s *Server) setUpRealName(cfg Config) {
	check := cfg.IDCheck
	if check == nil {
		c := cfg.IDCheckSandbox
		if c.Now == nil {
			c.Now = cfg.Now
		}
		check = identity.NewSandboxIDCheck(s.db, c)
	}
	var key []byte
	if cfg.SigningKey != nil {
		m := hmac.New(sha256.New, cfg.SigningKey)
		m.Write([]byte("yunyi sms codes v1"))
		key = m.Sum(nil)
	}
	s.rn = &identity.RealName{
		Service: s.ids, Store: s.db, Check: check,
		Codes: &identity.Codes{Store: s.db, SMS: s.sms, Key: key, Policy: identity.DefaultCodePolicy, Now: cfg.Now,
			Text: func(purpose, code string) string { return i18n.T(i18n.ZH, "sms.code."+purpose, code) }},
		Notices: claimNotices,
		Checked: s.auditIDCheck,
	}
}

// auditIDCheck records every answer of the identity check (the masked ID
// and the checker's reference: a dispute is settled with them).
func (s *Server) auditIDCheck(ctx context.Context, name string, rid identity.ResidentID, res identity.Result) {
	e := audit.Entry{At: s.cfg.Now().UTC(), Action: "identity.check", ObjectType: "resident_id", ObjectID: identity.MaskResidentID(rid.Number),
		Detail: strings.TrimSpace(string(res.Outcome) + " " + res.Ref)}
	if m := metaOf(ctx); m != nil {
		e.IP = m.ip
	}
	if ri, ok := ctx.Value(reqKey).(*reqInfo); ok && ri.account != nil {
		e.ActorID, e.ActorRole = ri.account.ID, string(ri.account.Role)
	}
	if err := s.audit.Record(ctx, e); err != nil {
		s.log.Error("audit identity check", "err", err)
	}
}

// claimNotices are the inbox messages of a claim's holders, in both
// languages; they say nothing of the claimant.
func claimNotices(c *identity.Claim) []notify.Notification {
	var out []notify.Notification
	for _, h := range c.Holders {
		kind := "claim.child"
		if h.Frozen {
			kind = "claim.self"
		}
		out = append(out, notify.Notification{AccountID: h.AccountID, Kind: "identity_claimed",
			Title: i18n.T(i18n.ZH, kind+".title"), Body: i18n.T(i18n.ZH, kind+".body", c.FrozenName),
			TitleEN: i18n.T(i18n.EN, kind+".title"), BodyEN: i18n.T(i18n.EN, kind+".body", c.FrozenName)})
	}
	return out
}

// recordAll writes audit entries at once (one group commit, not one after
// the other: a claim's answer takes no longer than a free ID's).
func (s *Server) recordAll(ctx context.Context, es ...*audit.Entry) error {
	errc := make(chan error, len(es))
	n := 0
	for _, e := range es {
		if e != nil {
			n++
			go func(e audit.Entry) { errc <- s.audit.Record(ctx, e) }(*e)
		}
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// claimed finishes a claim after its transaction: the frozen profile and
// accounts leave the caches here and on the other servers, the holders get
// their SMS (after the answer); it returns the claim's audit entry (nil
// without a claim).
func (s *Server) claimed(r *http.Request, actorID int64, c *identity.Claim) *audit.Entry {
	if c == nil {
		return nil
	}
	pid := strconv.FormatInt(c.FrozenPatient, 10)
	s.links.Drop("accounts:" + pid)
	s.changed("links", "", c.FrozenPatient)
	holders := make([]string, 0, len(c.Holders))
	for _, h := range c.Holders {
		s.dropCached(strconv.FormatInt(h.AccountID, 10) + ":" + pid)
		kind := "claim.child"
		if h.Frozen {
			kind = "claim.self"
			s.ids.ForgetAccount(h.AccountID)
			s.changed("account", "", h.AccountID)
		}
		s.sendSMS(h.AccountID, "identity_claimed", "【云医】"+i18n.T(i18n.ZH, kind+".body", c.FrozenName))
		holders = append(holders, fmt.Sprintf("%d/%s", h.AccountID, h.Relation))
	}
	return &audit.Entry{At: s.cfg.Now().UTC(), ActorID: actorID, ActorRole: string(identity.RolePatient),
		Action: "identity.claim", ObjectType: "patient", ObjectID: pid, IP: clientIP(r),
		Detail: fmt.Sprintf("claim %d: new patient %d; frozen holders %s", c.ID, c.NewPatient, strings.Join(holders, ","))}
}

func (s *Server) apiRegister(w http.ResponseWriter, r *http.Request) {
	if !s.limits.allow("register-ip", clientIP(r)) {
		s.fail(w, r, errs.E(errs.RateLimited))
		return
	}
	var reg identity.Registration
	if err := decode(w, r, &reg); err != nil {
		s.fail(w, r, err)
		return
	}
	a, p, claim, err := s.rn.Register(r.Context(), reg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.recordAll(r.Context(), &audit.Entry{ActorID: a.ID, ActorRole: string(a.Role), Action: "account.register",
		ObjectType: "patient", ObjectID: strconv.FormatInt(p.ID, 10), IP: clientIP(r)}, s.claimed(r, a.ID, claim)); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"account": accountOut(a), "patient": s.patientOut(p)})
}

func (s *Server) apiAddPatient(w http.ResponseWriter, r *http.Request) {
	var n identity.NewPatient
	if err := decode(w, r, &n); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.addChild(r, n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.patientOut(p))
}

// addChild adds a verified child profile to the caller's account (API and
// form), audited, with the claim it made if any. Each account runs a few
// identity checks a minute at most: the check answers whether a name and
// an ID belong together, which is worth guessing at.
func (s *Server) addChild(r *http.Request, n identity.NewPatient) (*identity.Patient, error) {
	a := info(r).account
	if !s.limits.allow("child-account", strconv.FormatInt(a.ID, 10)) {
		return nil, errs.E(errs.RateLimited)
	}
	p, claim, err := s.rn.AddChild(r.Context(), a, n)
	if err != nil {
		return nil, err
	}
	return p, s.recordAll(r.Context(), s.entry(r, "patient.create", "patient", strconv.FormatInt(p.ID, 10), "", string(n.Relation)),
		s.claimed(r, a.ID, claim))
}

type smsCodeIn struct {
	Phone   string `json:"phone"`
	Purpose string `json:"purpose"` // register, add_child
}

type smsCodeOut struct {
	Phone              string `json:"phone"` // masked
	ExpiresInSeconds   int    `json:"expires_in_seconds"`
	ResendAfterSeconds int    `json:"resend_after_seconds"`
}

// maskPhone shows a mobile number as 139****5678.
func maskPhone(p string) string {
	if len(p) != 11 {
		return "***"
	}
	return p[:3] + "****" + p[7:]
}

// sendSMSCode texts a code (POST /api/v1/auth/sms-code): for registration
// to the number given, for adding a child to the caller's own number.
// Limited per phone (identity.CodePolicy, 429 with Retry-After) and per
// client address ("sms-ip"); the answer is the same whether the number has
// an account or not.
func (s *Server) sendSMSCode(ctx context.Context, c call, in smsCodeIn) (smsCodeOut, error) {
	var acctID int64
	if in.Purpose == identity.PurposeAddChild {
		a := info(c.r).account
		if a == nil {
			return smsCodeOut{}, errs.E(errs.Unauthorized)
		}
		if a.Role != identity.RolePatient {
			return smsCodeOut{}, errs.E(errs.Forbidden)
		}
		if p := strings.TrimSpace(in.Phone); p != "" && p != a.Phone {
			var f errs.Fields
			f.Add("phone", "phone_not_account")
			return smsCodeOut{}, f.Err()
		}
		in.Phone, acctID = a.Phone, a.ID
	}
	if err := s.sendCode(c.r, in.Phone, in.Purpose, acctID); err != nil {
		return smsCodeOut{}, err
	}
	pol := s.rn.Codes.Policy
	return smsCodeOut{Phone: maskPhone(strings.TrimSpace(in.Phone)), ExpiresInSeconds: int(pol.TTL.Seconds()), ResendAfterSeconds: int(pol.Resend.Seconds())}, nil
}

// sendCode sends a code within the client address's limit; a phone's
// limit answers with its wait.
func (s *Server) sendCode(r *http.Request, phone, purpose string, accountID int64) error {
	ip := clientIP(r)
	if !s.limits.allow("sms-ip", addrKey(ip)) {
		return errs.E(errs.RateLimited)
	}
	err := s.rn.Codes.Send(r.Context(), phone, purpose, ip, accountID)
	var we *identity.WaitError
	if errors.As(err, &we) {
		return rateLimited(we.Wait)
	}
	return err
}
