package sqlstore_test

import (
	"context"
	"testing"

	"github.com/yunyi-health/yunyi/internal/directory"
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
