package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/dates"
)

// The retention periods are data (N-17): the three operators read them,
// the security administrator alone changes them, never below the legal
// minimum and never purging the visit records or the audit log; every
// change is audited.
func TestRetentionPoliciesN17(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		sec := e.login("secadmin")
		for _, u := range []string{"admin", "secadmin", "auditor"} {
			r := e.req("GET", "/api/v1/retention", e.login(u), nil)
			if r.status != 200 {
				t.Fatalf("%s reads: %d %s", u, r.status, r.raw)
			}
			got := map[string]string{}
			for _, p := range r.body["policies"].([]any) {
				m := p.(map[string]any)
				got[m["type"].(string)] = fmt.Sprintf("%v/%v/%v/%v", m["years"], m["purge"], m["min_years"], m["purgeable"])
			}
			want := map[string]string{"visit_record": "15/false/15/false", "chat": "3/true/3/true", "call": "3/true/3/true", "audit": "15/false/15/false"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s reads %v, want the defaults %v", u, got, want)
			}
		}
		for _, u := range []string{"liming", "regulator", "bch-admin", "bch-dermatology-doctor"} {
			if r := e.req("GET", "/api/v1/retention", e.login(u), nil); r.status != 403 {
				t.Errorf("%s reads the retention: %d", u, r.status)
			}
		}
		for _, u := range []string{"admin", "auditor", "bch-admin"} {
			if r := e.req("PUT", "/api/v1/retention/chat", e.login(u), map[string]any{"years": 5, "purge": true}); r.status != 403 {
				t.Errorf("%s changes the retention: %d", u, r.status)
			}
		}
		for _, c := range []struct {
			typ   string
			body  map[string]any
			field string
			code  string
		}{
			{"chat", map[string]any{"years": 2, "purge": true}, "years", "retention_below_minimum"},
			{"visit_record", map[string]any{"years": 14, "purge": false}, "years", "retention_below_minimum"},
			{"audit", map[string]any{"years": 15, "purge": true}, "purge", "retention_not_purgeable"},
			{"visit_record", map[string]any{"years": 20, "purge": true}, "purge", "retention_not_purgeable"},
			{"call", map[string]any{"years": 300, "purge": true}, "years", "retention_too_long"},
			{"chat", map[string]any{"years": 5}, "purge", "put_missing"},
		} {
			r := e.req("PUT", "/api/v1/retention/"+c.typ, sec, c.body, "Accept-Language", "en")
			if r.status != 400 || r.fieldCodes()[c.field] != c.code {
				t.Errorf("PUT %s %v: %d %s, want %s on %s", c.typ, c.body, r.status, r.raw, c.code, c.field)
			}
		}
		if r := e.req("PUT", "/api/v1/retention/sms", sec, map[string]any{"years": 5, "purge": true}); r.status != 404 {
			t.Errorf("an unknown type: %d", r.status)
		}
		r := e.req("PUT", "/api/v1/retention/chat", sec, map[string]any{"years": 5, "purge": true})
		if r.status != 200 || r.body["years"] != 5.0 || r.body["min_years"] != 3.0 {
			t.Fatalf("PUT chat 5 years: %d %s", r.status, r.raw)
		}
		r = e.req("GET", "/api/v1/retention", sec, nil)
		if p := r.body["policies"].([]any)[1].(map[string]any); p["type"] != "chat" || p["years"] != 5.0 || p["updated_by"] == nil {
			t.Fatalf("after the change: %v", p)
		}
		entries, err := e.db.QueryAudit(context.Background(), audit.Filter{ObjectType: "retention_policy", ObjectID: "chat"})
		if err != nil || len(entries) != 1 || entries[0].Action != "retention.policy.save" || entries[0].ActorRole != "security_admin" ||
			!strings.Contains(entries[0].Detail, "3→5") {
			t.Fatalf("the change is not audited: %+v %v", entries, err)
		}
		// The table refuses a period below the minimum even written
		// directly (its checks), so nothing but a migration lowers it.
		if _, err := e.db.Writer().Exec(`UPDATE retention_policies SET years = 1 WHERE type = 'chat'`); err == nil {
			t.Error("the table took a chat period of 1 year")
		}
		if _, err := e.db.Writer().Exec(`UPDATE retention_policies SET purge = TRUE WHERE type = 'audit'`); err == nil {
			t.Error("the table took a purge of the audit log")
		}
	})
}

