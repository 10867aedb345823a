package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/signintech/gopdf"
)

// FontCandidates are TrueType fonts with CJK glyphs, looked for in order
// (YUNYI_CJK_FONT first). Debian's fonts-droid-fallback provides the first.
var FontCandidates = []string{
	"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
	"/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf",
}

// LatinCandidates are TrueType fonts for Latin letters and digits, which
// CJK fallback fonts lack (Debian's fonts-dejavu-core).
var LatinCandidates = []string{
	"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
	"/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
}

// ErrNoFont is returned when no CJK TrueType font is installed.
var ErrNoFont = errors.New("no CJK TrueType font found: install fonts-droid-fallback and fonts-dejavu-core, or set YUNYI_CJK_FONT")

func firstFont(env string, paths []string) string {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Fonts returns the CJK and Latin fonts PDFs embed.
func Fonts() (cjk, latin string, err error) {
	cjk, latin = firstFont("YUNYI_CJK_FONT", FontCandidates), firstFont("YUNYI_LATIN_FONT", LatinCandidates)
	if cjk == "" || latin == "" {
		return "", "", ErrNoFont
	}
	return cjk, latin, nil
}

// PDFText sets mixed Chinese and Latin text on a PDF made by NewPDF: each
// run of runes in the font that has it.
type PDFText struct{ PDF *gopdf.GoPdf }

// latinRune reports whether r is set in the Latin font: Latin letters,
// digits and general punctuation such as “”, but not the middle dot, which
// Chinese text uses in names.
func latinRune(r rune) bool { return r < 0x2070 && r != '·' }

type run struct {
	latin bool
	s     string
}

// runs splits text into pieces of one font.
func runs(text string) []run {
	var out []run
	for _, r := range text {
		l := latinRune(r)
		if n := len(out); n > 0 && out[n-1].latin == l {
			out[n-1].s += string(r)
			continue
		}
		out = append(out, run{l, string(r)})
	}
	return out
}

func (t PDFText) font(latin bool, size float64) {
	if latin {
		t.PDF.SetFont("latin", "", size)
	} else {
		t.PDF.SetFont("cjk", "", size)
	}
}

// Measure is the width of text at the font size.
func (t PDFText) Measure(text string, size float64) float64 {
	total := 0.0
	for _, r := range runs(text) {
		t.font(r.latin, size)
		if tw, err := t.PDF.MeasureTextWidth(r.s); err == nil {
			total += tw
		}
	}
	return total
}

// Wrap breaks text into lines no wider than width.
func (t PDFText) Wrap(text string, size, width float64) []string {
	var lines []string
	var cur []rune
	for _, r := range text {
		next := append(cur, r)
		if len(cur) > 0 && t.Measure(string(next), size) > width {
			lines = append(lines, string(cur))
			cur = []rune{r}
			continue
		}
		cur = next
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// Write sets one line with its top left at (x, y).
func (t PDFText) Write(x, y float64, text string, size float64) error {
	for _, r := range runs(text) {
		t.font(r.latin, size)
		t.PDF.SetXY(x, y)
		if err := t.PDF.Cell(nil, r.s); err != nil {
			return err
		}
		tw, _ := t.PDF.MeasureTextWidth(r.s)
		x += tw
	}
	return nil
}

// pdfWriter lays out the report's lines top to bottom, wrapped to its width.
type pdfWriter struct {
	PDFText
	pdf                 *gopdf.GoPdf
	left, width, bottom float64
	y                   float64
}

func (w *pdfWriter) line(text string, size float64, center bool) error {
	for _, l := range w.Wrap(text, size, w.width) {
		if w.y+size > w.bottom {
			w.pdf.AddPage()
			w.y = 60
		}
		x := w.left
		if center {
			x = w.left + (w.width-w.Measure(l, size))/2
		}
		if err := w.Write(x, w.y, l, size); err != nil {
			return err
		}
		w.y += size * 1.6
	}
	return nil
}

// NewPDF starts a PDF of the page size with the CJK font as "cjk" and the
// Latin one as "latin", both embedded so that the text extracts.
func NewPDF(size *gopdf.Rect) (*gopdf.GoPdf, error) {
	cjk, latin, err := Fonts()
	if err != nil {
		return nil, err
	}
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *size})
	if err := pdf.AddTTFFont("cjk", cjk); err != nil {
		return nil, fmt.Errorf("font %s: %w", cjk, err)
	}
	if err := pdf.AddTTFFont("latin", latin); err != nil {
		return nil, fmt.Errorf("font %s: %w", latin, err)
	}
	return pdf, nil
}

// WritePDF writes the report as an A4 PDF in the seed's layout, with its
// fonts embedded, so its text extracts as Chinese.
func (r *Report) WritePDF(out io.Writer) error {
	pdf, err := NewPDF(gopdf.PageSizeA4)
	if err != nil {
		return err
	}
	pdf.AddPage()
	w := &pdfWriter{PDFText: PDFText{PDF: pdf}, pdf: pdf, left: 60, width: 475, bottom: 780, y: 60}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		return err
	}
	for i, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		switch {
		case l == "":
			w.y += 4
		case i == 0:
			err = w.line(l, 20, true)
		case i <= 6: // issue, publisher, date
			err = w.line(l, 13, true)
		default:
			err = w.line(l, 11, false)
		}
		if err != nil {
			return err
		}
	}
	_, err = pdf.WriteTo(out)
	return err
}
