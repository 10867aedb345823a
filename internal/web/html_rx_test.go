package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// rawRxKey finds an e-prescription text key shown instead of its text.
var rawRxKey = regexp.MustCompile(`\b(?:rx|nav|title|flash)\.[a-z_]+(?:\.[a-z_0-9]+)?\b[^"/]`)

func noRawRxKeys(t *testing.T, page, body string) {
	t.Helper()
	noRawKeys(t, page, body)
	// Keys inside attributes (data-t-*) or in paths are not shown.
	text := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
	if m := rawRxKey.FindString(text); m != "" {
		t.Errorf("%s shows the raw key %q", page, m)
	}
}

// csrfOf reads the form token of the last page.
func (b *browser) csrfOf() string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no csrf field: %s", b.last)
	}
	return m[1]
}

// The e-prescription pages (issue 11): who sees which page, the
// pharmacist's queue with what review needs, the review form (reject needs
// reasons, CSRF required), the guardian's list once approved, and the
// public verification page.
func TestRxPagesAndReviewForm(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ibu := drugCode(t, "ibuprofen", "oral", true)
		cetirizine := drugCode(t, "cetirizine", "oral", false)
		e.stock("bch", true, ibu, cetirizine)
		vpath, doc, _ := e.rxVisit("李小天", map[string]any{"drug_allergies": "无", "weight_kg": 16})
		visitPage := strings.TrimPrefix(vpath, "/api/v1")
		body := map[string]any{"items": []any{item(ibu, 150, "mg", "tid", 3, 1), item(cetirizine, 2.5, "mg", "qd", 5, 1)},
			"diagnoses": []string{"L20.9"}, "weight_kg": 16, "confirm": []string{"under-6-accompanied"}}
		v1 := e.req("POST", vpath+"/prescriptions", doc, body)
		if v1.status != 201 {
			t.Fatalf("issue %d %s", v1.status, v1.raw)
		}
		id1 := int64(v1.body["id"].(float64))
		page1 := fmt.Sprintf("/prescriptions/%d", id1)

		// The pharmacist's queue: everything the review needs.
		ph := newBrowser(t, e)
		ph.login("bch-pharmacist")
		if res := ph.get("/pharmacist"); res.StatusCode != 200 {
			t.Fatalf("queue %d", res.StatusCode)
		}
		for _, want := range []string{`id="nav-pharmacist"`, `data-id="` + fmt.Sprint(id1) + `"`, "李小天", "16 kg", "L20.9 特应性皮炎", "布洛芬混悬液",
			"150 mg、每日三次、口服、3 天", "盐酸西替利嗪", "6 岁以下儿童", "医师已确认", `href="` + page1 + `"`} {
			if !strings.Contains(ph.last, want) {
				t.Errorf("the queue lacks %q", want)
			}
		}
		if !regexp.MustCompile(`class="rx-allergies">无<`).MatchString(ph.last) {
			t.Error("the queue does not show the declared allergies")
		}
		for _, lang := range []string{"zh", "en"} {
			for _, p := range []string{"/pharmacist", page1} {
				if res := ph.get(p + "?lang=" + lang); res.StatusCode != 200 {
					t.Fatalf("%s %s: %d", p, lang, res.StatusCode)
				}
				noRawRxKeys(t, p+" "+lang, ph.last)
			}
		}
		if !strings.Contains(ph.last, "Approve") || !strings.Contains(ph.last, "Once a day") {
			t.Error("the English review page is not in English")
		}

		// Who may not see it: another hospital's pharmacist, the guardian
		// before approval, another doctor; anonymous users log in first.
		ccmc := newBrowser(t, e)
		ccmc.login("ccmc-pharmacist")
		if res := ccmc.get("/pharmacist"); res.StatusCode != 200 || strings.Contains(ccmc.last, "李小天") {
			t.Fatalf("ccmc's queue: %d, shows bch's: %v", res.StatusCode, strings.Contains(ccmc.last, "李小天"))
		}
		if res := ccmc.get(page1); res.StatusCode != 404 {
			t.Fatalf("ccmc's pharmacist opened bch's prescription: %d", res.StatusCode)
		}
		g := newBrowser(t, e)
		g.login("liming")
		if res := g.get(page1); res.StatusCode != 404 {
			t.Fatalf("the guardian opened a pending prescription: %d", res.StatusCode)
		}
		if res := g.get("/prescriptions"); res.StatusCode != 200 || strings.Contains(g.last, `data-id="`+fmt.Sprint(id1)+`"`) || !strings.Contains(g.last, `id="nav-prescriptions"`) {
			t.Fatalf("the guardian's list: %d, lists the pending one: %v", res.StatusCode, strings.Contains(g.last, `data-id="`+fmt.Sprint(id1)+`"`))
		}
		if res := g.get("/pharmacist"); res.StatusCode != 403 {
			t.Fatalf("the guardian opened the queue: %d", res.StatusCode)
		}
		other := newBrowser(t, e)
		other.login("bch-doctor")
		if res := other.get(page1); res.StatusCode != 404 {
			t.Fatalf("another doctor opened it: %d", res.StatusCode)
		}
		anon := newBrowser(t, e)
		for _, p := range []string{"/pharmacist", "/prescriptions", page1} {
			if res := anon.get(p); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
				t.Errorf("anonymous %s: %d %s", p, res.StatusCode, res.Header.Get("Location"))
			}
		}

		// The visit's doctor reads it but may not review it.
		d := newBrowser(t, e)
		d.login("bch-dermatology-doctor")
		if res := d.get(page1); res.StatusCode != 200 || strings.Contains(d.last, "rx-review-form") || !strings.Contains(d.last, `id="rx-rules"`) {
			t.Fatalf("the doctor's view: %d", res.StatusCode)
		}
		if res := d.post(page1+"/review", map[string]string{"csrf": d.csrfOf(), "decision": "approve"}); res.StatusCode != 403 {
			t.Fatalf("the doctor reviewed: %d", res.StatusCode)
		}
		if res := d.get("/pharmacist"); res.StatusCode != 403 {
			t.Fatalf("the doctor opened the queue: %d", res.StatusCode)
		}
		if res := d.get("/prescriptions"); res.StatusCode != 403 {
			t.Fatalf("the doctor opened the guardian's list: %d", res.StatusCode)
		}
		// The visit page carries the doctor's section, and the guardian's.
		d.get(visitPage)
		if !strings.Contains(d.last, `id="rx-doctor"`) || !strings.Contains(d.last, `data-weight="16"`) || !strings.Contains(d.last, "/static/rx.js") {
			t.Fatal("the doctor's visit page has no prescribing section")
		}
		noRawRxKeys(t, visitPage, d.last)
		d.get(visitPage + "?lang=en")
		if !strings.Contains(d.last, "Issue and sign") || !strings.Contains(d.last, "Three times a day") {
			t.Error("the English visit page's prescribing section is not in English")
		}
		noRawRxKeys(t, visitPage+" en", d.last)
		g.get(visitPage)
		if !strings.Contains(g.last, `id="rx-patient"`) || strings.Contains(g.last, `id="rx-doctor"`) {
			t.Fatal("the guardian's visit page: wrong prescription section")
		}

		// The review form: the page, CSRF, reasons required to reject.
		ph.get(page1)
		if !strings.Contains(ph.last, `id="rx-review-form"`) || !strings.Contains(ph.last, `data-valid="true"`) {
			t.Fatal("no review form, or the doctor's signature does not verify")
		}
		csrf := ph.csrfOf()
		if res := ph.post(page1+"/review", map[string]string{"decision": "approve"}); res.StatusCode != 403 {
			t.Fatalf("review without the CSRF token: %d", res.StatusCode)
		}
		if st := e.req("GET", "/api/v1"+page1, e.login("bch-pharmacist"), nil).body["status"]; st != "pending_review" {
			t.Fatalf("a review without the token changed it: %v", st)
		}
		res := ph.post(page1+"/review", map[string]string{"csrf": csrf, "decision": "reject", "note": "请调整"})
		if res.StatusCode != 400 || !strings.Contains(ph.last, `data-field="reasons"`) || !strings.Contains(ph.last, "此项为必填项") ||
			!strings.Contains(ph.last, `id="form-error"`) || !strings.Contains(ph.last, ">请调整</textarea>") {
			t.Fatalf("reject without reasons: %d", res.StatusCode)
		}
		res = ph.postValues(page1+"/review", url.Values{"csrf": {csrf}, "decision": {"reject"}, "reasons": {"用法、用量不适宜"},
			"other_reasons": {"西替利嗪剂量请按体重调整\n"}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page1+"?ok=rx_rejected" {
			t.Fatalf("reject: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		ph.get(res.Header.Get("Location"))
		for _, want := range []string{"已驳回，开方医师已收到通知", "药师驳回", "用法、用量不适宜；西替利嗪剂量请按体重调整"} {
			if !strings.Contains(ph.last, want) {
				t.Errorf("after rejecting, the page lacks %q", want)
			}
		}
		if strings.Contains(ph.last, `id="rx-review-form"`) {
			t.Error("a rejected prescription still offers the review form")
		}
		if res := ph.post(page1+"/review", map[string]string{"csrf": csrf, "decision": "approve"}); res.StatusCode != 409 || !strings.Contains(ph.last, "该处方不在待审核状态") {
			t.Fatalf("review a rejected one: %d", res.StatusCode)
		}

		// Revised (version 2) and approved through the form.
		body["revises"] = id1
		v2 := e.req("POST", vpath+"/prescriptions", doc, body)
		if v2.status != 201 {
			t.Fatalf("revise %d %s", v2.status, v2.raw)
		}
		id2 := int64(v2.body["id"].(float64))
		page2 := fmt.Sprintf("/prescriptions/%d", id2)
		res = ph.post(page2+"/review", map[string]string{"csrf": csrf, "decision": "approve", "note": "已核对"})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve %d %s", res.StatusCode, ph.last)
		}
		ph.get(res.Header.Get("Location"))
		if !strings.Contains(ph.last, "已审核通过，处方已由您签名") || strings.Count(ph.last, `<li class="pass" data-role=`) != 2 {
			t.Fatal("the approved page lacks the flash or the two valid signatures")
		}
		ph.get("/pharmacist")
		if strings.Contains(ph.last, `data-id="`+fmt.Sprint(id2)+`"`) {
			t.Error("an approved prescription stays in the queue")
		}

		// The guardian: the approved version, its PDF, no rules or allergies.
		g.get("/prescriptions")
		if !strings.Contains(g.last, `data-id="`+fmt.Sprint(id2)+`"`) || strings.Contains(g.last, `data-id="`+fmt.Sprint(id1)+`"`) ||
			!strings.Contains(g.last, fmt.Sprintf(`href="/api/v1/prescriptions/%d?format=pdf"`, id2)) {
			t.Fatalf("the guardian's list: %s", g.last)
		}
		noRawRxKeys(t, "/prescriptions", g.last)
		if res := g.get(page2); res.StatusCode != 200 || strings.Contains(g.last, `id="rx-rules"`) || strings.Contains(g.last, `id="rx-allergies"`) ||
			strings.Contains(g.last, "rx-review-form") || !strings.Contains(g.last, `data-valid="true"`) {
			t.Fatalf("the guardian's view: %d", res.StatusCode)
		}
		link := regexp.MustCompile(`id="rx-verify-link" href="([^"]+)"`).FindStringSubmatch(g.last)
		if link == nil {
			t.Fatal("no public verification link")
		}
		if res := g.get(page1); res.StatusCode != 404 {
			t.Fatalf("the guardian opened the rejected version: %d", res.StatusCode)
		}

		// Public verification: with the code anyone; without it, nobody.
		verify := strings.ReplaceAll(link[1], "&amp;", "&")
		if res := anon.get(verify); res.StatusCode != 200 || !strings.Contains(anon.last, `data-valid="true"`) || !strings.Contains(anon.last, "审核通过") ||
			!strings.Contains(anon.last, `data-role="pharmacist"`) || strings.Contains(anon.last, "李小天") {
			t.Fatalf("public verification %d", res.StatusCode)
		}
		noRawRxKeys(t, verify, anon.last)
		for _, p := range []string{fmt.Sprintf("/rx/verify/%d", id2), fmt.Sprintf("/rx/verify/%d?code=0000000000000000", id2), "/rx/verify/999999?code=x"} {
			if res := anon.get(p); res.StatusCode != 404 || !strings.Contains(anon.last, "未找到该处方，或核验码不正确") {
				t.Errorf("%s: %d", p, res.StatusCode)
			}
		}
		if res := anon.get(verify + "&lang=en"); res.StatusCode != 200 || !strings.Contains(anon.last, "Genuine") {
			t.Fatalf("English verification %d", res.StatusCode)
		}
	})
}
