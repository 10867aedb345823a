package web

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// dashSlots are n bookable slots of 北京儿童医院's skin first visits with the
// doctor's account, on n different days (a patient books one a day).
func (e *env) dashSlots(doc string, n int) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	days := map[string]bool{}
	skip := map[float64]bool{}
	for len(out) < n {
		s := e.doctorSlot("bch-skin-fv", "bch", doc, skip)
		skip[s["id"].(float64)] = true
		if !days[s["day"].(string)] {
			days[s["day"].(string)] = true
			out = append(out, s)
		}
	}
	return out
}

// dashVisit books a skin first visit of liming's child in slot, fills its
// pre-consultation and takes it to the waiting room; the doctor calls it
// in after wait.
func (e *env) dashVisit(lm, doc, child string, slot map[string]any, wait time.Duration) string {
	e.t.Helper()
	id := e.bookVisit(lm, e.patientIDs(lm)[child], slot, "dash-"+child+fmt.Sprint(slot["id"]))
	vpath := fmt.Sprintf("/api/v1/visits/%.0f", id)
	e.upload(lm, vpath+"/attachments", "p.png", pngBytes(e.t))
	if r := e.req("PUT", vpath+"/pre-consult", lm, map[string]any{"answers": map[string]any{"site": []string{"face"}, "duration_days": 3,
		"drug_allergies": "无", "weight_kg": 16}}); r.status != 200 {
		e.t.Fatalf("pre-consult %d %s", r.status, r.raw)
	}
	if r := e.req("POST", vpath+"/wait", lm, nil); r.status != 200 {
		e.t.Fatalf("wait %d %s", r.status, r.raw)
	}
	e.clock.Add(wait)
	if r := e.req("POST", vpath+"/start", doc, nil); r.status != 200 {
		e.t.Fatalf("start %d %s", r.status, r.raw)
	}
	return vpath
}

// num reads a number at a path of a JSON object ("overall.total.visits").
func num(t *testing.T, m map[string]any, path string) float64 {
	t.Helper()
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object at %s", path, k)
		}
		cur = obj[k]
	}
	f, ok := cur.(float64)
	if !ok {
		t.Fatalf("%s is %v", path, cur)
	}
	return f
}

// institutionFigures is one institution's figures of a dashboard.
func institutionFigures(t *testing.T, d map[string]any, code string) map[string]any {
	t.Helper()
	for _, it := range d["institutions"].([]any) {
		if f := it.(map[string]any); f["institution"] == code {
			return f
		}
	}
	return map[string]any{"total": map[string]any{}}
}

func countOf(list any, code string) float64 {
	l, _ := list.([]any)
	for _, it := range l {
		if c := it.(map[string]any); c["code"] == code {
			return c["n"].(float64)
		}
	}
	return 0
}

