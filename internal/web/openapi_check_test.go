package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The API's answers checked against its own document (issue 16, "Typed
// OpenAPI"): the test servers' handler is wrapped so that every answer
// under /api/v1 is validated against the schema openapi.json gives its
// operation and status, and every JSON body a test sent that the server
// took (a 2xx answer) against the operation's request schema. A mismatch
// fails the test that made the request, naming the route, the status, the
// place in the body and the reason. The document is read and its schemas
// compiled once per process (santhosh-tekuri/jsonschema, JSON Schema
// 2020-12, which OpenAPI 3.1's schemas are); an operation is found by a
// ServeMux built from the document's own paths, which
// TestOpenAPIMatchesRouter proves equal to the router's.

// apiPrefix is the document's server URL: its paths are below it.
const apiPrefix = "/api/v1"

// openapiDocURL names the document for the schema compiler.
const openapiDocURL = "https://yunyi.invalid/api/v1/openapi.json"

// oaDoc is the document as the checks use it, loaded once.
type oaDoc struct {
	raw   []byte
	doc   map[string]any
	mux   *http.ServeMux // "METHOD /api/v1/path" of every operation
	mu    sync.Mutex     // guards comp and schemas
	comp  *jsonschema.Compiler
	cache map[string]compiled // JSON pointer → its compiled schema
}

type compiled struct {
	s   *jsonschema.Schema
	err error
}

var (
	oaOnce sync.Once
	oa     *oaDoc
	oaErr  error
)

// openapiDoc returns the served document, loaded and indexed once.
func openapiDoc() (*oaDoc, error) {
	oaOnce.Do(func() { oa, oaErr = loadOpenAPIDoc() })
	return oa, oaErr
}

func loadOpenAPIDoc() (*oaDoc, error) {
	raw, err := assets.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	doc, ok := inst.(map[string]any)
	if !ok {
		return nil, errors.New("openapi.json: not an object")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(openapiDocURL, doc); err != nil {
		return nil, err
	}
	d := &oaDoc{raw: raw, doc: doc, comp: c, cache: map[string]compiled{}, mux: http.NewServeMux()}
	for _, op := range d.operations() {
		pattern := strings.ToUpper(op.method) + " " + apiPrefix + op.path
		if err := registerPattern(d.mux, pattern, op.pointer()); err != nil {
			return nil, fmt.Errorf("openapi.json: %s: %w", pattern, err)
		}
	}
	return d, nil
}

// registerPattern adds pattern to mux, its handler naming the operation's
// pointer; a pattern the mux refuses (a conflict) is an error.
func registerPattern(mux *http.ServeMux, pattern, ptr string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	mux.Handle(pattern, opHandler(ptr))
	return nil
}

// opHandler is never served: ServeMux.Handler returns it to name the
// operation a request reaches.
type opHandler string

func (opHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

var oaMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// oaOp is one operation of the document.
type oaOp struct {
	path, method string
	op           map[string]any
}

func (o oaOp) pointer() string { return "/paths/" + ptrEscape(o.path) + "/" + o.method }

func ptrEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (d *oaDoc) operations() []oaOp {
	paths, _ := d.doc["paths"].(map[string]any)
	var out []oaOp
	for p, item := range paths {
		pi, _ := item.(map[string]any)
		for _, m := range oaMethods {
			if op, ok := pi[m].(map[string]any); ok {
				out = append(out, oaOp{path: p, method: m, op: op})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].method < out[j].method
	})
	return out
}

// at is the document's value at a JSON pointer ("" for the root).
func (d *oaDoc) at(ptr string) any {
	var v any = d.doc
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		default:
			return nil
		}
	}
	return v
}

// schema compiles the schema at ptr once; later calls share it.
func (d *oaDoc) schema(ptr string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.cache[ptr]; ok {
		return c.s, c.err
	}
	s, err := d.comp.Compile(openapiDocURL + "#" + ptr)
	d.cache[ptr] = compiled{s, err}
	return s, err
}

// mediaKey is the key of content (a map of media types) that serves the
// media type mt: itself, its type's range (image/*) or */*; "" for none.
func mediaKey(content map[string]any, mt string) string {
	if _, ok := content[mt]; ok {
		return mt
	}
	if typ, _, ok := strings.Cut(mt, "/"); ok {
		if _, ok := content[typ+"/*"]; ok {
			return typ + "/*"
		}
	}
	if _, ok := content["*/*"]; ok {
		return "*/*"
	}
	return ""
}

