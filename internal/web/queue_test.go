package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// family registers a parent (password secret-123) with a child of six and
// returns the parent's token and the child's id.
func (e *env) family(username, child string) (string, int64) {
	e.t.Helper()
	tok, _ := e.register(username, 35)
	r := e.req("POST", "/api/v1/patients", tok, map[string]string{"name": child, "resident_id": newRID(6), "relation": "child"})
	if r.status != 201 {
		e.t.Fatalf("child of %s: %d %s", username, r.status, r.raw)
	}
	return tok, int64(r.body["id"].(float64))
}

// nextLine reads frames until a line frame (or fails after 5 s) and
// returns its position.
func nextLine(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var f map[string]any
		if err := wsjson.Read(ctx, c, &f); err != nil {
			t.Fatalf("waiting for the line: %v", err)
		}
		if f["type"] == "line" {
			return f["data"].(map[string]any)
		}
	}
}

// nextState reads frames until a state frame.
func nextState(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var f map[string]any
		if err := wsjson.Read(ctx, c, &f); err != nil {
			t.Fatalf("waiting for the state: %v", err)
		}
		if f["type"] == "state" {
			return f["state"].(string)
		}
	}
}

// atTime parses a JSON time.
func atTime(t *testing.T, v any) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, fmt.Sprint(v))
	if err != nil {
		t.Fatalf("time %v", v)
	}
	return at
}

// lineSession books four children into one session of 马静怡's skin first
// visits (20 minutes each): 李小雨 1, 李小天 2, two other families' children
// 3 and 4. It returns the tokens of liming and the two families, the
// visits' paths and the session's start.
func (e *env) lineSession() (lm, fa, fb string, paths []string, start time.Time) {
	e.t.Helper()
	lm = e.login("liming")
	kids := e.patientIDs(lm)
	fa, a := e.family("queue-a", "赵小月")
	fb, b := e.family("queue-b", "钱小星")
	slot := e.doctorSlot("bch-skin-fv", "bch", e.login("bch-dermatology-doctor"), nil)
	start = atTime(e.t, slot["start"])
	for i, bk := range []struct {
		tok string
		id  int64
	}{{lm, kids["李小雨"]}, {lm, kids["李小天"]}, {fa, a}, {fb, b}} {
		id := e.bookVisit(bk.tok, bk.id, slot, fmt.Sprint("q", i))
		paths = append(paths, fmt.Sprintf("/api/v1/visits/%.0f", id))
	}
	return lm, fa, fb, paths, start
}

