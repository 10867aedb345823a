package web

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// guestToken is the token of a guest link.
func guestToken(t *testing.T, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "/guest/")
	if !ok || tok == "" {
		t.Fatalf("link %q", link)
	}
	return tok
}

// guestJoin redeems a link and returns the guest session's cookie.
func (e *env) guestJoin(token, name, licence string) (string, resp) {
	e.t.Helper()
	r := e.req("POST", "/api/v1/guest/join", "", map[string]string{"token": token, "name": name, "licence_no": licence})
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == guestCookie {
			return guestCookie + "=" + c.Value, r
		}
	}
	return "", r
}

// guestDial opens a guest's socket.
func guestDial(t *testing.T, e *env, cookie, vpath string) (*websocket.Conn, error) {
	t.Helper()
	url := strings.Replace(e.ts.URL, "http", "ws", 1) + vpath + "/guest/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {cookie}}})
	return c, err
}

// nextParticipants reads frames until a participants frame and returns
// its labels.
func nextParticipants(t *testing.T, c *websocket.Conn) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var f map[string]any
		if err := wsjson.Read(ctx, c, &f); err != nil {
			t.Fatalf("read: %v", err)
		}
		if f["type"] == participantsEvent {
			var labels []string
			for _, p := range f["data"].(map[string]any)["participants"].([]any) {
				labels = append(labels, p.(map[string]any)["label"].(string))
			}
			return labels
		}
	}
}

func (e *env) auditActions(visitPath string) map[string]int {
	e.t.Helper()
	id := strings.TrimPrefix(visitPath, "/api/v1/visits/")
	rows, err := e.db.Writer().Query(`SELECT action FROM audit_log WHERE object_type = 'visit' AND object_id = $1`, id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var a string
		rows.Scan(&a)
		out[a]++
	}
	return out
}

