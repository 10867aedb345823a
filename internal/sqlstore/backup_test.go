package sqlstore_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// bookingLoad is a service with one slot of many places and patients to
// book it, each once.
type bookingLoad struct {
	svc   *booking.Service
	slot  int64
	users []loadUser
}

type loadUser struct {
	acct *identity.Account
	pat  *identity.Patient
}

// newBookingLoad writes an approved institution with a follow-up service
// whose one slot (three days ahead) has room for every patient, and n
// patients with their own accounts (multi-row inserts, as the benchmark's
// fixtures).
func newBookingLoad(t *testing.T, db *sqlstore.DB, n int) *bookingLoad {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.SaveInstitution(ctx, &directory.Institution{Code: "bk", Name: "备份医院", Status: directory.QualApproved, ApprovedOn: "2020-01-01"}))
	must(db.SaveDepartment(ctx, &directory.Department{Institution: "bk", Code: "derm", Name: "皮肤科", Online: true}))
	must(db.SaveService(ctx, &directory.Service{Institution: "bk", Department: "derm", Code: "bk-derm-fu", Name: "皮肤科复诊", Kind: directory.FollowUp,
		Days: directory.Weekdays{1, 2, 3, 4, 5, 6, 7}, Active: true, Release: directory.DefaultRelease}))
	doc := &directory.Practitioner{Institution: "bk", Department: "derm", Name: "备医生", Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "BK1"}
	must(db.SavePractitioner(ctx, doc))
	day := now().In(dates.Beijing).AddDate(0, 0, 3)
	wd := int(day.Weekday())
	if wd == 0 {
		wd = 7
	}
	must(db.SaveSchedule(ctx, &schedule.Schedule{Service: "bk-derm-fu", PractitionerID: doc.ID, Weekday: wd, StartTime: "09:00", Capacity: n + 10, Active: true}))
	svc := booking.New(db, func() time.Time { return now() })
	t.Cleanup(svc.Close)
	if got, err := svc.Generate(ctx, "bk-derm-fu", now(), now().AddDate(0, 0, 7)); err != nil || got != 1 {
		t.Fatalf("generated %d slots: %v", got, err)
	}
	slots, err := db.ListSlots(ctx, schedule.SlotFilter{Service: "bk-derm-fu"})
	must(err)
	l := &bookingLoad{svc: svc, slot: slots[0].ID}
	at := now().UnixMicro()
	var accts, pats [][]any
	var births []time.Time
	for i := 0; i < n; i++ {
		birth := now().AddDate(-20-i%50, 0, -(i/50)%360)
		births = append(births, birth)
		rid := identity.MakeResidentID(fmt.Sprintf("11%04d", i%10000), birth, (i/10000)%100, identity.Male)
		accts = append(accts, []any{fmt.Sprintf("bk-u%05d", i), "x", "patient", "", at})
		pats = append(pats, []any{"备份患者", rid, birth.Format(dates.Layout), "male", "", at})
	}
	must(db.InsertRows(ctx, "accounts", "username, password_hash, role, phone, created_at", accts))
	must(db.InsertRows(ctx, "patients", "name, resident_id, birth_date, sex, phone, created_at", pats))
	aids, err := db.IDs(ctx, `SELECT id FROM accounts WHERE username LIKE 'bk-u%' ORDER BY username`)
	must(err)
	pids, err := db.IDs(ctx, `SELECT id FROM patients ORDER BY id`)
	must(err)
	if len(aids) != n || len(pids) != n {
		t.Fatalf("%d accounts, %d patients", len(aids), len(pids))
	}
	var links [][]any
	for i := range aids {
		links = append(links, []any{aids[i], pids[i], "self", at})
		l.users = append(l.users, loadUser{
			acct: &identity.Account{ID: aids[i], Username: fmt.Sprintf("bk-u%05d", i), Role: identity.RolePatient},
			pat:  &identity.Patient{ID: pids[i], Name: "备份患者", ResidentID: pats[i][1].(string), Birth: births[i], Sex: identity.Male, Relation: identity.RelSelf},
		})
	}
	must(db.InsertRows(ctx, "account_patients", "account_id, patient_id, relation, created_at", links))
	return l
}

// book books user i's place, with its audit entry in the same transaction
// (as the API does).
func (l *bookingLoad) book(ctx context.Context, i int) (int64, error) {
	u := l.users[i]
	entry := &audit.Entry{At: now().UTC(), ActorID: u.acct.ID, ActorRole: "patient", Action: "appointment.create", ObjectType: "appointment",
		Detail: fmt.Sprint("patient ", u.pat.ID)}
	b, err := l.svc.Book(ctx, booking.Request{Account: u.acct, PatientID: u.pat.ID, SlotID: l.slot, IdemKey: fmt.Sprint("bk-", i), Audit: entry}, u.pat)
	if err != nil {
		return 0, err
	}
	return b.Appointment.ID, nil
}

