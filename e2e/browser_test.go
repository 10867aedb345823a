package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// chromium finds Debian's Chromium, or skips (fails when
// YUNYI_REQUIRE_CHROMIUM=1).
// skipBrowserInShort skips a browser flow in -short mode (CI's far-ahead
// pass): the flows' dates are the server's, which the API tests check on
// both dates; the browser runs them on today's date.
func skipBrowserInShort(t *testing.T) {
	if testing.Short() {
		t.Skip("browser flows run in the full pass; -short (CI's far-ahead pass) skips them")
	}
}

func chromium(t *testing.T) string {
	skipBrowserInShort(t)
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("YUNYI_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("Chromium required but not installed (apt-get install -y chromium)")
	}
	t.Skip("Chromium not installed; set YUNYI_REQUIRE_CHROMIUM=1 to fail instead")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(420, 900), // a phone: patients are mobile-first
	)
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 180*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

type css = chromedp.CSS

func fill(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Clear(css(sel)), chromedp.SendKeys(css(sel), value))
}

// text reads the text of the first element matching sel.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

// A guardian registers with a real name, sees a wrong resident ID refused
// with its reason, adds a child, logs out and in, and browses the
// institutions, in Chinese and in English.
func TestBrowserGuardianRegistersAddsChildAndBrowses(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	eachEngineAtOnce(t, func(t *testing.T, dsn string) {
		s := startServer(t, t.TempDir(), "--demo", "--db", dsn)
		ctx := newBrowser(t)
		now := testclock.Start()
		var txt, loc string
		guardianID := identity.MakeResidentID("110101", now.AddDate(-34, -2, 0), 7, identity.Female)
		childID := identity.MakeResidentID("110101", now.AddDate(-6, -1, 0), 8, identity.Male)
		badID := guardianID[:17] + map[bool]string{true: "1", false: "0"}[guardianID[17] == '0']

		run := steps(t, ctx)
		// N-5: the phone is proved by a code, read from the SMS sandbox.
		run("open register page and ask for a code",
			chromedp.Navigate(s.URL+"/register"),
			chromedp.WaitVisible(css("#register-form")),
			fill(`input[name=name]`, "王丽华"),
			fill(`input[name=resident_id]`, badID),
			fill(`input[name=phone]`, "13901234567"),
			fill(`input[name=username]`, "wanglihua"),
			chromedp.Click(css("#send-code")),
			chromedp.WaitVisible(css(`p.flash`)),
		)
		if txt = text(ctx, t, "p.flash"); !strings.Contains(txt, "139****4567") {
			t.Fatalf("code sent: %q", txt)
		}
		run("register with the code",
			fill(`input[name=sms_code]`, smsCode(t, s.URL, "13901234567")),
			fill(`input[name=password]`, "guardian-2026"),
			fill(`input[name=password2]`, "guardian-2026"),
			chromedp.Click(css("#register-submit")),
			chromedp.WaitVisible(css(`.ferr[data-field=resident_id]`)),
		)
		txt = text(ctx, t, `.ferr[data-field=resident_id]`)
		if !strings.Contains(txt, "校验位") {
			t.Fatalf("the refusal must say why: %q", txt)
		}
		kept, _ := chromedp.Run(ctx, chromedp.Value(css(`input[name=name]`)))
		run("fix the resident ID",
			fill(`input[name=resident_id]`, guardianID),
			fill(`input[name=password]`, "guardian-2026"),
			fill(`input[name=password2]`, "guardian-2026"),
			chromedp.Click(css("#register-submit")),
			chromedp.WaitVisible(css("#child-form")),
		)
		loc, _ = chromedp.Run(ctx, chromedp.Location())
		if kept != "王丽华" {
			t.Fatalf("the form lost the name after a refusal: %q", kept)
		}
		if !strings.HasSuffix(strings.SplitN(loc, "?", 2)[0], "/me") {
			t.Fatalf("after registering: %s", loc)
		}
		run("add a child",
			fill(`#child-form input[name=name]`, "王小宝"),
			fill(`#child-form input[name=resident_id]`, childID),
			chromedp.Click(css("#child-submit")),
			chromedp.WaitVisible(css(`.patient[data-relation=child]`)),
		)
		txt = text(ctx, t, "#patients")
		if !strings.Contains(txt, "王丽华") || !strings.Contains(txt, "王小宝") || !strings.Contains(txt, "子女") {
			t.Fatalf("profiles: %q", txt)
		}
		run("log out",
			chromedp.Click(css("#logout")),
			chromedp.WaitVisible(css("#nav-login")),
		)
		run("log in again",
			chromedp.Click(css("#nav-login")),
			chromedp.WaitVisible(css("#login-form")),
			fill(`#login-form input[name=username]`, "wanglihua"),
			fill(`#login-form input[name=password]`, "wrong-password-1"),
			chromedp.Click(css("#login-submit")),
			chromedp.WaitVisible(css("#form-error")),
		)
		txt = text(ctx, t, "#form-error")
		if !strings.Contains(txt, "用户名或密码错误") {
			t.Fatalf("wrong password: %q", txt)
		}
		run("log in with the right password",
			fill(`#login-form input[name=password]`, "guardian-2026"),
			chromedp.Click(css("#login-submit")),
			chromedp.WaitVisible(css(`.patient[data-relation=child]`)),
		)
		txt = text(ctx, t, "#patients")
		if !strings.Contains(txt, "王小宝") {
			t.Fatalf("child gone after login: %q", txt)
		}
		run("browse institutions",
			chromedp.Click(css(`a[href="/institutions"]`)),
			chromedp.WaitVisible(css("#institutions")),
		)
		txt = text(ctx, t, "#institutions")
		for _, want := range []string{"北京儿童医院", "首都儿童医学中心", "宣武医院", "世纪坛医院", "北京清华长庚医院", "北京协和医院", "待批准"} {
			if !strings.Contains(txt, want) {
				t.Fatalf("institutions list lacks %s: %q", want, txt)
			}
		}
		run("open the children's hospital",
			chromedp.Click(css(`tr[data-code=bch] a`)),
			chromedp.WaitVisible(css(`.dept[data-code=dermatology]`)),
		)
		txt = text(ctx, t, "main")
		for _, want := range []string{"内分泌遗传代谢科", "皮肤疾病首诊", "首诊试点", "已批准"} {
			if !strings.Contains(txt, want) {
				t.Fatalf("BCH page lacks %s", want)
			}
		}
		run("a pending institution says it is not open",
			chromedp.Navigate(s.URL+"/institutions/changgung"),
			chromedp.WaitVisible(css("#not-open")),
		)
		run("switch to English",
			chromedp.Navigate(s.URL+"/institutions/bch"),
			chromedp.WaitVisible(css("#lang-switch")),
			chromedp.Click(css("#lang-switch")),
			chromedp.WaitVisible(css(`.dept[data-code=dermatology]`)),
		)
		txt = text(ctx, t, "h1")
		if txt != "Beijing Children's Hospital" {
			t.Fatalf("English title: %q", txt)
		}
	})
}

// steps returns a function that runs browser steps and fails the test with
// the page's text when one fails.
func steps(t *testing.T, ctx context.Context) func(step string, actions ...chromedp.Action[chromedp.Void]) {
	return func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Text(css("body")))
			t.Fatalf("%s: %v\npage: %s", step, err, body)
		}
	}
}

// login logs in through the login page; a staff account answers the
// second step with a code of its second factor (staff_test.go).
func login(base, username, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(css("#login-form")),
		fill(`#login-form input[name=username]`, username),
		fill(`#login-form input[name=password]`, password),
		chromedp.Click(css("#login-submit")),
		loginCode(base, username),
	)
}
