package main

import (
	"flag"
	"io"
	"testing"
)

func TestByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64 // 0: refused
	}{
		{"536870912", 536870912},
		{"512MB", 512 << 20},
		{"512MiB", 512 << 20},
		{"512m", 512 << 20},
		{"2GB", 2 << 30},
		{"1 G", 1 << 30},
		{"64KB", 64 << 10},
		{"100B", 100},
		{"", 0},
		{"0", 0},
		{"-5MB", 0},
		{"1.5GB", 0},
		{"lots", 0},
		{"99999999999GB", 0},
	} {
		var b byteSize
		err := b.Set(c.in)
		if c.want == 0 {
			if err == nil {
				t.Errorf("%q: accepted as %d", c.in, b)
			}
			continue
		}
		if err != nil || int64(b) != c.want {
			t.Errorf("%q: %d %v, want %d", c.in, b, err, c.want)
		}
	}
}

// $YUNYI_IMPORT_MAX_BYTES sets the flag unless it is given.
func TestImportMaxBytesFromEnv(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want int64
	}{
		{nil, "", 7},
		{nil, "2GB", 2 << 30},
		{[]string{"--import-max-bytes", "1MB"}, "2GB", 1 << 20},
	} {
		t.Setenv("YUNYI_IMPORT_MAX_BYTES", c.env)
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		b := byteSize(7)
		fs.Var(&b, "import-max-bytes", "")
		if err := parseFlags(fs, c.args); err != nil || int64(b) != c.want {
			t.Errorf("%v %q: %d %v, want %d", c.args, c.env, b, err, c.want)
		}
	}
	t.Setenv("YUNYI_IMPORT_MAX_BYTES", "lots")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var b byteSize
	fs.Var(&b, "import-max-bytes", "")
	fs.SetOutput(io.Discard)
	if err := parseFlags(fs, nil); err == nil {
		t.Error("a bad $YUNYI_IMPORT_MAX_BYTES accepted")
	}
}
