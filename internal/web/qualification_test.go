package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/qualification"
)

// The regulator's side (issue 13): applications and decisions (S-1, G-1),
// suspension, the yearly re-validation (N-23), pilot designations (G-2,
// S-5) and the public directory (N-8, N-21).

// waitingApplication is the id of the institution's application waiting
// for a decision (the demo holds 北京清华长庚医院's).
func waitingApplication(e *env, code string) string {
	e.t.Helper()
	r := e.req("GET", "/api/v1/institutions/"+code+"/applications", e.login(code+"-admin"), nil)
	for _, it := range r.items() {
		m := it.(map[string]any)
		if m["status"] == "pending" {
			return fmt.Sprintf("%.0f", m["id"].(float64))
		}
	}
	e.t.Fatalf("no application of %s waits: %d %s", code, r.status, r.raw)
	return ""
}

// envDay is the Beijing date of the env's clock, days later.
func envDay(e *env, days int) string { return qualification.Day(e.clock.Now().AddDate(0, 0, days)) }

// yearFrom is the last day of a one-year term starting on day (N-23).
func yearFrom(e *env, days int) string { return qualification.Day(e.clock.Now().AddDate(1, 0, days-1)) }

// notices are the inbox notices of an account of a kind.
func (e *env) notices(token, kind string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, it := range e.req("GET", "/api/v1/notifications", token, nil).items() {
		if m := it.(map[string]any); m["kind"] == kind {
			out = append(out, m)
		}
	}
	return out
}

// audited reports whether the audit log holds an action on an object.
func (e *env) audited(token, query, action string) bool {
	e.t.Helper()
	for _, it := range e.req("GET", "/api/v1/audit?"+query, token, nil).items() {
		if it.(map[string]any)["action"] == action {
			return true
		}
	}
	return false
}

type formPart struct {
	name, file, ctype string
	body              []byte
}

// multipartReq posts parts as multipart/form-data.
func (e *env) multipartReq(token, path string, parts []formPart) resp {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.file != "" {
			disp += fmt.Sprintf(`; filename=%q`, p.file)
		}
		h.Set("Content-Disposition", disp)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		w, _ := mw.CreatePart(h)
		w.Write(p.body)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", e.ts.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out := resp{status: res.StatusCode, header: res.Header}
	out.raw, _ = io.ReadAll(res.Body)
	json.Unmarshal(out.raw, &out.body)
	return out
}

var pdfBytes = []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")

// seenAt gives a patient an offline visit with a definite diagnosis in a
// department (S-3), so that a follow-up there is bookable.
func (e *env) seenAt(patientName, institution, department, ext string) {
	e.t.Helper()
	var rid string
	if err := e.db.Writer().QueryRow(`SELECT resident_id FROM patients WHERE name = $1`, patientName).Scan(&rid); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.InsertVisits(context.Background(), []history.Visit{{Institution: institution, Department: department, ResidentID: rid,
		Date: envDay(e, -10), DiagnosisCode: "I10", DiagnosisName: "原发性高血压", Definite: true, ExternalID: ext}}); err != nil {
		e.t.Fatal(err)
	}
}