// A visit's file is deleted only as a draft: a pre-consultation file the
// patient removes before the visit starts. Once the visit started it is
// part of the visit record (15 years), and a chat image part of the chat
// (3 years): deleting either earlier is refused (N-17), through the API
// and the visit page alike, and the refusal is audited. After its period a
// chat image may go.
func TestEarlyDeletionRefusedN17(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm, doc := e.login("liming"), e.login("bch-dermatology-doctor")
		slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
		id := e.bookVisit(lm, e.patientIDs(lm)["李小雨"], slot, "retention-early")
		vpath := fmt.Sprintf("/api/v1/visits/%.0f", id)

		// A draft goes.
		up := e.upload(lm, vpath+"/attachments", "draft.png", pngBytes(t))
		if up.status != 201 {
			t.Fatalf("upload %d %s", up.status, up.raw)
		}
		if r := e.req("DELETE", fmt.Sprintf("%s/attachments/%.0f", vpath, up.body["id"]), lm, nil); r.status != 204 {
			t.Fatalf("a draft file: %d %s", r.status, r.raw)
		}
		e.checkIn(lm, vpath)
		pre := e.req("GET", vpath, lm, nil).body["attachments"].([]any)[0].(map[string]any)["id"].(float64)
		if r := e.req("POST", vpath+"/start", doc, nil); r.status != 200 {
			t.Fatalf("start %d %s", r.status, r.raw)
		}
		chatUp := e.upload(lm, vpath+"/attachments?purpose=chat", "rash.png", pngBytes(t))
		if chatUp.status != 201 {
			t.Fatalf("chat image %d %s", chatUp.status, chatUp.raw)
		}
		img := chatUp.body["id"].(float64)
		if r := e.req("POST", vpath+"/messages", lm, map[string]any{"kind": "image", "attachment_id": img}); r.status != 201 {
			t.Fatalf("image message %d %s", r.status, r.raw)
		}

		made := e.clock.Now()
		recordUntil := made.In(dates.Beijing).AddDate(15, 0, 0).Format(dates.Layout)
		chatUntil := made.In(dates.Beijing).AddDate(3, 0, 0).Format(dates.Layout)
		r := e.req("DELETE", fmt.Sprintf("%s/attachments/%.0f", vpath, pre), lm, nil)
		if r.status != 409 || r.errCode() != "retention_period" || !strings.Contains(r.errMessage(), recordUntil) {
			t.Fatalf("a pre-consultation file of a started visit: %d %s (want kept until %s)", r.status, r.raw, recordUntil)
		}
		r = e.req("DELETE", fmt.Sprintf("%s/attachments/%.0f", vpath, img), lm, nil, "Accept-Language", "en")
		if r.status != 409 || r.errCode() != "retention_period" || !strings.Contains(r.errMessage(), "kept until "+chatUntil) {
			t.Fatalf("a chat image: %d %s", r.status, r.raw)
		}
		// The visit page's form says the same.
		c := newBrowser(t, e)
		c.get("/login")
		if res := c.post("/login", map[string]string{"username": "liming", "password": "yunyi2026", "csrf": c.csrf()}); res.StatusCode != 303 {
			t.Fatalf("login form %d", res.StatusCode)
		}
		res := c.post(fmt.Sprintf("/visits/%.0f/attachments/%.0f/delete", id, pre), map[string]string{"csrf": c.sessionCSRF()})
		if res.StatusCode != 409 || !strings.Contains(c.last, recordUntil) {
			t.Fatalf("the form: %d %s", res.StatusCode, c.last)
		}
		// Both files are still there, and every attempt is audited.
		if n := len(e.req("GET", vpath, lm, nil).body["attachments"].([]any)); n != 2 {
			t.Fatalf("%d files left, want 2", n)
		}
		refused := 0
		entries, _ := e.db.QueryAudit(context.Background(), audit.Filter{ObjectType: "visit", ObjectID: fmt.Sprintf("%.0f", id), Limit: 200})
		for _, en := range entries {
			if en.Action == "visit.attachment.delete" && strings.Contains(en.Detail, "retention_period") {
				refused++
			}
		}
		if refused != 3 {
			t.Errorf("%d refusals audited, want 3", refused)
		}

		// After three years and a day the chat image may go; the visit
		// record's file may not.
		e.clock.Set(made.In(dates.Beijing).AddDate(3, 0, 1))
		lm = e.login("liming")
		if r := e.req("DELETE", fmt.Sprintf("%s/attachments/%.0f", vpath, img), lm, nil); r.status != 204 {
			t.Fatalf("a chat image after its period: %d %s", r.status, r.raw)
		}
		if r := e.req("DELETE", fmt.Sprintf("%s/attachments/%.0f", vpath, pre), lm, nil); r.status != 409 || r.errCode() != "retention_period" {
			t.Fatalf("the visit record's file after three years: %d %s", r.status, r.raw)
		}
	})
}

