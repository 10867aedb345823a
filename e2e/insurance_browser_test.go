package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yunyi-health/yunyi/internal/rx"
)

// 宣武医院 end to end (R-3, M-2, M-3): a follow-up and an approved
// prescription through the API; then in the browser the patient binds
// the insurance card, an address outside Beijing is refused with the
// rule before anything is paid, the order is placed for settlement at
// delivery, and when the drugs have arrived the patient confirms with the
// card and pays only the cash share (if any) at the cashier.
func TestBrowserInsuranceSettledAtDelivery(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	eachEngineAtOnce(t, func(t *testing.T, dsn string) {
		s := startServer(t, t.TempDir(), "--demo", "--db", dsn)
		zw, doc, ph := apiLogin(t, s.URL, "zhangwei"), apiLogin(t, s.URL, "xuanwu-doctor"), apiLogin(t, s.URL, "xuanwu-pharmacist")
		var pats struct{ Items []map[string]any }
		api(t, "GET", s.URL+"/api/v1/patients", zw, nil, &pats)
		var me float64
		for _, p := range pats.Items {
			if p["name"] == "张伟" {
				me = p["id"].(float64)
			}
		}
		slot := doctorSlots(t, s.URL, "xuanwu-neurology-fu", "xuanwu", "xuanwu-doctor")[0]
		var appt map[string]any
		if st := api(t, "POST", s.URL+"/api/v1/appointments", zw, map[string]any{"slot_id": slot, "patient_id": me, "answers": screening()}, &appt); st != 201 || appt["status"] != "booked" {
			t.Fatalf("book %d %v", st, appt)
		}
		vpath := fmt.Sprintf("%s/api/v1/visits/%.0f", s.URL, appt["id"])
		for _, st := range []struct {
			method, path, token string
			body                any
		}{
			{"PUT", "/pre-consult", zw, map[string]any{"answers": map[string]any{"diagnosis": "偏头痛", "current_state": "发作减少", "drug_allergies": "无",
				"new_symptoms": false, "chest_pain": false}}},
			{"POST", "/wait", zw, nil},
			{"POST", "/start", doc, nil},
			{"PUT", "/record", doc, map[string]any{"chief_complaint": "偏头痛复诊", "diagnoses": []map[string]any{{"code": "G43.9"}}, "advice": "规律作息"}},
		} {
			var out map[string]any
			if code := api(t, st.method, vpath+st.path, st.token, st.body, &out); code >= 300 {
				t.Fatalf("%s %s: %d %v", st.method, st.path, code, out)
			}
		}
		// A drug of category 甲 that 宣武医院 prescribes online.
		var form struct{ Items []map[string]any }
		api(t, "GET", s.URL+"/api/v1/institutions/xuanwu/formulary", zw, nil, &form)
		drug := ""
		for _, it := range form.Items {
			if d, ok := rx.DefaultCatalogue().Drug(it["drug"].(string)); ok && it["online"] == true && d.Insurance == "甲" && d.Route == "oral" && drug == "" {
				drug = d.Code
			}
		}
		if drug == "" {
			t.Fatal("no 甲 drug online at 宣武医院")
		}
		var issued map[string]any
		if code := api(t, "POST", vpath+"/prescriptions", doc, map[string]any{"items": []map[string]any{{"drug": drug, "dose": 1, "frequency": "qd",
			"days": 7, "quantity": 2}}, "diagnoses": []string{"G43.9"}}, &issued); code != 201 {
			t.Fatalf("prescribe %d %v", code, issued)
		}
		rxURL := fmt.Sprintf("/prescriptions/%.0f", issued["id"])
		if code := api(t, "POST", s.URL+"/api/v1"+rxURL+"/review", ph, map[string]any{"decision": "approve"}, nil); code != 200 {
			t.Fatalf("approve %d", code)
		}

		pat := newBrowser(t)
		run := steps(t, pat)
		run("the patient binds the insurance card",
			login(s.URL, "zhangwei", "yunyi2026"),
			chromedp.WaitVisible(css("#patients")),
			chromedp.SendKeys(css(`#patients .card-form .card-no`), "BJ1000001"),
			chromedp.Click(css(`#patients .card-form button.bind-card`)),
			chromedp.WaitVisible(css(`#patients .card-bound[data-card=BJ1000001]`)),
		)
		address := func(region, detail string) chromedp.Action[chromedp.Void] {
			return chromedp.Steps(fill("#addr-name", "张伟"), fill("#addr-phone", "13912345678"), fill("#addr-province", "北京市"), fill("#addr-city", "北京市"),
				fill("#addr-district", "西城区"), fill("#addr-region", region), fill("#addr-detail", detail))
		}
		run("an address outside Beijing is refused, before any payment",
			chromedp.Navigate(s.URL+rxURL),
			chromedp.WaitVisible(css("#fulfilment-form")),
			address("130102", "石家庄市长安区中山东路1号"),
			chromedp.Click(css("#fulfil")),
			chromedp.WaitVisible(css("#form-error")),
		)
		if txt := text(pat, t, "main"); !strings.Contains(txt, "北京市内") {
			t.Fatalf("the refusal: %s", txt)
		}
		run("a Beijing address, settled with insurance at delivery",
			chromedp.Navigate(s.URL+rxURL),
			chromedp.WaitVisible(css("#fulfilment-form")),
			address("110102", "长椿街1号"),
			chromedp.Click(css("#addr-insurance")),
			chromedp.Click(css("#fulfil")),
			chromedp.WaitVisible(css(`#order-status[data-status=to_pack]`)),
		)
		var order map[string]any
		api(t, "GET", s.URL+"/api/v1"+rxURL+"/order", zw, nil, &order)
		if code := api(t, "POST", fmt.Sprintf("%s/api/v1/orders/%.0f/dispatch", s.URL, order["id"]), ph, nil, nil); code != 200 {
			t.Fatalf("dispatch %d", code)
		}
		deadline := time.Now().Add(20 * time.Second)
		for order["status"] != "delivered" {
			if time.Now().After(deadline) {
				t.Fatalf("not delivered: %v", order["status"])
			}
			time.Sleep(200 * time.Millisecond)
			api(t, "GET", fmt.Sprintf("%s/api/v1/orders/%.0f", s.URL, order["id"]), zw, nil, &order)
		}
		run("the drugs arrived: confirm with the card",
			chromedp.Navigate(s.URL+rxURL),
			chromedp.WaitVisible(css("#order-receive")),
			chromedp.SendKeys(css("#receive-card"), "BJ1000001"),
			chromedp.Click(css(`#order-receive button`)),
		)
		// The answer is the cashier (a cash share to pay) or the
		// prescription page again (none): wait for one of them.
		waitFor(t, pat, `!!document.querySelector('button.pay') || !!document.querySelector('#order-settlement')`)
		if n, _ := chromedp.Run(pat, chromedp.Evaluate[int](`document.querySelectorAll('button.pay').length`)); n > 0 {
			run("pay the cash share at the cashier",
				chromedp.Click(css(`button.pay`)),
				chromedp.WaitVisible(css(`p.msg`)), // paid: the cashier says so
				chromedp.WaitVisible(css(`a[href="`+rxURL+`"]`)),
				chromedp.Click(css(`a[href="`+rxURL+`"]`)),
			)
		}
		deadline = time.Now().Add(20 * time.Second)
		for {
			// A page still loading may abort the navigation: try again.
			if _, err := chromedp.Run(pat, chromedp.Steps(chromedp.Navigate(s.URL+rxURL), chromedp.WaitVisible(css("#order-status")))); err != nil {
				time.Sleep(300 * time.Millisecond)
				continue
			}
			if txt := text(pat, t, "#order"); strings.Contains(txt, "医保已结算") && strings.Contains(txt, "医保统筹") {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("not settled: %s", txt)
			}
			time.Sleep(300 * time.Millisecond)
		}
	})
}
