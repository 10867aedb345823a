package web

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/pay"
	"github.com/yunyi-health/yunyi/internal/schedule"
)

// PaySandbox is a sandbox payment provider mounted in the server: its
// cashier pages live under /sandbox/pay/{provider}/ and tests pay through
// it as a payer would.
type PaySandbox interface {
	pay.Provider
	Pay(ctx context.Context, outTradeNo string) error
	Handler() http.Handler
	Start(ctx context.Context)
	Stop()
}

var (
	sandboxKeyOnce sync.Once
	sandboxKey     *rsa.PrivateKey
)

// sandboxPlatformKey is the sandbox providers' signing key, made once a
// process (an RSA key takes a while to make).
func sandboxPlatformKey() *rsa.PrivateKey {
	sandboxKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		sandboxKey = k
	})
	return sandboxKey
}

// setUpPayments makes the billing service over the configured providers,
// or over sandboxes that behave as WeChat Pay and Alipay do, and starts
// the loop that ends unpaid holds and follows refunds.
func (s *Server) setUpPayments(cfg Config) error {
	providers := cfg.Payments
	if providers == nil {
		providers = map[string]pay.Provider{}
		s.paySandboxes = map[string]PaySandbox{}
		for _, name := range []string{"wechat", "alipay"} {
			c := cfg.PaySandbox
			c.BasePath, c.Now = "/sandbox/pay/"+name, cfg.Now
			if c.PlatformKey == nil {
				c.PlatformKey = sandboxPlatformKey()
			}
			var sb PaySandbox
			var err error
			if name == "wechat" {
				sb, err = pay.NewSandboxWeChat(c)
			} else {
				sb, err = pay.NewSandboxAlipay(c)
			}
			if err != nil {
				return err
			}
			providers[name], s.paySandboxes[name] = sb, sb
		}
	}
	s.bill = &billing.Service{Store: s.db, Providers: providers, Now: cfg.Now, Log: s.log, OnPaid: func(ctx context.Context, p *billing.Payment) {
		if p.Purpose == billing.ForSettlement {
			s.settleOrder(ctx, p.RefID) // M-2: the cash share paid, the bureau settles
		}
	}}
	ctx, stop := context.WithCancel(context.Background())
	s.stopPay = stop
	for _, sb := range s.paySandboxes {
		sb.Start(ctx)
	}
	if cfg.PayLoop >= 0 {
		every := cfg.PayLoop
		if every == 0 {
			every = 5 * time.Second
		}
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if _, err := s.ExpireHolds(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("holds not expired", "err", err)
				}
				if n%6 == 0 {
					if err := s.bill.SyncRefunds(ctx); err != nil && ctx.Err() == nil {
						s.log.Warn("refunds not followed", "err", err)
					}
				}
			}
		}()
	}
	return nil
}

// Sandbox returns a sandbox payment provider of this server (nil when it
// runs real ones).
func (s *Server) Sandbox(name string) PaySandbox { return s.paySandboxes[name] }

// Billing exposes the billing service (tests, the CLI).
func (s *Server) Billing() *billing.Service { return s.bill }

// ExpireHolds ends the unpaid holds whose time has passed and gives their
// places back (here and, through the change bus, on the other servers).
func (s *Server) ExpireHolds(ctx context.Context) (int, error) {
	holds, err := s.bill.ExpireHolds(ctx)
	for _, h := range holds {
		s.bk.PlaceFreed(h.SlotID)
		s.changed("slot", "", h.SlotID)
	}
	return len(holds), err
}

func (s *Server) mountSandboxes(mux *http.ServeMux) {
	for name, sb := range s.paySandboxes {
		h := sb.Handler()
		mux.Handle("GET /sandbox/pay/"+name+"/", h)
		mux.Handle("POST /sandbox/pay/"+name+"/", h)
	}
}

type payIn struct {
	AppointmentID  int64  `json:"appointment_id"`
	PrescriptionID int64  `json:"prescription_id"` // its drugs, once the fulfilment is chosen
	Method         string `json:"method"`          // wechat, alipay
	Channel        string `json:"channel"`         // native (QR code), h5 (phone)
}

type paymentOut struct {
	*billing.Payment
	StatusText string           `json:"status_text"`
	Refunds    []billing.Refund `json:"refunds"`
}

