package supervision

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/sign"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// N-22, least data: a code stays as it is; anything that is not a code
// (free text, Chinese, spaces) leaves as an opaque hash of itself, the
// same text always the same hash.
func TestCodeSendsNoFreeText(t *testing.T) {
	cases := []struct {
		in   string
		keep bool
	}{
		{"dermatology", true},
		{"L20.9", true},
		{"first_visit", true},
		{"sjt-age", true},
		{"", true},
		{"needs exam", false},
		{"孩子哭闹不配合", false},
		{"a\nb", false},
		{strings.Repeat("x", 65), false},
	}
	for _, c := range cases {
		got := Code(c.in)
		if c.keep && got != c.in {
			t.Errorf("Code(%q) = %q, want it kept", c.in, got)
		}
		if !c.keep {
			if got == c.in || !regexp.MustCompile(`^h:[0-9a-f]{16}$`).MatchString(got) {
				t.Errorf("Code(%q) = %q, want an opaque hash", c.in, got)
			}
			if Code(c.in) != got {
				t.Errorf("Code(%q) is not stable", c.in)
			}
		}
	}
	if got := Codes([]string{"L20.9", "", "湿疹"}); len(got) != 2 || got[0] != "L20.9" || !strings.HasPrefix(got[1], "h:") {
		t.Errorf("Codes = %v", got)
	}
}

// The pseudonymous patient key (N-22): stable for one patient under one
// secret, different for another patient or another server's secret.
func TestPatientKey(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, PatientKeySize), bytes.Repeat([]byte{2}, PatientKeySize)
	k := PatientKey(a, 42)
	if !patientRe.MatchString(k) {
		t.Fatalf("key %q is not 32 hex characters", k)
	}
	if PatientKey(a, 42) != k || PatientKey(a, 43) == k || PatientKey(b, 42) == k {
		t.Error("the key must depend on the patient and the secret, and only on them")
	}
	if PatientKey(a, 0) != "" {
		t.Error("no patient, no key")
	}
}

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	s := Settings{BackoffMin: time.Second, BackoffMax: 10 * time.Second}
	for _, c := range []struct {
		attempts int
		want     time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {60, 10 * time.Second}} {
		if got := s.Backoff(c.attempts); got != c.want {
			t.Errorf("Backoff(%d) = %s, want %s", c.attempts, got, c.want)
		}
	}
	if n := (Settings{}).normalised(); n != DefaultSettings {
		t.Errorf("unset settings = %+v, want the defaults", n)
	}
}

func goodEvent(seq int64) Event {
	return Event{ID: NewID(), Institution: "bch", Seq: seq, Kind: VisitEnded, OccurredAt: testclock.Start(), Patient: strings.Repeat("ab", 16),
		Visit: 7, Practitioner: 3, Department: "dermatology", ServiceKind: "first_visit", Diagnoses: []string{"L20.9"}, Outcome: "completed",
		Ref: "prescription/12"}
}

func TestEventValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Event)
		field string
	}{
		{"good", func(*Event) {}, ""},
		{"no id", func(e *Event) { e.ID = "" }, "id"},
		{"seq 0", func(e *Event) { e.Seq = 0 }, "seq"},
		{"kind without a subject", func(e *Event) { e.Kind = "started" }, "kind"},
		{"no time", func(e *Event) { e.OccurredAt = time.Time{} }, "occurred_at"},
		{"patient in clear", func(e *Event) { e.Patient = "李小雨" }, "patient"},
		{"free text as a department", func(e *Event) { e.Department = "皮肤科 门诊" }, "department"},
		{"free text as a diagnosis", func(e *Event) { e.Diagnoses = []string{"湿疹，反复发作"} }, "diagnoses"},
		{"too many codes", func(e *Event) { e.Codes = make([]string, MaxCodes+1) }, "codes"},
		{"score 6", func(e *Event) { e.Score = 6 }, "score"},
		{"ref with text", func(e *Event) { e.Ref = "prescription/12 批注" }, "ref"},
	}
	for _, c := range cases {
		e := goodEvent(1)
		c.edit(&e)
		var f errs.Fields
		e.Validate(&f, "events[0].")
		err := f.Err()
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !f.Has("events[0]." + c.field) {
			t.Errorf("%s: %v, want events[0].%s refused", c.name, err, c.field)
		}
	}
}