// isJSONMedia tells a JSON media type: application/json or any +json.
func isJSONMedia(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// responseKey is the key of responses that describes status: the code,
// its class (4XX) or default; "" for none.
func responseKey(responses map[string]any, status int) string {
	for _, k := range []string{strconv.Itoa(status), strconv.Itoa(status/100) + "XX", "default"} {
		if _, ok := responses[k]; ok {
			return k
		}
	}
	return ""
}

// validate checks a JSON body against the schema at ptr: "" when it holds,
// else the reasons, one line.
func (d *oaDoc) validate(ptr string, body []byte) string {
	s, err := d.schema(ptr)
	if err != nil {
		return fmt.Sprintf("schema %s does not compile: %v", ptr, oneLine(err.Error()))
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Sprintf("body is not JSON: %v", err)
	}
	if err := s.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return "schema " + ptr + ": " + leafErrors(ve)
		}
		return oneLine(err.Error())
	}
	return ""
}

// leafErrors lists a validation error's leaves, each with its place in
// the instance.
func leafErrors(ve *jsonschema.ValidationError) string {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, "at /"+strings.Join(e.InstanceLocation, "/")+": "+oneLine(e.ErrorKind.LocalizedString(enPrinter)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(out) > 6 {
		out = append(out[:6], fmt.Sprintf("… %d more", len(out)-6))
	}
	return strings.Join(out, "; ")
}

var enPrinter = message.NewPrinter(language.English)

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// check tells what is wrong with an exchange under /api/v1: the request
// (reqBody, of media type reqType, checked only when the answer is 2xx),
// and the answer (status, media type, body); nil when both agree with the
// document.
func (d *oaDoc) check(r *http.Request, reqType string, reqBody []byte, status int, resType string, resBody []byte) []string {
	var bad []string
	h, _ := d.mux.Handler(r)
	ptr, routed := h.(opHandler)
	if !routed {
		// No operation: the router's 404 or 405, in the one error form.
		if status < 400 {
			return []string{fmt.Sprintf("answered %d on a route the document does not have", status)}
		}
		if isJSONMedia(resType) {
			if why := d.validate("/components/schemas/Error", resBody); why != "" {
				bad = append(bad, why)
			}
		}
		return bad
	}
	op, _ := d.at(string(ptr)).(map[string]any)
	responses, _ := op["responses"].(map[string]any)
	key := responseKey(responses, status)
	if key == "" {
		return []string{fmt.Sprintf("status %d is not in the document (%s)", status, string(ptr))}
	}
	rptr := string(ptr) + "/responses/" + key
	content, _ := d.at(rptr + "/content").(map[string]any)
	switch {
	case len(resBody) == 0 || status == http.StatusNotModified:
		// No body: nothing to check against.
	case resType == "":
		bad = append(bad, "a body without a Content-Type")
	default:
		mk := mediaKey(content, resType)
		switch {
		case mk == "":
			bad = append(bad, fmt.Sprintf("answer of type %s, the document's %s gives %s", resType, rptr, mediaList(content)))
		case isJSONMedia(resType):
			if _, ok := d.at(rptr + "/content/" + ptrEscape(mk) + "/schema").(map[string]any); !ok {
				bad = append(bad, fmt.Sprintf("%s has no schema for %s", rptr, mk))
			} else if why := d.validate(rptr+"/content/"+ptrEscape(mk)+"/schema", resBody); why != "" {
				bad = append(bad, "answer: "+why)
			}
		}
	}
	if status/100 == 2 && isJSONMedia(reqType) && len(bytes.TrimSpace(reqBody)) > 0 {
		rb, _ := op["requestBody"].(map[string]any)
		rcontent, _ := rb["content"].(map[string]any)
		mk := mediaKey(rcontent, reqType)
		switch {
		case rb == nil && string(bytes.TrimSpace(reqBody)) == "{}":
			// An empty object where the operation takes no body: the
			// server reads it as none.
		case rb == nil:
			bad = append(bad, fmt.Sprintf("took a %s request body, the document's %s has none", reqType, string(ptr)))
		case mk == "":
			bad = append(bad, fmt.Sprintf("took a %s request body, the document's %s gives %s", reqType, string(ptr), mediaList(rcontent)))
		default:
			if why := d.validate(string(ptr)+"/requestBody/content/"+ptrEscape(mk)+"/schema", reqBody); why != "" {
				bad = append(bad, "request: "+why)
			}
		}
	}
	return bad
}

func mediaList(content map[string]any) string {
	if len(content) == 0 {
		return "no body"
	}
	var ks []string
	for k := range content {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// mediaType is the media type of a Content-Type header, lower case, without
// parameters.
func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

// openapiCheck wraps a server's handler with the document's checks; a
// mismatch fails t. A request that upgrades (a visit's socket) passes
// unchecked, and so does a request body too large to be JSON the API takes
// (imports stream).
func openapiCheck(t *testing.T, h http.Handler) http.Handler {
	if os.Getenv("YUNYI_OPENAPI_CHECK") == "off" {
		return h // to measure what the checks cost
	}
	d, err := openapiDoc()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, apiPrefix+"/") || r.Method == http.MethodHead || r.Header.Get("Upgrade") != "" {
			h.ServeHTTP(w, r)
			return
		}
		began := time.Now()
		var served time.Duration
		defer func() { oaStats.add(time.Since(began) - served) }()
		reqType := mediaType(r.Header.Get("Content-Type"))
		var reqBody []byte
		if isJSONMedia(reqType) && r.Body != nil {
			buf, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
			if err == nil && len(buf) <= maxBody {
				reqBody = buf
			} else {
				reqType = "" // too large to check: the server refuses it or streams it
			}
		}
		rec := &checkWriter{ResponseWriter: w}
		serving := time.Now()
		h.ServeHTTP(rec, r)
		served = time.Since(serving)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if rec.hijacked || (rec.keep == false && isJSONMedia(rec.media)) {
			return // a hijacked connection, or a JSON body too large to keep
		}
		for _, why := range d.check(r, reqType, reqBody, rec.status, rec.media, rec.body.Bytes()) {
			t.Errorf("openapi: %s %s → %d: %s\n\tbody: %s", r.Method, r.URL.RequestURI(), rec.status, why, excerpt(rec.body.Bytes()))
		}
	})
}