// The visit day: every visit knows its number, its estimated time and how
// many are ahead; the doctor's queue is in number order with who waits,
// who has not done the pre-consultation and the red flags. The doctor
// calls number 1 25 minutes late: the session's times move 25 minutes, the
// families still waiting hear it once (inbox and SMS: "医生接诊延迟，预计就诊
// 时间调整为 HH:MM"), however often the doctor calls after; each waiting
// family's socket hears its new position whenever the line moves. A
// patient not there is called again after the next one, then marked
// no-show.
func TestVisitLineLive(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm, fa, fb, vp, start := e.lineSession()
		var doc string
		// at moves the clock to the session's start + d; everyone logs in
		// again (sessions expire while idle).
		at := func(d time.Duration) {
			e.clock.Set(start.Add(d))
			lm, fa, fb = e.login("liming"), e.login2("queue-a", "secret-123"), e.login2("queue-b", "secret-123")
			doc = e.login("bch-dermatology-doctor")
		}
		at(-10 * time.Minute)
		v := e.req("GET", vp[2], fa, nil)
		if v.body["number"] != 3.0 || !atTime(t, v.body["estimated_at"]).Equal(start.Add(40*time.Minute)) || v.body["slot_id"] == nil ||
			v.body["ahead"] != 2.0 || v.body["expected_wait_minutes"] != 40.0 {
			t.Fatalf("visit 3 before the session: %s", v.raw)
		}
		// 1 with a red flag, 2 and 3 checked in, 1 and 3 waiting; 4 nothing.
		e.upload(lm, vp[0]+"/attachments", "p.png", pngBytes(t))
		if r := e.req("PUT", vp[0]+"/pre-consult", lm, map[string]any{"answers": map[string]any{"site": []string{"face"}, "duration_days": 3,
			"blisters_mucosa": true}}); r.status != 200 {
			t.Fatalf("pre-consult %d %s", r.status, r.raw)
		}
		e.checkIn(lm, vp[1])
		e.checkIn(fa, vp[2])
		for _, p := range []struct{ tok, path string }{{lm, vp[0]}, {fa, vp[2]}} {
			if r := e.req("POST", p.path+"/wait", p.tok, nil); r.status != 200 {
				t.Fatalf("wait %d %s", r.status, r.raw)
			}
		}
		q := e.req("GET", "/api/v1/doctor/queue?day="+start.In(dates.Beijing).Format(dates.Layout), doc, nil)
		rows := q.body["visits"].([]any)
		if len(rows) != 4 {
			t.Fatalf("queue %s", q.raw)
		}
		for i, r := range rows {
			row := r.(map[string]any)
			if row["number"] != float64(i+1) || !atTime(t, row["estimated_at"]).Equal(start.Add(time.Duration(i)*20*time.Minute)) ||
				row["waiting_now"] != (i == 0 || i == 2) || row["pre_consult_done"] != (i < 3) || (len(row["flags"].([]any)) > 0) != (i == 0) {
				t.Fatalf("queue row %d: %v", i, row)
			}
		}
		// The doctor's page shows the same.
		b := newBrowser(t, e)
		b.login("bch-dermatology-doctor")
		b.get("/doctor?day=" + start.In(dates.Beijing).Format(dates.Layout))
		if !strings.Contains(b.last, `data-number="3"`) || !strings.Contains(b.last, "未填预问诊") || !strings.Contains(b.last, "waiting-now") {
			t.Fatalf("doctor page %s", b.last)
		}

		// Family A waits in the waiting room, its socket open.
		ws := wsDialPath(t, e, fa, vp[2])
		defer ws.Close(websocket.StatusNormalClosure, "")
		if p := nextLine(t, ws); p["ahead"] != 2.0 || p["number"] != 3.0 {
			t.Fatalf("first line frame %v", p)
		}
		// The doctor calls 1 in 25 minutes late.
		at(25 * time.Minute)
		if r := e.req("POST", vp[0]+"/start", doc, nil); r.status != 200 {
			t.Fatalf("start 1: %d %s", r.status, r.raw)
		}
		p := nextLine(t, ws)
		moved := start.Add(65 * time.Minute) // 3 planned at +40, 25 late
		if p["ahead"] != 2.0 || p["expected_wait_minutes"] != 40.0 || !atTime(t, p["estimated_at"]).Equal(moved) {
			t.Fatalf("after 1 was called in: %v", p)
		}
		late := "第 3 号，医生接诊延迟，预计就诊时间调整为 " + moved.In(dates.Beijing).Format("15:04")
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", fa, nil).raw), late) {
			t.Fatalf("family A was not told %q", late)
		}
		// 1 done at +35: 3 has 1 ahead (2, checked in), 20 minutes.
		at(35 * time.Minute)
		if r := e.req("POST", vp[0]+"/complete", doc, map[string]any{"chief_complaint": "面部红斑 3 天", "present_illness": "3 天前面部出现红斑",
			"diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "外用保湿，一周后复诊"}); r.status != 200 {
			t.Fatalf("complete 1: %d %s", r.status, r.raw)
		}
		if p := nextLine(t, ws); p["ahead"] != 1.0 || p["expected_wait_minutes"] != 20.0 {
			t.Fatalf("after 1 ended: %v", p)
		}
		// 2 called in at +50, later still: nobody is told twice.
		at(50 * time.Minute)
		if r := e.req("POST", vp[1]+"/start", doc, nil); r.status != 200 {
			t.Fatalf("start 2: %d %s", r.status, r.raw)
		}
		if p := nextLine(t, ws); p["ahead"] != 1.0 || !atTime(t, p["estimated_at"]).Equal(start.Add(70*time.Minute)) {
			t.Fatalf("after 2 was called in: %v", p)
		}
		for who, tok := range map[string]string{"A": fa, "B": fb} {
			if n := strings.Count(string(e.req("GET", "/api/v1/notifications", tok, nil).raw), "医生接诊延迟"); n != 1 {
				t.Fatalf("family %s told %d times", who, n)
			}
		}
		e.s.bg.Wait()
		sms := string(e.req("GET", "/api/v1/sandbox/sms", e.login("admin"), nil).raw)
		if n := strings.Count(sms, "医生接诊延迟"); n != 3 { // liming (for 2) and families A and B, once each
			t.Fatalf("%d late texts: %s", n, sms)
		}
		if r := e.req("GET", vp[1], lm, nil); r.body["ahead"] != nil {
			t.Fatalf("a visit in progress has no place in the line: %s", r.raw)
		}

		// 3 is not there when called: behind 4, told; a repeated click on the
		// same call counts once (the second is the last call: the no-show).
		r := e.req("POST", vp[2]+"/skip", doc, nil)
		if r.status != 200 || r.body["state"] != "waiting" || r.body["calls"] != 1.0 || r.body["ahead"] != 2.0 {
			t.Fatalf("skip 3: %d %s", r.status, r.raw)
		}
		if p := nextLine(t, ws); p["ahead"] != 2.0 {
			t.Fatalf("after 3 missed its call: %v", p)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", fa, nil).raw), "医生呼叫时您不在") {
			t.Fatal("family A was not told of the missed call")
		}
		if r := e.req("POST", vp[2]+"/skip", fa, nil); r.status != 403 {
			t.Fatalf("a patient skips: %d", r.status)
		}
		// 4 (not checked in) is not there either: behind 3.
		at(51 * time.Minute)
		if r := e.req("POST", vp[3]+"/skip", doc, nil); r.status != 200 || r.body["state"] != "booked" || r.body["ahead"] != 2.0 {
			t.Fatalf("skip 4: %d %s", r.status, r.raw)
		}
		if p := nextLine(t, ws); p["ahead"] != 1.0 {
			t.Fatalf("3 is next after 4 missed its call: %v", p)
		}
		// Called a second time, 3 is still not there: no-show.
		if r := e.req("POST", vp[2]+"/skip", doc, nil); r.status != 200 || r.body["state"] != "no_show" {
			t.Fatalf("second call of 3: %d %s", r.status, r.raw)
		}
		if st := nextState(t, ws); st != "no_show" {
			t.Fatalf("the socket heard %s", st)
		}
		if r := e.req("POST", vp[2]+"/skip", doc, nil); r.status != 409 || r.errCode() != "visit_illegal_step" {
			t.Fatalf("skip a no-show: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", vp[3], fb, nil); r.body["ahead"] != 1.0 || r.body["calls"] != 1.0 {
			t.Fatalf("4 after 3's no-show: %s", r.raw)
		}
		var skips int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM visit_steps WHERE action = 'skip'`).Scan(&skips)
		if skips != 2 {
			t.Fatalf("%d skips recorded", skips)
		}
	})
}

// wsDialPath opens a visit's socket by its API path.
func wsDialPath(t *testing.T, e *env, token, vpath string) *websocket.Conn {
	t.Helper()
	var id float64
	fmt.Sscanf(vpath, "/api/v1/visits/%f", &id)
	return wsDial(t, e, token, id, 0)
}

// Reminders go half an hour before each visit's estimated time, with its
// number: number 2 of a session of 20-minute visits 20 minutes after 1.
func TestVisitRemindersByNumber(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, _, _, _, start := e.lineSession()
		remind := func(at time.Time) {
			t.Helper()
			e.clock.Set(at)
			if err := e.s.SendReminders(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		inbox := func() string {
			return string(e.req("GET", "/api/v1/notifications", e.login("liming"), nil).raw)
		}
		remind(start.Add(-25 * time.Minute))
		at1, at2 := start.In(dates.Beijing).Format("15:04"), start.Add(20*time.Minute).In(dates.Beijing).Format("15:04")
		if in := inbox(); !strings.Contains(in, "第 1 号，预计今天 "+at1) || strings.Contains(in, "第 2 号，预计今天") {
			t.Fatalf("at -25 min: %s", in)
		}
		remind(start.Add(-5 * time.Minute))
		if in := inbox(); !strings.Contains(in, "第 2 号，预计今天 "+at2) || strings.Count(in, "问诊提醒") != 2 {
			t.Fatalf("at -5 min: %s", in)
		}
	})
}

// Two servers over one PostgreSQL database: the doctor calls a visit in on
// one, the family of the next waits on the other, and hears its new place
// at once (the line's frame crosses through LISTEN/NOTIFY).
func TestVisitLineAcrossServers(t *testing.T) {
	db := sqltest.Open(t, sqlstore.Postgres)
	e := newEnv(t, db, relaxed)
	other := newEnv(t, db, relaxed)
	lm, _, _, vp, start := e.lineSession()
	e.clock.Set(start.Add(25 * time.Minute))
	other.clock.Set(start.Add(25 * time.Minute))
	lm = e.login("liming")
	e.checkIn(lm, vp[0])
	e.checkIn(lm, vp[1])
	e.req("POST", vp[1]+"/wait", lm, nil)
	ws := wsDialPath(t, e, lm, vp[1])
	defer ws.Close(websocket.StatusNormalClosure, "")
	if p := nextLine(t, ws); p["ahead"] != 1.0 {
		t.Fatalf("first frame %v", p)
	}
	if r := other.req("POST", vp[0]+"/start", other.login("bch-dermatology-doctor"), nil); r.status != 200 {
		t.Fatalf("start on the other server %d %s", r.status, r.raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var f map[string]any
		if err := wsjson.Read(ctx, ws, &f); err != nil {
			t.Fatalf("no line frame from the other server: %v", err)
		}
		if f["type"] == "line" {
			var p map[string]any
			b, _ := json.Marshal(f["data"])
			json.Unmarshal(b, &p)
			if p["ahead"] == 1.0 && atTime(t, p["estimated_at"]).Equal(start.Add(45*time.Minute)) {
				return // 1 in progress ahead of 2, 25 minutes late
			}
		}
	}
}
