package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// memStore keeps the external ids it was given (a unique index) and
// the sizes of the batches.
type memStore struct {
	Store
	seen    map[string]bool
	batches []int
	visits  []Visit
	keep    bool
}

func (m *memStore) InsertVisits(_ context.Context, vs []Visit) (int, error) {
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	m.batches = append(m.batches, len(vs))
	n := 0
	for _, v := range vs {
		if !m.seen[v.ExternalID] {
			m.seen[v.ExternalID] = true
			n++
			if m.keep {
				m.visits = append(m.visits, v)
			}
		}
	}
	return n, nil
}

var now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func rid(birth string, seq int) string {
	b, _ := time.Parse("2006-01-02", birth)
	return identity.MakeResidentID("110108", b, seq, identity.Female)
}

func importer(st Store) *Importer {
	return &Importer{Store: st, Institution: "h1", Departments: map[string]bool{"derm": true, "growth": true}, Now: now}
}

const head = "resident_id,department,visit_date,diagnosis_code,diagnosis_name,definite\n"

// Each check, alone on a row, with its code; the good rows are written.
func TestCSVChecks(t *testing.T) {
	adult, child := rid("1980-05-06", 1), rid("2020-03-04", 2)
	cases := []struct {
		name, row string
		codes     []string // none: imported
	}{
		{"good", adult + ",derm,2026-10-01,L20.9,特应性皮炎,true", nil},
		{"good, code in lower case", child + ",growth,2026-11-30,e34.3,,1", nil},
		{"no diagnosis: a visit without a coded diagnosis", adult + ",growth,2026-09-01,,,false", nil},
		{"today", child + ",derm,2026-12-03,L20.9,x,true", nil},
		{"the day of birth", child + ",derm,2020-03-04,L20.9,x,true", nil},
		{"unknown ICD code", adult + ",derm,2026-10-01,L20.999,x,true", []string{"icd"}},
		{"not ICD at all", adult + ",derm,2026-10-01,232353008,x,true", []string{"icd"}},
		{"before birth", child + ",derm,2020-03-03,L20.9,x,true", []string{"before_birth"}},
		{"future", adult + ",derm,2026-12-04,L20.9,x,true", []string{"future"}},
		{"date format", adult + ",derm,2026-1-4,L20.9,x,true", []string{"visit_date"}},
		{"bad resident ID", "110108198005060010,derm,2026-10-01,L20.9,x,true", []string{"resident_id"}},
		{"no resident ID", ",derm,2026-10-01,L20.9,x,true", []string{"no_resident_id"}},
		{"unknown department", adult + ",cardio,2026-10-01,L20.9,x,true", []string{"department"}},
		{"fields", adult + ",derm,2026-10-01", []string{"fields"}},
		{"definite", adult + ",derm,2026-10-01,L20.9,x,maybe", []string{"definite"}},
		{"several", child + ",cardio,2019-01-01,X,x,true", []string{"department", "before_birth", "icd"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &memStore{keep: true}
			rep := &Report{}
			if err := importer(st).CSV(context.Background(), strings.NewReader(head+c.row+"\n"), rep); err != nil {
				t.Fatal(err)
			}
			if rep.Total != 1 || rep.Processed != 1 {
				t.Fatalf("%+v", rep)
			}
			if c.codes == nil {
				if rep.Imported != 1 || len(rep.Problems) != 0 {
					t.Fatalf("not imported: %+v", rep)
				}
				return
			}
			if rep.Failed != 1 || rep.Imported != 0 || len(rep.Problems) != 1 {
				t.Fatalf("%+v", rep)
			}
			p := rep.Problems[0]
			var got []string
			for _, d := range p.Details {
				got = append(got, d.Code)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.codes) || p.Line != 2 || p.Index != 1 {
				t.Fatalf("problem %+v, want codes %v on line 2", p, c.codes)
			}
			// Both languages have a text without a missing argument.
			for _, lang := range []i18n.Lang{i18n.ZH, i18n.EN} {
				p.Localize(lang)
				if strings.Contains(p.Reason, "%!") || strings.Contains(p.Reason, "import.") || p.Reason == "" {
					t.Fatalf("%s: %q", lang, p.Reason)
				}
			}
		})
	}
	// A good row is written as the list writes its code, with the list's
	// name when the file gives none.
	st := &memStore{keep: true}
	importer(st).CSV(context.Background(), strings.NewReader(head+child+",growth,2026-11-30,e34.3,,1\n"), &Report{})
	if v := st.visits[0]; v.DiagnosisCode != "E34.3" || v.DiagnosisName == "" || !v.Definite || v.Institution != "h1" || v.Source != "csv" {
		t.Fatalf("%+v", v)
	}
}

// Problems carry the line of the file their row starts on: a quoted field
// spanning lines moves the rows after it, and a CSV syntax error is
// reported at its line and the import goes on.
func TestCSVLines(t *testing.T) {
	a := rid("1980-05-06", 1)
	file := head +
		a + ",derm,2026-10-01,L20.9,\"特应性皮炎\n（复诊）\",true\n" + // line 2-3, good
		a + ",derm,2030-01-01,L20.9,x,true\n" + // line 4: future
		"\n" + // line 5: empty, skipped
		a + ",derm,2026-10-02,L20.9,x\"y,true\n" + // line 6: bare quote
		a + ",derm,2026-10-03,NOPE,\"a\nb\nc\",true\n" + // line 7-9: icd
		a + ",derm,2026-10-04,L20.9,x,true\n" // line 10, good
	rep := &Report{}
	if err := importer(&memStore{}).CSV(context.Background(), strings.NewReader(file), rep); err != nil {
		t.Fatal(err)
	}
	var lines, rows []int
	for _, p := range rep.Problems {
		lines, rows = append(lines, p.Line), append(rows, p.Index)
	}
	if fmt.Sprint(lines) != "[4 6 7]" || fmt.Sprint(rows) != "[2 3 4]" || rep.Total != 5 || rep.Imported != 2 || rep.Failed != 3 {
		t.Fatalf("lines %v rows %v: %+v", lines, rows, rep)
	}
	if rep.Problems[1].Details[0].Code != "csv_bare_quote" {
		t.Fatalf("%+v", rep.Problems[1])
	}
}

