package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// uploadFile posts a file to the JSON API as multipart.
func uploadFile(t *testing.T, url, token, name string, content []byte) int {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// payAtCashier pays a payment at the sandbox provider's cashier as the
// payer's phone would (the cashier is the provider's page).
func payAtCashier(t *testing.T, base, cashier string) {
	t.Helper()
	res, err := http.Post(base+cashier+"/pay", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 400 {
		t.Fatalf("cashier: %d", res.StatusCode)
	}
}

// startedVisit drives a child's first visit through the API until the
// doctor has called it in (as the other browser tests drive the visit):
// 李小雨 books the service with the doctor (paying the fee at the
// sandbox's cashier where it is taken at booking), the guardian fills the
// pre-consultation with a photo and waits, the doctor starts. It answers
// the visit's API address and the guardian's and the doctor's tokens.
func startedVisit(t *testing.T, base, service, institution, doctor string) (vpath, lm, doc string) {
	t.Helper()
	lm, doc = apiLogin(t, base, "liming"), apiLogin(t, base, doctor)
	var pats struct{ Items []map[string]any }
	api(t, "GET", base+"/api/v1/patients", lm, nil, &pats)
	var child float64
	for _, p := range pats.Items {
		if p["name"] == "李小雨" {
			child = p["id"].(float64)
		}
	}
	slot := doctorSlots(t, base, service, institution, doctor)[0]
	var appt map[string]any
	if st := api(t, "POST", base+"/api/v1/appointments", lm, map[string]any{"slot_id": slot, "patient_id": child,
		"answers": screening("first_visit")}, &appt); st != 201 {
		t.Fatalf("book %d %v", st, appt)
	}
	vpath = fmt.Sprintf("%s/api/v1/visits/%.0f", base, appt["id"])
	if appt["status"] == "held" {
		var pay map[string]any
		if st := api(t, "POST", base+"/api/v1/payments", lm, map[string]any{"appointment_id": appt["id"], "method": "wechat"}, &pay); st != 201 {
			t.Fatalf("pay the fee %d %v", st, pay)
		}
		payAtCashier(t, base, pay["cashier_url"].(string))
		deadline := time.Now().Add(15 * time.Second)
		for {
			var got map[string]any
			api(t, "GET", fmt.Sprintf("%s/api/v1/appointments/%.0f", base, appt["id"]), lm, nil, &got)
			if got["status"] == "booked" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the fee was not recorded: %v", got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	img.Set(3, 3, color.RGBA{200, 40, 40, 255})
	var buf bytes.Buffer
	png.Encode(&buf, img)
	if st := uploadFile(t, vpath+"/attachments", lm, "皮疹.png", buf.Bytes()); st != 201 {
		t.Fatalf("photo %d", st)
	}
	calls := []struct {
		method, path, token string
		body                any
	}{
		{"PUT", "/pre-consult", lm, map[string]any{"answers": map[string]any{"site": []string{"face"}, "duration_days": 3, "weight_kg": 28, "drug_allergies": "无",
			"fever": false, "blisters_mucosa": false}}},
		{"POST", "/wait", lm, nil},
		{"POST", "/start", doc, nil},
	}
	for _, st := range calls {
		var out map[string]any
		if code := api(t, st.method, vpath+st.path, st.token, st.body, &out); code >= 300 {
			t.Fatalf("%s %s: %d %v", st.method, st.path, code, out)
		}
	}
	return vpath, lm, doc
}

// approvedPrescription drives a child's first visit through the API up to
// an approved prescription (startedVisit): the doctor writes the record
// and prescribes, the institution's pharmacist approves. It answers the
// prescription page's path.
func approvedPrescription(t *testing.T, base, service, institution, doctor, pharmacist string) string {
	t.Helper()
	vpath, _, doc := startedVisit(t, base, service, institution, doctor)
	ph := apiLogin(t, base, pharmacist)
	var rec map[string]any
	if code := api(t, "PUT", vpath+"/record", doc, map[string]any{"chief_complaint": "面部皮疹 3 天", "diagnoses": []map[string]any{{"code": "L20.9"}},
		"advice": "外用药物"}, &rec); code >= 300 {
		t.Fatalf("PUT /record: %d %v", code, rec)
	}
	var issued map[string]any
	if code := api(t, "POST", vpath+"/prescriptions", doc, map[string]any{"items": []map[string]any{{"drug": drugNamed(t, "盐酸西替利嗪滴剂"),
		"dose": 5, "dose_unit": "mg", "frequency": "qd", "route": "oral", "days": 5, "quantity": 1}}, "diagnoses": []string{"L20.9"}, "weight_kg": 28,
		"confirm": []string{"paediatric-dose"}}, &issued); code != 201 {
		t.Fatalf("prescribe %d %v", code, issued)
	}
	rxURL := fmt.Sprintf("/prescriptions/%.0f", issued["id"])
	if code := api(t, "POST", base+"/api/v1"+rxURL+"/review", ph, map[string]any{"decision": "approve"}, nil); code != 200 {
		t.Fatalf("approve %d", code)
	}
	return rxURL
}

// 首都儿童医学中心 end to end (M-1, R-1, R-3): the fee paid at booking, the
// first visit and an approved prescription (through the API, as the other
// browser tests drive them); then in the browser the guardian gives the
// address and pays the drugs at the WeChat Pay sandbox's cashier, the
// pharmacist hands the parcel to the courier, and the guardian follows it
// to delivered on the prescription page.
func TestBrowserDrugsPaidAndDelivered(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	eachEngineAtOnce(t, func(t *testing.T, dsn string) {
		s := startServer(t, t.TempDir(), "--demo", "--db", dsn)
		rxURL := approvedPrescription(t, s.URL, "ccmc-skin-fv", "ccmc", "ccmc-dermatology-doctor", "ccmc-pharmacist")
		pat, pha := newBrowser(t), newBrowser(t)
		prun, hrun := steps(t, pat), steps(t, pha)
		prun("the guardian opens the approved prescription",
			login(s.URL, "liming", "yunyi2026"),
			chromedp.WaitVisible(css("#patients")),
			chromedp.Navigate(s.URL+rxURL),
			chromedp.WaitVisible(css("#fulfilment-form")),
		)
		prun("gives the address and pays the drugs at the cashier",
			fill("#addr-name", "李明"), fill("#addr-phone", "13912345678"), fill("#addr-province", "北京市"), fill("#addr-city", "北京市"),
			fill("#addr-district", "海淀区"), fill("#addr-region", "110108"), fill("#addr-detail", "中关村大街1号"),
			chromedp.Click(css("#fulfil")),
			chromedp.WaitVisible(css(`#order-status[data-status=awaiting_payment]`)),
			chromedp.Click(css(`#order-pay button.pay-wechat`)),
			chromedp.WaitVisible(css(`button.pay`)),
			chromedp.Click(css(`button.pay`)),
			chromedp.WaitVisible(css(`p.msg`)), // paid: the cashier says so
			chromedp.WaitVisible(css(`a[href="`+rxURL+`"]`)),
			chromedp.Click(css(`a[href="`+rxURL+`"]`)),
			chromedp.WaitVisible(css(`#order-status[data-status=to_pack]`)),
		)
		defer func() {
			if t.Failed() {
				out := s.Output()
				t.Logf("server: %s", out[max(0, len(out)-6000):])
			}
		}()
		hrun("the pharmacist hands it to the courier",
			login(s.URL, "ccmc-pharmacist", "yunyi2026"),
			chromedp.WaitVisible(css("#nav-pharmacist")),
			chromedp.Click(css("#nav-pharmacist")),
			chromedp.WaitVisible(css(`#orders-to-pack button.dispatch`)),
			chromedp.Click(css(`#orders-to-pack button.dispatch`)),
			chromedp.WaitVisible(css(`#order-waybill`)),
		)
		deadline := time.Now().Add(20 * time.Second)
		for {
			// A page still loading may abort the navigation: try again.
			if _, err := chromedp.Run(pat, chromedp.Steps(chromedp.Navigate(s.URL+rxURL), chromedp.WaitVisible(css("#order-status")))); err != nil {
				time.Sleep(300 * time.Millisecond)
				continue
			}
			txt := text(pat, t, "#order")
			// Route pushes may come out of order: wait for the whole story.
			if strings.Contains(txt, "已签收") && strings.Contains(txt, "已揽收") {
				if !strings.Contains(text(pat, t, "#rx-status"), "已调配") {
					t.Fatalf("N-12: not dispensed: %s", text(pat, t, "#rx-status"))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not delivered: %s", txt)
			}
			time.Sleep(300 * time.Millisecond)
		}
	})
}

// 北京儿童医院 end to end (R-3, H-BCH): the guardian picks a retail
// pharmacy from the hospital's list on the prescription page and pays;
// the pharmacy's own staff see the order on their page, print the packing
// slip with the invoice and hand the parcel to the courier; the guardian
// follows it to delivered, with the pharmacy named.
func TestBrowserRetailPharmacyDelivers(t *testing.T) {
	t.Parallel() // each on its own server, store and browser (TestMain)
	skipBrowserInShort(t)
	eachEngineAtOnce(t, func(t *testing.T, dsn string) {
		s := startServer(t, t.TempDir(), "--demo", "--db", dsn)
		rxURL := approvedPrescription(t, s.URL, "bch-skin-fv", "bch", "bch-dermatology-doctor", "bch-pharmacist")
		defer func() {
			if t.Failed() {
				out := s.Output()
				t.Logf("server: %s", out[max(0, len(out)-6000):])
			}
		}()
		pat, shop := newBrowser(t), newBrowser(t)
		prun, srun := steps(t, pat), steps(t, shop)
		prun("the guardian picks the Haidian pharmacy and pays",
			login(s.URL, "liming", "yunyi2026"),
			chromedp.WaitVisible(css("#patients")),
			chromedp.Navigate(s.URL+rxURL),
			chromedp.WaitVisible(css("#pharmacy-choice")),
			chromedp.Click(css(`input[data-pharmacy="yy-pharmacy-haidian"]`)),
			fill("#addr-name", "李明"), fill("#addr-phone", "13912345678"), fill("#addr-province", "北京市"), fill("#addr-city", "北京市"),
			fill("#addr-district", "昌平区"), fill("#addr-region", "110114"), fill("#addr-detail", "回龙观东大街1号"),
			chromedp.Click(css("#fulfil")),
			chromedp.WaitVisible(css(`#order-status[data-status=awaiting_payment]`)),
			chromedp.WaitVisible(css(`#order-pharmacy[data-pharmacy="yy-pharmacy-haidian"]`)),
			chromedp.Click(css(`#order-pay button.pay-wechat`)),
			chromedp.WaitVisible(css(`button.pay`)),
			chromedp.Click(css(`button.pay`)),
			chromedp.WaitVisible(css(`p.msg`)),
			chromedp.WaitVisible(css(`a[href="`+rxURL+`"]`)),
			chromedp.Click(css(`a[href="`+rxURL+`"]`)),
			chromedp.WaitVisible(css(`#order-status[data-status=to_pack]`)),
		)
		srun("the pharmacy sees the order and opens its packing slip",
			login(s.URL, "yy-pharmacy-haidian-staff", "yunyi2026"),
			chromedp.WaitVisible(css("#nav-pharmacy")),
			chromedp.Click(css("#nav-pharmacy")),
			chromedp.WaitVisible(css(`#orders-to-pack a.slip`)),
		)
		slipURL, err := chromedp.Run(shop, chromedp.Evaluate[string](`document.querySelector('#orders-to-pack a.slip').getAttribute('href')`))
		if err != nil {
			t.Fatal(err)
		}
		srun("the slip carries the drugs and the invoice",
			chromedp.Navigate(s.URL+slipURL),
			chromedp.WaitVisible(css("#slip-invoice-no")),
		)
		if txt := text(shop, t, "#slip"); !strings.Contains(txt, "盐酸西替利嗪滴剂") || !strings.Contains(txt, "回龙观东大街1号") ||
			!strings.Contains(txt, "云医示范合作药房（海淀店）") {
			t.Fatalf("slip: %s", txt)
		}
		srun("and hands the parcel to the courier",
			chromedp.Navigate(s.URL+"/pharmacy"),
			chromedp.WaitVisible(css(`#orders-to-pack button.dispatch`)),
			chromedp.Click(css(`#orders-to-pack button.dispatch`)),
			chromedp.WaitVisible(css(`#order-waybill`)),
		)
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := chromedp.Run(pat, chromedp.Steps(chromedp.Navigate(s.URL+rxURL), chromedp.WaitVisible(css("#order-status")))); err != nil {
				time.Sleep(300 * time.Millisecond)
				continue
			}
			if txt := text(pat, t, "#order"); strings.Contains(txt, "已签收") && strings.Contains(txt, "云医示范合作药房（海淀店）") {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("not delivered: %s", txt)
			}
			time.Sleep(300 * time.Millisecond)
		}
	})
}
