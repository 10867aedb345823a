package web

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/metrics"
)

// metricValue reads one sample of the process's metrics (the exposition
// text of metrics.Default), 0 when it is not there yet.
func metricValue(t *testing.T, sample string) float64 {
	t.Helper()
	var b strings.Builder
	metrics.Default.WriteTo(&b)
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v
		}
	}
	return 0
}

// Issue 17: what an operator watches in a release rush is on /metrics:
// booking outcomes, the group commit's batches and queue, the open chat
// sockets (and, in their packages' tests, the store's errors and the
// supervision outbox's lag). Other tests run beside this one in the same
// process, so it checks that its own actions moved the numbers at least
// as much as they should.
func TestOperationalMetrics(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		xiaoyu := e.patientIDs(lm)["李小雨"]
		booked := metricValue(t, `yunyi_bookings_total{outcome="booked"}`)
		replayed := metricValue(t, `yunyi_bookings_total{outcome="replayed"}`)
		already := metricValue(t, `yunyi_bookings_total{outcome="already_booked"}`)
		batches := metricValue(t, `yunyi_groupcommit_batch_size_count{writer="booking"}`)
		slot := e.slotOf("bch-allergy-fu")
		body := map[string]any{"slot_id": slot["id"], "patient_id": xiaoyu, "answers": screened()}
		if r := e.req("POST", "/api/v1/appointments", lm, body, "Idempotency-Key", "m-1"); r.status != 201 {
			t.Fatalf("book: %d %s", r.status, r.raw)
		}
		e.req("POST", "/api/v1/appointments", lm, body, "Idempotency-Key", "m-1")
		if r := e.req("POST", "/api/v1/appointments", lm, body, "Idempotency-Key", "m-2"); r.errCode() != "already_booked" {
			t.Fatalf("second booking: %d %s", r.status, r.raw)
		}
		for _, c := range []struct {
			sample string
			before float64
		}{
			{`yunyi_bookings_total{outcome="booked"}`, booked},
			{`yunyi_bookings_total{outcome="replayed"}`, replayed},
			{`yunyi_bookings_total{outcome="already_booked"}`, already},
			{`yunyi_groupcommit_batch_size_count{writer="booking"}`, batches},
		} {
			if got := metricValue(t, c.sample); got < c.before+1 {
				t.Errorf("%s: %v after %v, want at least one more", c.sample, got, c.before)
			}
		}
		if metricValue(t, `yunyi_groupcommit_queue_depth{writer="booking"}`) < 0 {
			t.Error("a negative queue")
		}

		// A chat socket counts while it is open.
		vpath, doc, _ := e.rxVisit("李小雨", nil)
		_ = doc
		open := metricValue(t, "yunyi_chat_sockets")
		id, _ := strconv.ParseFloat(strings.TrimPrefix(vpath, "/api/v1/visits/"), 64)
		c := wsDial(t, e, lm, id, 0)
		deadline := time.Now().Add(5 * time.Second)
		for metricValue(t, "yunyi_chat_sockets") < open+1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := metricValue(t, "yunyi_chat_sockets"); got < open+1 {
			t.Errorf("chat sockets %v with one more open, was %v", got, open)
		}
		c.CloseNow()

		// The store's errors and the supervision outbox's lag are there to
		// be scraped (their values: sqlstore's TestStoreErrorsCounted, the
		// reporter).
		var b strings.Builder
		metrics.Default.WriteTo(&b)
		for _, family := range []string{"yunyi_store_errors_total counter", "yunyi_supervision_outbox_lag gauge", "yunyi_chat_sockets gauge",
			"yunyi_bookings_total counter", "yunyi_groupcommit_batch_size histogram", "yunyi_groupcommit_queue_depth gauge"} {
			if !strings.Contains(b.String(), "# TYPE "+family+"\n") {
				t.Errorf("metrics lack %s", family)
			}
		}
	})
}
