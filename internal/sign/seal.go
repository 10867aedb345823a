package sign

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
	"github.com/emmansun/gmsm/smx509"
)

// MasterKeySize is the size of the platform master key in bytes.
const MasterKeySize = 32

// sealVersion is the first byte of a sealed key. Version 1 is
//
//	0x01 || nonce (12 bytes) || SM4-GCM(PKCS#8 DER of the SM2 key) || tag (16 bytes)
//
// under the SM4 key HKDF-SM3(master, salt = none, info = sealInfo, 16
// bytes), with the version byte as additional authenticated data.
const sealVersion = 1

const sealInfo = "yunyi/sign: SM4-GCM key sealing SM2 private keys, v1"

// ErrOpen is returned (wrapped) by Open when sealed bytes do not
// authenticate: the master key is not the one they were sealed with, or
// the bytes were changed.
var ErrOpen = errors.New("sign: cannot open sealed private key: wrong master key, or the sealed bytes were altered")

// Sealer encrypts signers' private keys at rest under the platform master
// key. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from master, which must be exactly
// MasterKeySize bytes. The SM4 key is HKDF (RFC 5869) with SM3 over the
// master key, no salt and a fixed info string, so the master key itself
// is never used directly as a cipher key and other keys can be derived
// from it for other purposes.
func NewSealer(master []byte) (*Sealer, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("sign: master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	key, err := hkdf.Key(sm3.New, master, nil, sealInfo, 16)
	if err != nil {
		return nil, fmt.Errorf("sign: derive sealing key: %w", err)
	}
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sign: SM4: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sign: SM4-GCM: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts priv (its PKCS#8 DER) with a fresh random nonce.
func (s *Sealer) Seal(priv *sm2.PrivateKey) ([]byte, error) {
	if priv == nil {
		return nil, errors.New("sign: seal: no private key")
	}
	der, err := smx509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sign: seal: %w", err)
	}
	defer clear(der)
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(der)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("sign: seal: %w", err)
	}
	return s.aead.Seal(out, out[1:], der, out[:1]), nil
}

// Open decrypts what Seal returned. A wrong master key or altered bytes
// give an error wrapping ErrOpen.
func (s *Sealer) Open(sealed []byte) (*sm2.PrivateKey, error) {
	n := s.aead.NonceSize()
	if len(sealed) == 0 {
		return nil, errors.New("sign: open: empty sealed key")
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("sign: open: unknown sealed key version %d (want %d); %w", sealed[0], sealVersion, ErrOpen)
	}
	if len(sealed) < 1+n+s.aead.Overhead() {
		return nil, fmt.Errorf("sign: open: sealed key is truncated (%d bytes); %w", len(sealed), ErrOpen)
	}
	der, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], sealed[:1])
	if err != nil {
		return nil, ErrOpen
	}
	defer clear(der)
	k, err := smx509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("sign: open: %w", err)
	}
	priv, ok := k.(*sm2.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sign: open: sealed key is a %T, not an SM2 key", k)
	}
	return priv, nil
}

// LoadMasterKey reads a master key file: the 32-byte key as 64 hex
// characters, surrounding whitespace ignored. On Unix it refuses a file
// that its group or others may read or write (mode & 0o077 != 0), as ssh
// does for private keys: fix it with chmod 600.
func LoadMasterKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sign: master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sign: master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("sign: master key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("sign: master key %s has mode %04o: group and others must have no access; run chmod 600 %s", path, perm, path)
	}
	buf, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("sign: master key %s: %w", path, err)
	}
	defer clear(buf)
	key, ok := parseHexKey(string(buf))
	if !ok {
		return nil, fmt.Errorf("sign: master key %s must hold exactly %d hex characters (%d bytes)", path, 2*MasterKeySize, MasterKeySize)
	}
	return key, nil
}

// CreateMasterKey writes a new random master key to path (as 64 hex
// characters and a newline, mode 0600, the directory made with mode 0700
// if missing) and returns it. It never overwrites: an existing file is an
// error.
func CreateMasterKey(path string) ([]byte, error) {
	key := make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("sign: master key: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sign: master key: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("sign: master key %s exists; refusing to overwrite it", path)
		}
		return nil, fmt.Errorf("sign: master key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("sign: master key %s: %w", path, err)
	}
	return key, nil
}

// MasterKeyFromEnv returns the key a $YUNYI_KEYS-style value holds inline:
// ok is true when the value (whitespace trimmed) is exactly 64 hex
// characters. Otherwise ok is false and callers treat the value as the
// path of a key file (LoadMasterKey).
func MasterKeyFromEnv(value string) (key []byte, ok bool) {
	return parseHexKey(value)
}

func parseHexKey(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 2*MasterKeySize {
		return nil, false
	}
	key, err := hex.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return key, true
}