// The purge inside the server (N-17) on the test clock: three years and a
// day after a visit, its first messages, the chat image and the call's
// guest go, and exactly those: the messages of a year later stay, the
// visit record and its pre-consultation file stay, the audit log loses
// nothing and its chain still verifies, and the run is audited once with
// its counts.
func TestPurgeAfterThePeriodN17(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm, doc := e.login("liming"), e.login("bch-dermatology-doctor")
		slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
		id := e.bookVisit(lm, e.patientIDs(lm)["李小雨"], slot, "retention-purge")
		vpath := fmt.Sprintf("/api/v1/visits/%.0f", id)
		e.checkIn(lm, vpath)
		if r := e.req("POST", vpath+"/start", doc, nil); r.status != 200 {
			t.Fatalf("start %d %s", r.status, r.raw)
		}
		t0 := e.clock.Now()
		post := func(tok, text string) {
			t.Helper()
			if r := e.req("POST", vpath+"/messages", tok, map[string]any{"text": text}); r.status != 201 {
				t.Fatalf("post %d %s", r.status, r.raw)
			}
		}
		post(lm, "医生您好，孩子脸上起疹子三天了")
		post(doc, "请拍一张清楚的照片")
		up := e.upload(lm, vpath+"/attachments?purpose=chat", "rash.png", pngBytes(t))
		if r := e.req("POST", vpath+"/messages", lm, map[string]any{"kind": "image", "attachment_id": up.body["id"]}); r.status != 201 {
			t.Fatalf("image %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/guests", lm, map[string]any{"phone": "13800005555", "role": "interpreter"}); r.status != 201 {
			t.Fatalf("invite %d %s", r.status, r.raw)
		}
		e.s.bg.Wait()

		// A year later, two more messages (the visit is still open).
		e.clock.Set(t0.AddDate(1, 0, 0))
		lm, doc = e.login("liming"), e.login("bch-dermatology-doctor")
		post(lm, "一年后的复查消息")
		post(doc, "好的")

		// Nothing is due yet two years on: the run removes nothing.
		e.clock.Set(t0.In(dates.Beijing).AddDate(3, 0, 0).Add(-time.Minute))
		run, err := e.s.PurgeExpired(context.Background())
		if err != nil || run == nil || run.Counts["chat_messages"] != 0 || run.Counts["chat_files"] != 0 || run.Counts["call_guests"] != 0 {
			t.Fatalf("a run before the period: %+v %v", run, err)
		}

		auditBefore, _, err := audit.Verify(context.Background(), e.db)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Set(t0.In(dates.Beijing).AddDate(3, 0, 1))
		run, err = e.s.PurgeExpired(context.Background())
		if err != nil || run == nil {
			t.Fatalf("purge: %+v %v", run, err)
		}
		if run.Counts["chat_messages"] != 3 || run.Counts["chat_files"] != 1 || run.Counts["call_guests"] != 1 {
			t.Fatalf("purged %v, want 3 messages, 1 file, 1 guest", run.Counts)
		}
		// The audit log: nothing removed, one entry more (the run's), whole.
		checked, problem, err := audit.Verify(context.Background(), e.db)
		if err != nil || problem != nil || checked != auditBefore+1 {
			t.Fatalf("audit verify after the purge: %d entries (before %d), %v %v", checked, auditBefore, problem, err)
		}
		lm = e.login("liming")
		ms := e.req("GET", vpath+"/messages", lm, nil).body["messages"].([]any)
		if len(ms) != 2 || ms[0].(map[string]any)["text"] != "一年后的复查消息" || ms[0].(map[string]any)["seq"] != 4.0 {
			t.Fatalf("messages left: %v", ms)
		}
		if r := e.req("GET", fmt.Sprintf("%s/attachments/%.0f", vpath, up.body["id"]), lm, nil); r.status != 404 {
			t.Errorf("the purged image is still served: %d", r.status)
		}
		v := e.req("GET", vpath, lm, nil)
		if v.status != 200 || len(v.body["attachments"].([]any)) != 1 || v.body["state"] != "in_progress" {
			t.Fatalf("the visit record after the purge: %d %s", v.status, v.raw)
		}
		if n := e.count("visit_guests"); n != 0 {
			t.Errorf("%d guests left", n)
		}
		if _, problem, err := audit.Verify(context.Background(), e.db); err != nil || problem != nil {
			t.Fatalf("audit verify: %v %v", problem, err)
		}
		entries, _ := e.db.QueryAudit(context.Background(), audit.Filter{ObjectType: "retention_run", Limit: 10})
		if len(entries) != 2 || entries[0].Action != "retention.purge" || entries[0].ActorRole != "system" ||
			!strings.Contains(entries[0].Detail, "chat_messages=3 chat_files=1 call_guests=1") {
			t.Fatalf("the runs' audit: %+v", entries)
		}
		// The operators see the runs.
		r := e.req("GET", "/api/v1/retention", e.login("auditor"), nil)
		runs := r.body["runs"].([]any)
		if len(runs) != 2 || runs[0].(map[string]any)["counts"].(map[string]any)["chat_messages"] != 3.0 ||
			runs[0].(map[string]any)["finished_at"] == nil {
			t.Fatalf("runs: %s", r.raw)
		}
		// PurgeDue runs once a day: not again the same day.
		if run, err := e.s.PurgeDue(context.Background()); err != nil || run != nil {
			t.Fatalf("a second run the same day: %+v %v", run, err)
		}
		e.clock.Add(24 * time.Hour)
		if run, err := e.s.PurgeDue(context.Background()); err != nil || run == nil {
			t.Fatalf("the next day's run: %+v %v", run, err)
		}
	})
}
