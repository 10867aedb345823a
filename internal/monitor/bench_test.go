package monitor

import (
	"os"
	"strings"
	"testing"
	"time"
)

func BenchmarkProcess(b *testing.B) {
	raw, err := os.ReadFile("../../../shared/seeds/000_084e12d233652512.txt")
	if err != nil {
		b.Skip(err)
	}
	text := string([]rune(strings.Repeat(string(raw), 2))[:3000])
	tax, lex := DefaultTaxonomy(), DefaultLexicon()
	Tokens("预热")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Process(Raw{Title: "测试", Published: "2020-06-01", Text: text, FetchedAt: time.Now()}, tax, lex)
	}
}

func benchText(b *testing.B) string {
	raw, err := os.ReadFile("../../../shared/seeds/000_084e12d233652512.txt")
	if err != nil {
		b.Skip(err)
	}
	Tokens("预热")
	Simplify("預熱")
	return string([]rune(strings.Repeat(string(raw), 2))[:3000])
}

func BenchmarkTokens(b *testing.B) {
	t := benchText(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Tokens(t)
	}
}

func BenchmarkSimplify(b *testing.B) {
	t := benchText(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Simplify(t)
	}
}

func BenchmarkSummarize(b *testing.B) {
	t := benchText(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Summarize(t, 300)
	}
}

func BenchmarkFingerprint(b *testing.B) {
	t := benchText(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Fingerprint(t)
	}
}
