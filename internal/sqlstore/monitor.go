package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"github.com/yunyi-health/yunyi/internal/crawl"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

var _ monitor.Store = (*DB)(nil)

const sourceCols = `id, name, media, kind, url, link_selector, title_selector, date_selector, body_selector, active, interval_min, last_crawl, last_error, last_count`

func scanSource(row interface{ Scan(...any) error }) (*monitor.Source, error) {
	var s monitor.Source
	var kind string
	var last int64
	if err := row.Scan(&s.ID, &s.Name, &s.Media, &kind, &s.URL, &s.LinkSelector, &s.TitleSelector, &s.DateSelector, &s.BodySelector,
		&s.Active, &s.IntervalMin, &last, &s.LastError, &s.LastCount); err != nil {
		return nil, notFound(err)
	}
	s.Kind, s.LastCrawl = monitor.SourceKind(kind), fromMicros(last)
	return &s, nil
}

func (db *DB) SaveSource(ctx context.Context, s *monitor.Source) error {
	if s.ID == 0 {
		return db.w.QueryRowContext(ctx, `INSERT INTO monitor_sources (name, media, kind, url, link_selector, title_selector, date_selector, body_selector, active, interval_min)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`, s.Name, s.Media, string(s.Kind), s.URL, s.LinkSelector, s.TitleSelector,
			s.DateSelector, s.BodySelector, s.Active, s.IntervalMin).Scan(&s.ID)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE monitor_sources SET name = $2, media = $3, kind = $4, url = $5, link_selector = $6, title_selector = $7,
		date_selector = $8, body_selector = $9, active = $10, interval_min = $11 WHERE id = $1`, s.ID, s.Name, s.Media, string(s.Kind), s.URL,
		s.LinkSelector, s.TitleSelector, s.DateSelector, s.BodySelector, s.Active, s.IntervalMin)
	if err != nil {
		return err
	}
	return mustAffect(res)
}

func (db *DB) Sources(ctx context.Context) ([]monitor.Source, error) {
	rows, err := db.query(ctx, `SELECT `+sourceCols+` FROM monitor_sources ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []monitor.Source{}
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}

func (db *DB) Source(ctx context.Context, id int64) (*monitor.Source, error) {
	return scanSource(db.QueryRowContext(ctx, `SELECT `+sourceCols+` FROM monitor_sources WHERE id = $1`, id))
}

func (db *DB) RecordCrawl(ctx context.Context, sourceID int64, at time.Time, count int, errText string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE monitor_sources SET last_crawl = $2, last_count = $3, last_error = $4 WHERE id = $1`, sourceID, micros(at), count, errText)
	return err
}

func (db *DB) FetchState(ctx context.Context, url string) (string, string, error) {
	var etag, lm string
	err := db.QueryRowContext(ctx, `SELECT etag, last_modified FROM monitor_fetch_state WHERE url = $1`, url).Scan(&etag, &lm)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return etag, lm, err
}

func (db *DB) SaveFetchState(ctx context.Context, url, etag, lastModified string) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO monitor_fetch_state (url, etag, last_modified) VALUES ($1, $2, $3)
		ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified`, url, etag, lastModified)
	return err
}

// UpsertItem stores an item by URL, merging it with a near-duplicate of
// the same period (the earliest publication stays the item; the others are
// its reposts).
func (db *DB) UpsertItem(ctx context.Context, it *monitor.Item) (bool, error) {
	n, err := db.UpsertItems(ctx, []*monitor.Item{it})
	return n > 0, err
}

// fpBands splits the 64-bit fingerprint into four 16-bit bands: two
// fingerprints at most 3 bits apart (monitor.NearDuplicate) differ in at
// most three bands, so they share at least one.
const fpBands = 4

// itemChunk is how many items one round of statements stores (the
// insert's 14 columns stay under SQLite's 999 parameters).
const itemChunk = 64

