package web

import (
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// Every text key a template uses exists in the catalog in both languages.
func TestTemplatesUseKnownTexts(t *testing.T) {
	keyRe := regexp.MustCompile(`\.T "([^"]+)"`)
	files, _ := fs.Glob(assets, "templates/*.html")
	for _, f := range files {
		b, _ := assets.ReadFile(f)
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			if !i18n.Has(m[1]) {
				t.Errorf("%s uses unknown text %q", f, m[1])
			}
		}
	}
}

func (b *browser) login(user string) { b.t.Helper(); b.loginAs(user, "yunyi2026") }

// loginAs logs in through the login form; a demo staff account answers
// the second step with a code of its second factor (N-20).
func (b *browser) loginAs(user, password string) {
	b.t.Helper()
	b.get("/login")
	res := b.post("/login", map[string]string{"username": user, "password": password, "csrf": b.csrf()})
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login %s: %d %s", user, res.StatusCode, b.last)
	}
	if loc := res.Header.Get("Location"); strings.HasPrefix(loc, "/login/totp") {
		b.get(loc)
		res = b.post("/login/totp", map[string]string{"totp": b.e.totp(user), "csrf": b.csrf(), "next": strings.TrimPrefix(loc, "/login/totp?next=")})
		if res.StatusCode != http.StatusSeeOther {
			b.t.Fatalf("login %s, second step: %d %s", user, res.StatusCode, b.last)
		}
	}
}

// noRawKeys fails when a page shows a catalog key instead of its text.
func noRawKeys(t *testing.T, page, body string) {
	t.Helper()
	for _, k := range regexp.MustCompile(`>\s*((?:field|title|status|role|kind|nav|f|inst|admin|pr|reg|me|flash)\.[a-z_.0-9]+)\s*<`).FindAllStringSubmatch(body, -1) {
		t.Errorf("%s shows the raw key %s", page, k[1])
	}
}

