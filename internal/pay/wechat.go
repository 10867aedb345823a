package pay

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// WeChat Pay API v3 protocol constants.
const (
	WeChatHeaderTimestamp     = "Wechatpay-Timestamp"
	WeChatHeaderNonce         = "Wechatpay-Nonce"
	WeChatHeaderSignature     = "Wechatpay-Signature"
	WeChatHeaderSerial        = "Wechatpay-Serial"
	WeChatHeaderSignatureType = "Wechatpay-Signature-Type"
	WeChatSignatureType       = "WECHATPAY2-SHA256-RSA2048"
	WeChatAlgorithm           = "AEAD_AES_256_GCM"
)

// weChatRetries is WeChat Pay's notification retry schedule (24h4m in all).
var weChatRetries = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 60 * time.Minute,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// WeChatVerifier is the merchant side of WeChat Pay API v3 notifications:
// the code a real WeChat adapter and the sandbox share. It checks the
// platform certificate serial, the timestamp (within 300 s of Now), the
// SHA256-RSA2048 signature over "timestamp\nnonce\nbody\n", then decrypts
// the AEAD_AES_256_GCM resource with the APIv3 key and parses it.
type WeChatVerifier struct {
	MchID        string                    // when set, the resource's mchid must match
	APIv3Key     []byte                    // the merchant's 32-byte APIv3 key
	PlatformKeys map[string]*rsa.PublicKey // platform certificate serial → public key
	Now          func() time.Time          // time.Now when nil
}

// wxEnvelope is a WeChat Pay notification's body.
type wxEnvelope struct {
	ID           string         `json:"id"`
	CreateTime   string         `json:"create_time"`
	EventType    string         `json:"event_type"`
	ResourceType string         `json:"resource_type"`
	Resource     WeChatResource `json:"resource"`
	Summary      string         `json:"summary"`
}

// WeChatResource is the encrypted part of a WeChat Pay notification.
type WeChatResource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
	OriginalType   string `json:"original_type"`
}

// wxTransaction is the decrypted resource of a payment notification.
type wxTransaction struct {
	AppID          string `json:"appid"`
	MchID          string `json:"mchid"`
	OutTradeNo     string `json:"out_trade_no"`
	TransactionID  string `json:"transaction_id"`
	TradeType      string `json:"trade_type"`
	TradeState     string `json:"trade_state"`
	TradeStateDesc string `json:"trade_state_desc"`
	BankType       string `json:"bank_type"`
	Attach         string `json:"attach"`
	SuccessTime    string `json:"success_time"`
	Payer          struct {
		OpenID string `json:"openid"`
	} `json:"payer"`
	Amount struct {
		Total         int64  `json:"total"`
		PayerTotal    int64  `json:"payer_total"`
		Currency      string `json:"currency"`
		PayerCurrency string `json:"payer_currency"`
	} `json:"amount"`
}

// wxRefund is the decrypted resource of a refund notification.
type wxRefund struct {
	MchID               string `json:"mchid"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundID            string `json:"refund_id"`
	RefundStatus        string `json:"refund_status"`
	SuccessTime         string `json:"success_time,omitempty"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              struct {
		Total       int64 `json:"total"`
		Refund      int64 `json:"refund"`
		PayerTotal  int64 `json:"payer_total"`
		PayerRefund int64 `json:"payer_refund"`
	} `json:"amount"`
}

