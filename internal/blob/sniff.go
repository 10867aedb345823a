package blob

import (
	"bufio"
	"errors"
	"io"
	"net/http"
)

// SniffLen is how many first bytes of a file judge its type.
const SniffLen = 512

// ErrType is a file whose content is none of the types accepted.
var ErrType = errors.New("blob: file type not accepted")

// Sniff judges an upload's type from its content, never from what the
// client declares: its first SniffLen bytes by http.DetectContentType (a
// type is its magic bytes at the start of the file: JPEG FF D8 FF, PNG
// 89 50 4E 47 0D 0A 1A 0A, PDF %PDF-). types maps each accepted type to the
// extension of a stored name; any other type is ErrType. Sniff reads at
// most SniffLen bytes of r (however r splits its reads); body gives the
// whole file, those bytes included, to store with a size limit (and
// r's error, if reading it failed).
func Sniff(r io.Reader, types map[string]string) (ctype, ext string, body io.Reader, err error) {
	br := bufio.NewReaderSize(r, SniffLen)
	// A read error is body's again, when the file is stored.
	head, _ := br.Peek(SniffLen)
	ctype = http.DetectContentType(head)
	ext, ok := types[ctype]
	if !ok {
		return "", "", nil, ErrType
	}
	return ctype, ext, br, nil
}
