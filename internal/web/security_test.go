package web

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// codeAt is a TOTP code of secret for the step at t.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := identity.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextStep moves the env's clock to the start of the next TOTP step: a
// code is good once (RFC 6238 §5.2), so a test that types several moves on.
func (e *env) nextStep() {
	now := e.clock.Now()
	next := time.Unix((identity.TOTPStep(now)+1)*int64(identity.TOTPPeriod/time.Second), 0)
	e.clock.Add(next.Sub(now))
}

// newStaff has the security administrator make a staff account (no second
// factor yet) and returns its id.
func (e *env) newStaff(username, role, institution string) float64 {
	e.t.Helper()
	r := e.req("POST", "/api/v1/accounts", e.login("secadmin"), map[string]string{"username": username, "password": "Clinic-2026x",
		"role": role, "institution": institution})
	if r.status != 201 {
		e.t.Fatalf("create %s: %d %s", username, r.status, r.raw)
	}
	return r.body["id"].(float64)
}

func (e *env) loginWith(body map[string]string) resp {
	e.t.Helper()
	return e.req("POST", "/api/v1/auth/login", "", body)
}

// N-20: a staff account enrols a TOTP second factor (the key and its
// otpauth:// URL, confirmed with a code, ten recovery codes shown once);
// from the next login on the password alone is not enough: a code is
// asked for (totp_required), a wrong one refused, a code good once, a
// recovery code once; renewing the factor needs a code of the old one.
func TestTOTPEnrolmentAndLogin(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.newStaff("bch-pharm-new", "pharmacist", "bch")
		creds := map[string]string{"username": "bch-pharm-new", "password": "Clinic-2026x"}
		tok := e.loginWith(creds)
		if tok.status != 200 || tok.body["totp_enrolled"] != false {
			t.Fatalf("before enrolment the password logs in: %d %s", tok.status, tok.raw)
		}
		pw := tok.body["token"].(string)
		if r := e.req("POST", "/api/v1/me/totp/confirm", pw, map[string]string{"totp": "123456"}); r.errCode() != "totp_no_pending" {
			t.Fatalf("confirm before begin: %d %s", r.status, r.raw)
		}
		begin := e.req("POST", "/api/v1/me/totp", pw, nil)
		secret, _ := begin.body["secret"].(string)
		u, _ := begin.body["otpauth_url"].(string)
		if begin.status != 200 || len(secret) != 32 || !strings.HasPrefix(u, "otpauth://totp/Yunyi:bch-pharm-new?") ||
			!strings.Contains(u, "secret="+secret) || !strings.Contains(u, "issuer=Yunyi") || !strings.Contains(u, "digits=6") || !strings.Contains(u, "period=30") {
			t.Fatalf("begin: %d %s", begin.status, begin.raw)
		}
		// Still not enforced: a login before the confirmation needs no code.
		if r := e.loginWith(creds); r.status != 200 {
			t.Fatalf("login while the enrolment waits: %d %s", r.status, r.raw)
		}
		now := e.clock.Now()
		wrong := codeAt(t, secret, now.Add(-5*time.Minute))
		if r := e.req("POST", "/api/v1/me/totp/confirm", pw, map[string]string{"totp": wrong}); r.status != 400 || r.fieldCodes()["totp"] != "totp_invalid" {
			t.Fatalf("a wrong code confirms: %d %s", r.status, r.raw)
		}
		conf := e.req("POST", "/api/v1/me/totp/confirm", pw, map[string]string{"totp": codeAt(t, secret, now)})
		codes, _ := conf.body["recovery_codes"].([]any)
		if conf.status != 200 || len(codes) != identity.RecoveryCodeCount {
			t.Fatalf("confirm: %d %s", conf.status, conf.raw)
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if !regexp.MustCompile(`^[a-z2-9]{5}-[a-z2-9]{5}$`).MatchString(c.(string)) || seen[c.(string)] {
				t.Fatalf("recovery codes: %v", codes)
			}
			seen[c.(string)] = true
		}
		if st := e.req("GET", "/api/v1/me/totp", pw, nil); st.body["enrolled"] != true || st.body["recovery_codes_left"] != 10.0 {
			t.Fatalf("status: %s", st.raw)
		}
		// Only the hashes are kept; the secret is sealed (the master key).
		var sealed []byte
		if err := e.db.Writer().QueryRow(`SELECT secret FROM totp_factors f JOIN accounts a ON a.id = f.account_id WHERE a.username = 'bch-pharm-new'`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if sealed[0] != 1 || strings.Contains(string(sealed), secret) {
			t.Fatalf("the secret is not sealed: %x", sealed)
		}
		if n := e.count("recovery_codes"); n < 10 {
			t.Fatalf("%d recovery codes stored", n)
		}
		var plain int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM recovery_codes WHERE code_hash = $1`, []byte(codes[0].(string))).Scan(&plain)
		if plain != 0 {
			t.Fatal("a recovery code is stored as is")
		}

		// Enforced from the next login.
		if r := e.loginWith(creds); r.status != 401 || r.errCode() != "totp_required" || !strings.Contains(r.errMessage(), "验证码") {
			t.Fatalf("the password alone after enrolment: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/auth/login", "", creds, "Accept-Language", "en"); !strings.Contains(r.errMessage(), "authenticator") {
			t.Fatalf("English: %s", r.raw)
		}
		// The code of the confirmation's step was used: the next step's.
		with := func(code string) map[string]string {
			return map[string]string{"username": creds["username"], "password": creds["password"], "totp": code}
		}
		if r := e.loginWith(with(codeAt(t, secret, e.clock.Now()))); r.status != 401 || r.errCode() != "totp_reused" {
			t.Fatalf("the confirmation's code again: %d %s", r.status, r.raw)
		}
		e.nextStep()
		if r := e.loginWith(map[string]string{"username": creds["username"], "password": "wrong-pass-1", "totp": codeAt(t, secret, e.clock.Now())}); r.errCode() != "bad_credentials" {
			t.Fatalf("a wrong password with a right code: %s", r.raw)
		}
		if r := e.loginWith(with(wrong)); r.status != 401 || r.errCode() != "totp_invalid" {
			t.Fatalf("a wrong code: %d %s", r.status, r.raw)
		}
		good := codeAt(t, secret, e.clock.Now())
		if r := e.loginWith(with(good)); r.status != 200 || r.body["totp_enrolled"] != true {
			t.Fatalf("the right code: %d %s", r.status, r.raw)
		}
		if r := e.loginWith(with(good)); r.errCode() != "totp_reused" {
			t.Fatalf("a code twice: %d %s", r.status, r.raw)
		}
		// A phone's clock a step off is fine; two steps is not.
		e.nextStep()
		if r := e.loginWith(with(codeAt(t, secret, e.clock.Now().Add(-identity.TOTPPeriod)))); r.errCode() != "totp_reused" {
			t.Fatalf("the previous step, used: %s", r.raw)
		}
		if r := e.loginWith(with(codeAt(t, secret, e.clock.Now().Add(3*identity.TOTPPeriod)))); r.errCode() != "totp_invalid" {
			t.Fatalf("three steps ahead: %s", r.raw)
		}
		if r := e.loginWith(with(codeAt(t, secret, e.clock.Now().Add(identity.TOTPPeriod)))); r.status != 200 {
			t.Fatalf("one step ahead: %d %s", r.status, r.raw)
		}

		// A recovery code logs in once, typed as it was shown or not.
		rc := codes[3].(string)
		r := e.loginWith(map[string]string{"username": creds["username"], "password": creds["password"], "recovery_code": strings.ToUpper(strings.ReplaceAll(rc, "-", " "))})
		if r.status != 200 || r.body["recovery_codes_left"] != 9.0 {
			t.Fatalf("a recovery code: %d %s", r.status, r.raw)
		}
		if r := e.loginWith(map[string]string{"username": creds["username"], "password": creds["password"], "recovery_code": rc}); r.errCode() != "totp_invalid" {
			t.Fatalf("a recovery code twice: %d %s", r.status, r.raw)
		}
		if e.auditCount("auth.login", "bch-pharm-new") < 8 {
			t.Fatal("logins are not audited")
		}

		// Renewing (a new phone) needs a code of the factor in force.
		renew := e.req("POST", "/api/v1/me/totp", pw, nil)
		secret2 := renew.body["secret"].(string)
		if renew.body["renewal"] != true || secret2 == secret {
			t.Fatalf("renewal: %s", renew.raw)
		}
		e.nextStep()
		if r := e.req("POST", "/api/v1/me/totp/confirm", pw, map[string]string{"totp": codeAt(t, secret2, e.clock.Now())}); r.status != 400 || r.fieldCodes()["current"] != "required" {
			t.Fatalf("renewal without the old code: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/me/totp/confirm", pw, map[string]string{"totp": codeAt(t, secret2, e.clock.Now()), "current": codes[5].(string)}); r.status != 200 {
			t.Fatalf("renewal with a recovery code: %d %s", r.status, r.raw)
		}
		e.nextStep()
		if r := e.loginWith(with(codeAt(t, secret, e.clock.Now()))); r.errCode() != "totp_invalid" {
			t.Fatalf("the old phone's code after the renewal: %s", r.raw)
		}
		if r := e.loginWith(with(codeAt(t, secret2, e.clock.Now()))); r.status != 200 {
			t.Fatalf("the new phone's code: %d %s", r.status, r.raw)
		}
		// Patients have no second factor.
		if r := e.req("POST", "/api/v1/me/totp", e.login("liming"), nil); r.status != 403 {
			t.Fatalf("a patient enrols: %d", r.status)
		}
	})
}

// Wrong codes are slowed down (N-20): after four the account's codes wait
// a minute, then longer; the wait holds even for the right code (429 with
// Retry-After) and a right code after it clears the count. The login
// form's second step takes five attempts, then asks for the password again.
func TestWrongCodesThrottled(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		const user = "bch-pharmacist"
		secret := demo.TOTPSecret(user)
		with := func(code string) map[string]string {
			return map[string]string{"username": user, "password": demo.Password, "totp": code}
		}
		bad := codeAt(t, secret, e.clock.Now().Add(-time.Hour))
		for i := 1; i <= 5; i++ {
			if r := e.loginWith(with(bad)); r.status != 401 || r.errCode() != "totp_invalid" {
				t.Fatalf("wrong code %d: %d %s", i, r.status, r.raw)
			}
		}
		r := e.loginWith(with(codeAt(t, secret, e.clock.Now())))
		secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != 429 || r.errCode() != "rate_limited" || secs < 50 || secs > 60 {
			t.Fatalf("the right code while the account waits: %d %s (Retry-After %q)", r.status, r.raw, r.header.Get("Retry-After"))
		}
		e.clock.Add(61 * time.Second)
		if r := e.loginWith(with(bad)); r.errCode() != "totp_invalid" {
			t.Fatalf("after the wait: %s", r.raw)
		}
		if r := e.loginWith(with(codeAt(t, secret, e.clock.Now()))); r.status != 429 {
			t.Fatalf("a sixth wrong code waits two minutes: %d %s", r.status, r.raw)
		}
		e.clock.Add(2*time.Minute + time.Second)
		if r := e.loginWith(with(codeAt(t, secret, e.clock.Now()))); r.status != 200 {
			t.Fatalf("the right code after the wait: %d %s", r.status, r.raw)
		}
		e.nextStep()
		if r := e.loginWith(with(bad)); r.errCode() != "totp_invalid" {
			t.Fatalf("the count starts again: %s", r.raw)
		}

		// The login form: a challenge takes five codes.
		b := newBrowser(t, e)
		b.get("/login")
		res := b.post("/login", map[string]string{"username": user, "password": demo.Password, "csrf": b.csrf(), "next": "/pharmacist"})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login/totp?next=%2Fpharmacist" || b.cookie(sessionCookie) != "" {
			t.Fatalf("password step: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		for i := 1; i <= 4; i++ {
			if res := b.post("/login/totp", map[string]string{"totp": "000000", "csrf": b.csrf(), "next": "/pharmacist"}); res.StatusCode != 401 || !strings.Contains(b.last, "验证码不正确") {
				t.Fatalf("wrong code %d on the form: %d", i, res.StatusCode)
			}
		}
		e.clock.Add(5 * time.Minute) // the account's wait after eight wrong codes, not the challenge's life
		if res := b.post("/login/totp", map[string]string{"totp": "000000", "csrf": b.csrf()}); res.StatusCode != 401 || !strings.Contains(b.last, "重新登录") ||
			!strings.Contains(b.last, `id="login-form"`) {
			t.Fatalf("a challenge after its time: %d %s", res.StatusCode, b.last)
		}
	})
}

// The login form asks for the code on a second page (CSRF as the first),
// then opens the session and goes where the login was asked from; a staff
// account without a second factor logs in with its password and finds
// the set-up on its account security page (QR code, key), which ends
// with ten recovery codes shown once.
func TestLoginFormSecondStepAndEnrolmentPage(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		const user = "ccmc-admin"
		b := newBrowser(t, e)
		b.get("/login")
		res := b.post("/login", map[string]string{"username": user, "password": demo.Password, "csrf": b.csrf(), "next": "/admin/institutions/ccmc"})
		loc := res.Header.Get("Location")
		if !strings.HasPrefix(loc, "/login/totp") || !strings.Contains(res.Header.Get("Set-Cookie"), challengeCookie+"=") || b.cookie(sessionCookie) != "" {
			t.Fatalf("no second step: %d %s", res.StatusCode, loc)
		}
		if res := b.get(loc); res.StatusCode != 200 || !strings.Contains(b.last, `id="totp-form"`) || !strings.Contains(b.last, `autocomplete="one-time-code"`) {
			t.Fatalf("second step page: %d", res.StatusCode)
		}
		if res := b.post("/login/totp", map[string]string{"totp": e.totp(user)}); res.StatusCode != 403 {
			t.Fatalf("second step without CSRF: %d", res.StatusCode)
		}
		res = b.post("/login/totp", map[string]string{"totp": e.totp(user), "csrf": b.csrf(), "next": "/admin/institutions/ccmc"})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/institutions/ccmc" || b.cookie(sessionCookie) == "" {
			t.Fatalf("second step: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		if res := b.get("/admin/institutions/ccmc"); res.StatusCode != 200 {
			t.Fatalf("after login: %d", res.StatusCode)
		}
		if res := b.get("/login/totp"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
			t.Fatal("the challenge outlived the login")
		}

		// A staff account made today sets its factor up on the page.
		e.newStaff("ccmc-quality-new", "quality", "ccmc")
		b = newBrowser(t, e)
		b.loginAs("ccmc-quality-new", "Clinic-2026x")
		b.get("/me/security")
		if !strings.Contains(b.last, `id="totp-off"`) || !strings.Contains(b.last, `id="totp-new"`) {
			t.Fatalf("security page before: %s", b.last)
		}
		csrf := csrfField.FindStringSubmatch(b.last)[1]
		if res := b.post("/me/security/totp/new", map[string]string{"csrf": csrf}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("begin: %d %s", res.StatusCode, b.last)
		}
		b.get("/me/security")
		m := regexp.MustCompile(`data-secret="([A-Z2-7]{32})"`).FindStringSubmatch(b.last)
		if m == nil || !strings.Contains(b.last, `src="data:image/png;base64,`) {
			t.Fatalf("no QR code and key: %s", b.last)
		}
		b.get("/me/security") // a reload shows the same key
		if !strings.Contains(b.last, m[1]) {
			t.Fatal("the key changed on reload")
		}
		res = b.post("/me/security/totp", map[string]string{"csrf": csrf, "totp": codeAt(t, m[1], e.clock.Now())})
		if res.StatusCode != 200 || strings.Count(b.last, `class="recovery-code"`) != 10 || !strings.Contains(b.last, `id="totp-on"`) {
			t.Fatalf("enrol: %d %s", res.StatusCode, b.last)
		}
		if b.get("/me/security"); strings.Contains(b.last, `class="recovery-code"`) {
			t.Fatal("the recovery codes are shown again")
		}
		for _, lang := range []string{"zh", "en"} {
			b.get("/me/security?lang=" + lang)
			noRawKeys(t, "/me/security", b.last)
		}
		// The next login asks for the code.
		b = newBrowser(t, e)
		b.get("/login")
		if res := b.post("/login", map[string]string{"username": "ccmc-quality-new", "password": "Clinic-2026x", "csrf": b.csrf()}); !strings.HasPrefix(res.Header.Get("Location"), "/login/totp") {
			t.Fatalf("after enrolment the form asks for no code: %s", res.Header.Get("Location"))
		}
	})
}

