package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	"github.com/yunyi-health/yunyi/internal/supervision"
)

// outbox is an institution's outbox as written (numbered 1..N).
func (e *env) outbox(inst string) []supervision.Event {
	e.t.Helper()
	evs, err := e.db.FeedOutbox(context.Background(), inst, 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			e.t.Fatalf("outbox of %s: event %d has number %d", inst, i, ev.Seq)
		}
	}
	return evs
}

// N-16, N-22: a visit's life reaches the supervision feed, each step from
// its own transaction: start, end with the record's ICD-10 codes, the
// prescription issued and reviewed, the rating, a complaint, an adverse
// event, a termination with its reasons' codes. A patient has one
// pseudonymous key, another patient another; no name, complaint text or
// description goes out.
func TestSupervisionFeedOfAVisit(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		before := len(e.outbox("bch"))
		cetirizine := drugCode(t, "cetirizine", "oral", false)
		e.stock("bch", true, cetirizine)
		vpath, doc, lm := e.rxVisit("李小雨", map[string]any{"drug_allergies": "无", "weight_kg": 25})
		if r := e.req("POST", vpath+"/complete", doc, map[string]any{"chief_complaint": "面部皮疹", "present_illness": "3 天",
			"diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "保湿"}); r.status != 200 {
			t.Fatalf("complete %d %s", r.status, r.raw)
		}
		rxr := e.req("POST", vpath+"/prescriptions", doc, map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 5, 1)},
			"diagnoses": []string{"L20.9"}, "weight_kg": 25})
		if rxr.status != 201 {
			t.Fatalf("issue %d %s", rxr.status, rxr.raw)
		}
		if r := e.req("POST", fmt.Sprintf("/api/v1/prescriptions/%.0f/review", rxr.body["id"]), e.login("bch-pharmacist"),
			map[string]any{"decision": "approve"}); r.status != 200 {
			t.Fatalf("review %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/rating", lm, map[string]any{"score": 4, "comment": "医生很耐心"}); r.status != 201 {
			t.Fatalf("rating %d %s", r.status, r.raw)
		}
		vid := visitID(vpath)
		if r := e.req("POST", "/api/v1/complaints", lm, map[string]any{"institution": "bch", "visit_id": vid, "category": "waiting",
			"text": "等候时间太长，孩子哭闹"}); r.status != 201 {
			t.Fatalf("complaint %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/adverse-events", doc, map[string]any{"visit_id": vid, "category": "medication_error", "severity": "serious",
			"description": "剂量错误，药师拦截"}); r.status != 201 {
			t.Fatalf("adverse event %d %s", r.status, r.raw)
		}
		v2, doc2, _ := e.rxVisit("李小天", nil)
		if r := e.req("POST", v2+"/terminate", doc2, map[string]any{"reasons": []string{"needs_exam"}, "note": "需皮肤镜检查",
			"referral": map[string]string{"department": "dermatology", "urgency": "routine", "advice": "门诊就诊"}}); r.status != 200 {
			t.Fatalf("terminate %d %s", r.status, r.raw)
		}

		evs := e.outbox("bch")[before:]
		var kinds []string
		for _, ev := range evs {
			kinds = append(kinds, string(ev.Kind))
		}
		want := []supervision.Kind{supervision.VisitStarted, supervision.VisitEnded, supervision.PrescriptionIssued, supervision.PrescriptionReviewed,
			supervision.RatingGiven, supervision.ComplaintFiled, supervision.AdverseEventReported, supervision.VisitStarted, supervision.VisitTerminated}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Fatalf("the feed: %v\nwant %v", kinds, want)
		}
		by := func(k supervision.Kind) supervision.Event {
			for _, ev := range evs {
				if ev.Kind == k {
					return ev
				}
			}
			return supervision.Event{}
		}
		ended := by(supervision.VisitEnded)
		if !slices.Equal(ended.Diagnoses, []string{"L20.9"}) || ended.Department != "dermatology" || ended.ServiceKind != "first_visit" ||
			ended.Visit != int64(vid) || ended.Outcome != "completed" || ended.Practitioner == 0 {
			t.Fatalf("visit ended: %+v", ended)
		}
		if rv := by(supervision.PrescriptionReviewed); rv.Outcome != "approved" || rv.Ref != fmt.Sprintf("prescription/%.0f", rxr.body["id"]) {
			t.Fatalf("review: %+v", rv)
		}
		if r := by(supervision.RatingGiven); r.Score != 4 {
			t.Fatalf("rating: %+v", r)
		}
		if a := by(supervision.AdverseEventReported); a.Category != "medication_error" || a.Severity != "serious" || a.Outcome != "reported" {
			t.Fatalf("adverse event: %+v", a)
		}
		if c := by(supervision.VisitTerminated); !slices.Equal(c.Codes, []string{"needs_exam"}) {
			t.Fatalf("termination: %+v", c)
		}
		key := evs[0].Patient
		for i, ev := range evs {
			if same := i < 7; (ev.Patient == key) != same || len(ev.Patient) != 32 {
				t.Fatalf("%s: patient %q, 李小雨's key %q", ev.Kind, ev.Patient, key)
			}
			raw, _ := ev.Canonical()
			for _, secret := range []string{"李小雨", "马静怡", "医生很耐心", "等候时间", "剂量错误", "需皮肤镜", "面部皮疹"} {
				if strings.Contains(string(raw), secret) {
					t.Fatalf("%s carries %q: %s", ev.Kind, secret, raw)
				}
			}
		}
	})
}

