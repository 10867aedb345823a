package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/qualification"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// qualInstitution stores a pending institution with a department, a
// specialty, a follow-up service, a doctor, an admin account and a future
// slot.
func qualInstitution(t *testing.T, db *sqlstore.DB) (doctor, admin int64) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.SaveInstitution(ctx, &directory.Institution{Code: "h1", Name: "测试医院", Status: directory.QualPending}))
	must(db.SaveDepartment(ctx, &directory.Department{Institution: "h1", Code: "derm", Name: "皮肤科", Online: true}))
	must(db.SaveSpecialty(ctx, &directory.Specialty{Institution: "h1", Department: "derm", Code: "skin", Name: "皮肤疾病"}))
	must(db.SaveService(ctx, &directory.Service{Institution: "h1", Department: "derm", Code: "h1-derm-fu", Name: "复诊", Kind: directory.FollowUp,
		Days: directory.Weekdays{1, 2, 3, 4, 5, 6, 7}, Active: true}))
	p := &directory.Practitioner{Institution: "h1", Department: "derm", Name: "王医生", Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "Q-1"}
	must(db.SavePractitioner(ctx, p))
	a := &identity.Account{Username: "h1-admin", PasswordHash: "h", Role: identity.RoleInstitutionAdmin, Institution: "h1", CreatedAt: now()}
	must(db.CreateAccount(ctx, a))
	start := now().Add(48 * time.Hour)
	_, err := db.InsertSlots(ctx, []schedule.Slot{{Service: "h1-derm-fu", Institution: "h1", Department: "derm", PractitionerID: p.ID,
		Kind: directory.FollowUp, Day: qualification.Day(start), Start: start, Capacity: 5, Status: schedule.SlotOpen}})
	must(err)
	return p.ID, a.ID
}

