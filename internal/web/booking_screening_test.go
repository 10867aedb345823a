package web

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/policy"
)

// verdictTexts checks that every verdict of an answer carries both texts
// and returns them by rule code.
func verdictTexts(t *testing.T, rules any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := rules.([]any)
	if len(list) == 0 {
		t.Fatalf("no verdicts: %v", rules)
	}
	for _, v := range list {
		m := v.(map[string]any)
		msg, _ := m["message"].(string)
		passed, ok := m["message_passed"].(string)
		if !ok || msg == "" || passed == "" || msg == passed {
			t.Errorf("a verdict without both texts: %v", m)
		}
		out[m["code"].(string)] = m
	}
	return out
}

// S-1, S-4: every verdict of the check and of a refused booking carries
// what refuses ("message") and what is met ("message_passed"), in the
// language asked for.
func TestVerdictsCarryBothTexts(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		xiaoyu := e.patientIDs(lm)["李小雨"]
		r := e.req("POST", "/api/v1/eligibility/check", lm, map[string]any{"patient_id": xiaoyu, "service": "bch-allergy-fu", "answers": screened()})
		if r.status != 200 || r.body["eligible"] != true {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		vs := verdictTexts(t, r.body["rules"])
		if q := vs["qualified"]; q["passed"] != true || q["message_passed"] != "该机构已获互联网诊疗资质批准" || !strings.Contains(q["message"].(string), "尚未获得") {
			t.Fatalf("S-1 qualified: %v", q)
		}
		r = e.req("POST", "/api/v1/eligibility/check", lm, map[string]any{"patient_id": xiaoyu, "service": "bch-allergy-fu", "answers": screened("critical")},
			"Accept-Language", "en")
		vs = verdictTexts(t, r.body["rules"])
		if c := vs["critical"]; c["passed"] != false || !strings.Contains(c["message"].(string), "emergency department") || c["message_passed"] != "No emergency or critical symptoms" {
			t.Fatalf("S-4 critical in English: %v", c)
		}
		// A refused booking: every rule, both texts.
		b := e.req("POST", "/api/v1/appointments", lm, map[string]any{"slot_id": e.slotOf("bch-dermatology-fu")["id"], "patient_id": xiaoyu, "answers": screened("critical")})
		if b.status != 422 || b.errCode() != "ineligible" {
			t.Fatalf("%d %s", b.status, b.raw)
		}
		vs = verdictTexts(t, b.body["rules"])
		if w := vs["bch-window"]; w["passed"] != false || !strings.Contains(w["message"].(string), "2 个月") || !strings.Contains(w["message_passed"].(string), "2 个月") {
			t.Fatalf("S-3 dermatology window: %v", w)
		}
		// The refusal's message names what failed, never what passed.
		if msg := b.errMessage(); strings.Contains(msg, "已获") || !strings.Contains(msg, "急危重症") {
			t.Fatalf("refusal message: %s", msg)
		}
	})
}

