package web

import (
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/i18n"
)

// The monitoring page's charts: months oldest first, a stacked column a
// month by sentiment (a segment per non-zero count, each with its number
// in a title), a column a topic within each month, and nothing without
// items.
func TestMonthCharts(t *testing.T) {
	if got := monthCharts(i18n.ZH, nil, []string{"互联网医疗"}); got != "" {
		t.Fatalf("no items drew %q", got)
	}
	bars := []monthBar{ // newest first, as the page keeps them
		{Month: "2020-07", Positive: 1, Neutral: 0, Negative: 2, Total: 3, Topics: map[string]int{"互联网医疗": 3}},
		{Month: "2020-06", Positive: 2, Neutral: 1, Negative: 0, Total: 3, Topics: map[string]int{"互联网医疗": 2, "新技术": 1}},
	}
	svg := string(monthCharts(i18n.ZH, bars, []string{"互联网医疗", "新技术"}))
	if strings.Count(svg, `<svg class="chart"`) != 2 || strings.Index(svg, ">2020-06<") > strings.Index(svg, ">2020-07<") {
		t.Fatalf("two charts, June before July: %s", svg)
	}
	for _, want := range []string{"<title>2020-06 正面：2</title>", "<title>2020-06 中性：1</title>", "<title>2020-07 负面：2</title>",
		"<title>2020-07 互联网医疗：3</title>", "<title>2020-07 新技术：0</title>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(svg, "2020-07 中性") {
		t.Error("a zero segment was drawn")
	}
	if en := string(monthCharts(i18n.EN, bars, nil)); !strings.Contains(en, "Positive") || strings.Count(en, `<svg class="chart"`) != 1 {
		t.Errorf("English, no topics: %s", en)
	}
	for n, want := range map[int]int{0: 1, 1: 1, 3: 5, 7: 10, 12: 20, 150: 200} {
		if got := niceMax(n); got != want {
			t.Errorf("niceMax(%d) = %d, want %d", n, got, want)
		}
	}
}