// N-7: a doctor confirms their identity with the second factor before a
// session of visits: calling a patient in without it is refused
// (identity_confirmation_required) and the workstation prompts for the
// code; the confirmation holds four hours (data: an institution may set
// its own), then the next call-in is refused again. It belongs to the
// session: another login of the same doctor is not confirmed.
func TestDoctorConfirmsIdentityBeforeVisits(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		const user = "bch-dermatology-doctor"
		lm := e.login("liming")
		doc := e.loginWith(e.withTOTP(map[string]string{"username": user, "password": demo.Password})).body["token"].(string)
		waiting := func(child string) string {
			slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
			id := e.bookVisit(lm, e.patientIDs(lm)[child], slot, fmt.Sprintf("n7-%s-%d", child, e.clock.Now().UnixNano()))
			vpath := fmt.Sprintf("/api/v1/visits/%.0f", id)
			e.upload(lm, vpath+"/attachments", "p.png", pngBytes(t))
			if r := e.req("PUT", vpath+"/pre-consult", lm, map[string]any{"answers": map[string]any{"site": []string{"face"}, "duration_days": 3}}); r.status != 200 {
				t.Fatalf("pre-consult %d %s", r.status, r.raw)
			}
			if r := e.req("POST", vpath+"/wait", lm, nil); r.status != 200 {
				t.Fatalf("wait %d %s", r.status, r.raw)
			}
			return vpath
		}
		v1 := waiting("李小雨")
		r := e.req("POST", v1+"/start", doc, nil)
		if r.status != 403 || r.errCode() != "identity_confirmation_required" || !strings.Contains(r.errMessage(), "N-7") {
			t.Fatalf("a call-in without confirmation: %d %s", r.status, r.raw)
		}
		if v := e.req("GET", v1, doc, nil); v.body["state"] != "waiting" {
			t.Fatalf("a refused call-in changed the state: %v", v.body["state"])
		}
		if c := e.req("GET", "/api/v1/me/identity-confirmation", doc, nil); c.body["confirmed"] != false || c.body["totp_enrolled"] != true {
			t.Fatalf("before: %s", c.raw)
		}
		// A recovery code or a wrong code does not confirm.
		if r := e.req("POST", "/api/v1/me/identity-confirmation", doc, map[string]string{"totp": "abcde-fghij"}); r.status != 400 {
			t.Fatalf("a recovery code: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/me/identity-confirmation", doc, map[string]string{"totp": codeAt(t, demo.TOTPSecret(user), e.clock.Now().Add(-time.Hour))}); r.errCode() != "totp_invalid" {
			t.Fatalf("a wrong code: %d %s", r.status, r.raw)
		}
		c := e.req("POST", "/api/v1/me/identity-confirmation", doc, map[string]string{"totp": e.totp(user)})
		until, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(c.body["confirmed_until"]))
		if c.status != 200 || c.body["confirmed"] != true || !until.Equal(e.clock.Now().Add(4*time.Hour)) {
			t.Fatalf("confirm: %d %s", c.status, c.raw)
		}
		if r := e.req("POST", v1+"/start", doc, nil); r.status != 200 {
			t.Fatalf("a call-in after confirmation: %d %s", r.status, r.raw)
		}
		if e.auditCount("account.identity.confirm", user) < 3 {
			t.Fatal("identity checks are not audited")
		}
		// Another session of the same doctor is not confirmed.
		other := e.loginWith(e.withTOTP(map[string]string{"username": user, "password": demo.Password})).body["token"].(string)
		v2 := waiting("李小天")
		if r := e.req("POST", v2+"/start", other, nil); r.errCode() != "identity_confirmation_required" {
			t.Fatalf("another session: %d %s", r.status, r.raw)
		}
		// Four hours later (the session kept alive) the confirmation lapsed.
		for i := 0; i < 9; i++ {
			e.clock.Add(29 * time.Minute)
			if r := e.req("GET", "/api/v1/me", doc, nil); r.status != 200 {
				t.Fatalf("the doctor's session: %d", r.status)
			}
		}
		if c := e.req("GET", "/api/v1/me/identity-confirmation", doc, nil); c.body["confirmed"] != false {
			t.Fatalf("after 4h21m: %s", c.raw)
		}
		if r := e.req("POST", v2+"/start", doc, nil); r.errCode() != "identity_confirmation_required" {
			t.Fatalf("a call-in after the confirmation lapsed: %d %s", r.status, r.raw)
		}
		// The institution's own time (data): one hour at 北京儿童医院.
		if r := e.req("PUT", "/api/v1/institutions/bch/security-settings", e.login("secadmin"),
			map[string]int{"staff_idle_minutes": 0, "identity_confirmation_minutes": 60}); r.status != 200 {
			t.Fatalf("setting: %d %s", r.status, r.raw)
		}
		c = e.req("POST", "/api/v1/me/identity-confirmation", doc, map[string]string{"totp": e.totp(user)})
		until, _ = time.Parse(time.RFC3339Nano, fmt.Sprint(c.body["confirmed_until"]))
		if !until.Equal(e.clock.Now().Add(time.Hour)) {
			t.Fatalf("bch's hour: %s", c.raw)
		}
		if r := e.req("POST", v2+"/start", doc, nil); r.status != 200 {
			t.Fatalf("a call-in after confirming again: %d %s", r.status, r.raw)
		}

		// The workstation: a prompt with the code's form, then the note.
		b := newBrowser(t, e)
		b.login(user)
		b.get("/doctor")
		if !strings.Contains(b.last, `id="confirm-identity"`) || !strings.Contains(b.last, `name="next" value="/doctor"`) {
			t.Fatalf("no prompt on the workstation: %s", b.last)
		}
		csrf := csrfField.FindStringSubmatch(b.last)[1]
		res := b.post("/me/confirm-identity", map[string]string{"csrf": csrf, "totp": e.totp(user), "next": "/doctor"})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/doctor?ok=identity_confirmed" {
			t.Fatalf("confirm on the page: %d %s %s", res.StatusCode, res.Header.Get("Location"), b.last)
		}
		b.get("/doctor?ok=identity_confirmed")
		if !strings.Contains(b.last, `id="identity-confirmed"`) || strings.Contains(b.last, `id="confirm-identity"`) {
			t.Fatalf("the workstation after the check: %s", b.last)
		}
	})
}

