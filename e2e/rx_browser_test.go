package e2e

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yunyi-health/yunyi/internal/rx"
)

// The e-prescription in three real browsers (issue 11): a first visit at
// 北京儿童医院 for 李小天 (4 years). The guardian books it, fills the
// pre-consultation (photo, weight 16 kg, no drug allergies) and waits; the
// doctor calls in, tries a narcotic and sees the refusal naming R-2, then
// prescribes ibuprofen suspension by weight and cetirizine drops, ticks the
// under-6 confirmation as the rules ask, and issues it; the pharmacist
// rejects it with a reason; the doctor revises it (version 2); the
// pharmacist approves it; the guardian finds it under 我的处方, downloads its
// PDF and verifies its signatures.
func TestBrowserRxPrescribeReviewRevise(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	eachEngineAtOnce(t, func(t *testing.T, dsn string) {
		began := time.Now()
		s := startServer(t, t.TempDir(), "--demo", "--db", dsn)
		slots := doctorSlots(t, s.URL, "bch-skin-fv", "bch", "bch-dermatology-doctor")
		photo := filepath.Join(t.TempDir(), "皮疹.png")
		img := image.NewRGBA(image.Rect(0, 0, 48, 48))
		for i := range 48 {
			img.Set(i, i, color.RGBA{200, 40, 40, 255})
		}
		var buf bytes.Buffer
		png.Encode(&buf, img)
		os.WriteFile(photo, buf.Bytes(), 0o644)

		ibu, cet := drugNamed(t, "布洛芬混悬液"), drugNamed(t, "盐酸西替利嗪滴剂")
		ibuItem, cetItem := `#rx-items li[data-drug="`+ibu+`"]`, `#rx-items li[data-drug="`+cet+`"]`
		pat, doc, pha := newBrowser(t), newBrowser(t), newBrowser(t)
		prun, drun, hrun := steps(t, pat), steps(t, doc), steps(t, pha)

		bookFirstVisit(t, pat, prun, s.URL, slots[0], "李小天")
		prun("the pre-consultation: a photo, weight 16 kg, no drug allergies",
			chromedp.SetUploadFiles(css("#file"), []string{photo}),
			chromedp.Click(css("#upload")),
			chromedp.WaitVisible(css(`#files li[data-purpose=pre_consult] img.thumb`)),
			chromedp.Click(css(`input[name=site][value=trunk]`)),
			fill("#q-duration_days", "3"),
			fill("#q-weight_kg", "16"),
			fill("#q-drug_allergies", "无"),
			chromedp.Click(css(`.question[data-key=fever] input[value=no]`)),
			chromedp.Click(css(`.question[data-key=blisters_mucosa] input[value=no]`)),
			chromedp.Click(css("#pre-consult-submit")),
			chromedp.WaitVisible(css("#enter-waiting")),
			chromedp.Click(css("#enter-waiting")),
			chromedp.WaitVisible(css("#waiting-note")),
		)
		visitPath, _ := chromedp.Run(pat, chromedp.Evaluate[string](`location.pathname`))

		drun("the doctor calls in",
			login(s.URL, "bch-dermatology-doctor", "yunyi2026"),
			chromedp.WaitVisible(css("#nav-doctor")),
			confirmIdentity(s.URL, "bch-dermatology-doctor"), // N-7
			chromedp.Navigate(s.URL+visitPath),
			chromedp.WaitVisible(css("#call-in")),
			chromedp.Click(css("#call-in")),
			chromedp.WaitVisible(css(`#visit[data-state=in_progress] #rx-form`)),
		)
		if w, _ := chromedp.Run(doc, chromedp.Value(css("#rx-weight"))); w != "16" {
			t.Fatalf("the weight is not prefilled from the pre-consultation: %q", w)
		}

		// a narcotic is refused, naming the rule.
		drun("search a narcotic by name",
			fill("#rx-dx", "L20.9"),
			chromedp.SendKeys(css("#rx-search"), "吗啡"),
			chromedp.WaitVisible(css(`#rx-results .rx-hit.offline`)),
		)
		if txt := text(doc, t, "#rx-results"); !strings.Contains(txt, "不可在线开具") {
			t.Fatalf("the drug box does not mark the narcotic: %s", txt)
		}
		drun("add it and try to issue",
			chromedp.Click(css(`#rx-results .rx-hit.offline`)),
			chromedp.WaitVisible(css(`#rx-items li.rx-item .rx-dose`)),
			fill(`#rx-items li.rx-item .rx-dose`, "5"),
			chromedp.WaitVisible(css(`#rx-rules li.fail[data-code=banned-control-class]`)),
			chromedp.Click(css("#rx-submit")),
			chromedp.WaitVisible(css(`#rx-error .rx-refused li[data-code=banned-control-class]`)),
		)
		if txt := text(doc, t, "#rx-error"); !strings.Contains(txt, "麻醉药品") || !strings.Contains(txt, "不得在线开具") || !strings.Contains(txt, "吗啡") {
			t.Fatalf("the refusal: %s", txt)
		}

		// Two drugs for a 4-year-old: ibuprofen by weight, cetirizine drops.
		drun("remove it; add ibuprofen suspension",
			chromedp.Click(css(`#rx-items li.rx-item .rx-remove`)),
			chromedp.WaitVisible(css("#rx-no-items")),
			chromedp.SendKeys(css("#rx-search"), "布洛芬混悬液"),
			chromedp.WaitVisible(css(`#rx-results .rx-hit[data-drug="`+ibu+`"]`)),
			chromedp.Click(css(`#rx-results .rx-hit[data-drug="`+ibu+`"]`)),
			chromedp.WaitVisible(css(ibuItem+` .rx-paed`)),
			fill(ibuItem+` .rx-dose`, "150"),
			chromedp.SetValue(css(ibuItem+` .rx-freq`), "tid"),
		)
		if txt := text(doc, t, ibuItem+` .rx-paed`); !strings.Contains(txt, "320–640 mg") {
			t.Fatalf("the weight-based range: %s", txt)
		}
		drun("add cetirizine drops",
			chromedp.SendKeys(css("#rx-search"), "西替利嗪滴剂"),
			chromedp.WaitVisible(css(`#rx-results .rx-hit[data-drug="`+cet+`"]`)),
			chromedp.Click(css(`#rx-results .rx-hit[data-drug="`+cet+`"]`)),
			chromedp.WaitVisible(css(cetItem+` .rx-dose`)),
			fill(cetItem+` .rx-dose`, "2.5"),
			retype(cetItem+` .rx-days`, "5"),
			chromedp.WaitVisible(css(`#rx-rules li.fail[data-code=under-6-accompanied] input.rx-confirm`)),
		)
		confirmAll(t, doc)
		drun("issue and sign",
			chromedp.Click(css("#rx-submit")),
			chromedp.WaitVisible(css(`#rx-list li.rx-entry[data-version="1"][data-status=pending_review]`)),
			chromedp.WaitVisible(css("#rx-flash")),
		)
		id1, _ := chromedp.Run(doc, chromedp.Evaluate[string](`document.querySelector('#rx-list li[data-version="1"]').dataset.id`))

		// The pharmacist rejects it once, with a reason.
		hrun("the pharmacist's queue",
			login(s.URL, "bch-pharmacist", "yunyi2026"),
			chromedp.WaitVisible(css("#nav-pharmacist")),
			chromedp.Click(css("#nav-pharmacist")),
			chromedp.WaitVisible(css(`#rx-queue li[data-id="`+id1+`"]`)),
		)
		card := text(pha, t, `#rx-queue li[data-id="`+id1+`"]`)
		for _, want := range []string{"李小天", "16 kg", "无", "L20.9", "布洛芬混悬液", "盐酸西替利嗪滴剂", "医师已确认"} {
			if !strings.Contains(card, want) {
				t.Fatalf("the queue's card lacks %q: %s", want, card)
			}
		}
		hrun("reject with a reason",
			chromedp.Click(css(`#rx-queue li[data-id="`+id1+`"] a.button`)),
			chromedp.WaitVisible(css("#rx-review-form")),
			chromedp.SendKeys(css("#rx-other-reasons"), "西替利嗪剂量请按体重调整"),
			chromedp.Click(css("#rx-reject")),
			chromedp.WaitVisible(css(`#rx[data-status=rejected] #rx-reasons`)),
		)

		// The doctor revises it: version 2.
		drun("the doctor sees the rejection",
			chromedp.Navigate(s.URL+visitPath),
			chromedp.WaitVisible(css(`#rx-list li[data-version="1"][data-status=rejected] .rx-revise`)),
		)
		if txt := text(doc, t, `#rx-list li[data-version="1"] .rx-reasons`); !strings.Contains(txt, "西替利嗪剂量请按体重调整") {
			t.Fatalf("the reviewer's reasons: %s", txt)
		}
		drun("revise",
			chromedp.Click(css(`#rx-list li[data-version="1"] .rx-revise`)),
			chromedp.WaitVisible(css("#rx-revising")),
			chromedp.WaitVisible(css(cetItem+` .rx-dose`)),
			retype(cetItem+` .rx-dose`, "2"),
		)
		confirmAll(t, doc)
		drun("issue version 2",
			chromedp.Click(css("#rx-submit")),
			chromedp.WaitVisible(css(`#rx-list li.rx-entry[data-version="2"][data-status=pending_review]`)),
		)
		id2, _ := chromedp.Run(doc, chromedp.Evaluate[string](`document.querySelector('#rx-list li[data-version="2"]').dataset.id`))

		// The pharmacist approves it.
		hrun("approve version 2",
			chromedp.Navigate(s.URL+"/pharmacist"),
			chromedp.WaitVisible(css(`#rx-queue li[data-id="`+id2+`"]`)),
			chromedp.Click(css(`#rx-queue li[data-id="`+id2+`"] a.button`)),
			chromedp.WaitVisible(css("#rx-review-form")),
			chromedp.SendKeys(css("#rx-note"), "已核对"),
			chromedp.Click(css("#rx-approve")),
			chromedp.WaitVisible(css(`#rx[data-status=approved] #rx-verdict[data-valid=true]`)),
		)
		if txt := text(pha, t, "#rx-signatures"); strings.Count(txt, "有效") != 2 || !strings.Contains(txt, "药师") {
			t.Fatalf("signatures after approval: %s", txt)
		}

		// The guardian: 我的处方, the PDF, the verification.
		prun("the guardian's prescriptions",
			chromedp.Click(css("#nav-prescriptions")),
			chromedp.WaitVisible(css(`#rx-mine li[data-id="`+id2+`"] a.rx-pdf`)),
		)
		if n, _ := chromedp.Run(pat, chromedp.Evaluate[int](`document.querySelectorAll('#rx-mine li[data-id="`+id1+`"]').length`)); n != 0 {
			t.Fatal("the guardian sees the rejected version")
		}
		got, err := chromedp.Run(pat, chromedp.Evaluate[string](`fetch(document.querySelector('#rx-mine li[data-id="`+id2+`"] a.rx-pdf').href)
			.then(r => r.arrayBuffer()).then(b => String.fromCharCode(...new Uint8Array(b).slice(0, 5)) + ' ' + b.byteLength)`, chromedp.EvalAwaitPromise))
		var size int
		if f := strings.Fields(got); len(f) == 2 {
			size, _ = strconv.Atoi(f[1])
		}
		if err != nil || !strings.HasPrefix(got, "%PDF-") || size < 5000 {
			t.Fatalf("the PDF: %q %v", got, err)
		}
		prun("verify its signatures",
			chromedp.Click(css(`#rx-mine li[data-id="`+id2+`"] a.button.secondary`)),
			chromedp.WaitVisible(css("#rx-verify-link")),
			chromedp.Click(css("#rx-verify-link")),
			chromedp.WaitVisible(css(`#rx-verify #rx-verdict`)),
		)
		if v, _ := chromedp.Run(pat, chromedp.AttributeValue(css("#rx-verdict"), "data-valid")); v.Value != "true" {
			t.Fatalf("verification: %s", text(pat, t, "#rx-verify"))
		}
		// The QR code's address needs no login.
		addr, _ := chromedp.Run(pat, chromedp.Evaluate[string](`location.href`))
		res, err := http.Get(addr)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(page), `data-valid="true"`) {
			t.Fatalf("anonymous verification: %d", res.StatusCode)
		}
		t.Logf("prescribe, review, revise, approve, verify (PDF %d bytes): %s", size, time.Since(began).Round(time.Millisecond))
	})
}

