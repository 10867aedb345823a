package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/courier"
)

// R-3 at 北京儿童医院 (H-BCH): the patient picks a retail pharmacy from
// the hospital's list, which delivers. The pharmacy's own staff see and
// dispatch only the orders sent to it (with a packing slip carrying the
// invoice); the hospital's pharmacy never sees them; another pharmacy
// cannot read them or their prescriptions. Each pharmacy's area is data.
func TestRetailPharmacyDelivers(t *testing.T) {
	eachPayEnv(t, func(c *Config) {
		c.CourierSandbox = courier.SandboxConfig{StepDelay: time.Millisecond, SimStep: time.Hour, RetryBase: time.Millisecond}
	}, func(t *testing.T, e *env) {
		lm := e.login("liming")
		set := e.req("GET", "/api/v1/institutions/bch/delivery", "", nil)
		list, _ := set.body["pharmacy_list"].([]any)
		if set.status != 200 || set.body["courier"] != false || len(list) != 2 {
			t.Fatalf("bch delivery settings: %d %s", set.status, set.raw)
		}
		id := e.approvedRx("bch", "李小雨", 3600)
		path := fmt.Sprintf("/api/v1/prescriptions/%d", id)
		page := string(e.req("GET", path[len("/api/v1"):], lm, nil).raw)
		for _, want := range []string{`id="pharmacy-choice"`, "云医示范合作药房（西城店）", "云医示范合作药房（海淀店）", `name="mode" value="pharmacy"`} {
			if !strings.Contains(page, want) {
				t.Fatalf("the prescription page lacks %q:\n%s", want, page)
			}
		}
		if strings.Contains(page, `id="mode-courier"`) {
			t.Fatal("the page offers the hospital's courier, which bch does not")
		}
		home := homeAddress("110108", "中关村大街1号")
		cases := []struct {
			name  string
			body  map[string]any
			code  string
			field string
		}{
			{"hospital courier not offered", map[string]any{"mode": "courier", "address": home}, "delivery_not_offered", ""},
			{"no pharmacy picked", map[string]any{"mode": "pharmacy", "address": home}, "invalid_input", "pharmacy=required"},
			{"pharmacy not on the list", map[string]any{"mode": "pharmacy", "pharmacy": "elsewhere", "address": home}, "invalid_input", "pharmacy=not_offered"},
			{"outside the pharmacy's area", map[string]any{"mode": "pharmacy", "pharmacy": "yy-pharmacy-xicheng", "address": homeAddress("110114", "昌平区回龙观1号")}, "delivery_region", ""},
			{"insurance not offered", map[string]any{"mode": "pharmacy", "pharmacy": "yy-pharmacy-xicheng", "address": home, "insurance": true}, "insurance_not_offered", ""},
		}
		for _, c := range cases {
			r := e.req("POST", path+"/fulfilment", lm, c.body)
			if r.errCode() != c.code {
				t.Fatalf("%s: %d %s", c.name, r.status, r.raw)
			}
			if c.field != "" {
				f, code, _ := strings.Cut(c.field, "=")
				if r.fieldCodes()[f] != code {
					t.Fatalf("%s: %s", c.name, r.raw)
				}
			}
			if c.code == "delivery_region" && !strings.Contains(r.errMessage(), "云医示范合作药房（西城店）") {
				t.Fatalf("the refusal does not name the pharmacy: %s", r.raw)
			}
		}
		o := e.req("POST", path+"/fulfilment", lm, map[string]any{"mode": "pharmacy", "pharmacy": "yy-pharmacy-xicheng", "address": home})
		if o.status != 201 || o.body["pharmacy"] != "yy-pharmacy-xicheng" || o.body["status"] != "awaiting_payment" {
			t.Fatalf("fulfilment %d %s", o.status, o.raw)
		}
		opath := fmt.Sprintf("/api/v1/orders/%.0f", o.body["id"])
		shop := e.login("yy-pharmacy-xicheng-staff")
		other := e.login("yy-pharmacy-haidian-staff")
		if r := e.req("POST", opath+"/dispatch", shop, nil); r.errCode() != "order_not_ready" {
			t.Fatalf("dispatched before payment: %d %s", r.status, r.raw)
		}
		p := e.req("POST", "/api/v1/payments", lm, map[string]any{"prescription_id": id, "method": "wechat"})
		if err := e.s.Sandbox("wechat").Pay(context.Background(), p.body["out_trade_no"].(string)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the payment", func() bool { return e.paymentStatus(p.body["id"].(float64)) == billing.Paid })

		// Who sees what.
		hosp := e.login("bch-pharmacist")
		if r := e.req("GET", "/api/v1/institutions/bch/orders", hosp, nil); r.status != 200 || len(r.items()) != 0 {
			t.Fatalf("the hospital pharmacy sees a retail order: %s", r.raw)
		}
		for _, who := range []struct{ name, token string }{{"hospital pharmacist", hosp}, {"another pharmacy", other}} {
			if r := e.req("POST", opath+"/dispatch", who.token, nil); r.status != 404 {
				t.Fatalf("%s dispatches: %d %s", who.name, r.status, r.raw)
			}
		}
		if r := e.req("GET", opath, other, nil); r.status != 404 {
			t.Fatalf("another pharmacy reads the order: %d", r.status)
		}
		if r := e.req("GET", path, other, nil); r.status != 404 {
			t.Fatalf("another pharmacy reads the prescription: %d", r.status)
		}
		if r := e.req("GET", "/api/v1/pharmacies/yy-pharmacy-xicheng/orders", other, nil); r.status != 403 {
			t.Fatalf("another pharmacy's queue: %d", r.status)
		}
		if r := e.req("GET", opath, e.login("bch-admin"), nil); r.status != 200 {
			t.Fatalf("the hospital's admin reads the order: %d", r.status)
		}
		q := e.req("GET", "/api/v1/pharmacies/yy-pharmacy-xicheng/orders", shop, nil)
		if q.status != 200 || len(q.items()) != 1 {
			t.Fatalf("the pharmacy's queue: %d %s", q.status, q.raw)
		}
		if r := e.req("GET", path, shop, nil); r.status != 200 || r.body["status"] != "approved" {
			t.Fatalf("the pharmacy reads the prescription sent to it: %d %s", r.status, r.raw)
		}

		// The packing slip carries the drugs, the recipient and the invoice.
		slip := e.req("GET", opath[len("/api/v1"):]+"/slip", shop, nil)
		for _, want := range []string{"丁酸氢化可的松乳膏", "中关村大街1号", "云医示范合作药房（西城店）", "slip-invoice-no", "36.00"} {
			if slip.status != 200 || !strings.Contains(string(slip.raw), want) {
				t.Fatalf("slip lacks %q: %d %s", want, slip.status, slip.raw)
			}
		}
		if r := e.req("GET", opath[len("/api/v1"):]+"/slip", other, nil); r.status != 404 {
			t.Fatalf("another pharmacy prints the slip: %d", r.status)
		}

		d := e.req("POST", opath+"/dispatch", shop, nil)
		if st := d.body["status"]; d.status != 200 || (st != "dispatched" && st != "delivered") || d.body["waybill_no"] == "" { // the sandbox may push first
			t.Fatalf("dispatch %d %s", d.status, d.raw)
		}
		if q := string(e.req("GET", "/pharmacy", shop, nil).raw); !strings.Contains(q, `id="orders-dispatched"`) ||
			!strings.Contains(q, d.body["waybill_no"].(string)) {
			t.Fatalf("the pharmacy's page lacks the dispatched order:\n%s", q)
		}
		if r := e.req("GET", "/pharmacy", hosp, nil); r.status != 403 {
			t.Fatalf("the hospital pharmacist opens a pharmacy's page: %d", r.status)
		}
		if r := e.req("GET", path, lm, nil); r.body["status"] != "dispensed" {
			t.Fatalf("N-12: not dispensed: %s", r.raw)
		}
		if err := e.s.courier.(*courier.SandboxSF).Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := e.req("GET", opath, lm, nil); r.body["status"] != "delivered" {
			t.Fatalf("delivered: %s", r.raw)
		}
		if n := e.balanced(); n != 2 { // the payment: one journal of two entries
			t.Fatalf("%d ledger entries", n)
		}
	})
}

// Pharmacies are data: the sysadmin registers one, the institution's
// admin lists it; an institution's admin cannot register pharmacies and
// a list naming an unknown one is refused.
func TestPharmacyAdministration(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin, bch := e.login("admin"), e.login("bch-admin")
		shop := map[string]any{"name": "示例药房", "licence_no": "京AA0000009", "phone": "010-00000019", "regions": []string{"110"},
			"regions_text": "北京市内", "active": true, "address": map[string]any{"name": "示例药房", "phone": "010-00000019", "province": "北京市",
				"city": "北京市", "district": "东城区", "region_code": "110101", "detail": "演示路9号"}}
		if r := e.req("PUT", "/api/v1/pharmacies/demo-shop", bch, shop); r.status != 403 {
			t.Fatalf("an institution admin registers a pharmacy: %d", r.status)
		}
		if r := e.req("PUT", "/api/v1/pharmacies/demo-shop", admin, map[string]any{"name": ""}); r.status != 400 ||
			r.fieldCodes()["licence_no"] != "required" || r.fieldCodes()["address.region_code"] != "invalid" {
			t.Fatalf("an empty pharmacy: %d %s", r.status, r.raw)
		}
		if r := e.req("PUT", "/api/v1/pharmacies/demo-shop", admin, shop); r.status != 200 {
			t.Fatalf("register: %d %s", r.status, r.raw)
		}
		set := map[string]any{"courier": false, "pharmacies": []string{"demo-shop", "nowhere"}}
		if r := e.req("PUT", "/api/v1/institutions/bch/delivery", bch, set); r.status != 400 || r.fieldCodes()["pharmacies"] != "not_found" {
			t.Fatalf("an unknown pharmacy listed: %d %s", r.status, r.raw)
		}
		set["pharmacies"] = []string{"demo-shop", "yy-pharmacy-xicheng"}
		if r := e.req("PUT", "/api/v1/institutions/ccmc/delivery", bch, set); r.status != 403 {
			t.Fatalf("another institution's rules: %d", r.status)
		}
		r := e.req("PUT", "/api/v1/institutions/bch/delivery", bch, set)
		list, _ := r.body["pharmacy_list"].([]any)
		if r.status != 200 || len(list) != 2 || list[0].(map[string]any)["code"] != "demo-shop" {
			t.Fatalf("save: %d %s", r.status, r.raw)
		}
	})
}
