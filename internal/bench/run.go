package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/listen"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/web"
)

// Result of one load.
type Result struct {
	Name      string
	Clients   int
	Requests  int
	OK        int
	Rejected  int // slot_full and other 4xx refusals
	ServerErr int // 5xx and transport errors
	Duration  time.Duration
	P50, P99  time.Duration
	Oversold  int
	OKPerSec  float64
	RejPerSec float64
	Codes     map[string]int
}

// Ceiling is the store's own rate for the booking transaction.
type Ceiling struct {
	Batch    int
	Bookings int
	Duration time.Duration
	PerSec   float64
}

// Report of a whole run on one engine.
type Report struct {
	Engine    string
	Burst     Result // one keep-alive connection per client, opened with the booking page
	Cold      Result // one connection per client, opened at the press
	Pooled    Result // the same burst over 64 keep-alive connections, as behind a proxy
	Sustained Result
	Paced     Result // the same kind of load offered at a fixed rate
	Holds     *Holds // holds of a paid service: 30 % never paid, their places booked again
	Ceilings  []Ceiling
}

// Options of a run.
type Options struct {
	BurstClients     int     // 5000
	BurstCapacity    int     // 10
	PooledConns      int     // connections of the pooled burst (64)
	SustainedClients int     // 256
	PacedRate        float64 // bookings a second offered by the paced load (2,500)
	Services         int     // 50
	SlotsPerService  int     // 50 slots of 10 = 500 places
	Capacity         int
	CeilingBookings  int
	// Profile, when set, receives a CPU profile of the loads (not of the
	// fixture building); of the load named ProfileLoad alone when that is
	// set (burst, burst-new-conns, burst-pooled, sustained, paced).
	Profile     io.Writer
	ProfileLoad string
}

// PostgresPacedRate is the paced load's default rate on PostgreSQL, whose
// sustained rate on these machines is 3,500-3,700 bookings/s (the target, 2,000/s).
const PostgresPacedRate = 2000

// Defaults are the targets: a 5,000-client burst on one 10-place
// service; 256 clients over 50 services of 500 places.
var Defaults = Options{PacedRate: 2500, PooledConns: 64, BurstClients: 5000, BurstCapacity: 10, SustainedClients: 256, Services: 50, SlotsPerService: 50, Capacity: 10, CeilingBookings: 25000}

