package pay

import (
	"net/http"
	"strconv"
	"strings"
)

// PaymentNotification returns the body of a paid order's payment
// notification (TRANSACTION.SUCCESS) exactly as the sandbox POSTs it: the
// envelope, its resource encrypted once. A retry or a duplicate of it is
// the same body under a fresh signature (SignNotification). It is for
// load tests (`yunyi bench pay`), which deliver the notifications
// themselves: ErrOrderNotFound, or ErrOrderNotPaid for an unpaid order.
func (w *SandboxWeChat) PaymentNotification(outTradeNo string) ([]byte, error) {
	now := w.now()
	w.mu.Lock()
	o, ok := w.orders[outTradeNo]
	if !ok {
		w.mu.Unlock()
		return nil, ErrOrderNotFound
	}
	if o.o.State != StateSuccess && o.o.State != StateRefund {
		w.mu.Unlock()
		return nil, ErrOrderNotPaid
	}
	ev := w.newEvent(EventTransactionSuccess, o.notifyURL, now, o.o, nil)
	w.mu.Unlock()
	if err := w.prepare(ev); err != nil {
		return nil, err
	}
	return ev.body, nil
}

// SignNotification signs body for one delivery as WeChat Pay does: the
// Wechatpay-* headers with the time now (by the sandbox's clock), a fresh
// nonce, the SHA256-RSA2048 signature over "timestamp\nnonce\nbody\n" and
// the platform certificate's serial.
func (w *SandboxWeChat) SignNotification(body []byte) (http.Header, error) {
	ts := strconv.FormatInt(w.now().Unix(), 10)
	nonce := strings.ToUpper(randHex(16))
	sig, err := signWeChat(w.cfg.PlatformKey, ts, nonce, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(WeChatHeaderTimestamp, ts)
	h.Set(WeChatHeaderNonce, nonce)
	h.Set(WeChatHeaderSignature, sig)
	h.Set(WeChatHeaderSerial, w.serial)
	h.Set(WeChatHeaderSignatureType, WeChatSignatureType)
	return h, nil
}

// SignedNotification is a paid order's payment notification signed for
// one delivery: its headers and body (PaymentNotification, then
// SignNotification).
func (w *SandboxWeChat) SignedNotification(outTradeNo string) (http.Header, []byte, error) {
	body, err := w.PaymentNotification(outTradeNo)
	if err != nil {
		return nil, nil, err
	}
	h, err := w.SignNotification(body)
	return h, body, err
}
