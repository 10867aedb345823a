package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// call is what a JSON handler gets of its request besides the body: the
// actor, the path and the query, and the request itself for auditing.
type call struct {
	Actor authz.Actor
	r     *http.Request
}

// PathID is the path parameter name as an id; a malformed one is not_found.
func (c call) PathID(name string) (int64, error) {
	id, err := strconv.ParseInt(c.r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.E(errs.NotFound)
	}
	return id, nil
}

// Path is a path parameter.
func (c call) Path(name string) string { return c.r.PathValue(name) }

// Query is a query parameter.
func (c call) Query(name string) string { return c.r.URL.Query().Get(name) }

// none is the input of a handler that takes no body.
type none struct{}

// jsonAPI adapts a plain function to an HTTP handler: it decodes the JSON
// body into In (unless In is none), calls fn and writes its answer with
// status, or the error through the one error mapping (fail).
func jsonAPI[In, Out any](s *Server, status int, fn func(ctx context.Context, c call, in In) (Out, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in In
		if _, empty := any(in).(none); !empty {
			if err := decode(w, r, &in); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		out, err := fn(r.Context(), call{Actor: actor(r), r: r}, in)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, status, out)
	}
}
