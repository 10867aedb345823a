package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/web"
)

// FHIROptions of the FHIR search benchmark (`yunyi bench fhir`, issue 16).
type FHIROptions struct {
	Slots        int // slots loaded (100,000)
	Appointments int // appointments loaded (100,000; at most one a slot)
	Services     int // services sharing the slots, one doctor each (50)
	Patients     int // patients sharing the appointments (5,000)
	Requests     int // searches of each kind (1,000); a paging kind's walks follow next links
	Clients      int // concurrent clients, over HTTP and on the store (8)
	// Profile, when set, receives a CPU profile of the loads; of the one
	// named ProfileLoad alone when that is set (store, http).
	Profile     io.Writer
	ProfileLoad string
}

// FHIRLoads names the loads --profile-load accepts.
var FHIRLoads = []string{"store", "http"}

// FHIRDefaults are the load.
var FHIRDefaults = FHIROptions{Slots: 100_000, Appointments: 100_000, Services: 50, Patients: 5_000, Requests: 1_000, Clients: 8}

// FHIRKind is one kind of search and its measured latencies.
type FHIRKind struct {
	Name    string
	Role    string // who searches: public | patient
	Example string // a request of the kind
	Pages   int    // pages a walk follows (1: no paging)
	// Over HTTP and straight on the store: requests, failures (a status
	// other than 200, or a wrong total) and the percentiles.
	HTTP, Store FHIRLatency
}

// FHIRLatency summarises one kind's requests on one path.
type FHIRLatency struct {
	Requests, Failed int
	P50, P90, P99    time.Duration
}

// FHIRReport of a run on one engine.
type FHIRReport struct {
	Engine                     string
	Options                    FHIROptions
	Load                       time.Duration // loading the slots and appointments
	Slots, Appointments        int
	Kinds                      []*FHIRKind
	HTTPSeconds, StoreSeconds  float64
	LoadAverage                [2]float64 // the machine's, before and after the HTTP load
	FirstFailure, StoreFailure string
}

// fhirSearch is one search (a walk of Pages pages for a paging kind): the
// request's path and query, who sends it, and the store query the
// handler makes of it.
type fhirSearch struct {
	kind  int
	user  *BenchUser // nil: public
	path  string
	slot  *sqlstore.FHIRSlotQuery
	appt  *sqlstore.FHIRApptQuery
	count int
	want  int // the bundle's total the store says (checked over HTTP)
}

