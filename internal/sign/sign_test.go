package sign

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The examples of RFC 8785 (§3.2.2, §3.2.3) and of the cyberphone
// json-canonicalization test data (input → output).
func TestCanonicalVectors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"rfc8785 3.2.2 values",
			`{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{"rfc8785 3.2.3 sorting",
			`{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		{"structures",
			`{
  "1": {"f": {"f": "hi","F": 5} ,"\n": 56.0},
  "10": { },
  "": "empty",
  "a": { },
  "111": [ {"e": "yes","E": "no" } ],
  "A": { }
}`,
			`{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}`},
		{"weird (and HTML escapes of encoding/json undone)",
			`{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\u000a": "Newline",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}`,
			"{\"\\n\":\"Newline\",\"\\r\":\"Carriage Return\",\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u0080\":\"Control\u007f\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F602\":\"Smiley\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		{"arrays keep their order", `[56, {"d": true, "10": null, "1": [ ]}]`, `[56,{"1":[],"10":null,"d":true}]`},
		{"french: no locale", `{"peach": "a", "péché": "b", "pêche": "c", "sin": "d"}`, `{"peach":"a","péché":"b","pêche":"c","sin":"d"}`},
		{"unicode not normalized", `{"Unnormalized Unicode":"A\u030a"}`, "{\"Unnormalized Unicode\":\"A\u030a\"}"},
		{"literals", `[true, false, null]`, `[true,false,null]`},
		{"U+2028 and U+2029 raw", `["\u2028\u2029"]`, "[\"\u2028\u2029\"]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Canonical(json.RawMessage(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// The number serialization samples of RFC 8785 Appendix B and of the
// cyberphone ES6 number test file, as IEEE 754 bit patterns.
func TestCanonicalNumbers(t *testing.T) {
	for _, c := range []struct{ bits, want string }{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"}, // minus zero
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4340000000000001", "9007199254740994"},
		{"4340000000000002", "9007199254740996"},
		{"4430000000000000", "295147905179352830000"},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"},
	} {
		t.Run(c.bits, func(t *testing.T) {
			u, err := strconv.ParseUint(c.bits, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Canonical(math.Float64frombits(u))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got, err := Canonical(f); err == nil {
			t.Errorf("%v: got %s, want an error", f, got)
		}
	}
}

func TestCanonicalStructs(t *testing.T) {
	type item struct {
		Name  string  `json:"name"`
		Dose  float64 `json:"dose"`
		Note  string  `json:"note,omitempty"`
		Price int64   `json:"price_fen"`
	}
	type rx struct {
		ID    int64     `json:"id"`
		Items []item    `json:"items"`
		At    time.Time `json:"at"`
		Zh    string    `json:"诊断"`
		HTML  string    `json:"html"`
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	got, err := Canonical(rx{ID: 42, Items: []item{{Name: "西替利嗪", Dose: 2.50, Price: 1850}}, At: at, Zh: "湿疹", HTML: "<a&b>"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":"2026-03-02T10:00:00+08:00","html":"<a&b>","id":42,"items":[{"dose":2.5,"name":"西替利嗪","price_fen":1850}],"诊断":"湿疹"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// The same value gives the same bytes, whatever the map order.
	a, _ := Canonical(map[string]int{"b": 1, "a": 2, "c": 3})
	b, _ := Canonical(map[string]int{"c": 3, "a": 2, "b": 1})
	if !bytes.Equal(a, b) || string(a) != `{"a":2,"b":1,"c":3}` {
		t.Fatalf("%s %s", a, b)
	}
	for _, c := range []struct {
		v  any
		ok bool
	}{
		{int64(1) << 53, true},
		{-(int64(1) << 53), true},
		{int64(1)<<53 + 1, false},
		{int64(1) << 54, true},   // exact, and ES6 writes all its digits
		{int64(1) << 60, false},  // exact, but ES6 writes 1152921504606847000
		{float64(1 << 60), true}, // a float is written as ES6 writes it
		{int64(999999999999999), true},
		{uint64(math.MaxUint64), false},
		{[]int64{1, math.MaxInt64}, false},
		{"9007199254740993", true}, // as a string it is fine
	} {
		if _, err := Canonical(c.v); (err == nil) != c.ok {
			t.Errorf("%v: err %v, want ok=%v", c.v, err, c.ok)
		}
	}
}

func TestDigest(t *testing.T) {
	// GB/T 32905-2016 Appendix A example 1: SM3("abc").
	got := Digest([]byte("abc"))
	if h := hex.EncodeToString(got[:]); h != "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0" {
		t.Fatal(h)
	}
}

func TestSignVerify(t *testing.T) {
	priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := Canonical(map[string]any{"id": 7, "patient_name": "张小明", "items": []string{"西替利嗪"}})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Sign(priv, msg)
	if err != nil {
		t.Fatal(err)
	}
	pubStr, err := MarshalPublic(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublic(pubStr)
	if err != nil {
		t.Fatal(err)
	}
	if s2, _ := MarshalPublic(pub); s2 != pubStr {
		t.Fatalf("MarshalPublic of the private and the public key differ: %s %s", pubStr, s2)
	}
	otherPub, _ := ParsePublic(must(MarshalPublic(other)))

	changed := bytes.Clone(msg)
	changed[len(changed)/2] ^= 0x01
	badSig := bytes.Clone(sig)
	badSig[len(badSig)-1] ^= 0x01

	for _, c := range []struct {
		name string
		pub  *ecdsa.PublicKey
		msg  []byte
		sig  []byte
		want bool
	}{
		{"signer's key", pub, msg, sig, true},
		{"one byte of the message changed", pub, changed, sig, false},
		{"another key", otherPub, msg, sig, false},
		{"signature changed", pub, msg, badSig, false},
		{"empty signature", pub, msg, nil, false},
		{"no key", nil, msg, sig, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Verify(c.pub, c.msg, c.sig); got != c.want {
				t.Fatalf("Verify = %v, want %v", got, c.want)
			}
		})
	}
	// Signatures are randomized but both verify.
	sig2, _ := Sign(priv, msg)
	if bytes.Equal(sig, sig2) || !Verify(pub, msg, sig2) {
		t.Fatal("a second signature must differ and verify")
	}
}

func TestParsePublicRefuses(t *testing.T) {
	for _, s := range []string{"", "not base64!", "AAAA", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"} {
		if _, err := ParsePublic(s); err == nil {
			t.Errorf("%q: want an error", s)
		}
	}
	if _, err := MarshalPublic("a string"); err == nil {
		t.Error("MarshalPublic of a string must fail")
	}
}

func TestSealOpen(t *testing.T) {
	master := bytes.Repeat([]byte{0x42}, MasterKeySize)
	wrong := bytes.Repeat([]byte{0x43}, MasterKeySize)
	s, err := NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	sWrong, _ := NewSealer(wrong)
	priv, _ := GenerateKey()
	sealed, err := s.Seal(priv)
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 1 {
		t.Fatalf("version byte %d", sealed[0])
	}
	again, _ := s.Seal(priv)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one key must differ (random nonce)")
	}
	tamper := func(i int) []byte { b := bytes.Clone(sealed); b[i] ^= 0x80; return b }

	for _, c := range []struct {
		name   string
		s      *Sealer
		sealed []byte
		ok     bool
	}{
		{"round trip", s, sealed, true},
		{"second seal", s, again, true},
		{"wrong master key", sWrong, sealed, false},
		{"tampered nonce", s, tamper(3), false},
		{"tampered ciphertext", s, tamper(len(sealed) / 2), false},
		{"tampered tag", s, tamper(len(sealed) - 1), false},
		{"other version", s, tamper(0), false},
		{"truncated", s, sealed[:20], false},
		{"empty", s, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.s.Open(c.sealed)
			if !c.ok {
				if err == nil {
					t.Fatal("want an error")
				}
				if len(c.sealed) > 0 && !errors.Is(err, ErrOpen) {
					t.Fatalf("%v does not wrap ErrOpen", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(priv) {
				t.Fatal("opened key differs")
			}
			msg := []byte("处方")
			sig, _ := Sign(got, msg)
			if !Verify(&priv.PublicKey, msg, sig) {
				t.Fatal("opened key does not sign for the original public key")
			}
		})
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("master key of %d bytes accepted", n)
		}
	}
}

func TestMasterKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "master.key")
	key, err := CreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != MasterKeySize {
		t.Fatalf("%d bytes", len(key))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	loaded, err := LoadMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, loaded) {
		t.Fatal("loaded key differs")
	}
	if _, err := CreateMasterKey(path); err == nil {
		t.Fatal("CreateMasterKey must not overwrite")
	}

	hexKey := hex.EncodeToString(key)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name, content string
		mode          os.FileMode
		ok            bool
		msg           string
	}{
		{"whitespace trimmed", "\n  " + strings.ToUpper(hexKey) + " \r\n", 0o600, true, ""},
		{"read-only owner", hexKey, 0o400, true, ""},
		{"bad hex", strings.Repeat("zz", 32), 0o600, false, "hex"},
		{"too short", hexKey[:62], 0o600, false, "hex"},
		{"too long", hexKey + "00", 0o600, false, "hex"},
		{"raw bytes", string(key), 0o600, false, "hex"},
		{"empty", "", 0o600, false, "hex"},
		{"group readable", hexKey, 0o640, runtime.GOOS == "windows", "chmod 600"},
		{"world readable", hexKey, 0o604, runtime.GOOS == "windows", "chmod 600"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(c.name, " ", "_"), c.content, c.mode)
			got, err := LoadMasterKey(p)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, key) {
					t.Fatal("wrong key")
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not mention %q", err, c.msg)
			}
		})
	}
	if _, err := LoadMasterKey(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestMasterKeyFromEnv(t *testing.T) {
	hexKey := strings.Repeat("0123456789abcdef", 4)
	for _, c := range []struct {
		value string
		ok    bool
	}{
		{hexKey, true},
		{" " + strings.ToUpper(hexKey) + "\n", true},
		{"/etc/yunyi/master.key", false},
		{"master.key", false},
		{hexKey[:63] + "g", false},
		{hexKey + "0", false},
		{"", false},
	} {
		key, ok := MasterKeyFromEnv(c.value)
		if ok != c.ok || (ok && hex.EncodeToString(key) != hexKey) {
			t.Errorf("%q: %x %v, want ok=%v", c.value, key, ok, c.ok)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
