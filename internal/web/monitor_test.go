package web

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// seedArticles reads the two articles of seed 000 and seed 002's text.
func seedArticles(t *testing.T) (a1, a2, s2 string) {
	raw, err := os.ReadFile("../../../shared/seeds/000_084e12d233652512.txt")
	if err != nil {
		t.Skipf("seeds not found: %v", err)
	}
	txt := string(raw)
	parts := strings.Split(txt, "主要内容：")
	if len(parts) != 3 {
		t.Fatalf("seed 000 layout changed: %d parts", len(parts))
	}
	a1 = strings.TrimSpace(strings.Split(parts[1], "2. 标题")[0])
	a2 = strings.TrimSpace(parts[2])
	raw2, err := os.ReadFile("../../../shared/seeds/002_8fc21cac9b61f19b.txt")
	if err != nil {
		t.Skip(err)
	}
	return a1, a2, string(raw2)
}

func articlePage(title, date, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<html><head><title>%s</title></head><body><nav>首页 | 新闻</nav><article><h1 class=\"title\">%s</h1><span class=\"date\">%s</span><div class=\"content\">",
		html.EscapeString(title), html.EscapeString(title), date)
	for _, p := range strings.Split(body, "\n") {
		if strings.TrimSpace(p) != "" {
			fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(p))
		}
	}
	b.WriteString("</div></article><footer>版权所有</footer></body></html>")
	return b.String()
}

// fixtureSites serves the sources of the monitoring test on loopback and
// records every path requested.
func fixtureSites(t *testing.T) (*httptest.Server, func() map[string]int) {
	a1, a2, s2 := seedArticles(t)
	var mu sync.Mutex
	hits := map[string]int{}
	mux := http.NewServeMux()
	pages := map[string]string{
		"/a/1":         articlePage("推动“云医疗”有序发展", "2020-06-25", a1),
		"/a/2":         articlePage("北京多所医院开通互联网诊疗 开放部分科室复诊服务", "2020-06-09", a2),
		"/b/seed002":   articlePage("北京市試點互聯網診療首診服務 Q&A", "2026-01-31", s2),
		"/b/repost":    articlePage("多家医院开通线上诊疗服务", "2020-06-12", a2),
		"/b/carpark":   articlePage("某医院停车场临时封闭的通知", "2020-06-15", strings.Repeat("因停车场地面施工，医院东侧停车场自6月16日起临时封闭，请就诊患者及家属改停西侧停车场，给您带来不便敬请谅解。\n", 4)),
		"/b/bulletin":  articlePage("北京市新冠肺炎疫情通报", "2020-06-20", strings.Repeat("6月19日0时至24时，北京新增本地确诊病例22例，无新增疑似病例，治愈出院病例1例。目前正在开展流行病学调查和密切接触者排查工作。\n", 4)),
		"/b/private/1": articlePage("内部资料", "2020-06-10", a1),
		"/b/negative": articlePage("北京儿童医院互联网诊疗平台故障 多名患者投诉", "2020-07-05", strings.Repeat(
			"7月4日，北京儿童医院互联网诊疗平台出现故障，线上复诊挂号延误，多名患者投诉。医院表示已排查隐患，互联网医院信息系统正在整改。\n", 3)),
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nDisallow: /b/private/\n")
		case "/a/feed.xml":
			w.Header().Set("Content-Type", "application/rss+xml")
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>中国数字医学</title>
<item><title>推动“云医疗”有序发展</title><link>/a/1</link><pubDate>Thu, 25 Jun 2020 08:00:00 +0800</pubDate></item>
<item><title>北京多所医院开通互联网诊疗 开放部分科室复诊服务</title><link>/a/2</link><pubDate>Tue, 09 Jun 2020 08:00:00 +0800</pubDate></item>
</channel></rss>`)
		case "/b/list.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<html><body><ul class="news"><li><a href="/b/seed002">首诊</a></li><li><a href="/b/repost">转载</a></li>
<li><a href="/b/carpark">停车</a></li><li><a href="/b/negative">故障</a></li><li><a href="/b/bulletin">通报</a></li><li><a href="/b/private/1">内部</a></li></ul></body></html>`)
		case "/broken/feed.xml":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/bad/feed.xml":
			fmt.Fprint(w, "<rss><channel><item><title>unclosed")
		default:
			if p, ok := pages[r.URL.Path]; ok {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Header().Set("ETag", fmt.Sprintf(`"%x"`, len(p)))
				if r.Header.Get("If-None-Match") == fmt.Sprintf(`"%x"`, len(p)) {
					w.WriteHeader(http.StatusNotModified)
					return
				}
				fmt.Fprint(w, p)
				return
			}
			http.NotFound(w, r)
		}
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range hits {
			out[k] = v
		}
		return out
	}
}

