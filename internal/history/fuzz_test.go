package history

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// fuzzStore keeps what an import writes, in memory: visits by external
// id, and MRN links (never changed once made).
type fuzzStore struct {
	Store
	seen   map[string]bool
	visits []Visit
	links  map[string]string
}

func (s *fuzzStore) InsertVisits(_ context.Context, vs []Visit) (int, error) {
	n := 0
	for _, v := range vs {
		if !s.seen[v.ExternalID] {
			s.seen[v.ExternalID] = true
			s.visits = append(s.visits, v)
			n++
		}
	}
	return n, nil
}

func (s *fuzzStore) LinkMRNs(_ context.Context, ls []Link) ([]LinkResult, error) {
	out := make([]LinkResult, len(ls))
	for i, l := range ls {
		switch cur, ok := s.links[l.MRN]; {
		case ok && cur == l.ResidentID:
			out[i] = AlreadyLinked
		case ok:
			out[i] = LinkConflict
		default:
			s.links[l.MRN] = l.ResidentID
			out[i] = Linked
		}
	}
	return out, nil
}

func newFuzzStore() *fuzzStore {
	return &fuzzStore{seen: map[string]bool{}, links: map[string]string{}}
}

// storable says whether a text can be kept by both stores: valid UTF-8
// without NUL (PostgreSQL refuses both, and one bad row must not fail the
// batch it is in).
func storable(v Visit) bool {
	for _, s := range []string{v.Institution, v.Department, v.ResidentID, v.Date, v.DiagnosisCode, v.DiagnosisName, v.Source,
		v.ExternalID, v.MRN, v.PatientName, v.BirthDate, v.Sex} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return false
		}
	}
	return true
}

// csvRow writes a visit as a row of the header it was read with.
func csvRow(v Visit, mrn bool) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	rec := []string{v.ResidentID, v.Department, v.Date, v.DiagnosisCode, v.DiagnosisName, strconv.FormatBool(v.Definite)}
	if mrn {
		rec = append(rec, v.MRN, v.PatientName, v.BirthDate)
	}
	w.Write(rec)
	w.Flush()
	return b.String()
}

// checkReport holds for every report: counts add up, problems and notes
// are listed in row order with a line of the file, and every text they
// show is in the catalogue.
func checkReport(t *testing.T, rep *Report, rows, lines int) {
	t.Helper()
	if rep.Total > rows || rep.Processed != rep.Total || rep.Imported+rep.Duplicates+rep.Failed != rep.Processed {
		t.Fatalf("counts %+v for at most %d rows", rep, rows)
	}
	if len(rep.Problems)+rep.ProblemsOmitted != rep.Failed {
		t.Fatalf("%d problems listed, %d omitted, %d failed", len(rep.Problems), rep.ProblemsOmitted, rep.Failed)
	}
	for _, ps := range [][]Problem{rep.Problems, rep.Notes} {
		for i, p := range ps {
			if p.Index < 1 || p.Index > rep.Total || (i > 0 && p.Index < ps[i-1].Index) {
				t.Fatalf("problem %d at row %d of %d, after %+v", i, p.Index, rep.Total, ps[max(i-1, 0)])
			}
			if lines > 0 && (p.Line < 2 || p.Line > lines) {
				t.Fatalf("problem %+v on line %d of a file of %d lines", p, p.Line, lines)
			}
			if len(p.Details) == 0 {
				t.Fatalf("problem without details %+v", p)
			}
			for _, d := range p.Details {
				if !i18n.Has("import." + d.Code) {
					t.Fatalf("detail code %q has no text", d.Code)
				}
			}
			for _, lang := range []i18n.Lang{i18n.ZH, i18n.EN} {
				p.Localize(lang)
				if strings.Contains(p.Reason, "%!") || p.Reason == "" {
					t.Fatalf("%s: %q", lang, p.Reason)
				}
			}
		}
	}
}

// checkVisit holds for every visit written: the checks of an import.
func checkVisit(t *testing.T, v Visit, deps map[string]bool, today string) {
	t.Helper()
	if !storable(v) {
		t.Fatalf("a visit that a store cannot keep was written: %+v", v)
	}
	if v.ResidentID != "" {
		if _, err := identity.ParseResidentID(v.ResidentID, testclock.Start()); err != nil {
			t.Fatalf("written with resident ID %q: %v", v.ResidentID, err)
		}
	} else if !ValidMRN(v.MRN) {
		t.Fatalf("written with neither a resident ID nor an MRN: %+v", v)
	}
	if _, err := time.Parse(dates.Layout, v.Date); err != nil || v.Date > today || !deps[v.Department] {
		t.Fatalf("written: %+v", v)
	}
}

