package sqlstore

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/yunyi-health/yunyi/internal/chat"
)

// pgBus carries chat notices between the servers sharing a PostgreSQL
// database with LISTEN/NOTIFY, on a channel of the schema (tests share a
// database, each in its own schema). Notices are queued and sent a batch
// a statement, so that a busy chat costs one round trip a batch; one held
// connection listens, and comes back after a failure.
type pgBus struct {
	db      *DB
	log     *slog.Logger
	channel string
	queue   chan chat.Notice
}

// maxNotice is PostgreSQL's limit on a notification's payload, less room.
const maxNotice = 7900

var notChannel = regexp.MustCompile(`[^a-z0-9_]`)

// ChatBus returns the bus of the servers sharing this database (nil on
// SQLite, whose database one server holds). The publisher runs until ctx
// ends.
func (db *DB) ChatBus(ctx context.Context, log *slog.Logger) (chat.Bus, error) {
	if db.Engine != Postgres {
		return nil, nil
	}
	var schema string
	if err := db.w.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, err
	}
	ch := "yunyi_chat_" + notChannel.ReplaceAllString(strings.ToLower(schema), "_")
	if len(ch) > 63 {
		ch = ch[:63]
	}
	b := &pgBus{db: db, log: log, channel: ch, queue: make(chan chat.Notice, 8192)}
	go b.publisher(ctx)
	return b, nil
}

func (b *pgBus) Publish(n chat.Notice) {
	select {
	case b.queue <- n:
	default:
		b.log.Warn("chat bus: queue full, a notice is dropped", "visit", n.VisitID, "type", n.Event.Type)
	}
}

func (b *pgBus) publisher(ctx context.Context) {
	for {
		var batch []string
		add := func(n chat.Notice) {
			p, err := json.Marshal(n)
			switch {
			case err != nil:
			case len(p) > maxNotice:
				b.log.Warn("chat bus: notice too large for NOTIFY, dropped", "visit", n.VisitID, "type", n.Event.Type, "bytes", len(p))
			default:
				batch = append(batch, string(p))
			}
		}
		select {
		case n := <-b.queue:
			add(n)
		case <-ctx.Done():
			return
		}
	fill:
		for len(batch) < 256 {
			select {
			case n := <-b.queue:
				add(n)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			continue
		}
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := b.db.w.ExecContext(c, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, b.channel, batch)
		cancel()
		if err != nil {
			b.log.Error("chat bus: notify", "n", len(batch), "err", err)
		}
	}
}

// Listen holds a connection listening on the channel until ctx ends,
// taking a new one after a failure.
func (b *pgBus) Listen(ctx context.Context, fn func(chat.Notice)) {
	for ctx.Err() == nil {
		err := b.listen(ctx, fn)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("chat bus: listening failed, again in a second", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

func (b *pgBus) listen(ctx context.Context, fn func(chat.Notice)) error {
	conn, err := b.db.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("not a pgx connection")
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, `LISTEN "`+b.channel+`"`); err != nil {
			return err
		}
		defer pc.Exec(context.Background(), `UNLISTEN "`+b.channel+`"`)
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return driver.ErrBadConn // the connection is not given back to the pool mid-wait
				}
				return err
			}
			var x chat.Notice
			if json.Unmarshal([]byte(n.Payload), &x) == nil {
				fn(x)
			}
		}
	})
}
