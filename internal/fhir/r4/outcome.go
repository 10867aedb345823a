package r4

import (
	"html"
	"net/http"
	"strings"
)

// Problem is one issue of an OperationOutcome: Yunyi's stable code (the
// JSON API's error or field code), its text in the caller's language, and
// where it is (a field, a parameter), with more codings (a rule's code).
type Problem struct {
	Code       string
	Text       string
	Expression string
	Type       string // the FHIR issue type; "" takes the status's
	Severity   string // "" is error
	More       []Coding
}

// IssueType is the FHIR issue type of an HTTP status.
func IssueType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "login"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound, http.StatusGone:
		return "not-found"
	case http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusUnsupportedMediaType:
		return "not-supported"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too-costly"
	case http.StatusUnprocessableEntity:
		return "business-rule"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return "transient"
	}
	return "exception"
}

// Outcome makes the OperationOutcome of a failed request.
func Outcome(status int, problems ...Problem) *OperationOutcome {
	o := &OperationOutcome{ResourceType: "OperationOutcome"}
	var texts []string
	for _, p := range problems {
		is := Issue{Severity: p.Severity, Code: p.Type,
			Details: &CodeableConcept{Coding: append([]Coding{{System: SystemError, Code: p.Code}}, p.More...), Text: p.Text}}
		if is.Severity == "" {
			is.Severity = "error"
		}
		if is.Code == "" {
			is.Code = IssueType(status)
		}
		if p.Expression != "" {
			is.Expression = []string{p.Expression}
		}
		o.Issue = append(o.Issue, is)
		texts = append(texts, "<p>"+html.EscapeString(p.Text)+"</p>")
	}
	o.Text = Narrative{Status: "generated", Div: `<div xmlns="http://www.w3.org/1999/xhtml">` + strings.Join(texts, "") + `</div>`}
	return o
}
