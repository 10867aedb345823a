package docs

import (
	"bufio"
	"fmt"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The rule ids of the seed rules (S, D, V, R, M, G, W) and of the national
// and local rules (N). Only these prefixes exist, so "UTF-8", "SHA-256",
// "ISO-8601", "GB-18030", "COVID-19" or "ITI-115" are never read as ids: a
// letter outside the set, a letter inside a word, or three digits.
var (
	idRE    = regexp.MustCompile(`\b[SDVRMGWN]-[0-9]{1,2}\b`)
	rangeRE = regexp.MustCompile(`\b([SDVRMGWN])-([0-9]{1,2})(?:\.\.|–| to )([SDVRMGWN])-([0-9]{1,2})\b`)
	// A table row whose first cell looks like an id of any prefix.
	rowIDRE   = regexp.MustCompile(`^[A-Z]{1,3}-[0-9]+$`)
	tickRE    = regexp.MustCompile("`([^`]+)`")
	reasonRE  = regexp.MustCompile(`^(not yet|not applicable): \S+(\s+\S+){2,}`)
	testRefRE = regexp.MustCompile(`^(?:([a-z][a-z0-9]*)\.)?(Test\w+)$`)
	testFunRE = regexp.MustCompile(`(?m)^func (Test\w+)\(`)
)

// scanned are the kinds of files whose rule citations must be documented:
// code (.go: comments and string literals only), migrations, data,
// templates, static files and the other markdown files.
var scanned = map[string]bool{
	".go": true, ".sql": true, ".tsv": true, ".csv": true, ".json": true, ".yaml": true, ".yml": true,
	".html": true, ".tmpl": true, ".js": true, ".css": true, ".md": true,
}

type rule struct {
	id, meaning, enforced, tested string
	line                          int
}

type citation struct {
	id   string
	file string // relative to the root, slash-separated
	line int
}

// repo is what the test reads of the repository, once.
type repo struct {
	root      string
	citations []citation
	words     map[string]bool            // identifiers in non-test files
	codes     map[string]bool            // words with hyphens too (rule codes)
	pkgWords  map[string]map[string]bool // identifiers of non-test Go files by directory name
	text      strings.Builder            // non-test files, for names with spaces
	tests     map[string]map[string]bool // test function -> directory names declaring it
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(wd)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "module github.com/yunyi-health/yunyi") {
		t.Fatalf("the repository root is not %s: %v", root, err)
	}
	return root
}