// UpsertItems stores many items in one transaction; it returns how many
// were new or changed. Each chunk of items takes a handful of statements
// whatever its size: the stored items by URL, one insert of the new ones,
// one lookup of repost candidates by fingerprint band, the candidates'
// dates, one insert of the bands; merges are decided in memory, in the
// items' order, exactly as storing them one by one would.
func (db *DB) UpsertItems(ctx context.Context, items []*monitor.Item) (int, error) {
	n := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		for len(items) > 0 {
			// A chunk ends before a URL it already holds (the second is then
			// an update of the first).
			k, seen := 0, map[string]bool{}
			for ; k < len(items) && k < itemChunk && !seen[items[k].URL]; k++ {
				seen[items[k].URL] = true
			}
			used, c, err := db.upsertChunk(ctx, tx, items[:k])
			if err != nil {
				return err
			}
			n += c
			items = items[used:]
		}
		return nil
	})
	return n, err
}

// params is "$from, $from+1, ..., $from+n-1".
func params(from, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("$" + strconv.Itoa(from+i))
	}
	return sb.String()
}

func bandValue(fp uint64, b int) int64 { return int64((fp >> (16 * b)) & 0xffff) }

// mergeState is what deciding a merge needs of an item.
type mergeState struct {
	published   string
	duplicateOf int64
}

// upsertChunk stores the first items of a chunk: all of them, or those
// before the second stored item that changed (a changed item is taken
// first in a chunk, so that no item before it sees it changed). It
// returns how many items it took and how many of them were new or changed.
func (db *DB) upsertChunk(ctx context.Context, tx *sql.Tx, items []*monitor.Item) (used, changed int, err error) {
	// Stored items with these URLs.
	type stored struct {
		id               int64
		title, published string
		fingerprint      int64
	}
	have := map[string]stored{}
	urls := make([]any, len(items))
	for i, it := range items {
		urls[i] = it.URL
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, url, title, published, fingerprint FROM monitor_items WHERE url IN (`+params(1, len(urls))+`)`, urls...)
	if err != nil {
		return 0, 0, err
	}
	for rows.Next() {
		var x stored
		var url string
		if err := rows.Scan(&x.id, &url, &x.title, &x.published, &x.fingerprint); err != nil {
			rows.Close()
			return 0, 0, err
		}
		have[url] = x
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	// Unchanged items are done; changed ones are updated (their bands
	// dropped, their merge decided again); new ones are inserted together.
	for k, it := range items {
		x, ok := have[it.URL]
		if k > 0 && ok && (x.title != it.Title || x.published != it.Published || x.fingerprint != int64(it.Fingerprint)) {
			items = items[:k]
			break
		}
	}
	var merge, fresh []*monitor.Item // merge: changed and new, in order
	for _, it := range items {
		x, ok := have[it.URL]
		switch {
		case ok && x.title == it.Title && x.published == it.Published && x.fingerprint == int64(it.Fingerprint):
			it.ID = x.id
		case ok:
			it.ID = x.id
			if _, err := tx.ExecContext(ctx, `UPDATE monitor_items SET title = $2, published = $3, body = $4, summary = $5, fetched_at = $6, score = $7,
				terms = $8, threshold = $9, fingerprint = $10, sentiment = $11, sentiment_words = $12, duplicate_of = 0 WHERE id = $1`, it.ID, it.Title, it.Published, it.Text,
				it.Summary, micros(it.FetchedAt), it.Score, strings.Join(it.Terms, ","), it.Threshold, int64(it.Fingerprint), string(it.Sentiment),
				strings.Join(it.Feeling, ",")); err != nil {
				return 0, 0, err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM monitor_bands WHERE item_id = $1`, it.ID); err != nil {
				return 0, 0, err
			}
			merge = append(merge, it)
		default:
			fresh = append(fresh, it)
			merge = append(merge, it)
		}
	}
	if len(fresh) > 0 {
		const cols = 14
		var sb strings.Builder
		args := make([]any, 0, cols*len(fresh))
		sb.WriteString(`INSERT INTO monitor_items (source_id, url, title, media, published, body, summary, fetched_at, score, terms, threshold,
			fingerprint, sentiment, sentiment_words) VALUES `)
		for i, it := range fresh {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(" + params(len(args)+1, cols) + ")")
			args = append(args, it.SourceID, it.URL, it.Title, it.Media, it.Published, it.Text, it.Summary, micros(it.FetchedAt), it.Score,
				strings.Join(it.Terms, ","), it.Threshold, int64(it.Fingerprint), string(it.Sentiment), strings.Join(it.Feeling, ","))
		}
		sb.WriteString(" RETURNING id, url")
		byURL := map[string]*monitor.Item{}
		for _, it := range fresh {
			byURL[it.URL] = it
		}
		rows, err := tx.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			var id int64
			var url string
			if err := rows.Scan(&id, &url); err != nil {
				rows.Close()
				return 0, 0, err
			}
			byURL[url].ID = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, 0, err
		}
	}
	if len(merge) > 0 {
		err = db.mergeDuplicates(ctx, tx, merge)
	}
	return len(items), len(merge), err
}

