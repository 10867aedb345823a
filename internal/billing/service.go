package billing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/pay"
)

// Error codes of payments.
const (
	CodeMethod       = "payment_method"        // no such payment provider here
	CodeNotPayable   = "not_payable"           // nothing to pay (not held, or free)
	CodeHoldExpired  = "hold_expired"          // the hold ended before paying
	CodeProvider     = "payment_provider_down" // the provider did not answer
	CodeRefundAmount = "refund_amount"         // more than is left to refund
)

// Service takes payments and gives money back through the providers
// (internal/pay's adapters: a hospital's real contracts, or the
// sandboxes), and keeps the store's state in step with theirs.
type Service struct {
	Store     Store
	Providers map[string]pay.Provider
	Now       func() time.Time
	Log       *slog.Logger
	// OnPaid, when set, is called once a payment is recorded and
	// confirmed what it paid for (the next step of an order settled at
	// delivery, for one).
	OnPaid func(ctx context.Context, p *Payment)
}

// PayRequest asks to pay for one thing.
type PayRequest struct {
	Purpose     string
	RefID       int64
	AccountID   int64
	PatientID   int64
	Institution string
	AmountFen   int64
	Description string
	Method      string    // the provider: wechat, alipay
	Channel     string    // pay.ChannelNative (QR) or pay.ChannelH5 (phone)
	PayBy       time.Time // the order closes then (a hold's end)
	NotifyURL   string    // where the provider posts its notifications
	ReturnURL   string
}

// Pay starts (or resumes) the payment of a request: one pending payment
// per thing paid for, one order at the provider per payment. A create
// that times out is confirmed by a query (or made again with the same
// number, which the provider answers with the same order): never a
// second order for one payment.
func (s *Service) Pay(ctx context.Context, in PayRequest) (*Payment, error) {
	prov, ok := s.Providers[in.Method]
	if !ok {
		var f errs.Fields
		f.Add("method", "invalid")
		return nil, f.Err()
	}
	if in.AmountFen <= 0 {
		return nil, errs.E(CodeNotPayable)
	}
	if in.Channel != pay.ChannelH5 {
		in.Channel = pay.ChannelNative
	}
	now := s.Now()
	if !in.PayBy.IsZero() && !now.Before(in.PayBy) {
		return nil, errs.E(CodeHoldExpired)
	}
	p := &Payment{Purpose: in.Purpose, RefID: in.RefID, AccountID: in.AccountID, PatientID: in.PatientID, Institution: in.Institution,
		AmountFen: in.AmountFen, Provider: prov.Name(), Channel: in.Channel, OutTradeNo: tradeNo(now), Status: Pending, Description: in.Description,
		PayBy: in.PayBy, CreatedAt: now.UTC().Truncate(time.Microsecond)}
	if _, err := s.Store.CreatePayment(ctx, p); err != nil {
		return nil, err
	}
	if p.CashierURL != "" || p.Status != Pending {
		return p, nil // the pending one, started already
	}
	prov, ok = s.Providers[p.Provider]
	if !ok {
		return nil, errs.E(CodeProvider)
	}
	req := pay.CreateRequest{OutTradeNo: p.OutTradeNo, AmountFen: p.AmountFen, Description: p.Description, NotifyURL: in.NotifyURL,
		ExpireAt: p.PayBy, Channel: p.Channel, ReturnURL: in.ReturnURL}
	var ord *pay.Order
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ord, err = prov.CreateOrder(ctx, req)
		if errors.Is(err, pay.ErrTimeout) {
			// The order may exist although the answer was lost: ask.
			if q, qerr := prov.QueryOrder(ctx, p.OutTradeNo); qerr == nil {
				ord, err = q, nil
			}
		}
		if err == nil || !errors.Is(err, pay.ErrTimeout) {
			break
		}
	}
	if err != nil {
		s.log().Warn("payment order not created", "payment", p.ID, "provider", p.Provider, "err", err)
		return nil, errs.E(CodeProvider)
	}
	p.CashierURL = ord.CashierURL
	if err := s.Store.SetCashier(ctx, p.ID, p.CashierURL); err != nil {
		return nil, err
	}
	if ord.State == pay.StateSuccess {
		return s.paid(ctx, ord)
	}
	return p, nil
}