func TestPagesForEveryRole(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		pages := map[string][]string{
			"":       {"/", "/institutions", "/institutions/bch", "/institutions/changgung", "/login", "/register"},
			"liming": {"/me", "/institutions/ccmc", "/appointments", "/inbox", "/book/services/bch-allergy-fu", "/book/services/ccmc-growth-fv"},
			"bch-admin": {"/admin/institutions/bch", "/institutions/bch", "/admin/institutions/bch/rules", "/admin/institutions/bch/schedules",
				"/admin/institutions/bch/history", "/admin/institutions/bch/usage"},
			"regulator": {"/regulator", "/institutions/xuanwu", "/monitor", "/monitor?month=2020-06&relevant=true", "/monitor/reports/1"},
			// 三员分立: each operator has the page of its duty, none the regulator's or a hospital's.
			"admin":    {"/ops", "/me"},
			"secadmin": {"/ops", "/me"},
			"auditor":  {"/ops", "/me"},
		}
		for user, paths := range pages {
			b := newBrowser(t, e)
			if user != "" {
				b.login(user)
			}
			for _, p := range paths {
				for _, lang := range []string{"zh", "en"} {
					res := b.get(p + "?lang=" + lang)
					if res.StatusCode != 200 {
						t.Fatalf("%s as %q: %d", p, user, res.StatusCode)
					}
					noRawKeys(t, p, b.last)
				}
			}
		}
		// Pages a role may not see.
		b := newBrowser(t, e)
		b.login("liming")
		for _, p := range []string{"/regulator", "/admin/institutions/bch"} {
			if res := b.get(p); res.StatusCode != 403 {
				t.Errorf("patient opened %s: %d", p, res.StatusCode)
			}
		}
		b = newBrowser(t, e)
		b.login("bch-admin")
		if res := b.get("/admin/institutions/ccmc"); res.StatusCode != 403 {
			t.Errorf("bch admin opened ccmc admin: %d", res.StatusCode)
		}
		// Anonymous: login first.
		b = newBrowser(t, e)
		if res := b.get("/me"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
			t.Errorf("anonymous /me: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

func TestRegisterFormKeepsInputAndShowsEveryError(t *testing.T) {
	db := sqltest.Open(t, sqlstore.SQLite)
	e := newEnv(t, db, relaxed)
	b := newBrowser(t, e)
	b.get("/register")
	res := b.post("/register", map[string]string{"csrf": b.csrf(), "name": "张三", "resident_id": "123", "phone": "999",
		"username": "zhang3", "password": "secret-123", "password2": "secret-124"})
	if res.StatusCode != 400 {
		t.Fatalf("%d", res.StatusCode)
	}
	for _, want := range []string{"居民身份证号须为 18 位", "请输入 11 位中国大陆手机号码", "两次输入的密码不一致", `value="张三"`, `value="zhang3"`} {
		if !strings.Contains(b.last, want) {
			t.Errorf("register page lacks %q", want)
		}
	}
	if strings.Contains(b.last, "secret-123") {
		t.Error("the page echoes the password")
	}
	// Without the CSRF token nothing happens.
	before := e.count("accounts")
	res = b.post("/register", map[string]string{"name": "张三", "resident_id": newRID(30), "phone": "13900001111", "username": "zhang3", "password": "secret-123", "password2": "secret-123"})
	if res.StatusCode != 403 || e.count("accounts") != before {
		t.Fatalf("no csrf: %d, accounts %d", res.StatusCode, e.count("accounts"))
	}
}

func TestAdminAndRegulatorForms(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("ccmc-admin")
		csrf := b.sessionCSRF()
		res := b.post("/admin/institutions/ccmc/departments", map[string]string{"csrf": csrf, "code": "ent", "name": "耳鼻咽喉科", "online": "1"})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("department: %d %s", res.StatusCode, b.last)
		}
		res = b.post("/admin/institutions/ccmc/services", map[string]string{"csrf": csrf, "department": "ent", "code": "ccmc-ent-fu", "name": "耳鼻咽喉科复诊",
			"kind": "follow_up", "price": "30", "days": "2,4,6", "active": "1"})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("service: %d %s", res.StatusCode, b.last)
		}
		res = b.post("/admin/institutions/ccmc/services", map[string]string{"csrf": csrf, "department": "ent", "code": "Bad Code", "name": "x",
			"kind": "follow_up", "price": "abc", "days": "8"})
		if res.StatusCode != 400 || !strings.Contains(b.last, "须为数字") || !strings.Contains(b.last, "开放日为 1 到 7") || !strings.Contains(b.last, "编码须为") {
			t.Fatalf("bad service: %d", res.StatusCode)
		}
		b.get("/admin/institutions/ccmc")
		if !strings.Contains(b.last, "ccmc-ent-fu") || !strings.Contains(b.last, "周二、周四、周六") {
			t.Fatal("new service not shown")
		}
		res = b.post("/admin/institutions/ccmc/practitioners", map[string]string{"csrf": csrf, "name": "赵医生", "profession": "doctor", "title": "attending",
			"department": "ent", "licence_no": "CCMC-ENT-1", "practice_since": "2018-01-01", "internet_since": "2023-01-01", "training_passed_on": "2025-10-01"})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("practitioner: %d %s", res.StatusCode, b.last)
		}
		var id string
		for _, it := range e.req("GET", "/api/v1/institutions/ccmc/practitioners", "", nil).items() {
			m := it.(map[string]any)
			if m["name"] == "赵医生" {
				id = strings.TrimSuffix(strings.TrimSuffix(jsonNum(m["id"]), ".0"), "")
				if m["first_visit"] != true {
					t.Fatalf("D-1 met: %v", m)
				}
			}
		}
		res = b.post("/admin/practitioners/"+id+"/suspend", map[string]string{"csrf": csrf, "scope": "all", "reason": "患者投诉，调查期间暂停"})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("suspend: %d %s", res.StatusCode, b.last)
		}
		b.get("/admin/practitioners/" + id)
		if !strings.Contains(b.last, "已被暂停全部互联网诊疗") {
			t.Fatal("suspension reason not shown")
		}
		// The regulator approves Changgung (S-1, G-1).
		r := newBrowser(t, e)
		r.login("regulator")
		rc := r.sessionCSRF()
		res = r.post("/regulator/changgung/qualification", map[string]string{"csrf": rc, "status": "suspended"})
		if res.StatusCode != 400 || !strings.Contains(r.last, "此项为必填项") {
			t.Fatalf("suspend without note: %d", res.StatusCode)
		}
		// Approval goes through Changgung's application (the demo's waits).
		app := waitingApplication(e, "changgung")
		r.get("/applications/" + app)
		if !strings.Contains(r.last, `id="decision-form"`) {
			t.Fatalf("no decision form: %s", r.last)
		}
		res = r.post("/applications/"+app+"/decision", map[string]string{"csrf": rc, "approve": "1", "reasons": "查核合格"})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve: %d %s", res.StatusCode, r.last)
		}
		if st := e.req("GET", "/api/v1/institutions/changgung", "", nil).body["status"]; st != "approved" {
			t.Fatalf("status %v", st)
		}
		// An institution admin cannot post the regulator's form.
		if res := b.post("/regulator/ccmc/qualification", map[string]string{"csrf": csrf, "status": "approved"}); res.StatusCode != 403 {
			t.Fatalf("admin used the regulator form: %d", res.StatusCode)
		}
	})
}

func jsonNum(v any) string {
	f, _ := v.(float64)
	return strings.TrimSuffix(strings.TrimRight(strings.TrimRight(fmtFloat(f), "0"), "."), ".")
}

