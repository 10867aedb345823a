// Package ttl is a small in-memory cache whose entries live for a fixed
// time: hot paths (booking) read directory data, rules and links from it
// instead of the store on every request.
package ttl

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache maps keys to values for TTL. Concurrent misses of one key share
// one load: when an entry expires under a rush, one request reads the
// store and the others wait for its answer.
type Cache struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[string]entry
	gen uint64 // bumped by Drop and Clear: a load begun before is not kept
	sf  singleflight.Group
}

type entry struct {
	v  any
	at time.Time
}

// New makes a cache whose entries live for ttl; past max entries the
// expired ones are swept.
func New(ttl time.Duration, max int) *Cache {
	return &Cache{ttl: ttl, max: max, m: map[string]entry{}}
}

// Get returns the value of key, loading and keeping it when absent or
// expired. Errors are not kept. A load serves every caller waiting for
// the key, so it runs without the cancellation of the ctx of the caller
// that began it.
func (c *Cache) Get(ctx context.Context, key string, load func(ctx context.Context) (any, error)) (any, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.v, nil
	}
	v, err, _ := c.sf.Do(key, func() (any, error) {
		c.mu.Lock()
		gen := c.gen
		c.mu.Unlock()
		v, err := load(context.WithoutCancel(ctx))
		if err == nil {
			c.keep(key, v, gen)
		}
		return v, err
	})
	return v, err
}

// keep stores a loaded value unless the cache was invalidated since the
// load began.
func (c *Cache) keep(key string, v any, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= c.max {
		now := time.Now()
		for k, e := range c.m {
			if now.Sub(e.at) >= c.ttl {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			c.m = map[string]entry{}
		}
	}
	c.m[key] = entry{v: v, at: time.Now()}
}

// Put keeps a value for key.
func (c *Cache) Put(key string, v any) {
	c.mu.Lock()
	c.m[key] = entry{v: v, at: time.Now()}
	c.mu.Unlock()
}

// Drop forgets key.
func (c *Cache) Drop(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.gen++
	c.mu.Unlock()
	c.sf.Forget(key)
}

// Clear forgets everything.
func (c *Cache) Clear() {
	c.mu.Lock()
	c.m = map[string]entry{}
	c.gen++
	c.mu.Unlock()
}
