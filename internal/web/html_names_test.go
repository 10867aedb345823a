package web

import (
	"strings"
	"testing"
)

// Issue 15, found by looking at the pages: the institution page names a
// doctor's department by its name (in the page's language), not its
// code; the monitoring page's source table heads its first column 名称
// (a source's name), not 姓名 (a person's).
func TestPagesShowNamesNotCodes(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		page := string(e.req("GET", "/institutions/bch", "", nil).raw)
		if !strings.Contains(page, `data-dept="dermatology">皮肤科</td>`) || strings.Contains(page, "<td>dermatology</td>") {
			t.Fatalf("the doctors' departments are not named:\n%s", page)
		}
		mon := string(e.req("GET", "/monitor", e.login("regulator"), nil).raw)
		i := strings.Index(mon, `id="source-list"`)
		if i < 0 || !strings.Contains(mon[i:i+200], "<th>名称</th>") {
			t.Fatalf("the source table's head:\n%s", mon)
		}
	})
}
