// Package crawl collects articles from the monitor's sources over HTTP,
// politely and safely: robots.txt is obeyed (a disallowed page is never
// requested), requests are conditional (ETag, Last-Modified), each host is
// rate limited, responses are bounded in time and size, failures are
// retried with backoff, and addresses on loopback or private networks are
// refused unless allowed (no SSRF through a source URL).
package crawl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/temoto/robotstxt"
	"golang.org/x/time/rate"
)

// UserAgent names the crawler and where to learn about it.
const UserAgent = "YunyiMonitor/1.0 (+https://yunyi.dev/monitor; health-IT public-opinion monitoring)"

// Options of a Fetcher.
type Options struct {
	AllowPrivate bool          // allow loopback and private addresses (tests, fixture sites)
	Timeout      time.Duration // per request
	MaxBody      int64         // bytes
	PerHost      rate.Limit    // requests a second to one host
	Retries      int
	Backoff      time.Duration
}

// DefaultOptions are used for real sources.
var DefaultOptions = Options{Timeout: 15 * time.Second, MaxBody: 5 << 20, PerHost: 2, Retries: 2, Backoff: 500 * time.Millisecond}

// Fetcher gets pages.
type Fetcher struct {
	opt    Options
	client *http.Client
	mu     sync.Mutex
	robots map[string]*robotstxt.RobotsData
	hosts  map[string]*rate.Limiter
}

// ErrBlocked is returned for addresses the fetcher may not reach.
var ErrBlocked = errors.New("address not allowed (loopback or private network)")

// ErrDisallowed is returned for pages robots.txt disallows.
var ErrDisallowed = errors.New("disallowed by robots.txt")

// NewFetcher makes a fetcher.
func NewFetcher(o Options) *Fetcher {
	d := &net.Dialer{Timeout: o.Timeout, Control: func(network, address string, _ syscall.RawConn) error {
		if o.AllowPrivate {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() {
			return ErrBlocked
		}
		return nil
	}}
	tr := &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: o.Timeout, ResponseHeaderTimeout: o.Timeout, MaxIdleConnsPerHost: 4}
	return &Fetcher{opt: o, robots: map[string]*robotstxt.RobotsData{}, hosts: map[string]*rate.Limiter{},
		client: &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		}}}
}

// Page is a fetched page.
type Page struct {
	URL          string
	Status       int // 200, or 304 when unchanged
	Body         []byte
	ContentType  string
	ETag         string
	LastModified string
}

func (f *Fetcher) limiter(host string) *rate.Limiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.hosts[host]
	if l == nil {
		l = rate.NewLimiter(f.opt.PerHost, 1)
		f.hosts[host] = l
	}
	return l
}

// allowed reads (once per host) and applies robots.txt.
func (f *Fetcher) allowed(ctx context.Context, u *url.URL) (bool, error) {
	key := u.Scheme + "://" + u.Host
	f.mu.Lock()
	rd, ok := f.robots[key]
	f.mu.Unlock()
	if !ok {
		res, err := f.do(ctx, key+"/robots.txt", "", "")
		switch {
		case err != nil && errors.Is(err, ErrBlocked):
			return false, err
		case err != nil:
			rd = nil // unreachable robots.txt: allow, as crawlers do for 5xx-free errors
		default:
			rd, _ = robotstxt.FromStatusAndBytes(res.Status, res.Body)
		}
		f.mu.Lock()
		f.robots[key] = rd
		f.mu.Unlock()
	}
	if rd == nil {
		return true, nil
	}
	return rd.TestAgent(u.RequestURI(), "YunyiMonitor"), nil
}

// Get fetches a page after checking robots.txt, conditionally on the
// ETag and Last-Modified given, with retries on 5xx and network errors.
func (f *Fetcher) Get(ctx context.Context, raw, etag, lastModified string) (*Page, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("bad URL %q", raw)
	}
	ok, err := f.allowed(ctx, u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrDisallowed
	}
	var last error
	for attempt := 0; attempt <= f.opt.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(f.opt.Backoff << (attempt - 1)):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		p, err := f.do(ctx, raw, etag, lastModified)
		if err == nil {
			if p.Status >= 500 {
				last = fmt.Errorf("%s: HTTP %d", raw, p.Status)
				continue
			}
			if p.Status != 200 && p.Status != 304 {
				return nil, fmt.Errorf("%s: HTTP %d", raw, p.Status)
			}
			return p, nil
		}
		if errors.Is(err, ErrBlocked) || errors.Is(err, errTooBig) {
			return nil, err
		}
		last = err
	}
	return nil, last
}

var errTooBig = errors.New("response larger than the body limit")

func (f *Fetcher) do(ctx context.Context, raw, etag, lastModified string) (*Page, error) {
	u, _ := url.Parse(raw)
	if err := f.limiter(u.Host).Wait(ctx); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", raw, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "text/html, application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	res, err := f.client.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), ErrBlocked.Error()) {
			return nil, ErrBlocked
		}
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, f.opt.MaxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > f.opt.MaxBody {
		return nil, errTooBig
	}
	return &Page{URL: res.Request.URL.String(), Status: res.StatusCode, Body: body, ContentType: res.Header.Get("Content-Type"),
		ETag: res.Header.Get("ETag"), LastModified: res.Header.Get("Last-Modified")}, nil
}