func (s *Server) paymentOut(ctx context.Context, p *billing.Payment, lang i18n.Lang) (*paymentOut, error) {
	rs, err := s.db.Refunds(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		rs = []billing.Refund{}
	}
	return &paymentOut{Payment: p, StatusText: i18n.T(lang, "payment.status."+string(p.Status)), Refunds: rs}, nil
}

// baseURL is where this server is reached by whoever sent r (the sandbox
// providers post their notifications there).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// createPayment starts paying a held appointment's fee (M-1): the patient
// (or a guardian) gets the provider's cashier; paying confirms the booking.
func (s *Server) createPayment(ctx context.Context, c call, in payIn) (*paymentOut, error) {
	if c.Actor.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	if in.PrescriptionID != 0 && in.AppointmentID == 0 {
		return s.prescriptionPayment(ctx, c, in.PrescriptionID, in)
	}
	if in.AppointmentID == 0 {
		var f errs.Fields
		f.Add("appointment_id", "required")
		return nil, f.Err()
	}
	a, err := s.appointmentFor(c.r, in.AppointmentID)
	if err != nil {
		return nil, err
	}
	if a.Status != schedule.Held {
		if p, err := s.db.OpenPayment(ctx, billing.ForAppointment, a.ID); err == nil && p.Status == billing.Paid {
			return s.paymentOut(ctx, p, apiLang(c.r)) // paid already: the same answer
		}
		if a.Status == schedule.Expired {
			return nil, errs.E(billing.CodeHoldExpired)
		}
		return nil, errs.E(billing.CodeNotPayable)
	}
	svc, err := s.bk.Service(ctx, a.Service)
	if err != nil {
		return nil, err
	}
	p, err := s.bill.Pay(ctx, billing.PayRequest{Purpose: billing.ForAppointment, RefID: a.ID, AccountID: c.Actor.ID, PatientID: a.PatientID,
		Institution: a.Institution, AmountFen: svc.PriceFen, Description: fmt.Sprintf("%s 挂号费（%s）", svc.Name, a.Day), Method: in.Method,
		Channel: in.Channel, PayBy: a.PayBy, NotifyURL: baseURL(c.r) + "/api/v1/payments/notify/" + in.Method, ReturnURL: "/appointments"})
	if err != nil {
		return nil, err
	}
	if err := s.record(c.r, "payment.create", "payment", strconv.FormatInt(p.ID, 10), p.Institution, "appointment "+strconv.FormatInt(a.ID, 10)); err != nil {
		return nil, err
	}
	return s.paymentOut(ctx, p, apiLang(c.r))
}

// visiblePayment reads a payment its payer (or the patient's guardians)
// or the institution's staff may see; any other is not_found.
func (s *Server) visiblePayment(ctx context.Context, c call) (*billing.Payment, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	p, err := s.db.Payment(ctx, id)
	if err != nil {
		return nil, err
	}
	if ok, err := s.seesPayment(ctx, c.Actor, p); err != nil {
		return nil, err
	} else if !ok {
		return nil, errs.E(errs.NotFound)
	}
	return p, s.record(c.r, "payment.read", "payment", strconv.FormatInt(p.ID, 10), p.Institution, "")
}

// seesPayment reports whether a may see payment p (and its invoices): its
// payer, the patient's linked accounts (self, guardians), the
// institution's staff.
func (s *Server) seesPayment(ctx context.Context, a authz.Actor, p *billing.Payment) (bool, error) {
	if a.Role != identity.RolePatient {
		return authz.ManageInstitution(a, p.Institution), nil
	}
	if p.AccountID == a.ID {
		return true, nil
	}
	linked, err := s.ids.Store.LinkedAccounts(ctx, p.PatientID)
	if err != nil {
		return false, err
	}
	return authz.SeePatient(a, linked), nil
}

// getPayment answers a payment, asking the provider first while it is
// pending (the page polls it after the cashier).
func (s *Server) getPayment(ctx context.Context, c call, _ none) (*paymentOut, error) {
	p, err := s.visiblePayment(ctx, c)
	if err != nil {
		return nil, err
	}
	if p, err = s.bill.Refresh(ctx, p); err != nil {
		return nil, err
	}
	return s.paymentOut(ctx, p, apiLang(c.r))
}

