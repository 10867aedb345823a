// Package i18n holds every user-facing text of Yunyi in Simplified Chinese
// (the default) and English, keyed by stable identifiers. Error codes of
// package errs are keys here too.
package i18n

import (
	"fmt"
	"strings"
)

// Lang is a UI language.
type Lang string

const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// Parse returns the language named by s ("en", "en-US", "zh-CN", ...),
// Chinese unless s asks for English.
func Parse(s string) Lang {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.HasPrefix(s, "en") {
		return EN
	}
	return ZH
}

// FromAcceptLanguage picks the first supported language of an
// Accept-Language header; Chinese when none matches.
func FromAcceptLanguage(h string) Lang {
	for _, part := range strings.Split(h, ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "zh"):
			return ZH
		case strings.HasPrefix(tag, "en"):
			return EN
		}
	}
	return ZH
}

// T returns the text for key in lang, formatted with args (fmt verbs).
// An unknown key returns the key itself, so a missing text is visible but
// never breaks a page.
func T(lang Lang, key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	s := m[0]
	if lang == EN {
		s = m[1]
	}
	if len(args) > 0 {
		copied := false
		for i, a := range args {
			if r, ok := a.(Ref); ok {
				if !copied {
					args, copied = append([]any(nil), args...), true
				}
				args[i] = T(lang, string(r))
			}
		}
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Ref is a message argument that is itself a catalog key, shown
// translated (a state or an action named in an error).
type Ref string

// Has reports whether the catalog knows key.
func Has(key string) bool { _, ok := catalog[key]; return ok }

// Keys returns every key of the catalog (for tests).
func Keys() []string {
	out := make([]string, 0, len(catalog))
	for k := range catalog {
		out = append(out, k)
	}
	return out
}

// add merges texts into the catalog (each file of texts adds its own).
func add(m map[string][2]string) {
	for k, v := range m {
		catalog[k] = v
	}
}