// A batch is checked whole: its institution, every event's, and numbers
// that follow each other.
func TestBatchCheck(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Batch)
		field string
	}{
		{"good", func(*Batch) {}, ""},
		{"another institution in the body", func(b *Batch) { b.Institution = "ccmc" }, "institution"},
		{"an event of another institution", func(b *Batch) { b.Events[1].Institution = "ccmc" }, "events[1].institution"},
		{"a gap inside", func(b *Batch) { b.Events[2].Seq = 9 }, "events[2].seq"},
		{"out of order", func(b *Batch) { b.Events[1], b.Events[2] = b.Events[2], b.Events[1] }, "events[1].seq"},
		{"head behind", func(b *Batch) { b.Head = 4 }, "head"},
		{"empty", func(b *Batch) { b.Events = nil }, "events"},
	}
	for _, c := range cases {
		b := &Batch{Institution: "bch", Head: 9, Events: []Event{goodEvent(5), goodEvent(6), goodEvent(7)}}
		c.edit(b)
		err := b.check("bch")
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var e *errs.Error
		found := false
		if errors.As(err, &e) {
			for _, fe := range e.Fields {
				found = found || fe.Field == c.field
			}
		}
		if !found {
			t.Errorf("%s: %v, want %s refused", c.name, err, c.field)
		}
	}
}

// The batch body is RFC 8785 canonical (what is signed is what a second
// sending of the same events sends again), is read back as the same
// events, and a signature over it verifies with the institution's public
// key only, and not over a changed byte.
func TestBatchBodyCanonicalAndSigned(t *testing.T) {
	evs := []Event{goodEvent(1), goodEvent(2)}
	evs[1].Kind, evs[1].Score, evs[1].Diagnoses = RatingGiven, 5, nil
	var bodies [][]byte
	for i := range evs {
		b, err := evs[i].Canonical()
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	at := testclock.Start()
	body, err := BatchBody("bch", 2, at, bodies)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(body, &tree); err != nil {
		t.Fatal(err)
	}
	canon, err := sign.Canonical(tree)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(canon, body) {
		t.Fatalf("not canonical:\n%s\n%s", body, canon)
	}
	b, err := decodeBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.check("bch"); err != nil {
		t.Fatal(err)
	}
	if b.Events[0].ID != evs[0].ID || b.Events[1].Score != 5 || !b.Events[0].OccurredAt.Equal(evs[0].OccurredAt) || b.Head != 2 {
		t.Fatalf("read back %+v", b)
	}

	priv, err := sign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := sign.GenerateKey()
	pub, _ := sign.MarshalPublic(priv)
	otherPub, _ := sign.MarshalPublic(other)
	s := &Signer{Institution: "bch", PublicKey: pub, priv: priv}
	sig, err := s.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(pub, body, sig) {
		t.Fatal("the signature does not verify")
	}
	bad := bytes.Clone(body)
	bad[len(bad)-3] ^= 1
	if Verify(pub, bad, sig) || Verify(otherPub, body, sig) || Verify(pub, body, "") || Verify(pub, body, "!!") {
		t.Fatal("a changed body, another key or no signature verifies")
	}
}

// The platform stores an event as it was signed, and only the fields an
// event has: one with another field (free text riding along) is refused.
func TestDecodeBatchKeepsSignedBytesRefusesOtherFields(t *testing.T) {
	ev := goodEvent(1)
	c, _ := ev.Canonical()
	body, _ := BatchBody("bch", 1, testclock.Start(), [][]byte{c})
	b, err := decodeBatch(body)
	if err != nil || len(b.Bodies) != 1 || !bytes.Equal(b.Bodies[0], c) {
		t.Fatalf("bodies %q %v", b.Bodies, err)
	}
	extra := bytes.Replace(c, []byte(`"id":`), []byte(`"note":"孩子哭闹","id":`), 1)
	body, _ = BatchBody("bch", 1, testclock.Start(), [][]byte{extra})
	if _, err := decodeBatch(body); errs.Code(err) != "bad_json" {
		t.Fatalf("an event with another field: %v", err)
	}
}
