package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// Many patients' last definite visits in one statement (the booking rush
// asks for them together), each as its own query would find it: the
// latest definite visit in that institution and department on or before
// the day (S-3, S-4).
func TestLastDefiniteVisits(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		for _, code := range []string{"h1", "h2"} {
			if err := db.SaveInstitution(ctx, &directory.Institution{Code: code, Name: "医院" + code, Status: directory.QualApproved}); err != nil {
				t.Fatal(err)
			}
		}
		a, b := rid(1, 30), rid(2, 5)
		visits := []history.Visit{
			{Institution: "h1", Department: "derm", ResidentID: a, Date: "2026-01-10", DiagnosisCode: "L20", Definite: true, ExternalID: "1"},
			{Institution: "h1", Department: "derm", ResidentID: a, Date: "2026-03-01", DiagnosisCode: "L21", Definite: true, ExternalID: "2"},
			{Institution: "h1", Department: "derm", ResidentID: a, Date: "2026-04-01", DiagnosisCode: "L22", Definite: false, ExternalID: "3"},
			{Institution: "h1", Department: "growth", ResidentID: a, Date: "2026-02-01", DiagnosisCode: "E34", Definite: true, ExternalID: "4"},
			{Institution: "h2", Department: "derm", ResidentID: b, Date: "2026-02-20", DiagnosisCode: "L30", Definite: true, ExternalID: "5"},
		}
		if _, err := db.InsertVisits(ctx, visits); err != nil {
			t.Fatal(err)
		}
		qs := []history.Query{
			{ResidentID: a, Institution: "h1", Department: "derm", OnOrBefore: "2026-05-01"},   // the March one: April's is not definite
			{ResidentID: a, Institution: "h1", Department: "derm", OnOrBefore: "2026-02-01"},   // January's: March is after the day
			{ResidentID: a, Institution: "h1", Department: "growth", OnOrBefore: "2026-05-01"}, // another department
			{ResidentID: a, Institution: "h2", Department: "derm", OnOrBefore: "2026-05-01"},   // another institution: none
			{ResidentID: b, Institution: "h2", Department: "derm", OnOrBefore: "2026-05-01"},
			{ResidentID: b, Institution: "h1", Department: "derm", OnOrBefore: "2026-05-01"}, // b only at h2
			{ResidentID: rid(3, 40), Institution: "h1", Department: "derm", OnOrBefore: "2026-05-01"},
		}
		last := func(date, code string) history.Last {
			return history.Last{Found: true, Date: date, DiagnosisCode: code}
		}
		want := []history.Last{last("2026-03-01", "L21"), last("2026-01-10", "L20"), last("2026-02-01", "E34"), {}, last("2026-02-20", "L30"), {}, {}}
		// More than 8 people: the statement's lists are padded.
		for i := 0; i < 13; i++ {
			qs = append(qs, history.Query{ResidentID: rid(10+i, 20), Institution: "h1", Department: "derm", OnOrBefore: "2026-05-01"})
			want = append(want, history.Last{})
		}
		got, err := db.LastDefiniteVisits(ctx, qs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range qs {
			if got[i] != want[i] {
				t.Errorf("%+v: %+v, want %+v", qs[i], got[i], want[i])
			}
			one, err := db.LastDefiniteVisits(ctx, qs[i:i+1])
			if err != nil || one[0] != want[i] {
				t.Errorf("alone %+v: %+v %v, want %+v", qs[i], one, err, want[i])
			}
		}
	})
}

// Visits are written with multi-row statements, many to a transaction:
// the count of new ones is exact across statements and transactions,
// with duplicates inside one call and against stored rows.
func TestInsertVisitsBatched(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		if err := db.SaveInstitution(ctx, &directory.Institution{Code: "h1", Name: "医院", Status: directory.QualApproved}); err != nil {
			t.Fatal(err)
		}
		var vs []history.Visit
		for i := 0; i < 12345; i++ {
			vs = append(vs, history.Visit{Institution: "h1", Department: "derm", ResidentID: rid(i%90, 30), Date: "2026-01-10", DiagnosisCode: "L20.9",
				Definite: i%2 == 0, Source: "csv", ExternalID: fmt.Sprintf("x%d", i)})
		}
		// 100 rows again in the same call, one in the same statement.
		vs = append(vs, vs[12300:12345]...)
		vs = append(vs, vs[:55]...)
		n, err := db.InsertVisits(ctx, vs)
		if err != nil || n != 12345 {
			t.Fatalf("%d %v", n, err)
		}
		if n, err := db.InsertVisits(ctx, vs[:7001]); err != nil || n != 0 {
			t.Fatalf("again: %d %v", n, err)
		}
		var stored int
		db.QueryRowContext(ctx, `SELECT count(*) FROM visit_history WHERE institution = 'h1'`).Scan(&stored)
		if stored != 12345 {
			t.Fatalf("%d stored", stored)
		}
	})
}

