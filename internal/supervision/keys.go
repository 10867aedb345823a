package supervision

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/sign"
)

// How a batch is signed. Institutions had no keys of their own, so each
// gets an SM2 key pair (GB/T 32918, as the practitioners' prescription
// keys), made on first use by the server that sends its feed and kept
// sealed there under the operator's master key (--keys: SM4-GCM, see
// sign.Sealer). The platform holds only the public keys, registered by the
// regulator (PUT /api/v1/supervision/sources/{institution}), so a leak at
// the platform lets nobody forge an institution's batches, and the choice
// keeps to the national algorithms (SM2 with SM3) that the platform's
// other signatures use. The signature covers the exact bytes of the
// request body (which Yunyi writes in RFC 8785 canonical form, so a retried
// batch is the same bytes), with the default SM2 user ID, and travels
// base64-encoded (the ASN.1 DER signature) in SignatureHeader beside the
// institution's code in InstitutionHeader.
const (
	InstitutionHeader = "Yunyi-Supervision-Institution"
	SignatureHeader   = "Yunyi-Supervision-Signature"
)

// KeyStore keeps the institutions' sealed signing keys on the sending side.
type KeyStore interface {
	FeedKey(ctx context.Context, institution string) (pub string, sealed []byte, err error)
	// AddFeedKey stores a key pair unless the institution has one (then
	// nothing changes: the first stored wins).
	AddFeedKey(ctx context.Context, institution, pub string, sealed []byte, at time.Time) error
}

// Keys gives institutions their SM2 key pairs, sealed under the operator's
// master key; opened keys are kept in memory (an institution's key never
// changes once stored).
type Keys struct {
	Store  KeyStore
	Sealer *sign.Sealer
	Now    func() time.Time

	mu     sync.Mutex
	opened map[string]*Signer
}

// Signer is an institution's opened signing key.
type Signer struct {
	Institution string
	PublicKey   string // base64 PKIX DER
	priv        *sm2.PrivateKey
}

// Signer opens an institution's key, making the pair on first use.
func (k *Keys) Signer(ctx context.Context, institution string) (*Signer, error) {
	k.mu.Lock()
	s := k.opened[institution]
	k.mu.Unlock()
	if s != nil {
		return s, nil
	}
	pub, sealed, err := k.Store.FeedKey(ctx, institution)
	if errs.Is(err, errs.NotFound) {
		priv, gerr := sign.GenerateKey()
		if gerr != nil {
			return nil, gerr
		}
		pubS, perr := sign.MarshalPublic(priv)
		if perr != nil {
			return nil, perr
		}
		sealedB, serr := k.Sealer.Seal(priv)
		if serr != nil {
			return nil, serr
		}
		now := time.Now
		if k.Now != nil {
			now = k.Now
		}
		if err := k.Store.AddFeedKey(ctx, institution, pubS, sealedB, now()); err != nil {
			return nil, err
		}
		pub, sealed, err = k.Store.FeedKey(ctx, institution) // another server's, if it came first
	}
	if err != nil {
		return nil, err
	}
	priv, err := k.Sealer.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("open the supervision key of %s: %w", institution, err)
	}
	s = &Signer{Institution: institution, PublicKey: pub, priv: priv}
	k.mu.Lock()
	if k.opened == nil {
		k.opened = map[string]*Signer{}
	}
	k.opened[institution] = s
	k.mu.Unlock()
	return s, nil
}

// Sign signs a batch's body: the base64 of the SM2 signature.
func (s *Signer) Sign(body []byte) (string, error) {
	sig, err := sign.Sign(s.priv, body)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Verify reports whether sig (base64) is the signature of body by the
// public key pub (base64 PKIX DER).
func Verify(pub string, body []byte, sig string) bool {
	k, err := sign.ParsePublic(pub)
	if err != nil {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) == 0 {
		return false
	}
	return sign.Verify(k, body, raw)
}

// Canonical is the event's RFC 8785 form: what the outbox stores and the
// batch carries. Empty fields are left out; the time is RFC 3339 in UTC
// with its microseconds.
func (e *Event) Canonical() ([]byte, error) {
	m := map[string]any{"id": e.ID, "institution": e.Institution, "seq": e.Seq, "kind": string(e.Kind),
		"occurred_at": e.OccurredAt.UTC().Format(time.RFC3339Nano)}
	str := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	num := func(k string, v int64) {
		if v != 0 {
			m[k] = v
		}
	}
	list := func(k string, v []string) {
		if len(v) > 0 {
			m[k] = v
		}
	}
	str("patient", e.Patient)
	num("visit", e.Visit)
	num("practitioner", e.Practitioner)
	str("department", e.Department)
	str("service_kind", e.ServiceKind)
	list("diagnoses", e.Diagnoses)
	list("codes", e.Codes)
	str("category", e.Category)
	str("severity", e.Severity)
	str("outcome", e.Outcome)
	num("score", int64(e.Score))
	str("ref", e.Ref)
	return sign.Canonical(m)
}

// BatchBody writes a batch's body in RFC 8785 form from its events'
// stored canonical forms (members in code-unit order: events, head,
// institution, sent_at), without decoding them.
func BatchBody(institution string, head int64, sentAt time.Time, events [][]byte) ([]byte, error) {
	inst, err := sign.Canonical(institution)
	if err != nil {
		return nil, err
	}
	at, err := sign.Canonical(sentAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return nil, err
	}
	n := 64 + len(inst) + len(at)
	for _, e := range events {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	b = append(b, `],"head":`...)
	b = strconv.AppendInt(b, head, 10)
	b = append(b, `,"institution":`...)
	b = append(b, inst...)
	b = append(b, `,"sent_at":`...)
	b = append(b, at...)
	return append(b, '}'), nil
}