// Run builds the fixtures in db, starts the real server on loopback and
// runs the burst, the sustained load and the store ceiling.
func Run(ctx context.Context, db *sqlstore.DB, o Options, log *slog.Logger) (*Report, error) {
	now := time.Now()
	rep := &Report{Engine: string(db.Engine)}
	sustainedPlaces := o.Services * o.SlotsPerService * o.Capacity
	log.Info("building fixtures", "engine", db.Engine, "patients", o.BurstClients+sustainedPlaces+o.CeilingBookings)
	burst, err := Build(ctx, db, Spec{Prefix: "bb", Services: 1, SlotsPer: 1, Capacity: o.BurstCapacity, Patients: o.BurstClients}, now)
	if err != nil {
		return nil, err
	}
	cold, err := Build(ctx, db, Spec{Prefix: "bn", Services: 1, SlotsPer: 1, Capacity: o.BurstCapacity, Patients: o.BurstClients, PatientOffset: 800_000}, now)
	if err != nil {
		return nil, err
	}
	pooled, err := Build(ctx, db, Spec{Prefix: "bp", Services: 1, SlotsPer: 1, Capacity: o.BurstCapacity, Patients: o.BurstClients, PatientOffset: 900_000}, now)
	if err != nil {
		return nil, err
	}
	sus, err := Build(ctx, db, Spec{Prefix: "bs", Services: o.Services, SlotsPer: o.SlotsPerService, Capacity: o.Capacity, Patients: sustainedPlaces, PatientOffset: o.BurstClients}, now)
	if err != nil {
		return nil, err
	}
	paced, err := Build(ctx, db, Spec{Prefix: "bq", Services: o.Services, SlotsPer: o.SlotsPerService, Capacity: o.Capacity, Patients: sustainedPlaces,
		PatientOffset: 1_500_000}, now)
	if err != nil {
		return nil, err
	}
	holdServices, holdSlots := min(o.Services, 10), min(o.SlotsPerService, 10)
	holdPlaces := holdServices * holdSlots * o.Capacity
	holds, err := Build(ctx, db, Spec{Prefix: "bh", Services: holdServices, SlotsPer: holdSlots, Capacity: o.Capacity, Patients: holdPlaces * 2,
		PatientOffset: 2_000_000}, now)
	if err != nil {
		return nil, err
	}
	ceilSlots := (o.CeilingBookings + o.Capacity - 1) / o.Capacity
	ceil, err := Build(ctx, db, Spec{Prefix: "bc", Services: o.Services, SlotsPer: (ceilSlots + o.Services - 1) / o.Services, Capacity: o.Capacity,
		Patients: o.CeilingBookings, PatientOffset: o.BurstClients + sustainedPlaces}, now)
	if err != nil {
		return nil, err
	}

	// The server's clock is the real one, pushed ahead by skew when the
	// hold load lets the payment window pass.
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	addr, srv, shutdown, err := serveLoopback(db, web.Config{Now: clock, Limits: map[string][2]float64{"booking-account": {600, 100}}, PayLoop: -1})
	if err != nil {
		return nil, err
	}
	defer shutdown()
	base := "http://" + addr

	if o.Profile != nil && o.ProfileLoad == "" {
		pprof.StartCPUProfile(o.Profile)
		defer pprof.StopCPUProfile()
	}
	// run runs a load, profiled when it is the one asked for.
	run := func(name string, clients int, jobs []job, rate float64, opened bool) Result {
		if o.Profile != nil && o.ProfileLoad != "" && (name == o.ProfileLoad || strings.HasPrefix(name, o.ProfileLoad+" ")) {
			pprof.StartCPUProfile(o.Profile)
			defer pprof.StopCPUProfile()
		}
		return load(base, name, clients, jobs, rate, opened)
	}
	// Burst: every client at once on one 10-place slot. Every client has
	// the booking page open before the release: its browser loaded the
	// page's data (GET /api/v1/patients) over a keep-alive connection, and
	// presses "book" over that connection.
	jobs := make([]job, o.BurstClients)
	for i := range jobs {
		jobs[i] = job{user: burst.Patients[i], slot: burst.Slots[0][0]}
	}
	log.Info("burst", "clients", o.BurstClients)
	rep.Burst = run("burst", o.BurstClients, jobs, 0, true)
	if rep.Burst.Oversold, err = oversold(ctx, db); err != nil {
		return nil, err
	}
	// The same burst with every connection opened at the press (as when
	// the browsers' idle connections were closed): connection set-up
	// counts. Sessions and patients are warm in the server's caches.
	for i := range jobs {
		jobs[i] = job{user: cold.Patients[i], slot: cold.Slots[0][0]}
	}
	warm(base, cold.Patients, 64)
	log.Info("burst on new connections", "clients", o.BurstClients)
	rep.Cold = run("burst-new-conns", o.BurstClients, jobs, 0, false)
	if rep.Cold.Oversold, err = oversold(ctx, db); err != nil {
		return nil, err
	}
	// The same burst through a pool of keep-alive connections.
	for i := range jobs {
		jobs[i] = job{user: pooled.Patients[i], slot: pooled.Slots[0][0]}
	}
	warm(base, pooled.Patients, 64)
	log.Info("burst over pooled connections", "clients", o.BurstClients, "connections", o.PooledConns)
	rep.Pooled = run("burst-pooled", o.PooledConns, jobs, 0, false)
	if rep.Pooled.Oversold, err = oversold(ctx, db); err != nil {
		return nil, err
	}
	// Sustained: 256 clients, each booking in turn over the 50 services.
	jobs = make([]job, 0, sustainedPlaces)
	for i, u := range sus.Patients {
		svc := i % o.Services
		k := (i / o.Services) / o.Capacity
		jobs = append(jobs, job{user: u, slot: sus.Slots[svc][k%len(sus.Slots[svc])]})
	}
	warm(base, sus.Patients, 64)
	log.Info("sustained", "clients", o.SustainedClients, "bookings", len(jobs))
	rep.Sustained = run("sustained", o.SustainedClients, jobs, 0, false)
	if rep.Sustained.Oversold, err = oversold(ctx, db); err != nil {
		return nil, err
	}
	// Paced: the same clients offering a fixed rate, latency counted from
	// each booking's scheduled time (no coordinated omission).
	if o.PacedRate > 0 {
		jobs = jobs[:0]
		for i, u := range paced.Patients {
			svc := i % o.Services
			k := (i / o.Services) / o.Capacity
			jobs = append(jobs, job{user: u, slot: paced.Slots[svc][k%len(paced.Slots[svc])]})
		}
		warm(base, paced.Patients, 64)
		log.Info("paced", "clients", o.SustainedClients, "rate", o.PacedRate, "bookings", len(jobs))
		rep.Paced = run(fmt.Sprintf("paced %.0f/s", o.PacedRate), o.SustainedClients, jobs, o.PacedRate, false)
		if rep.Paced.Oversold, err = oversold(ctx, db); err != nil {
			return nil, err
		}
	}
	// Holds: a paid service's places held, 70 % paid, the rest expired
	// and booked again.
	warm(base, holds.Patients, 64)
	log.Info("holds", "places", holdPlaces)
	if rep.Holds, err = runHolds(ctx, db, srv, &skew, holds, holdPlaces, o.SustainedClients, run); err != nil {
		return nil, err
	}
	// Ceiling: the same booking transaction straight on the store, one
	// booking a transaction and 64 (the server's group commit).
	var reqs []schedule.BookRequest
	for i, u := range ceil.Patients {
		svc := i % o.Services
		k := (i / o.Services) / o.Capacity
		// The same transaction as the server's: the appointment, its inbox
		// notice and its audit entry.
		reqs = append(reqs, schedule.BookRequest{SlotID: ceil.Slots[svc][k%len(ceil.Slots[svc])], PatientID: u.PatientID, AccountID: u.AccountID,
			IdemKey: fmt.Sprintf("ceil-%d", i), Answers: "{}", At: now,
			Notice: &notify.Notification{AccountID: u.AccountID, Kind: "booked", Title: "预约成功", Body: "压测预约", CreatedAt: now},
			Audit:  &audit.Entry{At: now.UTC().Truncate(time.Microsecond), ActorID: u.AccountID, ActorRole: "patient", Action: "appointment.create", ObjectType: "appointment"}})
	}
	half := len(reqs) / 4
	for _, c := range []struct {
		batch int
		reqs  []schedule.BookRequest
	}{{1, reqs[:half]}, {64, reqs[half:]}} {
		start := time.Now()
		for i := 0; i < len(c.reqs); i += c.batch {
			if _, err := db.Book(ctx, c.reqs[i:min(i+c.batch, len(c.reqs))]); err != nil {
				return nil, err
			}
		}
		d := time.Since(start)
		rep.Ceilings = append(rep.Ceilings, Ceiling{Batch: c.batch, Bookings: len(c.reqs), Duration: d, PerSec: float64(len(c.reqs)) / d.Seconds()})
	}
	return rep, nil
}

