package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Notifier carries notices between the servers sharing a PostgreSQL
// database with LISTEN/NOTIFY, on a channel of the schema (tests share a
// database, each in its own schema). Notices are queued and sent a batch
// a statement, so that a busy chat costs one round trip a batch; one held
// connection listens, and comes back after a failure.
type Notifier struct {
	db      *DB
	log     *slog.Logger
	channel string
	queue   chan []byte
}

// maxNotice is PostgreSQL's limit on a notification's payload, less room.
const maxNotice = 7900

var notChannel = regexp.MustCompile(`[^a-z0-9_]`)

// Notifier returns the notifier of the servers sharing this database on
// channel name (nil on SQLite, whose database one server holds). Its
// publisher runs until ctx ends.
func (db *DB) Notifier(ctx context.Context, name string, log *slog.Logger) (*Notifier, error) {
	if db.Engine != Postgres {
		return nil, nil
	}
	var schema string
	if err := db.w.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, err
	}
	ch := "yunyi_" + name + "_" + notChannel.ReplaceAllString(strings.ToLower(schema), "_")
	if len(ch) > 63 {
		ch = ch[:63]
	}
	b := &Notifier{db: db, log: log, channel: ch, queue: make(chan []byte, 8192)}
	go b.publisher(ctx)
	return b, nil
}

// Publish queues a notice for the other servers (and this one's
// listener); a notice over NOTIFY's limit, or one the full queue has no
// room for, is dropped with a warning.
func (b *Notifier) Publish(payload []byte) {
	if len(payload) > maxNotice {
		b.log.Warn("notice too large for NOTIFY, dropped", "channel", b.channel, "bytes", len(payload))
		return
	}
	select {
	case b.queue <- payload:
	default:
		b.log.Warn("notice queue full, a notice is dropped", "channel", b.channel)
	}
}

func (b *Notifier) publisher(ctx context.Context) {
	for {
		var batch []string
		select {
		case p := <-b.queue:
			batch = append(batch, string(p))
		case <-ctx.Done():
			return
		}
	fill:
		for len(batch) < 256 {
			select {
			case p := <-b.queue:
				batch = append(batch, string(p))
			default:
				break fill
			}
		}
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := b.db.w.ExecContext(c, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, b.channel, batch)
		cancel()
		if err != nil {
			b.log.Error("notify", "channel", b.channel, "n", len(batch), "err", err)
		}
	}
}

// Listen holds a connection listening on the channel until ctx ends,
// taking a new one after a failure.
func (b *Notifier) Listen(ctx context.Context, fn func(payload []byte)) {
	for ctx.Err() == nil {
		err := b.listen(ctx, fn)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("listening for notices failed, again in a second", "channel", b.channel, "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

func (b *Notifier) listen(ctx context.Context, fn func(payload []byte)) error {
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
			fn([]byte(n.Payload))
		}
	})
}