// S-4: the check and the booking refuse until every pre-booking question is
// answered, naming each one left out (answers.<key>: required); a null is
// not an answer; nothing is booked.
func TestBookingRefusesUnansweredQuestions(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		xiaoyu := e.patientIDs(lm)["李小雨"]
		slot := e.slotOf("bch-allergy-fu")
		before := e.count("appointments")
		cases := []struct {
			name    string
			path    string
			answers any // nil: left out
			missing []string
		}{
			{"check without answers", "/api/v1/eligibility/check", nil, policy.AnswerKeys},
			{"check with one left out", "/api/v1/eligibility/check", map[string]bool{"pregnant": false, "critical": false, "difficult": false}, []string{"first_visit"}},
			{"booking without answers", "/api/v1/appointments", nil, policy.AnswerKeys},
			{"booking with an empty object", "/api/v1/appointments", map[string]bool{}, policy.AnswerKeys},
			{"booking with a null answer", "/api/v1/appointments", map[string]any{"pregnant": false, "critical": nil, "difficult": false, "first_visit": false}, []string{"critical"}},
			{"booking with two left out", "/api/v1/appointments", map[string]bool{"critical": false, "first_visit": false}, []string{"pregnant", "difficult"}},
		}
		for _, c := range cases {
			body := map[string]any{"patient_id": xiaoyu, "slot_id": slot["id"]}
			if c.answers != nil {
				body["answers"] = c.answers
			}
			r := e.req("POST", c.path, lm, body, "Idempotency-Key", "unanswered-"+c.name)
			fc := r.fieldCodes()
			if r.status != 400 || r.errCode() != errs.Invalid || len(fc) != len(c.missing) {
				t.Errorf("%s: %d %s", c.name, r.status, r.raw)
				continue
			}
			for _, k := range c.missing {
				if fc["answers."+k] != "required" {
					t.Errorf("%s: answers.%s not named: %s", c.name, k, r.raw)
				}
			}
		}
		if n := e.count("appointments"); n != before {
			t.Fatalf("booked without answers: %d appointments, was %d", n, before)
		}
		// Answered, the same booking goes through.
		if r := e.req("POST", "/api/v1/appointments", lm, map[string]any{"patient_id": xiaoyu, "slot_id": slot["id"], "answers": screened()}); r.status != 201 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

// S-1: a rule's passed texts are saved through the API; clients written
// before them keep working (a PUT that leaves them out keeps them, a POST
// without them gets the neutral text); one language alone is refused.
func TestRulePassedTextsThroughTheAPI(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("xuanwu-admin")
		r := e.req("POST", "/api/v1/institutions/xuanwu/rules", admin, map[string]any{"code": "xw-adults", "source": "S-4", "expr": "age >= 18",
			"message_zh": "宣武医院线上仅接诊成人；儿童请选择儿童医院", "message_en": "Adults only: children book a children's hospital",
			"passed_zh": "就诊人已成年", "passed_en": "The patient is an adult"})
		if r.status != 200 || r.body["passed_zh"] != "就诊人已成年" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		path := fmt.Sprintf("/api/v1/institutions/xuanwu/rules/%.0f", r.body["id"].(float64))
		zw := e.login("zhangwei")
		zhang := e.patientIDs(zw)["张伟"]
		passedText := func(lang string) string {
			t.Helper()
			c := e.req("POST", "/api/v1/eligibility/check", zw, map[string]any{"patient_id": zhang, "service": "xuanwu-neurology-fu", "answers": screened()},
				"Accept-Language", lang)
			v := verdictTexts(t, c.body["rules"])["xw-adults"]
			if v["passed"] != true {
				t.Fatalf("an adult refused: %s", c.raw)
			}
			return v["message_passed"].(string)
		}
		if got := passedText("zh"); got != "就诊人已成年" {
			t.Fatalf("passed text %q", got)
		}
		// An old client's PUT: no passed texts, the stored ones stay.
		r = e.req("PUT", path, admin, map[string]any{"code": "xw-adults", "source": "S-4", "expr": "age >= 18",
			"message_zh": "宣武医院线上仅接诊成人", "message_en": "Adults only"})
		if r.status != 200 || r.body["passed_zh"] != "就诊人已成年" || r.body["passed_en"] != "The patient is an adult" {
			t.Fatalf("PUT without passed texts: %d %s", r.status, r.raw)
		}
		if got := passedText("en"); got != "The patient is an adult" {
			t.Fatalf("passed text %q", got)
		}
		// One language alone is refused, naming the other.
		r = e.req("PUT", path, admin, map[string]any{"code": "xw-adults", "expr": "age >= 18", "message_zh": "x", "message_en": "x", "passed_zh": "", "passed_en": "Adult"})
		if r.status != 400 || r.fieldCodes()["passed_zh"] != "required" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// "" clears both: the neutral text.
		r = e.req("PUT", path, admin, map[string]any{"code": "xw-adults", "expr": "age >= 18", "message_zh": "x", "message_en": "x", "passed_zh": "", "passed_en": ""})
		if r.status != 200 || r.body["passed_zh"] != "" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if got := passedText("zh"); got != policy.DefaultPassedZH {
			t.Fatalf("passed text %q", got)
		}
		// The rules list gives both texts.
		l := e.req("GET", "/api/v1/institutions/xuanwu/rules", admin, nil)
		if !strings.Contains(string(l.raw), `"passed_zh":"该机构已获互联网诊疗资质批准"`) {
			t.Fatalf("the platform rule's passed text is not listed: %.400s", l.raw)
		}
	})
}

var (
	checkedRadio = regexp.MustCompile(`type="radio"[^>]*checked`)
	summaryRe    = regexp.MustCompile(`<summary>([^<]*)</summary>`)
)