// warm has each user load its patients, as the booking page does.
func warm(base string, users []BenchUser, clients int) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var next atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(users) {
					return
				}
				req, _ := http.NewRequest("GET", base+"/api/v1/patients", nil)
				req.Header.Set("Authorization", "Bearer "+users[i].Token)
				if res, err := client.Do(req); err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
}

// openPage opens a connection and loads the booking page's data over it
// (GET /api/v1/patients), as a browser does before the user books; the
// connection stays open (nil when the page did not load).
func openPage(addr, token string) (net.Conn, *bufio.Reader) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil
	}
	br := bufio.NewReaderSize(conn, 4096)
	fmt.Fprintf(conn, "GET /api/v1/patients HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, token)
	res, err := http.ReadResponse(br, nil)
	if err == nil {
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if err != nil || res.Close {
		conn.Close()
		return nil, nil
	}
	return conn, br
}

// readAnswer reads one HTTP/1.1 response: its status, its body (into
// buf) and whether the server closes the connection after it. It reads
// what Go's server writes (a status line, headers, a body of
// Content-Length bytes or chunked, none for 1xx, 204 and 304) without net/http's client machinery,
// a tenth of the load generator's time.
func readAnswer(br *bufio.Reader, buf []byte) (status int, body []byte, closed bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, nil, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closed = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case status == http.StatusNoContent || status == http.StatusNotModified || status < 200:
		return status, buf[:0], closed, nil // no body, whatever the headers say
	case chunked:
		b, err := io.ReadAll(httputil.NewChunkedReader(br))
		for err == nil { // the trailer, up to its empty line
			var line []byte
			if line, err = br.ReadSlice('\n'); len(bytes.TrimRight(line, "\r\n")) == 0 {
				break
			}
		}
		return status, b, closed, err
	case length >= 0:
		body = slices.Grow(buf[:0], length)[:length]
		_, err = io.ReadFull(br, body)
		return status, body, closed, err
	}
	b, err := io.ReadAll(br) // the body runs to the end of the connection
	return status, b, true, err
}

