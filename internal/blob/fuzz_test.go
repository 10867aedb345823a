package blob

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// uploadTypes are the attachment types of a visit (V-1) and their magic
// bytes.
var (
	uploadTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
	magic       = map[string]string{"image/jpeg": "\xff\xd8\xff", "image/png": "\x89PNG\r\n\x1a\n", "application/pdf": "%PDF-"}
)

// counting counts the bytes read from a reader.
type counting struct {
	r io.Reader
	n int
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzSniff: an upload is accepted only when it starts with the magic
// bytes of the type it is accepted as, and always when it starts with
// those of an accepted type; the verdict is the same however the reader
// splits its reads; judging reads at most SniffLen bytes, and the body
// then gives the file unchanged; a file whose type is not asked for
// (PDF where only images are) is refused.
func FuzzSniff(f *testing.F) {
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
	for _, s := range []string{
		"\xff\xd8\xff\xe0\x00\x10JFIF\x00", png, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
		"", "\xff\xd8", "\x89PNG", "%PDF", " %PDF-1.4", "\n\xff\xd8\xff", "<html><body>%PDF-1.4</body></html>",
		"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "GIF89a\x01\x00\x01\x00", "RIFF\x00\x00\x00\x00WEBPVP8 ",
		"\xef\xbb\xbf%PDF-1.4", "PK\x03\x04", "\x00\x00\x01\x00", "%!PS-Adobe-3.0", "MZ\x90\x00",
		"%PDF-" + strings.Repeat("x", 600), strings.Repeat(" ", 511) + "\xff\xd8\xff", strings.Repeat("a", 513),
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("%PDF-1.4"), true)
	f.Add([]byte(png), true)
	images := map[string]string{"image/jpeg": ".jpg", "image/png": ".png"}
	f.Fuzz(func(t *testing.T, data []byte, imagesOnly bool) {
		types := uploadTypes
		if imagesOnly {
			types = images
		}
		src := &counting{r: bytes.NewReader(data)}
		ctype, ext, body, err := Sniff(src, types)
		if src.n > SniffLen {
			t.Fatalf("read %d bytes to judge the type", src.n)
		}
		var want string // the accepted type the file's magic bytes say
		for typ, m := range magic {
			if _, ok := types[typ]; ok && bytes.HasPrefix(data, []byte(m)) {
				want = typ
			}
		}
		if err != nil {
			if !errors.Is(err, ErrType) || ctype != "" || body != nil {
				t.Fatalf("%q refused with %v %q %v", data, err, ctype, body)
			}
			if want != "" {
				t.Fatalf("%q starts as %s, refused", data, want)
			}
			if c2, _, _, err := Sniff(iotest.OneByteReader(bytes.NewReader(data)), types); err == nil {
				t.Fatalf("%q refused whole, accepted as %s one byte at a time", data, c2)
			}
			return
		}
		if ctype != want || ext != types[ctype] || ext == "" {
			t.Fatalf("%q accepted as %s (%s), its magic bytes say %q", data, ctype, ext, want)
		}
		got, err := io.ReadAll(body)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("body %q (%v), file %q", got, err, data)
		}
		// One byte at a time, or with an error after the data: the same verdict.
		for _, r := range []io.Reader{iotest.OneByteReader(bytes.NewReader(data)), iotest.DataErrReader(bytes.NewReader(data)),
			iotest.HalfReader(bytes.NewReader(data))} {
			c2, _, b2, err := Sniff(r, types)
			if err != nil || c2 != ctype {
				t.Fatalf("%q split: %s %v, whole: %s", data, c2, err, ctype)
			}
			if got, _ := io.ReadAll(b2); !bytes.Equal(got, data) {
				t.Fatalf("split body %q", got)
			}
		}
	})
}