// RunFHIR loads Slots slots of Services services (one doctor each,
// sessions every 15 minutes from 08:00 over days around today) and
// Appointments appointments of Patients patients (one a slot, every tenth
// cancelled) with multi-row inserts, then runs the typical FHIR searches
// of Slot (public: a service's free places in a week, a doctor's day by
// its Schedule, a whole day's free places of every service, a fortnight
// of a service paged by next links) and of Appointment (a patient's own:
// booked from today, by practitioner and service, everything paged by
// next links), Requests of each kind from Clients concurrent clients:
// first straight on the store (the same FHIRSlots and FHIRAppointments
// calls the handlers make: the ceiling), then through the real server on
// loopback. Each kind's p99 over HTTP is compared with its p99 on the
// store.
func RunFHIR(ctx context.Context, db *sqlstore.DB, o FHIROptions, log *slog.Logger) (*FHIRReport, error) {
	if o.Slots < 1 || o.Services < 1 || o.Patients < 21 || o.Requests < 1 || o.Clients < 1 {
		return nil, errors.New("fhir bench: slots, services, requests, clients and more than 20 patients are needed")
	}
	o.Appointments = min(o.Appointments, o.Slots)
	rep := &FHIRReport{Engine: string(db.Engine), Options: o}
	now := time.Now()
	today := time.Date(now.In(dates.Beijing).Year(), now.In(dates.Beijing).Month(), now.In(dates.Beijing).Day(), 0, 0, 0, 0, dates.Beijing)

	// 1. The data: services, doctors and patients (Build), then the slots
	// and appointments, multi-row.
	log.Info("fhir: loading", "engine", db.Engine, "slots", o.Slots, "appointments", o.Appointments)
	start := time.Now()
	f, err := Build(ctx, db, Spec{Prefix: "bf", Services: o.Services, Patients: o.Patients, PatientOffset: 3_000_000}, now)
	if err != nil {
		return nil, err
	}
	doctors := make([]int64, o.Services)
	for i, svc := range f.Services {
		ids, err := db.IDs(ctx, `SELECT id FROM practitioners WHERE institution = 'bf' AND department = $1`, svc[len("bf-"):len("bf-")+3])
		if err != nil || len(ids) != 1 {
			return nil, fmt.Errorf("fhir bench: the doctor of %s: %v", svc, err)
		}
		doctors[i] = ids[0]
	}
	const perDay = 20 // sessions a day, every 15 minutes from 08:00
	perService := (o.Slots + o.Services - 1) / o.Services
	days := (perService + perDay - 1) / perDay
	firstDay := today.AddDate(0, 0, -days/2)
	type slotAt struct {
		svc, day, k int
	}
	var all []slotAt
	var rows [][]any
	flushSlots := func() error {
		err := db.InsertRows(ctx, "slots", "service, institution, department, practitioner_id, kind, day, starts_at, capacity, booked", rows)
		rows = rows[:0]
		return err
	}
	for s := 0; s < o.Services && len(all) < o.Slots; s++ {
		for n := 0; n < perService && len(all) < o.Slots; n++ {
			d, k := n/perDay, n%perDay
			day := firstDay.AddDate(0, 0, d)
			at := day.Add(8*time.Hour + time.Duration(k)*15*time.Minute)
			booked := 0
			if len(all) < o.Appointments && len(all)%10 != 9 {
				booked = 1
			}
			// One place or two: half the booked sessions are full (busy).
			rows = append(rows, []any{f.Services[s], "bf", fmt.Sprintf("d%02d", s), doctors[s], "follow_up", day.Format(dates.Layout), at.UnixMicro(), 1 + n%2, booked})
			all = append(all, slotAt{s, d, k})
			if len(rows) == 5000 {
				if err := flushSlots(); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := flushSlots(); err != nil {
		return nil, err
	}
	slotIDs, err := db.IDs(ctx, `SELECT id FROM slots WHERE institution = 'bf' ORDER BY service, starts_at`)
	if err != nil {
		return nil, err
	}
	if len(slotIDs) != len(all) {
		return nil, fmt.Errorf("fhir bench: %d slots stored of %d", len(slotIDs), len(all))
	}
	// The patient of slot i: the 20 sessions of a service's day are 20
	// patients (one booking a department a day), each patient one booking
	// in five days.
	patientOf := func(a slotAt) int { return (a.day*1000 + a.svc*perDay + a.k) % o.Patients }
	mine := make([][]int, o.Patients) // each patient's slots (indexes of all)
	at := now.UnixMicro()
	for i := 0; i < o.Appointments; i++ {
		a := all[i]
		p := patientOf(a)
		status := schedule.Booked
		if i%10 == 9 {
			status = schedule.Cancelled
		}
		u := f.Patients[p]
		rows = append(rows, []any{slotIDs[i], u.PatientID, u.AccountID, f.Services[a.svc], "bf", fmt.Sprintf("d%02d", a.svc),
			firstDay.AddDate(0, 0, a.day).Format(dates.Layout), "follow_up", status, "{}", "bf-" + strconv.Itoa(i), at, 1})
		mine[p] = append(mine[p], i)
		if len(rows) == 5000 {
			if err := db.InsertRows(ctx, "appointments", "slot_id, patient_id, account_id, service, institution, department, day, kind, status, answers, idem_key, created_at, number", rows); err != nil {
				return nil, err
			}
			rows = rows[:0]
		}
	}
	if err := db.InsertRows(ctx, "appointments", "slot_id, patient_id, account_id, service, institution, department, day, kind, status, answers, idem_key, created_at, number", rows); err != nil {
		return nil, err
	}
	if err := db.Analyze(ctx); err != nil {
		return nil, err
	}
	rep.Load = time.Since(start)
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM slots WHERE institution = 'bf'`).Scan(&rep.Slots); err != nil {
		return nil, err
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM appointments WHERE institution = 'bf'`).Scan(&rep.Appointments); err != nil {
		return nil, err
	}
	log.Info("fhir: loaded", "engine", db.Engine, "slots", rep.Slots, "appointments", rep.Appointments, "seconds", rep.Load.Seconds())

	// 2. The searches, the same for both paths.
	rnd := rand.New(rand.NewPCG(16, 17))
	ymd := func(t time.Time) string { return t.Format(dates.Layout) }
	dayAt := func(d int) time.Time { return firstDay.AddDate(0, 0, d) }
	booked := web.AppointmentStates([]string{"booked"})
	rep.Kinds = []*FHIRKind{
		{Name: "slot: a service's free places in a week", Role: "public", Pages: 1,
			Example: "GET /fhir/R4/Slot?service-type=bf-d07-fu&status=free&start=ge…&start=lt…+7d&_count=20"},
		{Name: "slot: a doctor's day (Schedule)", Role: "public", Pages: 1,
			Example: "GET /fhir/R4/Slot?schedule=Schedule/bf-d07-fu.8&start=…&_count=20"},
		{Name: "slot: a day's free places, every service", Role: "public", Pages: 1,
			Example: "GET /fhir/R4/Slot?status=free&start=…&_count=50"},
		{Name: "slot: a service's fortnight, 5 pages by next links", Role: "public", Pages: 5,
			Example: "GET /fhir/R4/Slot?service-type=…&start=ge…&start=lt…+14d&_count=20, then next ×4"},
		{Name: "appointment: the patient's booked, from today", Role: "patient", Pages: 1,
			Example: "GET /fhir/R4/Appointment?patient=Patient/…&status=booked&date=ge…&_count=10"},
		{Name: "appointment: by practitioner and service", Role: "patient", Pages: 1,
			Example: "GET /fhir/R4/Appointment?practitioner=Practitioner/…&service-type=…&_count=10"},
		{Name: "appointment: all the patient's, paged by next links", Role: "patient", Pages: 4,
			Example: "GET /fhir/R4/Appointment?_count=5, then next ×3"},
	}
	var searches []fhirSearch
	for k := range rep.Kinds {
		for i := 0; i < o.Requests; i++ {
			s := fhirSearch{kind: k}
			svc := rnd.IntN(o.Services)
			d := rnd.IntN(days)
			v := url.Values{}
			switch k {
			case 0:
				from, to := dayAt(d), dayAt(d+7)
				v.Set("service-type", f.Services[svc])
				v.Set("status", "free")
				v["start"] = []string{"ge" + ymd(from), "lt" + ymd(to)}
				s.count = 20
				s.slot = &sqlstore.FHIRSlotQuery{Service: f.Services[svc], From: from, To: to, Statuses: []string{"free"}}
				s.path = "/fhir/R4/Slot"
			case 1:
				from := dayAt(d)
				v.Set("schedule", fmt.Sprintf("Schedule/%s.%d", f.Services[svc], doctors[svc]))
				v.Set("start", ymd(from))
				s.count = 20
				s.slot = &sqlstore.FHIRSlotQuery{Service: f.Services[svc], PractitionerID: doctors[svc], From: from, To: from.AddDate(0, 0, 1)}
				s.path = "/fhir/R4/Slot"
			case 2:
				from := dayAt(d)
				v.Set("status", "free")
				v.Set("start", ymd(from))
				s.count = 50
				s.slot = &sqlstore.FHIRSlotQuery{From: from, To: from.AddDate(0, 0, 1), Statuses: []string{"free"}}
				s.path = "/fhir/R4/Slot"
			case 3:
				from, to := dayAt(d), dayAt(d+14)
				v.Set("service-type", f.Services[svc])
				v["start"] = []string{"ge" + ymd(from), "lt" + ymd(to)}
				s.count = 20
				s.slot = &sqlstore.FHIRSlotQuery{Service: f.Services[svc], From: from, To: to}
				s.path = "/fhir/R4/Slot"
			default:
				p := rnd.IntN(o.Patients)
				for len(mine[p]) == 0 {
					p = rnd.IntN(o.Patients)
				}
				u := &f.Patients[p]
				s.user, s.path = u, "/fhir/R4/Appointment"
				s.appt = &sqlstore.FHIRApptQuery{PatientIDs: []int64{u.PatientID}}
				switch k {
				case 4:
					v.Set("patient", "Patient/"+strconv.FormatInt(u.PatientID, 10))
					v.Set("status", "booked")
					v.Set("date", "ge"+ymd(today))
					s.count, s.appt.States, s.appt.From = 10, booked, today
				case 5:
					a := all[mine[p][rnd.IntN(len(mine[p]))]]
					v.Set("practitioner", "Practitioner/"+strconv.FormatInt(doctors[a.svc], 10))
					v.Set("service-type", f.Services[a.svc])
					s.count, s.appt.PractitionerID, s.appt.Service = 10, doctors[a.svc], f.Services[a.svc]
				case 6:
					s.count = 5
				}
			}
			v.Set("_count", strconv.Itoa(s.count))
			s.path += "?" + v.Encode()
			searches = append(searches, s)
		}
	}
	rnd.Shuffle(len(searches), func(i, j int) { searches[i], searches[j] = searches[j], searches[i] })

	if o.Profile != nil && o.ProfileLoad == "" {
		pprof.StartCPUProfile(o.Profile)
		defer pprof.StopCPUProfile()
	}
	profile := func(name string) func() {
		if o.Profile != nil && o.ProfileLoad == name {
			pprof.StartCPUProfile(o.Profile)
			return pprof.StopCPUProfile
		}
		return func() {}
	}

	// 3. The ceiling: the same searches straight on the store.
	log.Info("fhir: searching on the store", "engine", db.Engine, "searches", len(searches), "clients", o.Clients)
	storeLat := make([][]time.Duration, len(rep.Kinds))
	var mu sync.Mutex
	stop := profile("store")
	t0 := time.Now()
	err = fanOut(len(searches), o.Clients, func(i int) error {
		s := &searches[i]
		pages := rep.Kinds[s.kind].Pages
		var lat []time.Duration
		for p := 0; p < pages; p++ {
			pg := sqlstore.Page{Limit: s.count, Offset: p * s.count}
			t := time.Now()
			var n, total int
			var err error
			if s.slot != nil {
				var got []schedule.Slot
				got, total, err = db.FHIRSlots(ctx, *s.slot, pg)
				n = len(got)
			} else {
				var got []sqlstore.FHIRAppointment
				got, total, err = db.FHIRAppointments(ctx, *s.appt, pg)
				n = len(got)
			}
			lat = append(lat, time.Since(t))
			if err != nil {
				return err
			}
			if p == 0 {
				s.want = total
			}
			if n == 0 || pg.Offset+n >= total {
				break
			}
		}
		mu.Lock()
		storeLat[s.kind] = append(storeLat[s.kind], lat...)
		mu.Unlock()
		return nil
	})
	rep.StoreSeconds = time.Since(t0).Seconds()
	stop()
	if err != nil {
		return rep, err
	}

	// 4. The same searches through the real server.
	addr, _, shutdown, err := serveLoopback(db, web.Config{Now: time.Now, PayLoop: -1, QualificationLoop: -1})
	if err != nil {
		return nil, err
	}
	defer shutdown()
	base := "http://" + addr
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients, MaxConnsPerHost: o.Clients}}
	httpLat := make([][]time.Duration, len(rep.Kinds))
	failed := make([]atomic.Int64, len(rep.Kinds))
	var firstFail atomic.Value
	log.Info("fhir: searching over HTTP", "engine", db.Engine, "url", base)
	rep.LoadAverage[0] = loadAverage()
	stop = profile("http")
	t0 = time.Now()
	err = fanOut(len(searches), o.Clients, func(i int) error {
		s := &searches[i]
		pages := rep.Kinds[s.kind].Pages
		next := base + s.path
		var lat []time.Duration
		for p := 0; p < pages && next != ""; p++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
			req.Header.Set("Accept", "application/fhir+json")
			if s.user != nil {
				req.Header.Set("Authorization", "Bearer "+s.user.Token)
			}
			t := time.Now()
			res, err := client.Do(req)
			var b struct {
				Total int `json:"total"`
				Link  []struct {
					Relation, URL string
				} `json:"link"`
				Entry []json.RawMessage `json:"entry"`
			}
			status := 0
			if err == nil {
				status = res.StatusCode
				err = json.NewDecoder(res.Body).Decode(&b)
				res.Body.Close()
			}
			lat = append(lat, time.Since(t))
			next = ""
			if err != nil || status != http.StatusOK || b.Total != s.want {
				failed[s.kind].Add(1)
				firstFail.CompareAndSwap(nil, fmt.Sprintf("%s: status %d, total %d (store %d), %v", s.path, status, b.Total, s.want, err))
				break
			}
			for _, l := range b.Link {
				if l.Relation == "next" {
					next = l.URL
				}
			}
		}
		mu.Lock()
		httpLat[s.kind] = append(httpLat[s.kind], lat...)
		mu.Unlock()
		return ctx.Err()
	})
	rep.HTTPSeconds = time.Since(t0).Seconds()
	stop()
	rep.LoadAverage[1] = loadAverage()
	if err != nil {
		return rep, err
	}
	for k, kind := range rep.Kinds {
		kind.Store = summarise(storeLat[k], 0)
		kind.HTTP = summarise(httpLat[k], int(failed[k].Load()))
	}
	if v := firstFail.Load(); v != nil {
		rep.FirstFailure = v.(string)
		return rep, fmt.Errorf("fhir bench: searches failed over HTTP, first: %s", rep.FirstFailure)
	}
	return rep, nil
}

