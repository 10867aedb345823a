package sign

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gowebpki/jcs"
)

// longWay is Canonical without the direct writer.
func longWay(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The direct writer gives exactly the bytes of encoding/json + jcs for
// every plain tree: fixed cases (escapes, UTF-16 key order, numbers, nil
// lists) and ten thousand random ones.
func TestCanonicalDirectEqualsLongWay(t *testing.T) {
	strs := []string{"", "a", "A", "\u20ac", "\r", "\ufb33", "1", "\U0001F600", "\u0080", "\u00f6", "西替利嗪", "<a&b>", "\u2028\u2029",
		"\x00\x01\x1f\x7f", "\"\\/", "\b\f\n\r\t", "ab\U0001F600", "ab\uffff", "湿疹 L20.9"}
	nums := []float64{0, math.Copysign(0, -1), 1, -1, 2.5, 0.1, 1e21, 1e-7, 333333333.33333329, 5e-324, 1.7976931348623157e308, 150, 0.000001, 9007199254740992}
	fixed := []any{
		map[string]any{"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001F600": 5, "\u0080": 6, "\u00f6": 7},
		map[string]any{"nil list": []string(nil), "empty": []string{}, "maps": []map[string]any(nil), "any": []any(nil), "m": map[string]any(nil)},
		map[string]any{"big": int64(9007199254740992), "neg": -9007199254740992, "i": 42},
		[]any{nil, true, false, "x", 1.5, []any{}, map[string]any{}},
	}
	for i, v := range fixed {
		got, err := Canonical(v)
		if err != nil {
			t.Fatal(err)
		}
		if want := longWay(t, v); !bytes.Equal(got, want) {
			t.Fatalf("fixed %d:\ngot  %s\nwant %s", i, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		if r.IntN(3) == 0 {
			rs := make([]rune, r.IntN(6))
			for i := range rs {
				switch r.IntN(4) {
				case 0:
					rs[i] = rune(r.IntN(0x80))
				case 1:
					rs[i] = rune(0x4e00 + r.IntN(0x5000))
				case 2:
					rs[i] = rune(0xe000 + r.IntN(0x2000))
				default:
					rs[i] = rune(0x10000 + r.IntN(0x10000))
				}
			}
			return string(rs)
		}
		return strs[r.IntN(len(strs))]
	}
	var tree func(depth int) any
	obj := func(depth int) map[string]any {
		m := map[string]any{}
		for range r.IntN(5) {
			m[str()] = tree(depth + 1)
		}
		return m
	}
	tree = func(depth int) any {
		k := r.IntN(10)
		if depth > 3 {
			k = r.IntN(6)
		}
		switch k {
		case 0:
			return nil
		case 1:
			return r.IntN(2) == 0
		case 2:
			return str()
		case 3:
			return r.Int64N(1<<53) - 1<<52
		case 4:
			if r.IntN(2) == 0 {
				return nums[r.IntN(len(nums))]
			}
			return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		case 5:
			return []string{str(), str()}
		case 6:
			l := make([]any, r.IntN(4))
			for i := range l {
				l[i] = tree(depth + 1)
			}
			return l
		case 7:
			l := make([]map[string]any, r.IntN(3))
			for i := range l {
				l[i] = obj(depth + 1)
			}
			return l
		}
		return obj(depth)
	}
	for i := range 10000 {
		v := map[string]any{"v": tree(0), str(): tree(1)}
		got, err := Canonical(v)
		if err != nil {
			t.Fatal(err)
		}
		if want := longWay(t, v); !bytes.Equal(got, want) {
			t.Fatalf("random %d:\ngot  %s\nwant %s", i, got, want)
		}
	}
	// Invalid UTF-8 and other types go the long way, with its answer.
	for _, v := range []any{map[string]any{"x": "\xff"}, map[string]int{"b": 1, "a": 2}, struct{ A int }{1}} {
		got, err := Canonical(v)
		if err != nil || !bytes.Equal(got, longWay(t, v)) {
			t.Fatalf("%v: %s %v", v, got, err)
		}
	}
	if _, err := Canonical(map[string]any{"n": int64(9007199254740993)}); err == nil {
		t.Fatal("an inexact integer was accepted")
	}
}

func BenchmarkCanonicalPrescription(b *testing.B) {
	items := make([]map[string]any, 3)
	for i := range items {
		items[i] = map[string]any{"drug": "D0123", "name": "布洛芬混悬液", "strength": "100ml:2g", "form": "混悬液", "dose": 5.0, "dose_unit": "ml",
			"frequency": "tid", "route": "oral", "days": 3, "quantity": 1, "unit": "瓶", "price_fen": int64(1850)}
	}
	v := map[string]any{"prescription": int64(1234), "visit": int64(99), "version": 1, "items": items, "diagnoses": []string{"L20.9"},
		"patient": map[string]any{"id": int64(7), "name": "李小天", "sex": "male", "age": "4岁6个月"}, "note": "", "weight_kg": 16.5}
	for b.Loop() {
		if _, err := Canonical(v); err != nil {
			b.Fatal(err)
		}
	}
}