type paymentsOut struct {
	Items []billing.Payment `json:"items"`
}

func (s *Server) listPayments(ctx context.Context, c call, _ none) (paymentsOut, error) {
	if c.Actor.Role != identity.RolePatient {
		return paymentsOut{}, errs.E(errs.Forbidden)
	}
	ps, err := s.db.Payments(ctx, c.Actor.ID, 200)
	if ps == nil {
		ps = []billing.Payment{}
	}
	return paymentsOut{Items: ps}, err
}

// apiPaymentNotify is the providers' callback (no session: the provider's
// signature is checked). It answers success only once the result is
// stored; a badly signed or stale one is refused and changes nothing.
func (s *Server) apiPaymentNotify(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		s.fail(w, r, errs.E(errs.PayloadTooBig))
		return
	}
	status, ack := s.bill.Notify(r.Context(), r.PathValue("provider"), r.Header, body)
	if len(ack) > 0 && ack[0] == '{' {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(status)
	w.Write(ack)
}

type refundIn struct {
	PaymentID int64  `json:"payment_id"`
	AmountFen int64  `json:"amount_fen"`
	Reason    string `json:"reason"`
}

// createRefund gives (part of) a payment back, by the institution's
// admin: once per Idempotency-Key, never more than was paid.
func (s *Server) createRefund(ctx context.Context, c call, in refundIn) (*billing.Refund, error) {
	p, err := s.db.Payment(ctx, in.PaymentID)
	if err != nil {
		return nil, err
	}
	if !authz.ManageInstitution(c.Actor, p.Institution) {
		return nil, errs.E(errs.NotFound)
	}
	var f errs.Fields
	if in.AmountFen <= 0 {
		f.Add("amount_fen", "number_range")
	}
	if in.Reason == "" {
		f.Add("reason", "required")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	key := c.r.Header.Get("Idempotency-Key")
	if key == "" {
		key = strconv.FormatInt(s.cfg.Now().UnixNano(), 36)
	}
	r, err := s.bill.RequestRefund(ctx, p, "manual:"+key, in.Reason, in.AmountFen)
	if err != nil {
		return nil, err
	}
	return r, s.record(c.r, "refund.create", "payment", strconv.FormatInt(p.ID, 10), p.Institution, fmt.Sprintf("%d fen: %s", in.AmountFen, in.Reason))
}

type ledgerOut struct {
	Items    []billing.Entry  `json:"items"`
	Balances map[string]int64 `json:"balances"` // by account
	Sum      int64            `json:"sum"`      // of the listed entries: 0 when they are whole journals
}

// institutionLedger lists an institution's ledger entries (its admin, the
// regulator): every journal whole, so the sum is zero.
func (s *Server) institutionLedger(ctx context.Context, c call, _ none) (ledgerOut, error) {
	code := c.r.PathValue("code")
	if !authz.ManageInstitution(c.Actor, code) && c.Actor.Role != identity.RoleRegulator {
		return ledgerOut{}, errs.E(errs.Forbidden)
	}
	es, err := s.db.Ledger(ctx, billing.Filter{Institution: code})
	if err != nil {
		return ledgerOut{}, err
	}
	out := ledgerOut{Items: es, Balances: map[string]int64{}}
	if out.Items == nil {
		out.Items = []billing.Entry{}
	}
	for _, e := range es {
		out.Balances[e.Account] += e.AmountFen
		out.Sum += e.AmountFen
	}
	return out, s.record(c.r, "ledger.read", "institution", code, code, "")
}

// refundAppointment gives back what was paid for an appointment that no
// longer takes place (cancelled before its cutoff, a first visit
// terminated and referred offline), once per reason.
func (s *Server) refundAppointment(ctx context.Context, appointmentID int64, key, reason string) error {
	p, err := s.db.OpenPayment(ctx, billing.ForAppointment, appointmentID)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Status == billing.Pending {
		return s.bill.Close(ctx, p) // cancelled before paying: the order closes
	}
	if p.Status != billing.Paid {
		return nil
	}
	_, err = s.bill.RequestRefund(ctx, p, key, reason, p.AmountFen-p.RefundedFen)
	return err
}
