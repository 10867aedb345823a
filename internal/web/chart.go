package web

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

// Charts drawn on the server (no script): a bar chart is laid out once as
// shapes in a 720×220 box, then painted as SVG for the pages (the CSP
// forbids inline styles, so everything is in attributes) or into a PDF
// (the bulletins). The monitoring page's charts (the relevant items of
// each month stacked by sentiment, and a column a topic within each
// month) and the dashboard's are the same bar charts. A table beside or
// under each chart holds the same numbers.

var (
	sentimentColors = [3]string{"#0b6e4f", "#8a9aa9", "#b42318"} // positive, neutral, negative
	topicColors     = []string{"#1f5aa6", "#c2410c", "#7c3aed", "#0f766e", "#a16207", "#be185d", "#4d7c0f", "#475569"}
)

const (
	chartW, chartH         = 720, 220
	chartLeft, chartBottom = 44, 28 // room for the axes' labels
	chartTop, chartRight   = 12, 12
)

// niceMax rounds a count up to 1, 2 or 5 times a power of ten, so that the
// axis reads well.
func niceMax(n int) int {
	if n <= 1 {
		return 1
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// shape is one thing a chart draws: a rectangle (x, y its upper left), a
// line (from x, y to x2, y2) or a text (x, y its baseline point).
type shape struct {
	kind   byte // 'r', 'l', 't'
	x, y   float64
	w, h   float64 // a rectangle's size
	x2, y2 float64 // a line's end
	color  string
	text   string  // a text's, or a rectangle's title (its tooltip)
	anchor string  // a text's: start, middle or end
	size   float64 // a text's font size
}

// chart is a laid-out chart: its legend (a name and a colour a series) and
// its shapes.
type chart struct {
	label  string
	legend [][2]string
	shapes []shape
}

// barChart is the data of a bar chart: a column a label, in each a value a
// series, stacked or side by side. top fixes the axis's top (0: the
// values' nice maximum); format writes a value (default: an integer).
type barChart struct {
	label   string
	columns []string
	series  []string
	colors  []string
	values  [][]float64 // [column][series]
	stacked bool
	top     float64
	format  func(float64) string
}

func (bc *barChart) fmt(v float64) string {
	if bc.format != nil {
		return bc.format(v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func (bc *barChart) color(i int) string {
	if len(bc.colors) > 0 {
		return bc.colors[i%len(bc.colors)]
	}
	return topicColors[i%len(topicColors)]
}

// layout lays the chart out: the axes, the grid and the column labels (one
// in n when they would overlap), then the bars. A stacked column draws no
// empty segment and writes its total above it; side-by-side bars are all
// drawn, each with its value in its title.
func (bc *barChart) layout() *chart {
	c := &chart{label: bc.label}
	for i, s := range bc.series {
		c.legend = append(c.legend, [2]string{s, bc.color(i)})
	}
	most := 0.0
	for _, col := range bc.values {
		sum := 0.0
		for _, v := range col {
			sum += v
			if !bc.stacked {
				most = max(most, v)
			}
		}
		if bc.stacked {
			most = max(most, sum)
		}
	}
	top := bc.top
	if top <= 0 {
		top = float64(niceMax(int(math.Ceil(most))))
	}
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	colW := plotW / float64(max(len(bc.columns), 1))
	x := func(i int) float64 { return float64(chartLeft) + colW*(float64(i)+0.5) }
	y := func(v float64) float64 { return float64(chartTop) + plotH*(1-min(v, top)/top) }
	for _, v := range []float64{0, top / 2, top} {
		if v == top/2 && (top < 2 || math.Mod(top, 2) != 0) {
			continue
		}
		c.shapes = append(c.shapes, shape{kind: 'l', x: chartLeft, y: y(v), x2: chartW - chartRight, y2: y(v), color: "#d0d7de"},
			shape{kind: 't', x: chartLeft - 6, y: y(v) + 4, text: bc.fmt(v), anchor: "end", size: 11, color: "#57606a"})
	}
	step := 1
	for step < len(bc.columns) && colW*float64(step) < 64 {
		step++
	}
	for i, m := range bc.columns {
		if i%step == 0 {
			c.shapes = append(c.shapes, shape{kind: 't', x: x(i), y: chartH - 8, text: m, anchor: "middle", size: 11, color: "#57606a"})
		}
	}
	if bc.stacked {
		w := min(colW*0.6, 48)
		for i, col := range bc.values {
			base := 0.0
			for k, v := range col {
				if v == 0 {
					continue
				}
				c.shapes = append(c.shapes, shape{kind: 'r', x: x(i) - w/2, y: y(base + v), w: w, h: y(base) - y(base+v), color: bc.color(k),
					text: bc.columns[i] + " " + bc.series[k] + "：" + bc.fmt(v)})
				base += v
			}
			c.shapes = append(c.shapes, shape{kind: 't', x: x(i), y: y(base) - 4, text: bc.fmt(base), anchor: "middle", size: 11, color: "#24292f"})
		}
		return c
	}
	tw := min(colW*0.8/float64(max(len(bc.series), 1)), 24)
	for i, col := range bc.values {
		left := x(i) - tw*float64(len(bc.series))/2
		for k, v := range col {
			c.shapes = append(c.shapes, shape{kind: 'r', x: left + tw*float64(k), y: y(v), w: max(tw-1, 1), h: y(0) - y(v), color: bc.color(k),
				text: bc.columns[i] + " " + bc.series[k] + "：" + bc.fmt(v)})
		}
	}
	return c
}

// svg paints the chart: the legend, then the chart.
func (c *chart) svg(b *strings.Builder) {
	esc := template.HTMLEscapeString
	if len(c.legend) > 0 {
		b.WriteString(`<p class="legend">`)
		for _, l := range c.legend {
			fmt.Fprintf(b, `<svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="%s"></rect></svg> %s　`, l[1], esc(l[0]))
		}
		b.WriteString(`</p>`)
	}
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s">`, chartW, chartH, esc(c.label))
	for _, s := range c.shapes {
		switch s.kind {
		case 'l':
			fmt.Fprintf(b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1"></line>`, s.x, s.x2, s.y, s.y2, s.color)
		case 't':
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%.0f" fill="%s">%s</text>`, s.x, s.y, s.anchor, s.size, s.color, esc(s.text))
		case 'r':
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`, s.x, s.y, s.w, s.h, s.color, esc(s.text))
		}
	}
	b.WriteString(`</svg>`)
}

// SVG is the chart as HTML.
func (c *chart) SVG() template.HTML {
	var b strings.Builder
	c.svg(&b)
	return template.HTML(b.String())
}

func rgb(hex string) (uint8, uint8, uint8) {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	return uint8(v >> 16), uint8(v >> 8), uint8(v)
}

// pdf paints the chart into a PDF page at (left, top), width wide, with its
// legend above: the same shapes, scaled. It returns the height used.
func (c *chart) pdf(t monitor.PDFText, left, top, width float64) (float64, error) {
	pdf := t.PDF
	k := width / chartW
	y0 := top
	if len(c.legend) > 0 {
		x := left
		for _, l := range c.legend {
			pdf.SetFillColor(rgb(l[1]))
			pdf.RectFromUpperLeftWithStyle(x, y0+1, 8, 8, "F")
			if err := t.Write(x+11, y0, l[0], 8); err != nil {
				return 0, err
			}
			x += 11 + t.Measure(l[0], 8) + 10
		}
		y0 += 14
	}
	pdf.SetLineWidth(0.5)
	for _, s := range c.shapes {
		switch s.kind {
		case 'l':
			pdf.SetStrokeColor(rgb(s.color))
			pdf.Line(left+s.x*k, y0+s.y*k, left+s.x2*k, y0+s.y2*k)
		case 'r':
			if s.h*k < 0.01 {
				continue
			}
			pdf.SetFillColor(rgb(s.color))
			pdf.RectFromUpperLeftWithStyle(left+s.x*k, y0+s.y*k, s.w*k, s.h*k, "F")
		case 't':
			size := s.size * k
			w := t.Measure(s.text, size)
			x := left + s.x*k
			switch s.anchor {
			case "middle":
				x -= w / 2
			case "end":
				x -= w
			}
			pdf.SetTextColor(rgb(s.color))
			// gopdf places a cell's top at y; an SVG text's y is its baseline.
			if err := t.Write(x, y0+s.y*k-size*0.85, s.text, size); err != nil {
				return 0, err
			}
		}
	}
	pdf.SetTextColor(0, 0, 0)
	return y0 - top + chartH*k, nil
}

// monthCharts draws the two charts for bars (any order; drawn oldest
// first).
func monthCharts(l i18n.Lang, bars []monthBar, topics []string) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	bs := append([]monthBar(nil), bars...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].Month < bs[j].Month })
	months := make([]string, len(bs))
	mostTopic := 0
	sent := &barChart{label: i18n.T(l, "mon.chart.sentiment"), stacked: true, colors: sentimentColors[:],
		series: []string{i18n.T(l, "mon.s.positive"), i18n.T(l, "mon.s.neutral"), i18n.T(l, "mon.s.negative")}}
	top := &barChart{label: i18n.T(l, "mon.chart.topics"), series: topics}
	for i, m := range bs {
		months[i] = m.Month
		sent.values = append(sent.values, []float64{float64(m.Positive), float64(m.Neutral), float64(m.Negative)})
		var row []float64
		for _, name := range topics {
			row = append(row, float64(m.Topics[name]))
			mostTopic = max(mostTopic, m.Topics[name])
		}
		top.values = append(top.values, row)
	}
	sent.columns, top.columns = months, months
	var b strings.Builder
	sent.layout().svg(&b)
	if len(topics) > 0 && mostTopic > 0 {
		top.layout().svg(&b)
	}
	return template.HTML(b.String())
}