// A generated CSV stream imports through the store: every row counted,
// the bad ones reported (the first MaxProblems listed), the good stored.
func TestImportCSVStream(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		if err := db.SaveInstitution(ctx, &directory.Institution{Code: "h1", Name: "医院", Status: directory.QualApproved}); err != nil {
			t.Fatal(err)
		}
		syn := &history.Synthetic{Rows: 25000, Departments: []string{"derm", "growth"}, Now: now(), BadEvery: 20}
		im := &history.Importer{Store: db, Institution: "h1", Departments: map[string]bool{"derm": true, "growth": true}, Now: now()}
		rep := &history.Report{}
		if err := im.CSV(ctx, syn, rep); err != nil {
			t.Fatal(err)
		}
		if rep.Total != 25000 || rep.Imported != 25000-1250 || rep.Failed != 1250 || len(rep.Problems) != 1000 || rep.ProblemsOmitted != 250 {
			t.Fatalf("%d %d %d %d %d", rep.Total, rep.Imported, rep.Failed, len(rep.Problems), rep.ProblemsOmitted)
		}
		var stored int
		db.QueryRowContext(ctx, `SELECT count(*) FROM visit_history WHERE institution = 'h1'`).Scan(&stored)
		if stored != rep.Imported {
			t.Fatalf("%d stored", stored)
		}
		// The report is kept with its first problems and the count of the others.
		id, err := db.CreateImport(ctx, "h1", "csv", 1, now())
		if err != nil {
			t.Fatal(err)
		}
		rep.ID, rep.Status = id, "done"
		if err := db.UpdateImport(ctx, "h1", rep, now()); err != nil {
			t.Fatal(err)
		}
		got, err := db.Import(ctx, "h1", id)
		if err != nil || got.Failed != 1250 || len(got.Problems) != 1000 || got.ProblemsOmitted != 250 || got.Problems[0].Line != 21 || got.Problems[0].Details[0].Code != "icd" {
			t.Fatalf("%v %+v", err, got.Problems[:1])
		}
	})
}

// An import's batches keep SQLite's WAL bounded: the background
// checkpointer alone never catches up with a writer that does not pause.
func TestInsertVisitsBoundsWAL(t *testing.T) {
	ctx := context.Background()
	db := sqltest.Open(t, sqlstore.SQLite)
	defer sqlstore.SetWALBound(1 << 20)()
	if err := db.SaveInstitution(ctx, &directory.Institution{Code: "h1", Name: "医院", Status: directory.QualApproved}); err != nil {
		t.Fatal(err)
	}
	biggest := int64(0)
	for b := 0; b < 12; b++ {
		var vs []history.Visit
		for i := 0; i < 5000; i++ {
			vs = append(vs, history.Visit{Institution: "h1", Department: "derm", ResidentID: rid(i%90, 30), Date: "2026-01-10", DiagnosisCode: "L20.9",
				Source: "csv", ExternalID: fmt.Sprintf("x%d-%d", b, i)})
		}
		if _, err := db.InsertVisits(ctx, vs); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(db.Path() + "-wal"); err == nil {
			biggest = max(biggest, fi.Size())
		}
	}
	// A batch writes a few MB of pages; without the bound the WAL holds
	// all twelve.
	if biggest > 8<<20 {
		t.Fatalf("the WAL reached %d MB", biggest>>20)
	}
}