// oaStats counts the exchanges checked and the time the checks took
// (keeping the bodies, finding the operation, validating), the handler's
// own time left out; YUNYI_OPENAPI_STATS=1 prints them after the tests.
var oaStats checkStats

type checkStats struct {
	mu   sync.Mutex
	n    int
	took time.Duration
}

func (c *checkStats) add(d time.Duration) {
	c.mu.Lock()
	c.n++
	c.took += d
	c.mu.Unlock()
}

func (c *checkStats) report() {
	if os.Getenv("YUNYI_OPENAPI_STATS") == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(os.Stderr, "openapi checks: %d exchanges, %v in all\n", c.n, c.took)
}

func excerpt(b []byte) string {
	s := oneLine(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

type readCloser struct {
	io.Reader
	io.Closer
}

// maxCheckedAnswer bounds the JSON answers kept to be checked.
const maxCheckedAnswer = 8 << 20

// checkWriter passes an answer on and keeps its status, media type and, for
// a JSON answer, its body (a non-JSON body: its first bytes, to tell one).
type checkWriter struct {
	http.ResponseWriter
	status   int
	media    string
	body     bytes.Buffer
	keep     bool
	hijacked bool
}

func (c *checkWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
		c.media = mediaType(c.Header().Get("Content-Type"))
		c.keep = true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *checkWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		if c.Header().Get("Content-Type") == "" {
			c.Header().Set("Content-Type", http.DetectContentType(p))
		}
		c.WriteHeader(http.StatusOK)
	}
	if c.keep {
		switch {
		case !isJSONMedia(c.media):
			if c.body.Len() < 512 {
				c.body.Write(p[:min(len(p), 512-c.body.Len())])
			}
		case c.body.Len()+len(p) > maxCheckedAnswer:
			c.keep = false
			c.body.Reset()
		default:
			c.body.Write(p)
		}
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushes).
func (c *checkWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *checkWriter) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *checkWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c.hijacked = true
	return http.NewResponseController(c.ResponseWriter).Hijack()
}

// --- the document against the router ---

// TestOpenAPIMatchesRouter holds the document to the router: every route
// under /api/v1 that the server registers is in the document with its
// method, every operation of the document is a route, and every operation
// is typed: an operationId (unique), a success answer with a schema (or a
// non-JSON media type: PDF, CSV, HTML, images; none for 204), the error
// answers in the one Error form, and a request body with a schema.
func TestOpenAPIMatchesRouter(t *testing.T) {
	d, err := openapiDoc()
	if err != nil {
		t.Fatal(err)
	}
	router := map[string]bool{}
	for _, p := range registeredRoutes(t) {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			if strings.HasPrefix(p, apiPrefix+"/") {
				t.Errorf("route %q has no method: the document cannot describe it", p)
			}
			continue
		}
		if strings.HasPrefix(path, apiPrefix+"/") {
			router[strings.ToLower(method)+" "+strings.TrimPrefix(path, apiPrefix)] = true
		}
	}
	documented := map[string]bool{}
	ids := map[string]string{}
	for _, o := range d.operations() {
		key := o.method + " " + o.path
		documented[key] = true
		name := strings.ToUpper(o.method) + " " + apiPrefix + o.path
		if !router[key] {
			t.Errorf("the document has %s, the router does not", name)
		}
		id, _ := o.op["operationId"].(string)
		switch {
		case id == "":
			t.Errorf("%s has no operationId", name)
		case ids[id] != "":
			t.Errorf("%s and %s share the operationId %s", ids[id], name, id)
		default:
			ids[id] = name
		}
		checkResponses(t, d, o, name)
		if rb, ok := o.op["requestBody"].(map[string]any); ok {
			content, _ := rb["content"].(map[string]any)
			if len(content) == 0 {
				t.Errorf("%s: a request body without content", name)
			}
			for mt := range content {
				if _, ok := d.at(o.pointer() + "/requestBody/content/" + ptrEscape(mt) + "/schema").(map[string]any); !ok {
					t.Errorf("%s: request body %s has no schema", name, mt)
				}
			}
		}
	}
	for key := range router {
		if !documented[key] {
			method, path, _ := strings.Cut(key, " ")
			t.Errorf("the router has %s %s%s, the document does not", strings.ToUpper(method), apiPrefix, path)
		}
	}
	// No schema anywhere is a bare object: a client generator makes a type
	// of each, so each names its properties, or says it is a map
	// (additionalProperties), or composes others.
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "object" && x["properties"] == nil && x["additionalProperties"] == nil && x["patternProperties"] == nil &&
				x["allOf"] == nil && x["oneOf"] == nil && x["anyOf"] == nil && x["$ref"] == nil {
				t.Errorf("a bare object schema at %s", ptr)
			}
			for k, c := range x {
				walk(c, ptr+"/"+ptrEscape(k))
			}
		case []any:
			for i, c := range x {
				walk(c, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(d.doc, "")
}

// isError tells a schema that is the Error schema, or a component made
// of it (allOf) that says more about one error.
func (d *oaDoc) isError(ptr string) bool {
	const errRef = "#/components/schemas/Error"
	ref, _ := d.at(ptr + "/$ref").(string)
	if ref == errRef {
		return true
	}
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	if !ok {
		return false
	}
	all, _ := d.at("/components/schemas/" + ptrEscape(name) + "/allOf").([]any)
	for _, a := range all {
		if m, _ := a.(map[string]any); m["$ref"] == errRef {
			return true
		}
	}
	return false
}

// checkResponses checks an operation's answers: a typed success, and errors
// in the Error form.
func checkResponses(t *testing.T, d *oaDoc, o oaOp, name string) {
	t.Helper()
	responses, _ := o.op["responses"].(map[string]any)
	success := false
	for code := range responses {
		rptr := o.pointer() + "/responses/" + ptrEscape(code)
		content, _ := d.at(rptr + "/content").(map[string]any)
		switch {
		case code == "default" || code[0] == '4' || code[0] == '5':
			if o.op["x-error-form"] == "provider" {
				// A provider's callback (payment, courier) is answered in
				// the provider's form; it still needs a schema.
				if len(content) == 0 {
					t.Errorf("%s: error answer %s has no content", name, code)
				}
				continue
			}
			if _, isJSON := content["application/json"]; (isJSON || code == "default") && !d.isError(rptr+"/content/application~1json/schema") {
				t.Errorf("%s: error answer %s is not the Error schema", name, code)
			}
			if len(content) == 0 {
				t.Errorf("%s: error answer %s has no content", name, code)
			}
		case code[0] == '2' || code == "101":
			success = true
			if len(content) == 0 && code != "204" && code != "101" {
				t.Errorf("%s: answer %s has no content", name, code)
			}
			for mt := range content {
				if _, ok := d.at(rptr + "/content/" + ptrEscape(mt) + "/schema").(map[string]any); !ok && isJSONMedia(mt) {
					t.Errorf("%s: answer %s %s has no schema", name, code, mt)
				}
			}
		}
	}
	if !success {
		t.Errorf("%s has no success answer", name)
	}
	if _, ok := responses["default"]; !ok {
		t.Errorf("%s has no default (error) answer", name)
	}
}

// TestOpenAPIDocumentIsValid loads the document as a client generator
// would (kin-openapi's loader, every $ref resolved) and validates it as
// OpenAPI 3.1: its structure, its schemas, its path parameters.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	d, err := openapiDoc()
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(d.raw)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %q: want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Errorf("openapi.json is not valid OpenAPI: %v", err)
	}
	// Every schema of components compiles as JSON Schema 2020-12 (what the
	// answers are checked with).
	schemas, _ := d.at("/components/schemas").(map[string]any)
	for name := range schemas {
		if _, err := d.schema("/components/schemas/" + ptrEscape(name)); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
}
