package pay

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// Alipay trade_status values.
const (
	AlipayWaitBuyerPay  = "WAIT_BUYER_PAY"
	AlipayTradeClosed   = "TRADE_CLOSED"
	AlipayTradeSuccess  = "TRADE_SUCCESS"
	AlipayTradeFinished = "TRADE_FINISHED"
)

// alipayRetries is Alipay's notification retry schedule (the first
// interval is 4m or 2m depending on the source).
var alipayRetries = []time.Duration{
	4 * time.Minute, 10 * time.Minute, 10 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 15 * time.Hour,
}

const alipayTime = "2006-01-02 15:04:05"

// AlipayState maps an Alipay trade_status (and the amount refunded so far)
// to a State: WAIT_BUYER_PAY is NOTPAY; TRADE_SUCCESS and TRADE_FINISHED
// are SUCCESS, or REFUND once something was refunded; TRADE_CLOSED is
// CLOSED, or REFUND when it was closed by a full refund.
func AlipayState(tradeStatus string, refundedFen int64) State {
	switch tradeStatus {
	case AlipayWaitBuyerPay:
		return StateNotPay
	case AlipayTradeSuccess, AlipayTradeFinished:
		if refundedFen > 0 {
			return StateRefund
		}
		return StateSuccess
	case AlipayTradeClosed:
		if refundedFen > 0 {
			return StateRefund
		}
		return StateClosed
	}
	return State(tradeStatus)
}

// alipayTradeStatus is the trade_status Alipay reports for o at now.
func alipayTradeStatus(o Order, now time.Time) string {
	switch o.State {
	case StateNotPay, StateUserPaying:
		return AlipayWaitBuyerPay
	case StateSuccess, StateRefund:
		switch {
		case o.RefundedFen >= o.AmountFen:
			return AlipayTradeClosed
		case now.Sub(o.PaidAt) > RefundWindow:
			return AlipayTradeFinished
		}
		return AlipayTradeSuccess
	}
	return AlipayTradeClosed
}

// AlipaySignContent is the string Alipay signs: every field but sign and
// sign_type, without empty values, sorted by key, as k=v joined by &.
func AlipaySignContent(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		if k != "sign" && k != "sign_type" && v.Get(k) != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + v.Get(k))
	}
	return b.String()
}

func signAlipay(key *rsa.PrivateKey, content string) (string, error) {
	sum := sha256.Sum256([]byte(content))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// AlipayVerifier is the merchant side of Alipay's asynchronous
// notifications, shared by a real Alipay adapter and the sandbox: it
// verifies the RSA2 signature with Alipay's public key, checks app_id and
// that notify_time is within 300 s of Now, and parses the fields.
type AlipayVerifier struct {
	AppID     string         // when set, app_id must match
	PublicKey *rsa.PublicKey // Alipay's public key
	Now       func() time.Time
}

// ParseNotification verifies and parses an Alipay notification (a form
// POST body). EventType is REFUND.SUCCESS when the notification reports a
// refund (out_biz_no set), else TRANSACTION.<state> (TRANSACTION.SUCCESS for
// a payment). Alipay's refund notification carries refund_fee, the total
// refunded so far, not the refund's own amount: Refund.RefundFen is 0 there
// and Order.RefundedFen holds the total; query the refund for its amount.
func (v *AlipayVerifier) ParseNotification(h http.Header, body []byte) (*Notification, error) {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	f, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: form: %v", ErrInvalidRequest, err)
	}
	if f.Get("sign_type") != "RSA2" {
		return nil, fmt.Errorf("%w: sign_type %q", ErrBadSignature, f.Get("sign_type"))
	}
	sig, err := base64.StdEncoding.DecodeString(f.Get("sign"))
	if err != nil || v.PublicKey == nil {
		return nil, fmt.Errorf("%w: sign is not base64", ErrBadSignature)
	}
	sum := sha256.Sum256([]byte(AlipaySignContent(f)))
	if err := rsa.VerifyPKCS1v15(v.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return nil, ErrBadSignature
	}
	if v.AppID != "" && f.Get("app_id") != v.AppID {
		return nil, fmt.Errorf("%w: app_id %q is not ours", ErrInvalidRequest, f.Get("app_id"))
	}
	nt, err := time.ParseInLocation(alipayTime, f.Get("notify_time"), dates.Beijing)
	if err != nil {
		return nil, fmt.Errorf("%w: notify_time %q", ErrInvalidRequest, f.Get("notify_time"))
	}
	if d := now.Sub(nt); d > MaxClockSkew || d < -MaxClockSkew {
		return nil, fmt.Errorf("%w: notify_time %s is %s from now", ErrStale, f.Get("notify_time"), d.Round(time.Second))
	}
	total, err := ParseYuan(f.Get("total_amount"))
	if err != nil {
		return nil, fmt.Errorf("%w: total_amount: %v", ErrInvalidRequest, err)
	}
	var refunded int64
	if s := f.Get("refund_fee"); s != "" {
		if refunded, err = ParseYuan(s); err != nil {
			return nil, fmt.Errorf("%w: refund_fee: %v", ErrInvalidRequest, err)
		}
	}
	o := &Order{
		OutTradeNo:    f.Get("out_trade_no"),
		TransactionID: f.Get("trade_no"),
		AmountFen:     total,
		RefundedFen:   refunded,
		State:         AlipayState(f.Get("trade_status"), refunded),
		StateDesc:     f.Get("trade_status"),
		Description:   f.Get("subject"),
	}
	o.PaidAt, _ = time.ParseInLocation(alipayTime, f.Get("gmt_payment"), dates.Beijing)
	o.CreatedAt, _ = time.ParseInLocation(alipayTime, f.Get("gmt_create"), dates.Beijing)
	n := &Notification{ID: f.Get("notify_id"), CreatedAt: nt, Order: o}
	if rn := f.Get("out_biz_no"); rn != "" {
		n.EventType = EventRefundSuccess
		n.Refund = &Refund{OutRefundNo: rn, OutTradeNo: o.OutTradeNo, TransactionID: o.TransactionID, TotalFen: total, Status: RefundSuccess}
		n.Refund.SuccessAt, _ = time.ParseInLocation(alipayTime, f.Get("gmt_refund"), dates.Beijing)
	} else {
		n.EventType = "TRANSACTION." + string(o.State)
	}
	return n, nil
}