// S-1, G-1: an institution applies with its departments, services, doctors
// and documents; the regulator inspects and approves; the approval opens
// booking for a year (N-23).
func TestApplicationApproveOpensBooking(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		cg, reg := e.login("changgung-admin"), e.login("regulator")
		id := waitingApplication(e, "changgung")
		app := e.req("GET", "/api/v1/applications/"+id, reg, nil)
		if app.status != 200 || app.body["kind"] != "qualification" || len(app.body["departments"].([]any)) != 2 ||
			len(app.body["services"].([]any)) == 0 || len(app.body["practitioners"].([]any)) == 0 {
			t.Fatalf("the demo's application: %d %s", app.status, app.raw)
		}
		// One application waits at a time.
		r := e.req("POST", "/api/v1/institutions/changgung/applications", cg, map[string]any{"kind": "qualification", "departments": []string{"general"},
			"services": []string{"changgung-general-fu"}, "practitioners": app.body["practitioners"]})
		if r.status != 409 || r.errCode() != "application_pending" {
			t.Fatalf("a second application: %d %s", r.status, r.raw)
		}
		// Documents: judged by their content, in the blob store.
		r = e.upload(cg, "/api/v1/applications/"+id+"/documents", "查核验收报告.pdf", pdfBytes)
		if r.status != 201 || r.body["content_type"] != "application/pdf" || r.body["name"] != "查核验收报告.pdf" {
			t.Fatalf("document: %d %s", r.status, r.raw)
		}
		did := fmt.Sprintf("%.0f", r.body["id"].(float64))
		if r := e.upload(cg, "/api/v1/applications/"+id+"/documents", "fake.pdf", []byte("not a pdf at all")); r.status != 415 || r.errCode() != "attachment_type" {
			t.Fatalf("a text named .pdf: %d %s", r.status, r.raw)
		}
		// Nobody else sees it or decides.
		for _, who := range []string{"bch-admin", "liming"} {
			if r := e.req("GET", "/api/v1/applications/"+id, e.login(who), nil); r.status != 404 {
				t.Fatalf("%s sees the application: %d", who, r.status)
			}
		}
		for _, who := range []string{"changgung-admin", "bch-admin", "admin"} {
			if r := e.req("POST", "/api/v1/applications/"+id+"/decision", e.login(who), map[string]any{"approve": true}); r.status != 403 && r.status != 404 {
				t.Fatalf("%s decides: %d %s", who, r.status, r.raw)
			}
		}
		// The regulator's queue, and the document as submitted.
		if q := e.req("GET", "/api/v1/applications?status=pending", reg, nil); !strings.Contains(string(q.raw), `"institution":"changgung"`) {
			t.Fatalf("queue: %s", q.raw)
		}
		d := e.req("GET", "/api/v1/applications/"+id+"/documents/"+did, reg, nil)
		if d.status != 200 || !bytes.Equal(d.raw, pdfBytes) || d.header.Get("Content-Type") != "application/pdf" {
			t.Fatalf("document read: %d %q", d.status, d.header.Get("Content-Type"))
		}
		// S-1: nothing is bookable before the decision.
		e.seenAt("张伟", "changgung", "cardiology", "cg-1")
		zw := e.login("zhangwei")
		zhang := e.patientIDs(zw)["张伟"]
		if ok, failed := e.check(zw, zhang, "changgung-cardiology-fu", nil); ok || !sameSet(failed, "qualified") {
			t.Fatalf("before approval: %v %v", ok, failed)
		}
		if n := len(e.req("GET", "/api/v1/slots?institution=changgung", "", nil).items()); n != 0 {
			t.Fatalf("%d slots before approval", n)
		}
		// The decision needs its answer.
		if r := e.req("POST", "/api/v1/applications/"+id+"/decision", reg, map[string]any{"reasons": "x"}); r.status != 400 || r.fieldCodes()["approve"] != "required" {
			t.Fatalf("no answer: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/applications/"+id+"/decision", reg, map[string]any{"approve": true, "valid_until": yearFrom(e, 1)}); r.status != 400 ||
			r.fieldCodes()["valid_until"] != "outside_term" {
			t.Fatalf("a term over a year: %d %s", r.status, r.raw)
		}
		r = e.req("POST", "/api/v1/applications/"+id+"/decision", reg, map[string]any{"approve": true, "reasons": "查核合格，准予开展互联网诊疗"})
		if r.status != 200 || r.body["status"] != "approved" || r.body["valid_from"] != envDay(e, 0) || r.body["valid_until"] != yearFrom(e, 0) {
			t.Fatalf("approve: %d %s", r.status, r.raw)
		}
		inst := e.req("GET", "/api/v1/institutions/changgung", "", nil).body
		if inst["status"] != "approved" || inst["approved_on"] != envDay(e, 0) || inst["valid_until"] != yearFrom(e, 0) {
			t.Fatalf("institution: %v", inst)
		}
		// The services are open: listed and bookable.
		if ok, failed := e.check(zw, zhang, "changgung-cardiology-fu", nil); !ok {
			t.Fatalf("after approval: %v", failed)
		}
		b := e.req("POST", "/api/v1/appointments", zw, map[string]any{"slot_id": e.slotOf("changgung-cardiology-fu")["id"], "patient_id": zhang,
			"answers": screened()}, "Idempotency-Key", "cg-approved")
		if b.status != 201 {
			t.Fatalf("book after approval: %d %s", b.status, b.raw)
		}
		// Decided once; a decided application takes no more documents.
		if r := e.req("POST", "/api/v1/applications/"+id+"/decision", reg, map[string]any{"approve": false, "reasons": "改变主意"}); r.status != 409 ||
			r.errCode() != "application_decided" {
			t.Fatalf("decided twice: %d %s", r.status, r.raw)
		}
		if r := e.upload(cg, "/api/v1/applications/"+id+"/documents", "late.pdf", pdfBytes); r.status != 409 {
			t.Fatalf("late document: %d %s", r.status, r.raw)
		}
		// The institution is told; every step is audited.
		if n := e.notices(cg, "qualification_decided"); len(n) != 1 || !strings.Contains(n[0]["body"].(string), yearFrom(e, 0)) {
			t.Fatalf("admin told: %v", n)
		}
		for _, action := range []string{"qualification.decide", "qualification.document.add", "qualification.document.read"} {
			if !e.audited(reg, "institution=changgung&object_type=application", action) {
				t.Fatalf("%s not audited", action)
			}
		}
	})
}