func slotStatuses(t *testing.T, db *sqlstore.DB) map[string]int {
	t.Helper()
	rows, err := db.Writer().Query(`SELECT status, COUNT(*) FROM slots WHERE institution = 'h1' GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		rows.Scan(&s, &n)
		out[s] = n
	}
	return out
}

// Applications are decided once; an approval opens the institution for
// its term; a pending application is one at a time; documents stay within
// their limits.
func TestQualificationApplicationStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		db.SetClock(now)
		doctor, admin := qualInstitution(t, db)
		a := &qualification.Application{Institution: "h1", Kind: qualification.KindQualification, Departments: []string{"derm"},
			Services: []string{"h1-derm-fu"}, Practitioners: []int64{doctor}, SubmittedBy: admin, SubmittedAt: now(),
			Documents: []qualification.Document{{Name: "许可证.pdf", ContentType: "application/pdf", Size: 100, SHA256: "x", BlobKey: "q/1", UploadedBy: admin, CreatedAt: now()}}}
		entry := &audit.Entry{At: now(), ActorID: admin, ActorRole: "institution_admin", Action: "qualification.apply", ObjectType: "application", Institution: "h1"}
		if err := db.CreateApplication(ctx, a, entry); err != nil {
			t.Fatal(err)
		}
		if entry.ObjectID == "" || entry.Seq == 0 {
			t.Fatalf("audited as %+v", entry)
		}
		again := *a
		again.Documents = nil
		if err := db.CreateApplication(ctx, &again, nil); errs.Code(err) != sqlstore.CodeApplicationPending {
			t.Fatalf("a second pending application: %v", err)
		}
		got, err := db.Application(ctx, a.ID)
		if err != nil || got.Status != qualification.Pending || len(got.Documents) != 1 || got.Practitioners[0] != doctor {
			t.Fatalf("%+v %v", got, err)
		}
		for i := 1; i < qualification.MaxDocuments; i++ {
			if err := db.AddDocument(ctx, &qualification.Document{ApplicationID: a.ID, Name: "p.pdf", ContentType: "application/pdf", Size: 1, BlobKey: "k", CreatedAt: now()}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.AddDocument(ctx, &qualification.Document{ApplicationID: a.ID, Name: "p.pdf", Size: 1, CreatedAt: now()}, nil); errs.Code(err) != sqlstore.CodeDocumentCount {
			t.Fatalf("over the count: %v", err)
		}
		day := qualification.Day(now())
		until := qualification.Day(now().AddDate(1, 0, -1))
		d := qualification.Decision{ApplicationID: a.ID, Approve: true, Reasons: "合格", By: 9, At: now(), From: day, Until: until}
		decided, told, err := db.Decide(ctx, d, nil, nil)
		if err != nil || decided.Status != qualification.Approved || decided.ValidUntil != until || len(told) != 0 {
			t.Fatalf("decide: %+v %v", decided, err)
		}
		inst, _ := db.Institution(ctx, "h1")
		if inst.Status != directory.QualApproved || inst.ApprovedOn != day || inst.ValidUntil != until {
			t.Fatalf("institution %+v", inst)
		}
		d.Approve = false
		if _, _, err := db.Decide(ctx, d, nil, nil); errs.Code(err) != sqlstore.CodeApplicationDecided {
			t.Fatalf("decided twice: %v", err)
		}
		if _, _, err := db.Decide(ctx, qualification.Decision{ApplicationID: 9999, At: now()}, nil, nil); !errs.Is(err, errs.NotFound) {
			t.Fatalf("unknown application: %v", err)
		}
		// An edit of the description leaves the qualification alone.
		inst.Status, inst.ValidUntil, inst.Name = directory.QualPending, "", "测试医院（新名）"
		if err := db.SaveInstitution(ctx, inst); err != nil {
			t.Fatal(err)
		}
		if again, _ := db.Institution(ctx, "h1"); again.Status != directory.QualApproved || again.ValidUntil != until || again.Name != "测试医院（新名）" {
			t.Fatalf("the edit changed the qualification: %+v", again)
		}
		if list, err := db.Applications(ctx, qualification.Filter{Status: qualification.Approved}); err != nil || len(list) != 1 {
			t.Fatalf("list %v %v", list, err)
		}
	})
}

// Suspension closes the future slots and tells their families, once (the
// overdue compare-and-set); lifting it opens them; the reminder of an end
// is sent once by however many callers.
func TestQualificationSuspensionAndReminderStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		db.SetClock(now)
		doctor, admin := qualInstitution(t, db)
		a := &qualification.Application{Institution: "h1", Kind: qualification.KindQualification, Departments: []string{"derm"},
			Services: []string{"h1-derm-fu"}, Practitioners: []int64{doctor}, SubmittedBy: admin, SubmittedAt: now()}
		if err := db.CreateApplication(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		until := qualification.Day(now().AddDate(0, 0, 20))
		if _, _, err := db.Decide(ctx, qualification.Decision{ApplicationID: a.ID, Approve: true, At: now(), From: qualification.Day(now()), Until: until}, nil, nil); err != nil {
			t.Fatal(err)
		}
		// Reminded once, whoever asks at the same time.
		var wg sync.WaitGroup
		var mu sync.Mutex
		reminded := 0
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := db.RemindRevalidations(ctx, qualification.RemindUntil(qualification.Day(now())), now(),
					func(inst directory.Institution, admins []int64) ([]notify.Notification, *audit.Entry) {
						var ns []notify.Notification
						for _, id := range admins {
							ns = append(ns, notify.Notification{AccountID: id, Kind: "revalidation_due", Title: "t", Body: inst.ValidUntil})
						}
						return ns, &audit.Entry{At: now(), ActorRole: "system", Action: "qualification.remind", ObjectType: "institution", ObjectID: inst.Code}
					})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				reminded += len(got)
				mu.Unlock()
			}()
		}
		wg.Wait()
		inbox, _ := db.Inbox(ctx, admin, 10)
		if reminded != 1 || len(inbox) != 1 || inbox[0].Body != until {
			t.Fatalf("reminded %d, inbox %+v", reminded, inbox)
		}
		// Not overdue on its last day; overdue the day after, once.
		s := qualification.Suspension{Institution: "h1", Reason: "逾期未校验", At: now(), OverdueOn: until}
		if _, done, err := db.Suspend(ctx, s); err != nil || done {
			t.Fatalf("suspended on its last valid day: %v %v", done, err)
		}
		s.OverdueOn = qualification.DueOn(until)
		if _, done, err := db.Suspend(ctx, s); err != nil || !done {
			t.Fatalf("not suspended when overdue: %v %v", done, err)
		}
		if _, done, _ := db.Suspend(ctx, s); done {
			t.Fatal("suspended twice")
		}
		if st := slotStatuses(t, db); st["suspended"] != 1 || st["open"] != 0 {
			t.Fatalf("slots %v", st)
		}
		inst, _ := db.Institution(ctx, "h1")
		if inst.Status != directory.QualSuspended || inst.StatusNote != "逾期未校验" {
			t.Fatalf("%+v", inst)
		}
		// Lifted only while valid.
		if _, done, _ := db.Reinstate(ctx, qualification.Reinstatement{Institution: "h1", Today: qualification.DueOn(until), At: now()}); done {
			t.Fatal("a lapsed approval lifted")
		}
		if _, done, err := db.Reinstate(ctx, qualification.Reinstatement{Institution: "h1", Today: until, At: now()}); err != nil || !done {
			t.Fatalf("lift: %v %v", done, err)
		}
		if st := slotStatuses(t, db); st["open"] != 1 {
			t.Fatalf("slots %v", st)
		}
		if overdue, _ := db.Overdue(ctx, qualification.DueOn(until)); len(overdue) != 1 || overdue[0] != "h1" {
			t.Fatalf("overdue %v", overdue)
		}
	})
}

// G-2: designations are rows with dates; the flags are derived from them
// for the day the store reads.
func TestPilotDesignationStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		db.SetClock(now)
		qualInstitution(t, db)
		if err := db.SavePilot(ctx, &directory.Designation{Institution: "h1", Specialty: "ghost", From: "2026-02-01"}); errs.Code(err) != errs.Invalid {
			t.Fatalf("unknown specialty: %v", err)
		}
		tomorrow := qualification.Day(now().AddDate(0, 0, 1))
		if err := db.SavePilot(ctx, &directory.Designation{Institution: "h1", Specialty: "skin", From: tomorrow, By: 7}); err != nil {
			t.Fatal(err)
		}
		inst, _ := db.Institution(ctx, "h1")
		if inst.Pilot || inst.Departments[0].Specialties[0].Pilot || len(inst.Pilots) != 1 || inst.Pilots[0].By != 7 {
			t.Fatalf("before from: %+v", inst)
		}
		if !inst.PilotOn(now().AddDate(0, 0, 1)) || !inst.SpecialtyPilotOn("skin", now().AddDate(0, 0, 1)) || inst.SpecialtyPilotOn("skin", now()) {
			t.Fatal("the dates")
		}
		if err := db.SavePilot(ctx, &directory.Designation{Institution: "h1", Specialty: "skin", From: "2026-01-01", To: ""}); err != nil {
			t.Fatal(err)
		}
		list, _ := db.Institutions(ctx)
		if len(list) != 1 || !list[0].Pilot {
			t.Fatalf("list %+v", list)
		}
		if err := db.DeletePilot(ctx, "h1", "skin"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeletePilot(ctx, "h1", "skin"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("deleted twice: %v", err)
		}
		if d, _ := db.Designations(ctx, ""); len(d) != 0 {
			t.Fatalf("%v", d)
		}
	})
}
