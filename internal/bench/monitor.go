package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/monitor"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// PipelineResult is the speed of the monitoring pipeline without the
// network: normalise, segment, score, fingerprint and merge, summarise,
// classify, store.
type PipelineResult struct {
	Engine   string
	Articles int
	Runes    int // per article
	Duration time.Duration
	PerSec   float64
	Relevant int
	Merged   int
	// Processing is the time until every article was processed (storing
	// runs alongside and ends later).
	Processing time.Duration
}

// syntheticArticles makes n distinct articles of about runes characters:
// sentences of seed 000's words in random order mixed with random
// characters of the same text (common simplified characters; each
// article different), half of them with health-IT terms and half
// without. One article in 20 is written in traditional characters (as
// seed 002 and the Hong Kong and Taiwan media are), so the conversion to
// simplified is measured too.
func syntheticArticles(n, runes int) ([]monitor.Raw, error) {
	seed := demo.SeedArticleText()
	words := monitor.Tokens(seed)
	var chars []rune
	seen := map[rune]bool{}
	for _, c := range seed {
		if unicode.Is(unicode.Han, c) && !seen[c] {
			seen[c] = true
			chars = append(chars, c)
		}
	}
	terms := []string{"互联网医院", "电子处方", "医保支付", "远程医疗", "电子病历", "大数据", "人工智能"}
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]monitor.Raw, n)
	for i := range out {
		var b strings.Builder
		count := 0
		for count < runes {
			for k := 0; k < 8; k++ {
				w := words[r.IntN(len(words))]
				if i%2 == 1 && strings.ContainsAny(w, "医互联网诊疗信息") {
					continue
				}
				b.WriteString(w)
				b.WriteRune(chars[r.IntN(len(chars))])
				count += len([]rune(w)) + 1
			}
			if i%2 == 0 && r.IntN(6) == 0 {
				b.WriteString(terms[r.IntN(len(terms))])
			}
			b.WriteString("。")
			count++
		}
		text, title := b.String(), fmt.Sprintf("测试文章 %d", i)
		if i%20 == 7 {
			text = monitor.Traditional(text)
			title = fmt.Sprintf("測試文章 %d", i)
		}
		out[i] = monitor.Raw{Media: "压测媒体", URL: fmt.Sprintf("https://example.org/a/%d", i), Title: title,
			Published: time.Date(2020, 6, 1+i%28, 0, 0, 0, 0, time.UTC).Format("2006-01-02"), Text: text, FetchedAt: time.Now()}
	}
	return out, nil
}

// Pipeline runs n synthetic articles of runes characters through the
// pipeline into db: processing on every core, storing 100 a transaction.
func Pipeline(ctx context.Context, db *sqlstore.DB, n, runes int) (*PipelineResult, error) {
	arts, err := syntheticArticles(n, runes)
	if err != nil {
		return nil, err
	}
	tax, err := db.Taxonomy(ctx)
	if err != nil {
		return nil, err
	}
	lex, err := db.Lexicon(ctx)
	if err != nil {
		return nil, err
	}
	monitor.Tokens("预热分词词典") // load the dictionaries before the clock starts
	monitor.Simplify("預熱")
	// Processing runs on every core while one writer stores what is
	// processed, 100 articles a transaction, in the articles' order.
	start := time.Now()
	items := make([]*monitor.Item, n)
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	next := make(chan int, n)
	for i := range arts {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	ends := make([]time.Duration, runtime.GOMAXPROCS(0))
	for w := range ends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				items[i] = monitor.Process(arts[i], tax, lex)
				close(done[i])
			}
			ends[w] = time.Since(start)
		}()
	}
	for i := 0; i < n; i += 100 {
		batch := items[i:min(i+100, n)]
		for k := range batch {
			<-done[i+k]
		}
		if _, err := db.UpsertItems(ctx, batch); err != nil {
			return nil, err
		}
	}
	wg.Wait()
	processed := slices.Max(ends)
	d := time.Since(start)
	res := &PipelineResult{Engine: string(db.Engine), Articles: n, Runes: runes, Duration: d, PerSec: float64(n) / d.Seconds(), Processing: processed}
	for _, it := range items {
		if it.Relevant {
			res.Relevant++
		}
		if it.DuplicateOf != 0 {
			res.Merged++
		}
	}
	return res, nil
}