// Refresh asks the provider about a pending payment (a client polling
// learns of a payment whose notification has not come yet) and records
// what it says.
func (s *Service) Refresh(ctx context.Context, p *Payment) (*Payment, error) {
	if p.Status != Pending {
		return p, nil
	}
	prov, ok := s.Providers[p.Provider]
	if !ok {
		return p, nil
	}
	ord, err := prov.QueryOrder(ctx, p.OutTradeNo)
	if err != nil || ord.State != pay.StateSuccess {
		return p, nil // the store's state stands; the notification will come
	}
	return s.paid(ctx, ord)
}

// paid records a provider's success and, when the money came for nothing
// (after the close, or for a hold already gone), gives it back.
func (s *Service) paid(ctx context.Context, ord *pay.Order) (*Payment, error) {
	at := ord.PaidAt
	if at.IsZero() {
		at = s.Now()
	}
	// Most notifications are repeats (providers send them again until
	// answered, and twice on purpose): a read answers those without a
	// write. A first one still goes through MarkPaid's compare and set.
	if p, err := s.Store.PaymentByTradeNo(ctx, ord.OutTradeNo); err == nil && (p.Status == Paid || p.Status == Refunded) {
		return p, nil
	}
	out, err := s.Store.MarkPaid(ctx, ord.OutTradeNo, ord.TransactionID, at.UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, err
	}
	if out.Changed && out.Confirmed && s.OnPaid != nil {
		s.OnPaid(ctx, out.Payment)
	}
	if out.RefundDue {
		if _, err := s.RequestRefund(ctx, out.Payment, ReasonLatePayment, "支付晚于订单关闭，自动退款", out.Payment.AmountFen); err != nil {
			s.log().Warn("late payment not refunded yet", "payment", out.Payment.ID, "err", err)
		}
	}
	return out.Payment, nil
}

// Notify handles a provider's notification: verified, then recorded, and
// only then answered with success (anything else makes the provider send
// it again). A badly signed or stale one changes nothing.
func (s *Service) Notify(ctx context.Context, provider string, h http.Header, body []byte) (int, []byte) {
	prov, ok := s.Providers[provider]
	if !ok {
		return http.StatusNotFound, []byte(`{"code":"NOT_FOUND","message":"unknown provider"}`)
	}
	n, err := prov.ParseNotification(h, body)
	if err != nil {
		s.log().Warn("payment notification refused", "provider", provider, "err", err)
		return prov.NotificationAck(err)
	}
	switch {
	case n.Order != nil && n.Order.State == pay.StateSuccess:
		_, err = s.paid(ctx, n.Order)
	case n.Refund != nil:
		err = s.refundResult(ctx, n.Refund)
	}
	return prov.NotificationAck(err)
}

// RequestRefund gives amount of a paid payment back, once per reason key:
// the amount is reserved in the store first (never more than was paid),
// then asked of the provider with the refund's own number (the same
// number is the same refund there). A refund the provider did not take
// is asked again by SyncRefunds.
func (s *Service) RequestRefund(ctx context.Context, p *Payment, key, reason string, amount int64) (*Refund, error) {
	now := s.Now().UTC().Truncate(time.Microsecond)
	r := &Refund{PaymentID: p.ID, ReasonKey: key, OutRefundNo: refundNo(now), AmountFen: amount, Reason: reason, Status: RefundProcessing, CreatedAt: now}
	created, err := s.Store.CreateRefund(ctx, r)
	if err != nil {
		return nil, err
	}
	if created || r.Status == RefundProcessing {
		s.submit(ctx, p, r)
	}
	return r, nil
}

