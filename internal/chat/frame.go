package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Frame is what a participant's client sends on a visit's connection.
type Frame struct {
	Type string `json:"type"` // one of FrameTypes
	// message
	Kind         string `json:"kind"` // text (default) or image
	Text         string `json:"text"`
	AttachmentID int64  `json:"attachment_id"`
	ClientID     string `json:"client_id"`
	// read
	Seq int64 `json:"seq"`
	// call: started or ended
	Event string `json:"event"`
	// signal: WebRTC signalling, relayed as it is
	Data json.RawMessage `json:"data"`
}

// FrameTypes are the frames a client may send.
var FrameTypes = map[string]bool{"message": true, "signal": true, "read": true, "call": true}

// DecodeFrame reads a client's frame as the JSON API reads a body, and
// refuses with a stable code what it does not accept, so that the
// connection can answer an error and stay open: a binary frame
// (unsupported_media_type); not JSON, or more than one value (bad_json);
// and, as invalid_input naming the field, an unknown field (unknown_field),
// a value of the wrong type (type_...), a NUL character in any text or key,
// the relayed signalling included (nul_character: PostgreSQL refuses it,
// and no client needs it), or a type not of FrameTypes (not_an_option).
func DecodeFrame(text bool, data []byte) (Frame, error) {
	if !text {
		return Frame{}, errs.E(errs.Unsupported)
	}
	if bytes.Contains(data, []byte(`\u0000`)) {
		if field := nulField(data); field != "" {
			var f errs.Fields
			f.Add(field, "nul_character")
			return Frame{}, f.Err()
		}
	}
	var in Frame
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			var f errs.Fields
			f.Add(ute.Field, "type_"+ute.Type.Kind().String())
			return Frame{}, f.Err()
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			var f errs.Fields
			f.Add(strings.Trim(name, `"`), "unknown_field")
			return Frame{}, f.Err()
		}
		return Frame{}, &errs.Error{Code: "bad_json", Err: fmt.Errorf("decode: %w", err)}
	}
	if dec.More() {
		return Frame{}, &errs.Error{Code: "bad_json"}
	}
	if !FrameTypes[in.Type] {
		var f errs.Fields
		f.Add("type", "not_an_option")
		return Frame{}, f.Err()
	}
	return in, nil
}

// nulField is the path of the first string (or key) of a JSON document
// that holds a NUL character ("frame" for the document itself, a key
// written as "" when it is empty), "" when none does.
func nulField(body []byte) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	var walk func(v any, path string) (string, bool)
	walk = func(v any, path string) (string, bool) {
		switch x := v.(type) {
		case string:
			if strings.ContainsRune(x, 0) {
				return path, true
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				name := k
				if name == "" {
					name = `""`
				}
				p := name
				if path != "" {
					p = path + "." + name
				}
				if strings.ContainsRune(k, 0) {
					return strings.ToValidUTF8(strings.ReplaceAll(p, "\x00", `\u0000`), "\uFFFD"), true
				}
				if f, ok := walk(x[k], p); ok {
					return f, true
				}
			}
		case []any:
			for i, e := range x {
				if f, ok := walk(e, fmt.Sprintf("%s[%d]", path, i)); ok {
					return f, true
				}
			}
		}
		return "", false
	}
	f, ok := walk(doc, "")
	if ok && f == "" {
		f = "frame"
	}
	return f
}

// MaxClientID bounds a message's client id (characters).
const MaxClientID = 64

// CheckMessage is what a message's fields alone say, on any path (the
// socket, the API, a form): its kind (text by default, else image), a
// client id of at most MaxClientID characters without NUL, and a text
// message's text, trimmed: present, without NUL, at most
// visit.MaxMessageRunes. An image's attachment is the store's to check.
func CheckMessage(kind, text, clientID string) (visit.Message, errs.Fields) {
	var f errs.Fields
	m := visit.Message{Kind: kind, ClientID: clientID}
	if m.Kind == "" {
		m.Kind = visit.MsgText
	}
	if strings.ContainsRune(clientID, 0) {
		f.Add("client_id", "nul_character")
	} else if utf8.RuneCountInString(clientID) > MaxClientID {
		f.Add("client_id", "too_long")
	}
	switch m.Kind {
	case visit.MsgText:
		m.Text = strings.TrimSpace(text)
		if strings.ContainsRune(m.Text, 0) {
			f.Add("text", "nul_character")
		} else if m.Text == "" {
			f.Add("text", "required")
		} else if utf8.RuneCountInString(m.Text) > visit.MaxMessageRunes {
			f.Add("text", "too_long")
		}
	case visit.MsgImage:
	default:
		f.Add("kind", "not_an_option")
	}
	return m, f
}
