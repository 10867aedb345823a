package web

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/demo"
)

// TestVisitSummary drives a skin first visit to a signed, amended record
// with an approved prescription and checks the visit summary (门诊病历):
// its JSON fields, the PDF's text, who may read it and the audit.
func TestVisitSummary(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		cetirizine := drugCode(t, "cetirizine", "oral", false)
		e.stock("bch", true, cetirizine)
		vpath, doc, lm := e.rxVisit("李小雨", map[string]any{"weight_kg": 25})

		// Nothing to keep before the record is signed.
		if r := e.req("GET", vpath+"/summary", lm, nil); r.status != 409 || r.errCode() != "summary_not_ready" {
			t.Fatalf("summary before signing %d %s", r.status, r.raw)
		}
		// A prescription approved, another left pending (not in the summary).
		body := map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 5, 1)}, "diagnoses": []string{"L20.9"}, "weight_kg": 25}
		p := e.req("POST", vpath+"/prescriptions", doc, body)
		if p.status != 201 {
			t.Fatalf("prescribe %d %s", p.status, p.raw)
		}
		if r := e.req("POST", fmt.Sprintf("/api/v1/prescriptions/%.0f/review", p.body["id"].(float64)), e.login("bch-pharmacist"),
			map[string]any{"decision": "approve"}); r.status != 200 {
			t.Fatalf("approve %d %s", r.status, r.raw)
		}
		rec := map[string]any{"chief_complaint": "面部皮疹伴瘙痒 3 天", "present_illness": "3 天前面颊出现红斑",
			"history": "既往体健", "observations": "双颊对称红斑，少量脱屑",
			"diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "保湿，避免搔抓，一周后复诊"}
		if r := e.req("POST", vpath+"/complete", doc, rec); r.status != 200 {
			t.Fatalf("complete %d %s", r.status, r.raw)
		}
		rec["diagnoses"] = []map[string]string{{"code": "L20.9"}, {"code": "L23.9"}}
		rec["amend_reason"] = "补充接触性皮炎诊断"
		if r := e.req("POST", vpath+"/amendments", doc, rec); r.status != 200 {
			t.Fatalf("amend %d %s", r.status, r.raw)
		}

		for _, tok := range []string{lm, doc} {
			s := e.req("GET", vpath+"/summary?format=json", tok, nil)
			if s.status != 200 {
				t.Fatalf("summary %d %s", s.status, s.raw)
			}
			pt := s.body["patient"].(map[string]any)
			if pt["name"] != "李小雨" || pt["sex_text"] == "" || pt["age"] == "" || !strings.Contains(pt["resident_id"].(string), "*") {
				t.Fatalf("patient %v", pt)
			}
			if s.body["institution_name"] != "北京儿童医院" || s.body["department_name"] != "皮肤科" {
				t.Fatalf("institution %v / %v", s.body["institution_name"], s.body["department_name"])
			}
			dr := s.body["doctor"].(map[string]any)
			if dr["name"] == "" || dr["title_text"] == "" {
				t.Fatalf("doctor %v", dr)
			}
			r := s.body["record"].(map[string]any)
			dx := r["diagnoses"].([]any)
			if r["version"] != 2.0 || len(dx) != 2 || dx[0].(map[string]any)["name"] == "" || r["advice"] != "保湿，避免搔抓，一周后复诊" {
				t.Fatalf("record %v", r)
			}
			earlier := s.body["earlier_versions"].([]any)
			if len(earlier) != 1 || earlier[0].(map[string]any)["version"] != 1.0 {
				t.Fatalf("earlier versions %v", earlier)
			}
			if r["amend_reason"] != "补充接触性皮炎诊断" {
				t.Fatalf("amend reason %v", r["amend_reason"])
			}
			rxs := s.body["prescriptions"].([]any)
			if len(rxs) != 1 {
				t.Fatalf("prescriptions %v", rxs)
			}
			drugs := rxs[0].(map[string]any)["drugs"].([]any)
			d0 := drugs[0].(map[string]any)
			if len(drugs) != 1 || !strings.Contains(d0["name"].(string), "西替利嗪") || d0["quantity"] != 1.0 || !strings.Contains(d0["usage"].(string), "每日一次") {
				t.Fatalf("drugs %v", drugs)
			}
		}

		// A pending prescription written after the end stays out.
		if p := e.req("POST", vpath+"/prescriptions", doc, body); p.status != 201 {
			t.Fatalf("second prescription %d %s", p.status, p.raw)
		}
		if s := e.req("GET", vpath+"/summary", lm, nil); len(s.body["prescriptions"].([]any)) != 1 {
			t.Fatalf("a pending prescription in the summary: %s", s.raw)
		}

		// The PDF.
		pdf := e.req("GET", vpath+"/summary?format=pdf", lm, nil)
		if pdf.status == 503 && pdf.errCode() == "pdf_font_missing" {
			if os.Getenv("YUNYI_REQUIRE_CHROMIUM") == "1" {
				t.Fatal("no CJK font for the PDF")
			}
			t.Skip("no CJK font for the PDF")
		}
		if pdf.status != 200 || pdf.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(pdf.raw), "%PDF") {
			t.Fatalf("pdf %d %.200s", pdf.status, pdf.raw)
		}
		if bin, err := exec.LookPath("pdftotext"); err == nil {
			f := filepath.Join(t.TempDir(), "summary.pdf")
			if err := os.WriteFile(f, pdf.raw, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-enc", "UTF-8", f, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(strings.Fields(string(out)), "")
			for _, want := range []string{"北京儿童医院", "门诊病历", "姓名：李小雨", "科别：皮肤科", "面部皮疹伴瘙痒3天", "L20.9", "特应性皮炎",
				"L23.9", "西替利嗪", "×1", "每日一次", "保湿，避免搔抓，一周后复诊", "第2版", "修订原因：补充接触性皮炎诊断", "首次签署"} {
				if !strings.Contains(text, want) {
					t.Errorf("the PDF lacks %q:\n%s", want, text)
				}
			}
		} else {
			t.Log("pdftotext not installed: the PDF's text not checked")
		}
		if r := e.req("GET", vpath+"/summary?format=docx", lm, nil); r.status != 400 || r.fieldCodes()["format"] != "format_unknown" {
			t.Fatalf("format docx %d %s", r.status, r.raw)
		}

		// Another family, another doctor: not found, and the attempt audited.
		if r := e.req("GET", vpath+"/summary", e.login("zhangwei"), nil); r.status != 404 {
			t.Fatalf("another family %d", r.status)
		}
		if r := e.req("GET", vpath+"/summary", e.login("bch-doctor"), nil); r.status != 404 {
			t.Fatalf("another doctor %d", r.status)
		}
		var n int
		if err := e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'visit.summary.read' AND institution = 'bch'`).Scan(&n); err != nil || n != 4 {
			t.Fatalf("%d summary reads audited (%v), want 4", n, err)
		}
		if err := e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'visit.read.denied'`).Scan(&n); err != nil || n < 2 {
			t.Fatalf("%d denied reads audited (%v)", n, err)
		}

		// The visit page links the PDF once signed.
		page := e.req("GET", strings.Replace(vpath, "/api/v1", "", 1), lm, nil)
		if page.status != 200 || !strings.Contains(string(page.raw), `href="`+vpath+`/summary?format=pdf"`) || !strings.Contains(string(page.raw), "下载门诊病历") {
			t.Fatalf("visit page %d lacks the summary link", page.status)
		}
	})
}