// mergeDuplicates links each item with a near-duplicate published within
// 60 days: the earliest publication is the item, the others its reposts.
// Candidates are the stored items sharing one of the four 16-bit bands of
// the fingerprint (an index range holding a handful of items, with their
// fingerprints) and the items before it in the list; the exact distance
// decides, then the candidate: not itself a repost, published within the
// period. The items' own bands are stored last.
func (db *DB) mergeDuplicates(ctx context.Context, tx *sql.Tx, items []*monitor.Item) error {
	// One lookup of every band value of every item.
	var parts []string
	var args []any
	for b := 0; b < fpBands; b++ {
		vals := make([]any, len(items))
		for i, it := range items {
			vals[i] = bandValue(it.Fingerprint, b)
		}
		parts = append(parts, `SELECT item_id, fingerprint FROM monitor_bands WHERE band = `+strconv.Itoa(b)+` AND value IN (`+params(len(args)+1, len(vals))+`)`)
		args = append(args, vals...)
	}
	stored := map[int64]uint64{} // stored candidates' fingerprints
	rows, err := tx.QueryContext(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, fp int64
		if err := rows.Scan(&id, &fp); err != nil {
			rows.Close()
			return err
		}
		stored[id] = uint64(fp)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Only near candidates matter: their dates and whether they are reposts.
	near := map[int64][]int64{}
	var ids []any
	for _, it := range items {
		for id, fp := range stored {
			if id != it.ID && monitor.NearDuplicate(fp, it.Fingerprint) {
				if len(near[id]) == 0 {
					ids = append(ids, id)
				}
				near[id] = append(near[id], it.ID)
			}
		}
	}
	state := map[int64]*mergeState{}
	if len(ids) > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT id, published, duplicate_of FROM monitor_items WHERE id IN (`+params(1, len(ids))+`)`, ids...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var st mergeState
			if err := rows.Scan(&id, &st.published, &st.duplicateOf); err != nil {
				rows.Close()
				return err
			}
			state[id] = &st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for i, it := range items {
		type cand struct {
			id        int64
			published string
		}
		var cands []cand
		for id := range state {
			if slices.Contains(near[id], it.ID) && state[id].duplicateOf == 0 {
				cands = append(cands, cand{id, state[id].published})
			}
		}
		for _, o := range items[:i] {
			if o.ID != it.ID && monitor.NearDuplicate(o.Fingerprint, it.Fingerprint) && state[o.ID].duplicateOf == 0 {
				cands = append(cands, cand{o.ID, o.Published})
			}
		}
		state[it.ID] = &mergeState{published: it.Published}
		day, err := time.Parse("2006-01-02", it.Published)
		if err != nil || len(cands) == 0 {
			continue
		}
		from, to := day.AddDate(0, 0, -60).Format("2006-01-02"), day.AddDate(0, 0, 60).Format("2006-01-02")
		sort.Slice(cands, func(a, b int) bool {
			if cands[a].published != cands[b].published {
				return cands[a].published < cands[b].published
			}
			return cands[a].id < cands[b].id
		})
		var primary int64
		var primaryDate string
		for _, c := range cands {
			if c.published >= from && c.published <= to {
				primary, primaryDate = c.id, c.published
				break
			}
		}
		if primary == 0 {
			continue
		}
		if it.Published < primaryDate {
			// This one ran first: it becomes the item; the others follow it.
			for id, st := range state {
				if id == primary || st.duplicateOf == primary {
					st.duplicateOf = it.ID
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE monitor_items SET duplicate_of = $1 WHERE id = $2 OR duplicate_of = $2`, it.ID, primary); err != nil {
				return err
			}
			continue
		}
		it.DuplicateOf = primary
		state[it.ID].duplicateOf = primary
		if _, err := tx.ExecContext(ctx, `UPDATE monitor_items SET duplicate_of = $1 WHERE id = $2`, primary, it.ID); err != nil {
			return err
		}
	}
	bands := make([][]any, 0, fpBands*len(items))
	for _, it := range items {
		for b := 0; b < fpBands; b++ {
			bands = append(bands, []any{b, bandValue(it.Fingerprint, b), it.ID, int64(it.Fingerprint)})
		}
	}
	return db.insertMany(ctx, tx, "monitor_bands", "band, value, item_id, fingerprint", bands)
}

