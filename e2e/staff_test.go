package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// The demo's staff log in with a second factor (N-20): the helpers type a
// code of the account's known secret (demo.TOTPSecret), computed on the
// server's clock. The server runs from testclock.Start() at real speed
// from when it read --now, a little after startServer launched it: the
// estimate below is at most that little ahead, so a code of its step or
// the one before is inside the server's window of one step either side.
// A code is good once: a login that needs another waits for the next step.

var (
	serverStarts sync.Map // a server's URL → when startServer launched it
	usedSteps    = struct {
		sync.Mutex
		m map[string]int64
	}{m: map[string]int64{}}
)

// serverNow estimates the clock of the server at base.
func serverNow(base string) time.Time {
	v, ok := serverStarts.Load(base)
	if !ok {
		panic("no server at " + base)
	}
	return testclock.Start().Add(time.Since(v.(time.Time)))
}

// staffCode returns an unused code of a demo staff account's second factor
// that the server at base accepts now.
func staffCode(base, username string) string {
	for {
		est := serverNow(base)
		cur := identity.TOTPStep(est)
		key := base + "\x00" + username
		usedSteps.Lock()
		step := max(cur-1, usedSteps.m[key]+1)
		if step <= cur {
			usedSteps.m[key] = step
			usedSteps.Unlock()
			code, err := identity.TOTPCodeAt(demo.TOTPSecret(username), step)
			if err != nil {
				panic(err)
			}
			return code
		}
		usedSteps.Unlock()
		time.Sleep(time.Unix(step*int64(identity.TOTPPeriod/time.Second), 0).Sub(est) + 100*time.Millisecond)
	}
}

// loginCode answers the login page's second step, when it asks for one,
// with a code of the account's second factor.
func loginCode(base, username string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.WaitNotPresent(css("#login-form"))(ctx, t); err != nil {
			return err
		}
		asked, err := chromedp.Evaluate[bool](`!!document.getElementById('totp-form')`)(ctx, t)
		if err != nil || !asked {
			return err
		}
		_, err = chromedp.Steps(
			fill("#totp", staffCode(base, username)),
			chromedp.Click(css("#totp-submit")),
			chromedp.WaitNotPresent(css("#totp-form")),
		)(ctx, t)
		return err
	})
}

// confirmIdentity is a doctor's identity check before a session of visits
// (N-7): the workstation prompts for a code, then says until when.
func confirmIdentity(base, username string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Steps(chromedp.Navigate(base+"/doctor"), chromedp.WaitVisible(css("#confirm-identity")))(ctx, t); err != nil {
			return err
		}
		// The code is computed when it is typed: it must be good then.
		_, err := chromedp.Steps(
			fill(`#confirm-identity input[name=totp]`, staffCode(base, username)),
			chromedp.Click(css("#confirm-identity-submit")),
			chromedp.WaitVisible(css("#identity-confirmed")),
		)(ctx, t)
		return err
	})
}

var apiTokens sync.Map // URL and username → a kept API session

// apiLogin logs a demo account in through the API: a staff account with
// a code of its second factor, a doctor with its identity confirmed for
// the session (N-7). The session is kept and given again (a code is good
// once, and the server's clock runs in real time).
func apiLogin(t *testing.T, base, username string) string {
	t.Helper()
	key := base + "\x00" + username
	if tok, ok := apiTokens.Load(key); ok {
		return tok.(string)
	}
	var out struct {
		Token   string
		Account struct{ Role string }
		Error   struct{ Code string }
	}
	body := map[string]string{"username": username, "password": "yunyi2026"}
	st := api(t, "POST", base+"/api/v1/auth/login", "", body, &out)
	if st == 401 && out.Error.Code == "totp_required" {
		body["totp"] = staffCode(base, username)
		st = api(t, "POST", base+"/api/v1/auth/login", "", body, &out)
		// The code is made from an estimate of the server's clock; at a
		// step's edge on a busy machine the server may see it otherwise:
		// once more with the next unused step's code.
		if st == 401 && out.Error.Code == "totp_invalid" {
			t.Logf("login %s: the server refused the code of its estimated step; the next one", username)
			body["totp"] = staffCode(base, username)
			st = api(t, "POST", base+"/api/v1/auth/login", "", body, &out)
		}
	}
	if st != 200 {
		t.Fatalf("login %s: %d %s", username, st, out.Error.Code)
	}
	if out.Account.Role == "doctor" {
		var c struct{ Confirmed bool }
		if st := api(t, "POST", base+"/api/v1/me/identity-confirmation", out.Token, map[string]string{"totp": staffCode(base, username)}, &c); st != 200 || !c.Confirmed {
			t.Fatalf("identity confirmation of %s: %d", username, st)
		}
	}
	apiTokens.Store(key, out.Token)
	return out.Token
}

// demoKeysPrinted checks that a demo start printed a staff account's TOTP
// key beside it (a demo user adds it to an authenticator app).
func demoKeysPrinted(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "bch-dermatology-doctor" && f[2] == demo.TOTPSecret("bch-dermatology-doctor") {
			return
		}
	}
	t.Fatalf("the demo accounts are printed without their TOTP keys:\n%s", out)
}
