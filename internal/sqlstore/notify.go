package sqlstore

import (
	"context"
	"time"

	"github.com/yunyi-health/yunyi/internal/notify"
)

var _ notify.Store = (*DB)(nil)

func (db *DB) Notify(ctx context.Context, n *notify.Notification) error {
	return insertNotice(ctx, db.w, n)
}

const noticeCols = `account_id, kind, title, body, title_en, body_en, ref, created_at`

func insertNotice(ctx context.Context, q querier, n *notify.Notification) error {
	return q.QueryRowContext(ctx, `INSERT INTO notifications (account_id, kind, title, body, title_en, body_en, ref, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, n.AccountID, n.Kind, n.Title, n.Body, n.TitleEN, n.BodyEN, n.Ref, micros(n.CreatedAt)).Scan(&n.ID)
}

func (db *DB) Inbox(ctx context.Context, accountID int64, limit int) ([]notify.Notification, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := db.query(ctx, `SELECT id, account_id, kind, title, body, title_en, body_en, ref, created_at, read_at
		FROM notifications WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []notify.Notification{}
	for rows.Next() {
		var n notify.Notification
		var created, read int64
		if err := rows.Scan(&n.ID, &n.AccountID, &n.Kind, &n.Title, &n.Body, &n.TitleEN, &n.BodyEN, &n.Ref, &created, &read); err != nil {
			return nil, err
		}
		n.CreatedAt, n.ReadAt = fromMicros(created), fromMicros(read)
		out = append(out, n)
	}
	return out, rows.Err()
}

func (db *DB) MarkRead(ctx context.Context, accountID, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE notifications SET read_at = $3 WHERE id = $1 AND account_id = $2 AND read_at = 0`, id, accountID, micros(at))
	if err != nil {
		return err
	}
	return mustAffect(res)
}