// TestEducation: the demo's articles are public per institution; the
// visit's doctor attaches some; the family reads them (audited); nobody
// else does.
func TestEducation(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		pub := e.req("GET", "/api/v1/institutions/bch/education", "", nil)
		arts, _ := pub.body["articles"].([]any)
		if pub.status != 200 || len(arts) < 6 {
			t.Fatalf("public list %d %s", pub.status, pub.raw)
		}
		specs := map[string]bool{}
		ids := map[string][]float64{}
		for _, a := range arts {
			m := a.(map[string]any)
			specs[m["specialty"].(string)] = true
			ids[m["specialty"].(string)] = append(ids[m["specialty"].(string)], m["id"].(float64))
			if m["source"] != demo.EducationSource || m["title"] == "" || m["body"] == "" || m["title_en"] == "" || m["specialty_name"] == "" {
				t.Fatalf("article %v", m)
			}
		}
		if !specs["growth"] || !specs["nutrition"] || !specs["skin"] {
			t.Fatalf("specialties %v", specs)
		}
		if r := e.req("GET", "/api/v1/institutions/bch/education?specialty=skin", "", nil); len(r.body["articles"].([]any)) != len(ids["skin"]) {
			t.Fatalf("skin only: %s", r.raw)
		}
		if r := e.req("GET", "/api/v1/institutions/nowhere/education", "", nil); r.status != 404 {
			t.Fatalf("unknown institution %d", r.status)
		}
		page := e.req("GET", "/institutions/bch/education", "", nil)
		if page.status != 200 || !strings.Contains(string(page.raw), "儿童湿疹的日常护理") || !strings.Contains(string(page.raw), demo.EducationSource) {
			t.Fatalf("public page %d", page.status)
		}
		ccmc := e.req("GET", "/api/v1/institutions/ccmc/education", "", nil).body["articles"].([]any)
		foreign := ccmc[0].(map[string]any)["id"].(float64)

		vpath, doc, lm := e.rxVisit("李小雨", nil)
		path := vpath + "/education"
		skin := ids["skin"]
		if r := e.req("POST", path, lm, map[string]any{"articles": []float64{skin[0]}}); r.status != 403 {
			t.Fatalf("the guardian attaches %d %s", r.status, r.raw)
		}
		if r := e.req("POST", path, e.login("bch-doctor"), map[string]any{"articles": []float64{skin[0]}}); r.status != 404 {
			t.Fatalf("another doctor attaches %d", r.status)
		}
		if r := e.req("POST", path, doc, map[string]any{"articles": []float64{}}); r.status != 400 || r.fieldCodes()["articles"] != "required" {
			t.Fatalf("none %d %s", r.status, r.raw)
		}
		if r := e.req("POST", path, doc, map[string]any{"articles": []float64{skin[0], foreign}}); r.status != 400 || r.fieldCodes()["articles[1]"] != "not_found" {
			t.Fatalf("another hospital's article %d %s", r.status, r.raw)
		}
		a := e.req("POST", path, doc, map[string]any{"articles": []float64{skin[0], skin[1]}})
		if a.status != 200 || len(a.body["articles"].([]any)) != 2 {
			t.Fatalf("attach %d %s", a.status, a.raw)
		}
		// Again, with one more: no duplicate.
		a = e.req("POST", path, doc, map[string]any{"articles": []float64{skin[0], ids["nutrition"][0]}})
		if a.status != 200 || len(a.body["articles"].([]any)) != 3 {
			t.Fatalf("attach again %d %s", a.status, a.raw)
		}
		g := e.req("GET", path, lm, nil)
		got := g.body["articles"].([]any)
		if g.status != 200 || len(got) != 3 || got[0].(map[string]any)["id"] != skin[0] || got[2].(map[string]any)["id"] != ids["nutrition"][0] {
			t.Fatalf("the family reads %d %s", g.status, g.raw)
		}
		if r := e.req("GET", path, e.login("zhangwei"), nil); r.status != 404 {
			t.Fatalf("another family reads %d", r.status)
		}
		// The visit page shows them to the family.
		vp := e.req("GET", strings.Replace(vpath, "/api/v1", "", 1), lm, nil)
		if vp.status != 200 || !strings.Contains(string(vp.raw), "儿童湿疹的日常护理") || strings.Contains(string(vp.raw), `id="edu-form"`) {
			t.Fatalf("visit page %d", vp.status)
		}
		if dp := e.req("GET", strings.Replace(vpath, "/api/v1", "", 1), doc, nil); !strings.Contains(string(dp.raw), `id="edu-form"`) {
			t.Fatal("the doctor's page lacks the form")
		}
		// The summary names them once signed.
		if r := e.req("POST", vpath+"/complete", doc, map[string]any{"chief_complaint": "皮疹", "diagnoses": []map[string]string{{"code": "L20.9"}},
			"advice": "保湿"}); r.status != 200 {
			t.Fatalf("complete %d %s", r.status, r.raw)
		}
		if s := e.req("GET", vpath+"/summary", lm, nil); len(s.body["education"].([]any)) != 3 {
			t.Fatalf("summary education %s", s.raw)
		}
		var n int
		if err := e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'visit.education.attach'`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%d attachments audited (%v)", n, err)
		}
		if err := e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'visit.education.read'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d reads audited (%v)", n, err)
		}
	})
}
