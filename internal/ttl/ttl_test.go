package ttl

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := New(50*time.Millisecond, 3)
	loads := 0
	load := func(context.Context) (any, error) { loads++; return loads, nil }
	if v, _ := c.Get(context.Background(), "a", load); v != 1 {
		t.Fatal(v)
	}
	if v, _ := c.Get(context.Background(), "a", load); v != 1 {
		t.Fatal("not cached")
	}
	if _, err := c.Get(context.Background(), "b", func(context.Context) (any, error) { return nil, errors.New("x") }); err == nil {
		t.Fatal("error lost")
	}
	time.Sleep(60 * time.Millisecond)
	if v, _ := c.Get(context.Background(), "a", load); v != 2 {
		t.Fatal("not expired")
	}
	c.Drop("a")
	if v, _ := c.Get(context.Background(), "a", load); v != 3 {
		t.Fatal("not dropped")
	}
	for _, k := range []string{"x", "y", "z", "w"} {
		c.Get(context.Background(), k, load)
	}
	if len(c.m) > 3 {
		t.Fatalf("unbounded: %d", len(c.m))
	}
}

// A rush of misses on one key loads it once; an invalidation during a
// load keeps its result out of the cache.
func TestCacheSharesLoads(t *testing.T) {
	c := New(time.Minute, 10)
	var loads atomic.Int32
	release := make(chan struct{})
	load := func(context.Context) (any, error) {
		loads.Add(1)
		<-release
		return "v", nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.Get(context.Background(), "k", load); v != "v" || err != nil {
				t.Errorf("%v %v", v, err)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	c.Clear() // while the load runs
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for one key", n)
	}
	if _, ok := c.m["k"]; ok {
		t.Fatal("a load begun before Clear was kept")
	}
}
