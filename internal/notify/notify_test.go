package notify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

type memLog struct {
	mu   sync.Mutex
	recs []SMSRecord
}

func (m *memLog) RecordSMS(ctx context.Context, r *SMSRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r.ID = int64(len(m.recs) + 1)
	m.recs = append(m.recs, *r)
	return nil
}

func (m *memLog) SMSSent(ctx context.Context, to string, limit int) ([]SMSRecord, error) {
	return m.recs, nil
}

func TestSandboxSMS(t *testing.T) {
	log := &memLog{}
	s := &SandboxSMS{Log: log, FailEvery: 3}
	ctx := WithKind(context.Background(), "calling")
	cases := []struct {
		to, text string
		want     error
	}{
		{"13800000001", "医生正在呼叫您", nil},
		{"12345", "x", ErrSMSNumber},
		{"13800000001", strings.Repeat("长", 501), ErrSMSTooLong},
		{"13800000002", "second", nil},
		{"13800000003", "third counted: rejected", ErrSMSRejected},
	}
	for _, c := range cases {
		id, err := s.Send(ctx, c.to, c.text)
		if !errors.Is(err, c.want) {
			t.Errorf("Send(%s) err %v, want %v", c.to, err, c.want)
		}
		if (err == nil) != (id != "") {
			t.Errorf("Send(%s) id %q with err %v", c.to, id, err)
		}
	}
	if len(log.recs) != len(cases) {
		t.Fatalf("recorded %d, want every attempt (%d)", len(log.recs), len(cases))
	}
	if log.recs[0].Kind != "calling" || log.recs[0].Status != "sent" || log.recs[1].Status != "failed" || log.recs[1].Error == "" {
		t.Fatalf("records %+v", log.recs[:2])
	}
}