// Visits kept under an institution's MRN (S-3, issue 16) count for a
// person only once the MRN is linked to their resident ID, in the same
// statement as the visits under the resident ID; a link is made once
// (linked, already, another person's, another birth date) and made before
// the history is imported counts as well; the MRN's record keeps the
// patient's name, birth date and sex as the last file gave them.
func TestMRNHistoryLinks(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		for _, code := range []string{"h1", "h2"} {
			if err := db.SaveInstitution(ctx, &directory.Institution{Code: code, Name: "医院" + code, Status: directory.QualApproved}); err != nil {
				t.Fatal(err)
			}
		}
		a, b := rid(1, 30), rid(2, 40)
		aBirth := now().AddDate(-30, 0, -20).Format("2006-01-02")
		visits := []history.Visit{
			{Institution: "h1", Department: "derm", MRN: "MR-1", PatientName: "张三", BirthDate: aBirth, Sex: "male", Date: "2026-01-10", DiagnosisCode: "L20", Definite: true, ExternalID: "m1"},
			{Institution: "h1", Department: "derm", MRN: "MR-1", Date: "2026-03-01", DiagnosisCode: "L21", Definite: true, ExternalID: "m2"},
			{Institution: "h1", Department: "derm", MRN: "MR-1", Date: "2026-04-01", DiagnosisCode: "L22", Definite: false, ExternalID: "m3"},
			{Institution: "h1", Department: "derm", ResidentID: a, Date: "2026-02-01", DiagnosisCode: "L30", Definite: true, ExternalID: "r1"},
			{Institution: "h2", Department: "derm", MRN: "MR-1", PatientName: "张三", Date: "2026-05-01", DiagnosisCode: "L40", Definite: true, ExternalID: "o1"},
		}
		if n, err := db.InsertVisits(ctx, visits); err != nil || n != 5 {
			t.Fatalf("%d %v", n, err)
		}
		qs := []history.Query{
			{ResidentID: a, Institution: "h1", Department: "derm", OnOrBefore: "2026-06-01"},
			{ResidentID: a, Institution: "h2", Department: "derm", OnOrBefore: "2026-06-01"},
			{ResidentID: b, Institution: "h1", Department: "derm", OnOrBefore: "2026-06-01"},
		}
		last := func(date, code string) history.Last {
			return history.Last{Found: true, Date: date, DiagnosisCode: code}
		}
		check := func(want ...history.Last) {
			t.Helper()
			got, err := db.LastDefiniteVisits(ctx, qs)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%+v: %+v, want %+v", qs[i], got[i], want[i])
				}
			}
		}
		// Unlinked: only a's own visit counts.
		check(last("2026-02-01", "L30"), history.Last{}, history.Last{})
		rec, err := db.MRN(ctx, "h1", "MR-1")
		if err != nil || rec.Name != "张三" || rec.BirthDate != aBirth || rec.Sex != "male" || rec.ResidentID != "" {
			t.Fatalf("%+v %v", rec, err)
		}
		at := now().UTC().Truncate(time.Microsecond)
		link := func(inst, mrn, r, birth string) history.LinkResult {
			t.Helper()
			res, err := db.LinkMRNs(ctx, []history.Link{{Institution: inst, MRN: mrn, ResidentID: r, BirthDate: birth, By: history.LinkCard, Account: 9, At: at}})
			if err != nil {
				t.Fatal(err)
			}
			return res[0]
		}
		if got := link("h1", "MR-1", b, "1900-01-01"); got != history.LinkBirth {
			t.Fatalf("another birth date: %s", got)
		}
		if got := link("h1", "MR-1", a, aBirth); got != history.Linked {
			t.Fatalf("%s", got)
		}
		// Linked: the MRN's latest definite visit at h1 (not h2's MRN-1, another institution's record).
		check(last("2026-03-01", "L21"), history.Last{}, history.Last{})
		if got := link("h1", "MR-1", a, aBirth); got != history.AlreadyLinked {
			t.Fatalf("%s", got)
		}
		if got := link("h1", "MR-1", b, aBirth); got != history.LinkConflict {
			t.Fatalf("%s", got)
		}
		rec, _ = db.MRN(ctx, "h1", "MR-1")
		if rec.ResidentID != a || rec.LinkedBy != history.LinkCard || rec.LinkedAccount != 9 || !rec.LinkedAt.Equal(at) {
			t.Fatalf("%+v", rec)
		}
		// A link made before the history: the visits imported later count.
		if got := link("h2", "MR-7", b, ""); got != history.Linked {
			t.Fatalf("%s", got)
		}
		if _, err := db.InsertVisits(ctx, []history.Visit{{Institution: "h2", Department: "derm", MRN: "MR-7", PatientName: "李四", Date: "2026-05-02",
			Definite: true, ExternalID: "o2"}}); err != nil {
			t.Fatal(err)
		}
		qs = append(qs, history.Query{ResidentID: b, Institution: "h2", Department: "derm", OnOrBefore: "2026-06-01"})
		check(last("2026-03-01", "L21"), history.Last{}, history.Last{}, last("2026-05-02", ""))
		if rec, _ := db.MRN(ctx, "h2", "MR-7"); rec.Name != "李四" || rec.ResidentID != b {
			t.Fatalf("the record filled, the link kept: %+v", rec)
		}
		// A person's visits: their own and their linked MRNs'.
		vs, err := db.Visits(ctx, a)
		if err != nil || len(vs) != 4 || vs[0].ExternalID != "m3" || vs[0].ResidentID != a || vs[0].MRN != "MR-1" {
			t.Fatalf("%+v %v", vs, err)
		}
		ms, err := db.MRNsLinkedTo(ctx, []string{a, b})
		if err != nil || len(ms) != 2 || ms[0].Institution != "h1" || ms[0].ResidentID != a || ms[1].MRN != "MR-7" {
			t.Fatalf("%+v %v", ms, err)
		}
		if _, err := db.MRN(ctx, "h1", "MR-404"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("%v", err)
		}
	})
}

