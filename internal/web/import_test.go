package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// stream posts body without a length (chunked), as a client streaming a
// file it makes does.
func (e *env) stream(path, token, contentType string, body io.Reader, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.ts.URL+path, io.NopCloser(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, raw: raw, header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("bad JSON: %v %s", err, raw)
		}
	}
	return out
}

func (e *env) departments(code string) []string {
	inst, err := e.s.dir.Institution(context.Background(), code)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, d := range inst.Departments {
		out = append(out, d.Code)
	}
	return out
}

// heapPeak samples the live heap (as of each collection, one forced every
// 50 ms) until stop, and returns its growth over the start.
func heapPeak() (stop func() uint64) {
	live := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	runtime.GC()
	base := live()
	var mu sync.Mutex
	peak := base
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.GC()
				mu.Lock()
				peak = max(peak, live())
				mu.Unlock()
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak - base
	}
}

// 200,000 rows streamed in one request (chunked, made as they are sent):
// every row counted, the bad ones reported (the first 1,000 listed with
// their lines, the others counted), and the server's live heap does not
// grow with the rows (the speed is in `yunyi bench import`).
func TestHistoryImportStream(t *testing.T) {
	if testing.Short() {
		t.Skip("memory and size limits have no date: they run in the full pass; -short (CI's far-ahead pass) skips them")
	}
	eachEnvAlone(t, func(t *testing.T, e *env) { // the heap it measures is the process's
		admin := e.login("pumch-admin")
		const rows = 200000
		syn := &history.Synthetic{Rows: rows, Departments: e.departments("pumch"), Now: testNow(), BadEvery: 150}
		grown := heapPeak()
		r := e.stream("/api/v1/institutions/pumch/history", admin, "text/csv", syn)
		growth := grown()
		t.Logf("live heap grew by %.1f MB", float64(growth)/(1<<20))
		bad := syn.Bad()
		if r.status != 201 || r.body["total"] != float64(rows) || r.body["processed"] != float64(rows) || r.body["imported"] != float64(rows-bad) ||
			r.body["failed"] != float64(bad) || r.body["status"] != "done" {
			t.Fatalf("%d %.400s", r.status, r.raw)
		}
		problems := r.body["problems"].([]any)
		if len(problems) != history.MaxProblems || r.body["problems_omitted"] != float64(bad-history.MaxProblems) {
			t.Fatalf("%d problems listed, %v omitted", len(problems), r.body["problems_omitted"])
		}
		first := problems[0].(map[string]any)
		if first["line"] != float64(151) || first["index"] != float64(150) || !strings.Contains(first["reason"].(string), "Z99.999") {
			t.Fatalf("%v", first)
		}
		var stored int
		e.db.QueryRowContext(context.Background(), `SELECT count(*) FROM visit_history WHERE institution = 'pumch' AND source = 'csv'`).Scan(&stored)
		if stored != rows-bad {
			t.Fatalf("%d stored", stored)
		}
		// Holding the rows (as the import did before) takes over 60 MB here.
		if growth > 40<<20 {
			t.Fatalf("the live heap grew by %d MB over %d rows", growth>>20, rows)
		}
	})
}

