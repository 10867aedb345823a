// Package blob stores files (visit attachments) behind an interface; Dir
// keeps them in a local folder, the default. A file is written to a
// temporary name and renamed into place only when complete, so a failed
// or rejected upload leaves nothing behind.
package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrTooLarge is returned when a file is larger than the limit.
var ErrTooLarge = errors.New("blob: file too large")

// ErrNotFound is returned for an unknown key.
var ErrNotFound = errors.New("blob: not found")

// Info describes a stored file.
type Info struct {
	Key    string
	Size   int64
	SHA256 string
}

// Store keeps files by key.
type Store interface {
	// Put stores at most max bytes of r under a new key with the given
	// prefix; more than max is ErrTooLarge and nothing is kept.
	Put(ctx context.Context, prefix string, r io.Reader, max int64) (Info, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

// Dir is a Store in a local folder.
type Dir struct{ Root string }

// NewDir makes the folder if needed.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	return &Dir{Root: root}, nil
}

func (d *Dir) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", ErrNotFound
	}
	return filepath.Join(d.Root, filepath.FromSlash(key)), nil
}

func (d *Dir) Put(ctx context.Context, prefix string, r io.Reader, max int64) (Info, error) {
	var rnd [12]byte
	rand.Read(rnd[:])
	key := strings.Trim(prefix, "/") + "/" + hex.EncodeToString(rnd[:])
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return Info{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return Info{}, err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, max+1))
	if err == nil && n > max {
		err = ErrTooLarge
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return Info{}, err
	}
	return Info{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
