package web

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/oversight"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// completedVisit is a 北京儿童医院 skin first visit of liming's child that
// its doctor has completed with a signed record.
func (e *env) completedVisit(child string) (vpath, doc, lm string) {
	e.t.Helper()
	vpath, doc, lm = e.rxVisit(child, nil)
	if r := e.req("POST", vpath+"/complete", doc, map[string]any{"chief_complaint": "皮疹", "present_illness": "3 天",
		"diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "保湿"}); r.status != 200 {
		e.t.Fatalf("complete %d %s", r.status, r.raw)
	}
	return vpath, doc, lm
}

// inboxKinds counts an account's notices by kind.
func (e *env) inboxKinds(token string) map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, it := range e.req("GET", "/api/v1/notifications", token, nil).items() {
		n := it.(map[string]any)
		out[n["kind"].(string)]++
		switch n["kind"] {
		case "complaint", "adverse_event", "rectification", "complaint_overdue", "adverse_event_overdue", "rectification_overdue":
		default:
			continue
		}
		for _, k := range []string{"title", "body", "title_en", "body_en"} {
			if s, _ := n[k].(string); s == "" || strings.Contains(s, "%!") || strings.Contains(s, "notice.") {
				e.t.Errorf("a notice's %s reads %q", k, s)
			}
		}
	}
	return out
}

func jsonTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("not a time: %v", v)
	}
	return at
}

func visitID(vpath string) int64 {
	var id int64
	fmt.Sscanf(strings.TrimPrefix(vpath, "/api/v1/visits/"), "%d", &id)
	return id
}

