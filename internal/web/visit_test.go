package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	visitpkg "github.com/yunyi-health/yunyi/internal/visit"
)

// pngBytes is a small real PNG (a photo of a rash, as far as the server
// can tell).
func pngBytes(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range 16 {
		img.Set(i, i, color.RGBA{200, 40, 40, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload posts a file as multipart form data.
func (e *env) upload(token, path, name string, content []byte) resp {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
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
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	out.raw = b.Bytes()
	json.Unmarshal(out.raw, &out.body)
	return out
}

// doctorSlot finds an open slot of a service whose doctor has the account.
func (e *env) doctorSlot(service, institution, doctorToken string, skip map[float64]bool) map[string]any {
	e.t.Helper()
	me := e.req("GET", "/api/v1/me", doctorToken, nil).body
	var pid float64
	for _, it := range e.req("GET", "/api/v1/institutions/"+institution+"/practitioners", e.login(institution+"-admin"), nil).items() {
		m := it.(map[string]any)
		if m["account_id"] == me["id"] {
			pid = m["id"].(float64)
		}
	}
	for _, it := range e.req("GET", "/api/v1/slots?service="+service, "", nil).items() {
		m := it.(map[string]any)
		if m["doctor_id"] == pid && m["bookable"] == true && !skip[m["id"].(float64)] {
			return m
		}
	}
	e.t.Fatalf("no slot of %s for the doctor's practitioner %v", service, pid)
	return nil
}

func (e *env) bookVisit(token string, patient int64, slot map[string]any, key string) float64 {
	e.t.Helper()
	b := e.req("POST", "/api/v1/appointments", token, map[string]any{"slot_id": slot["id"], "patient_id": patient,
		"answers": withNo(map[string]bool{"first_visit": strings.HasSuffix(slot["service"].(string), "-fv")})}, "Idempotency-Key", key)
	if b.status != 201 {
		e.t.Fatalf("book: %d %s", b.status, b.raw)
	}
	return b.body["id"].(float64)
}

// checkIn gives a skin first visit its photo and answers (V-1): checked in.
func (e *env) checkIn(token, vpath string) {
	e.t.Helper()
	e.upload(token, vpath+"/attachments", "p.png", pngBytes(e.t))
	if r := e.req("PUT", vpath+"/pre-consult", token, map[string]any{"answers": map[string]any{"site": []string{"face"}, "duration_days": 2}}); r.status != 200 {
		e.t.Fatalf("pre-consult %d %s", r.status, r.raw)
	}
}

func wsDial(t *testing.T, e *env, token string, visit float64, after int64) *websocket.Conn {
	t.Helper()
	url := strings.Replace(e.ts.URL, "http", "ws", 1) + fmt.Sprintf("/api/v1/visits/%.0f/ws?after=%d", visit, after)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

// nextMessage reads frames until a chat message (or fails after 5 s).
func nextMessage(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var f map[string]any
		if err := wsjson.Read(ctx, c, &f); err != nil {
			t.Fatalf("read: %v", err)
		}
		if f["type"] == "message" {
			return f["message"].(map[string]any)
		}
		if f["type"] == "error" {
			t.Fatalf("error frame %v", f)
		}
	}
}

// The online visit through the API (V-1..V-3, D-1): pre-consultation with a
// photo, checked files, locked answers, the state machine, chat over
// WebSocket with resume, the call's time, the signed record and its
// amendments, and a second visit terminated and referred offline.
func TestVisitFlow(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		doc := e.login("bch-dermatology-doctor")
		kids := e.patientIDs(lm)
		slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
		id := e.bookVisit(lm, kids["李小雨"], slot, "v-1")
		vpath := fmt.Sprintf("/api/v1/visits/%.0f", id)

		v := e.req("GET", vpath, lm, nil)
		if v.status != 200 || v.body["state"] != "booked" || v.body["questionnaire"] != "skin" || v.body["questionnaire_form"] == nil {
			t.Fatalf("visit %d %s", v.status, v.raw)
		}
		// Only the patient's accounts and the visit's doctor see it.
		for _, other := range []string{"zhangwei", "bch-doctor", "ccmc-child-health-doctor", "regulator", "bch-admin"} {
			if r := e.req("GET", vpath, e.login(other), nil); r.status != 404 {
				t.Fatalf("%s sees the visit: %d", other, r.status)
			}
		}
		// V-1: the photo is required and every answer is checked.
		r := e.req("PUT", vpath+"/pre-consult", lm, map[string]any{"answers": map[string]any{"site": []string{"knee"}}})
		if f := r.fieldCodes(); r.status != 400 || f["site"] != "not_an_option" || f["duration_days"] != "required" || f["files"] != "files_required" {
			t.Fatalf("pre-consult %d %s", r.status, r.raw)
		}
		// A text file named .jpg, and a file over 10 MB: refused, nothing kept.
		blobDir := e.s.cfg.BlobDir
		if r := e.upload(lm, vpath+"/attachments", "rash.jpg", []byte("this is not an image at all")); r.status != 415 || r.errCode() != "attachment_type" {
			t.Fatalf("fake jpg %d %s", r.status, r.raw)
		}
		big := append(pngBytes(t), make([]byte, 10<<20)...)
		if r := e.upload(lm, vpath+"/attachments", "big.png", big); r.status != 413 || r.errCode() != "attachment_too_large" {
			t.Fatalf("big file %d %s", r.status, r.raw)
		}
		if n := e.count("attachments"); n != 0 {
			t.Fatalf("%d attachment rows after refusals", n)
		}
		if files := filesIn(t, blobDir); len(files) != 0 {
			t.Fatalf("refused uploads left files: %v", files)
		}
		if r := e.upload(doc, vpath+"/attachments", "x.png", pngBytes(t)); r.status != 403 {
			t.Fatalf("the doctor uploads pre-consultation files: %d", r.status)
		}
		up := e.upload(lm, vpath+"/attachments", `C:\photos\皮疹.PNG`, pngBytes(t))
		if up.status != 201 || up.body["content_type"] != "image/png" || up.body["name"] != "皮疹.png" {
			t.Fatalf("upload %d %s", up.status, up.raw)
		}
		pdf := e.upload(lm, vpath+"/attachments", "化验单.pdf", []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"))
		if pdf.status != 201 || pdf.body["content_type"] != "application/pdf" {
			t.Fatalf("pdf %d %s", pdf.status, pdf.raw)
		}
		if r := e.req("DELETE", fmt.Sprintf("%s/attachments/%.0f", vpath, pdf.body["id"].(float64)), lm, nil); r.status != 204 {
			t.Fatalf("delete %d %s", r.status, r.raw)
		}
		if files := filesIn(t, blobDir); len(files) != 1 {
			t.Fatalf("after delete: %v", files)
		}
		answers := map[string]any{"site": []string{"face", "trunk"}, "duration_days": 5, "itch": "severe", "fever": false, "blisters_mucosa": true,
			"description": "面部和躯干红斑，瘙痒"}
		r = e.req("PUT", vpath+"/pre-consult", lm, map[string]any{"answers": answers})
		if r.status != 200 || r.body["state"] != "checked_in" {
			t.Fatalf("pre-consult %d %s", r.status, r.raw)
		}
		// The doctor sees the answers, the file and the red flag before the visit.
		dv := e.req("GET", vpath, doc, nil)
		if !strings.Contains(string(dv.raw), `"code":"mucosa"`) || len(dv.body["attachments"].([]any)) != 1 {
			t.Fatalf("doctor view %s", dv.raw)
		}
		if pv := e.req("GET", vpath, lm, nil); strings.Contains(string(pv.raw), `"code":"mucosa"`) || strings.Contains(string(pv.raw), "警惕重症药疹") {
			t.Fatalf("red flags are for the doctor")
		}
		att := e.req("GET", fmt.Sprintf("%s/attachments/%.0f", vpath, up.body["id"].(float64)), doc, nil)
		if att.status != 200 || att.header.Get("Content-Type") != "image/png" || !bytes.Equal(att.raw, pngBytes(t)) {
			t.Fatalf("attachment %d %s", att.status, att.header)
		}
		// The state machine: wrong party 403, wrong state 409 (nothing changes).
		if r := e.req("POST", vpath+"/start", lm, nil); r.status != 403 {
			t.Fatalf("patient starts: %d", r.status)
		}
		if r := e.req("POST", vpath+"/complete", doc, nil); r.status != 409 || r.errCode() != "visit_illegal_step" || !strings.Contains(r.errMessage(), "已完成预问诊") {
			t.Fatalf("complete before start: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/wait", lm, nil); r.status != 200 || r.body["state"] != "waiting" {
			t.Fatalf("wait %d %s", r.status, r.raw)
		}
		e.clock.Add(7 * time.Minute)
		if r := e.req("POST", vpath+"/start", doc, nil); r.status != 200 || r.body["state"] != "in_progress" || r.body["wait_seconds"] != 420.0 {
			t.Fatalf("start %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/start", doc, nil); r.status != 409 {
			t.Fatalf("start twice %d", r.status)
		}
		if r := e.req("PUT", vpath+"/pre-consult", lm, map[string]any{"answers": answers}); r.status != 409 || r.errCode() != "visit_locked" {
			t.Fatalf("answers after start %d %s", r.status, r.raw)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", lm, nil).raw), "医生正在呼叫您") {
			t.Fatal("the patient was not told the doctor is calling")
		}
		if c := e.req("POST", fmt.Sprintf("/api/v1/appointments/%.0f/cancel", id), lm, nil); c.status != 409 {
			t.Fatalf("cancel a visit in progress %d", c.status)
		}

		// V-2: chat over WebSocket. Only participants join.
		ctx := context.Background()
		url := strings.Replace(e.ts.URL, "http", "ws", 1) + vpath + "/ws"
		if _, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + e.login("zhangwei")}}}); err == nil || res == nil || res.StatusCode != 404 {
			t.Fatalf("an outsider joined the chat: %v", err)
		}
		pc := wsDial(t, e, lm, id, 0)
		dc := wsDial(t, e, doc, id, 0)
		// A frame the socket does not take is answered with an error frame
		// of a stable code naming the field; the socket stays open.
		for _, c := range []struct {
			frame, code, field string
			binary             bool
		}{
			{`{"type":"message","text":"a\u0000b"}`, "invalid_input", "text", false},
			{`{"type":"signal","data":{"sdp":"\u0000"}}`, "invalid_input", "data.sdp", false},
			{`not json`, "bad_json", "", false},
			{`{"type":"dance"}`, "invalid_input", "type", false},
			{`{"type":"read","seq":"x"}`, "invalid_input", "seq", false},
			{`{"type":"read","bogus":1}`, "invalid_input", "bogus", false},
			{`{"type":"read","seq":1}`, "unsupported_media_type", "", true},
		} {
			typ := websocket.MessageText
			if c.binary {
				typ = websocket.MessageBinary
			}
			if err := pc.Write(ctx, typ, []byte(c.frame)); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			for {
				var f struct {
					Type  string   `json:"type"`
					Error apiError `json:"error"`
				}
				if err := wsjson.Read(rctx, pc, &f); err != nil {
					t.Fatalf("%s: %v", c.frame, err)
				}
				if f.Type != "error" {
					continue
				}
				if f.Error.Code != c.code || (c.field != "" && (len(f.Error.Fields) != 1 || f.Error.Fields[0].Field != c.field)) || f.Error.Message == "" {
					t.Fatalf("%s: %+v", c.frame, f.Error)
				}
				break
			}
			cancel()
		}
		send := func(c *websocket.Conn, text, clientID string) {
			if err := wsjson.Write(ctx, c, map[string]any{"type": "message", "text": text, "client_id": clientID}); err != nil {
				t.Fatal(err)
			}
		}
		send(pc, "医生您好，孩子脸上起了红疹", "p-1")
		if m := nextMessage(t, dc); m["seq"] != 1.0 || m["sender_role"] != "patient" || m["text"] != "医生您好，孩子脸上起了红疹" {
			t.Fatalf("doctor got %v", m)
		}
		nextMessage(t, pc)               // the patient's own, numbered
		send(pc, "医生您好，孩子脸上起了红疹", "p-1") // resent after a lost ack: not stored twice
		pc.Close(websocket.StatusNormalClosure, "")
		send(dc, "请问有没有发热？", "d-1")
		send(dc, "有没有新用的药物或护肤品？", "d-2")
		if m := nextMessage(t, dc); m["seq"] != 2.0 {
			t.Fatalf("the resent message got a number: %v", m)
		}
		nextMessage(t, dc)
		// The patient reconnects with the last number seen: gets 2 and 3, in order, once.
		pc = wsDial(t, e, lm, id, 1)
		if m := nextMessage(t, pc); m["seq"] != 2.0 || m["text"] != "请问有没有发热？" {
			t.Fatalf("resume 1: %v", m)
		}
		if m := nextMessage(t, pc); m["seq"] != 3.0 {
			t.Fatalf("resume 2: %v", m)
		}
		send(pc, "没有发热", "p-2")
		if m := nextMessage(t, dc); m["seq"] != 4.0 {
			t.Fatalf("live after resume: %v", m)
		}
		pc.Close(websocket.StatusNormalClosure, "")
		dc.Close(websocket.StatusNormalClosure, "")
		if ms := e.req("GET", vpath+"/messages?after=0", doc, nil); len(ms.body["messages"].([]any)) != 4 {
			t.Fatalf("messages %s", ms.raw)
		}
		if r := e.req("POST", vpath+"/messages", lm, map[string]any{"text": strings.Repeat("长", 2001)}); r.status != 400 {
			t.Fatalf("long message %d", r.status)
		}
		// An image in the chat.
		img := e.upload(lm, vpath+"/attachments?purpose=chat", "close-up.png", pngBytes(t))
		if img.status != 201 {
			t.Fatalf("chat image %d %s", img.status, img.raw)
		}
		if r := e.req("POST", vpath+"/messages", lm, map[string]any{"kind": "image", "attachment_id": img.body["id"]}); r.status != 201 || r.body["seq"] != 5.0 {
			t.Fatalf("image message %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/read", doc, map[string]any{"seq": 5}); r.status != 204 {
			t.Fatalf("read %d", r.status)
		}
		// The video call's time (reported by the browsers).
		e.req("POST", vpath+"/call", doc, map[string]string{"event": "started"})
		e.clock.Add(20 * time.Minute)
		if r := e.req("POST", vpath+"/call", doc, map[string]string{"event": "ended"}); r.body["call_seconds"] != 1200.0 {
			t.Fatalf("call %s", r.raw)
		}
		if ice := e.req("GET", vpath+"/ice", lm, nil); ice.status != 200 {
			t.Fatalf("ice %d", ice.status)
		}

		// The record: codes checked; completing signs version 1.
		if r := e.req("PUT", vpath+"/record", doc, map[string]any{"diagnoses": []map[string]string{{"code": "X99.9"}}}); r.status != 400 || r.fieldCodes()["diagnoses[0].code"] != "icd_unknown" {
			t.Fatalf("bad code %d %s", r.status, r.raw)
		}
		rec := map[string]any{"chief_complaint": "面部躯干红斑伴瘙痒 5 天", "present_illness": "5 天前面部出现红斑，渐及躯干，瘙痒明显，无发热。",
			"observations": "照片示面部、躯干红斑，部分区域可疑水疱", "diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "建议线下皮肤科复诊评估"}
		if r := e.req("PUT", vpath+"/record", doc, rec); r.status != 200 || r.body["draft"] == nil {
			t.Fatalf("draft %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", vpath+"/record", lm, rec); r.status != 403 {
			t.Fatalf("patient writes the record %d", r.status)
		}
		e.clock.Add(time.Minute)
		done := e.req("POST", vpath+"/complete", doc, nil)
		if done.status != 200 || done.body["state"] != "completed" || done.body["record_versions"] != 1.0 || done.body["talk_seconds"] != 1260.0 {
			t.Fatalf("complete %d %s", done.status, done.raw)
		}
		appt := e.req("GET", fmt.Sprintf("/api/v1/appointments/%.0f", id), lm, nil)
		if appt.body["visit_state"] != "completed" {
			t.Fatalf("the appointment does not show the visit's state: %s", appt.raw)
		}
		if r := e.req("PUT", vpath+"/record", doc, rec); r.status != 409 || r.errCode() != "record_locked" {
			t.Fatalf("draft after signing %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/messages", lm, map[string]any{"text": "谢谢"}); r.status != 409 || r.errCode() != "chat_closed" {
			t.Fatalf("chat after the end %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/amendments", doc, rec); r.status != 400 || r.fieldCodes()["amend_reason"] != "required" {
			t.Fatalf("amend without reason %d %s", r.status, r.raw)
		}
		rec["diagnoses"] = []map[string]string{{"code": "L23.9"}}
		rec["amend_reason"] = "追问得知发病前使用新护肤品，修正诊断"
		if r := e.req("POST", vpath+"/amendments", doc, rec); r.status != 200 || r.body["record_versions"] != 2.0 {
			t.Fatalf("amend %d %s", r.status, r.raw)
		}
		vs := e.req("GET", vpath+"/records", lm, nil).body["versions"].([]any)
		if len(vs) != 2 || vs[0].(map[string]any)["diagnoses"].([]any)[0].(map[string]any)["code"] != "L20.9" ||
			vs[1].(map[string]any)["diagnoses"].([]any)[0].(map[string]any)["name"] != "变应性接触性皮炎" {
			t.Fatalf("versions %v", vs)
		}

		// A second visit (李小天), terminated and referred offline (V-3).
		slot2 := e.doctorSlot("bch-skin-fv", "bch", doc, map[float64]bool{slot["id"].(float64): true})
		id2 := e.bookVisit(lm, kids["李小天"], slot2, "v-2")
		v2 := fmt.Sprintf("/api/v1/visits/%.0f", id2)
		e.upload(lm, v2+"/attachments", "photo.png", pngBytes(t))
		if r := e.req("PUT", v2+"/pre-consult", lm, map[string]any{"answers": map[string]any{"site": []string{"limbs"}, "duration_days": "30"}}); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		e.req("POST", v2+"/start", doc, nil)
		if r := e.req("POST", v2+"/terminate", doc, map[string]any{"reasons": []string{"bored"}, "referral": map[string]string{"department": "nowhere"}}); r.status != 400 {
			t.Fatalf("bad termination %d %s", r.status, r.raw)
		}
		term := e.req("POST", v2+"/terminate", doc, map[string]any{"reasons": []string{"needs_exam", "needs_tests"}, "note": "需皮肤镜及真菌镜检",
			"referral": map[string]string{"department": "dermatology", "urgency": "soon", "advice": "三天内到皮肤科门诊，携带既往用药"}})
		if term.status != 200 || term.body["state"] != "terminated" || term.body["refund_due"] != true {
			t.Fatalf("terminate %d %s", term.status, term.raw)
		}
		tj := term.body["termination"].(map[string]any)
		if tj["department_name"] != "皮肤科" || len(tj["reason_texts"].([]any)) != 2 {
			t.Fatalf("termination %v", tj)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", lm, nil).raw), "问诊已终止") {
			t.Fatal("the patient was not told of the termination")
		}
		sup := e.req("GET", "/api/v1/oversight/terminations", e.login("regulator"), nil)
		if len(sup.body["terminations"].([]any)) != 1 || sup.body["by_reason"].(map[string]any)["needs_exam"] != 1.0 {
			t.Fatalf("supervision %s", sup.raw)
		}
		if r := e.req("GET", "/api/v1/oversight/terminations", lm, nil); r.status != 403 {
			t.Fatalf("a patient sees supervision %d", r.status)
		}
		// Every step is audited.
		var steps int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM visit_steps`).Scan(&steps)
		if steps != 7 { // check_in, wait, start, complete; check_in, start, terminate
			t.Fatalf("%d steps recorded", steps)
		}
	})
}

// D-1 and D-2 at call-in: a doctor who no longer meets D-1 cannot start a
// first visit, with every reason; the SMS sandbox recorded the call.
func TestVisitStartNeedsD1(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		doc := e.login("bch-dermatology-doctor")
		slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
		id := e.bookVisit(lm, e.patientIDs(lm)["李小雨"], slot, "d1")
		vpath := fmt.Sprintf("/api/v1/visits/%.0f", id)
		e.checkIn(lm, vpath)
		admin := e.login("bch-admin")
		pp := fmt.Sprintf("/api/v1/practitioners/%.0f", slot["doctor_id"].(float64))
		p := e.req("GET", pp, admin, nil).body
		p["training_passed_on"] = ""
		p["title"] = "resident"
		upd := map[string]any{}
		for _, k := range []string{"name", "profession", "title", "licence_no", "practice_since", "internet_since", "training_passed_on", "department", "account_id"} {
			upd[k] = p[k]
		}
		if r := e.req("PUT", pp, admin, upd); r.status != 200 {
			t.Fatalf("update %d %s", r.status, r.raw)
		}
		r := e.req("POST", vpath+"/start", doc, nil)
		f := r.fieldCodes()
		if r.status != 403 || r.errCode() != "doctor_not_eligible" || f["doctor"] == "" {
			t.Fatalf("start %d %s", r.status, r.raw)
		}
		if !strings.Contains(string(r.raw), "职称低于主治医师") || !strings.Contains(string(r.raw), "培训") {
			t.Fatalf("every D-1 reason must be given: %s", r.raw)
		}
		if v := e.req("GET", vpath, doc, nil); v.body["state"] != "checked_in" {
			t.Fatalf("a refused start changed the state: %s", v.body["state"])
		}
		// A follow-up visit is not held to D-1 (李小天 was seen offline 10 days ago: S-3).
		var rid string
		if err := e.db.Writer().QueryRow(`SELECT resident_id FROM patients WHERE name = '李小天'`).Scan(&rid); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.InsertVisits(context.Background(), []history.Visit{{Institution: "bch", Department: "dermatology", ResidentID: rid,
			Date: testNow().AddDate(0, 0, -10).Format("2006-01-02"), DiagnosisCode: "L20.9", DiagnosisName: "特应性皮炎", Definite: true, ExternalID: "t-1"}}); err != nil {
			t.Fatal(err)
		}
		fu := e.doctorSlot("bch-dermatology-fu", "bch", doc, nil)
		id2 := e.bookVisit(lm, e.patientIDs(lm)["李小天"], fu, "fu")
		v2 := fmt.Sprintf("/api/v1/visits/%.0f", id2)
		e.req("PUT", v2+"/pre-consult", lm, map[string]any{"answers": map[string]any{"diagnosis": "特应性皮炎", "current_state": "好转"}})
		if r := e.req("POST", v2+"/start", doc, nil); r.status != 200 {
			t.Fatalf("follow-up start %d %s", r.status, r.raw)
		}
		e.s.bg.Wait() // the SMS goes out in the background
		sms := e.req("GET", "/api/v1/sandbox/sms", e.login("admin"), nil)
		if !strings.Contains(string(sms.raw), "医师已开始") || sms.body["sandbox"] != true {
			t.Fatalf("sms log %s", sms.raw)
		}
	})
}

func filesIn(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Notices: the doctor hears that the patient waits; a reminder half an hour
// before, once; a no-show only after the visit's time.
func TestVisitRemindersAndNoShow(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		doc := e.login("bch-dermatology-doctor")
		slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
		id := e.bookVisit(lm, e.patientIDs(lm)["李小雨"], slot, "r1")
		vpath := fmt.Sprintf("/api/v1/visits/%.0f", id)
		start, _ := time.Parse(time.RFC3339, slot["start"].(string))
		e.clock.Set(start.Add(-20 * time.Minute))
		lm, doc = e.login("liming"), e.login("bch-dermatology-doctor") // the sessions of the day before expired
		for range 2 {
			if err := e.s.SendReminders(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if n := strings.Count(string(e.req("GET", "/api/v1/notifications", lm, nil).raw), "问诊提醒"); n != 1 {
			t.Fatalf("%d reminders", n)
		}
		if r := e.req("POST", vpath+"/no-show", doc, nil); r.status != 409 || r.errCode() != "too_early" {
			t.Fatalf("no-show before the time %d %s", r.status, r.raw)
		}
		e.checkIn(lm, vpath)
		if r := e.req("POST", vpath+"/wait", lm, nil); r.status != 200 {
			t.Fatalf("wait %d %s", r.status, r.raw)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", doc, nil).raw), "患者已候诊") {
			t.Fatal("the doctor was not told the patient waits")
		}
		if r := e.req("POST", vpath+"/no-show", doc, nil); r.status != 409 || r.errCode() != "visit_illegal_step" {
			t.Fatalf("a waiting patient is no no-show: %d %s", r.status, r.raw)
		}
		// Another visit nobody came to.
		slot2 := e.doctorSlot("bch-skin-fv", "bch", doc, map[float64]bool{slot["id"].(float64): true})
		id2 := e.bookVisit(lm, e.patientIDs(lm)["李小天"], slot2, "r2")
		start2, _ := time.Parse(time.RFC3339, slot2["start"].(string))
		e.clock.Set(start2.Add(16 * time.Minute))
		doc = e.login("bch-dermatology-doctor")
		if r := e.req("POST", fmt.Sprintf("/api/v1/visits/%.0f/no-show", id2), doc, nil); r.status != 200 || r.body["state"] != "no_show" {
			t.Fatalf("no-show %d %s", r.status, r.raw)
		}
	})
}

// A participant cannot flood a visit: chat posts are rate limited per
// account (30 at once, then 2 a second), with the usual 429.
func TestChatRateLimit(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, relaxed)
		lm := e.login("liming")
		doc := e.login("bch-dermatology-doctor")
		slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
		id := e.bookVisit(lm, e.patientIDs(lm)["李小雨"], slot, "rl")
		vpath := fmt.Sprintf("/api/v1/visits/%.0f", id)
		e.checkIn(lm, vpath)
		e.req("POST", vpath+"/wait", lm, nil)
		limited := 0
		for i := range 40 {
			r := e.req("POST", vpath+"/messages", lm, map[string]any{"text": fmt.Sprint("消息 ", i)})
			if r.status == 429 {
				limited++
			} else if r.status != 201 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		}
		if limited < 5 || limited > 15 {
			t.Fatalf("%d of 40 limited", limited)
		}
	})
}

// Questionnaires are data: the platform administrator edits them (every
// field type and red flag checked on save); an institution only chooses one
// for its services.
func TestQuestionnairesAsData(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		list := e.req("GET", "/api/v1/questionnaires", "", nil)
		if n := len(list.body["questionnaires"].([]any)); n != 4 {
			t.Fatalf("%d demo questionnaires", n)
		}
		q := map[string]any{"title": "过敏复诊", "fields": []map[string]any{
			{"key": "trigger", "label": "诱因", "type": "text", "required": true},
			{"key": "wheeze", "label": "喘息", "type": "yesno"}},
			"red_flags": []map[string]any{{"code": "wheeze", "when": "has(a.wheeze) && a.wheeze == true", "message": "喘息：警惕哮喘急性发作"}}}
		if r := e.req("PUT", "/api/v1/questionnaires/allergy_fu", e.login("bch-admin"), q); r.status != 403 {
			t.Fatalf("an institution edits a shared template: %d", r.status)
		}
		admin := e.login("admin")
		bad := map[string]any{"title": "x", "fields": []map[string]any{{"key": "a", "label": "a", "type": "slider"}},
			"red_flags": []map[string]any{{"code": "f", "when": "a.a >", "message": "m"}}}
		if r := e.req("PUT", "/api/v1/questionnaires/bad", admin, bad); r.status != 400 || r.fieldCodes()["fields[0].type"] != "field_type" || r.fieldCodes()["red_flags[0].when"] != "expr_invalid" {
			t.Fatalf("bad template %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", "/api/v1/questionnaires/allergy_fu", admin, q); r.status != 200 {
			t.Fatalf("save %d %s", r.status, r.raw)
		}
		// The institution assigns it to a service; an unknown one is refused.
		svc := map[string]any{"department": "allergy", "name": "过敏反应科复诊", "kind": "follow_up", "price_fen": 5000, "days": []int{1, 2, 3, 4, 5, 6, 7},
			"questionnaire": "nope"}
		bch := e.login("bch-admin")
		if r := e.req("PUT", "/api/v1/institutions/bch/services/bch-allergy-fu", bch, svc); r.status != 400 || r.fieldCodes()["questionnaire"] != "not_found" {
			t.Fatalf("unknown questionnaire %d %s", r.status, r.raw)
		}
		svc["questionnaire"] = "allergy_fu"
		if r := e.req("PUT", "/api/v1/institutions/bch/services/bch-allergy-fu", bch, svc); r.status != 200 {
			t.Fatalf("assign %d %s", r.status, r.raw)
		}
		if got := e.req("GET", "/api/v1/services/bch-allergy-fu", "", nil).body["service"].(map[string]any)["questionnaire"]; got != "allergy_fu" {
			t.Fatalf("service questionnaire %v", got)
		}
		// Termination reasons are data too: the regulator edits them (V-3).
		reason := map[string]any{"name": "需要住院观察", "name_en": "Needs admission", "active": true, "position": 8}
		if r := e.req("PUT", "/api/v1/termination-reasons/admission", bch, reason); r.status != 403 {
			t.Fatalf("an institution edits the reasons: %d", r.status)
		}
		if r := e.req("PUT", "/api/v1/termination-reasons/admission", e.login("regulator"), map[string]any{"name": " "}); r.status != 400 || r.fieldCodes()["name"] != "required" {
			t.Fatalf("a reason without a name %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", "/api/v1/termination-reasons/admission", e.login("regulator"), reason); r.status != 200 {
			t.Fatalf("save reason %d %s", r.status, r.raw)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/termination-reasons", "", nil).raw), "需要住院观察") {
			t.Fatal("the new reason is not listed")
		}
	})
}

// visitOnTwoServers books a first visit of 李小雨 through server e, checks
// it in there and has the doctor start it through server other; it
// returns the patient's and the doctor's tokens (of e and other), the
// visit and its API path.
func visitOnTwoServers(t *testing.T, e, other *env, key string) (lm, doc string, id float64, vpath string) {
	t.Helper()
	lm = e.login("liming")
	doc = other.login("bch-dermatology-doctor")
	slot := e.doctorSlot("bch-skin-fv", "bch", e.login("bch-dermatology-doctor"), nil)
	id = e.bookVisit(lm, e.patientIDs(lm)["李小雨"], slot, key)
	vpath = fmt.Sprintf("/api/v1/visits/%.0f", id)
	e.checkIn(lm, vpath)
	if r := other.req("POST", vpath+"/start", doc, nil); r.status != 200 {
		t.Fatalf("start on the other server %d %s", r.status, r.raw)
	}
	return lm, doc, id, vpath
}

// Two servers over one database carry one visit's chat: the database
// numbers the messages, so concurrent posts through both get distinct
// numbers without gaps, and a resend through the other server is found.
func TestChatAcrossServers(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		other := newEnv(t, e.db, map[string][2]float64{"chat-account": {60000, 1000}, "login-ip": {6000, 1000}, "login-user": {6000, 1000}})
		lm, doc, id, vpath := visitOnTwoServers(t, e, other, "x1")
		var wg sync.WaitGroup
		errc := make(chan string, 40)
		for i := range 15 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if r := e.req("POST", vpath+"/messages", lm, map[string]any{"text": fmt.Sprint("患者 ", i), "client_id": fmt.Sprint("p", i)}); r.status != 201 {
					errc <- string(r.raw)
				}
			}()
			go func() {
				defer wg.Done()
				if r := other.req("POST", vpath+"/messages", doc, map[string]any{"text": fmt.Sprint("医生 ", i)}); r.status != 201 {
					errc <- string(r.raw)
				}
			}()
		}
		wg.Wait()
		close(errc)
		for msg := range errc {
			t.Fatalf("a post failed: %s", msg)
		}
		// A resend through the other server: the stored message, not a new one.
		r := other.req("POST", vpath+"/messages", lm, map[string]any{"text": "患者 3", "client_id": "p3"})
		if r.status != 201 {
			t.Fatalf("resend %d %s", r.status, r.raw)
		}
		ms := e.req("GET", vpath+"/messages?after=0", lm, nil).body["messages"].([]any)
		if len(ms) != 30 {
			t.Fatalf("%d messages stored", len(ms))
		}
		for i, m := range ms {
			if m.(map[string]any)["seq"] != float64(i+1) {
				t.Fatalf("message %d has number %v", i, m.(map[string]any)["seq"])
			}
		}
		if r.body["seq"].(float64) < 1 || r.body["seq"].(float64) > 30 {
			t.Fatalf("the resend got a new number %v", r.body["seq"])
		}
		// A resend inside one batch gets its first's number; the batch's
		// new messages follow on.
		batch := []visitpkg.Message{{VisitID: int64(id), SenderID: 1, SenderRole: visitpkg.PartyPatient, Kind: "text", Text: "a", ClientID: "z"},
			{VisitID: int64(id), SenderID: 1, SenderRole: visitpkg.PartyPatient, Kind: "text", Text: "a", ClientID: "z"},
			{VisitID: int64(id), SenderID: 1, SenderRole: visitpkg.PartyPatient, Kind: "text", Text: "b"}}
		if err := e.db.AppendMessages(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if batch[0].Seq != 31 || !batch[1].Replayed || batch[1].Seq != 31 || batch[2].Seq != 32 {
			t.Fatalf("batch %+v", batch)
		}
	})
}

// Two servers over one PostgreSQL database carry a visit's conversation
// live: the patient on one, the doctor on the other see each other's
// messages, the call's signalling and each other's presence at once
// (LISTEN/NOTIFY). A SQLite database has one server.
func TestChatLiveAcrossServers(t *testing.T) {
	db := sqltest.Open(t, sqlstore.Postgres)
	e := newEnv(t, db, relaxed)
	other := newEnv(t, db, relaxed)
	lm, doc, id, _ := visitOnTwoServers(t, e, other, "live-1")
	pc := wsDial(t, e, lm, id, 0)
	dc := wsDial(t, other, doc, id, 0)
	defer pc.Close(websocket.StatusNormalClosure, "")
	defer dc.Close(websocket.StatusNormalClosure, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// next reads frames of a type, failing after 10 s.
	next := func(c *websocket.Conn, typ string, ok func(map[string]any) bool) map[string]any {
		t.Helper()
		for {
			var f map[string]any
			if err := wsjson.Read(ctx, c, &f); err != nil {
				t.Fatalf("waiting for %s: %v", typ, err)
			}
			if f["type"] == typ && ok(f) {
				return f
			}
		}
	}
	hasDoctor := func(f map[string]any) bool {
		for _, p := range f["online"].([]any) {
			if p == "doctor" {
				return true
			}
		}
		return false
	}
	next(pc, "presence", hasDoctor) // the doctor is on the other server
	for i := 1; i <= 3; i++ {
		text := fmt.Sprint("医生您好 ", i)
		if err := wsjson.Write(ctx, pc, map[string]any{"type": "message", "text": text, "client_id": fmt.Sprint("p", i)}); err != nil {
			t.Fatal(err)
		}
		m := next(dc, "message", func(map[string]any) bool { return true })["message"].(map[string]any)
		if m["seq"] != float64(i) || m["text"] != text {
			t.Fatalf("the doctor's server delivered %v", m)
		}
	}
	if err := wsjson.Write(ctx, dc, map[string]any{"type": "message", "text": "请问有没有发热？", "client_id": "d1"}); err != nil {
		t.Fatal(err)
	}
	if m := next(pc, "message", func(f map[string]any) bool { return f["message"].(map[string]any)["seq"] == 4.0 })["message"].(map[string]any); m["sender_role"] != "doctor" {
		t.Fatalf("the patient's server delivered %v", m)
	}
	// The call's signalling crosses too.
	if err := wsjson.Write(ctx, dc, map[string]any{"type": "signal", "data": map[string]any{"sdp": "offer"}}); err != nil {
		t.Fatal(err)
	}
	if f := next(pc, "signal", func(map[string]any) bool { return true }); f["data"].(map[string]any)["sdp"] != "offer" || f["role"] != "doctor" {
		t.Fatalf("signal %v", f)
	}
}

// Two servers over one PostgreSQL database: a session revoked on one is
// refused by the other at once, although the other had it cached (for up
// to 30 s); a new guardian linked on one reaches the child's visit
// through the other at once (its list of guardians was cached a minute).
func TestChangesReachTheOtherServer(t *testing.T) {
	db := sqltest.Open(t, sqlstore.Postgres)
	a := newEnv(t, db, relaxed)
	b := newEnv(t, db, relaxed)
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("the other server did not learn: %s", what)
			}
		}
	}
	tok := a.login("liming")
	if r := b.req("GET", "/api/v1/me", tok, nil); r.status != 200 { // now cached on b
		t.Fatalf("me on b %d", r.status)
	}
	if r := a.req("POST", "/api/v1/auth/logout", tok, nil); r.status != 204 {
		t.Fatalf("logout %d", r.status)
	}
	eventually("the logout", func() bool { return b.req("GET", "/api/v1/me", tok, nil).status == 401 })
	// An institution's prescription rules, cached on b, changed on a.
	rules := func(e *env) string {
		return string(e.req("GET", "/api/v1/institutions/bch/prescription-rules", e.login("bch-admin"), nil).raw)
	}
	if strings.Contains(rules(b), "bch-no-injections") {
		t.Fatal("the rule is there before it is saved")
	}
	if r := a.req("PUT", "/api/v1/institutions/bch/prescription-rules/bch-no-injections", a.login("bch-admin"), map[string]any{"severity": "refuse",
		"message_zh": "本院不在线开具注射剂", "message_en": "No injections online here", "expr": `true`, "active": true}); r.status != 200 {
		t.Fatalf("save rule %d %s", r.status, r.raw)
	}
	eventually("the new prescription rule", func() bool { return strings.Contains(rules(b), "bch-no-injections") })
}