func TestMonitorCollectsSelectsAndReports(t *testing.T) {
	eachPayEnv(t, func(c *Config) { c.Crawl.AllowPrivate = true }, func(t *testing.T, e *env) {
		e.emptyMonitor()
		site, hits := fixtureSites(t)
		reg := e.login("regulator")
		add := func(body map[string]any) {
			t.Helper()
			if r := e.req("POST", "/api/v1/monitor/sources", reg, body); r.status != 201 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		}
		add(map[string]any{"name": "中国数字医学公众号", "media": "中国数字医学", "kind": "rss", "url": site.URL + "/a/feed.xml", "date_selector": ".date", "body_selector": ".content"})
		add(map[string]any{"name": "健康北京", "media": "健康北京", "kind": "html", "url": site.URL + "/b/list.html", "link_selector": "ul.news a",
			"title_selector": "h1.title", "date_selector": ".date"})
		add(map[string]any{"name": "坏的来源", "media": "某网站", "kind": "rss", "url": site.URL + "/broken/feed.xml"})
		add(map[string]any{"name": "坏的 XML", "media": "某网站", "kind": "rss", "url": site.URL + "/bad/feed.xml"})

		c := e.req("POST", "/api/v1/monitor/crawl", reg, nil)
		if c.status != 200 || c.body["status"] != "done" {
			t.Fatalf("crawl %d %s", c.status, c.raw)
		}
		errsBySource := map[string]string{}
		for _, s := range c.body["sources"].([]any) {
			m := s.(map[string]any)
			msg, _ := m["error"].(string)
			errsBySource[m["name"].(string)] = msg
		}
		if errsBySource["坏的来源"] == "" || errsBySource["坏的 XML"] == "" || errsBySource["中国数字医学公众号"] != "" || errsBySource["健康北京"] != "" {
			t.Fatalf("per-source errors: %v", errsBySource)
		}
		if hits()["/b/private/1"] != 0 {
			t.Fatal("a page disallowed by robots.txt was requested")
		}
		// June 2020: exactly the two seed articles are relevant; the repost is merged.
		r := e.req("GET", "/api/v1/monitor/items?from=2020-06-01&to=2020-06-30&relevant=true", reg, nil)
		var titles []string
		for _, it := range r.items() {
			m := it.(map[string]any)
			titles = append(titles, m["title"].(string))
			if m["title"] == "北京多所医院开通互联网诊疗 开放部分科室复诊服务" {
				reposts := m["reposts"].([]any)
				if len(reposts) != 1 || reposts[0].(map[string]any)["media"] != "健康北京" {
					t.Errorf("the repost is not merged: %v", m["reposts"])
				}
				if m["published"] != "2020-06-09" {
					t.Errorf("the earliest publication is kept: %v", m["published"])
				}
			}
			if len(m["terms"].([]any)) == 0 || m["score"].(float64) < m["threshold"].(float64) {
				t.Errorf("the verdict must show why: %v", m)
			}
		}
		if len(titles) != 2 {
			t.Fatalf("relevant June items: %v\n%s", titles, r.raw)
		}
		r = e.req("GET", "/api/v1/monitor/items?from=2020-06-01&to=2020-06-30&relevant=false", reg, nil)
		dropped := map[string]bool{}
		for _, it := range r.items() {
			dropped[it.(map[string]any)["title"].(string)] = true
		}
		if !dropped["某医院停车场临时封闭的通知"] || !dropped["北京市新冠肺炎疫情通报"] {
			t.Fatalf("health news that is not IT must be dropped: %v", dropped)
		}
		// Dropped items are not summarised; one the editor keeps is, then.
		for _, it := range r.items() {
			m := it.(map[string]any)
			if m["summary"] != "" {
				t.Fatalf("a dropped item was summarised: %v", m["title"])
			}
			if m["title"] == "北京市新冠肺炎疫情通报" {
				path := fmt.Sprintf("/api/v1/monitor/items/%.0f/override", m["id"].(float64))
				if o := e.req("PUT", path, reg, map[string]any{"relevant": true}); o.status != 204 {
					t.Fatalf("override %d %s", o.status, o.raw)
				}
				kept := e.req("GET", "/api/v1/monitor/items?from=2020-06-01&to=2020-06-30&relevant=true", reg, nil)
				found := false
				for _, k := range kept.items() {
					if km := k.(map[string]any); km["id"] == m["id"] {
						found = km["summary"] != ""
					}
				}
				if !found {
					t.Fatalf("the kept item has no summary: %s", kept.raw)
				}
				e.req("PUT", path, reg, map[string]any{"relevant": nil}) // back to the score's verdict
			}
		}
		// Seed 002 (traditional characters) is relevant, in simplified form.
		r = e.req("GET", "/api/v1/monitor/items?from=2026-01-01&to=2026-12-31&relevant=true", reg, nil)
		if len(r.items()) != 1 || !strings.Contains(r.items()[0].(map[string]any)["title"].(string), "北京市试点互联网诊疗首诊服务") {
			t.Fatalf("seed 002: %s", r.raw)
		}
		// A negative item about a Beijing institution alerts the regulator.
		r = e.req("GET", "/api/v1/monitor/items?from=2020-07-01&to=2020-07-31", reg, nil)
		if len(r.items()) != 1 || r.items()[0].(map[string]any)["sentiment"] != "负面" || len(r.items()[0].(map[string]any)["sentiment_words"].([]any)) == 0 {
			t.Fatalf("negative item: %s", r.raw)
		}
		if inbox := string(e.req("GET", "/api/v1/notifications", reg, nil).raw); !strings.Contains(inbox, "负面舆情提醒：北京儿童医院") {
			t.Fatalf("no alert: %s", inbox)
		}
		// Crawling again changes nothing.
		before := len(e.req("GET", "/api/v1/monitor/items", reg, nil).items())
		c = e.req("POST", "/api/v1/monitor/crawl", reg, nil)
		if n := len(e.req("GET", "/api/v1/monitor/items", reg, nil).items()); n != before {
			t.Fatalf("re-crawl changed the items: %d → %d", before, n)
		}
		// The June 2020 report, issue 27, in the seed's layout.
		rep := e.req("POST", "/api/v1/monitor/reports", reg, map[string]any{"from": "2020-06-01", "to": "2020-06-30", "number": 27})
		if rep.status != 201 || len(rep.body["items"].([]any)) != 2 {
			t.Fatalf("%d %s", rep.status, rep.raw)
		}
		id := rep.body["id"].(float64)
		// The editor puts the later article first, as the seed does.
		items := rep.body["items"].([]any)
		e.req("PUT", fmt.Sprintf("/api/v1/monitor/reports/%.0f", id), reg, map[string]any{"items": []any{items[1], items[0]}})
		txt := e.req("GET", fmt.Sprintf("/api/v1/monitor/reports/%.0f?format=txt", id), reg, nil)
		lines := strings.Split(string(txt.raw), "\n")
		want := []string{"北京卫生信息化舆情监测月报", "", "（第二十七期）", "", "北京市卫生健康委信息中心", "", "2020年06月30日", "", "本期导语：", "",
			"本期周报共收集 2 篇卫生信息化相关信息，时间从 2020 年 06 月 01 日到 2020 年 06 月 30 日，监测范围包括北京市主流媒体及政府网站等。", "",
			"一、信息目录", "", "- 1、推动“云医疗”有序发展（中国数字医学）", "- 2、北京多所医院开通互联网诊疗 开放部分科室复诊服务（中国数字医学）", "",
			"二、具体内容", "", "1. 标题：推动“云医疗”有序发展", "", "媒体：中国数字医学 2020-06-25", "", "链接：", "", site.URL + "/a/1", "", "主要内容：", ""}
		for i, w := range want {
			if i >= len(lines) || lines[i] != w {
				t.Fatalf("line %d: %q, want %q\n%s", i+1, lines[min(i, len(lines)-1)], w, txt.raw)
			}
		}
		if !strings.Contains(string(txt.raw), "2. 标题：北京多所医院开通互联网诊疗 开放部分科室复诊服务") {
			t.Fatal("second entry missing")
		}
		if r := e.req("GET", fmt.Sprintf("/api/v1/monitor/reports/%.0f?format=html", id), reg, nil); r.status != 200 || !strings.Contains(string(r.raw), "（第二十七期）") {
			t.Fatalf("html %d", r.status)
		}
		// PDF with the CJK font embedded: its text extracts as Chinese.
		if pdftotext, err := exec.LookPath("pdftotext"); err == nil {
			pdf := e.req("GET", fmt.Sprintf("/api/v1/monitor/reports/%.0f?format=pdf", id), reg, nil)
			if pdf.status != 200 || !strings.HasPrefix(string(pdf.raw), "%PDF") {
				t.Fatalf("pdf %d %.200s", pdf.status, pdf.raw)
			}
			f := t.TempDir() + "/r.pdf"
			os.WriteFile(f, pdf.raw, 0o644)
			out, err := exec.Command(pdftotext, f, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"北京卫生信息化舆情监测月报", "（第二十七期）", "2020年06月30日", "一、信息目录", "主要内容："} {
				if !strings.Contains(string(out), want) {
					t.Fatalf("pdftotext lacks %q:\n%s", want, out)
				}
			}
		} else if os.Getenv("CI") != "" {
			t.Fatal("pdftotext (poppler-utils) is needed to check the PDF")
		}
		// DOCX: a Word document whose text is the report's, in order.
		docx := e.req("GET", fmt.Sprintf("/api/v1/monitor/reports/%.0f?format=docx", id), reg, nil)
		if docx.status != 200 || docx.header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.wordprocessingml.document" {
			t.Fatalf("docx %d %s", docx.status, docx.header)
		}
		zr, err := zip.NewReader(bytes.NewReader(docx.raw), int64(len(docx.raw)))
		if err != nil {
			t.Fatalf("docx is not a zip: %v", err)
		}
		var body string
		for _, f := range zr.File {
			if f.Name == "word/document.xml" {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				body = string(b)
			}
		}
		last := -1
		for _, want := range []string{"北京卫生信息化舆情监测月报", "（第二十七期）", "2020年06月30日", "本期导语：", "1、推动“云医疗”有序发展（中国数字医学）",
			"二、具体内容", "1. 标题：推动“云医疗”有序发展", "主要内容："} {
			at := strings.Index(body, want)
			if at < 0 || at < last {
				t.Fatalf("docx lacks %q in order", want)
			}
			last = at
		}
		// Published: immutable; the next report counts on.
		if r := e.req("POST", fmt.Sprintf("/api/v1/monitor/reports/%.0f/publish", id), reg, nil); r.status != 200 || r.body["status"] != "published" {
			t.Fatalf("publish %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", fmt.Sprintf("/api/v1/monitor/reports/%.0f", id), reg, map[string]any{"scope": "x"}); r.status != 409 || r.errCode() != "report_published" {
			t.Fatalf("edit after publication %d %s", r.status, r.raw)
		}
		next := e.req("POST", "/api/v1/monitor/reports", reg, map[string]any{"from": "2020-08-01", "to": "2020-08-31"})
		if next.body["number"] != float64(28) {
			t.Fatalf("the series counts on: %s", next.raw)
		}
		// Only the regulator.
		if r := e.req("GET", "/api/v1/monitor/items", e.login("bch-admin"), nil); r.status != 403 {
			t.Fatalf("%d", r.status)
		}
	})
}

