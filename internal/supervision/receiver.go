package supervision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Receiver is the platform's side of the feed (POST
// /api/v1/supervision/events): it checks a batch's signature against the
// institution's registered key, then its events, and stores them in one
// transaction.
//
// Order: the platform keeps each institution's events as a gap-free prefix
// of its outbox. A batch may repeat events the platform has (they are
// ignored, once their ids match), but its first new event must be the next
// number expected: a batch that would leave a gap is refused (409
// supervision_gap, details.last_seq), never accepted and reordered later,
// so what the regulator reads is never missing an event it will get later,
// and a sender whose cursor went wrong learns where to resume.
type Receiver struct {
	Store Platform
	Now   func() time.Time
}

// Receive takes one posted batch: the institution and signature headers
// and the raw body.
func (r *Receiver) Receive(ctx context.Context, institution, signature string, body []byte) (*Received, error) {
	now := r.Now().UTC().Truncate(time.Microsecond)
	if institution == "" || !codeRe.MatchString(institution) {
		return nil, errs.E(CodeUnknownSource)
	}
	src, err := r.Store.FeedSource(ctx, institution)
	if errs.Is(err, errs.NotFound) {
		return nil, errs.E(CodeUnknownSource)
	}
	if err != nil {
		return nil, err
	}
	if !Verify(src.PublicKey, body, signature) {
		return nil, r.refuse(ctx, institution, errs.E(CodeBadSignature), now)
	}
	b, err := decodeBatch(body)
	if err != nil {
		return nil, r.refuse(ctx, institution, err, now)
	}
	if err := b.check(institution); err != nil {
		return nil, r.refuse(ctx, institution, err, now)
	}
	rec, err := r.Store.ReceiveFeed(ctx, b, now)
	var gap *GapError
	if errors.As(err, &gap) {
		return nil, r.refuse(ctx, institution, gap.Err(), now)
	}
	if err != nil && errs.Code(err) != errs.Internal {
		return nil, r.refuse(ctx, institution, err, now)
	}
	return rec, err
}

// refuse records a refused batch's code on the institution's feed and
// answers err.
func (r *Receiver) refuse(ctx context.Context, institution string, err error, now time.Time) error {
	if rerr := r.Store.RefuseBatch(ctx, institution, errs.Code(err), now); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// decodeBatch reads a batch, keeping each event's bytes as sent.
func decodeBatch(body []byte) (*Batch, error) {
	var raw struct {
		Institution string            `json:"institution"`
		Head        int64             `json:"head"`
		SentAt      time.Time         `json:"sent_at"`
		Events      []json.RawMessage `json:"events"`
	}
	bad := func(err error) error {
		return &errs.Error{Code: "bad_json", Err: fmt.Errorf("supervision batch: %w", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, bad(err)
	}
	if dec.More() {
		return nil, bad(errors.New("trailing data"))
	}
	b := &Batch{Institution: raw.Institution, Head: raw.Head, SentAt: raw.SentAt}
	if len(raw.Events) > MaxBatch {
		b.Events = make([]Event, len(raw.Events)) // refused by check
		return b, nil
	}
	b.Events, b.Bodies = make([]Event, len(raw.Events)), make([][]byte, len(raw.Events))
	for i, r := range raw.Events {
		// Only the fields of an Event, each checked (check): nothing else
		// is stored, so no free text rides along.
		d := json.NewDecoder(bytes.NewReader(r))
		d.DisallowUnknownFields()
		if err := d.Decode(&b.Events[i]); err != nil {
			return nil, bad(fmt.Errorf("event %d: %w", i, err))
		}
		if !bytes.ContainsAny(r, " \t\r\n") {
			b.Bodies[i] = r // compact already (as Yunyi sends it)
			continue
		}
		var c bytes.Buffer
		if err := json.Compact(&c, r); err != nil {
			return nil, bad(err)
		}
		b.Bodies[i] = c.Bytes()
	}
	return b, nil
}

// check validates a decoded batch of institution: its events, theirs, in
// order with consecutive numbers.
func (b *Batch) check(institution string) error {
	var f errs.Fields
	if b.Institution != institution {
		f.Add("institution", "invalid")
	}
	switch {
	case len(b.Events) == 0:
		f.Add("events", "required")
	case len(b.Events) > MaxBatch:
		f.Add("events", "too_many_rows")
	}
	for i := range b.Events {
		e := &b.Events[i]
		p := "events[" + strconv.Itoa(i) + "]."
		e.Validate(&f, p)
		if e.Institution != institution {
			f.Add(p+"institution", "invalid")
		}
		if i > 0 && e.Seq != b.Events[i-1].Seq+1 {
			f.Add(p+"seq", "not_consecutive")
		}
		e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	}
	if n := len(b.Events); n > 0 && n <= MaxBatch && b.Head < b.Events[n-1].Seq {
		f.Add("head", "invalid")
	}
	return f.Err()
}
