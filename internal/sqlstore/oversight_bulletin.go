package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/oversight"
)

var _ oversight.BulletinStore = (*DB)(nil)

// Evaluation bulletins (G-4): each write is a compare-and-set on the draft
// state, so that a published bulletin never changes, whichever server is
// asked.

const bulletinCols = `id, period, year, number, label, from_day, to_day, title, commentary, state, figures, created_by, created_at, updated_at,
	published_by, published_at`

func scanBulletin(row interface{ Scan(...any) error }) (*oversight.Bulletin, error) {
	var b oversight.Bulletin
	var period, state, figures string
	var created, updated, published int64
	if err := row.Scan(&b.ID, &period, &b.Year, &b.Number, &b.Label, &b.From, &b.To, &b.Title, &b.Commentary, &state, &figures, &b.CreatedBy,
		&created, &updated, &b.PublishedBy, &published); err != nil {
		return nil, notFound(err)
	}
	b.Period, b.State = oversight.BulletinPeriod(period), oversight.BulletinState(state)
	b.CreatedAt, b.UpdatedAt, b.PublishedAt = fromMicros(created), fromMicros(updated), fromMicros(published)
	if figures != "" {
		b.Figures = &oversight.Dashboard{}
		if err := json.Unmarshal([]byte(figures), b.Figures); err != nil {
			return nil, err
		}
	}
	return &b, nil
}

func (db *DB) CreateBulletin(ctx context.Context, b *oversight.Bulletin, e *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO oversight_bulletins (period, year, number, label, from_day, to_day, title, commentary, state,
			created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			string(b.Period), b.Year, b.Number, b.Label, b.From, b.To, b.Title, b.Commentary, string(b.State), b.CreatedBy, micros(b.CreatedAt),
			micros(b.UpdatedAt)).Scan(&b.ID)
		if u, _ := isUnique(err); u {
			return errs.E(oversight.CodeBulletinExists, b.Label)
		}
		if err != nil {
			return err
		}
		if e != nil {
			e.ObjectID = strconv.FormatInt(b.ID, 10)
		}
		return db.commitWith(ctx, tx, nil, e)
	})
}

func (db *DB) Bulletin(ctx context.Context, id int64) (*oversight.Bulletin, error) {
	return scanBulletin(db.QueryRowContext(ctx, `SELECT `+bulletinCols+` FROM oversight_bulletins WHERE id = $1`, id))
}

func (db *DB) Bulletins(ctx context.Context, publishedOnly bool) ([]oversight.Bulletin, error) {
	q := `SELECT ` + bulletinCols + ` FROM oversight_bulletins`
	if publishedOnly {
		q += ` WHERE state = 'published'`
	}
	rows, err := db.query(ctx, q+` ORDER BY from_day DESC, period, id DESC LIMIT 500`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanBulletin)
}

// stillDraft turns a compare-and-set that changed nothing into the right
// error: the bulletin is published, or gone.
func stillDraft(ctx context.Context, tx *sql.Tx, res sql.Result, id int64) error {
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return err
	}
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM oversight_bulletins WHERE id = $1`, id).Scan(&state); err != nil {
		return notFound(err)
	}
	return errs.E(oversight.CodeBulletinPublished)
}

func (db *DB) SaveBulletin(ctx context.Context, b *oversight.Bulletin, e *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oversight_bulletins SET title = $2, commentary = $3, updated_at = $4 WHERE id = $1 AND state = 'draft'`,
			b.ID, b.Title, b.Commentary, micros(b.UpdatedAt))
		if err != nil {
			return err
		}
		if err := stillDraft(ctx, tx, res, b.ID); err != nil {
			return err
		}
		return db.commitWith(ctx, tx, nil, e)
	})
}

func (db *DB) PublishBulletin(ctx context.Context, b *oversight.Bulletin, e *audit.Entry) error {
	figures, err := json.Marshal(b.Figures)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oversight_bulletins SET state = 'published', figures = $2, published_by = $3, published_at = $4,
			updated_at = $4, title = $5, commentary = $6 WHERE id = $1 AND state = 'draft'`, b.ID, string(figures), b.PublishedBy, micros(b.PublishedAt),
			b.Title, b.Commentary)
		if err != nil {
			return err
		}
		if err := stillDraft(ctx, tx, res, b.ID); err != nil {
			return err
		}
		return db.commitWith(ctx, tx, nil, e)
	})
}
