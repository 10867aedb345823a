package web

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var apiRouteList = func() []string {
	var out []string
	for _, r := range (&Server{}).apiTable() {
		out = append(out, r.pattern)
	}
	return out
}()

// browser is an HTTP client with cookies that does not follow redirects,
// for form flows without a real browser.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	last string
}

func newBrowser(t *testing.T, e *env) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, e: e, c: c}
}

func (b *browser) get(path string) *http.Response {
	res, err := b.c.Get(b.e.ts.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	b.last = string(body)
	return res
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// csrf is the token of anonymous forms (the double-submit cookie).
func (b *browser) csrf() string { return b.cookie(csrfCookie) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// sessionCSRF reads the token that pages of the logged-in session carry.
func (b *browser) sessionCSRF() string {
	b.get("/me")
	m := csrfField.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no csrf field in /me: %s", b.last)
	}
	return m[1]
}

func (b *browser) post(path string, form map[string]string) *http.Response {
	return b.postWith(path, form)
}

func (b *browser) postWith(path string, form map[string]string, hdr ...string) *http.Response {
	v := url.Values{}
	for k, x := range form {
		v.Set(k, x)
	}
	return b.postValues(path, v, hdr...)
}

// postValues posts a form whose fields may repeat (checkboxes).
func (b *browser) postValues(path string, v url.Values, hdr ...string) *http.Response {
	req, _ := http.NewRequest("POST", b.e.ts.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	b.last = string(body)
	return res
}

func (b *browser) api(method, path, body, csrf string) resp {
	req, _ := http.NewRequest(method, b.e.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, raw: raw, header: res.Header}
	jsonUnmarshal(raw, &out.body)
	return out
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }
