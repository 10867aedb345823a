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
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/web"
)

// ImportOptions of the offline-history import benchmark (`yunyi bench
// import`, issue 15).
type ImportOptions struct {
	Rows        int // CSV rows imported over HTTP (3,500,000: a large hospital's year of outpatient visits)
	CeilingRows int // the same import straight on the store (history.Importer), before; 0: none
	BadEvery    int // every n-th row has a diagnosis code outside the ICD-10 list (1,000)
	// Profile, when set, receives a CPU profile of the imports; of the one
	// named ProfileLoad alone when that is set (store, http).
	Profile     io.Writer
	ProfileLoad string
}

// ImportLoads names the loads --profile-load accepts.
var ImportLoads = []string{"store", "http"}

// ImportDefaults are the target.
var ImportDefaults = ImportOptions{Rows: 3_500_000, CeilingRows: 3_500_000, BadEvery: 1000}

// ImportResult is one import measured.
type ImportResult struct {
	Path           string // "http" or "store"
	Rows, Imported int
	Failed, Listed int   // problems counted, and listed in the report
	Bytes          int64 // of the CSV
	Duration       time.Duration
	PerSec         float64 // rows a second
	Idle, Peak     Mem     // before, and the highest seen during the import
}

// Mem is the process's memory at one moment.
type Mem struct {
	HeapInuse, Sys, RSS uint64 // Go heap spans in use, bytes obtained from the OS by Go, resident set (Linux; 0 elsewhere)
}

// ImportReport of a run on one engine.
type ImportReport struct {
	Engine string
	HTTP   ImportResult
	Store  *ImportResult
}

const importInst = "bench-import"

func readMem() Mem {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := Mem{HeapInuse: ms.HeapInuse, Sys: ms.Sys}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				m.RSS = kb << 10
			}
		}
	}
	return m
}