// fanOut runs fn(0..n-1) from workers goroutines; the first error stops
// the others' next calls.
func fanOut(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

func summarise(lat []time.Duration, failed int) FHIRLatency {
	out := FHIRLatency{Requests: len(lat), Failed: failed}
	if len(lat) == 0 {
		return out
	}
	slices.Sort(lat)
	at := func(q int) time.Duration { return lat[min(len(lat)-1, len(lat)*q/100)] }
	out.P50, out.P90, out.P99 = at(50), at(90), at(99)
	return out
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

// FHIRTable is the result table: per engine and kind, the HTTP latencies,
// the store's for the same searches and the ratio of the p99s.
func FHIRTable(reps []*FHIRReport) string {
	var b strings.Builder
	b.WriteString("| engine | search (role) | requests | HTTP p50 | HTTP p90 | HTTP p99 | store p50 | store p90 | store p99 (ceiling) | ratio p99 HTTP ÷ store | failed |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range reps {
		for _, k := range r.Kinds {
			ratio := "—"
			if k.Store.P99 > 0 {
				ratio = fmt.Sprintf("%.1f", float64(k.HTTP.P99)/float64(k.Store.P99))
			}
			fmt.Fprintf(&b, "| %s | %s (%s) | %d | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | %s | %d |\n", r.Engine, k.Name, k.Role, k.HTTP.Requests,
				ms(k.HTTP.P50), ms(k.HTTP.P90), ms(k.HTTP.P99), ms(k.Store.P50), ms(k.Store.P90), ms(k.Store.P99), ratio, k.HTTP.Failed)
		}
	}
	b.WriteString("\n")
	for _, r := range reps {
		fmt.Fprintf(&b, "%s: %d slots and %d appointments loaded in %.1f s; %d clients; store %.1f s, HTTP %.1f s (machine load %.1f → %.1f).\n",
			r.Engine, r.Slots, r.Appointments, r.Load.Seconds(), r.Options.Clients, r.StoreSeconds, r.HTTPSeconds, r.LoadAverage[0], r.LoadAverage[1])
	}
	return b.String()
}
