package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

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
	// Processing is the part of Duration before storing.
	Processing time.Duration
}

// syntheticArticles makes n distinct articles of about runes characters:
// sentences of seed 000's words in random order mixed with random common
// characters (each article different), half of them with health-IT terms
// and half without.
func syntheticArticles(n, runes int) []monitor.Raw {
	words := monitor.Tokens(demo.SeedArticleText())
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
				b.WriteRune(rune(0x4E00 + r.IntN(0x5000)))
				count += len([]rune(w)) + 1
			}
			if i%2 == 0 && r.IntN(6) == 0 {
				b.WriteString(terms[r.IntN(len(terms))])
			}
			b.WriteString("。")
			count++
		}
		out[i] = monitor.Raw{Media: "压测媒体", URL: fmt.Sprintf("https://example.org/a/%d", i), Title: fmt.Sprintf("测试文章 %d", i),
			Published: time.Date(2020, 6, 1+i%28, 0, 0, 0, 0, time.UTC).Format("2006-01-02"), Text: b.String(), FetchedAt: time.Now()}
	}
	return out
}

// Pipeline runs n synthetic articles of runes characters through the
// pipeline into db: processing on every core, storing 100 a transaction.
func Pipeline(ctx context.Context, db *sqlstore.DB, n, runes int) (*PipelineResult, error) {
	arts := syntheticArticles(n, runes)
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
	start := time.Now()
	items := make([]*monitor.Item, n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range arts {
		next <- i
	}
	close(next)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				items[i] = monitor.Process(arts[i], tax, lex)
			}
		}()
	}
	wg.Wait()
	processed := time.Since(start)
	for i := 0; i < n; i += 100 {
		if _, err := db.UpsertItems(ctx, items[i:min(i+100, n)]); err != nil {
			return nil, err
		}
	}
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
