package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/supervision"
)

var (
	_ supervision.Outbox   = (*DB)(nil)
	_ supervision.Platform = (*DB)(nil)
	_ supervision.KeyStore = (*DB)(nil)
)

// feed is a supervised change's event, with the patient it concerns
// (emit turns the id into the pseudonymous key).
type feed struct {
	supervision.Event
	PatientID int64
}

// emit writes the events of a change to their institutions' outboxes, in
// the change's transaction: each institution's next numbers are taken by
// one upsert of its head (numbers without gaps, in commit order), then the
// events are written with one multi-row insert. It is the last write of
// every transaction that calls it: on PostgreSQL the head's row lock is
// then held only for the commit, and a transaction holding one never waits
// for another lock (the institutions are taken in code order), so no
// deadlock can form.
func (db *DB) emit(ctx context.Context, tx *sql.Tx, evs ...feed) error {
	if len(evs) == 0 {
		return nil
	}
	secret, err := db.patientSecret(ctx, tx)
	if err != nil {
		return err
	}
	by := map[string][]*feed{}
	var insts []string
	for i := range evs {
		e := &evs[i]
		if e.Institution == "" {
			return errors.New("supervision event without an institution")
		}
		if by[e.Institution] == nil {
			insts = append(insts, e.Institution)
		}
		by[e.Institution] = append(by[e.Institution], e)
	}
	slices.Sort(insts)
	now := db.now()
	rows := make([][]any, 0, len(evs))
	for _, inst := range insts {
		list := by[inst]
		var last int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO supervision_heads (institution, last_seq) VALUES ($1, $2)
			ON CONFLICT (institution) DO UPDATE SET last_seq = supervision_heads.last_seq + excluded.last_seq RETURNING last_seq`,
			inst, len(list)).Scan(&last); err != nil {
			return fmt.Errorf("supervision head of %s: %w", inst, err)
		}
		for i, e := range list {
			e.Seq = last - int64(len(list)) + int64(i) + 1
			e.ID = supervision.NewID()
			if e.OccurredAt.IsZero() {
				e.OccurredAt = now
			}
			e.Patient = supervision.PatientKey(secret, e.PatientID)
			e.Normalise()
			body, err := e.Canonical()
			if err != nil {
				return err
			}
			rows = append(rows, []any{e.Institution, e.Seq, e.ID, string(e.Kind), micros(e.OccurredAt), string(body)})
		}
	}
	return db.insertMany(ctx, tx, "supervision_outbox", "institution, seq, id, kind, occurred_at, body", rows)
}

// patientSecret is the secret of the patients' keys (made by the
// migration, never changed).
func (db *DB) patientSecret(ctx context.Context, tx *sql.Tx) ([]byte, error) {
	if p := db.feedSecret.Load(); p != nil {
		return *p, nil
	}
	var secret []byte
	if err := tx.QueryRowContext(ctx, `SELECT patient_secret FROM supervision_settings WHERE id = 1`).Scan(&secret); err != nil {
		return nil, fmt.Errorf("supervision settings: %w", err)
	}
	if len(secret) < 16 {
		return nil, errors.New("supervision settings: the patient-key secret is missing")
	}
	db.feedSecret.Store(&secret)
	return secret, nil
}

// EmitEvents writes events to the outboxes in one transaction, as a
// supervised change does (for the benchmark's load and tests that need a
// feed without the changes).
func (db *DB) EmitEvents(ctx context.Context, evs []supervision.Event, patients []int64) error {
	fs := make([]feed, len(evs))
	for i := range evs {
		fs[i].Event = evs[i]
		if i < len(patients) {
			fs[i].PatientID = patients[i]
		}
	}
	err := db.tx(ctx, func(tx *sql.Tx) error { return db.emit(ctx, tx, fs...) })
	for i := range fs {
		evs[i] = fs[i].Event
	}
	return err
}

// --- the sending side ---

func (db *DB) FeedSettings(ctx context.Context) (supervision.Settings, error) {
	var s supervision.Settings
	var interval, bmin, bmax, lease int64
	err := db.QueryRowContext(ctx, `SELECT interval_ms, backoff_min_ms, backoff_max_ms, batch_size, parallel, lease_ms FROM supervision_settings WHERE id = 1`).
		Scan(&interval, &bmin, &bmax, &s.Batch, &s.Parallel, &lease)
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	s.Interval, s.BackoffMin, s.BackoffMax, s.Lease = ms(interval), ms(bmin), ms(bmax), ms(lease)
	return s, err
}

// SaveFeedSettings changes the reporter's timings (the patient-key secret
// stays).
func (db *DB) SaveFeedSettings(ctx context.Context, s supervision.Settings) error {
	_, err := db.w.ExecContext(ctx, `UPDATE supervision_settings SET interval_ms = $1, backoff_min_ms = $2, backoff_max_ms = $3, batch_size = $4,
		parallel = $5, lease_ms = $6 WHERE id = 1`, s.Interval.Milliseconds(), s.BackoffMin.Milliseconds(), s.BackoffMax.Milliseconds(), s.Batch,
		s.Parallel, s.Lease.Milliseconds())
	return err
}

const cursorCols = `h.institution, h.last_seq, COALESCE(c.acked_seq, 0), COALESCE(c.attempts, 0), COALESCE(c.last_error, ''),
	COALESCE(c.last_attempt_at, 0), COALESCE(c.last_ack_at, 0), COALESCE(c.next_attempt_at, 0)`

const cursorFrom = ` FROM supervision_heads h LEFT JOIN supervision_cursors c ON c.institution = h.institution`

func scanCursor(row interface{ Scan(...any) error }) (*supervision.Cursor, error) {
	var c supervision.Cursor
	var attempt, ack, next int64
	if err := row.Scan(&c.Institution, &c.HeadSeq, &c.AckedSeq, &c.Attempts, &c.LastError, &attempt, &ack, &next); err != nil {
		return nil, notFound(err)
	}
	c.Lag = max(0, c.HeadSeq-c.AckedSeq)
	c.LastAttemptAt, c.LastAckAt, c.NextAttemptAt = fromMicros(attempt), fromMicros(ack), fromMicros(next)
	return &c, nil
}

func (db *DB) DueOutboxes(ctx context.Context, now time.Time) ([]supervision.Cursor, error) {
	rows, err := db.query(ctx, `SELECT `+cursorCols+cursorFrom+` WHERE h.last_seq > COALESCE(c.acked_seq, 0)
		AND COALESCE(c.next_attempt_at, 0) <= $1 AND COALESCE(c.lease_until, 0) < $1 ORDER BY h.institution`, micros(now))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanCursor)
}

func (db *DB) FeedCursors(ctx context.Context) ([]supervision.Cursor, error) {
	rows, err := db.query(ctx, `SELECT `+cursorCols+cursorFrom+` ORDER BY h.institution`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanCursor)
}

func (db *DB) ClaimOutbox(ctx context.Context, institution, owner string, now, until time.Time) (*supervision.Cursor, bool, error) {
	var c *supervision.Cursor
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var got string
		err := tx.QueryRowContext(ctx, `INSERT INTO supervision_cursors (institution, lease_owner, lease_until) VALUES ($1, $2, $3)
			ON CONFLICT (institution) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
			WHERE supervision_cursors.lease_until < $4 OR supervision_cursors.lease_owner = excluded.lease_owner
			RETURNING institution`, institution, owner, micros(until), micros(now)).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // another server holds it
		}
		if err != nil {
			return err
		}
		c, err = scanCursor(tx.QueryRowContext(ctx, `SELECT `+cursorCols+cursorFrom+` WHERE h.institution = $1`, institution))
		if errs.Is(err, errs.NotFound) {
			c, err = &supervision.Cursor{Institution: institution}, nil // nothing written yet
		}
		return err
	})
	return c, c != nil && err == nil, err
}

func (db *DB) PendingEvents(ctx context.Context, institution string, after int64, limit int) ([]supervision.Pending, error) {
	rows, err := db.query(ctx, `SELECT seq, id, body FROM supervision_outbox WHERE institution = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		institution, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []supervision.Pending
	for rows.Next() {
		var p supervision.Pending
		var body string
		if err := rows.Scan(&p.Seq, &p.ID, &body); err != nil {
			return nil, err
		}
		p.Body = []byte(body)
		out = append(out, p)
	}
	return out, rows.Err()
}

// errClaimLost: another server took the outbox (the claim lapsed).
var errClaimLost = errors.New("supervision: the claim on the outbox was lost")

func claimed(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errClaimLost
	}
	return nil
}