// AlipayAck is what a merchant answers Alipay: the 7 bytes "success" when
// the notification was handled, else "fail" (Alipay then retries with the
// same notify_id).
func AlipayAck(err error) (int, []byte) {
	if err == nil {
		return http.StatusOK, []byte("success")
	}
	return http.StatusOK, []byte("fail")
}

// SandboxAlipay is a sandbox of Alipay (precreate for QR codes, wap pay for
// H5, refunds, trade_status_sync notifications, the business detail bill).
// Where Alipay differs from WeChat Pay, it behaves as Alipay:
//   - a precreated trade does not exist for queries and close
//     (ErrOrderNotFound, ACQ.TRADE_NOT_EXIST) until the payer opens the
//     cashier (scans the code);
//   - an unpaid trade past ExpireAt is closed (TRADE_CLOSED);
//   - a refund finishes within the call (SUCCESS); its notification goes to
//     the order's notify URL (RefundRequest.NotifyURL is ignored) and
//     reports the total refunded so far;
//   - a fully refunded trade is TRADE_CLOSED, a trade paid more than 365
//     days ago TRADE_FINISHED;
//   - the merchant must answer exactly "success".
type SandboxAlipay struct {
	*sandbox
	verifier *AlipayVerifier
}

var _ Provider = (*SandboxAlipay)(nil)

// NewSandboxAlipay makes an Alipay sandbox. cfg.AppID is the application
// id, cfg.MchID the seller's PID; APIv3Key is unused.
func NewSandboxAlipay(cfg SandboxConfig) (*SandboxAlipay, error) {
	if cfg.AppID == "" {
		cfg.AppID = "9021000122600001"
	}
	if cfg.MchID == "" {
		cfg.MchID = "2088621000000001"
	}
	a := &SandboxAlipay{}
	s, err := newSandbox(cfg, a)
	if err != nil {
		return nil, err
	}
	a.sandbox = s
	a.verifier = &AlipayVerifier{AppID: s.cfg.AppID, PublicKey: &s.cfg.PlatformKey.PublicKey, Now: s.cfg.Now}
	return a, nil
}

// Name is "alipay".
func (a *SandboxAlipay) Name() string { return "alipay" }

// PublicKey is Alipay's public key, which merchants verify with.
func (a *SandboxAlipay) PublicKey() *rsa.PublicKey { return &a.cfg.PlatformKey.PublicKey }