// G-1: a refusal carries its reasons and keeps the services closed; the
// institution applies again, with documents in the same request.
func TestApplicationRefusedKeepsClosed(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		cg, reg := e.login("changgung-admin"), e.login("regulator")
		id := waitingApplication(e, "changgung")
		if r := e.req("POST", "/api/v1/applications/"+id+"/decision", reg, map[string]any{"approve": false}); r.status != 400 || r.fieldCodes()["reasons"] != "required" {
			t.Fatalf("a refusal without reasons: %d %s", r.status, r.raw)
		}
		r := e.req("POST", "/api/v1/applications/"+id+"/decision", reg, map[string]any{"approve": false, "reasons": "线上医师培训考核记录不全"})
		if r.status != 200 || r.body["status"] != "refused" || r.body["reasons"] != "线上医师培训考核记录不全" || r.body["valid_until"] != nil {
			t.Fatalf("refuse: %d %s", r.status, r.raw)
		}
		if inst := e.req("GET", "/api/v1/institutions/changgung", "", nil).body; inst["status"] != "pending" || inst["valid_until"] != "" {
			t.Fatalf("refused but %v", inst)
		}
		if n := len(e.req("GET", "/api/v1/slots?institution=changgung", "", nil).items()); n != 0 {
			t.Fatalf("%d slots after a refusal", n)
		}
		if n := e.notices(cg, "qualification_decided"); len(n) != 1 || !strings.Contains(n[0]["body"].(string), "线上医师培训考核记录不全") {
			t.Fatalf("admin told: %v", n)
		}
		// What it applies for must be its own, and consistent.
		doctors := e.req("GET", "/api/v1/applications/"+id, reg, nil).body["practitioners"]
		for _, c := range []struct {
			body        map[string]any
			field, code string
		}{
			{map[string]any{"kind": "revalidation", "departments": []string{"general"}, "services": []string{"changgung-general-fu"}, "practitioners": doctors}, "kind", "revalidation_needs_approval"},
			{map[string]any{"kind": "qualification", "departments": []string{"ghost"}, "services": []string{"changgung-general-fu"}, "practitioners": doctors}, "departments[0]", "not_found"},
			{map[string]any{"kind": "qualification", "departments": []string{"general"}, "services": []string{"changgung-cardiology-fu"}, "practitioners": doctors}, "services[0]", "department_not_listed"},
			{map[string]any{"kind": "qualification", "departments": []string{"general"}, "services": []string{"changgung-general-fu"}, "practitioners": []int{1}}, "practitioners[0]", "not_found"},
			{map[string]any{"kind": "qualification", "departments": []string{"general"}, "services": []string{"changgung-general-fu"}}, "practitioners", "required"},
		} {
			if r := e.req("POST", "/api/v1/institutions/changgung/applications", cg, c.body); r.status != 400 || r.fieldCodes()[c.field] != c.code {
				t.Errorf("%v: %d %s", c.body, r.status, r.raw)
			}
		}
		// Another institution's admin does not apply for it.
		if r := e.req("POST", "/api/v1/institutions/changgung/applications", e.login("bch-admin"), map[string]any{}); r.status != 403 {
			t.Fatalf("bch-admin applies for changgung: %d", r.status)
		}
		// Again, as multipart: the application and its documents at once;
		// a refused one leaves no file behind.
		appJSON, _ := json.Marshal(map[string]any{"kind": "qualification", "departments": []string{"general", "cardiology"},
			"services": []string{"changgung-general-fu", "changgung-cardiology-fu"}, "practitioners": doctors, "note": "补充培训考核记录后重新申请"})
		before := len(filesIn(t, e.s.cfg.BlobDir))
		bad := e.multipartReq(cg, "/api/v1/institutions/changgung/applications", []formPart{
			{name: "application", body: appJSON}, {name: "file", file: "培训记录.pdf", body: pdfBytes}, {name: "file", file: "x.exe", body: []byte("MZ\x90\x00 not allowed")}})
		if bad.status != 415 || len(filesIn(t, e.s.cfg.BlobDir)) != before {
			t.Fatalf("a refused upload: %d %s (files %d -> %d)", bad.status, bad.raw, before, len(filesIn(t, e.s.cfg.BlobDir)))
		}
		r = e.multipartReq(cg, "/api/v1/institutions/changgung/applications", []formPart{
			{name: "application", body: appJSON}, {name: "file", file: "培训记录.pdf", body: pdfBytes}, {name: "file", file: "证书.png", body: pngBytes(t)}})
		if r.status != 201 || r.body["status"] != "pending" || len(r.body["documents"].([]any)) != 2 {
			t.Fatalf("apply again: %d %s", r.status, r.raw)
		}
		if !e.audited(reg, "institution=changgung&object_type=application", "qualification.apply") {
			t.Fatal("the application is not audited")
		}
	})
}