// ParseNotification verifies, decrypts and parses a WeChat Pay notification.
func (v *WeChatVerifier) ParseNotification(h http.Header, body []byte) (*Notification, error) {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	serial := h.Get(WeChatHeaderSerial)
	key, ok := v.PlatformKeys[serial]
	if !ok || key == nil {
		return nil, fmt.Errorf("%w: unknown platform certificate serial %q", ErrBadSignature, serial)
	}
	if t := h.Get(WeChatHeaderSignatureType); t != "" && t != WeChatSignatureType {
		return nil, fmt.Errorf("%w: signature type %q", ErrBadSignature, t)
	}
	tsStr, nonce := h.Get(WeChatHeaderTimestamp), h.Get(WeChatHeaderNonce)
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil || nonce == "" {
		return nil, fmt.Errorf("%w: missing timestamp or nonce", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return nil, fmt.Errorf("%w: timestamp %d is %s from now", ErrStale, ts, d.Round(time.Second))
	}
	sig, err := base64.StdEncoding.DecodeString(h.Get(WeChatHeaderSignature))
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64", ErrBadSignature)
	}
	sum := sha256.Sum256([]byte(tsStr + "\n" + nonce + "\n" + string(body) + "\n"))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return nil, ErrBadSignature
	}
	var env wxEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrInvalidRequest, err)
	}
	plain, err := DecryptWeChatResource(v.APIv3Key, env.Resource)
	if err != nil {
		return nil, err
	}
	n := &Notification{ID: env.ID, EventType: env.EventType}
	n.CreatedAt, _ = time.Parse(time.RFC3339, env.CreateTime)
	switch {
	case strings.HasPrefix(env.EventType, "TRANSACTION."):
		var t wxTransaction
		if err := json.Unmarshal(plain, &t); err != nil {
			return nil, fmt.Errorf("%w: transaction: %v", ErrInvalidRequest, err)
		}
		if v.MchID != "" && t.MchID != v.MchID {
			return nil, fmt.Errorf("%w: mchid %q is not ours", ErrInvalidRequest, t.MchID)
		}
		o := &Order{
			OutTradeNo:    t.OutTradeNo,
			TransactionID: t.TransactionID,
			AmountFen:     t.Amount.Total,
			State:         State(t.TradeState),
			StateDesc:     t.TradeStateDesc,
			Channel:       map[string]string{"NATIVE": ChannelNative, "MWEB": ChannelH5, "H5": ChannelH5}[t.TradeType],
		}
		o.PaidAt, _ = time.Parse(time.RFC3339, t.SuccessTime)
		n.Order = o
	case strings.HasPrefix(env.EventType, "REFUND."):
		var r wxRefund
		if err := json.Unmarshal(plain, &r); err != nil {
			return nil, fmt.Errorf("%w: refund: %v", ErrInvalidRequest, err)
		}
		if v.MchID != "" && r.MchID != v.MchID {
			return nil, fmt.Errorf("%w: mchid %q is not ours", ErrInvalidRequest, r.MchID)
		}
		rf := &Refund{
			OutRefundNo:   r.OutRefundNo,
			RefundID:      r.RefundID,
			OutTradeNo:    r.OutTradeNo,
			TransactionID: r.TransactionID,
			RefundFen:     r.Amount.Refund,
			TotalFen:      r.Amount.Total,
			Status:        RefundStatus(r.RefundStatus),
		}
		rf.SuccessAt, _ = time.Parse(time.RFC3339, r.SuccessTime)
		n.Refund = rf
	default:
		return nil, fmt.Errorf("%w: event type %q", ErrInvalidRequest, env.EventType)
	}
	return n, nil
}

// DecryptWeChatResource decrypts a notification resource
// (AEAD_AES_256_GCM: key = the APIv3 key, nonce = resource.nonce, AAD =
// resource.associated_data). Errors wrap ErrDecrypt.
func DecryptWeChatResource(apiV3Key []byte, r WeChatResource) ([]byte, error) {
	if r.Algorithm != WeChatAlgorithm {
		return nil, fmt.Errorf("%w: algorithm %q", ErrDecrypt, r.Algorithm)
	}
	ct, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext is not base64", ErrDecrypt)
	}
	aead, err := weChatAEAD(apiV3Key)
	if err != nil {
		return nil, err
	}
	if len(r.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: nonce of %d bytes", ErrDecrypt, len(r.Nonce))
	}
	plain, err := aead.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return plain, nil
}

func weChatAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: the APIv3 key must have 32 bytes, not %d", ErrDecrypt, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// encryptWeChatResource is the provider's side of DecryptWeChatResource.
func encryptWeChatResource(apiV3Key, plain []byte, originalType string) (WeChatResource, error) {
	aead, err := weChatAEAD(apiV3Key)
	if err != nil {
		return WeChatResource{}, err
	}
	nonce := randAlnum(aead.NonceSize())
	ct := aead.Seal(nil, []byte(nonce), plain, []byte(originalType))
	return WeChatResource{
		Algorithm:      WeChatAlgorithm,
		Ciphertext:     base64.StdEncoding.EncodeToString(ct),
		AssociatedData: originalType,
		Nonce:          nonce,
		OriginalType:   originalType,
	}, nil
}

