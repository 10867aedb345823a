package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Guests in a visit's call (issue 14). Only hashes of the link's and the
// session's tokens are stored; a link is spent by the compare-and-set that
// opens the session.

const guestCols = `id, visit_id, role, phone, name, licence_no, invited_by, csrf, expires_at, joined_at, left_at, removed_at, removed_by,
	present_at, present_by, created_at`

type guestScanner interface{ Scan(...any) error }

func scanGuest(row guestScanner) (*visit.Guest, error) {
	var g visit.Guest
	var role string
	var exp, joined, left, removed, present, created int64
	if err := row.Scan(&g.ID, &g.VisitID, &role, &g.Phone, &g.Name, &g.Licence, &g.InvitedBy, &g.CSRF, &exp, &joined, &left, &removed,
		&g.RemovedBy, &present, &g.PresentBy, &created); err != nil {
		return nil, notFound(err)
	}
	g.Role = visit.GuestRole(role)
	g.ExpiresAt, g.JoinedAt, g.LeftAt, g.RemovedAt = fromMicros(exp), fromMicros(joined), fromMicros(left), fromMicros(removed)
	g.PresentAt, g.CreatedAt = fromMicros(present), fromMicros(created)
	return &g, nil
}

// CreateGuest stores an invitation with its link's hash; at most max
// guests (not removed) per visit.
func (db *DB) CreateGuest(ctx context.Context, g *visit.Guest, linkHash []byte, max int) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM visit_guests WHERE visit_id = $1 AND removed_at = 0`, g.VisitID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return errs.E("guest_limit", max)
		}
		return tx.QueryRowContext(ctx, `INSERT INTO visit_guests (visit_id, role, phone, name, invited_by, link_hash, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			g.VisitID, string(g.Role), g.Phone, g.Name, g.InvitedBy, linkHash, micros(g.ExpiresAt), micros(g.CreatedAt)).Scan(&g.ID)
	})
}

// GuestByLink is the invitation of an unspent, unexpired, not removed
// link (the join form shows its role).
func (db *DB) GuestByLink(ctx context.Context, linkHash []byte, now time.Time) (*visit.Guest, error) {
	return scanGuest(db.w.QueryRowContext(ctx, `SELECT `+guestCols+` FROM visit_guests
		WHERE link_hash = $1 AND joined_at = 0 AND removed_at = 0 AND expires_at > $2`, linkHash, micros(now)))
}

// RedeemGuestLink spends a link once: it records the guest's real name
// (and licence) and the session's hash. A used, expired or removed link is
// not_found.
func (db *DB) RedeemGuestLink(ctx context.Context, linkHash, sessionHash []byte, name, licence, csrf string, now time.Time) (*visit.Guest, error) {
	return scanGuest(db.w.QueryRowContext(ctx, `UPDATE visit_guests SET joined_at = $3, name = $4, licence_no = $5, session_hash = $2, csrf = $6
		WHERE link_hash = $1 AND joined_at = 0 AND removed_at = 0 AND expires_at > $3 RETURNING `+guestCols,
		linkHash, sessionHash, micros(now), name, licence, csrf))
}

// GuestBySession is the guest of a session token's hash (whatever its
// state: the caller judges it with Admitted).
func (db *DB) GuestBySession(ctx context.Context, sessionHash []byte) (*visit.Guest, error) {
	return scanGuest(db.w.QueryRowContext(ctx, `SELECT `+guestCols+` FROM visit_guests WHERE session_hash = $1`, sessionHash))
}

// VisitGuest is one guest of a visit.
func (db *DB) VisitGuest(ctx context.Context, visitID, id int64) (*visit.Guest, error) {
	return scanGuest(db.w.QueryRowContext(ctx, `SELECT `+guestCols+` FROM visit_guests WHERE visit_id = $1 AND id = $2`, visitID, id))
}

// VisitGuests are a visit's guests in invitation order.
func (db *DB) VisitGuests(ctx context.Context, visitID int64) ([]visit.Guest, error) {
	rows, err := db.w.QueryContext(ctx, `SELECT `+guestCols+` FROM visit_guests WHERE visit_id = $1 ORDER BY id`, visitID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []visit.Guest{}
	for rows.Next() {
		g, err := scanGuest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

// RemoveGuest removes a guest (once): the link and the session stop
// working.
func (db *DB) RemoveGuest(ctx context.Context, visitID, id, by int64, now time.Time) (*visit.Guest, error) {
	return scanGuest(db.w.QueryRowContext(ctx, `UPDATE visit_guests SET removed_at = $3, removed_by = $4
		WHERE visit_id = $1 AND id = $2 AND removed_at = 0 RETURNING `+guestCols, visitID, id, micros(now), by))
}

// GuestLeft ends a guest's session at the guest's own request.
func (db *DB) GuestLeft(ctx context.Context, id int64, now time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE visit_guests SET left_at = $2 WHERE id = $1 AND left_at = 0`, id, micros(now))
	return err
}

// GuestClinicianPresent records (N-4) that a joined guest clinician is
// with the child.
func (db *DB) GuestClinicianPresent(ctx context.Context, visitID, id, by int64, now time.Time) (*visit.Guest, error) {
	return scanGuest(db.w.QueryRowContext(ctx, `UPDATE visit_guests SET present_at = $3, present_by = $4
		WHERE visit_id = $1 AND id = $2 AND role = 'clinician' AND joined_at > 0 AND removed_at = 0 RETURNING `+guestCols,
		visitID, id, micros(now), by))
}

// ClinicianPresent is the guest clinician the doctor recorded as present
// in a visit (the first), or nil.
func (db *DB) ClinicianPresent(ctx context.Context, visitID int64) (*visit.Guest, error) {
	g, err := scanGuest(db.w.QueryRowContext(ctx, `SELECT `+guestCols+` FROM visit_guests
		WHERE visit_id = $1 AND role = 'clinician' AND present_at > 0 ORDER BY present_at LIMIT 1`, visitID))
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	return g, err
}