const itemCols = `id, source_id, url, title, media, published, body, summary, fetched_at, score, terms, threshold, override, fingerprint, duplicate_of,
	sentiment, sentiment_words`

func scanItem(row interface{ Scan(...any) error }) (*monitor.Item, error) {
	var it monitor.Item
	var fetched, fp int64
	var terms, sentiment, feeling string
	var override int
	if err := row.Scan(&it.ID, &it.SourceID, &it.URL, &it.Title, &it.Media, &it.Published, &it.Text, &it.Summary, &fetched, &it.Score, &terms,
		&it.Threshold, &override, &fp, &it.DuplicateOf, &sentiment, &feeling); err != nil {
		return nil, notFound(err)
	}
	it.Sentiment, it.Feeling = monitor.Sentiment(sentiment), splitList(feeling)
	it.FetchedAt, it.Fingerprint = fromMicros(fetched), uint64(fp)
	it.Terms = splitList(terms)
	if override >= 0 {
		v := override == 1
		it.Override = &v
	}
	it.Relevant = it.Verdict()
	it.Reposts = []monitor.Repost{}
	return &it, nil
}

// Items lists the items of a period (merged reposts listed on their item).
func (db *DB) Items(ctx context.Context, f monitor.ItemFilter) ([]monitor.Item, error) {
	if f.Limit <= 0 || f.Limit > 5000 {
		f.Limit = 1000
	}
	rows, err := db.query(ctx, `SELECT `+itemCols+` FROM monitor_items WHERE ($1 = '' OR published >= $1) AND ($2 = '' OR published <= $2)
		ORDER BY published, id LIMIT $3`, f.From, f.To, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []monitor.Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, *it)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	idx := map[int64]int{}
	out := []monitor.Item{}
	for _, it := range all {
		if it.DuplicateOf == 0 {
			idx[it.ID] = len(out)
			out = append(out, it)
		}
	}
	for _, it := range all {
		if k, ok := idx[it.DuplicateOf]; ok && it.DuplicateOf != 0 {
			out[k].Reposts = append(out[k].Reposts, monitor.Repost{Media: it.Media, Title: it.Title, URL: it.URL, Published: it.Published})
		}
	}
	if f.Relevant != nil {
		kept := out[:0]
		for _, it := range out {
			if it.Relevant == *f.Relevant {
				kept = append(kept, it)
			}
		}
		out = kept
	}
	return out, nil
}

