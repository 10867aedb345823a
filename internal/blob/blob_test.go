package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.Put(ctx, "visit/1", strings.NewReader("hello"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 5 || info.SHA256 != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("info %+v", info)
	}
	r, err := d.Open(ctx, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	// Too large: an error and nothing left in the folder.
	if _, err := d.Put(ctx, "visit/1", bytes.NewReader(make([]byte, 11)), 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
	entries, _ := os.ReadDir(d.Root + "/visit/1")
	if len(entries) != 1 {
		t.Fatalf("a rejected upload left files: %v", entries)
	}
	for _, bad := range []string{"../x", "/etc/passwd", ""} {
		if _, err := d.Open(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
	if err := d.Delete(ctx, info.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, info.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
