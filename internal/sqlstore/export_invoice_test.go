package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// MigrateBelow applies the migrations numbered below version (the store's
// tests fill a table as an earlier schema had it, then Migrate the rest).
func (db *DB) MigrateBelow(ctx context.Context, version int) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		if err != nil {
			return err
		}
		if v >= version {
			break
		}
		body, _ := migrationFS.ReadFile(f)
		if _, err := db.migrateOne(ctx, v, db.dialect(string(body))); err != nil {
			return fmt.Errorf("migration %s: %w", f, err)
		}
	}
	return nil
}