// readRules parses the tables of docs/rules.md: every row whose first cell
// is an id.
func readRules(t *testing.T, root string) []rule {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []rule
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if !rowIDRE.MatchString(cells[0]) {
			continue
		}
		if !idRE.MatchString(cells[0]) || idRE.FindString(cells[0]) != cells[0] {
			t.Errorf("docs/rules.md:%d: %s is not a rule id of the shared documents (S, D, V, R, M, G, W, N)", n, cells[0])
			continue
		}
		if len(cells) != 4 {
			t.Errorf("docs/rules.md:%d: %s has %d cells, want 4 (id, meaning, enforced, tested)", n, cells[0], len(cells))
			continue
		}
		rules = append(rules, rule{id: cells[0], meaning: cells[1], enforced: cells[2], tested: cells[3], line: n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("docs/rules.md: no rule rows found")
	}
	return rules
}

// readRepo walks the repository (not docs/, hidden folders, vendor or
// testdata) and collects the cited ids and the names the document may use.
func readRepo(t *testing.T, root string) *repo {
	t.Helper()
	r := &repo{root: root, words: map[string]bool{}, codes: map[string]bool{}, pkgWords: map[string]map[string]bool{},
		tests: map[string]map[string]bool{}}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || rel == "docs" || name == "vendor" || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if !scanned[ext] {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(path, "_test.go")
		dir := filepath.Base(filepath.Dir(path))
		if ext == ".go" {
			r.goCitations(rel, src)
			if isTest {
				for _, m := range testFunRE.FindAllSubmatch(src, -1) {
					name := string(m[1])
					if r.tests[name] == nil {
						r.tests[name] = map[string]bool{}
					}
					r.tests[name][dir] = true
				}
			} else {
				if r.pkgWords[dir] == nil {
					r.pkgWords[dir] = map[string]bool{}
				}
				addWords(r.pkgWords[dir], src, false)
			}
		} else {
			r.lineCitations(rel, string(src))
		}
		if !isTest {
			addWords(r.words, src, false)
			addWords(r.codes, src, true)
			r.text.Write(src)
			r.text.WriteByte('\n')
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// addWords adds the words of src to set: runs of ASCII letters, digits and
// underscores, and hyphens too when hyphen is set (rule codes such as
// sjt-age).
func addWords(set map[string]bool, src []byte, hyphen bool) {
	start := -1
	for i := 0; i <= len(src); i++ {
		in := i < len(src) && (src[i] == '_' || src[i] >= 'a' && src[i] <= 'z' || src[i] >= 'A' && src[i] <= 'Z' ||
			src[i] >= '0' && src[i] <= '9' || hyphen && src[i] == '-' && start >= 0)
		switch {
		case in && start < 0:
			start = i
		case !in && start >= 0:
			set[string(src[start:i])] = true
			start = -1
		}
	}
}

// cite records every id in text, which starts at line; a range such as
// V-1..V-3 cites the ids between its ends too.
func (r *repo) cite(file string, line int, text string) {
	if !strings.Contains(text, "-") {
		return
	}
	for _, loc := range idRE.FindAllStringIndex(text, -1) {
		r.citations = append(r.citations, citation{text[loc[0]:loc[1]], file, line + strings.Count(text[:loc[0]], "\n")})
	}
	for _, m := range rangeRE.FindAllStringSubmatchIndex(text, -1) {
		p1, p2 := text[m[2]:m[3]], text[m[6]:m[7]]
		a, _ := strconv.Atoi(text[m[4]:m[5]])
		b, _ := strconv.Atoi(text[m[8]:m[9]])
		if p1 != p2 || b-a > 30 {
			continue
		}
		for n := a + 1; n < b; n++ {
			r.citations = append(r.citations, citation{fmt.Sprintf("%s-%d", p1, n), file, line + strings.Count(text[:m[0]], "\n")})
		}
	}
}

// goCitations reads the comments and string literals of a Go file: an
// expression such as N-1 in code is not a citation.
func (r *repo) goCitations(file string, src []byte) {
	fset := token.NewFileSet()
	tf := fset.AddFile(file, -1, len(src))
	var s scanner.Scanner
	s.Init(tf, src, func(token.Position, string) {}, scanner.ScanComments)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return
		}
		if tok == token.COMMENT || tok == token.STRING {
			r.cite(file, fset.Position(pos).Line, lit)
		}
	}
}

func (r *repo) lineCitations(file, src string) {
	for i, line := range strings.Split(src, "\n") {
		r.cite(file, i+1, line)
	}
}

// findRef reports whether a name the "enforced" column gives in backticks
// exists: a path, a name with spaces found verbatim, a package-qualified Go
// name (pkg.Type.Func), or a bare name or rule code found in the files.
func (r *repo) findRef(ref string) bool {
	ref = strings.TrimSuffix(ref, "()")
	switch {
	case strings.Contains(ref, "/") && !strings.Contains(ref, " "):
		_, err := os.Stat(filepath.Join(r.root, filepath.FromSlash(ref)))
		return err == nil
	case strings.Contains(ref, " "):
		return strings.Contains(r.text.String(), ref)
	case strings.Contains(ref, "."):
		parts := strings.Split(ref, ".")
		words := r.pkgWords[parts[0]]
		if words == nil {
			return false
		}
		for _, p := range parts[1:] {
			if !words[p] {
				return false
			}
		}
		return true
	case strings.Contains(ref, "-"):
		return r.codes[ref]
	default:
		return r.words[ref]
	}
}

func TestRulesDocument(t *testing.T) {
	root := repoRoot(t)
	rules := readRules(t, root)
	r := readRepo(t, root)

	documented := map[string]rule{}
	highest := map[byte]int{}
	for _, ru := range rules {
		if prev, dup := documented[ru.id]; dup {
			t.Errorf("docs/rules.md:%d: %s is documented twice (also line %d)", ru.line, ru.id, prev.line)
		}
		documented[ru.id] = ru
		n, _ := strconv.Atoi(ru.id[2:])
		highest[ru.id[0]] = max(highest[ru.id[0]], n)
	}
	// Ids of one kind are numbered from 1 without gaps: a gap is a typo or a
	// forgotten row.
	for p, hi := range highest {
		for n := 1; n <= hi; n++ {
			if id := fmt.Sprintf("%c-%d", p, n); documented[id].id == "" {
				t.Errorf("docs/rules.md: %s is missing (the %c rules go up to %c-%d)", id, p, p, hi)
			}
		}
	}

	// (b) Every id cited in the repository has a row.
	missing := map[string][]string{}
	cited := map[string]bool{}
	for _, c := range r.citations {
		cited[c.id] = true
		if _, ok := documented[c.id]; !ok {
			missing[c.id] = append(missing[c.id], fmt.Sprintf("%s:%d", c.file, c.line))
		}
	}
	var ids []string
	for id := range missing {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t.Errorf("%s is cited but docs/rules.md has no row for it: %s", id, strings.Join(missing[id], ", "))
	}

	var uncited []string
	for _, ru := range rules {
		where := fmt.Sprintf("docs/rules.md:%d: %s", ru.line, ru.id)
		if ru.meaning == "" {
			t.Errorf("%s: the meaning is empty", where)
		}
		// (c) The enforced column names code, or says why there is none.
		refs := tickRE.FindAllStringSubmatch(ru.enforced, -1)
		if len(refs) == 0 && !reasonRE.MatchString(ru.enforced) {
			t.Errorf("%s: the enforced column names no code location (in backticks) and gives no reason (\"not yet: ...\" or \"not applicable: ...\"): %q", where, ru.enforced)
		}
		for _, m := range refs {
			if !r.findRef(m[1]) {
				t.Errorf("%s: the enforced column names `%s`, which is not in the repository", where, m[1])
			}
		}
		// The tested column names test functions that exist, or says none.
		trefs := tickRE.FindAllStringSubmatch(ru.tested, -1)
		if len(trefs) == 0 && !strings.HasPrefix(ru.tested, "none") {
			t.Errorf("%s: the tested column names no test (in backticks) and does not say \"none yet\": %q", where, ru.tested)
		}
		for _, m := range trefs {
			tm := testRefRE.FindStringSubmatch(m[1])
			switch {
			case tm == nil:
				t.Errorf("%s: the tested column names `%s`, which is not a test function (package.TestName)", where, m[1])
			case r.tests[tm[2]] == nil:
				t.Errorf("%s: test %s does not exist", where, m[1])
			case tm[1] != "" && !r.tests[tm[2]][tm[1]]:
				t.Errorf("%s: test %s is not in package %s", where, tm[2], tm[1])
			}
		}
		if !cited[ru.id] {
			uncited = append(uncited, ru.id)
		}
	}
	if len(uncited) > 0 {
		t.Logf("documented but cited nowhere in the repository: %s", strings.Join(uncited, ", "))
	}
}