// bookForm is the booking form's fields for a patient, answering each
// question given (yes/no); the others are left unanswered.
func bookForm(csrf string, patient int64, answers map[string]string) map[string]string {
	f := map[string]string{"csrf": csrf, "patient_id": fmt.Sprint(patient)}
	for k, v := range answers {
		f["q_"+k] = v
	}
	return f
}

func allNo() map[string]string {
	out := map[string]string{}
	for _, k := range policy.AnswerKeys {
		out[k] = "no"
	}
	return out
}

// S-4 on the booking page: nothing is chosen for the family; the check and
// the booking refuse until every question is answered, naming each; the
// rules that refuse come first with what to do, those met are folded under
// their count with their passed texts.
func TestBookingPageQuestionsAndFoldedVerdicts(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("liming")
		csrf := b.sessionCSRF()
		xiaoyu := e.patientIDs(e.login("liming"))["李小雨"]
		slot := fmt.Sprintf("/book/slots/%.0f", e.slotOf("bch-allergy-fu")["id"].(float64))
		if res := b.get(slot); res.StatusCode != 200 || checkedRadio.MatchString(b.last) {
			t.Fatalf("an answer is chosen before the family reads the question: %d", res.StatusCode)
		}
		before := e.count("appointments")
		// Unanswered: the check names each question left out.
		partial := map[string]string{"pregnant": "no", "difficult": "no"}
		if res := b.post(slot+"/check", bookForm(csrf, xiaoyu, partial)); res.StatusCode != 400 {
			t.Fatalf("check without every answer: %d", res.StatusCode)
		}
		if n := strings.Count(b.last, "请回答此问题"); n != 2 || strings.Contains(b.last, `id="verdicts"`) ||
			!strings.Contains(b.last, `data-field="answers.critical"`) || !strings.Contains(b.last, `data-field="answers.first_visit"`) {
			t.Fatalf("%d questions marked unanswered, want critical and first_visit:\n%s", n, b.last)
		}
		if !strings.Contains(b.last, `name="q_pregnant" value="no" checked`) {
			t.Fatal("the answers given are not kept")
		}
		// The booking itself refuses too (a hand-made confirm).
		if res := b.post(slot, map[string]string{"csrf": csrf, "patient_id": fmt.Sprint(xiaoyu), "idem": "no-answers"}); res.StatusCode != 400 ||
			strings.Count(b.last, "请回答此问题") != 4 {
			t.Fatalf("booking without answers: %d", res.StatusCode)
		}
		if n := e.count("appointments"); n != before {
			t.Fatal("booked without answers")
		}
		// Eligible: nothing failed, every rule met folded under its count.
		api := e.req("POST", "/api/v1/eligibility/check", e.login("liming"), map[string]any{"patient_id": xiaoyu, "service": "bch-allergy-fu", "answers": screened()})
		n := len(api.body["rules"].([]any))
		if res := b.post(slot+"/check", bookForm(csrf, xiaoyu, allNo())); res.StatusCode != 200 {
			t.Fatalf("check: %d", res.StatusCode)
		}
		if m := summaryRe.FindStringSubmatch(b.last); m == nil || m[1] != fmt.Sprintf("已符合 %d 项条件", n) {
			t.Fatalf("summary %v, want %d conditions met", m, n)
		}
		if strings.Contains(b.last, `id="failed-rules"`) || !strings.Contains(b.last, "✓ 该机构已获互联网诊疗资质批准") || strings.Contains(b.last, "尚未获得互联网诊疗资质") {
			t.Fatalf("eligible page:\n%s", b.last)
		}
		for _, k := range policy.AnswerKeys {
			if !strings.Contains(b.last, `<input type="hidden" name="q_`+k+`" value="no">`) {
				t.Fatalf("the confirm form does not carry the answer to %s", k)
			}
		}
		// Refused: the failed rules first, with what to do, then those met.
		derm := fmt.Sprintf("/book/slots/%.0f", e.slotOf("bch-dermatology-fu")["id"].(float64))
		critical := allNo()
		critical["critical"] = "yes"
		if res := b.post(derm+"/check", bookForm(csrf, xiaoyu, critical)); res.StatusCode != 422 {
			t.Fatalf("refused check: %d", res.StatusCode)
		}
		page := b.last
		failedAt, detailsAt := strings.Index(page, `id="failed-rules"`), strings.Index(page, `<details class="passed"`)
		if failedAt < 0 || detailsAt < failedAt || !strings.Contains(page, "以下 2 项条件未符合") {
			t.Fatalf("failed rules must come first:\n%s", page)
		}
		failed, passed := page[failedAt:detailsAt], page[detailsAt:]
		passed = passed[:strings.Index(passed, "</details>")]
		for _, want := range []string{"✗ 须在本院皮肤科 2 个月内有就诊记录；请先到皮肤科线下门诊就诊", "✗ 急危重症患者请立即到线下急诊就医"} {
			if !strings.Contains(failed, want) {
				t.Errorf("the failed rules lack %q", want)
			}
		}
		if m := summaryRe.FindStringSubmatch(passed); m == nil || m[1] != fmt.Sprintf("已符合 %d 项条件", n-2) {
			t.Fatalf("summary %v", m)
		}
		if !strings.Contains(passed, "✓ 该机构已获互联网诊疗资质批准") || strings.Contains(passed, "✗") || strings.Contains(passed, "尚未获得") {
			t.Fatalf("the passed rules show refusals:\n%s", passed)
		}
		if strings.Contains(page, `id="confirm"`) {
			t.Fatal("a refused booking offers to confirm")
		}
		// Confirmed with every answer: booked.
		b.post(slot+"/check", bookForm(csrf, xiaoyu, allNo()))
		idem := regexp.MustCompile(`name="idem" value="([^"]+)"`).FindStringSubmatch(b.last)
		form := bookForm(csrf, xiaoyu, allNo())
		form["idem"] = idem[1]
		if res := b.post(slot, form); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("confirm: %d %s", res.StatusCode, b.last)
		}
		if e.count("appointments") != before+1 {
			t.Fatal("not booked")
		}
	})
}