// SetItemSummary stores the summary of an item kept after it was collected.
func (db *DB) SetItemSummary(ctx context.Context, id int64, summary string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE monitor_items SET summary = $2 WHERE id = $1 AND summary = ''`, id, summary)
	return err
}

// Item loads one item.
func (db *DB) Item(ctx context.Context, id int64) (*monitor.Item, error) {
	return scanItem(db.QueryRowContext(ctx, `SELECT `+itemCols+` FROM monitor_items WHERE id = $1`, id))
}

func (db *DB) SetOverride(ctx context.Context, id int64, v *bool) error {
	o := -1
	if v != nil {
		o = map[bool]int{false: 0, true: 1}[*v]
	}
	res, err := db.w.ExecContext(ctx, `UPDATE monitor_items SET override = $2 WHERE id = $1`, id, o)
	if err != nil {
		return err
	}
	return mustAffect(res)
}

func (db *DB) Taxonomy(ctx context.Context) (monitor.Taxonomy, error) {
	rows, err := db.query(ctx, `SELECT topic, term, weight FROM monitor_terms ORDER BY topic, term`)
	if err != nil {
		return monitor.Taxonomy{}, err
	}
	defer rows.Close()
	var t monitor.Taxonomy
	for rows.Next() {
		var x monitor.Term
		if err := rows.Scan(&x.Topic, &x.Term, &x.Weight); err != nil {
			return t, err
		}
		t.Terms = append(t.Terms, x)
	}
	if err := rows.Err(); err != nil {
		return t, err
	}
	if len(t.Terms) == 0 {
		return monitor.DefaultTaxonomy(), nil
	}
	var th string
	if err := db.QueryRowContext(ctx, `SELECT value FROM monitor_settings WHERE key = 'threshold'`).Scan(&th); err == nil {
		t.Threshold, _ = strconv.ParseFloat(th, 64)
	} else {
		t.Threshold = monitor.DefaultTaxonomy().Threshold
	}
	return t, nil
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func (db *DB) Lexicon(ctx context.Context) (monitor.Lexicon, error) {
	var raw string
	err := db.QueryRowContext(ctx, `SELECT value FROM monitor_settings WHERE key = 'lexicon'`).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return monitor.DefaultLexicon(), nil
	}
	if err != nil {
		return monitor.Lexicon{}, err
	}
	var l monitor.Lexicon
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return monitor.Lexicon{}, err
	}
	return l, nil
}

func (db *DB) SaveLexicon(ctx context.Context, l monitor.Lexicon) error {
	raw, _ := json.Marshal(l)
	_, err := db.w.ExecContext(ctx, `INSERT INTO monitor_settings (key, value) VALUES ('lexicon', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, string(raw))
	return err
}

func (db *DB) SaveTaxonomy(ctx context.Context, t monitor.Taxonomy) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM monitor_terms`); err != nil {
			return err
		}
		var rows [][]any
		for _, x := range t.Terms {
			rows = append(rows, []any{x.Topic, x.Term, x.Weight})
		}
		if err := db.insertMany(ctx, tx, "monitor_terms", "topic, term, weight", rows); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO monitor_settings (key, value) VALUES ('threshold', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			strconv.FormatFloat(t.Threshold, 'f', -1, 64))
		return err
	})
}

func (db *DB) CreateReport(ctx context.Context, r *monitor.Report) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO monitor_reports (number, from_day, to_day, issue_date, publisher, scope, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, r.Number, r.From, r.To, r.Date, r.Publisher, r.Scope, r.Status, micros(db.now())).Scan(&r.ID); err != nil {
			return err
		}
		return db.writeReportItems(ctx, tx, r)
	})
	if ok, _ := isUnique(err); ok {
		var f errs.Fields
		f.Add("number", "duplicate")
		return f.Err()
	}
	return err
}

func (db *DB) writeReportItems(ctx context.Context, tx *sql.Tx, r *monitor.Report) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM monitor_report_items WHERE report_id = $1`, r.ID); err != nil {
		return err
	}
	var rows [][]any
	for i, it := range r.Items {
		rows = append(rows, []any{r.ID, i, it.ItemID, it.Title, it.Media, it.Published, it.URL, it.Summary, it.Included})
	}
	return db.insertMany(ctx, tx, "monitor_report_items", "report_id, position, item_id, title, media, published, url, summary, included", rows)
}

