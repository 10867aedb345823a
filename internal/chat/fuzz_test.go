package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// hasNUL says whether any string or key of a JSON value holds a NUL.
func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.ContainsRune(x, 0)
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) || hasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNUL(e) {
				return true
			}
		}
	}
	return false
}

// FuzzFrame: a visit chat's frame from a client (the WebSocket) is
// accepted only as a text frame holding one JSON object of known fields
// and types, of a known type, with no NUL character anywhere (a NUL in any
// text or key, relayed signalling included, is refused naming where);
// anything else is refused with a stable code whose messages (both
// languages) are in the catalogue, the same way each time. An accepted
// frame written again is read back the same; a message it carries is
// either refused by field, or of a known kind, and a text message's text
// is trimmed, present, within visit.MaxMessageRunes and free of NUL.
func FuzzFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","kind":"text","text":"请问有没有发热？","client_id":"d1"}`,
		`{"type":"message","kind":"image","attachment_id":12,"client_id":"3f2a"}`,
		`{"type":"signal","data":{"sdp":"offer","candidates":[{"c":"udp 1 2"}]}}`,
		`{"type":"read","seq":41}`, `{"type":"call","event":"started"}`, `{"type":"call","event":"ended"}`,
		`{"type":"message","text":"a\u0000b"}`, `{"type":"signal","data":{"x\u0000":1}}`, `{"type":"message","client_id":"\u0000"}`,
		`{"type":"message","text":"\\u0000"}`, `{"type":"message","text":"   "}`, `{"type":"message","text":"` + strings.Repeat("长", 2001) + `"}`,
		`{"type":"message","kind":"video","text":"x"}`, `{"type":"nope"}`, `{}`, `null`, `[]`, `"message"`, ``, `{"type":"read","seq":"41"}`,
		`{"type":"read","seq":1e30}`, `{"type":"read","seq":1.5}`, `{"type":"message","extra":1}`, `{"type":"read"}{"type":"read"}`,
		"{\"type\":\"message\",\"text\":\"\xff\xfe\"}", `{"type":"message","text":"x","text":"y"}`, `{"type":"signal","data":null}`,
		`{"type":"message","client_id":"` + strings.Repeat("x", 65) + `"}`, `{"Type":"READ","SEQ":1}`, `{"type":"signal","data":[1,{"a":"\u0000"}]}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Add([]byte(`{"type":"read","seq":1}`), false)
	stable := map[string]bool{errs.Unsupported: true, "bad_json": true, errs.Invalid: true}
	f.Fuzz(func(t *testing.T, data []byte, text bool) {
		in, err := DecodeFrame(text, data)
		var doc any
		valid := json.Unmarshal(data, &doc) == nil
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || !stable[e.Code] || (e.Code == errs.Invalid) != (len(e.Fields) > 0) {
				t.Fatalf("%q refused with %v: want a stable code", data, err)
			}
			for _, lang := range []i18n.Lang{i18n.ZH, i18n.EN} {
				if m := i18n.T(lang, e.Code); !i18n.Has(e.Code) || strings.Contains(m, "%!") {
					t.Fatalf("%q: code %s: %q", data, e.Code, m)
				}
				for _, fe := range e.Fields {
					if !i18n.Has("field."+fe.Code) || !utf8.ValidString(fe.Field) || strings.ContainsRune(fe.Field, 0) {
						t.Fatalf("%q: field %+v", data, fe)
					}
				}
			}
			if hasNUL(doc) && text && (len(e.Fields) != 1 || e.Fields[0].Code != "nul_character") {
				t.Fatalf("%q holds a NUL: refused with %v", data, err)
			}
			if _, again := DecodeFrame(text, data); again == nil || again.Error() != err.Error() {
				t.Fatalf("%q refused with %v, then %v", data, err, again)
			}
			return
		}
		if !text || !valid || !FrameTypes[in.Type] {
			t.Fatalf("%q (text %v) accepted as %+v", data, text, in)
		}
		if hasNUL(doc) {
			t.Fatalf("%q holds a NUL, accepted", data)
		}
		for _, s := range []string{in.Type, in.Kind, in.Text, in.ClientID, in.Event} {
			if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
				t.Fatalf("%q accepted with %q", data, s)
			}
		}
		// Written again, the same frame.
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeFrame(true, out)
		if err != nil {
			t.Fatalf("%q written again as %s: %v", data, out, err)
		}
		norm := func(w Frame) Frame {
			if len(w.Data) == 0 {
				w.Data = json.RawMessage("null")
			}
			var b bytes.Buffer
			json.Compact(&b, w.Data)
			w.Data = b.Bytes()
			return w
		}
		if !reflect.DeepEqual(norm(back), norm(in)) {
			t.Fatalf("%q read back as %+v, was %+v", data, back, in)
		}
		if in.Type != "message" {
			return
		}
		m, fs := CheckMessage(in.Kind, in.Text, in.ClientID)
		if err := fs.Err(); err != nil {
			var e *errs.Error
			errors.As(err, &e)
			for _, fe := range e.Fields {
				if !i18n.Has("field." + fe.Code) {
					t.Fatalf("message field code %s has no text", fe.Code)
				}
			}
			return
		}
		if m.Kind == visit.MsgText && (m.Text == "" || m.Text != strings.TrimSpace(m.Text) || strings.ContainsRune(m.Text, 0) ||
			utf8.RuneCountInString(m.Text) > visit.MaxMessageRunes) {
			t.Fatalf("%q: text message %q accepted", data, m.Text)
		}
		if (m.Kind != visit.MsgText && m.Kind != visit.MsgImage) || utf8.RuneCountInString(m.ClientID) > MaxClientID {
			t.Fatalf("%q: message %+v accepted", data, m)
		}
	})
}
