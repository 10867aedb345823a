// Package errs defines Yunyi's application errors: a stable code, the
// parameters of its message, and optional per-field errors. Domain packages
// return them; the web package maps codes to HTTP statuses in one place and
// renders the message in the caller's language.
package errs

import (
	"errors"
	"fmt"
)

// Codes are a public contract: clients switch on them. Messages live in the
// catalog (messages.go) in Simplified Chinese and English.
const (
	Invalid        = "invalid_input"
	NotFound       = "not_found"
	Forbidden      = "forbidden"
	Unauthorized   = "unauthorized"
	BadCredentials = "bad_credentials"
	RateLimited    = "rate_limited"
	Conflict       = "conflict"
	Duplicate      = "duplicate"
	CSRF           = "csrf_failed"
	Internal       = "internal"
	Unavailable    = "unavailable"
	PayloadTooBig  = "payload_too_large"
	Unsupported    = "unsupported_media_type"
	NotQualified   = "not_qualified"
)

// FieldError describes what is wrong with one input field.
type FieldError struct {
	Field string `json:"field"`
	Code  string `json:"code"`
	Args  []any  `json:"-"`
}

// Error is an application error with a stable code.
type Error struct {
	Code   string
	Args   []any // arguments of the message template
	Fields []FieldError
	Err    error // wrapped cause, never shown to users
}

func (e *Error) Error() string {
	s := e.Code
	if len(e.Fields) > 0 {
		s += ":"
		for _, f := range e.Fields {
			s += " " + f.Field + "=" + f.Code
		}
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// E makes an error with a code and message arguments.
func E(code string, args ...any) *Error { return &Error{Code: code, Args: args} }

// Wrap makes an error with a code that wraps a cause.
func Wrap(code string, err error) *Error { return &Error{Code: code, Err: err} }

// Code returns the application code of err, Internal when it has none.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code string) bool { return err != nil && Code(err) == code }

// Fields collects field errors; its Err method returns nil when nothing was
// added, so a validator can check every field and report all of them at once.
type Fields struct{ list []FieldError }

// Add records an error for a field.
func (f *Fields) Add(field, code string, args ...any) {
	f.list = append(f.list, FieldError{Field: field, Code: code, Args: args})
}

// Has reports whether the field already has an error.
func (f *Fields) Has(field string) bool {
	for _, e := range f.list {
		if e.Field == field {
			return true
		}
	}
	return false
}

// Err returns an Invalid error holding every field error, or nil.
func (f *Fields) Err() error {
	if len(f.list) == 0 {
		return nil
	}
	return &Error{Code: Invalid, Fields: f.list}
}

// Errorf is a convenience for internal errors with context.
func Errorf(format string, args ...any) error {
	return &Error{Code: Internal, Err: fmt.Errorf(format, args...)}
}
