package web

import (
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/yunyi-health/yunyi/internal/i18n"
)

// Charts of the monitoring page, drawn on the server as SVG (no script;
// the CSP forbids inline styles, so everything is in attributes): the
// relevant items of each month stacked by sentiment, and a column a topic
// within each month. The table under them holds the same numbers.

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

// chartFrame draws the axes, the grid and the month labels; y maps a count
// to its height, x a month's index to the middle of its column.
func chartFrame(b *strings.Builder, label string, months []string, top int) (x func(int) float64, y func(int) float64, colW float64) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(label))
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	colW = plotW / float64(max(len(months), 1))
	x = func(i int) float64 { return float64(chartLeft) + colW*(float64(i)+0.5) }
	y = func(n int) float64 { return float64(chartTop) + plotH*(1-float64(n)/float64(top)) }
	for _, v := range []int{0, top / 2, top} {
		if v == top/2 && (top < 2 || top%2 != 0) {
			continue
		}
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d0d7de" stroke-width="1"></line>`, chartLeft, chartW-chartRight, y(v), y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11" fill="#57606a">%d</text>`, chartLeft-6, y(v)+4, v)
	}
	for i, m := range months {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="#57606a">%s</text>`, x(i), chartH-8, template.HTMLEscapeString(m))
	}
	return x, y, colW
}

// legend draws one coloured square and name a series, under the title.
func legend(b *strings.Builder, names []string, colors func(int) string) {
	b.WriteString(`<p class="legend">`)
	for i, n := range names {
		fmt.Fprintf(b, `<svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="%s"></rect></svg> %s　`, colors(i), template.HTMLEscapeString(n))
	}
	b.WriteString(`</p>`)
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
	most, mostTopic := 0, 0
	for i, m := range bs {
		months[i] = m.Month
		most = max(most, m.Total)
		for _, n := range m.Topics {
			mostTopic = max(mostTopic, n)
		}
	}
	var b strings.Builder
	// Sentiment: stacked columns.
	sentiments := []string{i18n.T(l, "mon.s.positive"), i18n.T(l, "mon.s.neutral"), i18n.T(l, "mon.s.negative")}
	legend(&b, sentiments, func(i int) string { return sentimentColors[i] })
	top := niceMax(most)
	x, y, colW := chartFrame(&b, i18n.T(l, "mon.chart.sentiment"), months, top)
	w := min(colW*0.6, 48)
	for i, m := range bs {
		base := 0
		for k, n := range []int{m.Positive, m.Neutral, m.Negative} {
			if n == 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s：%d</title></rect>`,
				x(i)-w/2, y(base+n), w, y(base)-y(base+n), sentimentColors[k], m.Month, sentiments[k], n)
			base += n
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="#24292f">%d</text>`, x(i), y(base)-4, base)
	}
	b.WriteString(`</svg>`)
	// Topics: a column each, side by side within the month.
	if len(topics) > 0 && mostTopic > 0 {
		legend(&b, topics, func(i int) string { return topicColors[i%len(topicColors)] })
		top := niceMax(mostTopic)
		x, y, colW := chartFrame(&b, i18n.T(l, "mon.chart.topics"), months, top)
		tw := min(colW*0.8/float64(len(topics)), 24)
		for i, m := range bs {
			left := x(i) - tw*float64(len(topics))/2
			for t, name := range topics {
				n := m.Topics[name]
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s：%d</title></rect>`,
					left+tw*float64(t), y(n), max(tw-1, 1), y(0)-y(n), topicColors[t%len(topicColors)], m.Month, template.HTMLEscapeString(name), n)
			}
		}
		b.WriteString(`</svg>`)
	}
	return template.HTML(b.String())
}
