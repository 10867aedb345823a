package ttl

import (
	"errors"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := New(50*time.Millisecond, 3)
	loads := 0
	load := func() (any, error) { loads++; return loads, nil }
	if v, _ := c.Get("a", load); v != 1 {
		t.Fatal(v)
	}
	if v, _ := c.Get("a", load); v != 1 {
		t.Fatal("not cached")
	}
	if _, err := c.Get("b", func() (any, error) { return nil, errors.New("x") }); err == nil {
		t.Fatal("error lost")
	}
	time.Sleep(60 * time.Millisecond)
	if v, _ := c.Get("a", load); v != 2 {
		t.Fatal("not expired")
	}
	c.Drop("a")
	if v, _ := c.Get("a", load); v != 3 {
		t.Fatal("not dropped")
	}
	for _, k := range []string{"x", "y", "z", "w"} {
		c.Get(k, load)
	}
	if len(c.m) > 3 {
		t.Fatalf("unbounded: %d", len(c.m))
	}
}
