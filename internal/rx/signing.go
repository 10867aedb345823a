package rx

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/sign"
)

// Signing roles.
const (
	RoleDoctor     = "doctor"
	RolePharmacist = "pharmacist"
)

// Canonical form. What the doctor signs is the JSON object DoctorContent
// returns, canonicalised by RFC 8785 (JCS); the pharmacist signs
// ReviewContent, which carries the doctor's signature. Each signature is SM2
// (default user ID) over that canonical form, whose SM3 digest is recorded.
// Times are RFC 3339 in UTC with microseconds, amounts integer fen.

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// DoctorContent is what the doctor's signature covers: every fact printed on
// the prescription.
func DoctorContent(p *Prescription) map[string]any {
	items := make([]map[string]any, len(p.Items))
	for i, it := range p.Items {
		items[i] = map[string]any{"drug": it.Drug, "name": it.Name, "strength": it.Strength, "form": it.Form, "dose": it.Dose,
			"dose_unit": it.DoseUnit, "frequency": it.Frequency, "route": it.Route, "days": it.Days, "quantity": it.Quantity,
			"unit": it.Unit, "price_fen": it.PriceFen}
	}
	diags := p.Diagnoses
	if diags == nil {
		diags = []string{}
	}
	confirmed := p.Confirmed
	if confirmed == nil {
		confirmed = []string{}
	}
	return map[string]any{
		"prescription": p.ID, "visit": p.VisitID, "version": p.Version, "revises": p.Revises,
		"institution": p.Institution, "department": p.Department,
		"patient": map[string]any{"id": p.PatientID, "name": p.PatientName, "sex": p.PatientSex, "age": p.PatientAge},
		"doctor":  map[string]any{"id": p.DoctorID, "name": p.DoctorName},
		"items":   items, "diagnoses": diags, "weight_kg": p.WeightKg, "supply": string(p.Supply),
		"long_term_reason": p.LongTermWhy, "note": p.Note, "confirmed": confirmed,
		"issued_at": ts(p.IssuedAt), "valid_days": p.ValidDays, "valid_until": ts(p.ValidUntil), "total_fen": p.TotalFen,
	}
}

// ReviewContent is what the pharmacist's approval covers: the doctor's
// signed content (by digest and signature) and the review.
func ReviewContent(p *Prescription, doctor Signature) map[string]any {
	reasons := p.ReviewReasons
	if reasons == nil {
		reasons = []string{}
	}
	return map[string]any{
		"prescription": p.ID, "doctor_digest": doctor.Digest, "doctor_signature": doctor.Value, "decision": "approve",
		"reviewer": map[string]any{"id": p.ReviewerID, "name": p.ReviewerName}, "reviewed_at": ts(p.ReviewedAt),
		"reasons": reasons, "note": p.ReviewNote,
	}
}

// Keys gives practitioners their SM2 key pairs, the private keys sealed
// under the operator's master key. Opened keys are kept in memory (a
// practitioner's key never changes once stored).
type Keys struct {
	Store  Store
	Sealer *sign.Sealer

	mu     sync.Mutex
	opened map[int64]openedKey
}

type openedKey struct {
	pub  string
	priv *sm2.PrivateKey
}

// Signer is a practitioner's opened signing key.
type Signer struct {
	role, name string
	id         int64
	pub        string
	priv       *sm2.PrivateKey
}

// Signer opens a practitioner's key (making the key pair on first use). Do
// it before a transaction that signs: it reads and may write the store.
func (k *Keys) Signer(ctx context.Context, role string, practitionerID int64, name string) (*Signer, error) {
	k.mu.Lock()
	o, ok := k.opened[practitionerID]
	k.mu.Unlock()
	if ok {
		return &Signer{role: role, name: name, id: practitionerID, pub: o.pub, priv: o.priv}, nil
	}
	pub, sealed, err := k.Store.SigningKey(ctx, practitionerID)
	if errs.Is(err, errs.NotFound) {
		priv, gerr := sign.GenerateKey()
		if gerr != nil {
			return nil, gerr
		}
		pubS, perr := sign.MarshalPublic(&priv.PublicKey)
		if perr != nil {
			return nil, perr
		}
		sealedB, serr := k.Sealer.Seal(priv)
		if serr != nil {
			return nil, serr
		}
		if err := k.Store.AddSigningKey(ctx, practitionerID, pubS, sealedB, time.Now()); err != nil {
			return nil, err
		}
		pub, sealed, err = k.Store.SigningKey(ctx, practitionerID)
	}
	if err != nil {
		return nil, err
	}
	priv, err := k.Sealer.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("open the signing key of practitioner %d: %w", practitionerID, err)
	}
	k.mu.Lock()
	if k.opened == nil {
		k.opened = map[int64]openedKey{}
	}
	k.opened[practitionerID] = openedKey{pub: pub, priv: priv}
	k.mu.Unlock()
	return &Signer{role: role, name: name, id: practitionerID, pub: pub, priv: priv}, nil
}

