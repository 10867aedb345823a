package demo

import (
	"context"
	_ "embed"
	"time"

	"github.com/yunyi-health/yunyi/internal/monitor"
)

// The two articles of seed 000 (北京卫生信息化舆情监测月报 第二十七期): the
// report's own 主要内容, published by 中国数字医学 in June 2020.
var (
	//go:embed seed000_1.txt
	seedArticle1 string
	//go:embed seed000_2.txt
	seedArticle2 string
)

// LoadMonitor puts seed 000's articles in as items of June 2020 and its
// report as published issue 27, unless a report exists already.
func LoadMonitor(ctx context.Context, st monitor.Store, now time.Time) error {
	if n, err := st.LastReportNumber(ctx); err != nil || n > 0 {
		return err
	}
	tax, err := st.Taxonomy(ctx)
	if err != nil {
		return err
	}
	lex, err := st.Lexicon(ctx)
	if err != nil {
		return err
	}
	arts := []monitor.Raw{
		{Media: "中国数字医学", URL: "https://mp.weixin.qq.com/s/RVcuIeRoE_i2t_8PMbpUQQ", Title: "推动“云医疗”有序发展", Published: "2020-06-25", Text: seedArticle1, Summary: seedArticle1, FetchedAt: now},
		{Media: "中国数字医学", URL: "https://mp.weixin.qq.com/s/gzLbJxR91cSdDCVSp1brpA", Title: "北京多所医院开通互联网诊疗 开放部分科室复诊服务", Published: "2020-06-09", Text: seedArticle2, Summary: seedArticle2, FetchedAt: now},
	}
	var items []*monitor.Item
	for _, a := range arts {
		it := monitor.Process(a, tax, lex)
		if _, err := st.UpsertItem(ctx, it); err != nil {
			return err
		}
		items = append(items, it)
	}
	r, err := monitor.DraftReport(ctx, st, "2020-06-01", "2020-06-30", 27, now)
	if err != nil {
		return err
	}
	// As the commission laid it out: the 25 June commentary first, and the
	// articles' own text as their main content.
	r.Items = []monitor.ReportItem{}
	for _, it := range items {
		r.Items = append(r.Items, monitor.ReportItem{ItemID: it.ID, Title: it.Title, Media: it.Media, Published: it.Published, URL: it.URL, Summary: it.Summary, Included: true})
	}
	if err := st.SaveReport(ctx, r); err != nil {
		return err
	}
	return monitor.PublishReport(ctx, st, r, time.Date(2020, 6, 30, 17, 0, 0, 0, time.UTC))
}

// SeedArticleText is the text of seed 000's two articles (for benchmarks).
func SeedArticleText() string { return seedArticle1 + "\n" + seedArticle2 }