// SaveReport writes a draft's fields and items, or its publication; a
// published report is never changed.
func (db *DB) SaveReport(ctx context.Context, r *monitor.Report) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE monitor_reports SET issue_date = $2, publisher = $3, scope = $4, status = $5, published_at = $6
			WHERE id = $1 AND status = 'draft'`, r.ID, r.Date, r.Publisher, r.Scope, r.Status, micros(r.PublishedAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E("report_published")
		}
		return db.writeReportItems(ctx, tx, r)
	})
}

func (db *DB) Report(ctx context.Context, id int64) (*monitor.Report, error) {
	r := &monitor.Report{ID: id}
	var published int64
	err := db.QueryRowContext(ctx, `SELECT number, from_day, to_day, issue_date, publisher, scope, status, published_at FROM monitor_reports WHERE id = $1`, id).
		Scan(&r.Number, &r.From, &r.To, &r.Date, &r.Publisher, &r.Scope, &r.Status, &published)
	if err != nil {
		return nil, notFound(err)
	}
	r.PublishedAt = fromMicros(published)
	rows, err := db.query(ctx, `SELECT item_id, title, media, published, url, summary, included FROM monitor_report_items WHERE report_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r.Items = []monitor.ReportItem{}
	for rows.Next() {
		var it monitor.ReportItem
		if err := rows.Scan(&it.ItemID, &it.Title, &it.Media, &it.Published, &it.URL, &it.Summary, &it.Included); err != nil {
			return nil, err
		}
		r.Items = append(r.Items, it)
	}
	return r, rows.Err()
}

func (db *DB) Reports(ctx context.Context) ([]monitor.Report, error) {
	ids, err := db.IDs(ctx, `SELECT id FROM monitor_reports ORDER BY number DESC`)
	if err != nil {
		return nil, err
	}
	out := []monitor.Report{}
	for _, id := range ids {
		r, err := db.Report(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

func (db *DB) LastReportNumber(ctx context.Context) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM monitor_reports`).Scan(&n)
	return n, err
}

var _ crawl.RunStore = (*DB)(nil)

func (db *DB) CreateRun(ctx context.Context, r *crawl.Run) error {
	src, _ := json.Marshal(r.Sources)
	return db.w.QueryRowContext(ctx, `INSERT INTO monitor_crawls (status, started, sources, by_account) VALUES ($1, $2, $3, $4) RETURNING id`,
		r.Status, micros(r.Started), string(src), r.By).Scan(&r.ID)
}

func (db *DB) UpdateRun(ctx context.Context, r *crawl.Run) error {
	src, _ := json.Marshal(r.Sources)
	_, err := db.w.ExecContext(ctx, `UPDATE monitor_crawls SET status = $2, finished = $3, sources = $4, error = $5 WHERE id = $1`,
		r.ID, r.Status, micros(r.Finished), string(src), r.Error)
	return err
}

func (db *DB) Run(ctx context.Context, id int64) (*crawl.Run, error) {
	var r crawl.Run
	var started, finished int64
	var src string
	if err := db.QueryRowContext(ctx, `SELECT id, status, started, finished, sources, error, by_account FROM monitor_crawls WHERE id = $1`, id).
		Scan(&r.ID, &r.Status, &started, &finished, &src, &r.Error, &r.By); err != nil {
		return nil, notFound(err)
	}
	r.Started, r.Finished = fromMicros(started), fromMicros(finished)
	r.Sources = []crawl.SourceResult{}
	json.Unmarshal([]byte(src), &r.Sources)
	return &r, nil
}

func (db *DB) InterruptRuns(ctx context.Context, at time.Time, reason string) (int, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE monitor_crawls SET status = 'failed', finished = $1, error = $2 WHERE status = 'running'`, micros(at), reason)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
