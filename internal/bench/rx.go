package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/sign"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/visit"
	"github.com/yunyi-health/yunyi/internal/web"
)

// RxOptions of the prescription benchmark (`yunyi bench rx`).
type RxOptions struct {
	Prescriptions int // issued and approved over HTTP, each in a visit of its own (20,000)
	Clients       int // HTTP clients, one keep-alive connection each (64)
	Doctors       int // doctors, one department each, sharing the visits (8)
	Pharmacists   int // pharmacists sharing the reviews (2)
	Checks        int // rule checks of each in-process row (50,000)
	// CheckWorkers are the goroutines of each in-process row: one a core
	// (the check's own time) and many (the same work queued on the cores).
	CheckWorkers         []int
	CeilingPrescriptions int // issued and approved straight on the store (20,000)
	CeilingWorkers       int // concurrent callers of the store ceiling through the group-commit writer (64)
	// Profile, when set, receives a CPU profile of the loads (not of the
	// fixture); of the load named ProfileLoad alone when that is set
	// (check, http, ceiling).
	Profile     io.Writer
	ProfileLoad string
}

// RxDefaults are the issue's target: 3-item prescriptions checked against
// every rule, issued and signed, reviewed and signed.
var RxDefaults = RxOptions{Prescriptions: 20000, Clients: 64, Doctors: 8, Pharmacists: 2, Checks: 50000,
	CheckWorkers: []int{runtime.GOMAXPROCS(0), 64}, CeilingPrescriptions: 20000, CeilingWorkers: 64}

// RxLoads names the loads --profile-load accepts.
var RxLoads = []string{"check", "http", "ceiling"}

// RxCheck is the rule check alone, in process: Checker.Prepare and
// Checker.Check of a 3-item prescription against every rule.
type RxCheck struct {
	Workers  int
	Rules    int // evaluated on every check
	Checks   int
	Refused  int // must be 0: every prescription passes every rule
	Duration time.Duration
	PerSec   float64
	P50, P99 time.Duration
}

// RxHTTP is the end-to-end load: POST /api/v1/visits/{id}/prescriptions
// (checked, issued, signed by the doctor), then POST
// /api/v1/prescriptions/{id}/review approving it (signed by the
// pharmacist), over HTTP against the real server.
type RxHTTP struct {
	Clients  int
	Pairs    int // prescriptions attempted
	OK       int // issued and approved
	Errors   int // any other answer, or a transport error
	Codes    map[string]int
	Duration time.Duration
	PerSec   float64 // issued-and-approved prescriptions a second
	// Latencies of each call and of the pair.
	IssueP50, IssueP99, ReviewP50, ReviewP99, PairP50, PairP99 time.Duration
	// Checked afterwards in the store: approved prescriptions carrying both
	// signatures, and a sample whose signatures verify.
	Stored, Verified, Sampled int
}

// RxCeiling is the store's own rate for the same writes: Issue then Review
// (approval, two notices) with precomputed signatures, in a closed loop;
// with Signing, each signature is made inside its transaction, as the
// server makes it (what the signing costs the one writer).
type RxCeiling struct {
	Workers       int
	Signing       bool
	Prescriptions int
	Duration      time.Duration
	PerSec        float64
}

// RxReport of a run on one engine.
type RxReport struct {
	Engine   string
	Checks   []RxCheck
	HTTP     RxHTTP
	Ceilings []RxCeiling
}

// Ceiling is the best store ceiling of the run (precomputed signatures).
func (r *RxReport) Ceiling() float64 {
	best := 0.0
	for _, c := range r.Ceilings {
		if !c.Signing {
			best = max(best, c.PerSec)
		}
	}
	return best
}

// rxMasterKey seals the benchmark practitioners' signing keys.
var rxMasterKey = []byte("yunyi-bench-master-key-32-bytes!")

const rxInst = "rx"

// rxPerson is a practitioner with an account and a session.
type rxPerson struct {
	id    int64 // practitioner
	name  string
	dept  string
	token string
	acct  int64
}

// rxFixture is the data of a run.
type rxFixture struct {
	doctors, pharmacists []rxPerson
	visits               []int64 // in progress, one prescription each: the HTTP load's, then the ceiling's
	patients             []BenchUser
	doctorOf             []int // each visit's doctor
	inputs               []rx.Input
	bodies               [][]byte // inputs as JSON
	answers              []map[string]any
}