// A file that is not the CSV, and the reader's own errors.
func TestCSVFileErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		r    io.Reader
		code string
	}{
		{"empty", strings.NewReader(""), "no_header"},
		{"wrong header", strings.NewReader("name,date\nx,y\n"), "header"},
		{"header in another order", strings.NewReader("department,resident_id,visit_date,diagnosis_code,diagnosis_name,definite\n"), "header"},
		{"a row of 2 MB", io.MultiReader(strings.NewReader(head+rid("1980-05-06", 1)+",derm,2026-10-01,L20.9,x,true\n"), strings.NewReader(strings.Repeat("x", 2<<20))), "row_too_long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := importer(&memStore{}).CSV(context.Background(), c.r, &Report{})
			var fe *FileError
			if !errors.As(err, &fe) || fe.Code != c.code {
				t.Fatalf("%v, want %s", err, c.code)
			}
			if strings.Contains(fe.Text(i18n.ZH), "%!") {
				t.Fatal(fe.Text(i18n.ZH))
			}
		})
	}
	// A BOM before the header is accepted.
	if err := importer(&memStore{}).CSV(context.Background(), strings.NewReader("\ufeff"+head), &Report{}); err != nil {
		t.Fatal(err)
	}
	// The reader's error (a size limit, a broken connection) stops the import as it is.
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader(head+rid("1980-05-06", 1)+",derm,2026-10-01,L20.9,x,true\n"), iotest.ErrReader(boom))
	if err := importer(&memStore{}).CSV(context.Background(), r, &Report{}); !errors.Is(err, boom) {
		t.Fatalf("%v", err)
	}
}

// A long stream is written in batches, counted whole, with the first
// problems listed and the others counted; the live heap does not grow
// with the rows (the file is made as it is read).
func TestCSVStream(t *testing.T) {
	const rows = 300000
	syn := &Synthetic{Rows: rows, Departments: []string{"derm", "growth"}, Now: now, BadEvery: 97}
	st := &memStore{seen: make(map[string]bool, rows)} // the fake store's own index, made before measuring
	var progress int
	im := importer(st)
	im.Progress = func(*Report) { progress++ }
	before := liveHeap()
	peak := before
	im.Progress = func(*Report) {
		progress++
		if progress%20 == 0 {
			runtime.GC()
			peak = max(peak, liveHeap())
		}
	}
	rep := &Report{}
	if err := im.CSV(context.Background(), syn, rep); err != nil {
		t.Fatal(err)
	}
	bad := syn.Bad()
	if rep.Total != rows || rep.Processed != rows || rep.Failed != bad || rep.Imported != rows-bad || rep.Duplicates != 0 {
		t.Fatalf("%+v", rep.Problems[:3])
	}
	if len(rep.Problems) != MaxProblems || rep.ProblemsOmitted != bad-MaxProblems || rep.Problems[0].Line != 98 {
		t.Fatalf("problems: %d listed, %d omitted, first %+v", len(rep.Problems), rep.ProblemsOmitted, rep.Problems[0])
	}
	for _, b := range st.batches[:len(st.batches)-1] {
		if b != DefaultBatch {
			t.Fatalf("batches %v", st.batches)
		}
	}
	// The fake store's index grows (about 100 bytes a row); what the
	// import holds must not: a few MB over it.
	if grown := int64(peak) - int64(before); grown > 48<<20 {
		t.Fatalf("live heap grew by %d MB over %d rows", grown>>20, rows)
	}
	t.Logf("live heap %d MB before, peak %d MB", before>>20, peak>>20)
	// The same file again: all duplicates.
	syn = &Synthetic{Rows: rows, Departments: []string{"derm", "growth"}, Now: now, BadEvery: 97}
	rep = &Report{}
	if err := importer(st).CSV(context.Background(), syn, rep); err != nil || rep.Imported != 0 || rep.Duplicates != rows-bad {
		t.Fatalf("%v %d %d", err, rep.Imported, rep.Duplicates)
	}
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Bundle visits and the problems of reading the bundle are reported in
// entry order, each visit checked as a CSV row is.
func TestVisits(t *testing.T) {
	a := rid("1980-05-06", 1)
	visits := []Visit{
		{ResidentID: a, Department: "derm", Date: "2026-10-01", DiagnosisCode: "L20.9", ExternalID: "e2"},
		{ResidentID: a, Department: "derm", Date: "1970-10-01", ExternalID: "e5"},
		{ResidentID: a, Department: "derm", Date: "2026-10-02", ExternalID: "e6"},
	}
	problems := []Problem{{Index: 1, Details: []Detail{{Code: "fhir_status", Args: []string{"x", "planned"}}}}, {Index: 4, Details: []Detail{{Code: "fhir_start", Args: []string{"y", "z"}}}}}
	rep := &Report{}
	if err := importer(&memStore{}).Visits(context.Background(), visits, []int{2, 5, 6}, problems, rep); err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, p := range rep.Problems {
		idx = append(idx, p.Index)
	}
	if fmt.Sprint(idx) != "[1 4 5]" || rep.Total != 5 || rep.Imported != 2 || rep.Failed != 3 || rep.Problems[2].Details[0].Code != "before_birth" {
		t.Fatalf("%v %+v", idx, rep)
	}
}