// The size limit: a Content-Length over it is refused before the body is
// read; a stream without one is cut where it passes it (what was written
// before stays, and the answer says so); an async upload or a FHIR bundle
// likewise.
func TestHistoryImportLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("memory and size limits have no date: they run in the full pass; -short (CI's far-ahead pass) skips them")
	}
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, relaxed, func(c *Config) { c.ImportMaxBytes = 1 << 20 })
		admin := e.login("pumch-admin")
		// A 2 GB Content-Length: 413 with nothing sent but the headers.
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /api/v1/institutions/pumch/history HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/csv\r\nAccept-Language: en\r\nContent-Length: %d\r\n\r\n", admin, int64(2)<<30)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode != 413 || !strings.Contains(string(raw), `"code":"import_too_large"`) || !strings.Contains(string(raw), "1 MB") || !strings.Contains(string(raw), "Nothing was imported") {
			t.Fatalf("%d %s", res.StatusCode, raw)
		}
		// A chunked stream of about 3 MB.
		syn := &history.Synthetic{Rows: 40000, Departments: e.departments("pumch"), Now: testNow()}
		r := e.stream("/api/v1/institutions/pumch/history", admin, "text/csv", syn, "Accept-Language", "en")
		if r.status != 413 || r.errCode() != "import_too_large" || !strings.Contains(r.errMessage(), "stopped at row") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		id := regexp.MustCompile(`#(\d+)`).FindStringSubmatch(r.errMessage())
		g := e.req("GET", "/api/v1/institutions/pumch/history/imports/"+id[1], admin, nil)
		if g.body["status"] != "failed" || g.body["imported"].(float64) < history.DefaultBatch {
			t.Fatalf("%s", g.raw)
		}
		// Asynchronously: the upload is refused whole.
		syn = &history.Synthetic{Rows: 40000, Departments: e.departments("pumch"), Now: testNow()}
		if r := e.stream("/api/v1/institutions/pumch/history?async=1", admin, "text/csv", syn); r.status != 413 || !strings.Contains(r.errMessage(), "未导入任何内容") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// A FHIR bundle over the limit.
		big := `{"resourceType":"Bundle","entry":[` + strings.Repeat(`{"resource":{"resourceType":"Observation","id":"x"}},`, 30000) + `{}]}`
		if r := e.stream("/api/v1/institutions/pumch/history", admin, "application/fhir+json", strings.NewReader(big)); r.status != 413 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/institutions/pumch/history", admin, big, "Content-Type", "application/fhir+json"); r.status != 413 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

// What an import checks, each problem numbered by its line in the file
// and said in the caller's language.
func TestHistoryImportChecks(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("pumch-admin")
		child := newRID(5)
		birth := testNow().AddDate(-5, 0, -30).In(dates.Beijing)
		day := func(d time.Time) string { return d.Format(dates.Layout) }
		today := testNow().In(dates.Beijing)
		csv := "resident_id,department,visit_date,diagnosis_code,diagnosis_name,definite\n" +
			child + ",endocrinology," + day(today.AddDate(0, -1, 0)) + ",E34.3,矮小症,true\n" + // 2: good
			child + ",endocrinology," + day(today.AddDate(0, -2, 0)) + ",E34.999,x,true\n" + // 3: unknown ICD
			child + ",endocrinology,\"" + day(birth.AddDate(0, 0, -1)) + "\",E34.3,\"多行\n名称\",true\n" + // 4-5: before birth
			child + ",endocrinology," + day(today.AddDate(0, 0, 1)) + ",E34.3,x,true\n" + // 6: tomorrow
			child + ",endocrinology," + day(birth) + ",,,false\n" // 7: the day of birth, no diagnosis: good
		for _, c := range []struct {
			lang  string
			words []string
		}{
			{"en", []string{"“E34.999” is not an ICD-10 code", "before the birth date", "is in the future"}},
			{"zh-CN", []string{"不在 ICD-10 编码表中", "早于出生日期", "晚于今天"}},
		} {
			r := e.req("POST", "/api/v1/institutions/pumch/history", admin, csv, "Content-Type", "text/csv", "Accept-Language", c.lang)
			if r.status != 201 || r.body["failed"] != float64(3) || r.body["total"] != float64(5) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			var lines []float64
			var reasons []string
			for _, p := range r.body["problems"].([]any) {
				lines = append(lines, p.(map[string]any)["line"].(float64))
				reasons = append(reasons, p.(map[string]any)["reason"].(string))
			}
			if fmt.Sprint(lines) != "[3 4 6]" {
				t.Fatalf("lines %v", lines)
			}
			for i, w := range c.words {
				if !strings.Contains(reasons[i], w) {
					t.Fatalf("%s: %q, want %q", c.lang, reasons[i], w)
				}
			}
			// The report read back is in the reader's language too.
			g := e.req("GET", fmt.Sprintf("/api/v1/institutions/pumch/history/imports/%.0f", r.body["id"].(float64)), admin, nil, "Accept-Language", c.lang)
			if !strings.Contains(string(g.raw), c.words[0]) {
				t.Fatalf("%s", g.raw)
			}
		}
	})
}