// signWeChat signs "timestamp\nnonce\nbody\n" with the platform key.
func signWeChat(key *rsa.PrivateKey, ts, nonce string, body []byte) (string, error) {
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// WeChatAck is what a merchant answers WeChat Pay: 204 and no body when the
// notification was handled, else 500 with {"code":"FAIL","message":…} so that
// WeChat Pay retries.
func WeChatAck(err error) (int, []byte) {
	if err == nil {
		return http.StatusNoContent, nil
	}
	msg := "处理失败"
	switch {
	case errors.Is(err, ErrBadSignature):
		msg = "签名错误"
	case errors.Is(err, ErrStale):
		msg = "时间戳超出范围"
	case errors.Is(err, ErrDecrypt):
		msg = "解密失败"
	}
	b, _ := json.Marshal(map[string]string{"code": "FAIL", "message": msg})
	return http.StatusInternalServerError, b
}

// SandboxWeChat is a sandbox of WeChat Pay API v3 (Native and H5 payments,
// refunds, notifications, trade bills). It keeps everything in memory.
// Build it with NewSandboxWeChat, mount Handler for the cashier pages, and
// Start it so that refunds finish and notifications are delivered.
type SandboxWeChat struct {
	*sandbox
	serial   string
	verifier *WeChatVerifier
}

var _ Provider = (*SandboxWeChat)(nil)

// NewSandboxWeChat makes a WeChat Pay sandbox.
func NewSandboxWeChat(cfg SandboxConfig) (*SandboxWeChat, error) {
	if cfg.AppID == "" {
		cfg.AppID = "wxd930ea5d5a258f4f"
	}
	if cfg.MchID == "" {
		cfg.MchID = "1900000109"
	}
	if cfg.APIv3Key == nil {
		cfg.APIv3Key = []byte(randAlnum(32))
	}
	if len(cfg.APIv3Key) != 32 {
		return nil, fmt.Errorf("pay: the APIv3 key must have 32 bytes, not %d", len(cfg.APIv3Key))
	}
	w := &SandboxWeChat{serial: strings.ToUpper(randHex(20))}
	s, err := newSandbox(cfg, w)
	if err != nil {
		return nil, err
	}
	w.sandbox = s
	w.verifier = &WeChatVerifier{
		MchID:        s.cfg.MchID,
		APIv3Key:     s.cfg.APIv3Key,
		PlatformKeys: map[string]*rsa.PublicKey{w.serial: &s.cfg.PlatformKey.PublicKey},
		Now:          s.cfg.Now,
	}
	return w, nil
}

// Name is "wechat".
func (w *SandboxWeChat) Name() string { return "wechat" }

// PlatformSerial is the serial of the sandbox platform certificate.
func (w *SandboxWeChat) PlatformSerial() string { return w.serial }

// PlatformPublicKey is the public key merchants verify notifications with.
func (w *SandboxWeChat) PlatformPublicKey() *rsa.PublicKey { return &w.cfg.PlatformKey.PublicKey }

// APIv3Key is the merchant's APIv3 key the sandbox encrypts with.
func (w *SandboxWeChat) APIv3Key() []byte { return w.cfg.APIv3Key }

// Verifier is the merchant-side verifier for this sandbox's notifications.
func (w *SandboxWeChat) Verifier() *WeChatVerifier {
	v := *w.verifier
	return &v
}

// ParseNotification verifies and decrypts a notification (WeChatVerifier).
func (w *SandboxWeChat) ParseNotification(h http.Header, body []byte) (*Notification, error) {
	return w.verifier.ParseNotification(h, body)
}

// NotificationAck answers WeChat Pay (WeChatAck).
func (w *SandboxWeChat) NotificationAck(err error) (int, []byte) { return WeChatAck(err) }

func (w *SandboxWeChat) providerName() string           { return "wechat" }
func (w *SandboxWeChat) brand() string                  { return "微信支付 · 沙箱" }
func (w *SandboxWeChat) retrySchedule() []time.Duration { return weChatRetries }
func (w *SandboxWeChat) syncRefund() bool               { return false }
func (w *SandboxWeChat) autoClose() bool                { return false }
func (w *SandboxWeChat) hiddenUntilOpened() bool        { return false }
func (w *SandboxWeChat) refundID(t time.Time, n int64) string {
	return fmt.Sprintf("5030000%s%014d", t.In(dates.Beijing).Format("20060102"), n%1e14)
}
func (w *SandboxWeChat) transactionID(t time.Time, n int64) string {
	return fmt.Sprintf("4200%06s%s%010d", randDigits(6), t.In(dates.Beijing).Format("20060102"), n%1e10)
}
func (w *SandboxWeChat) notificationID(t time.Time, n int64) string {
	return fmt.Sprintf("EV-%s%07d", t.In(dates.Beijing).Format("20060102150405"), n%1e7)
}

func openID(outTradeNo string) string {
	sum := sha256.Sum256([]byte("openid:" + outTradeNo))
	return "oSbx" + base64.RawURLEncoding.EncodeToString(sum[:])[:24]
}

func wxTime(t time.Time) string { return t.In(dates.Beijing).Format(time.RFC3339) }

func wxTradeType(channel string) string {
	if channel == ChannelH5 {
		return "MWEB"
	}
	return "NATIVE"
}

// prepare encrypts the notification's resource once; every attempt sends
// the same body with a fresh signature.
func (w *SandboxWeChat) prepare(ev *event) error {
	var plain []byte
	var err error
	env := wxEnvelope{ID: ev.id, CreateTime: wxTime(ev.createdAt), EventType: ev.eventType, ResourceType: "encrypt-resource"}
	if ev.refund == nil {
		t := wxTransaction{
			AppID: w.cfg.AppID, MchID: w.cfg.MchID, OutTradeNo: ev.order.OutTradeNo, TransactionID: ev.order.TransactionID,
			TradeType: wxTradeType(ev.order.Channel), TradeState: string(StateSuccess), TradeStateDesc: "支付成功",
			BankType: "OTHERS", SuccessTime: wxTime(ev.order.PaidAt),
		}
		t.Payer.OpenID = openID(ev.order.OutTradeNo)
		t.Amount.Total, t.Amount.PayerTotal, t.Amount.Currency, t.Amount.PayerCurrency = ev.order.AmountFen, ev.order.AmountFen, "CNY", "CNY"
		plain, err = json.Marshal(t)
		env.Summary = "支付成功"
		if err == nil {
			env.Resource, err = encryptWeChatResource(w.cfg.APIv3Key, plain, "transaction")
		}
	} else {
		r := ev.refund
		x := wxRefund{
			MchID: w.cfg.MchID, OutTradeNo: r.OutTradeNo, TransactionID: r.TransactionID, OutRefundNo: r.OutRefundNo,
			RefundID: r.RefundID, RefundStatus: string(r.Status), UserReceivedAccount: "支付用户零钱",
		}
		if !r.SuccessAt.IsZero() {
			x.SuccessTime = wxTime(r.SuccessAt)
		}
		x.Amount.Total, x.Amount.Refund, x.Amount.PayerTotal, x.Amount.PayerRefund = r.TotalFen, r.RefundFen, r.TotalFen, r.RefundFen
		plain, err = json.Marshal(x)
		env.Summary = map[string]string{EventRefundSuccess: "退款成功", EventRefundAbnormal: "退款异常", EventRefundClosed: "退款关闭"}[ev.eventType]
		if err == nil {
			env.Resource, err = encryptWeChatResource(w.cfg.APIv3Key, plain, "refund")
		}
	}
	if err != nil {
		return err
	}
	ev.body, err = json.Marshal(env)
	return err
}

// send POSTs the notification, signed now (a probe carries a signature
// over another message).
func (w *SandboxWeChat) send(ctx context.Context, ev *event, kind DeliveryKind) (int, bool, error) {
	ts := strconv.FormatInt(w.now().Unix(), 10)
	nonce := strings.ToUpper(randHex(16))
	signed := ev.body
	if kind == DeliveryProbe {
		signed = append([]byte("probe:"), ev.body...)
	}
	sig, err := signWeChat(w.cfg.PlatformKey, ts, nonce, signed)
	if err != nil {
		return 0, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ev.url, strings.NewReader(string(ev.body)))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mozilla/4.0 (WeChatPay sandbox)")
	req.Header.Set(WeChatHeaderTimestamp, ts)
	req.Header.Set(WeChatHeaderNonce, nonce)
	req.Header.Set(WeChatHeaderSignature, sig)
	req.Header.Set(WeChatHeaderSerial, w.serial)
	req.Header.Set(WeChatHeaderSignatureType, WeChatSignatureType)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, false, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent, nil
}
