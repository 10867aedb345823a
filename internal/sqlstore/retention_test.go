package sqlstore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/blob"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/retention"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// The retention policies (N-17) are seeded with the rules' numbers; a
// change is written with its audit entry; one below the legal minimum, or
// a purge of the visit records or the audit log, is refused.
func TestRetentionPolicyStoreN17(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ps, err := db.RetentionPolicies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, fmt.Sprintf("%s:%d:%t:%d", p.Type, p.Years, p.Purge, p.MinYears))
		}
		if strings.Join(got, " ") != "visit_record:15:false:15 chat:3:true:3 call:3:true:3 audit:15:false:15" {
			t.Fatalf("defaults %v", got)
		}
		e := &audit.Entry{At: now(), ActorID: 9, ActorRole: "security_admin", Action: "retention.policy.save", ObjectType: "retention_policy", ObjectID: "call"}
		if err := db.SaveRetentionPolicy(ctx, retention.Policy{Type: retention.Call, Years: 6, Purge: false, UpdatedAt: now(), UpdatedBy: 9}, e); err != nil {
			t.Fatal(err)
		}
		p, err := db.RetentionPolicy(ctx, retention.Call)
		if err != nil || p.Years != 6 || p.Purge || p.UpdatedBy != 9 || !p.UpdatedAt.Equal(now().UTC().Truncate(time.Microsecond)) {
			t.Fatalf("saved %+v %v", p, err)
		}
		if got, _ := db.QueryAudit(ctx, audit.Filter{ObjectType: "retention_policy"}); len(got) != 1 {
			t.Fatalf("audit entries %v", got)
		}
		for _, bad := range []retention.Policy{
			{Type: retention.Chat, Years: 2, Purge: true},
			{Type: retention.VisitRecord, Years: 10},
			{Type: retention.Audit, Years: 30, Purge: true},
		} {
			if err := db.SaveRetentionPolicy(ctx, bad, e); !errs.Is(err, errs.Invalid) {
				t.Errorf("%+v saved: %v", bad, err)
			}
		}
		if _, err := db.RetentionPolicy(ctx, "sms"); !errs.Is(err, errs.NotFound) {
			t.Errorf("unknown type: %v", err)
		}
	})
}