// FuzzCSVImport: whatever a history CSV holds, its import reports at most
// one row per line after the header, each problem on a line of the file
// and in row order, counts that add up and texts of the catalogue (in both
// languages); or refuses the file with a stable code. Every visit written
// passes the import's checks and can be kept by both stores; written again
// as a CSV row, it is read back as the same visit.
func FuzzCSVImport(f *testing.F) {
	now := testclock.Start()
	adult := identity.MakeResidentID("110108", time.Date(1980, 5, 6, 0, 0, 0, 0, time.UTC), 1, identity.Female)
	child := identity.MakeResidentID("110108", now.AddDate(-6, 0, 0), 2, identity.Male)
	day := now.AddDate(0, 0, -30).In(dates.Beijing).Format(dates.Layout)
	mrnHead := strings.Join(CSVHeaderMRN, ",") + "\n"
	for _, s := range []string{
		head + adult + ",derm," + day + ",L20.9,特应性皮炎,true\n",
		head + child + ",growth," + day + ",e34.3,,1\n" + strings.ToLower(child) + ", growth ," + day + ",,,no\n",
		"\ufeff" + strings.ReplaceAll(head, "\n", "\r\n") + adult + ",derm," + day + ",L20.9,x,是\r\n",
		head + adult + ",derm," + day + ",L20.9,\"特应性皮炎\n（复诊）\",true\n\n" + adult + ",derm," + day + ",L20.9,x\"y,true\n",
		head + adult + ",derm," + day + ",NOPE,\"a\nb\nc\",true\n" + adult + ",derm,2999-01-01,L20.9,x,true\n",
		head + adult + ",derm,2026-1-4,L20.9,x,maybe\n,derm," + day + ",,,\n" + adult + ",derm\n",
		head + adult + ",derm," + day + ",L20.9,\"unterminated\n",
		head + adult + ",derm," + day + ",L20.9,a\x00b,true\n" + adult + ",derm," + day + ",L20.9,\xff\xfe,true\n",
		mrnHead + ",derm," + day + ",L20.9,x,true,MRN-0001,李小雨,2020-03-04\n" + adult + ",derm," + day + ",,,false,mrn-0001,,\n",
		mrnHead + ",derm," + day + ",,,true,,,\n" + ",derm,1999-01-01,,,true,m/1,name,2000-02-30\n" + ",derm," + day + ",,,true,M\x00,\x00,\n",
		"", "\n", "resident_id\n", "name,date\nx,y\n", "\"", head + "\"",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(head+",,"+day+",,,\n"+adult+",,"+day+",,,\n"), true)
	deps := map[string]bool{"derm": true, "growth": true}
	today := now.In(dates.Beijing).Format(dates.Layout)
	f.Fuzz(func(t *testing.T, data []byte, withDefault bool) {
		st := newFuzzStore()
		im := &Importer{Store: st, Institution: "h1", Departments: deps, Now: now, Batch: 3, MaxProblems: 5}
		if withDefault {
			im.Department = "derm"
		}
		rep := &Report{}
		err := im.CSV(context.Background(), bytes.NewReader(data), rep)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || (fe.Code != "no_header" && fe.Code != "header" && fe.Code != "row_too_long") {
				t.Fatalf("%v: want a file error of a stable code", err)
			}
			if strings.Contains(fe.Text(i18n.ZH), "%!") || strings.Contains(fe.Text(i18n.EN), "%!") {
				t.Fatalf("%q", fe.Text(i18n.EN))
			}
			return
		}
		lines := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		checkReport(t, rep, lines-1, lines)
		if rep.Imported != len(st.visits) {
			t.Fatalf("%d imported, %d written", rep.Imported, len(st.visits))
		}
		for _, v := range st.visits {
			checkVisit(t, v, deps, today)
			if v.Source != "csv" || v.Institution != "h1" || !strings.HasPrefix(v.ExternalID, "csv:") {
				t.Fatalf("%+v", v)
			}
			// Written again as a row, the same visit.
			mrn := v.MRN != "" || v.PatientName != "" || v.BirthDate != ""
			h := head
			if mrn {
				h = mrnHead
			}
			again := newFuzzStore()
			im2 := *im
			im2.Store = again
			rep2 := &Report{}
			row := csvRow(v, mrn)
			if err := im2.CSV(context.Background(), strings.NewReader(h+row), rep2); err != nil || rep2.Imported != 1 {
				t.Fatalf("row %q of %+v: %v %+v", row, v, err, rep2)
			}
			w := again.visits[0]
			w.ExternalID, v.ExternalID = "", "" // of the code as the file writes it
			if w != v {
				t.Fatalf("row %q read back as\n%+v, written\n%+v", row, w, v)
			}
		}
	})
}
