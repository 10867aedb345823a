package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// M-1 at 首都儿童医学中心 (self-pay, the fee at booking), in the browser: the
// guardian books a follow-up, the booking is held with its deadline and
// price, the WeChat Pay sandbox's cashier takes the fee, the provider's
// signed notification confirms the booking, and cancelling it refunds the
// fee through the same provider.
func TestBrowserBookingFeePaidAtTheCashier(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	eachEngineAtOnce(t, func(t *testing.T, dsn string) {
		s := startServer(t, t.TempDir(), "--demo", "--db", dsn)
		ctx := newBrowser(t)
		run := steps(t, ctx)
		run("log in as the guardian",
			login(s.URL, "liming", "yunyi2026"),
			chromedp.WaitVisible(css("#patients")),
		)
		run("book 首都儿童医学中心's allergy follow-up for 李小雨",
			chromedp.Navigate(s.URL+"/book/services/ccmc-allergy-fu"),
			chromedp.WaitVisible(css(`.slot a.button`)),
			chromedp.Click(css(`.slot a.button`)),
			chromedp.WaitVisible(css("#book-form")),
		)
		run("answer and confirm",
			chromedp.SetValue(css("#patient"), patientOption(ctx, t, "李小雨")),
			answerQuestions(),
			chromedp.Click(css("#check")),
			chromedp.WaitVisible(css("#eligible")),
			chromedp.Click(css("#confirm")),
			chromedp.WaitVisible(css(`#appointments .status-held`)),
		)
		if txt := text(ctx, t, "#appointments"); !strings.Contains(txt, "待支付") || !strings.Contains(txt, "30.00 元") {
			t.Fatalf("the held booking: %s", txt)
		}
		run("pay with WeChat Pay: the sandbox's cashier",
			chromedp.Click(css(`#appointments .status-held button.pay-wechat`)),
			chromedp.WaitVisible(css(`button.pay`)),
		)
		if txt := text(ctx, t, "main"); !strings.Contains(txt, "¥30.00") || !strings.Contains(txt, "沙箱") {
			t.Fatalf("the cashier: %s", txt)
		}
		run("pay and go back",
			chromedp.Click(css(`button.pay`)),
			chromedp.WaitVisible(css(`p.msg`)), // paid: the cashier says so
			chromedp.WaitVisible(css(`a[href="/appointments"]`)),
			chromedp.Click(css(`a[href="/appointments"]`)),
			chromedp.WaitVisible(css(`#appointments .status-booked .payment.status-paid`)),
		)
		if txt := text(ctx, t, "#appointments"); !strings.Contains(txt, "已预约") || !strings.Contains(txt, "已支付 · ¥30.00") {
			t.Fatalf("paid: %s", txt)
		}
		run("cancel: the fee goes back",
			chromedp.Click(css(`#appointments .status-booked button.cancel`)),
			chromedp.WaitVisible(css(`#appointments .status-cancelled`)),
		)
		deadline := time.Now().Add(15 * time.Second)
		for {
			run("my appointments", chromedp.Navigate(s.URL+"/appointments"), chromedp.WaitVisible(css("#appointments")))
			txt := text(ctx, t, "#appointments")
			if strings.Contains(txt, "已退款") && strings.Contains(txt, "已退 ¥30.00") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not refunded: %s", txt)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