// platform is a second Yunyi (on another store of the same engine) that
// serves as the city's supervision platform, behind a front that can be
// down: dropping connections, answering 503, or losing the answer of a
// batch it stored.
type platform struct {
	*env
	front *httptest.Server
	mode  atomic.Int32 // 0 up, 1 connections dropped, 2 503
	lose  atomic.Int32 // answers to lose (the batch is stored)
	hits  atomic.Int32
}

const (
	platformUp = iota
	platformDropping
	platformUnavailable
)

func newPlatform(t *testing.T, e *env) *platform {
	p := &platform{env: newEnv(t, sqltest.Open(t, e.db.Engine), relaxed)}
	drop := func(w http.ResponseWriter) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	p.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		switch p.mode.Load() {
		case platformDropping:
			drop(w)
			return
		case platformUnavailable:
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		if p.lose.Load() > 0 && p.lose.Add(-1) >= 0 {
			p.s.ServeHTTP(httptest.NewRecorder(), r) // stored, then the connection breaks
			drop(w)
			return
		}
		p.s.ServeHTTP(w, r)
	}))
	t.Cleanup(p.front.Close)
	return p
}

// register has the platform's regulator register the sending server's
// keys of the institutions.
func (p *platform) register(sender *env, insts ...string) {
	p.t.Helper()
	reg, preg := sender.login("regulator"), p.login("regulator")
	for _, inst := range insts {
		k := sender.req("GET", "/api/v1/institutions/"+inst+"/supervision-key", reg, nil)
		if k.status != 200 || k.body["algorithm"] != "SM2-SM3" {
			p.t.Fatalf("key of %s: %d %s", inst, k.status, k.raw)
		}
		if r := p.req("PUT", "/api/v1/supervision/sources/"+inst, preg, map[string]any{"public_key": k.body["public_key"]}); r.status != 200 {
			p.t.Fatalf("register %s: %d %s", inst, r.status, r.raw)
		}
	}
}