// The dashboard's figures (issue 13, V-4, N-22) come from what happened,
// through the APIs: three first visits at 北京儿童医院, one completed after
// 5 minutes in the waiting room and 10 with the doctor, with a prescription
// rejected (用法、用量不适宜), revised and approved, rated 4; one terminated
// (needs_exam, needs_tests) after 2 and 3 minutes; one no-show; a
// complaint and a serious adverse event, both overdue once their deadlines
// pass. The regulator sees them per institution and overall, the waiting
// and talk times' p50/p90 by nearest rank; the quality staff their own
// institution's only; per-doctor prescribing (N-15) is shown to them and
// audited; anyone else is refused.
func TestDashboardFigures(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		reg, lm, doc := e.login("regulator"), e.login("liming"), e.login("bch-dermatology-doctor")
		today := e.clock.Now().In(dates.Beijing)
		from, to := today.Format(dates.Layout), today.AddDate(0, 0, 8).Format(dates.Layout)
		q := "/api/v1/oversight/dashboard?from=" + from + "&to=" + to + "&by=day"
		before := e.req("GET", q+"&institution=bch", reg, nil)
		if before.status != 200 {
			t.Fatalf("dashboard %d %s", before.status, before.raw)
		}
		b := before.body["overall"].(map[string]any)
		slots := e.dashSlots(doc, 2)

		// A: completed, with a prescription rejected then approved, rated 4.
		ibu := drugCode(t, "ibuprofen", "oral", true)
		cetirizine := drugCode(t, "cetirizine", "oral", false)
		e.stock("bch", true, ibu, cetirizine)
		va := e.dashVisit(lm, doc, "李小天", slots[0], 5*time.Minute)
		if r := e.req("POST", va+"/messages", lm, map[string]any{"kind": "text", "text": "孩子脸上起了红疹", "client_id": "m1"}); r.status != 201 {
			t.Fatalf("message %d %s", r.status, r.raw)
		}
		body := map[string]any{"items": []any{item(ibu, 150, "mg", "tid", 3, 1), item(cetirizine, 2.5, "mg", "qd", 5, 1)}, "diagnoses": []string{"L20.9"},
			"weight_kg": 16, "confirm": []string{"under-6-accompanied"}}
		v1 := e.req("POST", va+"/prescriptions", doc, body)
		if v1.status != 201 {
			t.Fatalf("prescribe %d %s", v1.status, v1.raw)
		}
		ph := e.login("bch-pharmacist")
		if r := e.req("POST", fmt.Sprintf("/api/v1/prescriptions/%.0f/review", v1.body["id"]), ph, map[string]any{"decision": "reject",
			"reasons": []string{"dose"}}); r.status != 200 {
			t.Fatalf("reject %d %s", r.status, r.raw)
		}
		body["revises"] = v1.body["id"]
		v2 := e.req("POST", va+"/prescriptions", doc, body)
		if v2.status != 201 {
			t.Fatalf("revise %d %s", v2.status, v2.raw)
		}
		if r := e.req("POST", fmt.Sprintf("/api/v1/prescriptions/%.0f/review", v2.body["id"]), ph, map[string]any{"decision": "approve"}); r.status != 200 {
			t.Fatalf("approve %d %s", r.status, r.raw)
		}
		e.clock.Add(10 * time.Minute)
		if r := e.req("POST", va+"/complete", doc, map[string]any{"chief_complaint": "皮疹", "present_illness": "3 天",
			"diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "保湿"}); r.status != 200 {
			t.Fatalf("complete %d %s", r.status, r.raw)
		}
		if r := e.req("POST", va+"/rating", lm, map[string]any{"score": 4, "comment": "医生很耐心"}); r.status != 201 {
			t.Fatalf("rate %d %s", r.status, r.raw)
		}
		// B: terminated and referred offline (V-3).
		vb := e.dashVisit(lm, doc, "李小雨", slots[0], 2*time.Minute)
		e.clock.Add(3 * time.Minute)
		if r := e.req("POST", vb+"/terminate", doc, map[string]any{"reasons": []string{"needs_exam", "needs_tests"}, "note": "需皮肤镜",
			"referral": map[string]string{"department": "dermatology", "urgency": "soon", "advice": "三天内到皮肤科门诊"}}); r.status != 200 {
			t.Fatalf("terminate %d %s", r.status, r.raw)
		}
		// A complaint (N-21) and a serious adverse event (V-4).
		if r := e.req("POST", "/api/v1/complaints", lm, map[string]any{"institution": "bch", "visit_id": visitID(va), "category": "waiting",
			"text": "候诊时间较长"}); r.status != 201 {
			t.Fatalf("complaint %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/adverse-events", doc, map[string]any{"category": "medication_error", "severity": "serious",
			"description": "处方剂量需按体重调整"}); r.status != 201 {
			t.Fatalf("adverse event %d %s", r.status, r.raw)
		}
		// C: nobody came.
		vc := e.bookVisit(lm, e.patientIDs(lm)["李小天"], slots[1], "dash-c")
		start, _ := time.Parse(time.RFC3339, slots[1]["start"].(string))
		e.clock.Set(start.Add(16 * time.Minute))
		doc = e.login("bch-dermatology-doctor")
		if r := e.req("POST", fmt.Sprintf("/api/v1/visits/%.0f/no-show", vc), doc, nil); r.status != 200 {
			t.Fatalf("no-show %d %s", r.status, r.raw)
		}
		// A week later every deadline of the case has passed.
		e.clock.Set(today.AddDate(0, 0, 9))
		reg = e.login("regulator")

		after := e.req("GET", q+"&institution=bch", reg, nil)
		if after.status != 200 {
			t.Fatalf("dashboard %d %s", after.status, after.raw)
		}
		a := after.body["overall"].(map[string]any)
		for path, delta := range map[string]float64{"total.visits": 3, "total.first_visits": 3, "total.completed": 1, "total.terminated": 1,
			"total.no_shows": 1, "total.first_visits_ended": 2, "total.first_visits_terminated": 1, "total.prescriptions_reviewed": 2,
			"total.prescriptions_rejected": 1, "total.ratings": 1, "total.complaints": 1, "total.complaints_open": 1, "total.complaints_overdue": 1,
			"total.adverse_events": 1, "total.adverse_events_open": 1, "total.adverse_events_overdue": 1, "ratings_by_score.3": 1} {
			if path == "ratings_by_score.3" {
				if got := a["ratings_by_score"].([]any)[3].(float64) - b["ratings_by_score"].([]any)[3].(float64); got != delta {
					t.Errorf("4-star ratings +%v, want +%v", got, delta)
				}
				continue
			}
			if got := num(t, a, path) - num(t, b, path); got != delta {
				t.Errorf("%s: +%v, want +%v", path, got, delta)
			}
		}
		bt, at := b["total"].(map[string]any), a["total"].(map[string]any)
		wantRate := func(n, of float64) float64 { return float64(int(n/of*10000+0.5)) / 10000 }
		if got, want := at["first_visit_termination_rate"], wantRate(num(t, bt, "first_visits_terminated")+1, num(t, bt, "first_visits_ended")+2); got != want {
			t.Errorf("termination rate %v, want %v", got, want)
		}
		if got, want := at["prescription_rejection_rate"], wantRate(num(t, bt, "prescriptions_rejected")+1, num(t, bt, "prescriptions_reviewed")+2); got != want {
			t.Errorf("rejection rate %v, want %v", got, want)
		}
		if num(t, bt, "waits") == 0 && num(t, bt, "ratings") == 0 {
			// Only this test's visits in the range: 2 and 5 minutes' wait,
			// 3 and 10 minutes' talk; p50 is the first of two, p90 the second.
			for k, want := range map[string]float64{"waits": 2, "wait_p50_seconds": 120, "wait_p90_seconds": 300, "talks": 2, "talk_p50_seconds": 180,
				"talk_p90_seconds": 600, "satisfaction": 4} {
				if at[k] != want {
					t.Errorf("%s = %v, want %v", k, at[k], want)
				}
			}
		} else {
			t.Errorf("the range holds visits of other tests or of the demo: %s", before.raw)
		}
		for _, c := range []struct {
			list, code string
			delta      float64
		}{{"termination_reasons", "needs_exam", 1}, {"termination_reasons", "needs_tests", 1}, {"rejection_reasons", "dose", 1},
			{"by_kind", "first_visit", 3}, {"by_department", "dermatology", 3}} {
			if got := countOf(a[c.list], c.code) - countOf(b[c.list], c.code); got != c.delta {
				t.Errorf("%s %s: +%v, want +%v", c.list, c.code, got, c.delta)
			}
		}
		if !strings.Contains(string(after.raw), `"name":"用法、用量不适宜"`) || !strings.Contains(string(after.raw), `"name":"需要线下体格检查"`) {
			t.Errorf("reasons without their names: %s", after.raw)
		}
		// The day of A and B holds both.
		day := slots[0]["day"].(string)
		for _, p := range a["periods"].([]any) {
			if pm := p.(map[string]any); pm["period"] == day && pm["first_visits_ended"].(float64) < 2 {
				t.Errorf("the day %s: %v", day, pm)
			}
		}
		// Overall: the same institution among all, added into the total.
		all := e.req("GET", q, reg, nil)
		if all.status != 200 {
			t.Fatalf("overall %d %s", all.status, all.raw)
		}
		bch := institutionFigures(t, all.body, "bch")
		if num(t, bch, "total.visits") != num(t, a, "total.visits") || num(t, bch, "total.talk_p90_seconds") != num(t, a, "total.talk_p90_seconds") ||
			num(t, all.body, "overall.total.visits") < num(t, a, "total.visits") || bch["name"] != "北京儿童医院" {
			t.Errorf("bch among all: %v", bch["total"])
		}
		// N-15: the doctor's prescribing, for the regulator and bch's quality staff.
		docs, _ := after.body["doctors"].([]any)
		found := false
		for _, d := range docs {
			if m := d.(map[string]any); m["doctor_name"] == "马静怡" || m["rejected"].(float64) >= 1 {
				found = m["prescriptions"].(float64) >= 2 && m["rejected"].(float64) >= 1
			}
		}
		if !found {
			t.Errorf("per-doctor prescribing: %v", after.body["doctors"])
		}
		qual := e.login("bch-quality")
		own := e.req("GET", "/api/v1/oversight/dashboard?from="+from+"&to="+to, qual, nil)
		if own.status != 200 || own.body["institution"] != "bch" || own.body["doctors"] == nil || own.body["visits"] != nil {
			t.Fatalf("the quality staff's own: %d %.300s", own.status, own.raw)
		}
		for who, path := range map[string]string{"bch-quality": q + "&institution=ccmc", "bch-admin": q, "bch-dermatology-doctor": q, "liming": q,
			"ccmc-quality": q + "&institution=bch"} {
			if r := e.req("GET", path, e.login(who), nil); r.status != 403 {
				t.Errorf("%s: %d", who, r.status)
			}
		}
		for _, bad := range []string{"&from=2026-13-01", "&by=year", "&from=" + to + "&to=" + from, "&from=2020-01-01&to=2022-01-01"} {
			if r := e.req("GET", "/api/v1/oversight/dashboard?x=1"+bad, reg, nil); r.status != 400 {
				t.Errorf("%s: %d %s", bad, r.status, r.raw)
			}
		}
		var n int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'prescribing_stats.read' AND detail LIKE 'dashboard%'`).Scan(&n)
		if n != 4 { // the regulator's three dashboards, bch-quality's one
			t.Errorf("%d per-doctor queries audited, want 4", n)
		}
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'oversight.dashboard.denied'`).Scan(&n)
		if n != 5 {
			t.Errorf("%d refusals audited, want 5", n)
		}
		// The visits to drill into: A (a rejected prescription) and B (terminated).
		ids := map[float64]bool{}
		for _, v := range after.body["visits"].([]any) {
			ids[v.(map[string]any)["id"].(float64)] = true
		}
		if !ids[float64(visitID(va))] || !ids[float64(visitID(vb))] {
			t.Errorf("visits to drill into: %v", after.body["visits"])
		}
	})
}