func (db *DB) AckOutbox(ctx context.Context, institution, owner string, acked int64, at, until time.Time) error {
	return claimed(db.w.ExecContext(ctx, `UPDATE supervision_cursors SET acked_seq = $3, attempts = 0, last_error = '', last_attempt_at = $4,
		last_ack_at = $4, next_attempt_at = 0, lease_until = $5 WHERE institution = $1 AND lease_owner = $2`,
		institution, owner, acked, micros(at), micros(until)))
}

func (db *DB) FailOutbox(ctx context.Context, institution, owner, msg string, at, next time.Time) error {
	return claimed(db.w.ExecContext(ctx, `UPDATE supervision_cursors SET attempts = attempts + 1, last_error = $3, last_attempt_at = $4,
		next_attempt_at = $5, lease_owner = '', lease_until = 0 WHERE institution = $1 AND lease_owner = $2`,
		institution, owner, msg, micros(at), micros(next)))
}

func (db *DB) ReleaseOutbox(ctx context.Context, institution, owner string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE supervision_cursors SET lease_owner = '', lease_until = 0 WHERE institution = $1 AND lease_owner = $2`,
		institution, owner)
	return err
}

// Outbox is an institution's outbox in order (tests and the benchmark's
// check): every event after seq, at most limit.
func (db *DB) FeedOutbox(ctx context.Context, institution string, after int64, limit int) ([]supervision.Event, error) {
	pend, err := db.PendingEvents(ctx, institution, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]supervision.Event, len(pend))
	for i, p := range pend {
		if err := json.Unmarshal(p.Body, &out[i]); err != nil {
			return nil, fmt.Errorf("outbox %s/%d: %w", institution, p.Seq, err)
		}
	}
	return out, nil
}

func (db *DB) FeedKey(ctx context.Context, institution string) (string, []byte, error) {
	var pub string
	var sealed []byte
	err := db.QueryRowContext(ctx, `SELECT public_key, sealed FROM supervision_keys WHERE institution = $1`, institution).Scan(&pub, &sealed)
	return pub, sealed, notFound(err)
}

func (db *DB) AddFeedKey(ctx context.Context, institution, pub string, sealed []byte, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO supervision_keys (institution, public_key, sealed, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (institution) DO NOTHING`, institution, pub, sealed, micros(at))
	return err
}

