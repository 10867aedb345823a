package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/monitor"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// Storing items in chunks decides every repost exactly as storing them one
// at a time: reposts within a chunk and across chunks, a repost published
// before the item it copies (which then becomes the repost), near
// fingerprints outside the period, re-crawled items that changed, and a URL
// twice in one list.
func TestUpsertItemsChunkedAsOneByOne(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 9))
	bases := []uint64{0x0123456789abcdef, 0xfedcba9876543210, 0x0f0f0f0f0f0f0f0f}
	mk := func(i int) *monitor.Item {
		fp := bases[r.IntN(len(bases))]
		for k := r.IntN(6); k > 0; k-- { // 0..5 bits flipped: near and far
			fp ^= 1 << r.IntN(64)
		}
		day := time.Date(2020, time.Month(1+r.IntN(6)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		return &monitor.Item{URL: fmt.Sprintf("https://example.org/%d", i), Title: fmt.Sprintf("文章 %d", i), Media: "媒体",
			Published: day.Format("2006-01-02"), Text: "正文", FetchedAt: time.Now(), Fingerprint: fp}
	}
	var items []*monitor.Item
	for i := 0; i < 300; i++ {
		items = append(items, mk(i))
	}
	// Re-crawls: the same URLs, some changed (another date or fingerprint).
	for i := 0; i < 60; i++ {
		it := *items[r.IntN(len(items))]
		if i%2 == 0 {
			it.Published = "2020-03-15"
			it.Fingerprint ^= 1 << r.IntN(64)
		}
		items = append(items, &it)
	}
	copyAll := func() []*monitor.Item {
		out := make([]*monitor.Item, len(items))
		for i, it := range items {
			c := *it
			out[i] = &c
		}
		return out
	}
	for _, e := range sqltest.Engines {
		t.Run(string(e), func(t *testing.T) {
			chunked, single := sqltest.Open(t, e), sqltest.Open(t, e)
			n, err := chunked.UpsertItems(ctx, copyAll())
			if err != nil {
				t.Fatal(err)
			}
			m := 0
			for _, it := range copyAll() {
				changed, err := single.UpsertItem(ctx, it)
				if err != nil {
					t.Fatal(err)
				}
				if changed {
					m++
				}
			}
			if n != m {
				t.Errorf("changed: chunked %d, one by one %d", n, m)
			}
			a, b := reposts(t, chunked), reposts(t, single)
			merged := 0
			for url, of := range b {
				if a[url] != of {
					t.Errorf("%s: chunked a repost of %q, one by one of %q", url, a[url], of)
				}
				if of != "" {
					merged++
				}
			}
			if len(a) != len(b) || merged < 20 {
				t.Fatalf("items %d and %d, %d reposts: the test shows little", len(a), len(b), merged)
			}
		})
	}
}

// reposts maps each stored item's URL to the URL of the item it reposts.
func reposts(t *testing.T, db *sqlstore.DB) map[string]string {
	rows, err := db.Writer().Query(`SELECT i.url, COALESCE(p.url, '') FROM monitor_items i LEFT JOIN monitor_items p ON p.id = i.duplicate_of`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var u, p string
		if err := rows.Scan(&u, &p); err != nil {
			t.Fatal(err)
		}
		out[u] = p
	}
	return out
}

// A migration line "-- postgres: ..." runs on PostgreSQL only: article
// bodies are stored uncompressed there (0011).
func TestPostgresOnlyMigrationLine(t *testing.T) {
	db := sqltest.Open(t, sqlstore.Postgres)
	var storage string
	if err := db.Writer().QueryRow(`SELECT attstorage FROM pg_attribute WHERE attrelid = 'monitor_items'::regclass AND attname = 'body'`).Scan(&storage); err != nil {
		t.Fatal(err)
	}
	if storage != "e" {
		t.Fatalf("body storage %q, want e (external)", storage)
	}
}