// The password policy (N-20): at least 8 characters with letters and
// digits, not the username, not one of the 10,000 common passwords; on
// accounts made by the security administrator and on a change of
// password, which asks for the current one and ends the other sessions.
// The demo password stays good.
func TestPasswordPolicy(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		sec := e.login("secadmin")
		for _, c := range []struct{ username, password, code string }{
			{"pol-short", "ab12", "password_length"},
			{"pol-letters", "abcdefghij", "password_weak"},
			{"pol-same1", "pol-same1", "password_weak"},
			{"pol-common", "password1", "password_common"},
			{"pol-common2", "Qwerty123", "password_common"},
			{"pol-common3", "1qaz2wsx", "password_common"},
		} {
			r := e.req("POST", "/api/v1/accounts", sec, map[string]string{"username": c.username, "password": c.password, "role": "doctor", "institution": "bch"})
			if r.status != 400 || r.fieldCodes()["password"] != c.code {
				t.Errorf("%s / %s: %d %s", c.username, c.password, r.status, r.raw)
			}
		}
		if r := e.req("POST", "/api/v1/accounts", sec, map[string]string{"username": "pol-demo", "password": demo.Password, "role": "doctor", "institution": "bch"}); r.status != 201 {
			t.Fatalf("the demo password: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/accounts", sec, map[string]string{"username": "pol-en", "password": "letmein1", "role": "doctor", "institution": "bch"},
			"Accept-Language", "en"); !strings.Contains(string(r.raw), "too common") {
			t.Fatalf("English: %s", r.raw)
		}

		// A change of password.
		tok := e.login("zhangwei")
		other := e.login2("zhangwei", demo.Password)
		for _, c := range []struct {
			in          passwordIn
			field, code string
		}{
			{passwordIn{"wrong-pass-9", "Fresh-pass-42"}, "current_password", "wrong_password"},
			{passwordIn{demo.Password, "iloveyou1"}, "new_password", "password_common"},
			{passwordIn{demo.Password, "zhangwei"}, "new_password", "password_weak"},
			{passwordIn{demo.Password, demo.Password}, "new_password", "password_unchanged"},
		} {
			if r := e.req("POST", "/api/v1/me/password", tok, c.in); r.status != 400 || r.fieldCodes()[c.field] != c.code {
				t.Errorf("%v: %d %s", c.in, r.status, r.raw)
			}
		}
		if r := e.req("POST", "/api/v1/me/password", tok, passwordIn{demo.Password, "Fresh-pass-42"}); r.status != 200 {
			t.Fatalf("change: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/me", tok, nil); r.status != 200 {
			t.Fatalf("the session that changed it: %d", r.status)
		}
		if r := e.req("GET", "/api/v1/me", other, nil); r.status != 401 {
			t.Fatalf("another session after the change: %d", r.status)
		}
		if r := e.loginWith(map[string]string{"username": "zhangwei", "password": demo.Password}); r.errCode() != "bad_credentials" {
			t.Fatalf("the old password: %s", r.raw)
		}
		if r := e.loginWith(map[string]string{"username": "zhangwei", "password": "Fresh-pass-42"}); r.status != 200 {
			t.Fatalf("the new password: %d %s", r.status, r.raw)
		}
		// The page's form.
		b := newBrowser(t, e)
		b.loginAs("zhangwei", "Fresh-pass-42")
		b.get("/me/security")
		csrf := csrfField.FindStringSubmatch(b.last)[1]
		res := b.post("/me/security/password", map[string]string{"csrf": csrf, "current_password": "Fresh-pass-42", "new_password": "password123", "new_password2": "password123"})
		if res.StatusCode != 400 || !strings.Contains(b.last, "过于常见") {
			t.Fatalf("a common password on the page: %d", res.StatusCode)
		}
		res = b.post("/me/security/password", map[string]string{"csrf": csrf, "current_password": "Fresh-pass-42", "new_password": "Another-pass-7", "new_password2": "Another-pass-7"})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/me/security?ok=password_changed" {
			t.Fatalf("change on the page: %d %s", res.StatusCode, b.last)
		}
	})
}

// The security administrator removes a staff account's second factor (a
// lost phone and no recovery codes): its sessions end, it logs in with the
// password and sets a new one up. Nobody else may.
func TestSecurityAdminResetsSecondFactor(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		const user = "xuanwu-pharmacist"
		tok := e.login(user)
		id := e.req("GET", "/api/v1/me", tok, nil).body["id"].(float64)
		path := fmt.Sprintf("/api/v1/accounts/%.0f/totp", id)
		if r := e.req("DELETE", path, e.login("admin"), nil); r.status != 403 {
			t.Fatalf("the system administrator resets: %d", r.status)
		}
		if r := e.req("DELETE", path, e.login("secadmin"), nil); r.status != 200 {
			t.Fatalf("reset: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/me", tok, nil); r.status != 401 {
			t.Fatalf("a session after the reset: %d", r.status)
		}
		if r := e.loginWith(map[string]string{"username": user, "password": demo.Password}); r.status != 200 || r.body["totp_enrolled"] != false {
			t.Fatalf("login after the reset: %d %s", r.status, r.raw)
		}
		if e.auditCount("account.totp.reset", user) != 1 {
			t.Fatal("the reset is not audited")
		}
	})
}
