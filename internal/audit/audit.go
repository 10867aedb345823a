// Package audit is the append-only, hash-chained log of every access to
// patient data and every staff action (N-16, N-19, N-20). Each entry's hash
// covers its fields and the previous entry's hash, so an edited, inserted or
// deleted row breaks the chain from that point; Verify finds the first one.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// Entry is one audited event.
type Entry struct {
	Seq         int64     `json:"seq"`
	At          time.Time `json:"at"`
	ActorID     int64     `json:"actor_id"` // 0 for anonymous or the system
	ActorRole   string    `json:"actor_role"`
	Action      string    `json:"action"` // e.g. patient.read, institution.update
	ObjectType  string    `json:"object_type"`
	ObjectID    string    `json:"object_id"`
	Institution string    `json:"institution,omitempty"`
	IP          string    `json:"ip,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	PrevHash    []byte    `json:"-"`
	Hash        []byte    `json:"-"`
}

// Genesis is the previous hash of the first entry.
var Genesis = make([]byte, sha256.Size)

// ComputeHash returns the hash of e chained to prev. Every field is written
// with its length so no two different entries encode alike.
func ComputeHash(prev []byte, e *Entry) []byte {
	h := sha256.New()
	h.Write(prev)
	var n [8]byte
	putInt := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	putStr := func(s string) {
		putInt(int64(len(s)))
		h.Write([]byte(s))
	}
	putInt(e.Seq)
	putInt(e.At.UnixMicro())
	putInt(e.ActorID)
	putStr(e.ActorRole)
	putStr(e.Action)
	putStr(e.ObjectType)
	putStr(e.ObjectID)
	putStr(e.Institution)
	putStr(e.IP)
	putStr(e.Detail)
	return h.Sum(nil)
}

// Head is the last sequence number and hash of the chain, kept apart from
// the entries so that deleting the newest entries is detected too.
type Head struct {
	Seq  int64
	Hash []byte
}

// Store persists the chain.
type Store interface {
	// AppendAudit assigns sequence numbers, chains and stores the entries
	// in one transaction, serialised with other appenders.
	AppendAudit(ctx context.Context, entries []*Entry) error
	// ScanAudit calls fn for every entry in sequence order.
	ScanAudit(ctx context.Context, fn func(*Entry) error) error
	AuditHead(ctx context.Context) (Head, error)
	// QueryAudit lists the newest entries matching the filter.
	QueryAudit(ctx context.Context, f Filter) ([]Entry, error)
}

// Filter selects audit entries.
type Filter struct {
	Institution string
	ObjectType  string
	ObjectID    string
	ActorID     int64
	Limit       int
}

// Problem is the first break found in the chain.
type Problem struct {
	Seq    int64
	Reason string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit chain broken at entry %d: %s", p.Seq, p.Reason)
}

// Verify walks the chain and returns the number of entries checked and the
// first problem, or nil when the chain is whole.
func Verify(ctx context.Context, s Store) (int64, *Problem, error) {
	prev := Genesis
	var want int64 = 1
	var checked int64
	var problem *Problem
	err := s.ScanAudit(ctx, func(e *Entry) error {
		switch {
		case e.Seq != want:
			problem = &Problem{Seq: want, Reason: fmt.Sprintf("entry missing (next present is %d)", e.Seq)}
		case hex.EncodeToString(e.PrevHash) != hex.EncodeToString(prev):
			problem = &Problem{Seq: e.Seq, Reason: "previous-hash link does not match"}
		case hex.EncodeToString(ComputeHash(prev, e)) != hex.EncodeToString(e.Hash):
			problem = &Problem{Seq: e.Seq, Reason: "entry altered (hash does not match its content)"}
		}
		if problem != nil {
			return errStop
		}
		prev = e.Hash
		want++
		checked++
		return nil
	})
	if err != nil && err != errStop {
		return checked, nil, err
	}
	if problem != nil {
		return checked, problem, nil
	}
	head, err := s.AuditHead(ctx)
	if err != nil {
		return checked, nil, err
	}
	if head.Seq != checked {
		return checked, &Problem{Seq: checked + 1, Reason: fmt.Sprintf("entries %d to %d deleted", checked+1, head.Seq)}, nil
	}
	if head.Seq > 0 && hex.EncodeToString(head.Hash) != hex.EncodeToString(prev) {
		return checked, &Problem{Seq: head.Seq, Reason: "chain head does not match the last entry"}, nil
	}
	return checked, nil, nil
}

type stop struct{}

func (stop) Error() string { return "stop" }

var errStop error = stop{}