// The editor changes the taxonomy and lexicon on the page; bad lines are
// refused with their number and nothing is saved.
func TestTaxonomyForm(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("regulator")
		csrf := b.sessionCSRF()
		res := b.post("/monitor/taxonomy", map[string]string{"csrf": csrf, "taxonomy": "互联网医疗,互联网医院,3\n坏行\n", "threshold": "4",
			"positive": "便捷", "negative": "泄露", "margin": "1"})
		if res.StatusCode != 400 || !strings.Contains(b.last, "第 2 行格式应为") {
			t.Fatalf("bad line: %d", res.StatusCode)
		}
		res = b.post("/monitor/taxonomy", map[string]string{"csrf": csrf, "taxonomy": "互联网医疗,互联网医院,3\n数据,电子病历,2\n", "threshold": "4",
			"positive": "便捷、高效", "negative": "泄露、故障", "margin": "1"})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("save: %d %s", res.StatusCode, b.last)
		}
		tax := e.req("GET", "/api/v1/monitor/taxonomy", e.login("regulator"), nil)
		if tax.body["threshold"] != float64(4) || len(tax.body["terms"].([]any)) != 2 {
			t.Fatalf("%s", tax.raw)
		}
	})
}

// The second guardian through the pages: the code is shown once on the
// first guardian's page and typed on the other's.
func TestSecondGuardianPages(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("liming")
		csrf := b.sessionCSRF()
		id := e.patientIDs(e.login("liming"))["李小天"]
		res := b.post(fmt.Sprintf("/me/children/%d/invite", id), map[string]string{"csrf": csrf})
		if res.StatusCode != 200 || !strings.Contains(b.last, "请把 李小天 的邀请码告诉另一位监护人") {
			t.Fatalf("invite page %d", res.StatusCode)
		}
		at := strings.Index(b.last, `<strong class="code">`)
		code := b.last[at+len(`<strong class="code">`):][:10]
		e.register("zhaomin", 35)
		m := newBrowser(t, e)
		m.loginAs("zhaomin", "secret-123")
		mc := m.sessionCSRF()
		if res := m.post("/me/link", map[string]string{"csrf": mc, "code": "AAAAAAAAAA"}); res.StatusCode != 400 || !strings.Contains(m.last, "邀请码无效") {
			t.Fatalf("a wrong code: %d", res.StatusCode)
		}
		if res := m.post("/me/link", map[string]string{"csrf": mc, "code": code}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("link: %d %s", res.StatusCode, m.last)
		}
		m.get("/me")
		if !strings.Contains(m.last, "李小天") {
			t.Fatal("the child is not on the second guardian's page")
		}
	})
}

// Where the server's clock meets a client's (issue 10): the session cookie
// carries Max-Age, the session's remaining seconds, and no Expires, so a
// client whose clock is years off (here the cookie jar on the real clock,
// the server a year and more ahead or behind) keeps it; the server alone
// ends the session.
func TestSessionCookieMaxAgeServerDecidesExpiry(t *testing.T) {
	for _, offset := range []time.Duration{0, 400 * 24 * time.Hour, -400 * 24 * time.Hour} {
		t.Run(fmt.Sprint(offset), func(t *testing.T) {
			db := sqltest.Open(t, sqlstore.SQLite)
			e := newEnv(t, db, relaxed)
			e.clock.Set(time.Now().Add(offset))
			b := newBrowser(t, e)
			b.get("/login")
			res := b.post("/login", map[string]string{"username": "liming", "password": "yunyi2026", "csrf": b.csrf()})
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: %d", res.StatusCode)
			}
			var set *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == sessionCookie {
					set = c
				}
			}
			if set == nil || !set.Expires.IsZero() || strings.Contains(res.Header.Get("Set-Cookie"), "Expires=") {
				t.Fatalf("session cookie with an absolute expiry: %v", res.Header.Values("Set-Cookie"))
			}
			if want := int(identity.DefaultPolicy.SessionTTL / time.Second); set.MaxAge != want {
				t.Fatalf("Max-Age %d, want the session's %d seconds", set.MaxAge, want)
			}
			if r := b.get("/me"); r.StatusCode != 200 {
				t.Fatalf("the jar dropped the session: /me %d", r.StatusCode)
			}
			// The server's clock passes the idle timeout: the jar still sends
			// the cookie, and the server refuses it.
			e.clock.Add(identity.DefaultSessionSettings.PatientIdle + time.Minute) // a patient's idle time
			if b.cookie(sessionCookie) == "" {
				t.Fatal("the jar dropped the cookie on its own")
			}
			if r := b.get("/me"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
				t.Fatalf("an expired session still served: %d", r.StatusCode)
			}
		})
	}
}