// N-22 satisfaction: the patient or guardian rates a completed visit
// once; the doctor, another patient and a visit not yet completed are
// refused; the regulator sees each institution's average, an institution
// its own.
func TestRatingOnceAfterTheVisit(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, doc, lm := e.rxVisit("李小雨", nil)
		if r := e.req("POST", vpath+"/rating", lm, map[string]any{"score": 5}); r.status != 409 || r.errCode() != "rating_not_open" {
			t.Fatalf("rating a visit in progress: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/complete", doc, map[string]any{"chief_complaint": "皮疹", "present_illness": "3 天",
			"diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "保湿"}); r.status != 200 {
			t.Fatalf("complete %d %s", r.status, r.raw)
		}
		for _, tc := range []struct {
			who    string
			token  string
			body   map[string]any
			status int
			code   string
		}{
			{"the doctor", doc, map[string]any{"score": 5}, 403, "forbidden"},
			{"another patient", e.login("zhangwei"), map[string]any{"score": 1}, 404, "not_found"},
			{"a score of 6", lm, map[string]any{"score": 6}, 400, "invalid_input"},
			{"a score of 0", lm, map[string]any{"score": 0, "comment": "x"}, 400, "invalid_input"},
			{"an unknown field", lm, map[string]any{"score": 4, "stars": 4}, 400, "invalid_input"},
			{"the guardian", lm, map[string]any{"score": 4, "comment": "医生很耐心"}, 201, ""},
			{"a second time", lm, map[string]any{"score": 1}, 409, "already_rated"},
		} {
			r := e.req("POST", vpath+"/rating", tc.token, tc.body)
			if r.status != tc.status || (tc.code != "" && r.errCode() != tc.code) {
				t.Fatalf("%s: %d %s", tc.who, r.status, r.raw)
			}
		}
		for _, tok := range []string{lm, doc} {
			if r := e.req("GET", vpath+"/rating", tok, nil); r.status != 200 || r.body["score"] != float64(4) || r.body["comment"] != "医生很耐心" {
				t.Fatalf("the rating: %d %s", r.status, r.raw)
			}
		}
		r := e.req("GET", "/api/v1/oversight/ratings", e.login("regulator"), nil)
		found := false
		for _, it := range r.items() {
			m := it.(map[string]any)
			if m["institution"] == "bch" {
				found = m["count"] == float64(1) && m["average"] == float64(4) && m["institution_name"] == "北京儿童医院"
			}
		}
		if r.status != 200 || !found {
			t.Fatalf("the regulator's satisfaction: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/oversight/ratings", e.login("bch-admin"), nil); r.status != 200 || len(r.items()) != 1 {
			t.Fatalf("the institution's own: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/oversight/ratings?institution=bch", e.login("ccmc-admin"), nil); r.status != 403 {
			t.Fatalf("another institution's satisfaction: %d", r.status)
		}
		if r := e.req("GET", "/api/v1/oversight/ratings", lm, nil); r.status != 403 {
			t.Fatalf("a patient reads the summaries: %d", r.status)
		}
	})
}

// N-21 and V-4: a guardian's complaint against 北京儿童医院 about her
// child's visit goes to the institution's admin and quality staff and a
// copy to the regulator; only they and the guardian see it; the
// institution's handlers move it one step at a time with what each step
// needs; its deadlines are data (triaged within a working day, answered
// within five) and an overdue step is flagged on the server's clock,
// listed for the regulator and alerted once.
func TestComplaintLifecycleAndDeadlines(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, doc, lm := e.completedVisit("李小雨")
		vid := visitID(vpath)
		zw := e.login("zhangwei")
		for _, tc := range []struct {
			who   string
			token string
			body  map[string]any
			want  int
			field string
		}{
			{"another's visit", zw, map[string]any{"institution": "bch", "visit_id": vid, "category": "fees", "text": "x"}, 400, "visit_id"},
			{"the visit at another institution", lm, map[string]any{"institution": "ccmc", "visit_id": vid, "category": "fees", "text": "x"}, 400, "visit_id"},
			{"an unknown category", lm, map[string]any{"institution": "bch", "category": "rudeness", "text": "x"}, 400, "category"},
			{"an adverse event's category", lm, map[string]any{"institution": "bch", "category": "medication_error", "text": "x"}, 400, "category"},
			{"no text", lm, map[string]any{"institution": "bch", "category": "fees", "text": " "}, 400, "text"},
			{"an unknown institution", lm, map[string]any{"institution": "ghost", "category": "fees", "text": "x"}, 400, "institution"},
			{"a doctor", doc, map[string]any{"institution": "bch", "category": "fees", "text": "x"}, 403, ""},
		} {
			r := e.req("POST", "/api/v1/complaints", tc.token, tc.body)
			if r.status != tc.want || (tc.field != "" && r.fieldCodes()[tc.field] == "") {
				t.Fatalf("%s: %d %s", tc.who, r.status, r.raw)
			}
		}
		r := e.req("POST", "/api/v1/complaints", lm, map[string]any{"institution": "bch", "visit_id": vid, "category": "diagnosis_quality",
			"text": "医生未询问过敏史就开了药"})
		if r.status != 201 || r.body["state"] != "reported" || r.body["overdue"] != false || r.body["category_text"] != "诊疗质量" {
			t.Fatalf("file: %d %s", r.status, r.raw)
		}
		id := r.body["id"].(float64)
		path := fmt.Sprintf("/api/v1/complaints/%.0f", id)
		reported := jsonTime(t, r.body["reported_at"])
		due := r.body["due"].(map[string]any)
		if got, want := jsonTime(t, due["triaged"]), oversight.AddWorkingDays(reported, 1); !got.Equal(want) {
			t.Fatalf("triage due %s, want %s", got, want)
		}
		if got, want := jsonTime(t, due["closed"]), oversight.AddWorkingDays(reported, 5); !got.Equal(want) {
			t.Fatalf("answer due %s, want %s", got, want)
		}
		// Told: the institution's admin and quality staff, the regulator.
		for _, u := range []string{"bch-admin", "bch-quality", "regulator"} {
			if n := e.inboxKinds(e.login(u))["complaint"]; n != 1 {
				t.Fatalf("%s got %d complaint notices", u, n)
			}
		}
		if n := e.inboxKinds(e.login("ccmc-admin"))["complaint"]; n != 0 {
			t.Fatal("another institution was told")
		}

		// Who sees it, who moves it.
		for _, tc := range []struct {
			user     string
			get, put int
		}{
			{"zhangwei", 404, 404},
			{"ccmc-admin", 404, 404},
			{"bch-dermatology-doctor", 404, 404}, // a doctor cannot close a complaint, nor see it
			{"bch-pharmacist", 404, 404},
			{"regulator", 200, 403},
			{"liming", 200, 403},
		} {
			tok := e.login(tc.user)
			if r := e.req("GET", path, tok, nil); r.status != tc.get {
				t.Fatalf("%s reads it: %d", tc.user, r.status)
			}
			if r := e.req("PUT", path, tok, map[string]any{"state": "triaged", "note": "x"}); r.status != tc.put {
				t.Fatalf("%s moves it: %d %s", tc.user, r.status, r.raw)
			}
		}
		if r := e.req("GET", "/api/v1/complaints", zw, nil); r.status != 200 || len(r.items()) != 0 {
			t.Fatalf("another patient's list: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/complaints?institution=bch", e.login("ccmc-admin"), nil); r.status != 403 {
			t.Fatalf("another institution's list: %d", r.status)
		}
		if r := e.req("GET", "/api/v1/complaints", doc, nil); r.status != 403 {
			t.Fatalf("a doctor lists complaints: %d", r.status)
		}
		admin := e.login("bch-admin")
		for _, tc := range []struct {
			body  map[string]any
			want  int
			code  string
			field string
		}{
			{map[string]any{"state": "closed", "findings": "已处理"}, 409, "oversight_illegal_step", ""},
			{map[string]any{"state": "triaged"}, 400, "invalid_input", "note"},
			{map[string]any{"state": "triaged", "note": "n", "findings": "f"}, 400, "invalid_input", "findings"},
			{map[string]any{"state": "archived"}, 400, "invalid_input", "state"},
		} {
			r := e.req("PUT", path, admin, tc.body)
			if r.status != tc.want || r.errCode() != tc.code || (tc.field != "" && r.fieldCodes()[tc.field] == "") {
				t.Fatalf("%v: %d %s", tc.body, r.status, r.raw)
			}
		}

		// The triage deadline passes on the server's clock.
		if r := e.req("GET", "/api/v1/complaints?overdue=true", e.login("regulator"), nil); len(r.items()) != 0 || r.body["overdue"] != float64(0) {
			t.Fatalf("overdue at once: %s", r.raw)
		}
		e.clock.Set(jsonTime(t, due["triaged"]).Add(time.Minute))
		reg := e.login("regulator")
		r = e.req("GET", "/api/v1/complaints?overdue=true", reg, nil)
		if len(r.items()) != 1 || r.body["overdue"] != float64(1) || r.items()[0].(map[string]any)["overdue"] != true {
			t.Fatalf("the regulator's overdue list: %s", r.raw)
		}
		if err := e.s.AlertOverdue(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := e.s.AlertOverdue(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"bch-admin", "regulator"} {
			if n := e.inboxKinds(e.login(u))["complaint_overdue"]; n != 1 {
				t.Fatalf("%s got %d overdue alerts", u, n)
			}
		}

		// Triaged late, investigated, closed with the findings.
		admin = e.login("bch-quality")
		r = e.req("PUT", path, admin, map[string]any{"state": "triaged", "note": "转医务处"})
		if r.status != 200 || r.body["state"] != "triaged" || r.body["overdue"] != false || fmt.Sprint(r.body["late_steps"]) != "[triaged]" {
			t.Fatalf("triage: %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", path, admin, map[string]any{"state": "triaged", "note": "again"}); r.status != 409 {
			t.Fatalf("triaged twice: %d", r.status)
		}
		if r := e.req("PUT", path, admin, map[string]any{"state": "investigating", "note": "调阅问诊记录"}); r.status != 200 {
			t.Fatalf("investigate: %d %s", r.status, r.raw)
		}
		r = e.req("PUT", path, admin, map[string]any{"state": "closed", "findings": "已向家属致歉，对医师进行了过敏史询问培训"})
		if r.status != 200 || r.body["state"] != "closed" || r.body["overdue"] != false || r.body["may_handle"] != false {
			t.Fatalf("close: %d %s", r.status, r.raw)
		}
		lm = e.login("liming")
		r = e.req("GET", path, lm, nil)
		if r.body["findings"] != "已向家属致歉，对医师进行了过敏史询问培训" || r.body["mine"] != true {
			t.Fatalf("the complainant's view: %s", r.raw)
		}
		if n := e.inboxKinds(lm)["complaint"]; n != 3 {
			t.Fatalf("the complainant was told of %d steps", n)
		}
		if n := e.inboxKinds(e.login("regulator"))["complaint"]; n != 2 {
			t.Fatalf("the regulator got %d complaint notices (filed, closed)", n)
		}
		if r := e.req("GET", "/api/v1/complaints", lm, nil); len(r.items()) != 1 {
			t.Fatalf("the complainant's list: %s", r.raw)
		}
		// Every read is audited.
		a := e.req("GET", "/api/v1/audit?institution=bch&object_type=complaint", e.login("regulator"), nil)
		actions := map[string]int{}
		for _, it := range a.items() {
			actions[it.(map[string]any)["action"].(string)]++
		}
		if actions["complaint.report"] != 1 || actions["complaint.read"] == 0 || actions["complaint.step"] != 3 || actions["complaint.read.denied"] == 0 {
			t.Fatalf("audit %v", actions)
		}
	})
}

// V-4: a doctor reports a serious adverse event; it is to be triaged
// within 24 hours (deadline data), after which it is overdue for the
// institution and the regulator; the reporter follows it but cannot
// handle it; another institution's staff never see it.
func TestAdverseEventSeriousTriagedWithin24Hours(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, doc, lm := e.rxVisit("李小雨", nil)
		vid := visitID(vpath)
		for _, tc := range []struct {
			who   string
			token string
			body  map[string]any
			want  int
		}{
			{"a patient", lm, map[string]any{"institution": "bch", "category": "medication_error", "severity": "serious", "description": "x"}, 403},
			{"for another institution", doc, map[string]any{"institution": "ccmc", "category": "medication_error", "severity": "serious", "description": "x"}, 403},
			{"no severity", doc, map[string]any{"category": "medication_error", "description": "x"}, 400},
			{"an unknown severity", doc, map[string]any{"category": "medication_error", "severity": "mild", "description": "x"}, 400},
			{"an unknown visit", doc, map[string]any{"category": "medication_error", "severity": "serious", "visit_id": 1 << 40, "description": "x"}, 400},
			{"the regulator", e.login("regulator"), map[string]any{"institution": "bch", "category": "other", "severity": "general", "description": "x"}, 403},
		} {
			if r := e.req("POST", "/api/v1/adverse-events", tc.token, tc.body); r.status != tc.want {
				t.Fatalf("%s: %d %s", tc.who, r.status, r.raw)
			}
		}
		r := e.req("POST", "/api/v1/adverse-events", doc, map[string]any{"visit_id": vid, "category": "medication_error", "severity": "serious",
			"description": "开具剂量为体重剂量的 10 倍，药师审方拦截"})
		if r.status != 201 || r.body["institution"] != "bch" || r.body["severity_text"] != "严重" || r.body["description"] == nil || r.body["mine"] != true {
			t.Fatalf("report: %d %s", r.status, r.raw)
		}
		path := fmt.Sprintf("/api/v1/adverse-events/%.0f", r.body["id"].(float64))
		reported := jsonTime(t, r.body["reported_at"])
		triageBy := jsonTime(t, r.body["due"].(map[string]any)["triaged"])
		if triageBy.Sub(reported) != 24*time.Hour {
			t.Fatalf("a serious event is triaged within %s", triageBy.Sub(reported))
		}
		// A general one gets two working days.
		g := e.req("POST", "/api/v1/adverse-events", e.login("bch-pharmacist"), map[string]any{"category": "system_failure", "severity": "general",
			"description": "视频中断"})
		if g.status != 201 || !jsonTime(t, g.body["due"].(map[string]any)["triaged"]).Equal(oversight.AddWorkingDays(jsonTime(t, g.body["reported_at"]), 2)) {
			t.Fatalf("a general event: %d %s", g.status, g.raw)
		}
		for _, u := range []string{"bch-admin", "bch-quality", "regulator"} {
			if n := e.inboxKinds(e.login(u))["adverse_event"]; n != 2 {
				t.Fatalf("%s got %d adverse-event notices", u, n)
			}
		}
		if n := e.inboxKinds(doc)["adverse_event"]; n != 0 { // handlers and the regulator are told, not other staff
			t.Fatalf("the reporting doctor got %d notices", n)
		}
		for _, tc := range []struct {
			user     string
			get, put int
		}{
			{"bch-dermatology-doctor", 200, 403}, // the reporter follows it
			{"bch-pharmacist", 404, 404},
			{"ccmc-admin", 404, 404},
			{"ccmc-quality", 404, 404},
			{"liming", 404, 404},
			{"regulator", 200, 403},
		} {
			tok := e.login(tc.user)
			if r := e.req("GET", path, tok, nil); r.status != tc.get {
				t.Fatalf("%s reads it: %d", tc.user, r.status)
			}
			if r := e.req("PUT", path, tok, map[string]any{"state": "triaged", "note": "x"}); r.status != tc.put {
				t.Fatalf("%s moves it: %d %s", tc.user, r.status, r.raw)
			}
		}
		if r := e.req("GET", "/api/v1/adverse-events", e.login("ccmc-admin"), nil); r.status != 200 || len(r.items()) != 0 {
			t.Fatalf("another institution's list: %s", r.raw)
		}
		if r := e.req("GET", "/api/v1/adverse-events", doc, nil); len(r.items()) != 1 {
			t.Fatalf("the reporter's own list: %s", r.raw)
		}
		if r := e.req("GET", "/api/v1/adverse-events", e.login("regulator"), nil); len(r.items()) != 2 {
			t.Fatalf("the regulator's list: %s", r.raw)
		}
		if r := e.req("GET", "/api/v1/adverse-events", lm, nil); r.status != 403 {
			t.Fatalf("a patient lists adverse events: %d", r.status)
		}

		// 23 hours: in time; 25 hours: overdue and alerted.
		e.clock.Set(reported.Add(23 * time.Hour))
		if r := e.req("GET", path, e.login("regulator"), nil); r.body["overdue"] != false {
			t.Fatalf("overdue after 23 hours: %s", r.raw)
		}
		e.clock.Set(reported.Add(25 * time.Hour))
		reg := e.login("regulator")
		if r := e.req("GET", path, reg, nil); r.body["overdue"] != true {
			t.Fatalf("not overdue after 25 hours: %s", r.raw)
		}
		if r := e.req("GET", "/api/v1/adverse-events?overdue=true", reg, nil); len(r.items()) != 1 {
			t.Fatalf("overdue list: %s", r.raw)
		}
		if err := e.s.AlertOverdue(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := e.inboxKinds(reg)["adverse_event_overdue"]; n != 1 {
			t.Fatalf("the regulator got %d overdue alerts", n)
		}
		q := e.login("bch-quality")
		r = e.req("PUT", path, q, map[string]any{"state": "triaged", "note": "定为严重，启动根因分析"})
		if r.status != 200 || fmt.Sprint(r.body["late_steps"]) != "[triaged]" {
			t.Fatalf("triage: %d %s", r.status, r.raw)
		}
		if n := e.inboxKinds(e.login("bch-dermatology-doctor"))["adverse_event"]; n != 1 {
			t.Fatalf("the reporter was not told of the triage: %d", n)
		}
		if r := e.req("PUT", path, e.login("bch-admin"), map[string]any{"state": "investigating", "note": "根因分析"}); r.status != 200 {
			t.Fatalf("investigate: %d %s", r.status, r.raw)
		}
	})
}

// G-3: the regulator records an inspection and orders 北京儿童医院 to
// rectify by a deadline; its admin answers with measures and files (the
// blob store), the regulator reopens with a new deadline, which passes
// (overdue, alerted once), the admin answers late, the regulator verifies.
// Under another order the regulator suspends the institution: booking
// closes at once and the reason is on the public page.
func TestRectificationOrderAndSuspension(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		reg := e.login("regulator")
		for _, tc := range []struct {
			who   string
			token string
			body  map[string]any
			want  int
			field string
		}{
			{"the institution", e.login("bch-admin"), map[string]any{"institution": "bch", "findings": "x", "deadline": testclock.Day(7)}, 403, ""},
			{"a past deadline", reg, map[string]any{"institution": "bch", "findings": "x", "deadline": testclock.Day(-1)}, 400, "deadline"},
			{"a malformed deadline", reg, map[string]any{"institution": "bch", "findings": "x", "deadline": "next week"}, 400, "deadline"},
			{"no findings", reg, map[string]any{"institution": "bch", "deadline": testclock.Day(7)}, 400, "findings"},
			{"an unknown institution", reg, map[string]any{"institution": "ghost", "findings": "x", "deadline": testclock.Day(7)}, 400, "institution"},
		} {
			r := e.req("POST", "/api/v1/oversight/rectifications", tc.token, tc.body)
			if r.status != tc.want || (tc.field != "" && r.fieldCodes()[tc.field] == "") {
				t.Fatalf("%s: %d %s", tc.who, r.status, r.raw)
			}
		}
		r := e.req("POST", "/api/v1/oversight/rectifications", reg, map[string]any{"institution": "bch", "findings": "抽查 20 张电子处方，3 张无药师审核签名",
			"deadline": testclock.Day(7)})
		if r.status != 201 || r.body["state"] != "issued" || r.body["inspected_on"] != testclock.Day(0) || r.body["overdue"] != false {
			t.Fatalf("issue: %d %s", r.status, r.raw)
		}
		path := fmt.Sprintf("/api/v1/oversight/rectifications/%.0f", r.body["id"].(float64))
		admin := e.login("bch-admin")
		if n := e.inboxKinds(admin)["rectification"]; n != 1 {
			t.Fatalf("the institution was told %d times", n)
		}
		for _, tc := range []struct {
			user string
			want int
		}{{"ccmc-admin", 404}, {"liming", 404}, {"bch-dermatology-doctor", 404}, {"bch-quality", 200}, {"bch-admin", 200}, {"regulator", 200}} {
			if r := e.req("GET", path, e.login(tc.user), nil); r.status != tc.want {
				t.Fatalf("%s reads the order: %d", tc.user, r.status)
			}
		}
		if r := e.req("GET", "/api/v1/oversight/rectifications", e.login("ccmc-admin"), nil); r.status != 200 || len(r.items()) != 0 {
			t.Fatalf("another institution's orders: %s", r.raw)
		}
		if r := e.req("GET", "/api/v1/oversight/rectifications", e.login("liming"), nil); r.status != 403 {
			t.Fatalf("a patient lists orders: %d", r.status)
		}

		// Files: only the institution's admin, only JPEG, PNG or PDF.
		if f := e.upload(e.login("ccmc-admin"), path+"/files", "a.png", pngBytes(t)); f.status != 404 {
			t.Fatalf("another institution uploads: %d", f.status)
		}
		if f := e.upload(reg, path+"/files", "a.png", pngBytes(t)); f.status != 403 {
			t.Fatalf("the regulator uploads: %d", f.status)
		}
		if f := e.upload(admin, path+"/files", "a.txt", []byte("plain text, not a proof")); f.status != 415 {
			t.Fatalf("a text file: %d %s", f.status, f.raw)
		}
		f := e.upload(admin, path+"/files", "审方记录.png", pngBytes(t))
		if f.status != 201 || f.body["content_type"] != "image/png" {
			t.Fatalf("upload: %d %s", f.status, f.raw)
		}
		fid := f.body["id"].(float64)
		if r := e.req("POST", path+"/response", admin, map[string]any{"measures": " ", "files": []float64{fid}}); r.status != 400 {
			t.Fatalf("no measures: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", path+"/response", e.login("bch-quality"), map[string]any{"measures": "x"}); r.status != 403 {
			t.Fatalf("the quality staff responds: %d", r.status)
		}
		r = e.req("POST", path+"/response", admin, map[string]any{"measures": "补签 3 张处方，药师审核改为系统强制", "files": []float64{fid}})
		if r.status != 200 || r.body["state"] != "responded" {
			t.Fatalf("respond: %d %s", r.status, r.raw)
		}
		evs := r.body["events"].([]any)
		last := evs[len(evs)-1].(map[string]any)
		if last["kind"] != "response" || last["late"] != nil || len(last["files"].([]any)) != 1 {
			t.Fatalf("the response: %v", last)
		}
		if n := e.inboxKinds(reg)["rectification"]; n != 1 {
			t.Fatalf("the regulator was told %d times", n)
		}
		// The regulator reads the file.
		req, _ := http.NewRequest("GET", e.ts.URL+fmt.Sprintf("%s/files/%.0f", path, fid), nil)
		req.Header.Set("Authorization", "Bearer "+reg)
		res, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != string(pngBytes(t)) {
			t.Fatalf("the file: %d", res.StatusCode)
		}

		// Reopened with a new deadline, which passes.
		if r := e.req("POST", path+"/verify", admin, map[string]any{"accept": true}); r.status != 403 {
			t.Fatalf("the institution verifies itself: %d", r.status)
		}
		if r := e.req("POST", path+"/verify", reg, map[string]any{"accept": false}); r.status != 400 || r.fieldCodes()["comment"] != "required" {
			t.Fatalf("reopen without a comment: %d %s", r.status, r.raw)
		}
		r = e.req("POST", path+"/verify", reg, map[string]any{"accept": false, "comment": "未提供系统改造证明", "deadline": testclock.Day(10)})
		if r.status != 200 || r.body["state"] != "reopened" || r.body["deadline"] != testclock.Day(10) || r.body["round"] != float64(2) {
			t.Fatalf("reopen: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", path+"/verify", reg, map[string]any{"accept": true}); r.status != 409 || r.errCode() != "oversight_illegal_step" {
			t.Fatalf("verify an order awaiting a response: %d %s", r.status, r.raw)
		}
		e.clock.Set(jsonTime(t, r.body["deadline_at"]).Add(time.Hour))
		reg, admin = e.login("regulator"), e.login("bch-admin")
		r = e.req("GET", "/api/v1/oversight/rectifications?overdue=true", reg, nil)
		if len(r.items()) != 1 || r.body["overdue"] != float64(1) {
			t.Fatalf("overdue orders: %s", r.raw)
		}
		for range 2 {
			if err := e.s.AlertOverdue(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		for _, tok := range []string{reg, admin} {
			if n := e.inboxKinds(tok)["rectification_overdue"]; n != 1 {
				t.Fatalf("%d overdue alerts", n)
			}
		}
		r = e.req("POST", path+"/response", admin, map[string]any{"measures": "上传系统改造验收报告"})
		evs = r.body["events"].([]any)
		if r.status != 200 || evs[len(evs)-1].(map[string]any)["late"] != true || r.body["overdue"] != false {
			t.Fatalf("a late response: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", path+"/verify", reg, map[string]any{"accept": true, "comment": "通过"}); r.status != 200 || r.body["state"] != "verified" {
			t.Fatalf("verify: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", path+"/suspend", reg, map[string]any{"reason": "x"}); r.status != 409 || r.errCode() != "not_suspendable" {
			t.Fatalf("suspend under a verified order: %d %s", r.status, r.raw)
		}

		// Suspension under another order closes booking at once; the reason is public.
		if _, err := e.s.Booking().GenerateAll(t.Context()); err != nil { // the clock moved on: today's slots
			t.Fatal(err)
		}
		slot := e.slotOf("bch-allergy-fu")
		if _, failed := e.check(e.login("liming"), e.patientIDs(e.login("liming"))["李小雨"], "bch-allergy-fu", nil); failed["qualified"] {
			t.Fatal("the qualification refuses before the suspension")
		}
		r = e.req("POST", "/api/v1/oversight/rectifications", reg, map[string]any{"institution": "bch", "findings": "首诊超出试点范围",
			"deadline": testclock.Day(20)})
		path2 := fmt.Sprintf("/api/v1/oversight/rectifications/%.0f", r.body["id"].(float64))
		if r := e.req("POST", path2+"/suspend", admin, map[string]any{"reason": "x"}); r.status != 403 {
			t.Fatalf("the institution suspends itself: %d", r.status)
		}
		if r := e.req("POST", path2+"/suspend", reg, map[string]any{"reason": " "}); r.status != 400 {
			t.Fatalf("a suspension without reason: %d", r.status)
		}
		reason := "整改期间暂停互联网诊疗服务（首诊超出试点范围）"
		r = e.req("POST", path2+"/suspend", reg, map[string]any{"reason": reason})
		if r.status != 200 || r.body["suspension_reason"] != reason {
			t.Fatalf("suspend: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/institutions/bch", "", nil); r.body["status"] != "suspended" || r.body["status_note"] != reason {
			t.Fatalf("the institution: %s", r.raw)
		}
		if n := len(e.req("GET", "/api/v1/slots?institution=bch", "", nil).items()); n != 0 {
			t.Fatalf("a suspended institution lists %d slots", n)
		}
		lm := e.login("liming")
		b := e.req("POST", "/api/v1/appointments", lm, map[string]any{"slot_id": slot["id"], "patient_id": e.patientIDs(lm)["李小雨"],
			"answers": withNo(map[string]bool{"first_visit": false})}, "Idempotency-Key", "suspended-1")
		if (b.status != 409 || b.errCode() != "slot_closed") && (b.status != 422 || b.errCode() != "ineligible") {
			t.Fatalf("booked at a suspended institution: %d %s", b.status, b.raw)
		}
		if _, failed := e.check(lm, e.patientIDs(lm)["李小雨"], "bch-allergy-fu", nil); !failed["qualified"] {
			t.Fatalf("the qualification rule does not refuse: %v", failed)
		}
		page := newBrowser(t, e)
		if res := page.get("/institutions/bch"); res.StatusCode != 200 || !strings.Contains(page.last, reason) {
			t.Fatalf("the public page lacks the reason: %d", res.StatusCode)
		}
		if n := e.inboxKinds(admin)["rectification"]; n < 4 {
			t.Fatalf("the institution was told %d times", n)
		}
	})
}

// The pages (issue 13): a guardian files a complaint and rates a visit on
// 我的投诉; the institution's admin triages it on its page; the regulator
// sees what is overdue on /regulator, issues an order from 监管事项, and the
// admin answers it with a file through the multipart form; a doctor
// reports an adverse event. Every page reads in both languages.
func TestOversightPages(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, _, _ := e.completedVisit("李小雨")
		vid := visitID(vpath)

		pt := newBrowser(t, e)
		pt.login("liming")
		pt.get("/complaints")
		if !strings.Contains(pt.last, fmt.Sprintf(`href="/visits/%d/rating"`, vid)) {
			t.Fatal("我的投诉 does not offer the completed visit to rate")
		}
		csrf := csrfField.FindStringSubmatch(pt.last)[1]
		if res := pt.post(fmt.Sprintf("/visits/%d/rating", vid), map[string]string{"csrf": csrf, "score": "9"}); res.StatusCode != 400 {
			t.Fatalf("a score of 9: %d", res.StatusCode)
		}
		if res := pt.post(fmt.Sprintf("/visits/%d/rating", vid), map[string]string{"csrf": csrf, "score": "5", "comment": "很好"}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("rate: %d %s", res.StatusCode, pt.last)
		}
		pt.get(fmt.Sprintf("/visits/%d/rating", vid))
		if !strings.Contains(pt.last, `data-score="5"`) || strings.Contains(pt.last, `id="rating-form"`) {
			t.Fatal("the rating page does not show the rating")
		}
		if res := pt.post("/complaints", map[string]string{"csrf": csrf, "institution": "bch", "category": "fees", "text": ""}); res.StatusCode != 400 ||
			!strings.Contains(pt.last, "此项为必填项") {
			t.Fatalf("an empty complaint: %d", res.StatusCode)
		}
		res := pt.post("/complaints", map[string]string{"csrf": csrf, "institution": "bch", "visit_id": fmt.Sprint(vid), "category": "fees", "text": "退款迟迟未到账"})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("file: %d %s", res.StatusCode, pt.last)
		}
		pt.get("/complaints")
		m := regexpFind(`href="/complaints/(\d+)"`, pt.last)
		if m == "" {
			t.Fatalf("the complaint is not listed: %s", pt.last)
		}

		admin := newBrowser(t, e)
		admin.login("bch-admin")
		admin.get("/oversight")
		if !strings.Contains(admin.last, `href="/complaints/`+m+`"`) {
			t.Fatal("the institution's page does not list the complaint")
		}
		admin.get("/complaints/" + m)
		acsrf := csrfField.FindStringSubmatch(admin.last)[1]
		if res := admin.post("/complaints/"+m+"/step", map[string]string{"csrf": acsrf, "state": "triaged", "note": ""}); res.StatusCode != 400 {
			t.Fatalf("a triage without a note: %d", res.StatusCode)
		}
		if res := admin.post("/complaints/"+m+"/step", map[string]string{"csrf": acsrf, "state": "triaged", "note": "财务处核实"}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("triage: %d %s", res.StatusCode, admin.last)
		}
		pt.get("/complaints/" + m)
		if !strings.Contains(pt.last, "财务处核实") || strings.Contains(pt.last, `id="step-form"`) {
			t.Fatal("the complainant's page")
		}

		// The regulator: what is overdue, an order from 监管事项.
		e.clock.Add(8 * 24 * time.Hour) // past the answer's five working days
		reg := newBrowser(t, e)
		reg.login("regulator")
		reg.get("/regulator")
		if !strings.Contains(reg.last, `id="reg-oversight" class="warn"`) || !strings.Contains(reg.last, `href="/oversight?overdue=1"`) {
			t.Fatalf("the regulator's page does not flag the overdue complaint")
		}
		reg.get("/oversight?overdue=1")
		if !strings.Contains(reg.last, `<tr data-id="`+m+`" class="overdue">`) {
			t.Fatal("the overdue complaint is not highlighted")
		}
		rcsrf := csrfField.FindStringSubmatch(reg.last)[1]
		deadline := e.clock.Now().AddDate(0, 0, 5).Format("2006-01-02")
		if res := reg.post("/oversight/rectifications", map[string]string{"csrf": rcsrf, "institution": "bch", "findings": "投诉办理超期", "deadline": deadline}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("issue: %d %s", res.StatusCode, reg.last)
		}
		reg.get("/oversight")
		rid := regexpFind(`href="/rectifications/(\d+)"`, reg.last)
		if rid == "" {
			t.Fatal("the order is not listed")
		}

		// The admin answers with a file (the multipart form, its token in the action).
		admin = newBrowser(t, e)
		admin.login("bch-admin")
		admin.get("/rectifications/" + rid)
		action := regexpFind(`action="(/rectifications/\d+/response\?csrf=[^"]+)"`, admin.last)
		if action == "" {
			t.Fatalf("no response form: %s", admin.last)
		}
		body, ctype := multipartForm(t, map[string]string{"measures": "建立投诉台账，专人跟踪"}, "file", "台账.png", pngBytes(t))
		req, _ := http.NewRequest("POST", e.ts.URL+strings.ReplaceAll(action, "&amp;", "&"), body)
		req.Header.Set("Content-Type", ctype)
		resp, err := admin.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("respond: %d", resp.StatusCode)
		}
		reg.get("/rectifications/" + rid)
		if !strings.Contains(reg.last, "建立投诉台账") || !strings.Contains(reg.last, "台账.png") || !strings.Contains(reg.last, `id="verify-form"`) {
			t.Fatal("the regulator does not see the response and its file")
		}
		rcsrf = csrfField.FindStringSubmatch(reg.last)[1]
		if res := reg.post("/rectifications/"+rid+"/verify", map[string]string{"csrf": rcsrf, "accept": "true", "comment": "通过"}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("verify: %d %s", res.StatusCode, reg.last)
		}

		// A doctor reports an adverse event from 监管事项.
		doc := newBrowser(t, e)
		doc.login("bch-dermatology-doctor")
		doc.get("/oversight")
		dcsrf := csrfField.FindStringSubmatch(doc.last)[1]
		if res := doc.post("/oversight/adverse-events", map[string]string{"csrf": dcsrf, "category": "delayed_referral", "severity": "general",
			"visit_id": fmt.Sprint(vid), "description": "转诊单未及时发出"}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("report: %d %s", res.StatusCode, doc.last)
		}
		doc.get("/oversight")
		if !strings.Contains(doc.last, "延误转诊") || strings.Contains(doc.last, `id="complaint-list"`) {
			t.Fatal("the doctor's page")
		}
		pt = newBrowser(t, e) // the clock moved on: a new session
		pt.login("liming")
		if res := pt.get("/oversight"); res.StatusCode != 403 {
			t.Fatalf("a patient opens 监管事项: %d", res.StatusCode)
		}
		if res := doc.get("/complaints/" + m); res.StatusCode != 404 {
			t.Fatalf("a doctor opens a complaint: %d", res.StatusCode)
		}

		for _, v := range []struct {
			b     *browser
			paths []string
		}{
			{pt, []string{"/complaints", "/complaints/" + m, fmt.Sprintf("/visits/%d/rating", vid), "/me"}},
			{admin, []string{"/oversight", "/complaints/" + m, "/rectifications/" + rid, "/admin/institutions/bch"}},
			{reg, []string{"/oversight", "/regulator", "/rectifications/" + rid, "/complaints/" + m}},
			{doc, []string{"/oversight"}},
		} {
			for _, p := range v.paths {
				for _, lang := range []string{"zh", "en"} {
					sep := "?"
					if strings.Contains(p, "?") {
						sep = "&"
					}
					if res := v.b.get(p + sep + "lang=" + lang); res.StatusCode != 200 {
						t.Fatalf("%s: %d", p, res.StatusCode)
					}
					noRawKeys(t, p, v.b.last)
					if strings.Contains(v.b.last, "oversight.") || strings.Contains(v.b.last, "%!") {
						t.Errorf("%s (%s) shows a raw key or a bad format", p, lang)
					}
				}
			}
		}
	})
}

func regexpFind(pattern, s string) string {
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

// multipartForm is a form's fields and one file as multipart/form-data,
// the fields first.
func multipartForm(t *testing.T, fields map[string]string, fileField, name string, content []byte) (io.Reader, string) {
	t.Helper()
	var b strings.Builder
	const boundary = "oversight-test-boundary"
	for k, v := range fields {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s\r\n", boundary, k, v)
	}
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=%q; filename=%q\r\nContent-Type: application/octet-stream\r\n\r\n", boundary, fileField, name)
	b.Write(content)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return strings.NewReader(b.String()), "multipart/form-data; boundary=" + boundary
}
