package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/yunyi-health/yunyi/internal/policy"
)

// A guardian books a follow-up for a child: hospital → department service →
// day and slot → pre-booking questions, none answered for them (S-4) →
// eligibility rule by rule, the conditions met folded → confirm → my
// appointments → cancel. A refused booking shows every reason first, with
// what to do.
func TestBrowserBookingAndRefusal(t *testing.T) {
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
		run("hospital and service",
			chromedp.Navigate(s.URL+"/institutions/bch"),
			chromedp.WaitVisible(css(`.dept[data-code=allergy]`)),
			chromedp.Click(css(`li[data-code=bch-allergy-fu] a`)),
			chromedp.WaitVisible(css(`.slot a.button`)),
		)
		if txt := text(ctx, t, "main"); !strings.Contains(txt, "可预约 1 至 7 天内的号源") || !strings.Contains(txt, "过敏反应科") {
			t.Fatalf("H-BCH's window (S-2) or the department not shown: %s", txt)
		}
		run("choose a slot", chromedp.Click(css(`.slot a.button`)), chromedp.WaitVisible(css("#book-form")))
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#book-form input[type=radio]:checked').length`)); n != 0 {
			t.Fatalf("%d answers chosen before the family read the questions", n)
		}
		run("check without answering",
			chromedp.SetValue(css("#patient"), patientOption(ctx, t, "李小雨")),
			chromedp.Click(css("#check")),
			chromedp.WaitVisible(css(".question.unanswered")),
		)
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.question.unanswered .ferr').length`)); n != 4 {
			t.Fatalf("%d questions marked unanswered, want 4", n)
		}
		if txt := text(ctx, t, ".question[data-key=critical]"); !strings.Contains(txt, "请回答此问题") {
			t.Fatalf("the unanswered question does not say so: %s", txt)
		}
		run("answer every question",
			answerQuestions(),
			chromedp.Click(css("#check")),
			chromedp.WaitVisible(css("#eligible")),
		)
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#failed-rules').length`)); n != 0 {
			t.Fatal("an eligible booking lists failed rules")
		}
		if open, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#passed-rules').open`)); open {
			t.Fatal("the conditions met are not folded")
		}
		if txt := text(ctx, t, "#passed-rules summary"); !strings.HasPrefix(txt, "已符合 ") || !strings.HasSuffix(txt, " 项条件") {
			t.Fatalf("summary: %s", txt)
		}
		run("unfold the conditions met", chromedp.Click(css("#passed-rules summary")), chromedp.WaitVisible(css("#passed-rules li.pass")))
		if txt := text(ctx, t, "#passed-rules"); !strings.Contains(txt, "✓ 该机构已获互联网诊疗资质批准") || !strings.Contains(txt, "✓ 没有急危重症状") ||
			strings.Contains(txt, "✗") || strings.Contains(txt, "尚未获得") {
			t.Fatalf("the conditions met: %s", txt)
		}
		run("confirm",
			chromedp.Click(css("#confirm")),
			chromedp.WaitVisible(css(`#appointments .appt`)),
		)
		if txt := text(ctx, t, "#appointments"); !strings.Contains(txt, "李小雨") || !strings.Contains(txt, "已预约") || !strings.Contains(txt, "北京儿童医院 · 过敏反应科") {
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
			answerQuestions("critical"),
			chromedp.Click(css("#check")),
			chromedp.WaitVisible(css("#ineligible")),
		)
		txt := text(ctx, t, "#failed-rules")
		for _, want := range []string{"✗ 须在本院皮肤科 2 个月内有就诊记录；请先到皮肤科线下门诊就诊", "✗ 急危重症患者请立即到线下急诊就医"} {
			if !strings.Contains(txt, want) {
				t.Fatalf("the refusal lacks %q:\n%s", want, txt)
			}
		}
		if first, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`!!(document.querySelector('#failed-rules').compareDocumentPosition(document.querySelector('#passed-rules')) & Node.DOCUMENT_POSITION_FOLLOWING)`)); !first {
			t.Fatal("the failed rules do not come first")
		}
		if txt := text(ctx, t, "#passed-rules summary"); !strings.Contains(txt, "已符合") {
			t.Fatalf("the conditions met are not folded under their count: %s", txt)
		}
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#confirm').length`)); n != 0 {
			t.Fatal("a refused booking offers to confirm")
		}
		// In English: the service, department and rules in English.
		run("the booking page in English",
			chromedp.Navigate(s.URL+"/book/services/bch-dermatology-fu?lang=en"),
			chromedp.WaitVisible(css(`.slot a.button`)),
		)
		if txt := text(ctx, t, "main"); !strings.Contains(txt, "Beijing Children's Hospital · Dermatology") || strings.Contains(txt, "皮肤科") {
			t.Fatalf("the slot list in English: %s", txt)
		}
	})
}

// screening answers every pre-booking question, as the API requires (S-4):
// yes to the keys given, no to the others.
func screening(yes ...string) map[string]bool {
	out := map[string]bool{}
	for _, k := range policy.AnswerKeys {
		out[k] = slices.Contains(yes, k)
	}
	return out
}

// answerQuestions chooses an answer to every pre-booking question of the
// booking form, as a family must (nothing is chosen for them): yes to the
// keys given, no to the others.
func answerQuestions(yes ...string) chromedp.Action[chromedp.Void] {
	var clicks []chromedp.Action[chromedp.Void]
	for _, k := range policy.AnswerKeys {
		v := "no"
		if slices.Contains(yes, k) {
			v = "yes"
		}
		clicks = append(clicks, chromedp.Click(css(`.question[data-key=`+k+`] input[value=`+v+`]`)))
	}
	return chromedp.Steps(clicks...)
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