type job struct {
	user BenchUser
	slot int64
}

// load runs jobs with the given number of concurrent clients over HTTP.
// Each client keeps one keep-alive connection and writes its requests as
// bytes (a real browser's requests, without net/http's client machinery):
// the load generator shares the two cores with the server, so it must
// cost as little as it can. A load with as many clients as jobs is a
// burst: every client has its own connection. With opened, client i opens
// its connection and loads job i's patients over it before the start
// (the booking page), then books job i; otherwise connections open at
// the first booking. With rate > 0, job i is due at start + i/rate and
// its latency counts from then.
func load(base, name string, clients int, jobs []job, rate float64, opened bool) Result {
	addr := strings.TrimPrefix(base, "http://")
	var next atomic.Int64
	lat := make([]time.Duration, len(jobs))
	codes := make([]string, len(jobs))
	ended := make([]time.Time, len(jobs)) // when each answer was read
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var start time.Time
	var ready sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			var conn net.Conn
			var br *bufio.Reader
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			buf, body := make([]byte, 0, 512), make([]byte, 0, 2048)
			if opened {
				conn, br = openPage(addr, jobs[c].user.Token)
			}
			ready.Done()
			<-gate
			for first := true; ; first = false {
				i := int(next.Add(1)) - 1
				if opened {
					i = c
					if !first {
						return
					}
				}
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				var due time.Time
				if rate > 0 {
					due = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					time.Sleep(time.Until(due))
				}
				// Every pre-booking question answered, as the API requires (S-4).
				req := fmt.Sprintf(`{"slot_id":%d,"patient_id":%d,"answers":{"pregnant":false,"critical":false,"difficult":false,"first_visit":false}}`,
					j.slot, j.user.PatientID)
				buf = fmt.Appendf(buf[:0], "POST /api/v1/appointments HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
					"Authorization: Bearer %s\r\nIdempotency-Key: %s-%d\r\nContent-Length: %d\r\n\r\n%s", addr, j.user.Token, name, i, len(req), req)
				t0 := time.Now()
				if rate > 0 {
					t0 = due
				}
				status, code, err := func() (int, string, error) {
					if conn == nil {
						var err error
						if conn, err = net.Dial("tcp", addr); err != nil {
							conn = nil
							return 0, "", err
						}
						br = bufio.NewReaderSize(conn, 4096)
					}
					if _, err := conn.Write(buf); err != nil {
						return 0, "", err
					}
					status, b, closed, err := readAnswer(br, body[:0])
					if err != nil {
						return 0, "", err
					}
					if closed {
						conn.Close()
						conn = nil
					}
					var out struct {
						Error struct{ Code string } `json:"error"`
					}
					if status != 201 {
						json.Unmarshal(b, &out)
					}
					return status, out.Error.Code, nil
				}()
				lat[i] = time.Since(t0)
				ended[i] = time.Now()
				switch {
				case err != nil:
					codes[i] = "transport"
					if conn != nil {
						conn.Close()
						conn = nil
					}
				case status == 201:
					codes[i] = "ok"
				case status >= 500:
					codes[i] = fmt.Sprintf("5xx:%d", status)
				default:
					codes[i] = code
				}
			}
		}()
	}
	ready.Wait()
	start = time.Now()
	close(gate)
	wg.Wait()
	// The load lasts until its last answer (closing the connections after
	// is not part of it).
	var last time.Time
	for _, t := range ended {
		if t.After(last) {
			last = t
		}
	}
	d := last.Sub(start)
	r := Result{Name: name, Clients: clients, Requests: len(jobs), Duration: d, Codes: map[string]int{}}
	for _, c := range codes {
		r.Codes[c]++
		switch {
		case c == "ok":
			r.OK++
		case c == "transport" || strings.HasPrefix(c, "5xx"):
			r.ServerErr++
		default:
			r.Rejected++
		}
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	if len(lat) > 0 {
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
		if os.Getenv("YUNYI_BENCH_TAIL") != "" { // the tail in detail, on stderr
			fmt.Fprintf(os.Stderr, "%s: p90 %v p95 %v p98 %v p99 %v p99.9 %v max %v\n", name, lat[len(lat)*90/100], lat[len(lat)*95/100], lat[len(lat)*98/100], r.P99, lat[len(lat)*999/1000], lat[len(lat)-1])
		}
	}
	r.OKPerSec = float64(r.OK) / d.Seconds()
	r.RejPerSec = float64(r.Rejected) / d.Seconds()
	return r
}

