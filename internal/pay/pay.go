// Package pay is the payment adapter of Yunyi: the Provider interface every
// payment channel (WeChat Pay, Alipay) is reached through, the merchant-side
// code that verifies and decrypts the providers' notifications, and two
// sandboxes, SandboxWeChat and SandboxAlipay, that stand in for the real
// providers and behave as they do (signatures, encryption, retries,
// duplicates, wrongly signed probes, time-outs, refund rules, bill files).
//
// Amounts are integers in fen (1/100 yuan). Times the providers print are
// Beijing time. The package is a domain package: it knows nothing of the web
// layer or the store.
package pay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// State is an order's trade state, named as WeChat Pay's trade_state.
type State string

// Trade states. States move only forward: NOTPAY to SUCCESS, CLOSED or
// PAYERROR; SUCCESS to REFUND once a refund succeeded. USERPAYING and
// REVOKED belong to payment-code (付款码) trades, which Yunyi does not use.
const (
	StateNotPay     State = "NOTPAY"
	StateUserPaying State = "USERPAYING"
	StateSuccess    State = "SUCCESS"
	StateClosed     State = "CLOSED"
	StateRefund     State = "REFUND"
	StatePayError   State = "PAYERROR"
)

// RefundStatus is a refund's status, named as WeChat Pay's.
type RefundStatus string

// Refund statuses. A refund request is only accepted (PROCESSING); the result
// comes later by query or notification.
const (
	RefundSuccess    RefundStatus = "SUCCESS"
	RefundClosed     RefundStatus = "CLOSED"
	RefundProcessing RefundStatus = "PROCESSING"
	RefundAbnormal   RefundStatus = "ABNORMAL"
)

// Notification event types (WeChat Pay's; the Alipay adapter maps its
// trade_status_sync notifications onto them).
const (
	EventTransactionSuccess = "TRANSACTION.SUCCESS"
	EventRefundSuccess      = "REFUND.SUCCESS"
	EventRefundAbnormal     = "REFUND.ABNORMAL"
	EventRefundClosed       = "REFUND.CLOSED"
)

// Channels of CreateRequest.
const (
	ChannelNative = "native" // a QR code shown on a desktop page
	ChannelH5     = "h5"     // a cashier page opened in a mobile browser
)

// Errors of the payment adapters, as the providers answer them.
var (
	ErrTimeout         = errors.New("pay: provider timed out (the request may have been carried out)")
	ErrOrderNotFound   = errors.New("pay: order not found")
	ErrOrderPaid       = errors.New("pay: order already paid")
	ErrOrderClosed     = errors.New("pay: order closed")
	ErrOrderExpired    = errors.New("pay: order expired")
	ErrOrderNotPaid    = errors.New("pay: order not paid")
	ErrDuplicateOrder  = errors.New("pay: out_trade_no already used with other parameters")
	ErrRefundNotFound  = errors.New("pay: refund not found")
	ErrRefundTooLarge  = errors.New("pay: refunds exceed the order amount")
	ErrTooManyRefunds  = errors.New("pay: more than 50 refunds for one order")
	ErrRefundExpired   = errors.New("pay: order paid more than 365 days ago cannot be refunded")
	ErrBadSignature    = errors.New("pay: bad notification signature")
	ErrStale           = errors.New("pay: notification timestamp too far from now")
	ErrInvalidRequest  = errors.New("pay: invalid request")
	ErrStatementNotYet = errors.New("pay: statement not published yet")
	ErrDecrypt         = errors.New("pay: cannot decrypt notification resource")
)

// MaxRefunds is the most refunds one order may have (WeChat Pay: 50 partial
// refunds).
const MaxRefunds = 50

// RefundWindow is how long after payment an order may be refunded.
const RefundWindow = 365 * 24 * time.Hour

// MaxClockSkew is how far a notification's timestamp may be from now.
const MaxClockSkew = 300 * time.Second

// CreateRequest asks a provider to create an order (WeChat: Native or H5
// prepay; Alipay: precreate or wap pay).
type CreateRequest struct {
	OutTradeNo  string    // the merchant's order number, unique per merchant
	AmountFen   int64     // > 0
	Description string    // shown to the payer
	NotifyURL   string    // where the payment notification is POSTed
	ExpireAt    time.Time // zero: no expiry (the order stays NOTPAY until closed)
	Channel     string    // ChannelNative or ChannelH5
	ReturnURL   string    // optional: where the cashier sends the payer afterwards
}