func count(t *testing.T, db *sqlstore.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Writer().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// tableCount is how many tables (and views) the target has: after a
// refused or failed restore, as many as before.
func tableCount(t *testing.T, dsn string) int {
	t.Helper()
	ctx := context.Background()
	if !sqlstore.IsPostgresDSN(dsn) {
		if _, err := os.Stat(dsn); errors.Is(err, os.ErrNotExist) {
			return 0
		}
	}
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type IN ('table', 'view')`
	if db.Engine == sqlstore.Postgres {
		q = `SELECT COUNT(*) FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`
	}
	return int(count(t, db, q))
}

// backupLines is the decompressed backup, a line a string.
func backupLines(t *testing.T, b []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
}

func gzipLines(t *testing.T, lines []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, strings.Join(lines, "\n")+"\n")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sameRows checks that two backups hold the same rows, line for line (the
// header, which says when and from which engine, aside).
func sameRows(t *testing.T, a, b []byte) {
	t.Helper()
	la, lb := backupLines(t, a), backupLines(t, b)
	if len(la) != len(lb) {
		t.Fatalf("backups of %d and %d lines", len(la), len(lb))
	}
	for i := 1; i < len(la); i++ {
		if la[i] != lb[i] {
			t.Fatalf("line %d differs:\n%s\n%s", i+1, la[i], lb[i])
		}
	}
}

// checkRestored checks a restored store against the backup's header: the
// counts, the audit chain, and that it books on with fresh ids.
func checkRestored(t *testing.T, dst *sqlstore.DB, h *sqlstore.BackupHeader) {
	t.Helper()
	ctx := context.Background()
	for _, tb := range h.Tables {
		if n := count(t, dst, `SELECT COUNT(*) FROM `+tb.Name); n != tb.Rows {
			t.Errorf("table %s: %d rows restored, header says %d", tb.Name, n, tb.Rows)
		}
	}
	n, problem, err := audit.Verify(ctx, dst)
	if err != nil || problem != nil {
		t.Fatalf("audit verify on the restored database: %v %v", problem, err)
	}
	if n == 0 {
		t.Fatal("no audit entries restored")
	}
	// Each booking wrote its appointment, its notice and its audit entry
	// in one transaction, and counted its place on the slot: the snapshot
	// has all of them or none.
	appts := count(t, dst, `SELECT COUNT(*) FROM appointments`)
	if a := count(t, dst, `SELECT COUNT(*) FROM audit_log WHERE action = 'appointment.create'`); a != appts {
		t.Errorf("%d appointments, %d audit entries of bookings", appts, a)
	}
	if b := count(t, dst, `SELECT COALESCE(SUM(booked), 0) FROM slots`); b != appts {
		t.Errorf("%d appointments, slots count %d booked", appts, b)
	}
}

// TestBackupRestoreUnderLoad takes a backup while bookings go on, restores
// it into a fresh database and checks that every booking acknowledged
// before the backup started is there, that the counts match the header,
// that the audit chain verifies and that the server books on with new ids.
func TestBackupRestoreUnderLoad(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, src *sqlstore.DB) {
		ctx := context.Background()
		l := newBookingLoad(t, src, 1500)
		last := len(l.users) - 1 // booked after the restore
		al := audit.NewLoggerClock(src, now)
		defer al.Close()
		// The chain's first entry before the concurrent ones (the head row
		// it creates is what concurrent appenders lock).
		if err := al.Record(ctx, audit.Entry{ActorRole: "cli", Action: "account.create", ObjectType: "account", ObjectID: "bk-admin"}); err != nil {
			t.Fatal(err)
		}

		var mu sync.Mutex
		var acked []int64
		var next atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					i := int(next.Add(1) - 1)
					if i >= last {
						return
					}
					id, err := l.book(ctx, i)
					if err != nil {
						t.Errorf("booking %d: %v", i, err)
						return
					}
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
					time.Sleep(time.Millisecond)
				}
			}()
		}
		// Staff reading records meanwhile: audit entries of their own.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := al.Record(ctx, audit.Entry{ActorID: 1, ActorRole: "doctor", Action: "patient.read", ObjectType: "patient", ObjectID: fmt.Sprint(i)}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		ackedCount := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(acked)
		}
		for deadline := time.Now().Add(60 * time.Second); ackedCount() < 100; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) || t.Failed() {
				close(stop)
				wg.Wait()
				t.Fatalf("only %d bookings in a minute", ackedCount())
			}
		}
		mu.Lock()
		before := append([]int64(nil), acked...)
		mu.Unlock()
		var buf bytes.Buffer
		started := time.Now()
		h, err := sqlstore.BackupDSN(ctx, src.DSN, &buf)
		took := time.Since(started)
		during := ackedCount() - len(before)
		// Some more bookings after the backup, then stop.
		for deadline := time.Now().Add(10 * time.Second); ackedCount() < len(before)+during+20 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		al.Close()
		t.Logf("backup of %d rows, %d bytes in %s; %d bookings before it, %d while it ran, %d in all",
			h.TotalRows(), buf.Len(), took.Round(time.Millisecond), len(before), during, ackedCount())
		if h.Engine != src.Engine || h.SchemaVersion != sqlstore.LatestMigration() {
			t.Fatalf("header: engine %s, schema version %d", h.Engine, h.SchemaVersion)
		}

		dstDSN := sqltest.DSN(t, src.Engine)
		rep, err := sqlstore.RestoreDSN(ctx, dstDSN, bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rows != h.TotalRows() || rep.AuditEntries == 0 {
			t.Fatalf("restore report: %d rows (header %d), %d audit entries", rep.Rows, h.TotalRows(), rep.AuditEntries)
		}
		dst, err := sqlstore.Open(ctx, dstDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		if n, err := dst.Migrate(ctx); err != nil || n != 0 {
			t.Fatalf("migrate after restore: %d applied, %v", n, err)
		}
		ids, err := dst.IDs(ctx, `SELECT id FROM appointments`)
		if err != nil {
			t.Fatal(err)
		}
		have := map[int64]bool{}
		var maxID int64
		for _, id := range ids {
			have[id] = true
			maxID = max(maxID, id)
		}
		for _, id := range before {
			if !have[id] {
				t.Fatalf("appointment %d was acknowledged before the backup started and is not in it", id)
			}
		}
		if srcN := count(t, src, `SELECT COUNT(*) FROM appointments`); srcN <= int64(len(ids)) {
			t.Errorf("the source has %d appointments, the backup %d: bookings did not go on after it", srcN, len(ids))
		}
		checkRestored(t, dst, h)

		// The same rows, read back from the restored database.
		var again bytes.Buffer
		if _, err := dst.Backup(ctx, &again); err != nil {
			t.Fatal(err)
		}
		sameRows(t, buf.Bytes(), again.Bytes())

		// The server opens it and books on, with a fresh id.
		l.svc = booking.New(dst, func() time.Time { return now() })
		defer l.svc.Close()
		id, err := l.book(ctx, last)
		if err != nil {
			t.Fatal(err)
		}
		if id <= maxID {
			t.Fatalf("booking after the restore got id %d, the restored ones go up to %d", id, maxID)
		}
		if n, problem, err := audit.Verify(ctx, dst); err != nil || problem != nil || n != rep.AuditEntries+1 {
			t.Fatalf("audit after a booking on the restored database: %d entries, %v %v", n, problem, err)
		}
	})
}

// TestRestoreRefuses: a target with tables is refused and left as it was;
// a truncated, damaged or tampered file is refused and leaves nothing.
func TestRestoreRefuses(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, src *sqlstore.DB) {
		ctx := context.Background()
		l := newBookingLoad(t, src, 30)
		for i := 0; i < 20; i++ {
			if _, err := l.book(ctx, i); err != nil {
				t.Fatal(err)
			}
		}
		var burned int64
		if src.Engine == sqlstore.Postgres {
			// Ids handed out and never kept (a rolled-back insert) are
			// not given again after a restore.
			for i := 0; i < 5; i++ {
				if err := src.Writer().QueryRow(`SELECT nextval(pg_get_serial_sequence('appointments', 'id'))`).Scan(&burned); err != nil {
					t.Fatal(err)
				}
			}
		}
		var buf bytes.Buffer
		h, err := src.Backup(ctx, &buf)
		if err != nil {
			t.Fatal(err)
		}
		good := buf.Bytes()

		// A target with data, and one only migrated: refused, unchanged.
		appts := count(t, src, `SELECT COUNT(*) FROM appointments`)
		if _, err := src.Restore(ctx, bytes.NewReader(good)); !errors.Is(err, sqlstore.ErrNotEmpty) {
			t.Fatalf("restore into the source itself: %v", err)
		}
		if n := count(t, src, `SELECT COUNT(*) FROM appointments`); n != appts {
			t.Fatalf("refused restore changed the target: %d appointments, was %d", n, appts)
		}
		migrated := sqltest.DSN(t, src.Engine)
		m, err := sqlstore.Open(ctx, migrated)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		m.Close()
		tables := tableCount(t, migrated)
		_, err = sqlstore.RestoreDSN(ctx, migrated, bytes.NewReader(good))
		if !errors.Is(err, sqlstore.ErrNotEmpty) || !strings.Contains(err.Error(), "schema version") {
			t.Fatalf("restore into a migrated database: %v", err)
		}
		t.Logf("refused: %v", err)
		if n := tableCount(t, migrated); n != tables {
			t.Fatalf("refused restore changed the target: %d tables, was %d", n, tables)
		}

		// Damaged files: refused, nothing left.
		lines := backupLines(t, good)
		tampered := append([]string(nil), lines...)
		for i, s := range tampered {
			if strings.Contains(s, `"patient.read"`) || strings.Contains(s, `"appointment.create"`) {
				tampered[i] = strings.Replace(s, `"patient `, `"patient 9`, 1)
				break
			}
		}
		recount := append([]string(nil), lines...)
		var hh sqlstore.BackupHeader
		if err := json.Unmarshal([]byte(lines[0]), &hh); err != nil {
			t.Fatal(err)
		}
		for i := range hh.Tables {
			if hh.Tables[i].Name == "appointments" {
				hh.Tables[i].Rows++
			}
		}
		hb, _ := json.Marshal(hh)
		recount[0] = string(hb)
		flipped := append([]byte(nil), good...)
		flipped[len(flipped)/2] ^= 0xff
		for _, c := range []struct {
			name string
			file []byte
			want string
		}{
			{"truncated", good[:len(good)*2/3], "truncated"},
			{"a byte changed", flipped, ""},
			{"an audit entry changed", gzipLines(t, tampered), "audit chain broken"},
			{"a count changed", gzipLines(t, recount), "appointments"},
			{"not a backup", []byte("SQLite format 3\x00"), "not a Yunyi backup"},
			{"empty", nil, "not a Yunyi backup"},
		} {
			dsn := sqltest.DSN(t, src.Engine)
			_, err := sqlstore.RestoreDSN(ctx, dsn, bytes.NewReader(c.file))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s: got %v, want an error with %q", c.name, err, c.want)
			}
			t.Logf("%s: %v", c.name, err)
			if n := tableCount(t, dsn); n != 0 {
				t.Fatalf("%s: the failed restore left %d tables", c.name, n)
			}
			if src.Engine == sqlstore.SQLite {
				if _, err := os.Stat(dsn); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s: the failed restore left the file %s: %v", c.name, dsn, err)
				}
			}
		}

		// The good file into the same kind of target goes through.
		dsn := sqltest.DSN(t, src.Engine)
		if _, err := sqlstore.RestoreDSN(ctx, dsn, bytes.NewReader(good)); err != nil {
			t.Fatal(err)
		}
		dst, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		checkRestored(t, dst, h)
		l.svc = booking.New(dst, func() time.Time { return now() })
		defer l.svc.Close()
		id, err := l.book(ctx, 25)
		if err != nil {
			t.Fatal(err)
		}
		if src.Engine == sqlstore.Postgres && id != burned+1 {
			t.Fatalf("booking after the restore got id %d, want %d (after the ids the source handed out)", id, burned+1)
		}
	})
}

// TestBackupAcrossEngines restores a SQLite backup into PostgreSQL and a
// PostgreSQL one into SQLite: the same rows, a whole audit chain.
func TestBackupAcrossEngines(t *testing.T) {
	for _, c := range [][2]sqlstore.Engine{{sqlstore.SQLite, sqlstore.Postgres}, {sqlstore.Postgres, sqlstore.SQLite}} {
		t.Run(string(c[0])+"-to-"+string(c[1]), func(t *testing.T) {
			ctx := context.Background()
			src := sqltest.Open(t, c[0])
			l := newBookingLoad(t, src, 20)
			for i := 0; i < 10; i++ {
				if _, err := l.book(ctx, i); err != nil {
					t.Fatal(err)
				}
			}
			var buf bytes.Buffer
			h, err := src.Backup(ctx, &buf)
			if err != nil {
				t.Fatal(err)
			}
			dsn := sqltest.DSN(t, c[1])
			if _, err := sqlstore.RestoreDSN(ctx, dsn, bytes.NewReader(buf.Bytes())); err != nil {
				t.Fatal(err)
			}
			dst, err := sqlstore.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			checkRestored(t, dst, h)
			var again bytes.Buffer
			if _, err := dst.Backup(ctx, &again); err != nil {
				t.Fatal(err)
			}
			sameRows(t, buf.Bytes(), again.Bytes())
			l.svc = booking.New(dst, func() time.Time { return now() })
			defer l.svc.Close()
			if _, err := l.book(ctx, 15); err != nil {
				t.Fatalf("booking after the restore: %v", err)
			}
		})
	}
}