// drugNamed is the catalogue code of a drug by its Chinese name.
func drugNamed(t *testing.T, nameZH string) string {
	t.Helper()
	for _, d := range rx.DefaultCatalogue().All() {
		if d.NameZH == nameZH {
			return d.Code
		}
	}
	t.Fatalf("no %s in the catalogue", nameZH)
	return ""
}

// retype replaces what a field holds (fill clears only the value attribute,
// not a value set by the page's script) and types value, as a user would.
func retype(sel, value string) chromedp.Action[chromedp.Void] {
	clear := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(e => { e.value = ''; return true; })(document.querySelector(`+strconv.Quote(sel)+`))`))
		return err
	})
	return chromedp.Steps(chromedp.WaitVisible(css(sel)), clear, chromedp.SendKeys(css(sel), value))
}

// confirmAll ticks every confirmation the rules ask for, until every rule
// passes or is confirmed.
func confirmAll(t *testing.T, ctx ctxT) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
			const box = document.querySelector('#rx-rules li.fail input.rx-confirm:not(:checked)');
			if (box) { box.click(); return false; }
			const state = document.getElementById('rx-check-state').textContent;
			return document.querySelectorAll('#rx-rules li').length > 0 && !document.querySelector('#rx-rules li.fail') && state !== '' && !state.includes('…');
		})()`))
		if err == nil && done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the rules do not pass after confirming:\n%s\n%s", text(ctx, t, "#rx-rules"), text(ctx, t, "#rx-form"))
}