// Order is an order as the provider reports it.
type Order struct {
	OutTradeNo    string    `json:"out_trade_no"`
	TransactionID string    `json:"transaction_id,omitempty"` // the provider's number, set once paid
	AmountFen     int64     `json:"amount_fen"`
	RefundedFen   int64     `json:"refunded_fen,omitempty"` // successful refunds
	State         State     `json:"state"`
	StateDesc     string    `json:"state_desc,omitempty"`
	PaidAt        time.Time `json:"paid_at,omitzero"`
	CashierURL    string    `json:"cashier_url,omitempty"` // the page the payer opens (or the QR code's content)
	Description   string    `json:"description,omitempty"`
	Channel       string    `json:"channel,omitempty"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
	ExpireAt      time.Time `json:"expire_at,omitzero"`
}

// RefundRequest asks for a refund of (part of) a paid order.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string // idempotency key: the same number is the same refund
	RefundFen   int64  // > 0
	TotalFen    int64  // the order's amount, as the provider checks it
	Reason      string
	NotifyURL   string // WeChat: where the refund notification goes (default: the order's)
}

// Refund is a refund as the provider reports it.
type Refund struct {
	OutRefundNo   string       `json:"out_refund_no"`
	RefundID      string       `json:"refund_id,omitempty"`
	OutTradeNo    string       `json:"out_trade_no"`
	TransactionID string       `json:"transaction_id,omitempty"`
	RefundFen     int64        `json:"refund_fen"`
	TotalFen      int64        `json:"total_fen"`
	Status        RefundStatus `json:"status"`
	Reason        string       `json:"reason,omitempty"`
	CreatedAt     time.Time    `json:"created_at,omitzero"`
	SuccessAt     time.Time    `json:"success_at,omitzero"`
}

// Notification is a verified and decrypted provider notification. ID is
// the provider's notification id: a duplicate or a retry carries the same
// one, so the merchant handles each ID once.
type Notification struct {
	ID        string
	EventType string // EventTransactionSuccess, EventRefundSuccess, ...
	CreatedAt time.Time
	Order     *Order  // for TRANSACTION.* events
	Refund    *Refund // for REFUND.* events
}

// Provider is a payment channel.
type Provider interface {
	// Name is "wechat" or "alipay".
	Name() string
	// CreateOrder creates an order, or returns the existing NOTPAY order
	// when OutTradeNo was used with the same amount (ErrDuplicateOrder when
	// with another amount, ErrOrderPaid or ErrOrderClosed when that order
	// is paid or closed). It may return ErrTimeout although the order was
	// made: query it, or create it again with the same parameters.
	CreateOrder(ctx context.Context, r CreateRequest) (*Order, error)
	// QueryOrder returns the order; ErrOrderNotFound if there is none.
	QueryOrder(ctx context.Context, outTradeNo string) (*Order, error)
	// CloseOrder closes an unpaid order: ErrOrderPaid if it is paid,
	// nil again if it is already closed.
	CloseOrder(ctx context.Context, outTradeNo string) error
	// Refund requests a refund. The answer means "accepted" (PROCESSING) on
	// WeChat; Alipay refunds synchronously (SUCCESS). The same OutRefundNo
	// is the same refund, refunded once.
	Refund(ctx context.Context, r RefundRequest) (*Refund, error)
	// QueryRefund returns a refund; ErrRefundNotFound if there is none.
	QueryRefund(ctx context.Context, outRefundNo string) (*Refund, error)
	// ParseNotification verifies (ErrBadSignature, ErrStale), decrypts and
	// parses a notification the provider POSTed.
	ParseNotification(h http.Header, body []byte) (*Notification, error)
	// NotificationAck is what to answer the provider after handling a
	// notification with the result err (nil: handled).
	NotificationAck(err error) (status int, body []byte)
	// Statement returns the day's trade bill file as the provider
	// publishes it (ErrStatementNotYet before it is published).
	Statement(ctx context.Context, day time.Time) ([]byte, error)
}

// Yuan formats fen as yuan with two decimals: 1234 → "12.34".
func Yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// ParseYuan parses a yuan amount with at most two decimals ("12.34", "12.3",
// "12") into fen.
func ParseYuan(s string) (int64, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return 0, fmt.Errorf("pay: bad yuan amount %q", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("pay: bad yuan amount %q", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	fen := w*100 + f
	if neg {
		fen = -fen
	}
	return fen, nil
}