func TestMonitorBadInput(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		reg := e.login("regulator")
		before := len(e.req("GET", "/api/v1/monitor/sources", reg, nil).items())
		for _, c := range []struct {
			body  map[string]any
			field string
			code  string
		}{
			{map[string]any{"name": "x", "media": "x", "kind": "rss", "url": "ftp://example.com/feed"}, "url", "url_scheme"},
			{map[string]any{"name": "x", "media": "x", "kind": "atom", "url": "https://example.com/feed"}, "kind", "source_kind"},
			{map[string]any{"name": "x", "media": "x", "kind": "html", "url": "https://example.com/", "link_selector": "ul >> a["}, "link_selector", "selector_invalid"},
		} {
			r := e.req("POST", "/api/v1/monitor/sources", reg, c.body)
			if r.status != 400 || r.fieldCodes()[c.field] != c.code {
				t.Errorf("%v: %d %s", c.body, r.status, r.raw)
			}
		}
		if n := len(e.req("GET", "/api/v1/monitor/sources", reg, nil).items()); n != before {
			t.Fatal("a refused source was stored")
		}
		r := e.req("POST", "/api/v1/monitor/reports", reg, map[string]any{"from": "2020-06-30", "to": "2020-06-01"})
		if r.status != 400 || r.fieldCodes()["to"] != "period_invalid" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func (e *env) emptyMonitor() {
	for _, table := range []string{"monitor_report_items", "monitor_reports", "monitor_bands", "monitor_items"} {
		if _, err := e.db.Writer().Exec("DELETE FROM " + table); err != nil {
			e.t.Fatal(err)
		}
	}
}

// --demo: seed 000's articles are items of June 2020 and its report is
// published issue 27, laid out as the seed.
func TestDemoHasSeedReport27(t *testing.T) {
	raw, err := os.ReadFile("../../../shared/seeds/000_084e12d233652512.txt")
	if err != nil {
		t.Skip(err)
	}
	eachEnv(t, func(t *testing.T, e *env) {
		reg := e.login("regulator")
		list := e.req("GET", "/api/v1/monitor/reports", reg, nil).items()
		if len(list) != 1 {
			t.Fatalf("reports: %d", len(list))
		}
		rep := list[0].(map[string]any)
		if rep["number"] != float64(27) || rep["status"] != "published" {
			t.Fatalf("%v", rep)
		}
		txt := string(e.req("GET", fmt.Sprintf("/api/v1/monitor/reports/%.0f?format=txt", rep["id"].(float64)), reg, nil).raw)
		// Every non-empty line of the seed up to the second article's link is in the rendering, in order.
		seed := strings.ReplaceAll(string(raw), "\r", "")
		pos := 0
		for _, line := range strings.Split(seed, "\n") {
			line = strings.TrimSpace(strings.Trim(line, "<>"))
			if line == "" || strings.HasPrefix(line, "![]") || strings.HasPrefix(line, "前不久") || len([]rune(line)) > 80 {
				continue
			}
			i := strings.Index(txt[pos:], line)
			if i < 0 {
				t.Fatalf("the seed's line %q is not in the rendering (after offset %d):\n%s", line, pos, txt)
			}
			pos += i + len(line)
		}
		items := e.req("GET", "/api/v1/monitor/items?from=2020-06-01&to=2020-06-30&relevant=true", reg, nil).items()
		if len(items) != 2 {
			t.Fatalf("June 2020 items: %d", len(items))
		}
	})
}

// Without AllowPrivate (YUNYI_MONITOR_ALLOW_PRIVATE in production) a
// source on loopback is not fetched.
func TestMonitorRefusesPrivateAddresses(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		site, hits := fixtureSites(t)
		reg := e.login("regulator")
		e.req("POST", "/api/v1/monitor/sources", reg, map[string]any{"name": "内网", "media": "x", "kind": "rss", "url": site.URL + "/a/feed.xml"})
		c := e.req("POST", "/api/v1/monitor/crawl", reg, nil)
		if !strings.Contains(string(c.raw), "not allowed") {
			t.Fatalf("%s", c.raw)
		}
		if len(hits()) != 0 {
			t.Fatalf("a private address was requested: %v", hits())
		}
	})
}