func (s *Service) submit(ctx context.Context, p *Payment, r *Refund) {
	prov, ok := s.Providers[p.Provider]
	if !ok {
		return
	}
	res, err := prov.Refund(ctx, pay.RefundRequest{OutTradeNo: p.OutTradeNo, OutRefundNo: r.OutRefundNo, RefundFen: r.AmountFen,
		TotalFen: p.AmountFen, Reason: r.Reason})
	if err != nil {
		s.log().Warn("refund not accepted yet", "refund", r.ID, "err", err)
		return
	}
	if err := s.refundResult(ctx, res); err != nil {
		s.log().Warn("refund result not recorded", "refund", r.ID, "err", err)
	}
}

// refundResult records a provider's verdict on a refund.
func (s *Service) refundResult(ctx context.Context, res *pay.Refund) error {
	var st RefundStatus
	switch res.Status {
	case pay.RefundSuccess:
		st = RefundSucceeded
	case pay.RefundClosed, pay.RefundAbnormal:
		st = RefundFailed
	default:
		return nil // still processing
	}
	at := res.SuccessAt
	if at.IsZero() {
		at = s.Now()
	}
	_, _, err := s.Store.FinishRefund(ctx, res.OutRefundNo, st, res.RefundID, at.UTC().Truncate(time.Microsecond))
	if errs.Is(err, errs.NotFound) {
		return nil // not ours
	}
	return err
}

// SyncRefunds asks the providers about refunds still processing: done
// ones are recorded, ones the provider never took are asked again.
func (s *Service) SyncRefunds(ctx context.Context) error {
	rs, err := s.Store.ProcessingRefunds(ctx, 200)
	if err != nil {
		return err
	}
	for i := range rs {
		r := &rs[i]
		p, err := s.Store.Payment(ctx, r.PaymentID)
		if err != nil {
			return err
		}
		prov, ok := s.Providers[p.Provider]
		if !ok {
			continue
		}
		res, err := prov.QueryRefund(ctx, r.OutRefundNo)
		switch {
		case errors.Is(err, pay.ErrRefundNotFound):
			s.submit(ctx, p, r)
		case err == nil:
			if err := s.refundResult(ctx, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// ExpireHolds ends the holds whose time has passed (their places go back
// to their slots, in one statement that only one server wins) and closes
// their orders at the provider. An order that turns out paid meanwhile is
// recorded, and refunded. It returns the expired holds.
func (s *Service) ExpireHolds(ctx context.Context) ([]ExpiredHold, error) {
	holds, err := s.Store.ExpireHolds(ctx, s.Now(), 500)
	if err != nil {
		return nil, err
	}
	for _, h := range holds {
		if h.Payment != nil {
			s.closeAtProvider(ctx, h.Payment)
		}
	}
	return holds, nil
}

// Close closes a pending payment whose purpose is gone (a held booking
// cancelled): in the store, then at the provider.
func (s *Service) Close(ctx context.Context, p *Payment) error {
	if err := s.Store.ClosePayment(ctx, p.ID, s.Now()); err != nil {
		return err
	}
	s.closeAtProvider(ctx, p)
	return nil
}

// closeAtProvider closes a closed payment's order at its provider. An
// order that turns out paid meanwhile is recorded, and refunded (it pays
// for nothing any more).
func (s *Service) closeAtProvider(ctx context.Context, p *Payment) {
	prov, ok := s.Providers[p.Provider]
	if !ok {
		return
	}
	err := prov.CloseOrder(ctx, p.OutTradeNo)
	if errors.Is(err, pay.ErrOrderPaid) {
		if ord, qerr := prov.QueryOrder(ctx, p.OutTradeNo); qerr == nil && ord.State == pay.StateSuccess {
			if _, err := s.paid(ctx, ord); err != nil {
				s.log().Warn("paid after its close: not recorded yet", "payment", p.ID, "err", err)
			}
		}
	} else if err != nil {
		s.log().Warn("order not closed", "payment", p.ID, "err", err)
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// tradeNo is a new merchant order number: the day and 12 random digits.
func tradeNo(now time.Time) string { return "YY" + now.UTC().Format("20060102") + digits(12) }

func refundNo(now time.Time) string { return "YR" + now.UTC().Format("20060102") + digits(12) }

func digits(n int) string {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, max)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%0*d", n, v)
}
