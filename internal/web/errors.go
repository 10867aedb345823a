package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
)

// statusOf maps an error code to its HTTP status: the one place where
// domain errors meet HTTP.
func statusOf(code string) int {
	switch code {
	case errs.Invalid, "bad_json", "bad_file", "report_empty":
		return http.StatusBadRequest
	case "ineligible", "prescription_refused", "idempotency_key_reused", "delivery_region", "delivery_not_offered", "insurance_mismatch", "insurance_not_insured",
		"insurance_not_offered", "insurance_not_bound":
		return http.StatusUnprocessableEntity
	case "slot_full", "already_booked", "not_open", "booking_closed", "cancel_cutoff", "slot_closed",
		"visit_illegal_step", "visit_locked", "record_locked", "record_not_signed", "chat_closed", "too_early", "attachment_count",
		"prescribe_window", "prescription_not_pending", "prescription_expired", "prescription_revises",
		"not_payable", "hold_expired", "refund_amount", "order_not_ready", "order_state":
		return http.StatusConflict
	case "statement_not_ready", "summary_not_ready":
		return http.StatusConflict
	case "oversight_illegal_step", "already_rated", "rating_not_open", "not_suspendable", "rect_file_count":
		return http.StatusConflict
	case "bulletin_published", "bulletin_exists":
		return http.StatusConflict
	case "application_pending", "application_decided", "document_count", "not_approved", "not_suspended", "application_required",
		"revalidation_required":
		return http.StatusConflict
	case "supervision_bad_signature", "supervision_unknown_source":
		return http.StatusUnauthorized
	case "supervision_gap", "supervision_mismatch":
		return http.StatusConflict
	case "document_total":
		return http.StatusRequestEntityTooLarge
	case "photo_type":
		return http.StatusUnsupportedMediaType
	case "visit_ended", "guest_limit":
		return http.StatusConflict
	case "retention_period": // retention.CodeTooEarly (N-17)
		return http.StatusConflict
	case "referral_state", "consent_revoked": // package referral
		return http.StatusConflict
	case "hospital_card_mismatch":
		return http.StatusUnprocessableEntity
	case "hospital_card_taken":
		return http.StatusConflict
	case "guest_link_invalid":
		return http.StatusGone
	case "doctor_not_eligible", "invite_not_child", "not_prescriber":
		return http.StatusForbidden
	case "attachment_type":
		return http.StatusUnsupportedMediaType
	case "attachment_too_large", "attachment_total", "import_too_large":
		return http.StatusRequestEntityTooLarge
	case errs.Unauthorized, errs.BadCredentials:
		return http.StatusUnauthorized
	case "totp_required", "totp_invalid", "totp_reused", "login_challenge_expired": // identity.ErrTOTP…
		return http.StatusUnauthorized
	case "identity_confirmation_required": // N-7
		return http.StatusForbidden
	case "totp_not_enrolled", "totp_no_pending":
		return http.StatusConflict
	case errs.Forbidden, errs.CSRF, errs.NotQualified:
		return http.StatusForbidden
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Conflict, errs.Duplicate, "report_published", "identity_disputed", "identity_registered":
		return http.StatusConflict
	case errs.RateLimited:
		return http.StatusTooManyRequests
	case errs.PayloadTooBig:
		return http.StatusRequestEntityTooLarge
	case errs.Unsupported:
		return http.StatusUnsupportedMediaType
	case "method_not_allowed":
		return http.StatusMethodNotAllowed
	case errs.Unavailable, "pdf_font_missing", "signing_unavailable", "identity_check_unavailable":
		return http.StatusServiceUnavailable
	case "payment_provider_down", "insurance_unavailable", "sms_failed":
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

var errPanic = errors.New("panic in handler")

func errCSRF() error { return errs.E(errs.CSRF) }

type apiFieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type apiError struct {
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	Fields    []apiFieldError `json:"fields,omitempty"`
	Details   any             `json:"details,omitempty"`
	RequestID string          `json:"request_id,omitempty"` // the request's X-Request-Id
}

// describe turns err into the public error in lang. Internal causes are
// logged, never shown.
func describe(err error, lang i18n.Lang) (int, apiError) {
	var e *errs.Error
	if !errors.As(err, &e) {
		e = &errs.Error{Code: errs.Internal, Err: err}
	}
	out := apiError{Code: e.Code, Message: i18n.T(lang, e.Code, e.Args...)}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, apiFieldError{Field: f.Field, Code: f.Code, Message: fieldMessage(lang, f)})
	}
	return statusOf(e.Code), out
}

