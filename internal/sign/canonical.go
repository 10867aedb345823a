package sign

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// errNotTree marks a value the direct writer does not take; Canonical then
// goes the long way (encoding/json, then jcs).
var errNotTree = errors.New("not a plain tree")

// appendTree writes the RFC 8785 form of a plain tree (map[string]any,
// []any, []map[string]any, []string, string, bool, nil, int, int64 and
// float64) directly: what a prescription's signed content is made of.
// It gives the same bytes as the long way (a test holds them equal) at a
// fraction of the cost: no encoding, decoding and re-encoding.
func appendTree(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x)
	case int:
		return appendInt(b, int64(x))
	case int64:
		return appendInt(b, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("sign: canonical form: %v is not a JSON number", x)
		}
		s, err := jcs.NumberToJSON(x)
		if err != nil {
			return nil, fmt.Errorf("sign: canonical form: %w", err)
		}
		return append(b, s...), nil
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendString(b, s); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case []any:
		return appendList(b, x)
	case []map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, m := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendTree(b, m); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendString(b, k); err != nil {
				return nil, err
			}
			b = append(b, ':')
			if b, err = appendTree(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, errNotTree
}

func appendList(b []byte, x []any) ([]byte, error) {
	if x == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i, e := range x {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendTree(b, e); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// maxExact is 2^53: every integer up to it is exactly a double.
const maxExact = 1 << 53

func appendInt(b []byte, n int64) ([]byte, error) {
	if n > maxExact || n < -maxExact {
		// As the long way: only integers that survive the trip through a
		// double unchanged.
		s, err := jcs.NumberToJSON(float64(n))
		if err != nil || s != strconv.FormatInt(n, 10) {
			return nil, fmt.Errorf("sign: canonical form: integer %d is not exactly representable as an IEEE 754 double (RFC 8785 §3.2.2.3 would write %s); encode it as a string", n, s)
		}
	}
	return strconv.AppendInt(b, n, 10), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as RFC 8785 (ECMAScript JSON.stringify) does:
// '"' and '\' escaped, control characters as \b \t \n \f \r or \u00xx,
// everything else as is. Invalid UTF-8 goes the long way (encoding/json
// replaces it).
func appendString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errNotTree
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// compareUTF16 orders strings by their UTF-16 code units (RFC 8785
// §3.2.3), which differs from byte order only past U+FFFF against
// U+E000..U+FFFF.
func compareUTF16(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < utf8.RuneSelf && b[i] < utf8.RuneSelf {
				if a[i] < b[i] {
					return -1
				}
				return 1
			}
			return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
		}
	}
	return len(a) - len(b)
}