// An institution's MRNs listed linked or not, a page at a time with their
// visits, and an admin's correction (issue 16): unlinked, the MRN's
// visits stop counting for the patient at once (S-3); linked to another
// resident ID they count for that one; a resident ID whose birth date the
// record contradicts is refused on its field, an unknown MRN is
// not_found.
func TestMRNListAndRelink(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		for _, code := range []string{"h1", "h2"} {
			if err := db.SaveInstitution(ctx, &directory.Institution{Code: code, Name: "医院" + code, Status: directory.QualApproved}); err != nil {
				t.Fatal(err)
			}
		}
		a, b := rid(1, 30), rid(2, 30)
		birth := now().AddDate(-30, 0, -20).Format("2006-01-02")
		var visits []history.Visit
		for i, mrn := range []string{"MR-1", "MR-2", "MR-2", "MR-3", "MR-3", "MR-3"} {
			visits = append(visits, history.Visit{Institution: "h1", Department: "derm", MRN: mrn, PatientName: "病人" + mrn, BirthDate: birth,
				Date: fmt.Sprintf("2026-01-%02d", 10+i), DiagnosisCode: "L20", Definite: true, ExternalID: fmt.Sprintf("v%d", i)})
		}
		visits = append(visits, history.Visit{Institution: "h2", Department: "derm", MRN: "MR-9", Date: "2026-01-01", Definite: true, ExternalID: "o"})
		if _, err := db.InsertVisits(ctx, visits); err != nil {
			t.Fatal(err)
		}
		at := now().UTC().Truncate(time.Microsecond)
		if _, err := db.LinkMRNs(ctx, []history.Link{{Institution: "h1", MRN: "MR-1", ResidentID: a, BirthDate: birth, By: history.LinkFile, At: at}}); err != nil {
			t.Fatal(err)
		}
		list := func(linked bool, limit, offset int) ([]history.MRNSummary, int) {
			t.Helper()
			ms, n, err := db.MRNs(ctx, history.MRNQuery{Institution: "h1", Linked: linked, Limit: limit, Offset: offset})
			if err != nil {
				t.Fatal(err)
			}
			return ms, n
		}
		ms, n := list(false, 1, 1)
		if n != 2 || len(ms) != 1 || ms[0].MRN.MRN != "MR-3" || ms[0].Visits != 3 || ms[0].LastVisit != "2026-01-15" || ms[0].Name != "病人MR-3" {
			t.Fatalf("%d %+v", n, ms)
		}
		if ms, n = list(true, 10, 0); n != 1 || ms[0].MRN.MRN != "MR-1" || ms[0].ResidentID != a || ms[0].Visits != 1 {
			t.Fatalf("%d %+v", n, ms)
		}
		q := []history.Query{{ResidentID: a, Institution: "h1", Department: "derm", OnOrBefore: "2026-06-01"},
			{ResidentID: b, Institution: "h1", Department: "derm", OnOrBefore: "2026-06-01"}}
		found := func() [2]bool {
			got, err := db.LastDefiniteVisits(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			return [2]bool{got[0].Found, got[1].Found}
		}
		if f := found(); f != [2]bool{true, false} {
			t.Fatalf("linked to a: %v", f)
		}
		relink := func(mrn, to, toBirth string) (string, error) {
			return db.RelinkMRN(ctx, history.Relink{Institution: "h1", MRN: mrn, ResidentID: to, BirthDate: toBirth, Account: 7, At: at})
		}
		if _, err := relink("MR-1", b, "1999-01-01"); errs.Code(err) != errs.Invalid || !strings.Contains(err.Error(), "resident_id=birth_mismatch") {
			t.Fatalf("another birth date: %v", err)
		}
		if _, err := relink("MR-404", "", ""); !errs.Is(err, errs.NotFound) {
			t.Fatalf("%v", err)
		}
		if prev, err := relink("MR-1", "", ""); err != nil || prev != a {
			t.Fatalf("%q %v", prev, err)
		}
		if f := found(); f != [2]bool{false, false} {
			t.Fatalf("unlinked: %v", f)
		}
		if rec, _ := db.MRN(ctx, "h1", "MR-1"); rec.ResidentID != "" || rec.LinkedBy != "" || rec.LinkedAccount != 7 {
			t.Fatalf("%+v", rec)
		}
		if prev, err := relink("MR-1", b, birth); err != nil || prev != "" {
			t.Fatalf("%q %v", prev, err)
		}
		if f := found(); f != [2]bool{false, true} {
			t.Fatalf("corrected to b: %v", f)
		}
		if rec, _ := db.MRN(ctx, "h1", "MR-1"); rec.ResidentID != b || rec.LinkedBy != history.LinkAdmin {
			t.Fatalf("%+v", rec)
		}
		if _, n := list(false, 10, 0); n != 2 {
			t.Fatalf("unlinked: %d", n)
		}
	})
}
