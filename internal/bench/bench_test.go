package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// A small run of the benchmark on both stores: it books exactly the
// places there are, oversells nothing and answers no 5xx.
func TestBenchmarkRunsSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a benchmark's small run has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		var prof bytes.Buffer
		o := Options{BurstClients: 200, BurstCapacity: 10, PooledConns: 16, SustainedClients: 16, Services: 3, SlotsPerService: 2, Capacity: 5, CeilingBookings: 40,
			Profile: &prof, ProfileLoad: "burst-pooled"}
		rep, err := Run(context.Background(), db, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if prof.Len() == 0 {
			t.Fatal("the load asked for was not profiled")
		}
		for _, r := range []Result{rep.Burst, rep.Cold, rep.Pooled} {
			if r.OK != 10 || r.Rejected != 190 || r.Codes["slot_full"] != 190 || r.ServerErr != 0 || r.Oversold != 0 {
				t.Fatalf("%s: %+v", r.Name, r)
			}
		}
		if s := rep.Sustained; s.OK != 30 || s.ServerErr != 0 || s.Oversold != 0 {
			t.Fatalf("sustained: %+v", s)
		}
		// Issue 12: holds of a paid service, 30 % never paid: their places
		// come back and are booked again, nothing oversold.
		if h := rep.Holds; h == nil || h.Held.OK != h.Places || h.Held.ServerErr != 0 || h.Expired != h.Places-h.Paid || h.Expired == 0 ||
			h.Rebooked.OK != h.Expired || h.Taken != h.Places || h.Oversold != 0 {
			t.Fatalf("holds: %+v", rep.Holds)
		}
		if len(rep.Ceilings) != 2 || rep.Ceilings[1].PerSec <= 0 {
			t.Fatalf("ceilings %+v", rep.Ceilings)
		}
		t.Log("\n" + Table([]*Report{rep}) + "\n" + HoldsTable([]*Report{rep}))
	})
}

func TestPipelineSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a benchmark's small run has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		res, err := Pipeline(context.Background(), db, 40, 3000)
		if err != nil {
			t.Fatal(err)
		}
		if res.Relevant == 0 || res.Merged > 2 {
			t.Fatalf("distinct articles, some about health IT: %+v", res)
		}
		t.Logf("%+v", res)
	})
}

// The chat benchmark on a small load: every message sent is delivered to
// the doctor, on both stores.
func TestChatSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a benchmark's small run has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		r, err := Chat(context.Background(), db, ChatOptions{Visits: 20, Rate: 5, Duration: 2 * time.Second, Warmup: 300 * time.Millisecond}, log)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sent < 150 || r.Delivered != r.Sent || r.Lost != 0 || r.P99 == 0 || r.Ceiling <= 0 {
			t.Fatalf("%+v", r)
		}
	})
}

// The load generator's response reader reads what net/http's server
// writes: a sized body, a chunked one, and a connection it closes.
func TestReadAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			w.WriteHeader(409)
			io.WriteString(w, `{"error":{"code":"slot_full"}}`)
		case "/chunked":
			w.WriteHeader(201)
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			io.WriteString(w, "second")
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, c := range []struct {
		path   string
		status int
		body   string
		closed bool
	}{{"/sized", 409, `{"error":{"code":"slot_full"}}`, false}, {"/chunked", 201, "firstsecond", false}, {"/close", 200, "bye", true}} {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", c.path)
		status, body, closed, err := readAnswer(br, nil)
		if err != nil || status != c.status || string(body) != c.body || closed != c.closed {
			t.Errorf("%s: %d %q closed=%v %v", c.path, status, body, closed, err)
		}
	}
}
