package sqlstore_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/oversight"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// Complaints and adverse events on both engines (V-4, N-21, N-22): the
// deadline data of the migration, a step stored only from the state it
// leaves (two handlers at once: one wins), notices and audit committed
// with the change, and each overdue step alerted once.
func TestOversightCasesStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		at := now().UTC().Truncate(time.Microsecond)
		if err := db.SaveInstitution(ctx, &directory.Institution{Code: "h1", Name: "医院", Status: directory.QualApproved}); err != nil {
			t.Fatal(err)
		}
		acct := &identity.Account{Username: "pt", PasswordHash: "x", Role: identity.RolePatient, CreatedAt: at}
		if err := db.CreateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		cats, err := db.OversightCategories(ctx)
		if err != nil || !cats.Has(oversight.ListComplaint, "fees") || !cats.Has(oversight.ListAdverseEvent, "medication_error") ||
			!cats.Has(oversight.ListSeverity, "serious") {
			t.Fatalf("categories %v %v", cats, err)
		}
		rows, err := db.OversightDeadlines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := &oversight.Case{Kind: oversight.KindAdverseEvent, Institution: "h1", ReporterID: acct.ID, ReporterRole: "doctor",
			Category: "medication_error", Severity: "serious", Text: "剂量错误", State: oversight.Reported, ReportedAt: at}
		c.Schedule(rows)
		if got := c.Due[oversight.Triaged].Sub(at); got != 24*time.Hour {
			t.Fatalf("a serious event is triaged within %s", got)
		}
		note := []notify.Notification{{AccountID: acct.ID, Kind: "adverse_event", Title: "t", CreatedAt: at}}
		entry := &audit.Entry{At: at, ActorID: acct.ID, Action: "adverse_event.report", ObjectType: "adverse_event", Institution: "h1"}
		if err := db.CreateCase(ctx, c, note, entry); err != nil {
			t.Fatal(err)
		}
		if inbox, _ := db.Inbox(ctx, acct.ID, 10); len(inbox) != 1 || inbox[0].Ref != "adverse_event/"+itoa(c.ID) {
			t.Fatalf("inbox %+v", inbox)
		}
		bad := *c
		bad.Institution = "nowhere"
		if err := db.CreateCase(ctx, &bad, nil, nil); errs.Code(err) != errs.Invalid {
			t.Fatalf("an unknown institution: %v", err)
		}

		// Not overdue yet; 25 hours later it is, and is alerted once.
		if list, _ := db.Cases(ctx, oversight.Filter{OverdueAt: at.Add(time.Hour)}); len(list) != 0 {
			t.Fatalf("overdue after an hour: %d", len(list))
		}
		late := at.Add(25 * time.Hour)
		if list, _ := db.Cases(ctx, oversight.Filter{Kind: oversight.KindAdverseEvent, Institution: "h1", OverdueAt: late}); len(list) != 1 {
			t.Fatalf("overdue list %d", len(list))
		}
		var alerted [2][]oversight.Case
		var wg sync.WaitGroup
		for i := range alerted {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if alerted[i], err = db.OverdueCases(ctx, late); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if len(alerted[0])+len(alerted[1]) != 1 {
			t.Fatalf("alerted %d and %d times", len(alerted[0]), len(alerted[1]))
		}

		// Two handlers triage at once: one step is stored.
		var errsSeen [2]error
		var copies [2]*oversight.Case
		for i := range copies {
			copies[i], _ = db.Case(ctx, c.ID)
			if err := copies[i].Apply(oversight.Step{To: oversight.Triaged, Note: "n" + itoa(int64(i))}, late, acct.ID); err != nil {
				t.Fatal(err)
			}
		}
		for i := range errsSeen {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errsSeen[i] = db.StepCase(ctx, copies[i], oversight.Reported, nil, nil)
			}()
		}
		wg.Wait()
		if (errsSeen[0] == nil) == (errsSeen[1] == nil) || (errs.Code(errsSeen[0]) != oversight.CodeIllegalStep && errs.Code(errsSeen[1]) != oversight.CodeIllegalStep) {
			t.Fatalf("two triages: %v, %v", errsSeen[0], errsSeen[1])
		}
		got, err := db.Case(ctx, c.ID)
		if err != nil || got.State != oversight.Triaged || !got.TriagedAt.Equal(late) || len(got.Late()) != 1 {
			t.Fatalf("%+v %v", got, err)
		}
		// The next step has its own deadline, alerted once more when passed.
		if list, _ := db.OverdueCases(ctx, got.Due[oversight.Investigating].Add(time.Minute)); len(list) != 1 || list[0].State != oversight.Triaged {
			t.Fatalf("investigation overdue: %+v", list)
		}
		if list, _ := db.OverdueCases(ctx, got.Due[oversight.Investigating].Add(time.Hour)); len(list) != 0 {
			t.Fatalf("alerted again: %+v", list)
		}
		// A patient's own list and the audit entry.
		if list, _ := db.Cases(ctx, oversight.Filter{Account: acct.ID}); len(list) != 1 {
			t.Fatalf("own list %d", len(list))
		}
		if list, _ := db.Cases(ctx, oversight.Filter{Account: acct.ID + 1000, ByPatient: true}); len(list) != 0 {
			t.Fatalf("another's list %d", len(list))
		}
		if es, _ := db.QueryAudit(ctx, audit.Filter{Institution: "h1"}); len(es) != 1 || es[0].ObjectID != itoa(c.ID) {
			t.Fatalf("audit %+v", es)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Ratings once a visit; rectification orders with their events and files.
func TestRatingsAndRectificationsStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		at := now().UTC().Truncate(time.Microsecond)
		if err := db.SaveInstitution(ctx, &directory.Institution{Code: "h1", Name: "医院", Status: directory.QualApproved}); err != nil {
			t.Fatal(err)
		}
		for i, s := range []int{5, 4, 4, 1} {
			if err := db.AddRating(ctx, &oversight.Rating{VisitID: int64(100 + i), Institution: "h1", PatientID: 1, AccountID: 1, Score: s, CreatedAt: at}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.AddRating(ctx, &oversight.Rating{VisitID: 100, Institution: "h1", PatientID: 1, AccountID: 1, Score: 2, CreatedAt: at}, nil); errs.Code(err) != oversight.CodeAlreadyRated {
			t.Fatalf("a second rating: %v", err)
		}
		sum, err := db.RatingSummaries(ctx, "")
		if err != nil || len(sum) != 1 || sum[0].Count != 4 || sum[0].Average != 3.5 || sum[0].ByScore != [5]int{1, 0, 0, 2, 1} {
			t.Fatalf("%+v %v", sum, err)
		}

		r, err := oversight.NewRectification(oversight.Order{Institution: "h1", Findings: "处方审核记录不全", Deadline: at.AddDate(0, 0, 7).Format("2006-01-02")}, at, 9)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateRectification(ctx, r, nil, nil); err != nil {
			t.Fatal(err)
		}
		f := &oversight.File{RectificationID: r.ID, Name: "a.pdf", ContentType: "application/pdf", Size: 3, SHA256: "x", BlobKey: "k", UploadedBy: 2, CreatedAt: at}
		if err := db.AddRectificationFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		ev, err := r.Respond("补全记录", at, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.StepRectification(ctx, r, oversight.RectIssued, ev, []int64{f.ID + 99}, nil, nil); errs.Code(err) != errs.Invalid {
			t.Fatalf("another order's file: %v", err)
		}
		if err := db.StepRectification(ctx, r, oversight.RectIssued, ev, []int64{f.ID}, nil, nil); err != nil {
			t.Fatal(err)
		}
		got, err := db.Rectification(ctx, r.ID)
		if err != nil || got.State != oversight.RectResponded || len(got.Events) != 2 || len(got.Events[1].Files) != 1 || got.Events[1].Files[0].Name != "a.pdf" {
			t.Fatalf("%+v %v", got, err)
		}
		// Reopened with the old deadline: overdue once it passes, alerted once a round.
		ev, _ = got.Verify(false, "不充分", "", at, 9)
		if err := db.StepRectification(ctx, got, oversight.RectResponded, ev, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		after := got.Deadline.Add(time.Minute)
		if list, _ := db.Rectifications(ctx, oversight.RectFilter{OverdueAt: after}); len(list) != 1 {
			t.Fatalf("overdue orders %d", len(list))
		}
		if list, _ := db.OverdueRectifications(ctx, after); len(list) != 1 {
			t.Fatalf("alerts %d", len(list))
		}
		if list, _ := db.OverdueRectifications(ctx, after); len(list) != 0 {
			t.Fatalf("alerted twice: %d", len(list))
		}
		admin := &identity.Account{Username: "h1-admin", PasswordHash: "x", Role: identity.RoleInstitutionAdmin, Institution: "h1", CreatedAt: at}
		if err := db.CreateAccount(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if ids, err := db.StaffAccounts(ctx, "h1", "institution_admin", "quality"); err != nil || len(ids) != 1 || ids[0] != admin.ID {
			t.Fatalf("staff %v %v", ids, err)
		}
	})
}