// Issue 14: the guardian and the doctor invite guests (another family may
// not); the link goes by SMS and works once; the guest joins the chat with
// a role everyone sees, and sees nothing else of the visit or any other;
// the doctor records a guest clinician for N-4 (the prescription for a
// child under 6 then needs no separate confirmation) and removes a guest,
// whose socket closes and whose session and link stop working; every step
// is audited.
func TestGuestInTheCall(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ibu := drugCode(t, "ibuprofen", "oral", true)
		e.stock("bch", true, ibu)
		vpath, doc, lm := e.rxVisit("李小天", map[string]any{"drug_allergies": "无", "weight_kg": 16})
		visitID := strings.TrimPrefix(vpath, "/api/v1/visits/")

		// Another family may not invite; bad input is refused.
		other, _ := e.family("guest-other", "王小明")
		if r := e.req("POST", vpath+"/guests", other, map[string]any{"phone": "13800001111", "role": "interpreter"}); r.status != 404 {
			t.Fatalf("another family invites: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/guests", lm, map[string]any{"phone": "123", "role": "cousin"}); r.status != 400 ||
			r.fieldCodes()["phone"] != "phone_format" || r.fieldCodes()["role"] != "not_an_option" {
			t.Fatalf("bad invite: %d %s", r.status, r.raw)
		}
		// The guardian invites an interpreter, the doctor a clinician.
		inv := e.req("POST", vpath+"/guests", lm, map[string]any{"phone": "13800001111", "role": "interpreter"})
		if inv.status != 201 || inv.body["id"] == nil || !strings.Contains(inv.body["link"].(string), "/guest/") {
			t.Fatalf("invite %d %s", inv.status, inv.raw)
		}
		interp, link := inv.body["id"].(float64), inv.body["link"].(string)
		cinv := e.req("POST", vpath+"/guests", doc, map[string]any{"phone": "13800002222", "role": "clinician", "name": "李四"})
		if cinv.status != 201 {
			t.Fatalf("doctor invites %d %s", cinv.status, cinv.raw)
		}
		clin := cinv.body["id"].(float64)
		// The SMS carries the link.
		e.s.bg.Wait()
		if sms := string(e.req("GET", "/api/v1/sandbox/sms?to=13800001111", e.login("admin"), nil).raw); !strings.Contains(sms, link) || !strings.Contains(sms, "翻译") {
			t.Fatalf("no SMS with the link: %s", sms)
		}
		// The token is stored only as its hash.
		var n int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM visit_guests WHERE phone = $1 OR name = $2`, guestToken(t, link), guestToken(t, link)).Scan(&n)
		if n != 0 {
			t.Fatal("the token is stored")
		}

		// Joining: a real name; a clinician also a licence number; once.
		if _, r := e.guestJoin(guestToken(t, link), "", ""); r.status != 400 || r.fieldCodes()["name"] != "required" {
			t.Fatalf("no name: %d %s", r.status, r.raw)
		}
		gc, r := e.guestJoin(guestToken(t, link), "张三", "")
		if r.status != 201 || gc == "" || r.body["csrf"] == "" {
			t.Fatalf("join %d %s", r.status, r.raw)
		}
		if _, r := e.guestJoin(guestToken(t, link), "张三", ""); r.status != 410 || r.errCode() != "guest_link_invalid" {
			t.Fatalf("a used link: %d %s", r.status, r.raw)
		}
		if _, r := e.guestJoin(guestToken(t, cinv.body["link"].(string)), "李四", ""); r.status != 400 || r.fieldCodes()["licence_no"] != "required" {
			t.Fatalf("a clinician without licence: %d %s", r.status, r.raw)
		}
		cc, r := e.guestJoin(guestToken(t, cinv.body["link"].(string)), "李四", "110101199001011234")
		if r.status != 201 {
			t.Fatalf("clinician joins %d %s", r.status, r.raw)
		}

		// The guest sees the call and nothing else.
		view := e.req("GET", vpath+"/guest", "", nil, "Cookie", gc)
		if view.status != 200 || !strings.Contains(string(view.raw), "翻译：张三") || !strings.Contains(string(view.raw), "社区医生：李四") {
			t.Fatalf("guest view %d %s", view.status, view.raw)
		}
		if r := e.req("GET", vpath+"/guest/ice", "", nil, "Cookie", gc); r.status != 200 {
			t.Fatalf("guest ice %d %s", r.status, r.raw)
		}
		otherVisit := fmt.Sprintf("/api/v1/visits/%.0f", mustFloat(visitID)+1)
		att := e.req("GET", vpath, lm, nil).body["attachments"].([]any)[0].(map[string]any)["id"].(float64)
		for _, p := range []string{vpath, vpath + "/records", vpath + "/messages", fmt.Sprintf("%s/attachments/%.0f", vpath, att),
			vpath + "/guests", vpath + "/prescriptions", "/api/v1/patients", "/api/v1/me", otherVisit + "/guest", otherVisit} {
			if r := e.req("GET", p, "", nil, "Cookie", gc); r.status != 404 {
				t.Errorf("the guest reads %s: %d %s", p, r.status, r.raw)
			}
		}
		if r := e.req("PUT", vpath+"/pre-consult", "", map[string]any{"answers": map[string]any{}}, "Cookie", gc); r.status != 404 {
			t.Errorf("the guest writes the pre-consultation: %d", r.status)
		}
		if r := e.req("GET", "/visits/"+visitID, "", nil, "Cookie", gc); r.status != 404 {
			t.Errorf("the guest opens the visit page: %d", r.status)
		}
		// Without the cookie: nothing.
		if r := e.req("GET", vpath+"/guest", "", nil); r.status != 404 {
			t.Errorf("no guest session: %d", r.status)
		}

		// The socket: the participants with their roles, then the chat.
		gws, err := guestDial(t, e, gc, vpath)
		if err != nil {
			t.Fatal(err)
		}
		defer gws.CloseNow()
		labels := strings.Join(nextParticipants(t, gws), ",")
		if !strings.Contains(labels, "翻译：张三") || !strings.Contains(labels, "社区医生：李四") || !strings.Contains(labels, "患者：李小天") {
			t.Fatalf("participants %s", labels)
		}
		dws := wsDial(t, e, doc, mustFloat(visitID), 0)
		defer dws.CloseNow()
		if l := strings.Join(nextParticipants(t, dws), ","); !strings.Contains(l, "翻译：张三") {
			t.Fatalf("the doctor's participants %s", l)
		}
		if r := e.req("POST", vpath+"/messages", doc, map[string]any{"text": "请翻译：每天三次"}); r.status != 201 {
			t.Fatalf("post %d %s", r.status, r.raw)
		}
		if m := nextMessage(t, gws); m["text"] != "请翻译：每天三次" {
			t.Fatalf("the guest got %v", m)
		}
		wsjson.Write(context.Background(), gws, map[string]any{"type": "message", "text": "好的，我来翻译", "client_id": "g-1"})
		for {
			m := nextMessage(t, dws)
			if m["text"] == "好的，我来翻译" {
				if m["sender_role"] != "guest" || m["sender_id"] != -interp {
					t.Fatalf("guest message %v", m)
				}
				break
			}
		}

		// N-4: the doctor records the clinician present (the guardian may
		// not; an interpreter is no clinician); the prescription for the
		// 4-year-old then needs no separate confirmation.
		if r := e.req("POST", fmt.Sprintf("%s/guests/%.0f/clinician-present", vpath, clin), lm, nil); r.status != 403 {
			t.Fatalf("the guardian records N-4: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", fmt.Sprintf("%s/guests/%.0f/clinician-present", vpath, interp), doc, nil); r.status != 400 {
			t.Fatalf("an interpreter as clinician: %d %s", r.status, r.raw)
		}
		rxBody := map[string]any{"items": []any{item(ibu, 150, "mg", "tid", 3, 1)}, "diagnoses": []string{"L20.9"}, "weight_kg": 16}
		if r := e.req("POST", vpath+"/prescriptions/check", doc, rxBody); r.body["ok"] != false {
			t.Fatalf("N-4 before the clinician is recorded: %s", r.raw)
		}
		if r := e.req("POST", fmt.Sprintf("%s/guests/%.0f/clinician-present", vpath, clin), doc, nil); r.status != 200 || r.body["clinician_present_at"] == nil {
			t.Fatalf("record N-4: %d %s", r.status, r.raw)
		}
		if p := e.req("POST", vpath+"/prescriptions", doc, rxBody); p.status != 201 || !strings.Contains(string(p.raw), "under-6-accompanied") {
			t.Fatalf("prescribe with the clinician recorded: %d %s", p.status, p.raw)
		}
		_ = cc

		// Removal: only the doctor; the guest's socket closes, the
		// session stops working.
		if r := e.req("DELETE", fmt.Sprintf("%s/guests/%.0f", vpath, interp), lm, nil); r.status != 403 {
			t.Fatalf("the guardian removes: %d %s", r.status, r.raw)
		}
		if r := e.req("DELETE", fmt.Sprintf("%s/guests/%.0f", vpath, interp), doc, nil); r.status != 200 || r.body["status"] != "removed" {
			t.Fatalf("remove %d %s", r.status, r.raw)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			var f map[string]any
			if err := wsjson.Read(ctx, gws, &f); err != nil {
				if websocket.CloseStatus(err) != guestRemovedStatus {
					t.Fatalf("the removed guest's socket: %v", err)
				}
				break
			}
		}
		if r := e.req("GET", vpath+"/guest", "", nil, "Cookie", gc); r.status != 404 {
			t.Fatalf("a removed guest's view: %d", r.status)
		}
		if _, err := guestDial(t, e, gc, vpath); err == nil {
			t.Fatal("a removed guest reconnects")
		}
		// A removed guest's link, unused, stops working too.
		inv2 := e.req("POST", vpath+"/guests", lm, map[string]any{"phone": "13800003333", "role": "guardian"})
		if r := e.req("DELETE", fmt.Sprintf("%s/guests/%.0f", vpath, inv2.body["id"].(float64)), doc, nil); r.status != 200 {
			t.Fatalf("remove unused %d %s", r.status, r.raw)
		}
		if _, r := e.guestJoin(guestToken(t, inv2.body["link"].(string)), "王五", ""); r.status != 410 {
			t.Fatalf("a removed link: %d %s", r.status, r.raw)
		}
		// An expired link.
		inv3 := e.req("POST", vpath+"/guests", lm, map[string]any{"phone": "13800004444", "role": "guardian"})
		e.clock.Add(25 * time.Hour)
		if _, r := e.guestJoin(guestToken(t, inv3.body["link"].(string)), "王五", ""); r.status != 410 {
			t.Fatalf("an expired link: %d %s", r.status, r.raw)
		}
		// The guardian's list shows each guest's status.
		list := e.req("GET", vpath+"/guests", e.login("liming"), nil)
		if list.status != 200 || len(list.items()) != 4 || strings.Contains(string(list.raw), "13800001111") {
			t.Fatalf("list %d %s", list.status, list.raw)
		}

		// The audit trail.
		dws.Close(websocket.StatusNormalClosure, "")
		time.Sleep(100 * time.Millisecond)
		acts := e.auditActions(vpath)
		for a, min := range map[string]int{"visit.guest.invite": 4, "visit.guest.join": 2, "visit.guest.connect": 1, "visit.guest.disconnect": 1,
			"visit.guest.remove": 2, "visit.guest.clinician_present": 1, "visit.guest.denied": 1} {
			if acts[a] < min {
				t.Errorf("audit %s: %d < %d (%v)", a, acts[a], min, acts)
			}
		}
	})
}

// A guest leaves by their own hand (audited); the session ends.
func TestGuestLeaves(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, _, lm := e.rxVisit("李小天", map[string]any{"drug_allergies": "无", "weight_kg": 16})
		inv := e.req("POST", vpath+"/guests", lm, map[string]any{"phone": "13800005555", "role": "guardian"})
		gc, r := e.guestJoin(guestToken(t, inv.body["link"].(string)), "王芳", "")
		if r.status != 201 {
			t.Fatalf("join %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/guest/leave", "", nil, "Cookie", gc); r.status != 403 {
			t.Fatalf("leave without CSRF: %d", r.status)
		}
		if r := e.req("POST", vpath+"/guest/leave", "", nil, "Cookie", gc, "X-CSRF-Token", r.body["csrf"].(string)); r.status != 204 {
			t.Fatalf("leave %d %s", r.status, r.raw)
		}
		if r := e.req("GET", vpath+"/guest", "", nil, "Cookie", gc); r.status != 404 {
			t.Fatalf("after leaving: %d", r.status)
		}
		if acts := e.auditActions(vpath); acts["visit.guest.leave"] != 1 {
			t.Fatalf("audit %v", acts)
		}
	})
}

func mustFloat(s string) float64 {
	var f float64
	fmt.Sscan(s, &f)
	return f
}

// The guest's pages: the link's form (a clinician's asks for the licence
// number), joining, the call page, leaving.
func TestGuestPages(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, doc, _ := e.rxVisit("李小天", map[string]any{"drug_allergies": "无", "weight_kg": 16})
		inv := e.req("POST", vpath+"/guests", doc, map[string]any{"phone": "13800006666", "role": "clinician"})
		tok := guestToken(t, inv.body["link"].(string))
		b := newBrowser(t, e)
		res := b.get("/guest/" + tok)
		body := b.last
		if res.StatusCode != 200 || !strings.Contains(body, "社区医生") || !strings.Contains(body, `name="licence_no"`) {
			t.Fatalf("form %d %s", res.StatusCode, body)
		}
		res = b.post("/guest/"+tok, map[string]string{"csrf": b.csrf(), "name": "李四", "licence_no": "110101199001011234"})
		if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/guest/visits/") {
			t.Fatalf("join %d %s", res.StatusCode, b.last)
		}
		call := b.get(res.Header.Get("Location"))
		page := b.last
		if call.StatusCode != 200 || !strings.Contains(page, "社区医生：李四") || !strings.Contains(page, "/static/guest.js") {
			t.Fatalf("call page %d %s", call.StatusCode, page)
		}
		if res := b.get("/guest/" + tok); res.StatusCode != 410 {
			t.Fatalf("a used link's page: %d", res.StatusCode)
		}
	})
}

// Issue 14: the visit page's guest panel. The guardian invites from the
// page (a bad number is shown beside its field, nothing sent); the guest
// is listed as invited with the number masked; another family's guardian
// has no panel to use; the doctor records a joined clinician as present
// (N-4) and removes a guest, each through the page's forms.
func TestGuestPanelOnVisitPage(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, _, _ := e.rxVisit("李小雨", nil)
		page := "/visits/" + strings.TrimPrefix(vpath, "/api/v1/visits/")

		g := newBrowser(t, e)
		g.login("liming")
		if g.get(page); !strings.Contains(g.last, `id="guest-invite-form"`) || !strings.Contains(g.last, "患者：李小雨") {
			t.Fatalf("no guest panel for the guardian: %s", g.last)
		}
		csrf := csrfField.FindStringSubmatch(g.last)[1]
		if res := g.post(page+"/guests", map[string]string{"csrf": csrf, "phone": "123", "role": "clinician"}); res.StatusCode != 400 ||
			!strings.Contains(g.last, "手机号") || !strings.Contains(g.last, `<details id="guest-invite" open>`) {
			t.Fatalf("bad number: %d %s", res.StatusCode, g.last)
		}
		if res := g.post(page+"/guests", map[string]string{"csrf": csrf, "phone": "13800003333", "role": "clinician"}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("invite: %d %s", res.StatusCode, g.last)
		}
		if g.get(page); !strings.Contains(g.last, `data-status="invited"`) || !strings.Contains(g.last, "138****3333") {
			t.Fatalf("the invited guest is not listed: %s", g.last)
		}
		// The guardian neither removes nor records presence.
		if strings.Contains(g.last, "remove-guest") || strings.Contains(g.last, "mark-present") {
			t.Fatal("the guardian sees the doctor's guest buttons")
		}
		e.s.bg.Wait()
		sms := e.req("GET", "/api/v1/sandbox/sms?to=13800003333", e.login("admin"), nil)
		link := regexp.MustCompile(`http://[^\s"]+/guest/[A-Za-z0-9_-]+`).FindString(string(sms.raw))
		if link == "" {
			t.Fatalf("no link by SMS: %s", sms.raw)
		}
		if _, r := e.guestJoin(guestToken(t, link), "赵社区", "110105199001011234"); r.status != 201 {
			t.Fatalf("join %d %s", r.status, r.raw)
		}

		// Another family: not found, no panel.
		o := newBrowser(t, e)
		e.family("panel-other", "王小明")
		o.loginAs("panel-other", "secret-123")
		if res := o.get(page); res.StatusCode != 404 || strings.Contains(o.last, "guest-invite-form") {
			t.Fatalf("another family sees the visit: %d", res.StatusCode)
		}

		d := newBrowser(t, e)
		d.login("bch-dermatology-doctor")
		d.get(page)
		m := regexp.MustCompile(`action="(/visits/\d+/guests/(\d+)/clinician-present)"`).FindStringSubmatch(d.last)
		if m == nil || !strings.Contains(d.last, "社区医生：赵社区") {
			t.Fatalf("the doctor has no clinician-present button: %s", d.last)
		}
		dc := csrfField.FindStringSubmatch(d.last)[1]
		if res := d.post(m[1], map[string]string{"csrf": dc}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("clinician present: %d %s", res.StatusCode, d.last)
		}
		if d.get(page); !strings.Contains(d.last, "已记录在场（N-4）") || strings.Contains(d.last, "mark-present") {
			t.Fatalf("presence not shown: %s", d.last)
		}
		if res := d.post("/visits/"+strings.TrimPrefix(vpath, "/api/v1/visits/")+"/guests/"+m[2]+"/remove", map[string]string{"csrf": dc}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("remove: %d %s", res.StatusCode, d.last)
		}
		if d.get(page); !strings.Contains(d.last, `data-status="removed"`) {
			t.Fatalf("not removed: %s", d.last)
		}
		if a := e.auditActions(vpath); a["visit.guest.invite"] != 1 || a["visit.guest.clinician_present"] != 1 || a["visit.guest.remove"] != 1 {
			t.Fatalf("audit %v", a)
		}
	})
}