// G-3: a suspension closes the services: the families booked on future
// slots are told (inbox and SMS), the slots take no booking, the public
// directory shows the reason; lifting it opens them again.
func TestQualificationSuspensionTellsBookedPatients(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm, reg := e.login("liming"), e.login("regulator")
		kids := e.patientIDs(lm)
		e.bookVisit(lm, kids["李小雨"], e.slotOf("bch-skin-fv"), "before-suspension")
		next := e.slotOf("bch-skin-fv")
		if r := e.req("POST", "/api/v1/institutions/bch/qualification", e.login("bch-admin"), map[string]any{"status": "suspended", "note": "x"}); r.status != 403 {
			t.Fatalf("an institution suspends itself: %d", r.status)
		}
		r := e.req("POST", "/api/v1/institutions/bch/qualification", reg, map[string]any{"status": "suspended", "note": "存在违规开具处方问题，责令整改"})
		if r.status != 200 || r.body["status"] != "suspended" || r.body["status_note"] != "存在违规开具处方问题，责令整改" {
			t.Fatalf("suspend: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/institutions/bch/qualification", reg, map[string]any{"status": "suspended", "note": "again"}); r.status != 409 || r.errCode() != "not_approved" {
			t.Fatalf("suspended twice: %d %s", r.status, r.raw)
		}
		told := e.notices(lm, "institution_suspended")
		if len(told) != 1 || !strings.Contains(told[0]["body"].(string), "存在违规开具处方问题") || !strings.Contains(told[0]["body"].(string), "李小雨") {
			t.Fatalf("family told: %v", told)
		}
		e.s.bg.Wait() // the SMS goes out in the background
		if sms := string(e.req("GET", "/api/v1/sandbox/sms", e.login("admin"), nil).raw); !strings.Contains(sms, "互联网诊疗服务已暂停") {
			t.Fatalf("no SMS: %s", sms)
		}
		// The slots stop taking bookings.
		b := e.req("POST", "/api/v1/appointments", lm, map[string]any{"slot_id": next["id"], "patient_id": kids["李小雨"],
			"answers": screened("first_visit")}, "Idempotency-Key", "after-suspension")
		if b.status != 409 || b.errCode() != "slot_closed" {
			t.Fatalf("booked while suspended: %d %s", b.status, b.raw)
		}
		if n := len(e.req("GET", "/api/v1/slots?institution=bch", "", nil).items()); n != 0 {
			t.Fatalf("%d slots listed while suspended", n)
		}
		// The public directory says why (N-21).
		dir := e.req("GET", "/api/v1/public/institutions", "", nil)
		if !strings.Contains(string(dir.raw), `"suspension_reason":"存在违规开具处方问题，责令整改"`) {
			t.Fatalf("directory: %s", dir.raw)
		}
		// Lifted while the approval is valid: open again, the family told.
		if r := e.req("POST", "/api/v1/institutions/bch/qualification", reg, map[string]any{"status": "approved", "note": "整改完成"}); r.status != 200 || r.body["status"] != "approved" {
			t.Fatalf("lift: %d %s", r.status, r.raw)
		}
		if len(e.notices(lm, "institution_reopened")) != 1 {
			t.Fatal("family not told of the reopening")
		}
		if b := e.req("POST", "/api/v1/appointments", lm, map[string]any{"slot_id": next["id"], "patient_id": kids["李小天"],
			"answers": screened("first_visit")}, "Idempotency-Key", "after-lift"); b.status != 201 {
			t.Fatalf("book after the lift: %d %s", b.status, b.raw)
		}
		if r := e.req("POST", "/api/v1/institutions/bch/qualification", reg, map[string]any{"status": "approved"}); r.status != 409 || r.errCode() != "not_suspended" {
			t.Fatalf("lift twice: %d %s", r.status, r.raw)
		}
		if !e.audited(reg, "institution=bch&object_type=institution", "institution.qualification") {
			t.Fatal("not audited")
		}
	})
}