// sampleMem records the highest memory seen every 25 ms until stop.
func sampleMem() (stop func() Mem) {
	var mu sync.Mutex
	var peak Mem
	take := func() {
		m := readMem()
		mu.Lock()
		peak.HeapInuse, peak.Sys, peak.RSS = max(peak.HeapInuse, m.HeapInuse), max(peak.Sys, m.Sys), max(peak.RSS, m.RSS)
		mu.Unlock()
	}
	take()
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() Mem {
		close(done)
		<-finished
		take()
		return peak
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// RunImport measures a CSV import of generated rows (made as they are
// read, never held): straight on the store through history.Importer (the
// ceiling), then the store emptied, then over HTTP to the real server on
// loopback as one chunked POST /api/v1/institutions/{code}/history, the
// handler's own path. Memory is sampled during each.
func RunImport(ctx context.Context, db *sqlstore.DB, o ImportOptions, log *slog.Logger) (*ImportReport, error) {
	if o.Rows < 1 {
		return nil, errors.New("import bench: rows must be at least 1")
	}
	now := time.Now()
	inst := &directory.Institution{Code: importInst, Name: "压测医院（历史导入）", Status: directory.QualApproved, ApprovedOn: "2020-01-01"}
	if err := db.SaveInstitution(ctx, inst); err != nil {
		return nil, err
	}
	var depts []string
	known := map[string]bool{}
	for i := 0; i < 8; i++ {
		d := fmt.Sprintf("d%02d", i)
		if err := db.SaveDepartment(ctx, &directory.Department{Institution: importInst, Code: d, Name: "科室" + d, Online: true}); err != nil {
			return nil, err
		}
		depts, known[d] = append(depts, d), true
	}
	a := &identity.Account{Username: "import-admin", PasswordHash: "x", Role: identity.RoleInstitutionAdmin, Institution: importInst, CreatedAt: now}
	if err := db.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	tok, h := identity.NewToken()
	exp := now.Add(24 * time.Hour).UnixMicro()
	if err := db.InsertRows(ctx, "sessions", "token_hash, account_id, kind, csrf, created_at, expires_at, idle_expiry",
		[][]any{{h, a.ID, "api", "x", now.UnixMicro(), exp, exp}}); err != nil {
		return nil, err
	}
	rep := &ImportReport{Engine: string(db.Engine)}
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

	// 1. The ceiling: the importer straight on the store.
	if o.CeilingRows > 0 {
		syn := &countingReader{r: &history.Synthetic{Rows: o.CeilingRows, Departments: depts, Now: now, BadEvery: o.BadEvery}}
		log.Info("import straight on the store", "engine", db.Engine, "rows", o.CeilingRows)
		runtime.GC()
		res := ImportResult{Path: "store", Idle: readMem()}
		stop := sampleMem()
		start := time.Now()
		r := &history.Report{}
		im := &history.Importer{Store: db, Institution: importInst, Departments: known, Now: now}
		done := profile("store")
		err := im.CSV(ctx, syn, r)
		done()
		res.Duration = time.Since(start)
		res.Peak = stop()
		if err != nil {
			return nil, err
		}
		res.Rows, res.Imported, res.Failed, res.Listed, res.Bytes = r.Total, r.Imported, r.Failed, len(r.Problems), syn.n
		res.PerSec = float64(r.Total) / res.Duration.Seconds()
		rep.Store = &res
		// Empty the table, so that the HTTP import starts as this one did.
		empty := `DELETE FROM visit_history`
		if db.Engine == sqlstore.Postgres {
			empty = `TRUNCATE visit_history`
		}
		if _, err := db.Writer().ExecContext(ctx, empty); err != nil {
			return nil, err
		}
	}

	// 2. Over HTTP, to the real server.
	addr, _, shutdown, err := serveLoopback(db, web.Config{ImportMaxBytes: 64 << 30})
	if err != nil {
		return nil, err
	}
	defer shutdown()
	syn := &countingReader{r: &history.Synthetic{Rows: o.Rows, Departments: depts, Now: now, BadEvery: o.BadEvery}}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/v1/institutions/"+importInst+"/history", io.NopCloser(bufio.NewReaderSize(syn, 64<<10)))
	if err != nil {
		return nil, err
	}
	req.ContentLength = -1 // chunked: made as it is sent
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+tok)
	log.Info("import over HTTP", "engine", db.Engine, "rows", o.Rows)
	runtime.GC()
	res := ImportResult{Path: "http", Idle: readMem()}
	stop := sampleMem()
	start := time.Now()
	done := profile("http")
	resp, err := http.DefaultClient.Do(req)
	done()
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	res.Duration = time.Since(start)
	res.Peak = stop()
	if err != nil {
		return nil, err
	}
	var out struct {
		Total    int               `json:"total"`
		Imported int               `json:"imported"`
		Failed   int               `json:"failed"`
		Problems []history.Problem `json:"problems"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("import over HTTP: %d %.300s", resp.StatusCode, body)
	}
	res.Rows, res.Imported, res.Failed, res.Listed, res.Bytes = out.Total, out.Imported, out.Failed, len(out.Problems), syn.n
	res.PerSec = float64(out.Total) / res.Duration.Seconds()
	rep.HTTP = res
	if want := o.Rows - (&history.Synthetic{Rows: o.Rows, BadEvery: o.BadEvery}).Bad(); out.Imported != want {
		return nil, fmt.Errorf("import over HTTP: %d imported, want %d", out.Imported, want)
	}
	return rep, nil
}

// ImportTable is the Markdown table of runs.
func ImportTable(reps []*ImportReport) string {
	var b strings.Builder
	b.WriteString("| engine | path | rows | CSV | problems (listed) | seconds | rows/s | Go heap in use: idle → peak | Go Sys: idle → peak | RSS: idle → peak | store ceiling | ratio |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	mb := func(n uint64) string { return fmt.Sprintf("%.0f MB", float64(n)/(1<<20)) }
	row := func(engine string, r *ImportResult, what, ceil, ratio string) {
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f MB | %d (%d) | %.1f | %.0f | %s → %s | %s → %s | %s → %s | %s | %s |\n",
			engine, what, r.Rows, float64(r.Bytes)/(1<<20), r.Failed, r.Listed, r.Duration.Seconds(), r.PerSec,
			mb(r.Idle.HeapInuse), mb(r.Peak.HeapInuse), mb(r.Idle.Sys), mb(r.Peak.Sys), mb(r.Idle.RSS), mb(r.Peak.RSS), ceil, ratio)
	}
	for _, r := range reps {
		ceil, ratio := "—", "—"
		if r.Store != nil {
			row(r.Engine, r.Store, "store: history.Importer straight on the store", "", "")
			ceil, ratio = fmt.Sprintf("%.0f/s", r.Store.PerSec), fmt.Sprintf("%.2f", r.HTTP.PerSec/r.Store.PerSec)
		}
		row(r.Engine, &r.HTTP, "HTTP: one chunked POST …/history (the handler's stream)", ceil, ratio)
	}
	return b.String()
}
