package pay

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/skip2/go-qrcode"

	"github.com/yunyi-health/yunyi/internal/dates"
)

//go:embed cashier.html
var cashierHTML string

var cashierTmpl = template.Must(template.New("cashier").Parse(cashierHTML))

type cashierPage struct {
	Brand        string
	Order        *Order
	Amount       string
	StateText    string
	ExpireText   string
	Message      string
	IsError      bool
	Payable      bool
	QR           template.URL
	PayAction    string
	CancelAction string
	ReturnURL    string
}

var stateText = map[State]string{
	StateNotPay:     "待支付",
	StateUserPaying: "支付中",
	StateSuccess:    "支付成功",
	StateClosed:     "已关闭",
	StateRefund:     "已退款",
	StatePayError:   "支付失败",
}

// Handler serves the sandbox cashier, the page the payer opens (CashierURL;
// for native orders its QR code encodes the same URL):
//
//	GET  {BasePath}/cashier/{out_trade_no}         the page: amount, description, QR code (native), 支付 and 取消
//	POST {BasePath}/cashier/{out_trade_no}/pay     pays the order (as Pay), then shows the page again
//	POST {BasePath}/cashier/{out_trade_no}/cancel  the payer gives up; the order stays unpaid
func (s *sandbox) Handler() http.Handler {
	mux := http.NewServeMux()
	base := s.cfg.BasePath
	mux.HandleFunc("GET "+base+"/cashier/{no}", func(w http.ResponseWriter, r *http.Request) {
		msg := ""
		if r.URL.Query().Get("paid") == "1" {
			msg = "支付成功，商户将收到支付结果通知。"
		}
		s.renderCashier(w, r, http.StatusOK, msg, false, true)
	})
	mux.HandleFunc("POST "+base+"/cashier/{no}/pay", func(w http.ResponseWriter, r *http.Request) {
		no := r.PathValue("no")
		err := s.Pay(r.Context(), no)
		switch {
		case err == nil:
			http.Redirect(w, r, s.cfg.BasePath+"/cashier/"+url.PathEscape(no)+"?paid=1", http.StatusSeeOther)
		case errors.Is(err, ErrOrderNotFound):
			http.Error(w, "订单不存在", http.StatusNotFound)
		case errors.Is(err, ErrOrderPaid):
			s.renderCashier(w, r, http.StatusConflict, "该订单已支付，请勿重复支付。", true, false)
		case errors.Is(err, ErrOrderClosed):
			s.renderCashier(w, r, http.StatusConflict, "订单已关闭，无法支付。", true, false)
		case errors.Is(err, ErrOrderExpired):
			s.renderCashier(w, r, http.StatusConflict, "订单已过期，无法支付。", true, false)
		default:
			http.Error(w, "支付失败", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST "+base+"/cashier/{no}/cancel", func(w http.ResponseWriter, r *http.Request) {
		s.renderCashier(w, r, http.StatusOK, "您已取消支付，订单未付款。", false, false)
	})
	return mux
}

func (s *sandbox) renderCashier(w http.ResponseWriter, r *http.Request, status int, msg string, isErr, offerPay bool) {
	no := r.PathValue("no")
	o, returnURL, err := s.open(no)
	if err != nil {
		http.Error(w, "订单不存在", http.StatusNotFound)
		return
	}
	p := cashierPage{
		Brand:        s.fl.brand(),
		Order:        o,
		Amount:       Yuan(o.AmountFen),
		StateText:    stateText[o.State],
		Message:      msg,
		IsError:      isErr,
		PayAction:    s.cfg.BasePath + "/cashier/" + url.PathEscape(no) + "/pay",
		CancelAction: s.cfg.BasePath + "/cashier/" + url.PathEscape(no) + "/cancel",
		ReturnURL:    returnURL,
	}
	if !o.ExpireAt.IsZero() {
		p.ExpireText = o.ExpireAt.In(dates.Beijing).Format("2006-01-02 15:04")
	}
	expired := !o.ExpireAt.IsZero() && !s.now().Before(o.ExpireAt)
	if o.State == StateNotPay && expired {
		p.StateText = "已过期"
	}
	p.Payable = o.State == StateNotPay && !expired && offerPay
	if p.Payable && o.Channel == ChannelNative {
		png, err := qrcode.Encode(o.CashierURL, qrcode.Medium, 256)
		if err == nil {
			p.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		}
	}
	var b bytes.Buffer
	if err := cashierTmpl.Execute(&b, p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