// secondServer is another server over the env's database and clock (two
// servers running the loop).
func secondServer(e *env) *Server {
	e.t.Helper()
	al := audit.NewLogger(e.db)
	e.t.Cleanup(al.Close)
	s, err := New(Config{Demo: true, Now: e.clock.Now, BlobDir: e.t.TempDir(), PayLoop: -1, QualificationLoop: -1}, e.db, al,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	return s
}

// N-23: an approval is valid a year; its admin is reminded 30 days before
// it lapses, once however many servers run the loop; unless re-validated
// it is suspended on the day it lapses, once.
func TestQualificationRevalidation(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		cg, reg := e.login("changgung-admin"), e.login("regulator")
		if r := e.req("POST", "/api/v1/applications/"+waitingApplication(e, "changgung")+"/decision", reg, map[string]any{"approve": true, "reasons": "合格"}); r.status != 200 {
			t.Fatalf("approve: %d %s", r.status, r.raw)
		}
		validUntil := yearFrom(e, 0)
		due := qualification.DueOn(validUntil)
		// Sessions expire as the clock moves on: log in again each time.
		reminders := func() []map[string]any { return e.notices(e.login("changgung-admin"), "revalidation_due") }
		// A day before the reminder is due: nothing for changgung.
		start := e.clock.Now()
		e.clock.Set(start.AddDate(1, 0, -qualification.NoticeDays-1))
		if got, err := e.s.Revalidate(ctx); err != nil || contains(got.Reminded, "changgung") || contains(got.Suspended, "changgung") {
			t.Fatalf("too early: %+v %v", got, err)
		}
		if len(reminders()) != 0 {
			t.Fatal("reminded too early")
		}
		// 30 days before it lapses: reminded once, by whichever of two
		// servers gets there first.
		e.clock.Set(start.AddDate(1, 0, -qualification.NoticeDays))
		if envDay(e, 0) != qualification.RemindFrom(validUntil) {
			t.Fatalf("the clock is at %s, the reminder due %s", envDay(e, 0), qualification.RemindFrom(validUntil))
		}
		other := secondServer(e)
		var wg sync.WaitGroup
		results := make([]Revalidation, 2)
		for i, s := range []*Server{e.s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if results[i], err = s.Revalidate(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := len(filter(results[0].Reminded, "changgung")) + len(filter(results[1].Reminded, "changgung")); n != 1 {
			t.Fatalf("reminded %d times: %+v", n, results)
		}
		if got, _ := e.s.Revalidate(ctx); contains(got.Reminded, "changgung") {
			t.Fatal("reminded again")
		}
		if n := reminders(); len(n) != 1 || !strings.Contains(n[0]["body"].(string), due) {
			t.Fatalf("reminders in the inbox: %v", n)
		}
		// The last valid day: still open.
		e.clock.Set(start.AddDate(1, 0, -1))
		if got, _ := e.s.Revalidate(ctx); contains(got.Suspended, "changgung") {
			t.Fatal("suspended on its last valid day")
		}
		// The day it lapses: suspended, once, with the reason, audited.
		e.clock.Set(start.AddDate(1, 0, 0))
		if envDay(e, 0) != due {
			t.Fatalf("the clock is at %s, the approval lapses %s", envDay(e, 0), due)
		}
		for i, s := range []*Server{e.s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if results[i], err = s.Revalidate(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := len(filter(results[0].Suspended, "changgung")) + len(filter(results[1].Suspended, "changgung")); n != 1 {
			t.Fatalf("suspended %d times: %+v", n, results)
		}
		inst := e.req("GET", "/api/v1/institutions/changgung", "", nil).body
		if inst["status"] != "suspended" || inst["status_note"] == "" {
			t.Fatalf("after the lapse: %v", inst)
		}
		cg, reg = e.login("changgung-admin"), e.login("regulator")
		if n := len(e.notices(cg, "institution_suspended")); n != 1 {
			t.Fatalf("admin told %d times", n)
		}
		if !e.audited(reg, "institution=changgung&object_type=institution", "institution.qualification") ||
			!e.audited(reg, "institution=changgung&object_type=institution", "qualification.remind") {
			t.Fatal("the loop's work is not audited")
		}
		// A lapsed approval is not lifted: it re-validates.
		if r := e.req("POST", "/api/v1/institutions/changgung/qualification", reg, map[string]any{"status": "approved"}); r.status != 409 || r.errCode() != "revalidation_required" {
			t.Fatalf("lift a lapsed approval: %d %s", r.status, r.raw)
		}
		app := e.req("GET", "/api/v1/institutions/changgung/applications", cg, nil).items()[0].(map[string]any)
		r := e.req("POST", "/api/v1/institutions/changgung/applications", cg, map[string]any{"departments": app["departments"], "services": app["services"],
			"practitioners": app["practitioners"]})
		if r.status != 201 || r.body["kind"] != "revalidation" {
			t.Fatalf("re-validation: %d %s", r.status, r.raw)
		}
		r = e.req("POST", fmt.Sprintf("/api/v1/applications/%.0f/decision", r.body["id"].(float64)), reg, map[string]any{"approve": true})
		if r.status != 200 || r.body["valid_from"] != envDay(e, 0) || r.body["valid_until"] != yearFrom(e, 0) {
			t.Fatalf("re-validated after the lapse: %d %s", r.status, r.raw)
		}
		if st := e.req("GET", "/api/v1/institutions/changgung", "", nil).body["status"]; st != "approved" {
			t.Fatalf("status %v", st)
		}
	})
}

// N-23: a re-validation approved before the approval lapses continues it
// without a gap; an institution that re-validated is not reminded. The
// demo's 北京协和医院 lapses within the month.
func TestQualificationRevalidatedInTime(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pu, reg := e.login("pumch-admin"), e.login("regulator")
		old := e.req("GET", "/api/v1/institutions/pumch", "", nil).body["valid_until"].(string)
		got, err := e.s.Revalidate(ctx)
		if err != nil || !contains(got.Reminded, "pumch") || contains(got.Reminded, "bch") {
			t.Fatalf("demo reminders: %+v %v", got, err)
		}
		inst := e.req("GET", "/api/v1/institutions/pumch", "", nil).body
		var depts, svcs []string
		for _, d := range inst["departments"].([]any) {
			dm := d.(map[string]any)
			depts = append(depts, dm["code"].(string))
			for _, s := range dm["services"].([]any) {
				svcs = append(svcs, s.(map[string]any)["code"].(string))
			}
		}
		var doctors []float64
		for _, p := range e.req("GET", "/api/v1/institutions/pumch/practitioners", pu, nil).items() {
			if m := p.(map[string]any); m["profession"] == "doctor" {
				doctors = append(doctors, m["id"].(float64))
			}
		}
		if r := e.req("POST", "/api/v1/institutions/pumch/applications", pu, map[string]any{"kind": "qualification", "departments": depts,
			"services": svcs, "practitioners": doctors}); r.status != 400 || r.fieldCodes()["kind"] != "already_approved" {
			t.Fatalf("an approved institution applies anew: %d %s", r.status, r.raw)
		}
		r := e.req("POST", "/api/v1/institutions/pumch/applications", pu, map[string]any{"kind": "revalidation", "departments": depts,
			"services": svcs, "practitioners": doctors, "note": "年度校验"})
		if r.status != 201 {
			t.Fatalf("re-validation: %d %s", r.status, r.raw)
		}
		r = e.req("POST", fmt.Sprintf("/api/v1/applications/%.0f/decision", r.body["id"].(float64)), reg, map[string]any{"approve": true, "reasons": "年度校验合格"})
		wantFrom := qualification.DueOn(old)
		if r.status != 200 || r.body["valid_from"] != wantFrom {
			t.Fatalf("continued from %s: %d %s", wantFrom, r.status, r.raw)
		}
		newUntil := r.body["valid_until"].(string)
		// The old approval's lapse passes: still open.
		e.clock.Add(40 * 24 * time.Hour)
		if got, _ := e.s.Revalidate(ctx); contains(got.Suspended, "pumch") || contains(got.Reminded, "pumch") {
			t.Fatalf("re-validated but %+v", got)
		}
		if st := e.req("GET", "/api/v1/institutions/pumch", "", nil).body; st["status"] != "approved" || st["valid_until"] != newUntil {
			t.Fatalf("after the old lapse: %v", st)
		}
	})
}

func contains(list []string, s string) bool { return len(filter(list, s)) > 0 }

func filter(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x == s {
			out = append(out, x)
		}
	}
	return out
}