// oversold counts slots with more bookings than places, or whose count
// disagrees with their bookings.
func oversold(ctx context.Context, db *sqlstore.DB) (int, error) {
	var n int
	err := db.Writer().QueryRowContext(ctx, `SELECT COUNT(*) FROM slots s LEFT JOIN
		(SELECT slot_id, COUNT(*) AS c FROM appointments WHERE status IN ('booked', 'held') GROUP BY slot_id) a ON a.slot_id = s.id
		WHERE COALESCE(a.c, 0) > s.capacity OR COALESCE(a.c, 0) <> s.booked`).Scan(&n)
	return n, err
}

// Table renders reports as a Markdown table.
func Table(reps []*Report) string {
	var sb strings.Builder
	sb.WriteString("| engine | load | connections | requests | booked | booked/s | rejected | rejected/s | p50 | p99 | oversold | 5xx | ceiling (64/tx) | ratio |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range reps {
		var c64, c1 float64
		for _, c := range r.Ceilings {
			if c.Batch == 64 {
				c64 = c.PerSec
			} else {
				c1 = c.PerSec
			}
		}
		for _, x := range []Result{r.Burst, r.Cold, r.Pooled, r.Sustained, r.Paced} {
			if x.Name == "" {
				continue
			}
			ratio := "—"
			if x.Name == "sustained" && c64 > 0 {
				ratio = fmt.Sprintf("%.2f", x.OKPerSec/c64)
			}
			fmt.Fprintf(&sb, "| %s | %s | %d | %d | %d | %.0f | %d | %.0f | %s | %s | %d | %d | %.0f/s (1/tx: %.0f/s) | %s |\n",
				r.Engine, x.Name, x.Clients, x.Requests, x.OK, x.OKPerSec, x.Rejected, x.RejPerSec, x.P50.Round(10*time.Microsecond),
				x.P99.Round(10*time.Microsecond), x.Oversold, x.ServerErr, c64, c1, ratio)
		}
	}
	return sb.String()
}

// serveLoopback starts the real server over db on a loopback port; shutdown
// stops it and its audit logger.
func serveLoopback(db *sqlstore.DB, cfg web.Config) (addr string, srv *web.Server, shutdown func(), err error) {
	al := audit.NewLogger(db)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err = web.New(cfg, db, al, quiet)
	if err != nil {
		al.Close()
		return "", nil, nil, err
	}
	lns, err := listen.TCP("127.0.0.1:0")
	if err != nil {
		srv.Close()
		al.Close()
		return "", nil, nil, err
	}
	hs := &http.Server{Handler: srv}
	for _, ln := range lns {
		go hs.Serve(ln)
	}
	return lns[0].Addr().String(), srv, func() { hs.Close(); srv.Close(); al.Close() }, nil
}