// rxAnswers are the pre-consultation answers of visit i: half the patients
// declared a penicillin allergy (so the allergy rule has something to
// match, and nothing prescribed hits it).
func rxAnswers(i int) map[string]any {
	if i%2 == 0 {
		return map[string]any{"drug_allergies": "青霉素"}
	}
	return map[string]any{"drug_allergies": "无"}
}

// rxDiagnoses are the ICD-10 codes the prescriptions rotate through.
var rxDiagnoses = []string{"J06.9", "I10", "E11.9", "K29.7", "J30.4", "M54.5", "L20.9"}

// rxInputs makes n distinct 3-item prescriptions that pass every platform
// rule for an adult: oral drugs under no control, three different
// ingredients with no known interaction, none a penicillin or a
// cephalosporin, 5 days.
func rxInputs(cat *rx.Catalogue, n int) ([]rx.Input, error) {
	allergic := rx.Allergens(map[string]any{"drug_allergies": "青霉素 头孢"})
	var pool []rx.Drug
	for _, d := range cat.All() {
		if d.Control == rx.NoControl && d.Route == "oral" && len(d.Ingredients) == 1 && allergic[d.Ingredients[0]] == "" {
			pool = append(pool, d)
		}
	}
	if len(pool) < 3 {
		return nil, fmt.Errorf("rx bench: %d drugs fit, want 3 at least", len(pool))
	}
	var out []rx.Input
	for i := 0; len(out) < n && i < 50*n; i++ {
		a, b, c := pool[i%len(pool)], pool[(i*7+3)%len(pool)], pool[(i*13+11)%len(pool)]
		ings := []string{a.Ingredients[0], b.Ingredients[0], c.Ingredients[0]}
		if ings[0] == ings[1] || ings[0] == ings[2] || ings[1] == ings[2] || len(cat.InteractionsAmong(ings)) > 0 {
			continue
		}
		in := rx.Input{Diagnoses: []string{rxDiagnoses[len(out)%len(rxDiagnoses)]}, Supply: rx.SupplyNormal, ValidDays: 1}
		for _, d := range []rx.Drug{a, b, c} {
			in.Items = append(in.Items, rx.Item{Drug: d.Code, Dose: 1, DoseUnit: d.DoseUnit, Frequency: "tid", Route: d.Route, Days: 5, Quantity: 2})
		}
		out = append(out, in)
	}
	if len(out) == 0 {
		return nil, errors.New("rx bench: no 3-item prescription passes the rules")
	}
	return out, nil
}

