package web

import (
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// refuseNUL refuses a NUL character in any field of a request's query or
// posted form (issue 15), as decode does for JSON bodies and chat for
// messages: SQLite would store it and PostgreSQL refuse it, so both
// refuse it here, naming the field. An urlencoded body is parsed here (the
// handlers read the parsed form); a multipart form's text fields are
// checked where it is read (postHistory), its files are content.
func refuseNUL(r *http.Request) error {
	if err := nulValues(r.URL.Query()); err != nil {
		return err
	}
	if isAPI(r) || !unsafeMethod(r.Method) {
		return nil
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return nil
	}
	if r.ParseForm() != nil {
		return nil // an unreadable form: its handler answers it
	}
	return nulValues(r.PostForm)
}

// nulValues names every field of a form that holds a NUL character (in a
// value or in its name).
func nulValues(v url.Values) error {
	var f errs.Fields
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		bad := strings.ContainsRune(k, 0)
		for _, x := range v[k] {
			bad = bad || strings.ContainsRune(x, 0)
		}
		if bad {
			f.Add(strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", `\u0000`), "\uFFFD"), "nul_character")
		}
	}
	return f.Err()
}
