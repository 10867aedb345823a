package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// api calls the JSON API with a bearer token.
func api(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, b)
		}
	}
	return res.StatusCode
}

// doctorSlots are the open slots of a service whose doctor has the account.
func doctorSlots(t *testing.T, base, service, institution, doctor string) []float64 {
	var me struct{ ID float64 }
	api(t, "GET", base+"/api/v1/me", apiLogin(t, base, doctor), nil, &me)
	var ps struct{ Items []map[string]any }
	api(t, "GET", base+"/api/v1/institutions/"+institution+"/practitioners", apiLogin(t, base, institution+"-admin"), nil, &ps)
	var pid any
	for _, p := range ps.Items {
		if p["account_id"] == me.ID {
			pid = p["id"]
		}
	}
	var slots struct{ Items []map[string]any }
	api(t, "GET", base+"/api/v1/slots?service="+service, "", nil, &slots)
	// H-BCH books 1 to 7 days ahead (S-2): today's slots are listed but not
	// bookable.
	var out []float64
	for _, s := range slots.Items {
		if s["doctor_id"] == pid && s["bookable"] == true {
			out = append(out, s["id"].(float64))
		}
	}
	if len(out) < 2 {
		t.Fatalf("need two slots of %s for %s, have %v", service, doctor, out)
	}
	return out
}

// mediaBrowser is a Chromium with a fake camera and microphone that grants
// their use without asking.
func mediaBrowser(t *testing.T) ctxT {
	return newBrowser(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
}

// The whole online visit in two real browsers (V-1..V-3): the guardian books
// a first visit, fills the pre-consultation with a photo and waits; the
// doctor sees the red flag, calls in; they chat; the doctor starts a video
// call that connects through the embedded TURN relay (fake camera and
// microphone, loopback); the doctor signs the record and the guardian sees
// it. A second visit is terminated and referred offline.
func TestBrowserOnlineVisit(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	s := startServer(t, t.TempDir(), "--demo", "--turn-addr", "127.0.0.1:0")
	slots := doctorSlots(t, s.URL, "bch-skin-fv", "bch", "bch-dermatology-doctor")
	day := dayOf(t, s.URL, slots[0])
	photo := filepath.Join(t.TempDir(), "皮疹.png")
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range 64 {
		img.Set(i, 63-i, color.RGBA{220, 60, 60, 255})
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	os.WriteFile(photo, buf.Bytes(), 0o644)

	pat := mediaBrowser(t)
	doc := mediaBrowser(t)
	prun, drun := steps(t, pat), steps(t, doc)

	// Another family's child takes number 1 of the session: 李小雨 is number 2.
	first := bookOtherFamily(t, s.URL, slots[0])
	bookFirstVisit(t, pat, prun, s.URL, slots[0], "李小雨")
	// 分时段预约: number 2 of the session and its estimated time, on the
	// visit page (and in 我的预约, checked in the booking test).
	if n, at := text(pat, t, "#visit-number"), text(pat, t, "#visit-estimated"); n != "第 2 号" || !strings.HasPrefix(at, "预计 ") {
		t.Fatalf("number and time: %q %q", n, at)
	}
	prun("upload a photo of the rash",
		chromedp.SetUploadFiles(css("#file"), []string{photo}),
		chromedp.Click(css("#upload")),
		chromedp.WaitVisible(css(`#files li[data-purpose=pre_consult] img.thumb`)),
	)
	prun("fill the pre-consultation",
		chromedp.Click(css(`input[name=site][value=face]`)),
		chromedp.Click(css(`input[name=site][value=trunk]`)),
		fill("#q-duration_days", "5"),
		chromedp.SetValue(css("#q-itch"), "severe"),
		chromedp.SendKeys(css("#q-description"), "面部和躯干红斑，瘙痒明显"),
		chromedp.Click(css(`.question[data-key=fever] input[value=no]`)),
		chromedp.Click(css(`.question[data-key=blisters_mucosa] input[value=yes]`)),
		chromedp.Click(css("#pre-consult-submit")),
		chromedp.WaitVisible(css("#enter-waiting")),
		chromedp.Click(css("#enter-waiting")),
		chromedp.WaitVisible(css("#waiting-note")),
	)
	visitURL, _ := chromedp.Run(pat, chromedp.Evaluate[string](`location.pathname`))
	// The waiting room says how many are ahead (20-minute first visits);
	// number 1 is not there when called: 李小雨 is next, live.
	if txt := text(pat, t, "#line-note"); !strings.Contains(txt, "前面还有 1 位，预计 20 分钟") {
		t.Fatalf("waiting room: %q", txt)
	}
	var skipped map[string]any
	if st := api(t, "POST", fmt.Sprintf("%s/api/v1/visits/%.0f/skip", s.URL, first), apiLogin(t, s.URL, "bch-dermatology-doctor"), nil, &skipped); st != 200 {
		t.Fatalf("skip number 1: %d %v", st, skipped)
	}
	waitFor(t, pat, `document.getElementById('line-note').textContent.includes('下一位就是您')`)

	drun("the doctor's queue",
		login(s.URL, "bch-dermatology-doctor", "yunyi2026"),
		chromedp.WaitVisible(css("#nav-doctor")),
		// N-7: the doctor confirms their identity before the session of visits.
		confirmIdentity(s.URL, "bch-dermatology-doctor"),
		chromedp.Navigate(s.URL+"/doctor?day="+day),
		chromedp.WaitVisible(css(`#queue tr[data-state=waiting] .badge.flag`)),
		chromedp.Click(css(`#queue tr[data-state=waiting] a`)),
		chromedp.WaitVisible(css("#red-flags")),
	)
	if txt := text(doc, t, "#red-flags"); !strings.Contains(txt, "警惕重症药疹") {
		t.Fatalf("red flag: %s", txt)
	}
	if txt := text(doc, t, "#answers"); !strings.Contains(txt, "面部、躯干") || !strings.Contains(txt, "5天") {
		t.Fatalf("answers: %s", txt)
	}
	drun("call in", chromedp.Click(css("#call-in")), chromedp.WaitVisible(css(`#visit[data-state=in_progress] #chat-form`)))
	// The guardian's page (waiting, its chat open) reloads itself when the doctor calls in.
	prun("the guardian's page follows", chromedp.WaitVisible(css(`#visit[data-state=in_progress] #chat-form`)))

	prun("the guardian writes", fill("#chat-text", "医生您好，孩子脸上起了红疹"), chromedp.Click(css("#chat-send")))
	drun("the doctor reads it", chromedp.WaitVisible(css(`#chat-log li.from-patient[data-seq="1"]`)))
	drun("and answers", fill("#chat-text", "请问最近有没有用新的护肤品？"), chromedp.Click(css("#chat-send")))
	prun("the guardian reads it", chromedp.WaitVisible(css(`#chat-log li.from-doctor[data-seq="2"]`)))
	if txt := text(pat, t, `#chat-log li[data-seq="2"] .text`); txt != "请问最近有没有用新的护肤品？" {
		t.Fatalf("chat: %q", txt)
	}
	prun("the doctor's read mark", chromedp.WaitVisible(css(`#chat-log li.mine[data-seq="1"] .read`)))

	// A guest in the call (issue 14, N-4): the guardian invites the child's
	// community doctor from the visit page; the one-time link goes by SMS
	// (the sandbox's log); the guest opens it in a third browser, gives a
	// real name and licence number, and appears to everyone in the call.
	const guestPhone = "13912345678"
	prun("the guardian invites the community doctor",
		chromedp.Click(css("#guest-invite summary")),
		fill("#guest-phone", guestPhone),
		chromedp.SetValue(css("#guest-role"), "clinician"),
		chromedp.Click(css("#guest-invite-send")),
		chromedp.WaitVisible(css(`#guest-list tr[data-status=invited]`)),
	)
	link := guestLinkFromSMS(t, s.URL, guestPhone)
	guest := mediaBrowser(t)
	grun := steps(t, guest)
	grun("the guest opens the link and joins",
		chromedp.Navigate(link),
		chromedp.WaitVisible(css("#guest-join")),
		fill(`input[name=name]`, "赵社区"),
		fill(`input[name=licence_no]`, "110105199001011234"),
		chromedp.Click(css(`#guest-join button[type=submit]`)),
		chromedp.WaitVisible(css("#guest-call")),
	)
	waitFor(t, guest, `document.getElementById('guest-participants').textContent.includes('社区医生：赵社区')`)
	// The doctor's page learns of the guest live, and records the clinician
	// as present with the child (N-4).
	waitFor(t, doc, `document.getElementById('participants').textContent.includes('社区医生：赵社区')`)
	drun("the doctor records the clinician present",
		chromedp.Reload(),
		chromedp.WaitVisible(css(`#guest-list tr[data-status=joined] .mark-present`)),
		chromedp.Click(css(`#guest-list tr[data-status=joined] .mark-present`)),
		chromedp.WaitVisible(css(`#guest-list tr[data-status=joined] .badge.ok`)),
	)
	// The guest sees nothing else of the visit: the record's page is not found.
	denied, err := chromedp.Run(guest, chromedp.Evaluate[int](`fetch(location.origin + '`+visitURL+`').then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || denied != 404 {
		t.Fatalf("a guest reached the visit page: %d %v", denied, err)
	}

	// Video through the TURN relay only: proves the embedded relay works.
	// Three in the call: each pair of browsers holds its own connection.
	prun("guardian on the relay-only page", chromedp.Navigate(s.URL+visitURL+"?relay=1"), chromedp.WaitVisible(css("#video")))
	drun("doctor on the relay-only page", chromedp.Navigate(s.URL+visitURL+"?relay=1"), chromedp.WaitVisible(css("#video-start")))
	// The call goes to whoever is connected: wait until the doctor's page
	// sees the guardian online.
	waitFor(t, doc, `document.getElementById('presence').textContent.includes('患者')`)
	drun("start the video", chromedp.Click(css("#video-start")))
	drun("connected (doctor)", chromedp.WaitVisible(css(`#video-status[data-state=connected]`)))
	prun("connected (guardian)", chromedp.WaitVisible(css(`#video-status[data-state=connected]`)))
	grun("connected (guest)", chromedp.WaitVisible(css(`#video-status[data-state=connected]`)))
	drun("the media goes through the relay", chromedp.WaitVisible(css(`#video-status[data-path=relay]`)))
	for _, b := range []ctxT{doc, pat, guest} {
		waitFor(t, b, `document.querySelectorAll('#videos figure.peer[data-state=connected]').length === 2 &&
			[...document.querySelectorAll('#videos figure.peer video')].every(v => v.srcObject !== null)`)
	}
	if txt := text(doc, t, "#videos"); !strings.Contains(txt, "社区医生：赵社区") {
		t.Fatalf("the guest's video is not named on the doctor's page: %q", txt)
	}
	time.Sleep(1200 * time.Millisecond)
	drun("hang up", chromedp.Click(css("#video-hangup")), chromedp.WaitVisible(css(`#video-status[data-state=ended]`)))
	grun("the doctor's hang-up ends the guest's call", chromedp.WaitVisible(css(`#video-status[data-state=ended]`)))

	drun("write and sign the record",
		fill("#rec-cc", "面部躯干红斑伴瘙痒 5 天"),
		chromedp.SendKeys(css("#rec-pi"), "5 天前面部出现红斑，渐及躯干，瘙痒明显，无发热"),
		fill("#rec-dx", "L20.9"),
		chromedp.SendKeys(css("#rec-advice"), "保湿，避免搔抓；一周后复诊"),
		chromedp.Click(css("#rec-complete")),
		chromedp.WaitVisible(css("#signed-record")),
	)
	if txt := text(doc, t, "#signed-dx"); !strings.Contains(txt, "L20.9 特应性皮炎") {
		t.Fatalf("signed record: %s", txt)
	}
	prun("the guardian sees the record", chromedp.WaitVisible(css("#signed-record")))
	if txt := text(pat, t, "#visit-state"); txt != "已完成" {
		t.Fatalf("state %q", txt)
	}
	// The guardian downloads the visit summary (门诊病历) from the page.
	pdf, err := chromedp.Run(pat, chromedp.Evaluate[string](`fetch(document.getElementById('summary-pdf').href).then(r =>
		r.arrayBuffer().then(b => r.status + ' ' + r.headers.get('Content-Type') + ' ' + String.fromCharCode(...new Uint8Array(b.slice(0, 5)))))`, chromedp.EvalAwaitPromise))
	if err != nil || pdf != "200 application/pdf %PDF-" {
		t.Fatalf("summary download: %q %v", pdf, err)
	}
	grun("the visit over, the guest's link ends", chromedp.Navigate(link), chromedp.WaitVisible(css("main")))
	if txt := text(guest, t, "main"); strings.Contains(txt, "加入问诊") {
		t.Fatalf("the guest link still opens after the visit: %q", txt)
	}
	var v1 map[string]any
	api(t, "GET", s.URL+"/api/v1"+visitURL, apiLogin(t, s.URL, "liming"), nil, &v1)
	if v1["call_started_at"] == nil || v1["call_seconds"].(float64) < 1 || v1["state"] != "completed" {
		t.Fatalf("the call's time was not recorded: %v", v1)
	}

	// A second visit (李小天), booked and pre-consulted over the API,
	// terminated by the doctor and referred offline.
	tok := apiLogin(t, s.URL, "liming")
	var ps struct{ Items []map[string]any }
	api(t, "GET", s.URL+"/api/v1/patients", tok, nil, &ps)
	var xiaotian any
	for _, p := range ps.Items {
		if p["name"] == "李小天" {
			xiaotian = p["id"]
		}
	}
	var appt map[string]any
	if st := api(t, "POST", s.URL+"/api/v1/appointments", tok, map[string]any{"slot_id": slots[1], "patient_id": xiaotian,
		"answers": screening("first_visit")}, &appt); st != 201 {
		t.Fatalf("book %d %v", st, appt)
	}
	v2 := fmt.Sprintf("%s/visits/%.0f", s.URL, appt["id"].(float64))
	prun("second visit: photo", chromedp.Navigate(v2), chromedp.WaitVisible(css("#upload-form")),
		chromedp.SetUploadFiles(css("#file"), []string{photo}), chromedp.Click(css("#upload")),
		chromedp.WaitVisible(css(`#files img.thumb`)),
		chromedp.Click(css(`input[name=site][value=limbs]`)), fill("#q-duration_days", "60"),
		chromedp.Click(css("#pre-consult-submit")), chromedp.WaitVisible(css("#enter-waiting")))
	drun("the doctor terminates and refers",
		chromedp.Navigate(v2),
		chromedp.WaitVisible(css("#terminate")),
		chromedp.Click(css("#terminate summary")),
		chromedp.Click(css(`#terminate-form input[value=needs_exam]`)),
		chromedp.Click(css(`#terminate-form input[value=needs_tests]`)),
		chromedp.SetValue(css("#ref-urgency"), "soon"),
		chromedp.SendKeys(css("#ref-advice"), "三天内到皮肤科门诊行皮肤镜及真菌镜检"),
		chromedp.Click(css("#terminate-submit")),
		chromedp.WaitVisible(css("#termination")),
	)
	prun("the guardian sees the referral", chromedp.Navigate(v2), chromedp.WaitVisible(css("#termination")))
	if txt := text(pat, t, "#termination"); !strings.Contains(txt, "皮肤科") || !strings.Contains(txt, "三天内到院就诊") || !strings.Contains(txt, "需要线下体格检查") {
		t.Fatalf("termination: %s", txt)
	}
	prun("and the inbox", chromedp.Navigate(s.URL+"/inbox"), chromedp.WaitVisible(css("main")))
	if txt := text(pat, t, "main"); !strings.Contains(txt, "问诊已终止") || !strings.Contains(txt, "医生正在呼叫您") || !strings.Contains(txt, "问诊已结束") {
		t.Fatalf("inbox: %s", txt)
	}
}

// bookOtherFamily registers a guardian with a child of six over the API
// and books the child a first visit on slot; it returns the visit's id.
func bookOtherFamily(t *testing.T, base string, slot float64) float64 {
	t.Helper()
	now := testclock.Start()
	if st := register(t, base, map[string]string{"username": "zhaomin", "password": "guardian-2026", "name": "赵敏",
		"resident_id": identity.MakeResidentID("110102", now.AddDate(-36, -3, 0), 21, identity.Female), "phone": "13901230001"}); st != 201 {
		t.Fatalf("register: %d", st)
	}
	var login struct{ Token string }
	api(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"username": "zhaomin", "password": "guardian-2026"}, &login)
	var child map[string]any
	if st := api(t, "POST", base+"/api/v1/patients", login.Token, map[string]string{"name": "赵小月", "relation": "child",
		"resident_id": identity.MakeResidentID("110102", now.AddDate(-6, -2, 0), 22, identity.Female)}, &child); st != 201 {
		t.Fatalf("child: %d %v", st, child)
	}
	var appt map[string]any
	if st := api(t, "POST", base+"/api/v1/appointments", login.Token, map[string]any{"slot_id": slot, "patient_id": child["id"],
		"answers": screening("first_visit")}, &appt); st != 201 || appt["number"] != 1.0 {
		t.Fatalf("book: %d %v", st, appt)
	}
	return appt["id"].(float64)
}

// dayOf is the day of a slot.
func dayOf(t *testing.T, base string, slot float64) string {
	var slots struct{ Items []map[string]any }
	api(t, "GET", base+"/api/v1/slots?service=bch-skin-fv", "", nil, &slots)
	for _, s := range slots.Items {
		if s["id"] == slot {
			return s["day"].(string)
		}
	}
	t.Fatalf("slot %v not listed", slot)
	return ""
}

// waitFor polls a JavaScript condition on the page for up to 15 s.
func waitFor(t *testing.T, ctx ctxT, cond string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond)); err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", cond)
}

// bookFirstVisit logs the guardian liming in, books a first visit on slot
// for the child and opens the visit's pre-consultation.
func bookFirstVisit(t *testing.T, ctx ctxT, run func(string, ...chromedp.Action[chromedp.Void]), base string, slot float64, child string) {
	t.Helper()
	run("the guardian books a first visit for "+child,
		login(base, "liming", "yunyi2026"),
		chromedp.WaitVisible(css("#patients")),
		chromedp.Navigate(fmt.Sprintf("%s/book/slots/%.0f", base, slot)),
		chromedp.WaitVisible(css("#book-form")),
	)
	run("answer and confirm",
		chromedp.SetValue(css("#patient"), patientOption(ctx, t, child)),
		answerQuestions("first_visit"),
		chromedp.Click(css("#check")),
		chromedp.WaitVisible(css("#eligible")),
		chromedp.Click(css("#confirm")),
		chromedp.WaitVisible(css(`#appointments a[data-visit]`)),
		chromedp.Click(css(`#appointments a[data-visit]`)),
		chromedp.WaitVisible(css("#pre-consult-form")),
	)
}

// guestLinkFromSMS reads the guest link sent to a phone from the SMS
// sandbox's log (as the platform's operator sees it).
func guestLinkFromSMS(t *testing.T, base, phone string) string {
	t.Helper()
	tok := apiLogin(t, base, "admin")
	// The server hands the SMS to the gateway in the background.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var log struct{ Messages []map[string]any }
		if st := api(t, "GET", base+"/api/v1/sandbox/sms?to="+phone, tok, nil, &log); st != 200 {
			t.Fatalf("sms log: %d", st)
		}
		for _, m := range log.Messages {
			if l := guestLinkRe.FindString(fmt.Sprint(m["text"])); l != "" {
				return l
			}
		}
	}
	t.Fatalf("no guest link sent to %s", phone)
	return ""
}

var guestLinkRe = regexp.MustCompile(`https?://[^\s]+/guest/[A-Za-z0-9_-]+`)