// A malformed bundle is refused naming its problem in words, never in Go's.
func TestHistoryImportMalformedFHIR(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("xuanwu-admin")
		for _, c := range []struct{ body, en, zh string }{
			{`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Encounter","id":"e1","period":{"start":20261001}}}]}`,
				"Bundle.entry[0].resource.period.start must be a string, but the file has a number", "Bundle.entry[0].resource.period.start 应为字符串，文件中却是数字"},
			{`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","identifier":"110108"}}]}`,
				"Bundle.entry[0].resource.identifier must be an array, but the file has a string", "应为数组"},
			{`{"resourceType":"Bundle","entry":[{"resource":`, "incomplete JSON", "JSON 不完整"},
			{`{"resourceType":"Bundle",,}`, "not valid JSON near byte", "不是有效的 JSON"},
		} {
			for lang, want := range map[string]string{"en": c.en, "zh-CN": c.zh} {
				r := e.req("POST", "/api/v1/institutions/xuanwu/history?department=neurology", admin, c.body, "Content-Type", "application/fhir+json", "Accept-Language", lang)
				if r.status != 400 || r.errCode() != "bad_file" || !strings.Contains(r.errMessage(), want) {
					t.Fatalf("%s: %d %s, want %q", lang, r.status, r.raw, want)
				}
				for _, never := range []string{"json:", "Go struct", "unmarshal", "main.", "fhir."} {
					if strings.Contains(r.errMessage(), never) {
						t.Fatalf("%q in %s", never, r.raw)
					}
				}
			}
		}
	})
}

// ?async=1 answers at once with the import's address; its progress is
// read there until it is done.
func TestHistoryImportAsync(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("pumch-admin")
		syn := &history.Synthetic{Rows: 20000, Departments: e.departments("pumch"), Now: testNow(), BadEvery: 1000}
		var buf bytes.Buffer
		buf.ReadFrom(syn)
		r := e.req("POST", "/api/v1/institutions/pumch/history?async=1", admin, buf.String(), "Content-Type", "text/csv")
		loc := r.header.Get("Location")
		if r.status != 202 || r.body["status"] != "running" || r.body["total"] != float64(20000) || loc == "" {
			t.Fatalf("%d %s %s", r.status, loc, r.raw)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			g := e.req("GET", loc, admin, nil)
			if g.body["status"] == "done" {
				if g.body["total"] != float64(20000) || g.body["imported"] != float64(19980) || g.body["failed"] != float64(20) {
					t.Fatalf("%s", g.raw)
				}
				break
			}
			if g.body["status"] != "running" || time.Now().After(deadline) {
				t.Fatalf("%s", g.raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// A file that is not an import is refused at once.
		if r := e.req("POST", "/api/v1/institutions/pumch/history?async=1", admin, "name,date\n", "Content-Type", "text/csv"); r.status != 400 || r.errCode() != "bad_file" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

// The upload page: its form carries its token, the file is imported in
// the background, and the progress page lists the problems by line.
func TestHistoryImportPage(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("bch-admin")
		b.get("/admin/institutions/bch/history")
		m := regexp.MustCompile(`action="(/admin/institutions/bch/history\?csrf=[^"]+)"`).FindStringSubmatch(b.last)
		if m == nil {
			t.Fatalf("the form has no token in its action: %s", b.last)
		}
		rid := newRID(8)
		day := testNow().In(dates.Beijing).AddDate(0, -1, 0).Format(dates.Layout)
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "visits.csv")
		fmt.Fprintf(fw, "resident_id,department,visit_date,diagnosis_code,diagnosis_name,definite\n%s,dermatology,%s,L20.9,特应性皮炎,true\n%s,dermatology,%s,L99.99,x,true\n", rid, day, rid, day)
		mw.WriteField("department", "")
		mw.Close()
		req, _ := http.NewRequest("POST", e.ts.URL+html.UnescapeString(m[1]), &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode != 303 || !strings.HasPrefix(loc, "/admin/institutions/bch/history/") {
			t.Fatalf("%d %s", res.StatusCode, loc)
		}
		deadline := time.Now().Add(30 * time.Second)
		for b.get(loc); strings.Contains(b.last, `data-status="running"`) && time.Now().Before(deadline); b.get(loc) {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(b.last, `data-status="done"`) || !strings.Contains(b.last, "第 3 行") || !strings.Contains(b.last, "不在 ICD-10 编码表中") {
			t.Fatalf("%s", b.last)
		}
	})
}