// G-2, S-5: pilot designations are the regulator's data with dates, in
// both directions and audited; an institution's admin can neither set nor
// clear them; a first visit outside the dates is refused with the S-5
// rule.
func TestPilotDesignation(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		reg, admin := e.login("regulator"), e.login("bch-admin")
		// The demo's designations: bch and ccmc × 生长发育, 营养, 皮肤疾病 from 2026-02-01.
		list := e.req("GET", "/api/v1/pilots", "", nil)
		if n := len(list.items()); n != 6 || !strings.Contains(string(list.raw), `"institution":"bch","specialty":"skin","from":"2026-02-01"`) {
			t.Fatalf("demo designations: %s", list.raw)
		}
		// Only the regulator writes them.
		for _, who := range []string{"bch-admin", "admin", "liming"} {
			if r := e.req("PUT", "/api/v1/pilots/bch/skin", e.login(who), map[string]any{"from": "2026-02-01", "to": ""}); r.status != 403 {
				t.Fatalf("%s designates: %d", who, r.status)
			}
			if r := e.req("DELETE", "/api/v1/pilots/bch/skin", e.login(who), nil); r.status != 403 {
				t.Fatalf("%s withdraws: %d", who, r.status)
			}
		}
		// The institution's admin edits the specialty: the pilot is read-only,
		// refused by name when changed, kept when left out or sent back.
		r := e.req("PUT", "/api/v1/institutions/bch/specialties/skin", admin, map[string]any{"department": "dermatology", "name": "皮肤疾病", "first_visit_pilot": false})
		if r.status != 403 || r.fieldCodes()["first_visit_pilot"] != "field_not_allowed" {
			t.Fatalf("clearing the pilot: %d %s", r.status, r.raw)
		}
		for _, body := range []map[string]any{{"department": "dermatology", "name": "皮肤疾病"},
			{"department": "dermatology", "name": "皮肤疾病", "name_en": "Skin disease", "first_visit_pilot": true}} {
			if r := e.req("PUT", "/api/v1/institutions/bch/specialties/skin", admin, body); r.status != 200 || r.body["first_visit_pilot"] != true {
				t.Fatalf("%v: %d %s", body, r.status, r.raw)
			}
		}
		lm := e.login("liming")
		xiaoyu := e.patientIDs(lm)["李小雨"]
		firstVisit := func(day string) (bool, map[string]bool) {
			t.Helper()
			r := e.req("POST", "/api/v1/eligibility/check", lm, map[string]any{"patient_id": xiaoyu, "service": "bch-skin-fv", "date": day,
				"answers": screened("first_visit")})
			if r.status != 200 {
				t.Fatalf("check: %d %s", r.status, r.raw)
			}
			failed := map[string]bool{}
			for _, v := range r.body["rules"].([]any) {
				if m := v.(map[string]any); m["passed"] != true {
					failed[m["code"].(string)] = true
					if m["source"] != nil && !strings.Contains(fmt.Sprint(m["source"]), "S-5") {
						t.Fatalf("refused by %v", m)
					}
				}
			}
			return r.body["eligible"] == true, failed
		}
		if ok, failed := firstVisit(envDay(e, 2)); !ok {
			t.Fatalf("the demo's pilot: %v", failed)
		}
		// Dates: from two days on. The day before is refused by the S-5 rule.
		from := envDay(e, 2)
		if r := e.req("PUT", "/api/v1/pilots/bch/skin", reg, map[string]any{"from": from}); r.status != 400 || r.fieldCodes()["to"] != "put_missing" {
			t.Fatalf("to left out: %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", "/api/v1/pilots/bch/skin", reg, map[string]any{"from": from, "to": envDay(e, 1)}); r.status != 400 || r.fieldCodes()["to"] != "before_from" {
			t.Fatalf("to before from: %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", "/api/v1/pilots/bch/ghost", reg, map[string]any{"from": from, "to": ""}); r.status != 404 {
			t.Fatalf("unknown specialty: %d %s", r.status, r.raw)
		}
		r = e.req("PUT", "/api/v1/pilots/bch/skin", reg, map[string]any{"from": from, "to": envDay(e, 4)})
		if r.status != 200 || r.body["from"] != from || r.body["to"] != envDay(e, 4) {
			t.Fatalf("designate: %d %s", r.status, r.raw)
		}
		if ok, failed := firstVisit(envDay(e, 1)); ok || !sameSet(failed, "pilot-specialty") {
			t.Fatalf("the day before from: %v %v", ok, failed)
		}
		for _, d := range []int{2, 4} {
			if ok, failed := firstVisit(envDay(e, d)); !ok {
				t.Fatalf("day %d: %v", d, failed)
			}
		}
		if ok, failed := firstVisit(envDay(e, 5)); ok || !sameSet(failed, "pilot-specialty") {
			t.Fatalf("the day after to: %v %v", ok, failed)
		}
		// A real booking on a slot the day before from is refused, naming the rule.
		tried := false
		for _, it := range e.req("GET", "/api/v1/slots?service=bch-skin-fv&to="+envDay(e, 1), "", nil).items() {
			m := it.(map[string]any)
			if m["bookable"] != true {
				continue
			}
			b := e.req("POST", "/api/v1/appointments", lm, map[string]any{"slot_id": m["id"], "patient_id": xiaoyu, "answers": screened("first_visit")},
				"Idempotency-Key", "before-from")
			if b.status != 422 || !strings.Contains(string(b.raw), "pilot-specialty") {
				t.Fatalf("booked before from: %d %s", b.status, b.raw)
			}
			tried = true
			break
		}
		if !tried {
			t.Fatal("no first-visit slot before from")
		}
		// Withdrawn: no first visit of the specialty on any day; the
		// institution is still a pilot through its other specialties.
		if r := e.req("DELETE", "/api/v1/pilots/bch/skin", reg, nil); r.status != 204 {
			t.Fatalf("withdraw: %d %s", r.status, r.raw)
		}
		if r := e.req("DELETE", "/api/v1/pilots/bch/skin", reg, nil); r.status != 404 {
			t.Fatalf("withdraw twice: %d", r.status)
		}
		if ok, failed := firstVisit(envDay(e, 3)); ok || !sameSet(failed, "pilot-specialty") {
			t.Fatalf("withdrawn: %v %v", ok, failed)
		}
		inst := e.req("GET", "/api/v1/institutions/bch", "", nil).body
		if inst["first_visit_pilot"] != true || strings.Contains(fmt.Sprint(inst["pilots"]), "skin") {
			t.Fatalf("after withdrawing skin: %v %v", inst["first_visit_pilot"], inst["pilots"])
		}
		// And designated again, with no end.
		if r := e.req("PUT", "/api/v1/pilots/bch/skin", reg, map[string]any{"from": envDay(e, 0), "to": ""}); r.status != 200 {
			t.Fatalf("designate again: %d %s", r.status, r.raw)
		}
		if ok, failed := firstVisit(envDay(e, 3)); !ok {
			t.Fatalf("designated again: %v", failed)
		}
		// A non-pilot institution's specialty, designated by the regulator:
		// its first visits pass both pilot rules.
		if r := e.req("PUT", "/api/v1/institutions/pumch/specialties/adult-skin", e.login("pumch-admin"), map[string]any{"department": "dermatology", "name": "成人皮肤病"}); r.status != 200 {
			t.Fatalf("specialty: %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", "/api/v1/pilots/pumch/adult-skin", reg, map[string]any{"from": envDay(e, 0), "to": ""}); r.status != 200 {
			t.Fatalf("designate pumch: %d %s", r.status, r.raw)
		}
		if p := e.req("GET", "/api/v1/institutions/pumch", "", nil).body; p["first_visit_pilot"] != true {
			t.Fatalf("pumch not a pilot: %v", p["first_visit_pilot"])
		}
		for _, action := range []string{"pilot.designate", "pilot.withdraw"} {
			if !e.audited(reg, "institution=bch&object_type=pilot", action) {
				t.Fatalf("%s not audited", action)
			}
		}
	})
}

// N-8, N-21: the public directory lists, without login, the approved
// institutions with their online services and doctors (name, title,
// department, photo), the suspended ones with the reason, and the
// complaint channel; pending ones are not listed.
func TestPublicDirectory(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("bch-admin")
		var doc map[string]any
		for _, it := range e.req("GET", "/api/v1/institutions/bch/practitioners", admin, nil).items() {
			if m := it.(map[string]any); m["profession"] == "doctor" {
				doc = m
				break
			}
		}
		path := fmt.Sprintf("/api/v1/practitioners/%.0f/photo", doc["id"].(float64))
		put := func(token string, content []byte) resp {
			return e.req("PUT", path+"?name=photo", token, string(content), "Content-Type", "application/octet-stream")
		}
		if r := put(admin, pdfBytes); r.status != 415 || r.errCode() != "photo_type" {
			t.Fatalf("a PDF photo: %d %s", r.status, r.raw)
		}
		if r := put(e.login("ccmc-admin"), pngBytes(t)); r.status != 403 {
			t.Fatalf("another institution's admin: %d", r.status)
		}
		if r := put(admin, pngBytes(t)); r.status != 200 || r.body["photo_url"] != path {
			t.Fatalf("photo: %d %s", r.status, r.raw)
		}
		if p := e.req("GET", path, "", nil); p.status != 200 || p.header.Get("Content-Type") != "image/png" || !bytes.Equal(p.raw, pngBytes(t)) {
			t.Fatalf("photo read: %d %s", p.status, p.header.Get("Content-Type"))
		}
		e.req("POST", "/api/v1/institutions/pumch/qualification", e.login("regulator"), map[string]any{"status": "suspended", "note": "网络安全等级保护测评未通过"})

		r := e.req("GET", "/api/v1/public/institutions", "", nil)
		if r.status != 200 || r.body["complaint_url"] != "/complaints/new" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		byCode := map[string]map[string]any{}
		for _, it := range r.items() {
			m := it.(map[string]any)
			byCode[m["code"].(string)] = m
		}
		if _, listed := byCode["changgung"]; listed {
			t.Fatal("a pending institution is listed")
		}
		bch := byCode["bch"]
		if bch == nil || bch["status"] != "approved" || bch["first_visit_pilot"] != true || len(bch["services"].([]any)) == 0 || bch["complaint_url"] != "/complaints/new?institution=bch" {
			t.Fatalf("bch: %v", bch)
		}
		found := false
		for _, d := range bch["doctors"].([]any) {
			m := d.(map[string]any)
			if m["name"] == "" || m["title"] == "" || m["title_text"] == "" || m["department_name"] == "" {
				t.Fatalf("doctor: %v", m)
			}
			if m["id"] == doc["id"] {
				found = m["photo_url"] == path
			}
		}
		if !found {
			t.Fatalf("the doctor's photo is not published: %v", bch["doctors"])
		}
		if p := byCode["pumch"]; p == nil || p["status"] != "suspended" || p["suspension_reason"] != "网络安全等级保护测评未通过" {
			t.Fatalf("pumch: %v", p)
		}
		// Credentials stay private.
		for _, secret := range []string{"licence_no", "practice_since", "training_passed_on"} {
			if strings.Contains(string(r.raw), secret) {
				t.Fatalf("the directory shows %s", secret)
			}
		}
		// The page, without login, in both languages.
		b := newBrowser(t, e)
		b.get("/directory")
		for _, want := range []string{"互联网诊疗机构名录", "北京儿童医院", `href="/complaints/new"`, "网络安全等级保护测评未通过", path} {
			if !strings.Contains(b.last, want) {
				t.Fatalf("the page lacks %q", want)
			}
		}
		if strings.Contains(b.last, "北京清华长庚医院") {
			t.Fatal("the page lists a pending institution")
		}
		noRawKeys(t, "/directory", b.last)
		b.get("/directory?lang=en")
		if !strings.Contains(b.last, "Beijing Children") || !strings.Contains(b.last, "Complain or report") {
			t.Fatal("the English page")
		}
	})
}