// post sends a batch as a reporter would, signed with the institution's key.
func (p *platform) post(sender *env, inst string, head int64, events []supervision.Event, tamper bool) resp {
	p.t.Helper()
	var bodies [][]byte
	for _, ev := range events {
		b, err := ev.Canonical()
		if err != nil {
			p.t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	body, err := supervision.BatchBody(inst, head, sender.clock.Now(), bodies)
	if err != nil {
		p.t.Fatal(err)
	}
	signer, err := sender.s.feedKeys.Signer(context.Background(), inst)
	if err != nil {
		p.t.Fatal(err)
	}
	sig, _ := signer.Sign(body)
	if tamper {
		body = bytes.Replace(body, []byte(`"kind":"`), []byte(`"kind":"x`), 1)
	}
	return p.req("POST", "/api/v1/supervision/events", "", string(body), supervision.InstitutionHeader, inst, supervision.SignatureHeader, sig)
}

// received is what the platform stored of an institution, in order.
func (p *platform) received(inst string) []supervision.Event {
	p.t.Helper()
	var out []supervision.Event
	for {
		list, err := p.db.ReceivedEvents(context.Background(), supervision.Filter{Institution: inst, AfterSeq: int64(len(out)), Limit: 1000})
		if err != nil {
			p.t.Fatal(err)
		}
		if len(list) == 0 {
			return out
		}
		out = append(out, list...)
	}
}

// N-16, N-22, the feed's fault test: the platform is down (connections
// dropped, then 503) while the hospital's server keeps writing events; the
// reporter backs off (1 s, 2 s, 4 s on the test clock: no real waiting)
// and the status shows the lag and the error; the platform comes back and
// loses the answer of a batch it stored; in the end every event has
// arrived once, in order, with its id. A batch sent again is ignored, a
// badly signed one and one from an unregistered institution are refused
// with a JSON error, one that would leave a gap is refused with the
// platform's last number, and the platform's status shows the lag an
// institution's head announces.
func TestSupervisionFeedSurvivesOutage(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p := newPlatform(t, e)
		set := supervision.Settings{Interval: time.Minute, BackoffMin: time.Second, BackoffMax: 8 * time.Second, Batch: 4, Parallel: 3, Lease: time.Minute}
		if err := e.db.SaveFeedSettings(ctx, set); err != nil {
			t.Fatal(err)
		}
		// Events of the demo's set-up (doctors onboarded, a suspension) and of
		// complaints filed during the outage.
		curs, err := e.db.FeedCursors(ctx)
		if err != nil || len(curs) < 2 {
			t.Fatalf("the demo wrote no feed: %+v %v", curs, err)
		}
		var insts []string
		for _, c := range curs {
			insts = append(insts, c.Institution)
		}
		p.register(e, insts...)
		lm := e.login("liming")
		complain := func(n int) {
			for i := range n {
				if r := e.req("POST", "/api/v1/complaints", lm, map[string]any{"institution": "bch", "category": "waiting",
					"text": fmt.Sprintf("第 %d 次投诉", i)}); r.status != 201 {
					t.Fatalf("complaint %d %s", r.status, r.raw)
				}
			}
		}
		complain(5)

		rep := e.s.FeedReporter(p.front.URL + "/api/v1/supervision/events")
		var mu sync.Mutex
		var waits []time.Duration
		stop, cancel := context.WithCancel(ctx)
		defer cancel()
		// The loop's clock is the test clock: a wait moves it on at once.
		// The platform is down for three rounds (dropping, then 503), then up.
		p.mode.Store(platformDropping)
		rep.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			n := len(waits)
			mu.Unlock()
			switch n {
			case 1:
				// Down: the hospital's status shows every institution behind,
				// with the error and the next attempt.
				st := e.req("GET", "/api/v1/supervision/status", e.login("regulator"), nil)
				for _, o := range st.body["outbox"].([]any) {
					m := o.(map[string]any)
					if m["lag"].(float64) == 0 || m["lag"] != m["head_seq"] || m["attempts"] != float64(1) || m["last_error"] == "" || m["next_attempt_at"] == nil {
						t.Errorf("status while down: %v", m)
					}
				}
				complain(3) // the hospital keeps working
				p.mode.Store(platformUnavailable)
			case 3:
				p.mode.Store(platformUp)
				p.lose.Store(1)
			case 5:
				cancel()
			}
			e.clock.Add(d)
			return ctx.Err()
		}
		rep.Run(stop)
		mu.Lock()
		got := fmt.Sprint(waits)
		mu.Unlock()
		// Three failed rounds (1 s, 2 s, 4 s); the institution whose answer
		// was lost failed a fourth time in a row (8 s) while the others were
		// delivered; then the interval.
		if got != "[1s 2s 4s 8s 1m0s]" {
			t.Fatalf("the reporter waited %s", got)
		}
		if p.hits.Load() < 3*int32(len(insts)) {
			t.Fatalf("the platform was tried %d times", p.hits.Load())
		}

		// Every event once, in order, with its id.
		total := 0
		for _, inst := range insts {
			out, in := e.outbox(inst), p.received(inst)
			if len(in) != len(out) {
				t.Fatalf("%s: %d events received of %d", inst, len(in), len(out))
			}
			for i := range out {
				if in[i].ID != out[i].ID || in[i].Seq != int64(i+1) || in[i].Kind != out[i].Kind {
					t.Fatalf("%s #%d: received %+v, sent %+v", inst, i+1, in[i], out[i])
				}
			}
			total += len(out)
		}
		if n := p.count("supervision_events"); n != total {
			t.Fatalf("the platform stored %d events, %d were sent", n, total)
		}
		preg := p.login("regulator")
		st := p.req("GET", "/api/v1/supervision/status", preg, nil)
		dups := 0.0
		for _, f := range st.body["received"].([]any) {
			m := f.(map[string]any)
			if m["lag"] != float64(0) || m["last_seq"] != m["head_seq"] || m["institution_name"] == "" {
				t.Fatalf("platform status: %v", m)
			}
			dups += m["duplicates"].(float64)
		}
		if dups < 1 {
			t.Fatal("the batch whose answer was lost was not sent again")
		}
		if st := e.req("GET", "/api/v1/supervision/status", e.login("regulator"), nil); strings.Contains(string(st.raw), `"lag":1`) ||
			!strings.Contains(string(st.raw), `"lag":0`) {
			t.Fatalf("hospital status after: %s", st.raw)
		}

		// A batch sent again: ignored. Badly signed, or from an institution
		// the platform does not know: refused, nothing stored.
		bch := e.outbox("bch")
		head := int64(len(bch))
		if r := p.post(e, "bch", head, bch[:3], false); r.status != 200 || r.body["accepted"] != float64(0) || r.body["duplicates"] != float64(3) ||
			r.body["last_seq"] != float64(head) {
			t.Fatalf("a duplicate batch: %d %s", r.status, r.raw)
		}
		if r := p.post(e, "bch", head, bch[:3], true); r.status != 401 || r.errCode() != supervision.CodeBadSignature || !strings.Contains(r.errMessage(), "签名") {
			t.Fatalf("a badly signed batch: %d %s", r.status, r.raw)
		}
		r := p.req("POST", "/api/v1/supervision/events", "", `{"events":[]}`, supervision.InstitutionHeader, "bjtr", supervision.SignatureHeader, "AAAA",
			"Accept-Language", "en")
		if r.status != 401 || r.errCode() != supervision.CodeUnknownSource || !strings.Contains(r.errMessage(), "registered") {
			t.Fatalf("an unregistered institution: %d %s", r.status, r.raw)
		}
		// Three more events; the platform gets the third alone: a gap.
		complain(3)
		bch = e.outbox("bch")
		r = p.post(e, "bch", head+3, bch[head+2:], false)
		details, _ := r.body["error"].(map[string]any)["details"].(map[string]any)
		if r.status != 409 || r.errCode() != supervision.CodeGap || details["last_seq"] != float64(head) {
			t.Fatalf("a gap: %d %s", r.status, r.raw)
		}
		// The first of them with the institution's head: the platform sees the lag.
		if r := p.post(e, "bch", head+3, bch[head:head+1], false); r.status != 200 || r.body["accepted"] != float64(1) {
			t.Fatalf("one event: %d %s", r.status, r.raw)
		}
		if n := p.count("supervision_events"); n != total+1 {
			t.Fatalf("refused batches stored something: %d events", n)
		}
		feedOf := func(inst string) map[string]any {
			for _, f := range p.req("GET", "/api/v1/supervision/status", preg, nil).body["received"].([]any) {
				if m := f.(map[string]any); m["institution"] == inst {
					return m
				}
			}
			return nil
		}
		if f := feedOf("bch"); f["lag"] != float64(2) || f["head_seq"] != float64(head+3) || f["last_error"] != supervision.CodeGap {
			t.Fatalf("platform status of bch: %v", f)
		}
		// The reporter's next round sends the rest, from where the
		// platform is.
		if _, err := rep.Round(ctx); err != nil {
			t.Fatal(err)
		}
		if in := p.received("bch"); len(in) != int(head)+3 || in[len(in)-1].ID != bch[len(bch)-1].ID {
			t.Fatalf("after the round: %d events", len(in))
		}
		if f := feedOf("bch"); f["lag"] != float64(0) {
			t.Fatalf("platform status of bch: %v", f)
		}

		// Who sees what: the regulator reads the received events (audited);
		// an institution's admin sees its own feed's status only.
		ev := p.req("GET", "/api/v1/supervision/events?institution=bch&after_seq=2&limit=3", preg, nil)
		if ev.status != 200 || len(ev.items()) != 3 || ev.items()[0].(map[string]any)["seq"] != float64(3) {
			t.Fatalf("events: %d %s", ev.status, ev.raw)
		}
		if p.auditCount("supervision.events.read", "bch") != 1 {
			t.Fatal("reading the feed was not audited")
		}
		if p.auditCount("supervision.receive", "") == 0 {
			t.Fatal("receipts were not audited")
		}
		admin := p.login("bch-admin")
		if r := p.req("GET", "/api/v1/supervision/events", admin, nil); r.status != 403 {
			t.Fatalf("an admin reads the feed: %d", r.status)
		}
		mine := p.req("GET", "/api/v1/supervision/status", admin, nil)
		if rec := mine.body["received"].([]any); mine.status != 200 || len(rec) != 1 || rec[0].(map[string]any)["institution"] != "bch" {
			t.Fatalf("an admin's status: %d %s", mine.status, mine.raw)
		}
		for _, who := range []string{"liming", "bch-dermatology-doctor"} {
			if r := p.req("GET", "/api/v1/supervision/status", p.login(who), nil); r.status != 403 {
				t.Fatalf("%s sees the status: %d", who, r.status)
			}
		}
		if r := p.req("PUT", "/api/v1/supervision/sources/bch", admin, map[string]any{"public_key": "x"}); r.status != 403 {
			t.Fatalf("an admin registers a key: %d", r.status)
		}
		if r := p.req("PUT", "/api/v1/supervision/sources/bch", preg, map[string]any{"public_key": "not a key"}); r.status != 400 || r.fieldCodes()["public_key"] != "invalid" {
			t.Fatalf("a bad key: %d %s", r.status, r.raw)
		}
		if r := p.req("PUT", "/api/v1/supervision/sources/nowhere", preg, map[string]any{"public_key": e.req("GET", "/api/v1/institutions/bch/supervision-key",
			e.login("regulator"), nil).body["public_key"]}); r.status != 404 {
			t.Fatalf("an unknown institution: %d %s", r.status, r.raw)
		}
	})
}