// The purge (N-17) removes exactly the chat messages, chat images (and
// their files) and call guests made before their cutoff, in batches; a
// guest clinician recorded present with a child (N-4) and the
// pre-consultation files stay with the visit record; the audit log keeps
// every entry, however old, and its chain verifies. A run a crash stopped
// is taken over once its owner made no progress for the stale time, and
// its counts carry on into the one audit entry of the run.
func TestRetentionPurgeStoreN17(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		files := &blob.Dir{Root: t.TempDir()}
		at := now().Add(11 * time.Minute) // when the run is taken over
		chatPolicy, _ := db.RetentionPolicy(ctx, retention.Chat)
		cutoff := chatPolicy.Cutoff(at)

		// Audit entries older than anything else: never purged.
		var old []*audit.Entry
		for i := range 3 {
			old = append(old, &audit.Entry{At: now().AddDate(-20, 0, i), ActorRole: "system", Action: "old.entry", ObjectType: "visit", ObjectID: "1"})
		}
		if err := db.AppendAudit(ctx, old); err != nil {
			t.Fatal(err)
		}

		// Messages: six before the cutoff, one at it, two after.
		times := []time.Time{cutoff.AddDate(0, -6, 0), cutoff.AddDate(0, -1, 0), cutoff.AddDate(0, 0, -7), cutoff.AddDate(0, 0, -1),
			cutoff.Add(-time.Second), cutoff.Add(-time.Microsecond), cutoff, cutoff.AddDate(0, 0, 1), at}
		var msgs [][]any
		for i, tm := range times {
			msgs = append(msgs, []any{int64(1), int64(i + 1), int64(7), "patient", "text", fmt.Sprintf("消息 %d", i+1), tm.UnixMicro()})
		}
		if err := db.InsertRows(ctx, "messages", "visit_id, seq, sender_id, sender_role, kind, body, created_at", msgs); err != nil {
			t.Fatal(err)
		}
		// Files: two chat images before the cutoff, one after, and an old
		// pre-consultation file (the visit record's).
		var atts [][]any
		var keys []string
		for i, a := range []struct {
			purpose string
			made    time.Time
		}{{"chat", cutoff.AddDate(0, 0, -2)}, {"chat", cutoff.Add(-time.Microsecond)}, {"chat", cutoff}, {"pre_consult", cutoff.AddDate(-1, 0, 0)}} {
			info, err := files.Put(ctx, "visits/1", strings.NewReader("png"), 100)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, info.Key)
			atts = append(atts, []any{int64(1), a.purpose, fmt.Sprintf("f%d.png", i), "image/png", int64(3), "x", info.Key, int64(7), a.made.UnixMicro()})
		}
		if err := db.InsertRows(ctx, "attachments", "visit_id, purpose, name, content_type, size, sha256, blob_key, uploaded_by, created_at", atts); err != nil {
			t.Fatal(err)
		}
		// Guests: an old interpreter (goes), an old clinician recorded
		// present with the child (N-4, stays), a recent guardian (stays).
		var guests [][]any
		for i, g := range []struct {
			role    string
			made    time.Time
			present int64
		}{{"interpreter", cutoff.AddDate(0, 0, -3), 0}, {"clinician", cutoff.AddDate(0, 0, -3), cutoff.AddDate(0, 0, -3).UnixMicro()}, {"guardian", cutoff.AddDate(0, 0, 3), 0}} {
			guests = append(guests, []any{int64(1), g.role, "1380000000" + fmt.Sprint(i), int64(7), []byte{byte(i), 1, 2}, g.made.Add(24 * time.Hour).UnixMicro(), g.present, g.made.UnixMicro()})
		}
		if err := db.InsertRows(ctx, "visit_guests", "visit_id, role, phone, invited_by, link_hash, expires_at, present_at, created_at", guests); err != nil {
			t.Fatal(err)
		}

		// Server a starts a run 11 minutes before, removes one batch of
		// four messages and stops (a crash: no finish).
		runA, err := db.BeginPurge(ctx, "a", now(), now().Add(-10*time.Minute))
		if err != nil || runA == nil {
			t.Fatalf("begin a: %v %v", runA, err)
		}
		if n, _, err := db.PurgeBatch(ctx, runA, retention.ChatMessages, cutoff, 4, now()); err != nil || n != 4 {
			t.Fatalf("a's batch: %d %v", n, err)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		purger := func(owner string, when time.Time) *retention.Purger {
			return &retention.Purger{Store: db, Files: files, Now: func() time.Time { return when }, Log: log, Owner: owner, Batch: 4}
		}
		// A minute later a's run is live: b does not start another.
		if run, err := purger("b", now().Add(time.Minute)).Run(ctx); err != nil || run != nil {
			t.Fatalf("b ran beside a's live run: %+v %v", run, err)
		}
		// Eleven minutes later b takes it over and finishes it.
		run, err := purger("b", at).Run(ctx)
		if err != nil || run == nil || run.ID != runA.ID {
			t.Fatalf("b's run: %+v %v", run, err)
		}
		if run.Counts[retention.ChatMessages] != 6 || run.Counts[retention.ChatFiles] != 2 || run.Counts[retention.CallGuests] != 1 {
			t.Fatalf("counts %v, want 6 messages, 2 files, 1 guest", run.Counts)
		}
		// a, back, cannot write into the run b finished.
		if _, _, err := db.PurgeBatch(ctx, runA, retention.ChatMessages, cutoff, 4, at); !errs.Is(err, errs.Conflict) {
			t.Fatalf("a's batch after the takeover: %v", err)
		}

		ids := func(q string) string {
			t.Helper()
			got, err := db.IDs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(got)
		}
		if got := ids(`SELECT seq FROM messages ORDER BY seq`); got != "[7 8 9]" {
			t.Errorf("messages left %s, want [7 8 9] (at the cutoff and after)", got)
		}
		if got := ids(`SELECT id FROM attachments ORDER BY id`); got != "[3 4]" {
			t.Errorf("files left %s, want the recent chat image and the pre-consultation file", got)
		}
		for i, k := range keys {
			_, err := files.Open(ctx, k)
			if gone := err != nil; gone != (i < 2) {
				t.Errorf("file %d: gone %v", i, gone)
			}
		}
		if got := ids(`SELECT id FROM visit_guests ORDER BY id`); got != "[2 3]" {
			t.Errorf("guests left %s, want the clinician present (N-4) and the recent guardian", got)
		}

		// The audit log: every old entry there, one entry for the run, whole.
		checked, problem, err := audit.Verify(ctx, db)
		if err != nil || problem != nil || checked != 4 {
			t.Fatalf("audit verify: %d %v %v", checked, problem, err)
		}
		entries, _ := db.QueryAudit(ctx, audit.Filter{ObjectType: "retention_run"})
		if len(entries) != 1 || entries[0].Action != "retention.purge" || entries[0].ObjectID != fmt.Sprint(run.ID) ||
			!strings.HasPrefix(entries[0].Detail, "chat_messages=6 chat_files=2 call_guests=1 chat<") {
			t.Fatalf("the run's audit %+v", entries)
		}

		// The next run finds nothing and says so, audited too; with the
		// chat's purge off, an expired message stays.
		e := &audit.Entry{At: at, ActorRole: "security_admin", Action: "retention.policy.save", ObjectType: "retention_policy", ObjectID: "chat"}
		if err := db.SaveRetentionPolicy(ctx, retention.Policy{Type: retention.Chat, Years: 3, Purge: false}, e); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertRows(ctx, "messages", "visit_id, seq, sender_id, sender_role, kind, body, created_at",
			[][]any{{int64(2), int64(1), int64(7), "doctor", "text", "旧消息", cutoff.AddDate(-1, 0, 0).UnixMicro()}}); err != nil {
			t.Fatal(err)
		}
		run2, err := purger("b", at.Add(time.Hour)).Run(ctx)
		if err != nil || run2 == nil || run2.ID == run.ID || run2.Counts[retention.ChatMessages] != 0 || run2.Counts[retention.CallGuests] != 0 {
			t.Fatalf("second run %+v %v", run2, err)
		}
		if _, ok := run2.Cutoffs[retention.Chat]; ok {
			t.Error("the chat was purged with its purge off")
		}
		if got := ids(`SELECT COUNT(*) FROM messages WHERE visit_id = 2`); got != "[1]" {
			t.Errorf("the message of a type not purged: %s", got)
		}
		runs, err := db.PurgeRuns(ctx, 10)
		if err != nil || len(runs) != 2 || runs[0].ID != run2.ID || runs[1].Counts[retention.ChatMessages] != 6 || runs[1].FinishedAt.IsZero() {
			t.Fatalf("runs %+v %v", runs, err)
		}
		if _, problem, err := audit.Verify(ctx, db); problem != nil || err != nil {
			t.Fatalf("audit verify: %v %v", problem, err)
		}
	})
}
