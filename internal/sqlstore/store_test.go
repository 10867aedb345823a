package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// now is the tests' instant (testclock).
func now() time.Time { return testclock.Start() }

func rid(seq int, years int) string {
	return identity.MakeResidentID("110105", now().AddDate(-years, 0, -20), seq, identity.Male)
}

func TestMigrateIsIdempotent(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		n, err := db.Migrate(context.Background())
		if err != nil || n != 0 {
			t.Fatalf("second migrate applied %d: %v", n, err)
		}
	})
}

func TestIdentityStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		a := &identity.Account{Username: "liming", PasswordHash: "h", Role: identity.RolePatient, CreatedAt: now()}
		p := &identity.Patient{Name: "李明", ResidentID: rid(1, 38), Birth: now().AddDate(-38, 0, -20), Sex: identity.Male, CreatedAt: now()}
		if err := db.CreatePatientAccount(ctx, a, p); err != nil {
			t.Fatal(err)
		}
		// Duplicate username: refused, and nothing of the second attempt is kept.
		a2 := &identity.Account{Username: "liming", PasswordHash: "h", Role: identity.RolePatient, CreatedAt: now()}
		p2 := &identity.Patient{Name: "李四", ResidentID: rid(2, 30), Birth: now(), Sex: identity.Male, CreatedAt: now()}
		err := db.CreatePatientAccount(ctx, a2, p2)
		if errs.Code(err) != errs.Duplicate {
			t.Fatalf("want duplicate, got %v", err)
		}
		if e := err.(*errs.Error); e.Fields[0].Field != "username" {
			t.Fatalf("field %v", e.Fields)
		}
		// Duplicate resident ID (N-5: one person, one patient).
		a3 := &identity.Account{Username: "other", PasswordHash: "h", Role: identity.RolePatient, CreatedAt: now()}
		p3 := &identity.Patient{Name: "李明", ResidentID: p.ResidentID, Birth: p.Birth, Sex: identity.Male, CreatedAt: now()}
		err = db.CreatePatientAccount(ctx, a3, p3)
		if e, ok := err.(*errs.Error); !ok || e.Code != errs.Duplicate || e.Fields[0].Field != "resident_id" {
			t.Fatalf("want resident_id duplicate, got %v", err)
		}
		if _, err := db.AccountByUsername(ctx, "other"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("the failed registration left an account: %v", err)
		}
		// Children.
		c := &identity.Patient{Name: "李小雨", ResidentID: rid(3, 8), Birth: now().AddDate(-8, 0, 0), Sex: identity.Female, CreatedAt: now()}
		if err := db.AddPatient(ctx, a.ID, c, identity.RelChild); err != nil {
			t.Fatal(err)
		}
		ps, err := db.PatientsOf(ctx, a.ID)
		if err != nil || len(ps) != 2 || ps[0].Relation != identity.RelSelf || ps[1].Relation != identity.RelChild {
			t.Fatalf("patients %+v %v", ps, err)
		}
		linked, _ := db.LinkedAccounts(ctx, c.ID)
		if len(linked) != 1 || linked[0] != a.ID {
			t.Fatalf("linked %v", linked)
		}
		// Sessions.
		tok, hash := identity.NewToken()
		_ = tok
		s := &identity.Session{TokenHash: hash, AccountID: a.ID, Kind: identity.SessionAPI, CSRF: "c", CreatedAt: now(), ExpiresAt: now().Add(time.Hour), IdleExpiry: now().Add(time.Minute)}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := db.SessionByTokenHash(ctx, hash)
		if err != nil || got.AccountID != a.ID || !got.Valid(now()) {
			t.Fatalf("%+v %v", got, err)
		}
		db.RevokeSession(ctx, hash)
		got, _ = db.SessionByTokenHash(ctx, hash)
		if got.Valid(now()) {
			t.Fatal("revoked session still valid")
		}
	})
}

func TestDirectoryStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		i := &directory.Institution{Code: "h1", Name: "测试医院", Status: directory.QualPending}
		if err := db.SaveInstitution(ctx, i); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveDepartment(ctx, &directory.Department{Institution: "h1", Code: "derm", Name: "皮肤科", Online: true}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveDepartment(ctx, &directory.Department{Institution: "nope", Code: "derm", Name: "皮肤科"}); errs.Code(err) != errs.Invalid {
			t.Fatalf("unknown institution: %v", err)
		}
		if err := db.SaveSpecialty(ctx, &directory.Specialty{Institution: "h1", Department: "derm", Code: "skin", Name: "皮肤疾病", Pilot: true}); err != nil {
			t.Fatal(err)
		}
		sv := &directory.Service{Institution: "h1", Department: "derm", Code: "h1-skin-fv", Name: "首诊", Kind: directory.FirstVisit,
			Specialty: "skin", PriceFen: 8000, Days: directory.Weekdays{1, 3}, Active: true}
		if err := db.SaveService(ctx, sv); err != nil {
			t.Fatal(err)
		}
		// A service code belongs to one institution.
		db.SaveInstitution(ctx, &directory.Institution{Code: "h2", Name: "另一医院", Status: directory.QualPending})
		db.SaveDepartment(ctx, &directory.Department{Institution: "h2", Code: "derm", Name: "皮肤科"})
		if err := db.SaveService(ctx, &directory.Service{Institution: "h2", Department: "derm", Code: "h1-skin-fv", Name: "x", Kind: directory.FollowUp}); errs.Code(err) != errs.Invalid {
			t.Fatalf("stealing a service code: %v", err)
		}
		got, err := db.Institution(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Departments) != 1 || len(got.Departments[0].Services) != 1 || got.Departments[0].Specialties[0].Code != "skin" {
			t.Fatalf("%+v", got)
		}
		if s := got.Departments[0].Services[0]; s.Price != 80 || s.Days.String() != "1,3" || s.Kind != directory.FirstVisit {
			t.Fatalf("service %+v", s)
		}
		if err := db.SetQualification(ctx, "h1", directory.QualApproved, "2026-01-31", ""); err != nil {
			t.Fatal(err)
		}
		if err := db.SetQualification(ctx, "zz", directory.QualApproved, "2026-01-31", ""); !errs.Is(err, errs.NotFound) {
			t.Fatalf("unknown institution: %v", err)
		}
		p := &directory.Practitioner{Institution: "h1", Department: "derm", Name: "王医生", Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "L-1"}
		if err := db.SavePractitioner(ctx, p); err != nil {
			t.Fatal(err)
		}
		dup := &directory.Practitioner{Institution: "h1", Name: "重复", Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "L-1"}
		if err := db.SavePractitioner(ctx, dup); errs.Code(err) != errs.Duplicate {
			t.Fatalf("duplicate licence: %v", err)
		}
		s := &directory.Suspension{PractitionerID: p.ID, Scope: directory.SuspendFirstVisit, Reason: "D-2", Since: now()}
		if err := db.AddSuspension(ctx, s); err != nil {
			t.Fatal(err)
		}
		gp, _ := db.Practitioner(ctx, p.ID)
		if _, ok := gp.ActiveSuspension(); !ok {
			t.Fatal("suspension not stored")
		}
		if err := db.LiftSuspension(ctx, p.ID, s.ID, now()); err != nil {
			t.Fatal(err)
		}
		if err := db.LiftSuspension(ctx, p.ID, s.ID, now()); !errs.Is(err, errs.NotFound) {
			t.Fatal("lifting twice")
		}
		list, _ := db.Practitioners(ctx, "h1")
		if len(list) != 1 || len(list[0].Suspensions) != 1 || list[0].Suspensions[0].Active() {
			t.Fatalf("%+v", list)
		}
	})
}

// The audit chain detects an edited, a deleted and a truncated entry.
func TestAuditChainTamper(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		l := audit.NewLogger(db)
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if err := l.Record(ctx, audit.Entry{ActorID: int64(i), ActorRole: "patient", Action: "patient.read", ObjectType: "patient", ObjectID: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		l.Close()
		n, problem, err := audit.Verify(ctx, db)
		if err != nil || problem != nil || n != 50 {
			t.Fatalf("intact chain: n=%d problem=%v err=%v", n, problem, err)
		}
		w := db.Writer()
		if _, err := w.Exec(`UPDATE audit_log SET object_id = 'someone-else' WHERE seq = 17`); err != nil {
			t.Fatal(err)
		}
		_, problem, _ = audit.Verify(ctx, db)
		if problem == nil || problem.Seq != 17 {
			t.Fatalf("edit not found: %v", problem)
		}
		w.Exec(`UPDATE audit_log SET object_id = (SELECT object_id FROM audit_log WHERE seq = 17) WHERE seq = 17`)
		var orig string
		db.Writer().QueryRow(`SELECT actor_id FROM audit_log WHERE seq = 17`).Scan(&orig)
		w.Exec(`UPDATE audit_log SET object_id = $1 WHERE seq = 17`, orig)
		if _, problem, _ = audit.Verify(ctx, db); problem != nil {
			t.Fatalf("restored chain: %v", problem)
		}
		w.Exec(`DELETE FROM audit_log WHERE seq = 30`)
		_, problem, _ = audit.Verify(ctx, db)
		if problem == nil || problem.Seq != 30 {
			t.Fatalf("deletion not found: %v", problem)
		}
		w.Exec(`DELETE FROM audit_log WHERE seq >= 30`)
		_, problem, _ = audit.Verify(ctx, db)
		if problem == nil || problem.Seq != 30 {
			t.Fatalf("truncation not found: %v", problem)
		}
	})
}

// Where the server's clock meets the database's (issue 10): the store times
// what it records by the server's clock (SetClock), never by the database's
// now(), so a server on another clock stays consistent with itself. No
// statement or migration calls the database's clock.
func TestStoreTimesByTheServersClock(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		at := time.Date(2027, 12, 31, 15, 30, 0, 0, time.UTC) // 23:30 Beijing on New Year's Eve
		db.SetClock(func() time.Time { return at })
		ctx := context.Background()
		if err := db.SaveInstitution(ctx, &directory.Institution{Code: "h1", Name: "测试医院", Status: directory.QualPending}); err != nil {
			t.Fatal(err)
		}
		var updated int64
		if err := db.Writer().QueryRow(`SELECT updated_at FROM institutions WHERE code = 'h1'`).Scan(&updated); err != nil {
			t.Fatal(err)
		}
		if got := time.UnixMicro(updated).UTC(); !got.Equal(at) {
			t.Fatalf("recorded at %s, want the server's %s", got, at)
		}
	})
	dbClock := regexp.MustCompile(`(?i)(^|[^.\w])now()\(\)|current_timestamp|current_date|localtimestamp|datetime\('now()'|strftime\([^)]*'now()'`)
	files, _ := filepath.Glob("*.go")
	mig, _ := filepath.Glob("migrations/*.sql")
	for _, f := range append(files, mig...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for i, line := range strings.Split(string(b), "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "func ") || strings.HasPrefix(l, "//") || (strings.HasPrefix(l, "--") && !strings.HasPrefix(l, "-- postgres:")) {
				continue // declarations and comments
			}
			if m := dbClock.FindString(line); m != "" {
				t.Errorf("%s:%d reads the database's clock (%s)", f, i+1, m)
			}
		}
	}
}