// Verifier is the merchant-side verifier for this sandbox's notifications.
func (a *SandboxAlipay) Verifier() *AlipayVerifier {
	v := *a.verifier
	return &v
}

// ParseNotification verifies and parses a notification (AlipayVerifier).
func (a *SandboxAlipay) ParseNotification(h http.Header, body []byte) (*Notification, error) {
	return a.verifier.ParseNotification(h, body)
}

// NotificationAck answers Alipay (AlipayAck).
func (a *SandboxAlipay) NotificationAck(err error) (int, []byte) { return AlipayAck(err) }

func (a *SandboxAlipay) providerName() string           { return "alipay" }
func (a *SandboxAlipay) brand() string                  { return "支付宝 · 沙箱" }
func (a *SandboxAlipay) retrySchedule() []time.Duration { return alipayRetries }
func (a *SandboxAlipay) syncRefund() bool               { return true }
func (a *SandboxAlipay) autoClose() bool                { return true }
func (a *SandboxAlipay) hiddenUntilOpened() bool        { return true }
func (a *SandboxAlipay) refundID(time.Time, int64) string {
	return "" // Alipay numbers refunds by the merchant's out_request_no only
}
func (a *SandboxAlipay) transactionID(t time.Time, n int64) string {
	return fmt.Sprintf("%s22001%s%09d", t.In(dates.Beijing).Format("20060102"), randDigits(6), n%1e9)
}
func (a *SandboxAlipay) notificationID(t time.Time, n int64) string {
	return fmt.Sprintf("%s%010d%s", t.In(dates.Beijing).Format("20060102"), n%1e10, randHex(8))
}

func (a *SandboxAlipay) prepare(*event) error { return nil }

// fields are the notification's fields; notify_time is the attempt's.
func (a *SandboxAlipay) fields(ev *event, now time.Time) url.Values {
	bj := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(dates.Beijing).Format(alipayTime)
	}
	o := ev.order
	v := url.Values{}
	v.Set("notify_time", bj(now))
	v.Set("notify_type", "trade_status_sync")
	v.Set("notify_id", ev.id)
	v.Set("app_id", a.cfg.AppID)
	v.Set("charset", "utf-8")
	v.Set("version", "1.0")
	v.Set("sign_type", "RSA2")
	v.Set("trade_no", o.TransactionID)
	v.Set("out_trade_no", o.OutTradeNo)
	v.Set("buyer_id", alipayBuyerID(o.OutTradeNo))
	v.Set("seller_id", a.cfg.MchID)
	v.Set("trade_status", alipayTradeStatus(o, now))
	v.Set("total_amount", Yuan(o.AmountFen))
	v.Set("receipt_amount", Yuan(o.AmountFen))
	v.Set("buyer_pay_amount", Yuan(o.AmountFen))
	v.Set("invoice_amount", Yuan(o.AmountFen))
	v.Set("subject", o.Description)
	v.Set("gmt_create", bj(o.CreatedAt))
	v.Set("gmt_payment", bj(o.PaidAt))
	if r := ev.refund; r != nil {
		v.Set("out_biz_no", r.OutRefundNo)
		v.Set("refund_fee", Yuan(o.RefundedFen))
		v.Set("gmt_refund", bj(r.SuccessAt))
		if o.RefundedFen >= o.AmountFen {
			v.Set("gmt_close", bj(r.SuccessAt))
		}
	}
	return v
}

// send POSTs the notification form, signed now (a probe's signature is
// over other content); only the body "success" acknowledges it.
func (a *SandboxAlipay) send(ctx context.Context, ev *event, kind DeliveryKind) (int, bool, error) {
	v := a.fields(ev, a.now())
	content := AlipaySignContent(v)
	if kind == DeliveryProbe {
		content += "&probe=1"
	}
	sig, err := signAlipay(a.cfg.PlatformKey, content)
	if err != nil {
		return 0, false, err
	}
	v.Set("sign", sig)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ev.url, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "Mozilla/4.0 (Alipay sandbox)")
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode, resp.StatusCode == http.StatusOK && bytes.Equal(b, []byte("success")), nil
}

// alipayBuyerID is a stable sandbox buyer id (2088 and 12 digits) per order.
func alipayBuyerID(outTradeNo string) string {
	sum := sha256.Sum256([]byte("buyer:" + outTradeNo))
	var n uint64
	for _, c := range sum[:8] {
		n = n<<8 | uint64(c)
	}
	return fmt.Sprintf("2088%012d", n%1e12)
}