// Sign signs content (its canonical form) at the time at.
func (s *Signer) Sign(content map[string]any, at time.Time) (Signature, error) {
	msg, err := sign.Canonical(content)
	if err != nil {
		return Signature{}, err
	}
	sig, err := sign.Sign(s.priv, msg)
	if err != nil {
		return Signature{}, err
	}
	d := sign.Digest(msg)
	return Signature{Role: s.role, PractitionerID: s.id, Name: s.name, PublicKey: s.pub, Digest: hex.EncodeToString(d[:]),
		Value: base64.StdEncoding.EncodeToString(sig), At: at.UTC().Truncate(time.Microsecond)}, nil
}

// Approve signs a reviewed prescription's approval (ReviewContent over the
// doctor's signature, p.Signatures[0]) and appends the signature to p.
func (s *Signer) Approve(p *Prescription) error {
	if len(p.Signatures) == 0 || p.Signatures[0].Role != RoleDoctor {
		return fmt.Errorf("prescription %d: approval without the doctor's signature", p.ID)
	}
	sig, err := s.Sign(ReviewContent(p, p.Signatures[0]), p.ReviewedAt)
	if err != nil {
		return err
	}
	p.Signatures = append(p.Signatures, sig)
	return nil
}

// SignatureCheck is one signature's verdict.
type SignatureCheck struct {
	Role  string `json:"role"`
	Name  string `json:"name"`
	Valid bool   `json:"valid"`
}

// Verify recomputes each signature's canonical content from the stored
// prescription and checks it against the signer's registered public key.
// A prescription is valid when the doctor's signature holds and, once
// approved, the pharmacist's too.
func (k *Keys) Verify(ctx context.Context, p *Prescription) (bool, []SignatureCheck, error) {
	var doctor *Signature
	var checks []SignatureCheck
	valid := true
	hasPharmacist := false
	for i := range p.Signatures {
		s := p.Signatures[i]
		var content map[string]any
		switch s.Role {
		case RoleDoctor:
			content = DoctorContent(p)
			doctor = &p.Signatures[i]
		case RolePharmacist:
			hasPharmacist = true
			if doctor == nil {
				checks = append(checks, SignatureCheck{Role: s.Role, Name: s.Name})
				valid = false
				continue
			}
			content = ReviewContent(p, *doctor)
		default:
			valid = false
			continue
		}
		ok, err := k.check(ctx, s, content)
		if err != nil {
			return false, nil, err
		}
		checks = append(checks, SignatureCheck{Role: s.Role, Name: s.Name, Valid: ok})
		valid = valid && ok
	}
	if doctor == nil {
		valid = false
	}
	if (p.Status == Approved || p.Status == Dispensed) && !hasPharmacist {
		valid = false
	}
	return valid, checks, nil
}

func (k *Keys) check(ctx context.Context, s Signature, content map[string]any) (bool, error) {
	pubS, _, err := k.Store.SigningKey(ctx, s.PractitionerID)
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if pubS != s.PublicKey {
		return false, nil
	}
	pub, err := sign.ParsePublic(pubS)
	if err != nil {
		return false, nil
	}
	msg, err := sign.Canonical(content)
	if err != nil {
		return false, err
	}
	d := sign.Digest(msg)
	if hex.EncodeToString(d[:]) != s.Digest {
		return false, nil
	}
	sig, err := base64.StdEncoding.DecodeString(s.Value)
	if err != nil {
		return false, nil
	}
	return sign.Verify(pub, msg, sig), nil
}
