// Package ttl is a small in-memory cache whose entries live for a fixed
// time: hot paths (booking) read directory data, rules and links from it
// instead of the store on every request.
package ttl

import (
	"sync"
	"time"
)

// Cache maps keys to values for TTL.
type Cache struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[string]entry
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
// expired. Errors are not kept.
func (c *Cache) Get(key string, load func() (any, error)) (any, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
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
	c.mu.Unlock()
	return v, nil
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
	c.mu.Unlock()
}

// Clear forgets everything.
func (c *Cache) Clear() {
	c.mu.Lock()
	c.m = map[string]entry{}
	c.mu.Unlock()
}