// N-22: the regulator drills down from the dashboard to one visit — its
// record, prescriptions and chat metadata, never the chat's text nor the
// patient's identity — only with a reason, which the audit log keeps with
// the access; nobody else may.
func TestDashboardDrillDownAudited(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, doc, lm := e.rxVisit("李小雨", nil)
		if r := e.req("POST", vpath+"/messages", lm, map[string]any{"kind": "text", "text": "孩子脸上起了红疹", "client_id": "m1"}); r.status != 201 {
			t.Fatalf("message %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/complete", doc, map[string]any{"chief_complaint": "面颊红疹", "present_illness": "3 天",
			"diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "保湿"}); r.status != 200 {
			t.Fatalf("complete %d %s", r.status, r.raw)
		}
		id := visitID(vpath)
		path := fmt.Sprintf("/api/v1/oversight/visits/%d/inspect", id)
		reg := e.login("regulator")
		if r := e.req("POST", path, reg, map[string]any{"reason": "  "}); r.status != 400 || r.fieldCodes()["reason"] != "required" {
			t.Fatalf("no reason: %d %s", r.status, r.raw)
		}
		for _, who := range []string{"bch-quality", "bch-admin", "liming"} {
			if r := e.req("POST", path, e.login(who), map[string]any{"reason": "看看"}); r.status != 403 {
				t.Fatalf("%s: %d", who, r.status)
			}
		}
		r := e.req("POST", path, reg, map[string]any{"reason": "核查首诊质量：皮肤科抽查"})
		if r.status != 200 {
			t.Fatalf("inspect %d %s", r.status, r.raw)
		}
		chat := r.body["chat"].(map[string]any)
		if recs := r.body["records"].([]any); len(recs) != 1 || recs[0].(map[string]any)["chief_complaint"] != "面颊红疹" || chat["messages"].(float64) < 1 ||
			r.body["visit"].(map[string]any)["kind"] != "first_visit" || r.body["reason"] != "核查首诊质量：皮肤科抽查" {
			t.Fatalf("the visit: %s", r.raw)
		}
		for _, hidden := range []string{"孩子脸上起了红疹", "李小雨", "patient_name\":\"李"} {
			if strings.Contains(string(r.raw), hidden) {
				t.Fatalf("the drill-down shows %q: %s", hidden, r.raw)
			}
		}
		if r := e.req("POST", "/api/v1/oversight/visits/999999/inspect", reg, map[string]any{"reason": "x"}); r.status != 404 {
			t.Fatalf("a visit that does not exist: %d", r.status)
		}
		var detail, inst string
		if err := e.db.Writer().QueryRow(`SELECT detail, institution FROM audit_log WHERE action = 'oversight.visit.inspect' AND object_id = $1`,
			fmt.Sprint(id)).Scan(&detail, &inst); err != nil || detail != "核查首诊质量：皮肤科抽查" || inst != "bch" {
			t.Fatalf("audit: %q %q %v", detail, inst, err)
		}
		var n int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'oversight.visit.inspect.denied'`).Scan(&n)
		if n != 3 {
			t.Fatalf("%d refusals audited", n)
		}

		// The pages: the reason first, then the visit.
		br := newBrowser(t, e)
		br.login("regulator")
		br.get(fmt.Sprintf("/oversight/visits/%d", id))
		csrf := csrfField.FindStringSubmatch(br.last)[1]
		if res := br.post(fmt.Sprintf("/oversight/visits/%d", id), map[string]string{"csrf": csrf, "reason": ""}); res.StatusCode != 400 ||
			!strings.Contains(br.last, `data-field="reason"`) {
			t.Fatalf("no reason on the page: %d", res.StatusCode)
		}
		if res := br.post(fmt.Sprintf("/oversight/visits/%d", id), map[string]string{"csrf": csrf, "reason": "复核投诉"}); res.StatusCode != 200 ||
			!strings.Contains(br.last, "面颊红疹") || !strings.Contains(br.last, `id="chat-count">1<`) || strings.Contains(br.last, "孩子脸上起了红疹") {
			t.Fatalf("the visit's page: %d %s", res.StatusCode, br.last)
		}
		br.get("/oversight/dashboard")
		if !strings.Contains(br.last, `<svg class="chart"`) || !strings.Contains(br.last, `id="all-termination"`) {
			t.Fatalf("the dashboard page: %s", br.last)
		}
		q := newBrowser(t, e)
		q.login("bch-quality")
		q.get("/oversight/dashboard")
		if !strings.Contains(q.last, `id="doctor-list"`) || strings.Contains(q.last, `id="visit-list"`) {
			t.Fatalf("the quality staff's page: %s", q.last)
		}
		if res := q.get(fmt.Sprintf("/oversight/visits/%d", id)); res.StatusCode != 403 {
			t.Fatalf("the quality staff open a visit: %d", res.StatusCode)
		}
	})
}

// G-4: a bulletin is drafted for a month (one a period), its commentary
// edited (a PUT leaving a field out is refused), published — then it
// never changes: edits and a second publication are refused with a clear
// error, and its figures stay as they were while the data moves on (a
// rating that comes later). A
// published bulletin is public (list, page, HTML and PDF with its charts);
// a draft is the regulator's alone.
func TestBulletinLifecycle(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, _, lm := e.completedVisit("李小雨")
		reg := e.login("regulator")
		// The month of the visit's day (a visit counts on its day).
		start := jsonTime(t, e.req("GET", vpath, lm, nil).body["start"])
		if start.After(e.clock.Now()) { // a month not begun has no bulletin yet: on to the visit's day
			e.clock.Set(start.Add(time.Hour))
			reg, lm = e.login("regulator"), e.login("liming")
		}
		now := start.In(dates.Beijing)
		in := map[string]any{"period": "month", "year": now.Year(), "number": int(now.Month())}
		for _, bad := range []map[string]any{{"period": "week"}, {"period": "month", "year": now.Year(), "number": 13},
			{"period": "quarter", "year": now.Year() + 1, "number": 1}} {
			if r := e.req("POST", "/api/v1/oversight/bulletins", reg, bad); r.status != 400 {
				t.Fatalf("%v: %d %s", bad, r.status, r.raw)
			}
		}
		if r := e.req("POST", "/api/v1/oversight/bulletins", e.login("bch-quality"), in); r.status != 403 {
			t.Fatalf("quality staff draft: %d", r.status)
		}
		d := e.req("POST", "/api/v1/oversight/bulletins", reg, in)
		if d.status != 201 || d.body["state"] != "draft" || d.body["label"] != now.Format("2006-01") ||
			!strings.Contains(d.body["title"].(string), fmt.Sprintf("%d年%d月", now.Year(), int(now.Month()))) {
			t.Fatalf("draft %d %s", d.status, d.raw)
		}
		if r := e.req("POST", "/api/v1/oversight/bulletins", reg, in); r.status != 409 || r.errCode() != "bulletin_exists" {
			t.Fatalf("a second of the month: %d %s", r.status, r.raw)
		}
		bpath := fmt.Sprintf("/api/v1/oversight/bulletins/%.0f", d.body["id"])
		if r := e.req("GET", bpath, "", nil); r.status != 404 {
			t.Fatalf("a draft read by the public: %d", r.status)
		}
		if r := e.req("GET", "/api/v1/oversight/bulletins", "", nil); r.status != 200 || len(r.items()) != 0 {
			t.Fatalf("the public list holds a draft: %s", r.raw)
		}
		if r := e.req("POST", bpath+"/publish", reg, nil); r.status != 400 || r.fieldCodes()["commentary"] != "required" {
			t.Fatalf("published without commentary: %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", bpath, reg, map[string]any{"commentary": "只有意见"}); r.status != 400 || r.fieldCodes()["title"] != "required" {
			t.Fatalf("a PUT without the title: %d %s", r.status, r.raw)
		}
		commentary := "本月首诊终止率总体平稳。\n请各机构加强候诊管理。"
		if r := e.req("PUT", bpath, reg, map[string]any{"title": "北京市互联网诊疗服务质量评价通报（测试）", "commentary": commentary}); r.status != 200 ||
			r.body["commentary"] != commentary {
			t.Fatalf("edit %d %s", r.status, r.raw)
		}
		p := e.req("POST", bpath+"/publish", reg, nil)
		if p.status != 200 || p.body["state"] != "published" || p.body["published_at"] == nil {
			t.Fatalf("publish %d %s", p.status, p.raw)
		}
		ratings := num(t, p.body, "figures.overall.total.ratings")
		completed := num(t, p.body, "figures.overall.total.completed")
		if completed < 1 {
			t.Fatalf("the month's figures lack the completed visit: %.400s", p.raw)
		}
		// Immutable: edits and a second publication refused, clearly.
		r := e.req("PUT", bpath, reg, map[string]any{"title": "改", "commentary": "改"})
		if r.status != 409 || r.errCode() != "bulletin_published" || !strings.Contains(r.errMessage(), "已发布") {
			t.Fatalf("an edit after publication: %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", bpath, reg, map[string]any{"title": "x", "commentary": "x"}, "Accept-Language", "en"); !strings.Contains(r.errMessage(), "cannot be changed") {
			t.Fatalf("in English: %s", r.raw)
		}
		if r := e.req("POST", bpath+"/publish", reg, nil); r.status != 409 || r.errCode() != "bulletin_published" {
			t.Fatalf("published twice: %d %s", r.status, r.raw)
		}
		// The data moves on (the visit is rated); the bulletin does not.
		if r := e.req("POST", vpath+"/rating", lm, map[string]any{"score": 5}); r.status != 201 {
			t.Fatalf("rate %d %s", r.status, r.raw)
		}
		pub := e.req("GET", bpath, "", nil)
		if pub.status != 200 || num(t, pub.body, "figures.overall.total.ratings") != ratings || pub.body["commentary"] != commentary {
			t.Fatalf("the published bulletin changed: %d %.400s", pub.status, pub.raw)
		}
		month := e.req("GET", "/api/v1/oversight/dashboard?from="+d.body["from"].(string)+"&to="+d.body["to"].(string), reg, nil)
		if num(t, month.body, "overall.total.ratings") != ratings+1 {
			t.Fatalf("the dashboard does not see the new rating: %.300s", month.raw)
		}
		if r := e.req("GET", "/api/v1/oversight/bulletins", "", nil); r.status != 200 || len(r.items()) != 1 {
			t.Fatalf("the public list: %s", r.raw)
		}
		// HTML and PDF in the style of the monitoring report, with the charts.
		h := e.req("GET", bpath+"?format=html", "", nil)
		for _, want := range []string{"北京市互联网诊疗服务质量评价通报（测试）", "北京市卫生健康委员会", `<svg class="chart"`, "一、全市总体情况", "三、首诊质量指标",
			"请各机构加强候诊管理。", "北京儿童医院"} {
			if h.status != 200 || !strings.Contains(string(h.raw), want) {
				t.Fatalf("html lacks %q: %d", want, h.status)
			}
		}
		if r := e.req("GET", bpath+"?format=docx", "", nil); r.status != 400 {
			t.Fatalf("an unknown format: %d", r.status)
		}
		pdf := e.req("GET", bpath+"?format=pdf", "", nil)
		switch {
		case pdf.status == 503 && pdf.errCode() == "pdf_font_missing" && os.Getenv("CI") == "":
			t.Log("no CJK font installed: the PDF not checked")
		case pdf.status != 200 || !strings.HasPrefix(string(pdf.raw), "%PDF") || pdf.header.Get("Content-Type") != "application/pdf":
			t.Fatalf("pdf %d %.200s", pdf.status, pdf.raw)
		default:
			if bin, err := exec.LookPath("pdftotext"); err == nil {
				f := t.TempDir() + "/b.pdf"
				os.WriteFile(f, pdf.raw, 0o644)
				out, err := exec.Command(bin, f, "-").Output()
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{"北京市互联网诊疗服务质量评价通报（测试）", "北京市卫生健康委员会", "一、全市总体情况", "首诊终止率", "五、监管意见",
					"请各机构加强候诊管理。", "北京儿童医院"} {
					if !strings.Contains(string(out), want) {
						t.Fatalf("pdftotext lacks %q:\n%s", want, out)
					}
				}
			} else if os.Getenv("CI") != "" {
				t.Fatal("pdftotext (poppler-utils) is needed to check the PDF")
			}
		}
		// The pages: public, the regulator's edit form gone once published.
		anon := newBrowser(t, e)
		anon.get("/bulletins")
		if !strings.Contains(anon.last, fmt.Sprintf(`href="/bulletins/%.0f"`, d.body["id"])) {
			t.Fatalf("the public list page: %s", anon.last)
		}
		if res := anon.get(fmt.Sprintf("/bulletins/%.0f", d.body["id"])); res.StatusCode != http.StatusOK || !strings.Contains(anon.last, `<svg class="chart"`) ||
			!strings.Contains(anon.last, "请各机构加强候诊管理。") || strings.Contains(anon.last, `id="bulletin-edit"`) {
			t.Fatalf("the public page: %d", res.StatusCode)
		}
		anon.get("/directory")
		if !strings.Contains(anon.last, `href="/bulletins"`) {
			t.Fatal("the directory does not lead to the bulletins")
		}
		for _, action := range []string{"bulletin.draft", "bulletin.edit", "bulletin.publish"} {
			var n int
			e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = $1 AND object_id = $2`, action, fmt.Sprintf("%.0f", d.body["id"])).Scan(&n)
			if n != 1 {
				t.Errorf("%s audited %d times", action, n)
			}
		}
		// A quarter's draft through the page; the last complete one by default.
		br := newBrowser(t, e)
		br.login("regulator")
		br.get("/bulletins")
		csrf := csrfField.FindStringSubmatch(br.last)[1]
		if res := br.post("/bulletins", map[string]string{"csrf": csrf, "period": "quarter"}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("draft a quarter: %d %s", res.StatusCode, br.last)
		}
		if res := br.post("/bulletins", map[string]string{"csrf": csrf, "period": "quarter"}); res.StatusCode != http.StatusConflict ||
			!strings.Contains(br.last, "已存在") {
			t.Fatalf("the same quarter again: %d", res.StatusCode)
		}
	})
}