// --- the platform's side ---

func (db *DB) FeedSource(ctx context.Context, institution string) (*supervision.Source, error) {
	var s supervision.Source
	var at int64
	err := db.QueryRowContext(ctx, `SELECT institution, public_key, by_account, updated_at FROM supervision_sources WHERE institution = $1`, institution).
		Scan(&s.Institution, &s.PublicKey, &s.By, &at)
	if err != nil {
		return nil, notFound(err)
	}
	s.UpdatedAt = fromMicros(at)
	return &s, nil
}

func (db *DB) FeedSources(ctx context.Context) ([]supervision.Source, error) {
	rows, err := db.query(ctx, `SELECT institution, public_key, by_account, updated_at FROM supervision_sources ORDER BY institution`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []supervision.Source{}
	for rows.Next() {
		var s supervision.Source
		var at int64
		if err := rows.Scan(&s.Institution, &s.PublicKey, &s.By, &at); err != nil {
			return nil, err
		}
		s.UpdatedAt = fromMicros(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// SaveSource registers (or replaces) the key an institution's batches are
// signed with.
func (db *DB) SaveFeedSource(ctx context.Context, s *supervision.Source) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO supervision_sources (institution, public_key, by_account, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (institution) DO UPDATE SET public_key = excluded.public_key, by_account = excluded.by_account, updated_at = excluded.updated_at`,
		s.Institution, s.PublicKey, s.By, micros(s.UpdatedAt))
	if isForeignKey(err) {
		return errs.E(errs.NotFound)
	}
	return err
}

const receivedCols = `institution, seq, id, kind, department, day, occurred_at, received_at, body`

func (db *DB) ReceiveFeed(ctx context.Context, b *supervision.Batch, at time.Time) (*supervision.Received, error) {
	rec := &supervision.Received{Institution: b.Institution}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		*rec = supervision.Received{Institution: b.Institution}
		// The feed's row: on PostgreSQL the upsert locks it, so two
		// batches of one institution are stored one after the other.
		var last int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO supervision_received (institution) VALUES ($1)
			ON CONFLICT (institution) DO UPDATE SET batches = supervision_received.batches RETURNING last_seq`, b.Institution).Scan(&last); err != nil {
			return err
		}
		evs := b.Events
		first, lastB := evs[0].Seq, evs[len(evs)-1].Seq
		if first <= last {
			// Events it has: ignored when their ids match.
			upto := min(lastB, last)
			rows, err := tx.QueryContext(ctx, `SELECT seq, id FROM supervision_events WHERE institution = $1 AND seq >= $2 AND seq <= $3`,
				b.Institution, first, upto)
			if err != nil {
				return err
			}
			have := map[int64]string{}
			for rows.Next() {
				var seq int64
				var id string
				if err := rows.Scan(&seq, &id); err != nil {
					rows.Close()
					return err
				}
				have[seq] = id
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, e := range evs {
				if e.Seq > upto {
					break
				}
				if have[e.Seq] != e.ID {
					return &errs.Error{Code: supervision.CodeMismatch, Err: fmt.Errorf("event %d: id %s, the platform has %q", e.Seq, e.ID, have[e.Seq])}
				}
				rec.Duplicates++
			}
			evs = evs[upto-first+1:]
		}
		if len(evs) > 0 && evs[0].Seq != last+1 {
			return &supervision.GapError{Institution: b.Institution, Last: last, First: evs[0].Seq}
		}
		skipped := len(b.Events) - len(evs)
		rows := make([][]any, 0, len(evs))
		for i := range evs {
			e := &evs[i]
			var body []byte
			if b.Bodies != nil {
				body = b.Bodies[skipped+i] // as the institution signed it
			} else {
				var err error
				if body, err = e.Canonical(); err != nil {
					return err
				}
			}
			rows = append(rows, []any{e.Institution, e.Seq, e.ID, string(e.Kind), e.Department, e.Day(), micros(e.OccurredAt), micros(at), string(body)})
		}
		if err := db.insertMany(ctx, tx, "supervision_events", receivedCols, rows); err != nil {
			if u, _ := isUnique(err); u {
				return errs.Wrap(supervision.CodeMismatch, err) // an id it has under another number
			}
			return err
		}
		rec.Accepted = len(evs)
		rec.LastSeq = last + int64(len(evs))
		_, err := tx.ExecContext(ctx, `UPDATE supervision_received SET last_seq = $2, head_seq = CASE WHEN head_seq > $3 THEN head_seq ELSE $3 END,
			events = events + $4, duplicates = duplicates + $5, batches = batches + 1, last_received_at = $6 WHERE institution = $1`,
			b.Institution, rec.LastSeq, b.Head, rec.Accepted, rec.Duplicates, micros(at))
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

func (db *DB) RefuseBatch(ctx context.Context, institution, code string, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO supervision_received (institution, last_error, last_error_at) VALUES ($1, $2, $3)
		ON CONFLICT (institution) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at`, institution, code, micros(at))
	return err
}

// Feeds is what the platform has of every institution's feed.
func (db *DB) Feeds(ctx context.Context) ([]supervision.Feed, error) {
	rows, err := db.query(ctx, `SELECT institution, last_seq, head_seq, events, duplicates, batches, last_received_at, last_error, last_error_at
		FROM supervision_received ORDER BY institution`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []supervision.Feed{}
	for rows.Next() {
		var f supervision.Feed
		var recv, errAt int64
		if err := rows.Scan(&f.Institution, &f.LastSeq, &f.HeadSeq, &f.Events, &f.Duplicates, &f.Batches, &recv, &f.LastError, &errAt); err != nil {
			return nil, err
		}
		f.Lag = max(0, f.HeadSeq-f.LastSeq)
		f.LastReceivedAt, f.LastErrorAt = fromMicros(recv), fromMicros(errAt)
		out = append(out, f)
	}
	return out, rows.Err()
}

// ReceivedEvents lists received events: of one institution in order (from
// AfterSeq), else the latest first.
func (db *DB) ReceivedEvents(ctx context.Context, f supervision.Filter) ([]supervision.Event, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Institution != "" {
		where = append(where, "institution = "+arg(f.Institution))
		if f.AfterSeq > 0 {
			where = append(where, "seq > "+arg(f.AfterSeq))
		}
	}
	if f.Kind != "" {
		where = append(where, "kind = "+arg(string(f.Kind)))
	}
	if f.From != "" {
		where = append(where, "day >= "+arg(f.From))
	}
	if f.To != "" {
		where = append(where, "day <= "+arg(f.To))
	}
	q := `SELECT body FROM supervision_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Institution != "" {
		q += ` ORDER BY seq`
	} else {
		q += ` ORDER BY occurred_at DESC, institution, seq DESC`
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	q += ` LIMIT ` + arg(limit)
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []supervision.Event{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var e supervision.Event
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CountReceived counts the received events by institution, kind and
// Beijing day, from one day to another (inclusive; "" open), for the
// regulator's dashboards.
func (db *DB) CountReceived(ctx context.Context, institution, from, to string) ([]supervision.Count, error) {
	rows, err := db.query(ctx, `SELECT institution, kind, day, COUNT(*) FROM supervision_events
		WHERE ($1 = '' OR institution = $1) AND ($2 = '' OR day >= $2) AND ($3 = '' OR day <= $3)
		GROUP BY institution, kind, day ORDER BY day, institution, kind`, institution, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []supervision.Count{}
	for rows.Next() {
		var c supervision.Count
		var kind string
		if err := rows.Scan(&c.Institution, &kind, &c.Day, &c.Events); err != nil {
			return nil, err
		}
		c.Kind = supervision.Kind(kind)
		out = append(out, c)
	}
	return out, rows.Err()
}