// The pages of the regulator's side: the application form, the queue and
// the decision, the pilot designations.
func TestQualificationPages(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		adm := newBrowser(t, e)
		adm.login("changgung-admin")
		adm.get("/admin/institutions/changgung/applications")
		if !strings.Contains(adm.last, "my-applications") || strings.Contains(adm.last, `id="apply-form"`) {
			t.Fatal("the waiting application hides the form")
		}
		noRawKeys(t, "apply", adm.last)
		reg := newBrowser(t, e)
		reg.login("regulator")
		reg.get("/regulator/applications")
		id := waitingApplication(e, "changgung")
		if !strings.Contains(reg.last, `data-id="`+id+`"`) {
			t.Fatal("the queue lacks the application")
		}
		noRawKeys(t, "applications", reg.last)
		reg.get("/applications/" + id)
		noRawKeys(t, "application", reg.last)
		csrf := reg.sessionCSRF()
		if res := reg.post("/applications/"+id+"/decision", map[string]string{"csrf": csrf, "approve": "0"}); res.StatusCode != 400 || !strings.Contains(reg.last, "此项为必填项") {
			t.Fatalf("refusal without reasons: %d", res.StatusCode)
		}
		if res := reg.post("/applications/"+id+"/decision", map[string]string{"csrf": csrf, "approve": "0", "reasons": "材料不全"}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("refuse: %d %s", res.StatusCode, reg.last)
		}
		adm.get("/applications/" + id)
		if !strings.Contains(adm.last, "材料不全") {
			t.Fatal("the admin does not see the reasons")
		}
		adm.get("/admin/institutions/changgung/applications")
		if !strings.Contains(adm.last, `id="apply-form"`) {
			t.Fatal("no form after the refusal")
		}
		// Pilots.
		reg.get("/regulator/pilots")
		noRawKeys(t, "pilots", reg.last)
		if res := reg.post("/regulator/pilots", map[string]string{"csrf": csrf, "target": "bch/skin", "from": envDay(e, 3), "to": "2026-01-01"}); res.StatusCode != 400 {
			t.Fatalf("to before from: %d", res.StatusCode)
		}
		if res := reg.post("/regulator/pilots", map[string]string{"csrf": csrf, "target": "bch/skin", "from": envDay(e, 3), "to": ""}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("designate: %d %s", res.StatusCode, reg.last)
		}
		if res := reg.post("/regulator/pilots/ccmc/skin/withdraw", map[string]string{"csrf": csrf}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("withdraw: %d %s", res.StatusCode, reg.last)
		}
		list := string(e.req("GET", "/api/v1/pilots", "", nil).raw)
		if !strings.Contains(list, `"institution":"bch","specialty":"skin","from":"`+envDay(e, 3)+`"`) || strings.Contains(list, `"institution":"ccmc","specialty":"skin"`) {
			t.Fatalf("pilots: %s", list)
		}
		if res := adm.post("/regulator/pilots", map[string]string{"csrf": adm.sessionCSRF(), "target": "bch/skin", "from": envDay(e, 0)}); res.StatusCode != 403 {
			t.Fatalf("an admin designates: %d", res.StatusCode)
		}
	})
}