// A collection's status is stored: asked for asynchronously it is followed
// by id until done, from the API (a new server over the same store sees
// it), and a run left running by a stopped process is marked failed.
func TestMonitorCrawlRunsAreStored(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		site, _ := fixtureSites(t)
		reg := e.login("regulator")
		e.req("POST", "/api/v1/monitor/sources", reg, map[string]any{"name": "数字医学", "media": "中国数字医学", "kind": "rss", "url": site.URL + "/a/feed.xml"})
		c := e.req("POST", "/api/v1/monitor/crawl?async=1", reg, nil)
		if c.status != 202 {
			t.Fatalf("%d %s", c.status, c.raw)
		}
		path := fmt.Sprintf("/api/v1/monitor/crawl/%.0f", c.body["id"].(float64))
		var st resp
		for range 200 {
			if st = e.req("GET", path, reg, nil); st.body["status"] != "running" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if st.body["status"] != "done" || len(st.body["sources"].([]any)) != 1 {
			t.Fatalf("run %s", st.raw)
		}
		// Another server over the same store answers for the run.
		other := newEnv(t, e.db, relaxed)
		if r := other.req("GET", path, other.login("regulator"), nil); r.body["status"] != "done" {
			t.Fatalf("from another server: %s", r.raw)
		}
		// A run left running by a process that stopped.
		e.db.Writer().Exec(`INSERT INTO monitor_crawls (status, started) VALUES ('running', 1)`)
		if n, err := e.s.InterruptedCrawls(context.Background()); err != nil || n != 1 {
			t.Fatalf("interrupted %d %v", n, err)
		}
	})
}
