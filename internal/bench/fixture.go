// Package bench measures booking on the real HTTP server over loopback,
// and the same booking transaction run straight on the store as the
// ceiling, on SQLite and PostgreSQL (`yunyi bench booking`).
package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// Fixture is the data of a run: services with slots, and patients with
// accounts and open sessions, each patient booking once.
type Fixture struct {
	Services []string    // service codes
	Slots    [][]int64   // per service, its slot ids
	Patients []BenchUser // one booking each
}

// BenchUser is an account with its own patient and a session token.
type BenchUser struct {
	AccountID, PatientID int64
	Token                string
}

// Spec of a fixture.
type Spec struct {
	Prefix        string // codes of this fixture's institution and services
	Services      int
	SlotsPer      int // slots per service, on consecutive days
	Capacity      int // places per slot
	Patients      int
	PatientOffset int // makes resident IDs unique across fixtures
}

// Build writes a fixture with multi-row inserts (fast on both engines).
func Build(ctx context.Context, db *sqlstore.DB, sp Spec, now time.Time) (*Fixture, error) {
	inst := sp.Prefix
	d := &directory.Institution{Code: inst, Name: "压测医院 " + inst, Status: directory.QualApproved, ApprovedOn: "2020-01-01"}
	if err := db.SaveInstitution(ctx, d); err != nil {
		return nil, err
	}
	f := &Fixture{}
	// The platform rules, so every booking evaluates real rules.
	eng := policy.NewEngine()
	if rules, _ := db.Rules(ctx, "nobody"); len(rules) == 0 {
		for _, r := range demo.Rules() {
			if r.Institution != "" {
				continue
			}
			if err := eng.Validate(&r); err != nil {
				return nil, err
			}
			if err := db.SaveRule(ctx, &r); err != nil {
				return nil, err
			}
		}
	}
	release := directory.Release{MinDays: 0, MaxDays: 90, ReleaseTime: "00:00", CancelCutoffM: 60}
	for i := 0; i < sp.Services; i++ {
		dept := fmt.Sprintf("d%02d", i)
		if err := db.SaveDepartment(ctx, &directory.Department{Institution: inst, Code: dept, Name: "科室" + dept, Online: true}); err != nil {
			return nil, err
		}
		code := fmt.Sprintf("%s-%s-fu", inst, dept)
		if err := db.SaveService(ctx, &directory.Service{Institution: inst, Department: dept, Code: code, Name: "复诊" + dept, Kind: directory.FollowUp,
			Days: directory.Weekdays{1, 2, 3, 4, 5, 6, 7}, Active: true, Release: release, PriceFen: 5000}); err != nil {
			return nil, err
		}
		doc := &directory.Practitioner{Institution: inst, Department: dept, Name: "压测医师", Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "B" + dept}
		if err := db.SavePractitioner(ctx, doc); err != nil {
			return nil, err
		}
		f.Services = append(f.Services, code)
		rows := [][]any{}
		for k := 0; k < sp.SlotsPer; k++ {
			day := now.AddDate(0, 0, 1+k).In(dates.Beijing)
			start := time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, dates.Beijing)
			rows = append(rows, []any{code, inst, dept, doc.ID, "follow_up", start.Format(dates.Layout), start.UnixMicro(), sp.Capacity})
		}
		if err := db.InsertRows(ctx, "slots", "service, institution, department, practitioner_id, kind, day, starts_at, capacity", rows); err != nil {
			return nil, err
		}
		ids, err := db.IDs(ctx, `SELECT id FROM slots WHERE service = $1 ORDER BY starts_at`, code)
		if err != nil {
			return nil, err
		}
		f.Slots = append(f.Slots, ids)
	}
	// Patients: account, patient, link, session and an offline visit in the
	// department of the service they book.
	hash, err := identity.HashPassword("bench-password-1")
	if err != nil {
		return nil, err
	}
	var accts, pats, visits, sessions [][]any
	tokens := make([]string, sp.Patients)
	at := now.UnixMicro()
	for i := 0; i < sp.Patients; i++ {
		n := sp.PatientOffset + i
		birth := now.AddDate(-20-n%50, 0, -(n/50)%360)
		rid := identity.MakeResidentID(fmt.Sprintf("11%04d", n%10000), birth, (n/10000)%100, identity.Male)
		accts = append(accts, []any{fmt.Sprintf("%s-u%06d", inst, i), hash, "patient", "", at})
		pats = append(pats, []any{"压测患者", rid, birth.Format(dates.Layout), "male", "", at})
		dept := fmt.Sprintf("d%02d", i%max(sp.Services, 1))
		visits = append(visits, []any{inst, dept, rid, now.AddDate(0, 0, -30).Format(dates.Layout), "I10", "高血压", true, "bench", fmt.Sprintf("bench:%d", n), at})
		tok, h := identity.NewToken()
		tokens[i] = tok
		sessions = append(sessions, []any{h, at, now.Add(12 * time.Hour).UnixMicro(), now.Add(12 * time.Hour).UnixMicro()})
	}
	if err := db.InsertRows(ctx, "accounts", "username, password_hash, role, phone, created_at", accts); err != nil {
		return nil, err
	}
	if err := db.InsertRows(ctx, "patients", "name, resident_id, birth_date, sex, phone, created_at", pats); err != nil {
		return nil, err
	}
	if err := db.InsertRows(ctx, "visit_history", "institution, department, resident_id, visit_date, diagnosis_code, diagnosis_name, definite, source, external_id, imported_at", visits); err != nil {
		return nil, err
	}
	aids, err := db.IDs(ctx, `SELECT id FROM accounts WHERE username LIKE $1 ORDER BY username`, inst+"-u%")
	if err != nil {
		return nil, err
	}
	pids, err := db.IDs(ctx, `SELECT id FROM patients WHERE id > (SELECT COALESCE(MAX(id), 0) FROM patients) - $1 ORDER BY id`, sp.Patients)
	if err != nil {
		return nil, err
	}
	if len(aids) != sp.Patients || len(pids) != sp.Patients {
		return nil, fmt.Errorf("fixture: %d accounts, %d patients", len(aids), len(pids))
	}
	var links [][]any
	for i := range aids {
		links = append(links, []any{aids[i], pids[i], "self", at})
		sessions[i] = append([]any{sessions[i][0], aids[i], "api", "x"}, sessions[i][1:]...)
		f.Patients = append(f.Patients, BenchUser{AccountID: aids[i], PatientID: pids[i], Token: tokens[i]})
	}
	if err := db.InsertRows(ctx, "account_patients", "account_id, patient_id, relation, created_at", links); err != nil {
		return nil, err
	}
	if err := db.InsertRows(ctx, "sessions", "token_hash, account_id, kind, csrf, created_at, expires_at, idle_expiry", sessions); err != nil {
		return nil, err
	}
	// Fresh statistics after the bulk load, as autovacuum would give a
	// production database: without them PostgreSQL's planner took a
	// patient lookup for a scan of every patient (280 ms instead of 0.1).
	if err := db.Analyze(ctx); err != nil {
		return nil, err
	}
	return f, nil
}