// buildRx writes the fixture: one institution whose formulary stocks the
// whole catalogue (online unless controlled), a doctor with an account
// and a session in each of its departments, pharmacists, and visits in
// progress (appointment, visit and record draft rows), one per
// prescription, spread over the doctors; the practitioners' signing keys
// are made beforehand.
func buildRx(ctx context.Context, db *sqlstore.DB, o RxOptions, now time.Time) (*rxFixture, *rx.Keys, error) {
	total := o.Prescriptions + o.CeilingPrescriptions
	f, err := Build(ctx, db, Spec{Prefix: rxInst, Services: o.Doctors, SlotsPer: 1, Capacity: total/o.Doctors + 1, Patients: total, PatientOffset: 2_100_000}, now)
	if err != nil {
		return nil, nil, err
	}
	fx := &rxFixture{patients: f.Patients}
	at := now.UnixMicro()
	expires := now.Add(12 * time.Hour).UnixMicro()
	var sessions [][]any
	session := func(acct int64) string {
		tok, h := identity.NewToken()
		sessions = append(sessions, []any{h, acct, "api", "x", at, expires, expires})
		return tok
	}
	// Doctors: Build made one practitioner a department; give each an account.
	docIDs, err := db.IDs(ctx, `SELECT id FROM practitioners WHERE institution = $1 ORDER BY department, id`, rxInst)
	if err != nil {
		return nil, nil, err
	}
	if len(docIDs) != o.Doctors {
		return nil, nil, fmt.Errorf("rx bench: %d doctors, want %d", len(docIDs), o.Doctors)
	}
	for d, id := range docIDs {
		dept := fmt.Sprintf("d%02d", d)
		a := &identity.Account{Username: fmt.Sprintf("rx-doctor-%s", dept), PasswordHash: "x", Role: identity.RoleDoctor, Institution: rxInst, CreatedAt: now}
		if err := db.CreateAccount(ctx, a); err != nil {
			return nil, nil, err
		}
		if _, err := db.Writer().ExecContext(ctx, `UPDATE practitioners SET account_id = $1 WHERE id = $2`, a.ID, id); err != nil {
			return nil, nil, err
		}
		fx.doctors = append(fx.doctors, rxPerson{id: id, name: "压测医师", dept: dept, acct: a.ID, token: session(a.ID)})
	}
	for k := 0; k < o.Pharmacists; k++ {
		a := &identity.Account{Username: fmt.Sprintf("rx-pharmacist-%d", k), PasswordHash: "x", Role: identity.RolePharmacist, Institution: rxInst, CreatedAt: now}
		if err := db.CreateAccount(ctx, a); err != nil {
			return nil, nil, err
		}
		p := &directory.Practitioner{Institution: rxInst, AccountID: a.ID, Name: fmt.Sprintf("压测药师%d", k), Profession: directory.Pharmacist,
			Title: directory.TitleSupervisingPharm, LicenceNo: fmt.Sprintf("YS-RX-%02d", k)}
		if err := db.SavePractitioner(ctx, p); err != nil {
			return nil, nil, err
		}
		fx.pharmacists = append(fx.pharmacists, rxPerson{id: p.ID, name: p.Name, acct: a.ID, token: session(a.ID)})
	}
	if err := db.InsertRows(ctx, "sessions", "token_hash, account_id, kind, csrf, created_at, expires_at, idle_expiry", sessions); err != nil {
		return nil, nil, err
	}
	// The formulary: the whole catalogue, online unless controlled.
	var form []rx.FormularyItem
	for i, d := range rx.DefaultCatalogue().All() {
		form = append(form, rx.FormularyItem{Institution: rxInst, Drug: d.Code, PriceFen: int64(500 + (i*389)%9500), Online: d.Control == rx.NoControl})
	}
	if err := db.SaveFormulary(ctx, form); err != nil {
		return nil, nil, err
	}
	// Visits in progress: visit i is patient i's, with doctor i % Doctors.
	var appts, visits [][]any
	day := now.Format("2006-01-02")
	for i, p := range f.Patients {
		d := i % o.Doctors
		appts = append(appts, []any{f.Slots[d][0], p.PatientID, p.AccountID, f.Services[d], rxInst, fx.doctors[d].dept, day, "follow_up", "booked", "{}",
			fmt.Sprintf("rx-%d", i), at})
	}
	if err := db.InsertRows(ctx, "appointments", "slot_id, patient_id, account_id, service, institution, department, day, kind, status, answers, idem_key, created_at", appts); err != nil {
		return nil, nil, err
	}
	rows, err := db.Writer().QueryContext(ctx, `SELECT id, patient_id FROM appointments WHERE institution = $1`, rxInst)
	if err != nil {
		return nil, nil, err
	}
	apptOf := map[int64]int64{}
	for rows.Next() {
		var id, pid int64
		if err := rows.Scan(&id, &pid); err != nil {
			rows.Close()
			return nil, nil, err
		}
		apptOf[pid] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for i, p := range f.Patients {
		id := apptOf[p.PatientID]
		if id == 0 {
			return nil, nil, fmt.Errorf("rx bench: patient %d has no appointment", p.PatientID)
		}
		ans := rxAnswers(i)
		raw, _ := json.Marshal(ans)
		visits = append(visits, []any{id, "in_progress", string(raw), at, at})
		fx.visits = append(fx.visits, id)
		fx.doctorOf = append(fx.doctorOf, i%o.Doctors)
		fx.answers = append(fx.answers, ans)
	}
	if err := db.InsertRows(ctx, "visits", "appointment_id, state, answers, started_at, updated_at", visits); err != nil {
		return nil, nil, err
	}
	// The prescriptions, and each visit's record draft naming the
	// diagnosis its prescription cites (the doctor writes the record
	// before prescribing).
	if fx.inputs, err = rxInputs(rx.DefaultCatalogue(), 64); err != nil {
		return nil, nil, err
	}
	var drafts [][]any
	for i, id := range fx.visits {
		code := fx.inputs[i%len(fx.inputs)].Diagnoses[0]
		icd, _ := visit.LookupICD(code)
		body, _ := json.Marshal(map[string]any{"chief_complaint": "复诊开药", "present_illness": "病情稳定", "history": "", "observations": "",
			"diagnoses": []visit.Diagnosis{{Code: code, Name: icd.Name}}, "advice": "按时服药"})
		drafts = append(drafts, []any{id, 0, string(body), fx.doctors[fx.doctorOf[i]].acct, at})
	}
	if err := db.InsertRows(ctx, "records", "visit_id, version, body, author_id, updated_at", drafts); err != nil {
		return nil, nil, err
	}
	if err := db.Analyze(ctx); err != nil {
		return nil, nil, err
	}
	// Every practitioner's signing key (made once, as it is before a
	// practitioner's first signature).
	for _, in := range fx.inputs {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, nil, err
		}
		fx.bodies = append(fx.bodies, b)
	}
	sealer, err := sign.NewSealer(rxMasterKey)
	if err != nil {
		return nil, nil, err
	}
	keys := &rx.Keys{Store: db, Sealer: sealer}
	for _, p := range fx.doctors {
		if _, err := keys.Signer(ctx, rx.RoleDoctor, p.id, p.name); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range fx.pharmacists {
		if _, err := keys.Signer(ctx, rx.RolePharmacist, p.id, p.name); err != nil {
			return nil, nil, err
		}
	}
	return fx, keys, nil
}

// subject is what the server loads for visit i (Build's patients are
// adults, born 20-69 years ago; the record names the diagnosis).
func (fx *rxFixture) subject(i int, now time.Time) *rx.Subject {
	doc := fx.doctors[fx.doctorOf[i]]
	return &rx.Subject{Diagnoses: fx.inputs[i%len(fx.inputs)].Diagnoses, VisitID: fx.visits[i], VisitState: "in_progress", Institution: rxInst, Department: doc.dept, PatientID: fx.patients[i].PatientID,
		PatientName: "压测患者", PatientSex: "male", Birth: now.AddDate(-20-i%50, 0, -(i/50)%360), DoctorID: doc.id, DoctorName: doc.name, Answers: fx.answers[i]}
}

// input is a fresh copy of the prescription of visit i (Prepare fills its
// items in).
func (fx *rxFixture) input(i int) rx.Input {
	in := fx.inputs[i%len(fx.inputs)]
	in.Items = slices.Clone(in.Items)
	in.Diagnoses = slices.Clone(in.Diagnoses)
	return in
}

// RunRx builds the fixture in db, starts the real server on loopback and
// runs the rule check alone, the end-to-end load over HTTP and the store
// ceiling.
func RunRx(ctx context.Context, db *sqlstore.DB, o RxOptions, log *slog.Logger) (*RxReport, error) {
	if o.Doctors < 1 || o.Pharmacists < 1 || o.Clients < 1 || o.Prescriptions < 1 || o.CeilingWorkers < 1 {
		return nil, errors.New("rx bench: doctors, pharmacists, clients, prescriptions and ceiling workers must be at least 1")
	}
	now := time.Now()
	log.Info("building fixtures", "engine", db.Engine, "visits", o.Prescriptions+o.CeilingPrescriptions, "doctors", o.Doctors)
	fx, keys, err := buildRx(ctx, db, o, now)
	if err != nil {
		return nil, err
	}
	addr, _, shutdown, err := serveLoopback(db, web.Config{SigningKey: rxMasterKey})
	if err != nil {
		return nil, err
	}
	defer shutdown()
	rep := &RxReport{Engine: string(db.Engine)}

	if o.Profile != nil && o.ProfileLoad == "" {
		pprof.StartCPUProfile(o.Profile)
		defer pprof.StopCPUProfile()
	}
	profiled := func(name string, fn func() error) error {
		if o.Profile != nil && o.ProfileLoad == name {
			pprof.StartCPUProfile(o.Profile)
			defer pprof.StopCPUProfile()
		}
		return fn()
	}

	// The rules and the formulary as the server reads them (the platform's
	// rules are stored when the server starts).
	all, err := db.RxRules(ctx, rxInst)
	if err != nil {
		return nil, err
	}
	rules := rx.Applicable(all, rxInst)
	list, err := db.Formulary(ctx, rxInst)
	if err != nil {
		return nil, err
	}
	form := make(map[string]rx.FormularyItem, len(list))
	for _, it := range list {
		form[it.Drug] = it
	}
	checker := &rx.Checker{Cat: rx.DefaultCatalogue(), Engine: rx.NewEngine(), ICD: func(c string) bool { _, ok := visit.LookupICD(c); return ok }}

	// 1. The rule check alone.
	profiled("check", func() error {
		for _, w := range o.CheckWorkers {
			if o.Checks > 0 && w > 0 {
				log.Info("rule check", "goroutines", w, "checks", o.Checks)
				rep.Checks = append(rep.Checks, rxCheckLoad(ctx, checker, rules, form, fx, w, o.Checks))
			}
		}
		return nil
	})

	// 2. End to end over HTTP.
	log.Info("issue and approve over HTTP", "clients", o.Clients, "prescriptions", o.Prescriptions)
	profiled("http", func() error { rep.HTTP = rxHTTPLoad(addr, fx, o.Clients, o.Prescriptions); return nil })
	if err := rxAfter(ctx, db, keys, &rep.HTTP); err != nil {
		return nil, err
	}

	// 3. The store ceiling: the same two transactions straight on the
	// store.
	if o.CeilingPrescriptions > 0 {
		ps, docSig, phSig, err := rxCeilingPrep(ctx, checker, rules, form, fx, keys, o.Prescriptions, now)
		if err != nil {
			return nil, err
		}
		// A quarter by one caller a transaction, three eighths by
		// CeilingWorkers through the group-commit writer, and three eighths
		// by CeilingWorkers through the writer signing as the server does.
		q, e := len(ps)/4, len(ps)*5/8
		err = profiled("ceiling", func() error {
			for _, c := range []struct {
				workers int
				signing bool
				ps      []*rx.Prescription
			}{{1, false, ps[:q]}, {o.CeilingWorkers, false, ps[q:e]}, {o.CeilingWorkers, true, ps[e:]}} {
				if len(c.ps) == 0 {
					continue
				}
				log.Info("store ceiling", "workers", c.workers, "signing in the transaction", c.signing, "prescriptions", len(c.ps))
				res, err := rxCeilingLoad(ctx, db, keys, fx, c.ps, c.workers, c.signing, docSig, phSig)
				if err != nil {
					return err
				}
				rep.Ceilings = append(rep.Ceilings, res)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// rxCheckLoad runs n rule checks (Prepare and Check of a 3-item
// prescription, every rule) over workers goroutines.
func rxCheckLoad(ctx context.Context, checker *rx.Checker, rules []rx.Rule, form map[string]rx.FormularyItem, fx *rxFixture, workers, n int) RxCheck {
	// Warm: the engine compiles each rule once, as the server's does at
	// its first prescription.
	{
		in := fx.input(0)
		p, facts, err := checker.Prepare(fx.subject(0, time.Now()), &in, form, time.Now())
		if err == nil {
			checker.Check(ctx, rules, p, facts)
		}
	}
	lat := make([]time.Duration, n)
	var refused atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				k := i % len(fx.visits)
				in := fx.input(k)
				sub := fx.subject(k, start)
				t0 := time.Now()
				p, facts, err := checker.Prepare(sub, &in, form, t0)
				if err == nil {
					err = checker.Check(ctx, rules, p, facts)
				}
				lat[i] = time.Since(t0)
				if err != nil {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	slices.Sort(lat)
	return RxCheck{Workers: workers, Rules: len(rules), Checks: n, Refused: int(refused.Load()), Duration: d, PerSec: float64(n) / d.Seconds(), P50: lat[n/2], P99: lat[n*99/100]}
}

// rawClient speaks HTTP/1.1 on one keep-alive connection with requests
// written as bytes and answers read by readAnswer (the load generator
// shares the cores with the server).
type rawClient struct {
	addr      string
	conn      net.Conn
	br        *bufio.Reader
	req, body []byte
}

func (c *rawClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// post sends a JSON body and returns the answer's status and body (valid
// until the next call).
func (c *rawClient) post(path, token string, payload []byte) (int, []byte, error) {
	c.req = fmt.Appendf(c.req[:0], "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
		path, c.addr, token, len(payload))
	c.req = append(c.req, payload...)
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, nil, err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	if _, err := c.conn.Write(c.req); err != nil {
		c.close()
		return 0, nil, err
	}
	status, b, closed, err := readAnswer(c.br, c.body[:0])
	if err != nil {
		c.close()
		return 0, nil, err
	}
	if cap(b) > cap(c.body) {
		c.body = b[:0]
	}
	if closed {
		c.close()
	}
	return status, b, nil
}

// answerID reads the id of a prescription answer ({"id":N,...}, the
// prescription's fields first).
func answerID(b []byte) int64 {
	if rest, ok := bytes.CutPrefix(b, []byte(`{"id":`)); ok {
		end := bytes.IndexByte(rest, ',')
		if end > 0 {
			if id, err := strconv.ParseInt(string(rest[:end]), 10, 64); err == nil {
				return id
			}
		}
	}
	var out struct {
		ID int64 `json:"id"`
	}
	json.Unmarshal(b, &out)
	return out.ID
}

// errorCode is the code of an error answer.
func errorCode(b []byte) string {
	var out struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(b, &out)
	return out.Error.Code
}

// rxHTTPLoad issues and approves n prescriptions (visits 0..n-1) with
// clients concurrent clients, each in a closed loop: the doctor's POST,
// then the pharmacist's approval of what it returned.
func rxHTTPLoad(addr string, fx *rxFixture, clients, n int) RxHTTP {
	issue, review, pair := make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n)
	codes := make([]string, n)
	ended := make([]time.Time, n)
	approve := []byte(`{"decision":"approve"}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &rawClient{addr: addr, req: make([]byte, 0, 2048), body: make([]byte, 0, 8192)}
			defer cl.close()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				doc := fx.doctors[fx.doctorOf[i]]
				ph := fx.pharmacists[i%len(fx.pharmacists)]
				t0 := time.Now()
				status, b, err := cl.post("/api/v1/visits/"+strconv.FormatInt(fx.visits[i], 10)+"/prescriptions", doc.token, fx.bodies[i%len(fx.bodies)])
				t1 := time.Now()
				issue[i] = t1.Sub(t0)
				ended[i] = t1
				var id int64
				switch {
				case err != nil:
					codes[i] = "issue: transport"
				case status != 201:
					codes[i] = fmt.Sprintf("issue: %d %s", status, errorCode(b))
				default:
					if id = answerID(b); id == 0 {
						codes[i] = "issue: no id"
					}
				}
				if codes[i] != "" {
					continue
				}
				status, b, err = cl.post("/api/v1/prescriptions/"+strconv.FormatInt(id, 10)+"/review", ph.token, approve)
				t2 := time.Now()
				review[i], pair[i], ended[i] = t2.Sub(t1), t2.Sub(t0), t2
				switch {
				case err != nil:
					codes[i] = "review: transport"
				case status != 200:
					codes[i] = fmt.Sprintf("review: %d %s", status, errorCode(b))
				case !bytes.Contains(b, []byte(`"status":"approved"`)):
					codes[i] = "review: not approved"
				default:
					codes[i] = "ok"
				}
			}
		}()
	}
	wg.Wait()
	var last time.Time
	for _, t := range ended {
		if t.After(last) {
			last = t
		}
	}
	d := last.Sub(start)
	r := RxHTTP{Clients: clients, Pairs: n, Duration: d, Codes: map[string]int{}}
	var okIssue, okReview, okPair []time.Duration
	for i, c := range codes {
		r.Codes[c]++
		if c == "ok" {
			r.OK++
			okReview = append(okReview, review[i])
			okPair = append(okPair, pair[i])
		} else {
			r.Errors++
		}
		if !strings.HasPrefix(c, "issue") {
			okIssue = append(okIssue, issue[i])
		}
	}
	r.IssueP50, r.IssueP99 = percentiles(okIssue)
	r.ReviewP50, r.ReviewP99 = percentiles(okReview)
	r.PairP50, r.PairP99 = percentiles(okPair)
	r.PerSec = float64(r.OK) / d.Seconds()
	return r
}

// percentiles are the p50 and p99 of durations (sorted in place).
func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	sort.Slice(d, func(a, b int) bool { return d[a] < d[b] })
	return d[len(d)/2], d[len(d)*99/100]
}

// rxAfter checks the HTTP load's result in the store: the approved
// prescriptions of its visits carrying both signatures, and a sample whose
// signatures verify against the practitioners' keys.
func rxAfter(ctx context.Context, db *sqlstore.DB, keys *rx.Keys, r *RxHTTP) error {
	ids, err := db.IDs(ctx, `SELECT id FROM prescriptions WHERE institution = $1 AND status = 'approved' AND doctor_sig <> '' AND pharmacist_sig <> '' ORDER BY id`, rxInst)
	if err != nil {
		return err
	}
	r.Stored = len(ids)
	for k := 0; k < 20 && len(ids) > 0; k++ {
		p, err := db.Prescription(ctx, ids[k*len(ids)/20])
		if err != nil {
			return err
		}
		r.Sampled++
		if ok, _, err := keys.Verify(ctx, p); err != nil {
			return err
		} else if ok {
			r.Verified++
		}
	}
	return nil
}

// rxCeilingPrep prepares and checks the ceiling's prescriptions (visits
// from first on) beforehand, and signs one doctor's and one pharmacist's
// content for every call to reuse.
func rxCeilingPrep(ctx context.Context, checker *rx.Checker, rules []rx.Rule, form map[string]rx.FormularyItem, fx *rxFixture, keys *rx.Keys,
	first int, now time.Time) ([]*rx.Prescription, []rx.Signature, []rx.Signature, error) {
	var ps []*rx.Prescription
	for i := first; i < len(fx.visits); i++ {
		in := fx.input(i)
		p, facts, err := checker.Prepare(fx.subject(i, now), &in, form, now)
		if err == nil {
			err = checker.Check(ctx, rules, p, facts)
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("rx bench: ceiling prescription %d: %w", i, err)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, nil, nil, nil
	}
	var docSig, phSig []rx.Signature
	for _, d := range fx.doctors {
		s, err := keys.Signer(ctx, rx.RoleDoctor, d.id, d.name)
		if err != nil {
			return nil, nil, nil, err
		}
		sig, err := s.Sign(rx.DoctorContent(ps[0]), now)
		if err != nil {
			return nil, nil, nil, err
		}
		docSig = append(docSig, sig)
	}
	for _, ph := range fx.pharmacists {
		s, err := keys.Signer(ctx, rx.RolePharmacist, ph.id, ph.name)
		if err != nil {
			return nil, nil, nil, err
		}
		sig, err := s.Sign(rx.ReviewContent(ps[0], docSig[0]), now)
		if err != nil {
			return nil, nil, nil, err
		}
		phSig = append(phSig, sig)
	}
	return ps, docSig, phSig, nil
}

// rxCeilingLoad issues and approves ps straight on the store with workers
// concurrent callers: the issue (the row with the doctor's signature),
// then the review approving it with the pharmacist's signature and the two
// notices the server sends (patient and doctor). One caller writes one
// prescription a transaction; several go through the group-commit writer
// (rx.Writer), as the server's handlers do. The signatures are docSig's
// and phSig's, or, with signing, made by the practitioners' opened keys
// before each write, as the server does (reading the visit's latest
// version, reserving the id).
func rxCeilingLoad(ctx context.Context, db *sqlstore.DB, keys *rx.Keys, fx *rxFixture, ps []*rx.Prescription, workers int, signing bool,
	docSig, phSig []rx.Signature) (RxCeiling, error) {
	docIdx := map[int64]int{}
	var docKey, phKey []*rx.Signer
	for k, d := range fx.doctors {
		docIdx[d.id] = k
		s, err := keys.Signer(ctx, rx.RoleDoctor, d.id, d.name)
		if err != nil {
			return RxCeiling{}, err
		}
		docKey = append(docKey, s)
	}
	for _, ph := range fx.pharmacists {
		s, err := keys.Signer(ctx, rx.RolePharmacist, ph.id, ph.name)
		if err != nil {
			return RxCeiling{}, err
		}
		phKey = append(phKey, s)
	}
	acctOf := map[int64]int64{}
	for _, p := range fx.patients {
		acctOf[p.PatientID] = p.AccountID
	}
	w := rx.NewWriter(db)
	defer w.Close()
	write := func(req *rx.IssueRequest) error {
		if workers == 1 {
			if err := db.Issue(ctx, []*rx.IssueRequest{req}); err != nil {
				return err
			}
			return req.Err
		}
		return w.Write(ctx, req)
	}
	review := func(p *rx.Prescription, notes []notify.Notification) error {
		if workers == 1 {
			req := &rx.ReviewRequest{P: p, Notes: notes}
			if err := db.Review(ctx, []*rx.ReviewRequest{req}); err != nil {
				return err
			}
			return req.Err
		}
		return w.Review(ctx, p, notes, nil)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ps) || failed.Load() != nil {
					return
				}
				p := ps[i]
				d, k := docIdx[p.DoctorID], i%len(fx.pharmacists)
				var err error
				if signing {
					err = w.Issue(ctx, p, docKey[d], nil, nil)
				} else if p.ID, err = db.ReservePrescriptionID(ctx); err == nil {
					p.Version, p.Signatures = 1, []rx.Signature{docSig[d]}
					err = write(&rx.IssueRequest{P: p})
				}
				if err != nil {
					failed.Store(err)
					return
				}
				ph := fx.pharmacists[k]
				at := time.Now()
				p.Status, p.ReviewerID, p.ReviewerName, p.ReviewedAt = rx.Approved, ph.id, ph.name, at.UTC().Truncate(time.Microsecond)
				if signing {
					err = phKey[k].Approve(p)
				} else {
					p.Signatures = append(p.Signatures, phSig[k])
				}
				notes := []notify.Notification{
					{AccountID: acctOf[p.PatientID], Kind: "rx_approved", Title: "电子处方已审核通过", Body: p.PatientName + " 的电子处方已由药师审核通过，可在“我的处方”查看。",
						TitleEN: "Prescription approved", BodyEN: "The prescription was approved by the pharmacist.", CreatedAt: at},
					{AccountID: fx.doctors[d].acct, Kind: "rx_approved", Title: "处方审核通过", Body: p.PatientName + " 的处方（第 1 版）已审核通过。",
						TitleEN: "Prescription approved", BodyEN: "The prescription (version 1) was approved.", CreatedAt: at},
				}
				if err == nil {
					err = review(p, notes)
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return RxCeiling{}, fmt.Errorf("rx bench: store ceiling: %w", err)
	}
	d := time.Since(start)
	return RxCeiling{Workers: workers, Signing: signing, Prescriptions: len(ps), Duration: d, PerSec: float64(len(ps)) / d.Seconds()}, nil
}

// RxTable renders reports as Markdown: the rule check rows, the
// end-to-end row with its two calls, and the store ceiling rows.
func RxTable(reps []*RxReport) string {
	var b strings.Builder
	b.WriteString("| engine | load | concurrency | operations | per second | p50 | p99 | errors | store ceiling | ratio |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	plural := func(n int, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", n, what)
	}
	ms := func(d time.Duration) string {
		if d < time.Millisecond {
			return fmt.Sprintf("%d µs", d.Microseconds())
		}
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	for _, r := range reps {
		for _, c := range r.Checks {
			fmt.Fprintf(&b, "| %s | rule check alone (Prepare + Check, 3 items, %d rules) | %s | %d checks | %.0f checks/s | %s | %s | %d refused | — | — |\n",
				r.Engine, c.Rules, plural(c.Workers, "goroutine"), c.Checks, c.PerSec, ms(c.P50), ms(c.P99), c.Refused)
		}
		h := r.HTTP
		ceil, ratio := "—", "—"
		if c := r.Ceiling(); c > 0 {
			ceil = fmt.Sprintf("%.0f/s", c)
			ratio = fmt.Sprintf("%.2f", h.PerSec/c)
		}
		fmt.Fprintf(&b, "| %s | issue + approve over HTTP, both signed | %d clients | %d prescriptions (%d stored approved with 2 signatures, %d/%d verified) | %.0f prescriptions/s | %s | %s | %d | %s | %s |\n",
			r.Engine, h.Clients, h.Pairs, h.Stored, h.Verified, h.Sampled, h.PerSec, ms(h.PairP50), ms(h.PairP99), h.Errors, ceil, ratio)
		fmt.Fprintf(&b, "| %s | ↳ POST /api/v1/visits/{id}/prescriptions | | | | %s | %s | | | |\n", r.Engine, ms(h.IssueP50), ms(h.IssueP99))
		fmt.Fprintf(&b, "| %s | ↳ POST /api/v1/prescriptions/{id}/review | | | | %s | %s | | | |\n", r.Engine, ms(h.ReviewP50), ms(h.ReviewP99))
		for _, c := range r.Ceilings {
			what := "precomputed signatures, one a transaction"
			switch {
			case c.Signing:
				what = "group commit, signing before each write as the server does"
			case c.Workers > 1:
				what = "group commit, precomputed signatures"
			}
			fmt.Fprintf(&b, "| %s | store: Issue + Review, %s | %s | %d prescriptions | %.0f prescriptions/s | | | 0 | | |\n",
				r.Engine, what, plural(c.Workers, "caller"), c.Prescriptions, c.PerSec)
		}
	}
	return b.String()
}
