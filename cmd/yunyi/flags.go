package main

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/peterbourgon/ff/v3"

	"github.com/yunyi-health/yunyi/internal/web"
)

// Every flag of `yunyi serve` (issue 17) comes from the command line, else
// from the environment as YUNYI_<FLAG> (--tls-cert: YUNYI_TLS_CERT), else
// from one config file (--config FILE or $YUNYI_CONFIG: a line per flag,
// "tls-cert /etc/yunyi/tls.crt", # for comments), else its default.

const flagSources = `Every flag is also read from the environment as $YUNYI_<FLAG> (--tls-cert: $YUNYI_TLS_CERT, --db: $YUNYI_DB)
and from the config file given by --config or $YUNYI_CONFIG (a line per flag: "tls-cert /etc/yunyi/tls.crt",
"# a comment"); the command line wins, then the environment, then the file.
`

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return "YUNYI_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses a command's flags from the command line, the
// environment and the config file, in that order of precedence.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.String("config", "", "a config file of flags, a line each (\"addr 0.0.0.0:8080\"); see above")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of %s:\n%s", fs.Name(), flagSources)
		fs.PrintDefaults()
	}
	return ff.Parse(fs, args, ff.WithEnvVarPrefix("YUNYI"), ff.WithConfigFileFlag("config"), ff.WithConfigFileParser(ff.PlainParser))
}

// rateLimitsFlag changes rate limits (web.DefaultLimits): NAME=PER_MINUTE/BURST,...
type rateLimitsFlag map[string][2]float64

func (f rateLimitsFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, fmt.Sprintf("%s=%g/%g", k, f[k][0], f[k][1]))
	}
	return strings.Join(parts, ",")
}

func (f rateLimitsFlag) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, spec, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=PER_MINUTE/BURST", part)
		}
		name = strings.TrimSpace(name)
		if _, known := web.DefaultLimits[name]; !known {
			return fmt.Errorf("%q: no such rate limit (%s)", name, limitNames())
		}
		rate, burst, ok := strings.Cut(spec, "/")
		r, err1 := strconv.ParseFloat(strings.TrimSpace(rate), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(burst), 64)
		if !ok || err1 != nil || err2 != nil || r <= 0 || b < 1 {
			return fmt.Errorf("%s=%s: want PER_MINUTE/BURST, both positive, the burst at least 1", name, spec)
		}
		f[name] = [2]float64{r, b}
	}
	return nil
}

// limitNames lists the rate limits with their defaults.
func limitNames() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(web.DefaultLimits)) {
		parts = append(parts, fmt.Sprintf("%s (default %g/%g)", k, web.DefaultLimits[k][0], web.DefaultLimits[k][1]))
	}
	return strings.Join(parts, ", ")
}
