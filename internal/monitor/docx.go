package monitor

import (
	"io"
	"strings"

	"github.com/gomutex/godocx"
	"github.com/gomutex/godocx/wml/stypes"
)

// WriteDOCX writes the report as a Word document (godocx) in the seed's
// layout, line for line as WriteText: the title, issue, publisher and
// date centred, then the lead, the table of contents and the items. Word
// and WPS pick their East Asian font for the Chinese text.
func (r *Report) WriteDOCX(out io.Writer) error {
	doc, err := godocx.NewDocument()
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		return err
	}
	for i, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		p := doc.AddEmptyParagraph()
		run := p.AddText(strings.TrimPrefix(l, "- "))
		switch {
		case i == 0:
			p.Justification(stypes.JustificationCenter)
			run.Size(20).Bold(true)
		case i <= 6: // issue, publisher, date
			p.Justification(stypes.JustificationCenter)
			run.Size(13)
		case l == "本期导语：" || l == "一、信息目录" || l == "二、具体内容" || l == "主要内容：" || l == "链接：":
			run.Size(12).Bold(true)
		case strings.Contains(l, ". 标题："):
			run.Size(12).Bold(true)
		default:
			run.Size(11)
		}
	}
	return doc.Write(out)
}
