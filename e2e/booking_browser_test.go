package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A guardian books a follow-up for a child: hospital → department service →
// day and slot → pre-booking questions → eligibility rule by rule → confirm
// → my appointments → cancel. A refused booking shows every reason.
func TestBrowserBookingAndRefusal(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, t.TempDir(), "--demo", "--db", dsn)
		ctx := newBrowser(t)
		run := steps(t, ctx)
		run("log in as the guardian",
			login(s.URL, "liming", "yunyi2026"),
			chromedp.WaitVisible(css("#patients")),
		)
		run("hospital and service",
			chromedp.Navigate(s.URL+"/institutions/bch"),
			chromedp.WaitVisible(css(`.dept[data-code=allergy]`)),
			chromedp.Click(css(`li[data-code=bch-allergy-fu] a`)),
			chromedp.WaitVisible(css(`.slot a.button`)),
		)
		if txt := text(ctx, t, "main"); !strings.Contains(txt, "可预约 1 至 7 天内的号源") {
			t.Fatalf("H-BCH's window (S-2) not shown: %s", txt)
		}
		run("choose a slot", chromedp.Click(css(`.slot a.button`)), chromedp.WaitVisible(css("#book-form")))
		run("answer",
			chromedp.SetValue(css("#patient"), patientOption(ctx, t, "李小雨")),
			chromedp.Click(css("#check")),
			chromedp.WaitVisible(css("#eligible")),
		)
		if txt := text(ctx, t, "#verdicts"); !strings.Contains(txt, "✓") || strings.Contains(txt, "✗") {
			t.Fatalf("rule by rule: %s", txt)
		}
		run("confirm",
			chromedp.Click(css("#confirm")),
			chromedp.WaitVisible(css(`#appointments .appt`)),
		)
		if txt := text(ctx, t, "#appointments"); !strings.Contains(txt, "李小雨") || !strings.Contains(txt, "已预约") {
			t.Fatalf("my appointments: %s", txt)
		}
		run("cancel",
			chromedp.Click(css(`#appointments button.cancel`)),
			chromedp.WaitVisible(css(`#appointments .status-cancelled`)),
		)
		// A refusal: dermatology's window is 2 months and the visit was 100 days ago; critical symptoms too.
		run("a refused booking",
			chromedp.Navigate(s.URL+"/book/services/bch-dermatology-fu"),
			chromedp.WaitVisible(css(`.slot a.button`)),
			chromedp.Click(css(`.slot a.button`)),
			chromedp.WaitVisible(css("#book-form")),
		)
		run("answer: critical",
			chromedp.SetValue(css("#patient"), patientOption(ctx, t, "李小雨")),
			chromedp.Click(css(`.question[data-key=critical] input[value=yes]`)),
			chromedp.Click(css("#check")),
			chromedp.WaitVisible(css("#ineligible")),
		)
		txt := text(ctx, t, "#verdicts")
		for _, want := range []string{"✗ 须在本院皮肤科 2 个月内有就诊记录", "✗ 急危重症患者请立即到线下急诊就医", "✓"} {
			if !strings.Contains(txt, want) {
				t.Fatalf("the refusal lacks %q:\n%s", want, txt)
			}
		}
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#confirm').length`)); n != 0 {
			t.Fatal("a refused booking offers to confirm")
		}
	})
}

// patientOption returns the value of the patient option whose text has name.
func patientOption(ctx ctxT, t *testing.T, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#patient option')].find(o => o.textContent.includes('`+name+`')).value`))
	if err != nil || v == "" {
		t.Fatalf("no patient %s: %v", name, err)
	}
	return v
}
