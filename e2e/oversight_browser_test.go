package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// The regulator's working day in one real browser (issue 13; N-21, G-3,
// G-4): a guardian files a complaint against 北京儿童医院; the hospital's
// admin triages, investigates and answers it, and the guardian reads the
// answer; the regulator orders a rectification, the hospital answers with
// its measures and the regulator verifies them; the regulator drafts the
// month's evaluation bulletin, writes the commentary and publishes it,
// and anyone then reads it with its server-drawn charts (the screenshot
// is decoded and checked: the page's width, its length, and the colour of
// the visits chart's bars).
func TestBrowserComplaintRectificationBulletin(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	s := startServer(t, t.TempDir(), "--demo")
	// One browser per person, each logged in once: a staff login takes a
	// fresh second-factor code, so logging the same person in again would
	// wait for the next 30-second step.
	type person struct {
		ctx ctxT
		run func(string, ...chromedp.Action[chromedp.Void])
	}
	as := func(user string) person {
		t.Helper()
		ctx := newBrowser(t, chromedp.WindowSize(1200, 900))
		p := person{ctx, steps(t, ctx)}
		p.run("log in as "+user, login(s.URL, user, "yunyi2026"), chromedp.WaitVisible(css("#logout")))
		return p
	}
	attr := func(p person, js string) string {
		t.Helper()
		v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
		if err != nil || v == "" {
			t.Fatalf("%s: %q %v", js, v, err)
		}
		return v
	}
	guardian, hospital, regulator := as("liming"), as("bch-admin"), as("regulator")

	// The guardian's complaint.
	guardian.run("file a complaint",
		chromedp.Navigate(s.URL+"/complaints"),
		chromedp.WaitVisible(css("#complaint-form")),
		chromedp.SetValue(css(`#complaint-form select[name=institution]`), "bch"),
		chromedp.SetValue(css(`#complaint-form select[name=category]`), "waiting"),
		chromedp.SetValue(css(`#complaint-form textarea[name=text]`), "预约后候诊时间过长，孩子等了一个多小时"),
		chromedp.Click(css("#complaint-submit")),
		chromedp.WaitVisible(css("p.flash")),
	)
	complaint := attr(guardian, `document.querySelector('#complaint-list a[href^="/complaints/"]').getAttribute('href')`)

	// The hospital answers it, one step at a time.
	for _, st := range []struct{ field, text, code string }{
		{"note", "已受理，转门诊办公室", "triaged"},
		{"note", "调取当日候诊记录", "investigating"},
		{"findings", "当日医生接诊延迟，已调整排班并向家长致歉", "closed"},
	} {
		hospital.run("step to "+st.code,
			chromedp.Navigate(s.URL+complaint),
			chromedp.WaitVisible(css("#step-form")),
			chromedp.SendKeys(css(`#step-form textarea[name=`+st.field+`]`), st.text),
			chromedp.Click(css("#step-submit")),
			chromedp.WaitVisible(css(`#case[data-state=`+st.code+`]`)),
		)
	}
	guardian.run("the guardian reads the answer", chromedp.Navigate(s.URL+complaint), chromedp.WaitVisible(css("#steps")))
	if txt := text(guardian.ctx, t, "#steps"); !strings.Contains(txt, "已调整排班并向家长致歉") {
		t.Fatalf("the guardian does not see the answer: %s", txt)
	}

	// The regulator's rectification order, answered and verified.
	deadline := testclock.Start().In(dates.Beijing).AddDate(0, 0, 14).Format(dates.Layout)
	regulator.run("issue a rectification order",
		chromedp.Navigate(s.URL+"/oversight"),
		chromedp.WaitVisible(css("#rect-form")),
		chromedp.SetValue(css(`#rect-form select[name=institution]`), "bch"),
		chromedp.SetValue(css(`#rect-form textarea[name=findings]`), "候诊管理不到位，投诉处理记录不完整"),
		chromedp.SetValue(css(`#rect-form input[name=deadline]`), deadline),
		chromedp.Click(css("#rect-submit")),
		chromedp.WaitVisible(css("p.flash")),
	)
	rect := attr(regulator, `document.querySelector('#rect-list a[href^="/rectifications/"]').getAttribute('href')`)
	hospital.run("answer the order",
		chromedp.Navigate(s.URL+rect),
		chromedp.WaitVisible(css("#response-form")),
		chromedp.SetValue(css(`#response-form textarea[name=measures]`), "已建立候诊超时提醒，投诉台账按日归档"),
		chromedp.Click(css("#response-submit")),
		chromedp.WaitVisible(css("#rect[data-state=responded]")),
	)
	regulator.run("verify the measures",
		chromedp.Navigate(s.URL+rect),
		chromedp.WaitVisible(css("#verify-form")),
		chromedp.SetValue(css(`#verify-form textarea[name=comment]`), "整改措施到位"),
		chromedp.Click(css("#verify-accept")),
		chromedp.WaitVisible(css("#rect[data-state=verified]")),
	)
	run, ctx := regulator.run, regulator.ctx

	// The bulletin of the demo's month (its visits are yesterday's).
	month := testclock.Start().In(dates.Beijing).AddDate(0, 0, -1)
	run("draft the month's bulletin",
		chromedp.Navigate(s.URL+"/bulletins"),
		chromedp.WaitVisible(css("#bulletin-form")),
		chromedp.SetValue(css(`#bulletin-form select[name=period]`), "month"),
		fill(`#bulletin-form input[name=year]`, fmt.Sprint(month.Year())),
		fill(`#bulletin-form input[name=number]`, fmt.Sprint(int(month.Month()))),
		chromedp.Click(css("#bulletin-create")),
		chromedp.WaitVisible(css("#bulletin-edit")),
	)
	draft, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	run("write the commentary and publish",
		// The draft's page opened anew: the redirect after the create has
		// settled, so no node below belongs to a document being replaced.
		chromedp.Navigate(draft),
		chromedp.WaitVisible(css("#bulletin-edit")),
		chromedp.SetValue(css(`#bulletin-edit textarea[name=commentary]`), "本月各机构首诊质量总体平稳；北京儿童医院已完成候诊管理整改。"),
		chromedp.Click(css("#bulletin-save")),
		chromedp.WaitVisible(css("p.flash")),
		chromedp.Click(css("#bulletin-publish")),
		chromedp.WaitVisible(css("#bulletin-state.ok")),
	)
	bulletin := attr(regulator, `location.pathname`)

	// Anyone reads it, with its charts (the guardian's browser: the
	// bulletins are public).
	run, ctx = guardian.run, guardian.ctx
	run("the public reads the bulletin",
		chromedp.Navigate(s.URL+"/directory"),
		chromedp.WaitVisible(css("#bulletins-link")),
		chromedp.Click(css("#bulletins-link")),
		chromedp.WaitVisible(css(`#bulletin-list a[href="`+bulletin+`"]`)),
		chromedp.Click(css(`#bulletin-list a[href="`+bulletin+`"]`)),
		chromedp.WaitVisible(css("#all-visits svg.chart")),
	)
	if txt := text(ctx, t, "main"); !strings.Contains(txt, "北京儿童医院已完成候诊管理整改") || !strings.Contains(txt, "已发布") ||
		strings.Contains(txt, "保存草稿") {
		t.Fatalf("the published bulletin: %s", txt)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.chart rect').length`)); n < 6 {
		t.Fatalf("%d bars drawn", n)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() < 1800 {
		t.Fatalf("the screenshot is %v: not the whole bulletin", b)
	}
	if n := countColour(img, 0x1f, 0x5a, 0xa6); n < 200 {
		t.Fatalf("%d pixels of the visits chart's blue: no bars drawn", n)
	}
	if dir := os.Getenv("YUNYI_SCREENSHOTS"); dir != "" {
		os.WriteFile(dir+"/bulletin.png", shot, 0o644)
	}
}

// countColour counts the pixels of one colour.
func countColour(img image.Image, r, g, b uint8) int {
	n := 0
	if m, ok := img.(*image.NRGBA); ok { // what png.Decode gives for a screenshot
		for i := 0; i+3 < len(m.Pix); i += 4 {
			if m.Pix[i] == r && m.Pix[i+1] == g && m.Pix[i+2] == b {
				n++
			}
		}
		return n
	}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if uint8(cr>>8) == r && uint8(cg>>8) == g && uint8(cb>>8) == b {
				n++
			}
		}
	}
	return n
}
