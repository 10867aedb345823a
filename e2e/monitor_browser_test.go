package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The regulator opens the monitoring pages of the demo: the published
// issue 27 is in the archive, and its page shows the seed's lead.
func TestBrowserRegulatorSeesIssue27(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	s := startServer(t, t.TempDir(), "--demo")
	ctx := newBrowser(t)
	run := steps(t, ctx)
	run("log in as the regulator",
		login(s.URL, "regulator", "yunyi2026"),
		chromedp.WaitVisible(css("#nav-monitor")),
		chromedp.Click(css("#nav-monitor")),
		chromedp.WaitVisible(css("#reports")),
	)
	if txt := text(ctx, t, "#reports"); !strings.Contains(txt, "（第二十七期）2020-06-01 — 2020-06-30") || !strings.Contains(txt, "已发布") {
		t.Fatalf("archive: %s", txt)
	}
	run("open issue 27", chromedp.Click(css(`#reports .card a`)), chromedp.WaitVisible(css("#report-status")))
	if txt := text(ctx, t, "main"); !strings.Contains(txt, "本期周报共收集 2 篇卫生信息化相关信息") {
		t.Fatalf("report page: %s", txt)
	}
	if os.Getenv("YUNYI_SCREENSHOTS") != "" {
		buf, _ := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		os.WriteFile(os.Getenv("YUNYI_SCREENSHOTS")+"/report27.png", buf, 0o644)
	}
}