// In English, the booking page, the slot list and the appointments page
// name services, departments and specialties by their English names.
func TestBookingPagesInEnglish(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("liming")
		b.get("/lang/en")
		csrf := b.sessionCSRF()
		xiaoyu := e.patientIDs(e.login("liming"))["李小雨"]
		if b.get("/book/services/bch-skin-fv"); !strings.Contains(b.last, "Beijing Children&#39;s Hospital") ||
			!strings.Contains(b.last, "Dermatology · Skin disease") || !strings.Contains(b.last, "Skin disease first visit") || strings.Contains(b.last, "皮肤") {
			t.Fatalf("slot list in English:\n%s", b.last)
		}
		slot := fmt.Sprintf("/book/slots/%.0f", e.slotOf("bch-skin-fv")["id"].(float64))
		if b.get(slot); !strings.Contains(b.last, "Skin disease first visit") || !strings.Contains(b.last, "Dermatology · Skin disease") ||
			strings.Contains(b.last, "皮肤疾病首诊") || strings.Contains(b.last, "北京儿童医院") {
			t.Fatalf("booking page in English:\n%s", b.last)
		}
		answers := allNo()
		answers["first_visit"] = "yes"
		if res := b.post(slot+"/check", bookForm(csrf, xiaoyu, answers)); res.StatusCode != 200 || !strings.Contains(b.last, "conditions met") ||
			!strings.Contains(b.last, "The institution is approved for internet diagnosis") {
			t.Fatalf("check in English: %d\n%s", res.StatusCode, b.last)
		}
		form := bookForm(csrf, xiaoyu, answers)
		form["idem"] = regexp.MustCompile(`name="idem" value="([^"]+)"`).FindStringSubmatch(b.last)[1]
		if res := b.post(slot, form); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("confirm: %d", res.StatusCode)
		}
		if b.get("/appointments"); !strings.Contains(b.last, "Skin disease first visit") || !strings.Contains(b.last, "Beijing Children&#39;s Hospital · Dermatology") ||
			strings.Contains(b.last, "皮肤疾病首诊") {
			t.Fatalf("appointments in English:\n%s", b.last)
		}
		// In Chinese, the Chinese names.
		b.get("/lang/zh")
		if b.get("/appointments"); !strings.Contains(b.last, "皮肤疾病首诊") || !strings.Contains(b.last, "北京儿童医院 · 皮肤科") {
			t.Fatalf("appointments in Chinese:\n%s", b.last)
		}
	})
}