func fieldMessage(lang i18n.Lang, f errs.FieldError) string {
	if !i18n.Has("field."+f.Code) && i18n.Has(f.Code) {
		return i18n.T(lang, f.Code, f.Args...) // a rule's reason (D-1, D-2) given as a field
	}
	return i18n.T(lang, "field."+f.Code, f.Args...)
}

// apiLang is the language of API answers: English only when asked.
func apiLang(r *http.Request) i18n.Lang {
	return i18n.FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// fail answers a request with err: JSON for the API, a page for the UI.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if isFHIR(r) {
		s.fhirFail(w, r, err) // an OperationOutcome (fhir_api.go)
		return
	}
	lang := apiLang(r)
	if !isAPI(r) {
		lang = uiLang(r)
	}
	status, body := describe(err, lang)
	body.RequestID = requestID(r)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", body.RequestID)
	}
	if status == http.StatusTooManyRequests {
		setRetryAfter(w, err)
	}
	if isAPI(r) {
		writeJSON(w, status, map[string]apiError{"error": body})
		return
	}
	s.renderError(w, r, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// maxBody bounds JSON request bodies.
const maxBody = 1 << 20

// decode reads a JSON body into v, refusing other content types, unknown
// fields, trailing data and bodies over maxBody.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errs.E(errs.Unsupported)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errs.E(errs.PayloadTooBig)
		}
		return &errs.Error{Code: "bad_json", Err: fmt.Errorf("read: %w", err)}
	}
	// A NUL character is refused in any text: SQLite would store it and
	// PostgreSQL refuse it, so both refuse it here, naming the field.
	if bytes.Contains(body, []byte(`\u0000`)) {
		if field := nulField(body); field != "" {
			var f errs.Fields
			f.Add(field, "nul_character")
			return f.Err()
		}
	}
	return decodeBytes(body, v)
}

// decodeBytes decodes one JSON value into v as decode does: unknown fields
// and wrong types are field errors, trailing data is refused.
func decodeBytes(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errs.E(errs.PayloadTooBig)
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			var f errs.Fields
			f.Add(ute.Field, "type_"+ute.Type.Kind().String())
			return f.Err()
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			var f errs.Fields
			f.Add(strings.Trim(name, `"`), "unknown_field")
			return f.Err()
		}
		return &errs.Error{Code: "bad_json", Err: fmt.Errorf("decode: %w", err)}
	}
	if dec.More() {
		return &errs.Error{Code: "bad_json"}
	}
	return nil
}

// nulField is the path of the first string (or key) of a JSON document that
// holds a NUL character, "" when none does.
func nulField(body []byte) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	var walk func(v any, path string) string
	walk = func(v any, path string) string {
		switch x := v.(type) {
		case string:
			if strings.ContainsRune(x, 0) {
				return path
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if strings.ContainsRune(k, 0) {
					return p
				}
				if f := walk(x[k], p); f != "" {
					return f
				}
			}
		case []any:
			for i, e := range x {
				if f := walk(e, fmt.Sprintf("%s[%d]", path, i)); f != "" {
					return f
				}
			}
		}
		return ""
	}
	if f := walk(doc, ""); f != "" {
		return f
	}
	return ""
}
