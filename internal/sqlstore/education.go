package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/yunyi-health/yunyi/internal/education"
)

var _ education.Store = (*DB)(nil)

const articleCols = `a.id, a.institution, a.specialty, a.title, a.title_en, a.body, a.source, a.created_at`

func scanArticle(row interface{ Scan(...any) error }) (*education.Article, error) {
	var a education.Article
	var created int64
	if err := row.Scan(&a.ID, &a.Institution, &a.Specialty, &a.Title, &a.TitleEN, &a.Body, &a.Source, &created); err != nil {
		return nil, notFound(err)
	}
	a.CreatedAt = fromMicros(created)
	return &a, nil
}

// SaveArticle inserts an article (ID 0) or replaces one.
func (db *DB) SaveArticle(ctx context.Context, a *education.Article) error {
	if a.ID == 0 {
		return db.w.QueryRowContext(ctx, `INSERT INTO education_articles (institution, specialty, title, title_en, body, source, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, a.Institution, a.Specialty, a.Title, a.TitleEN, a.Body, a.Source, micros(a.CreatedAt)).Scan(&a.ID)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE education_articles SET institution = $2, specialty = $3, title = $4, title_en = $5, body = $6, source = $7
		WHERE id = $1`, a.ID, a.Institution, a.Specialty, a.Title, a.TitleEN, a.Body, a.Source)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(sql.ErrNoRows)
	}
	return nil
}

// Articles are an institution's articles, by specialty then id.
func (db *DB) Articles(ctx context.Context, institution string) ([]education.Article, error) {
	rows, err := db.query(ctx, `SELECT `+articleCols+` FROM education_articles a WHERE a.institution = $1 ORDER BY a.specialty, a.id`, institution)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanArticle)
}

// AttachArticles attaches articles to a visit; one already attached stays
// as it was.
func (db *DB) AttachArticles(ctx context.Context, visitID int64, ids []int64, by int64, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var next int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM visit_education WHERE visit_id = $1`, visitID).Scan(&next); err != nil {
			return err
		}
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `INSERT INTO visit_education (visit_id, article_id, position, attached_by, attached_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (visit_id, article_id) DO NOTHING`, visitID, id, next+1, by, micros(at))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				next++
			}
		}
		return nil
	})
}

// VisitArticles are the articles attached to a visit, in the order
// attached.
func (db *DB) VisitArticles(ctx context.Context, visitID int64) ([]education.Article, error) {
	rows, err := db.query(ctx, `SELECT `+articleCols+` FROM visit_education v JOIN education_articles a ON a.id = v.article_id
		WHERE v.visit_id = $1 ORDER BY v.position, a.id`, visitID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanArticle)
}
