// Package sign signs e-prescriptions: SM2 signatures (GB/T 32918.2) over
// SM3 (GB/T 32905), with the signers' private keys kept sealed under a
// platform master key (SM4-GCM, see Sealer).
//
// What is signed is the prescription's canonical form: the JSON encoding of
// the value (encoding/json) canonicalized by the JSON Canonicalization
// Scheme of RFC 8785 (see Canonical). Its SM3 digest (Digest) is what the
// platform records and prints; Sign and Verify take the canonical bytes
// themselves, because an SM2 signature hashes SM3(Z_A || message), where
// Z_A binds the signer's public key and user ID (the default
// "1234567812345678").
//
//	msg, err := sign.Canonical(p)
//	sig, err := sign.Sign(priv, msg)
//	ok := sign.Verify(pub, msg, sig)
package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
	"github.com/gowebpki/jcs"
)

// Canonical returns the RFC 8785 (JCS) canonical form of v's JSON encoding:
// object members sorted by the UTF-16 code units of their names, numbers
// in ECMAScript (ES6) form, strings with minimal escaping, no whitespace,
// UTF-8.
//
// A plain tree (maps of strings to any, lists, strings, bools, ints,
// float64s) is written directly; any other v is first marshalled with encoding/json (so its struct tags, omitempty
// and MarshalJSON methods apply), then canonicalized by
// github.com/gowebpki/jcs. As RFC 8785 requires I-JSON, numbers are IEEE
// 754 doubles, and an integer field beyond ±2^53 (an int64 ID, say) would
// be silently rounded: Canonical refuses any integer whose canonical form
// is not its own digits. Carry such values as strings.
func Canonical(v any) ([]byte, error) {
	if out, err := appendTree(make([]byte, 0, 1024), v); err != errNotTree {
		return out, err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sign: canonical form: %w", err)
	}
	if err := checkIntegers(raw); err != nil {
		return nil, err
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("sign: canonical form: %w", err)
	}
	return out, nil
}

// checkIntegers refuses integer literals (as encoding/json writes Go
// integers, and floats below 1e21 with integral values) that do not
// survive the trip through a double unchanged.
func checkIntegers(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sign: canonical form: %w", err)
		}
		n, ok := tok.(json.Number)
		if !ok || len(n) < 16 || strings.ContainsAny(string(n), ".eE") {
			continue // below 10^15 every integer is exact
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return fmt.Errorf("sign: canonical form: %w", err)
		}
		if es6, err := jcs.NumberToJSON(f); err != nil || es6 != string(n) {
			return fmt.Errorf("sign: canonical form: integer %s is not exactly representable as an IEEE 754 double (RFC 8785 §3.2.2.3 would write %s); encode it as a string", n, es6)
		}
	}
}

// Digest is the SM3 digest of b (of the canonical form, for a prescription).
func Digest(b []byte) [32]byte { return sm3.Sum(b) }

// GenerateKey makes a new SM2 key pair from crypto/rand.
func GenerateKey() (*sm2.PrivateKey, error) { return sm2.GenerateKey(rand.Reader) }

// MarshalPublic returns the base64 (standard, padded) of the PKIX
// (SubjectPublicKeyInfo) DER of an SM2 public key, given the public key
// (*ecdsa.PublicKey on the SM2 curve) or its private key (*sm2.PrivateKey).
// It is the form Signature.PublicKey records.
func MarshalPublic(key any) (string, error) {
	var pub *ecdsa.PublicKey
	switch k := key.(type) {
	case *sm2.PrivateKey:
		if k != nil {
			pub = &k.PublicKey
		}
	case *ecdsa.PublicKey:
		pub = k
	default:
		return "", fmt.Errorf("sign: public key: %T is not an SM2 key", key)
	}
	if pub == nil || !sm2.IsSM2PublicKey(pub) {
		return "", errors.New("sign: public key: not an SM2 public key")
	}
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("sign: public key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// ParsePublic parses what MarshalPublic returns; it refuses keys that are
// not on the SM2 curve.
func ParsePublic(s string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("sign: public key: not base64: %w", err)
	}
	k, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("sign: public key: %w", err)
	}
	if !sm2.IsSM2PublicKey(k) {
		return nil, fmt.Errorf("sign: public key: %T is not an SM2 public key", k)
	}
	return k.(*ecdsa.PublicKey), nil
}

// Sign returns the ASN.1 DER SM2 signature of msg by priv, with the default
// user ID 1234567812345678: SM2 hashes Z_A || msg with SM3 itself, so msg
// is the message (the canonical bytes), not a digest.
func Sign(priv *sm2.PrivateKey, msg []byte) ([]byte, error) {
	if priv == nil {
		return nil, errors.New("sign: no private key")
	}
	sig, err := priv.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// Verify reports whether sig is pub's SM2 signature of msg with the
// default user ID.
func Verify(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if pub == nil || !sm2.IsSM2PublicKey(pub) {
		return false
	}
	return sm2.VerifyASN1WithSM2(pub, nil, msg, sig)
}
