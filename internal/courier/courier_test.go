package courier

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/testclock"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		op, remark string
		want       Status
	}{
		{"50", "顺丰速运 已收取快件", PickedUp},
		{"54", "", PickedUp},
		{"30", "快件在【北京集散中心】完成分拣", InTransit},
		{"31", "", InTransit},
		{"36", "快件到达", InTransit},
		{"204", "正在派送途中", OutForDelivery},
		{"80", "已签收，感谢使用顺丰", Delivered},
		{"80", "快件已退回，退件已由寄件人签收", Returned},
		{"80", "收件人拒收，已签收", Returned},
		{"80", "已退回寄件人", Returned},
		{"631", "", Returned},
		{"70", "派送不成功", Failed},
		{"9999", "something unknown", InTransit},
		{"", "", InTransit},
		{" 80 ", "已签收", Delivered},
	}
	for _, c := range cases {
		if got := Classify(c.op, c.remark); got != c.want {
			t.Errorf("Classify(%q, %q) = %s, want %s", c.op, c.remark, got, c.want)
		}
	}
	if !Delivered.Terminal() || !Returned.Terminal() || Failed.Terminal() || OutForDelivery.Terminal() {
		t.Error("Terminal")
	}
}

func ev(id string, at time.Time, op, remark string) Event {
	return Event{RouteID: id, WaybillNo: "SF1", At: at, OpCode: op, Remark: remark, Status: Classify(op, remark)}
}

func TestTimelineAndCurrent(t *testing.T) {
	t0 := testclock.Start()
	path := []Event{
		ev("1", t0, "50", ""),
		ev("2", t0.Add(time.Hour), "30", ""),
		ev("3", t0.Add(2*time.Hour), "36", ""),
		ev("4", t0.Add(3*time.Hour), "204", ""),
		ev("5", t0.Add(4*time.Hour), "80", "已签收"),
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for round := 0; round < 20; round++ {
		in := append(append([]Event{}, path...), path[rng.IntN(5)], path[rng.IntN(5)], path[2])
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		tl := Timeline(in)
		if len(tl) != len(path) {
			t.Fatalf("timeline has %d events, want %d", len(tl), len(path))
		}
		for i := range tl {
			if tl[i].RouteID != path[i].RouteID {
				t.Fatalf("round %d: order %v", round, tl)
			}
		}
		if Current(in) != Delivered {
			t.Fatalf("current %s", Current(in))
		}
	}

	// Stable: same time, the order of arrival.
	same := []Event{ev("b", t0, "30", ""), ev("a", t0, "36", "")}
	if tl := Timeline(same); tl[0].RouteID != "b" {
		t.Fatalf("not stable: %v", tl)
	}
	// Events without a route id are told apart by their content.
	noID := []Event{ev("", t0, "30", "x"), ev("", t0, "30", "x"), ev("", t0, "30", "y")}
	if n := len(Timeline(noID)); n != 2 {
		t.Fatalf("no-id dedupe: %d", n)
	}

	// A late event, even one stamped after delivery, does not reopen it.
	late := append(append([]Event{}, path...), ev("6", t0.Add(5*time.Hour), "30", "late scan"))
	if Current(late) != Delivered {
		t.Fatalf("late event reopened: %s", Current(late))
	}
	if Current(path[:4]) != OutForDelivery || Current(nil) != Created || Current(path[:1]) != PickedUp {
		t.Fatal("current of a partial path")
	}
	// Without Status set, Current classifies.
	raw := []Event{{RouteID: "x", At: t0, OpCode: "80", Remark: "退件"}}
	if Current(raw) != Returned {
		t.Fatalf("unclassified: %s", Current(raw))
	}
	// A return: refused (failed), then signed back with 退件.
	ret := append(append([]Event{}, path[:4]...), ev("5", t0.Add(4*time.Hour), "70", "拒收"), ev("6", t0.Add(9*time.Hour), "80", "退件已签收"))
	if Current(ret) != Returned || Current(ret[:5]) != Failed {
		t.Fatalf("return: %s / %s", Current(ret), Current(ret[:5]))
	}
}

func signed(key []byte, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(key, ts, body))
	return h
}

func TestPushSignature(t *testing.T) {
	now := testclock.Start()
	key := []byte("shared-secret")
	sf := NewSandboxSF(SandboxConfig{Key: key, Now: func() time.Time { return now }, Manual: true})
	defer sf.Close()
	events := []Event{ev("0101", now.Add(-time.Hour), "50", "已收取"), ev("0102", now, "80", "退件")}
	body := encodePush(events)
	if !strings.Contains(string(body), `"waybillRoute"`) || !strings.Contains(string(body), `"acceptTime"`) || !strings.Contains(string(body), `"mailno":"SF1"`) {
		t.Fatalf("body %s", body)
	}

	got, err := sf.ParsePush(signed(key, now, body), body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RouteID != "0101" || !got[0].At.Equal(now.Add(-time.Hour).Truncate(time.Second)) || got[1].Status != Returned || got[0].Status != PickedUp {
		t.Fatalf("parsed %+v", got)
	}
	if st, b := sf.PushAck(nil); st != 200 || string(b) != `{"return_code":"0000","return_msg":"success"}` {
		t.Fatalf("ack %d %s", st, b)
	}

	bad := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"tampered body", signed(key, now, body), append([]byte(" "), body...), ErrBadSignature},
		{"wrong key", signed([]byte("other"), now, body), body, ErrBadSignature},
		{"no headers", http.Header{}, body, ErrBadSignature},
		{"stale", signed(key, now.Add(-301*time.Second), body), body, ErrStale},
		{"future", signed(key, now.Add(301*time.Second), body), body, ErrStale},
		{"not json", signed(key, now, []byte("<xml/>")), []byte("<xml/>"), ErrBadPush},
		{"empty batch", signed(key, now, []byte(`{"waybillRoute":[]}`)), []byte(`{"waybillRoute":[]}`), ErrBadPush},
	}
	eleven := make([]Event, 11)
	for i := range eleven {
		eleven[i] = ev(strconv.Itoa(i), now, "30", "")
	}
	b11 := encodePush(eleven)
	bad = append(bad, struct {
		name string
		h    http.Header
		body []byte
		want error
	}{"11 routes", signed(key, now, b11), b11, ErrBadPush})
	noID := []byte(`{"waybillRoute":[{"mailno":"SF1","opcode":"50","acceptTime":"2026-01-01 10:00:00"}]}`)
	bad = append(bad, struct {
		name string
		h    http.Header
		body []byte
		want error
	}{"route without id", signed(key, now, noID), noID, ErrBadPush})
	for _, c := range bad {
		_, err := sf.ParsePush(c.h, c.body)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := sf.ParsePush(signed(key, now.Add(-299*time.Second), body), body); err != nil {
		t.Errorf("299 s old refused: %v", err)
	}
	for err, want := range map[error]int{ErrStale: 401, ErrBadPush: 400, errors.New("db down"): 500} {
		st, b := sf.PushAck(err)
		if st != want || !strings.Contains(string(b), `"return_code":"1000"`) || acked(st, b) {
			t.Errorf("ack(%v) = %d %s", err, st, b)
		}
	}
}
