package monitor

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

var digits = []string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"}

// ChineseNumber writes n (1 to 9999) in Chinese numerals as issue numbers
// are printed: 27 → 二十七, 10 → 十, 105 → 一百零五.
func ChineseNumber(n int) string {
	if n <= 0 || n > 9999 {
		return fmt.Sprint(n)
	}
	if n < 10 {
		return digits[n]
	}
	if n < 20 {
		return "十" + ifNonZero(n%10) // 十一, not 一十一
	}
	units := []string{"", "十", "百", "千"}
	s := fmt.Sprint(n)
	var b strings.Builder
	zero := false
	for i, c := range s {
		d := int(c - '0')
		pos := len(s) - 1 - i
		if d == 0 {
			zero = true
			continue
		}
		if zero && b.Len() > 0 {
			b.WriteString("零")
		}
		zero = false
		b.WriteString(digits[d] + units[pos])
	}
	return b.String()
}

func ifNonZero(d int) string {
	if d == 0 {
		return ""
	}
	return digits[d]
}

// spacedDate writes 2020 年 06 月 01 日, as the lead paragraph does.
func spacedDate(d string) string {
	t, err := time.Parse("2006-01-02", d)
	if err != nil {
		return d
	}
	return t.Format("2006 年 01 月 02 日")
}

func issueDate(d string) string {
	t, err := time.Parse("2006-01-02", d)
	if err != nil {
		return d
	}
	return t.Format("2006年01月02日")
}

// included are the report's entries that are in it, in order.
func (r *Report) included() []ReportItem {
	var out []ReportItem
	for _, it := range r.Items {
		if it.Included {
			out = append(out, it)
		}
	}
	return out
}

// Lead is the 本期导语 paragraph.
func (r *Report) Lead() string {
	return fmt.Sprintf("本期周报共收集 %d 篇卫生信息化相关信息，时间从 %s到 %s，监测范围包括%s。",
		len(r.included()), spacedDate(r.From), spacedDate(r.To), r.Scope)
}

// WriteText writes the report line for line in seed 000's layout.
func (r *Report) WriteText(w io.Writer) error {
	items := r.included()
	var b strings.Builder
	b.WriteString("北京卫生信息化舆情监测月报\n\n")
	fmt.Fprintf(&b, "（第%s期）\n\n", ChineseNumber(r.Number))
	b.WriteString(r.Publisher + "\n\n")
	b.WriteString(issueDate(r.Date) + "\n\n")
	b.WriteString("本期导语：\n\n")
	b.WriteString(r.Lead() + "\n\n")
	b.WriteString("一、信息目录\n\n")
	for i, it := range items {
		fmt.Fprintf(&b, "- %d、%s（%s）\n", i+1, it.Title, it.Media)
	}
	b.WriteString("\n二、具体内容\n\n")
	for i, it := range items {
		fmt.Fprintf(&b, "%d. 标题：%s\n\n", i+1, it.Title)
		fmt.Fprintf(&b, "媒体：%s %s\n\n", it.Media, it.Published)
		fmt.Fprintf(&b, "链接：\n\n%s\n\n", it.URL)
		fmt.Fprintf(&b, "主要内容：\n\n%s\n\n", it.Summary)
	}
	_, err := io.WriteString(w, strings.TrimRight(b.String(), "\n")+"\n")
	return err
}

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{"cn": ChineseNumber, "issueDate": issueDate, "inc": func(i int) int { return i + 1 }}).Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>北京卫生信息化舆情监测月报（第{{cn .Number}}期）</title>
<style>body{font-family:"Noto Serif CJK SC","Songti SC",serif;max-width:46rem;margin:2rem auto;line-height:1.8;padding:0 1rem}
h1,.issue,.publisher,.date{text-align:center}h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.item h3{font-size:1.05rem}.label{font-weight:bold}</style></head><body>
<h1>北京卫生信息化舆情监测月报</h1>
<p class="issue">（第{{cn .Number}}期）</p>
<p class="publisher">{{.Publisher}}</p>
<p class="date">{{issueDate .Date}}</p>
<p class="label">本期导语：</p>
<p class="lead">{{.Lead}}</p>
<h2>一、信息目录</h2>
<ul class="toc">{{range $i, $it := .Included}}<li>{{inc $i}}、{{$it.Title}}（{{$it.Media}}）</li>{{end}}</ul>
<h2>二、具体内容</h2>
{{range $i, $it := .Included}}<section class="item">
<h3>{{inc $i}}. 标题：{{$it.Title}}</h3>
<p><span class="label">媒体：</span>{{$it.Media}} {{$it.Published}}</p>
<p><span class="label">链接：</span><br><a href="{{$it.URL}}">{{$it.URL}}</a></p>
<p class="label">主要内容：</p>
<p>{{$it.Summary}}</p>
</section>{{end}}
</body></html>
`))

// Included is exported for the HTML template.
func (r *Report) Included() []ReportItem { return r.included() }

// WriteHTML writes the report as a standalone HTML page in the seed's layout.
func (r *Report) WriteHTML(w io.Writer) error { return reportHTML.Execute(w, r) }
