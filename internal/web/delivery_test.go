package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/insurance"
	"github.com/yunyi-health/yunyi/internal/rx"
)

// approvedRx stores an approved prescription of inst for liming's child
// (the prescribing itself is rx_test's): the drugs' order starts here.
func (e *env) approvedRx(inst, child string, totalFen int64) int64 {
	e.t.Helper()
	ctx := context.Background()
	lm := e.login("liming")
	now := e.clock.Now().UTC().Truncate(time.Microsecond)
	p := &rx.Prescription{VisitID: 1 << 30, Version: 1, Institution: inst, Department: "dermatology", PatientID: e.patientIDs(lm)[child],
		PatientName: child, DoctorID: 1, DoctorName: "医师", Status: rx.PendingReview, IssuedAt: now, ValidDays: 1, ValidUntil: rx.ValidUntil(now, 1),
		TotalFen: totalFen, Diagnoses: []string{"L20.9"}, Items: []rx.Item{{Drug: "D1", Name: "丁酸氢化可的松乳膏", Dose: 1, DoseUnit: "g", Frequency: "bid",
			Route: "topical", Days: 7, Quantity: 1, PriceFen: totalFen}}}
	var err error
	if p.ID, err = e.db.ReservePrescriptionID(ctx); err != nil {
		e.t.Fatal(err)
	}
	p.VisitID += p.ID
	if err := e.s.rxw.Write(ctx, &rx.IssueRequest{P: p}); err != nil {
		e.t.Fatal(err)
	}
	p.Status, p.ReviewerID, p.ReviewerName, p.ReviewedAt = rx.Approved, 2, "药师", now
	if err := e.s.rxw.Review(ctx, p, nil, nil); err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

func homeAddress(region, detail string) map[string]any {
	return map[string]any{"name": "李明", "phone": "13912345678", "province": "北京市", "city": "北京市", "district": "海淀区",
		"region_code": region, "detail": detail}
}

// R-3 and M-1 at 首都儿童医学中心: the guardian chooses courier delivery for
// an approved prescription, pays the drugs, the pharmacy packs and hands
// them to the courier (nothing leaves before the payment), and the
// courier's signed route pushes (shuffled across batches, some twice) give
// the family a timeline in event order ending delivered. A parcel refused
// at the door comes back and its payment is refunded.
func TestDrugsPaidDispatchedDelivered(t *testing.T) {
	eachPayEnv(t, func(c *Config) {
		c.CourierSandbox = courier.SandboxConfig{StepDelay: time.Millisecond, SimStep: time.Hour, Shuffle: true, DuplicateEvery: 2, RetryBase: time.Millisecond}
	}, func(t *testing.T, e *env) {
		lm := e.login("liming")
		id := e.approvedRx("ccmc", "李小雨", 4550)
		path := fmt.Sprintf("/api/v1/prescriptions/%d", id)
		if r := e.req("POST", path+"/fulfilment", lm, map[string]any{"mode": "pharmacy"}); r.status != 422 || r.errCode() != "delivery_not_offered" {
			t.Fatalf("pharmacy mode: %d %s", r.status, r.raw)
		}
		bad := homeAddress("11010", "")
		if r := e.req("POST", path+"/fulfilment", lm, map[string]any{"mode": "courier", "address": bad}); r.status != 400 ||
			r.fieldCodes()["address.region_code"] != "invalid" || r.fieldCodes()["address.detail"] != "required" {
			t.Fatalf("bad address: %d %s", r.status, r.raw)
		}
		o := e.req("POST", path+"/fulfilment", lm, map[string]any{"mode": "courier", "address": homeAddress("110108", "中关村大街1号")})
		if o.status != 201 || o.body["status"] != "awaiting_payment" || o.body["amount_fen"] != float64(4550) {
			t.Fatalf("fulfilment %d %s", o.status, o.raw)
		}
		opath := fmt.Sprintf("/api/v1/orders/%.0f", o.body["id"])
		ph := e.login("ccmc-pharmacist")
		if r := e.req("POST", opath+"/dispatch", ph, nil); r.status != 409 || r.errCode() != "order_not_ready" {
			t.Fatalf("dispatch before payment: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", opath, e.login("zhangwei"), nil); r.status != 404 {
			t.Fatalf("another family reads the order: %d", r.status)
		}
		p := e.req("POST", "/api/v1/payments", lm, map[string]any{"prescription_id": id, "method": "wechat"})
		if p.status != 201 || p.body["amount_fen"] != float64(4550) {
			t.Fatalf("pay %d %s", p.status, p.raw)
		}
		if err := e.s.Sandbox("wechat").Pay(context.Background(), p.body["out_trade_no"].(string)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the payment", func() bool { return e.paymentStatus(p.body["id"].(float64)) == billing.Paid })
		q := e.req("GET", "/api/v1/institutions/ccmc/orders", ph, nil)
		if q.status != 200 || len(q.items()) != 1 {
			t.Fatalf("packing queue %d %s", q.status, q.raw)
		}
		if r := e.req("GET", "/api/v1/institutions/ccmc/orders", e.login("bch-pharmacist"), nil); r.status != 403 {
			t.Fatalf("another hospital's queue: %d", r.status)
		}
		d := e.req("POST", opath+"/dispatch", ph, nil)
		// The sandbox courier pushes within milliseconds: the answer may
		// already carry the route it pushed while the dispatch was written.
		if st := d.body["status"]; d.status != 200 || (st != "dispatched" && st != "delivered") || !strings.HasPrefix(d.body["waybill_no"].(string), "SF") {
			t.Fatalf("dispatch %d %s", d.status, d.raw)
		}
		if r := e.req("GET", path, lm, nil); r.body["status"] != "dispensed" || r.body["fhir_status"] != "completed" {
			t.Fatalf("N-12: not dispensed: %s", r.raw)
		}
		if err := e.s.courier.(*courier.SandboxSF).Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := e.req("GET", opath, lm, nil)
		events := got.body["events"].([]any)
		if got.body["status"] != "delivered" || len(events) < 4 {
			t.Fatalf("delivered: %s", got.raw)
		}
		seen := map[string]bool{}
		last := ""
		for _, ev := range events {
			m := ev.(map[string]any)
			if seen[m["route_id"].(string)] || m["at"].(string) < last {
				t.Fatalf("timeline with a duplicate or out of order: %s", got.raw)
			}
			seen[m["route_id"].(string)], last = true, m["at"].(string)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", lm, nil).raw), "药品已签收") {
			t.Fatal("the family was not told of the delivery")
		}

		// A parcel refused at the door comes back: refunded.
		id2 := e.approvedRx("ccmc", "李小天", 1200)
		path2 := fmt.Sprintf("/api/v1/prescriptions/%d", id2)
		o2 := e.req("POST", path2+"/fulfilment", lm, map[string]any{"mode": "courier", "address": homeAddress("110108", "中关村大街1号（拒收）")})
		p2 := e.req("POST", "/api/v1/payments", lm, map[string]any{"prescription_id": id2, "method": "alipay"})
		if err := e.s.Sandbox("alipay").Pay(context.Background(), p2.body["out_trade_no"].(string)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the payment", func() bool { return e.paymentStatus(p2.body["id"].(float64)) == billing.Paid })
		if r := e.req("POST", fmt.Sprintf("/api/v1/orders/%.0f/dispatch", o2.body["id"]), ph, nil); r.status != 200 {
			t.Fatalf("dispatch %d %s", r.status, r.raw)
		}
		if err := e.s.courier.(*courier.SandboxSF).Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := e.req("GET", fmt.Sprintf("/api/v1/orders/%.0f", o2.body["id"]), lm, nil); r.body["status"] != "returned" {
			t.Fatalf("returned: %s", r.raw)
		}
		waitFor(t, "the refund", func() bool { return e.paymentStatus(p2.body["id"].(float64)) == billing.Refunded })
		e.balanced()
	})
}

// R-3 at 宣武医院: delivery inside Beijing only (data): an address outside
// is refused with the rule, before any payment.
func TestDeliveryRegionRefusedBeforePayment(t *testing.T) {
	eachPayEnv(t, nil, func(t *testing.T, e *env) {
		lm := e.login("liming")
		id := e.approvedRx("xuanwu", "李小雨", 3000)
		path := fmt.Sprintf("/api/v1/prescriptions/%d", id)
		r := e.req("POST", path+"/fulfilment", lm, map[string]any{"mode": "courier", "address": homeAddress("130102", "石家庄市长安区中山东路1号")})
		if r.status != 422 || r.errCode() != "delivery_region" || !strings.Contains(r.errMessage(), "北京市内") {
			t.Fatalf("outside Beijing: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/payments", lm, map[string]any{"prescription_id": id, "method": "wechat"}); r.status != 409 || r.errCode() != "order_not_ready" {
			t.Fatalf("paid without an order: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", path+"/fulfilment", lm, map[string]any{"mode": "courier", "address": homeAddress("110102", "长椿街1号")}); r.status != 201 {
			t.Fatalf("inside Beijing: %d %s", r.status, r.raw)
		}
	})
}

// drugOfCategory is a catalogue drug of an insurance category (甲, 乙, 丙).
func drugOfCategory(t *testing.T, cat string) rx.Drug {
	for _, d := range rx.DefaultCatalogue().All() {
		if d.Insurance == cat && (d.Control == "" || d.Control == "none") {
			return d
		}
	}
	t.Fatalf("no drug of category %s", cat)
	return rx.Drug{}
}

// M-2 at 宣武医院 (the demo's coverage: 职工, deductible 1,800 yuan, the
// fund 70 % above it; 张伟's personal account holds 1,500 yuan): an order
// settled with insurance when the drugs arrive:
// nothing is paid before; at the door the patient confirms with the bound
// card, the bureau pre-settles by category and coverage (fund + account +
// cash = total), the patient pays only the cash share, and the bureau
// settles. When the bureau times out it reverses itself and the cash goes
// back.
func TestInsuranceSettledAtDelivery(t *testing.T) {
	for _, timeout := range []bool{false, true} {
		t.Run(fmt.Sprintf("timeout=%v", timeout), func(t *testing.T) {
			eachPayEnv(t, func(c *Config) {
				c.CourierSandbox = courier.SandboxConfig{SimStep: time.Hour}
				if timeout {
					c.InsuranceSandbox.TimeoutEvery = 1
				}
			}, func(t *testing.T, e *env) {
				ctx := context.Background()
				zw := e.login("zhangwei")
				pid := e.patientIDs(zw)["张伟"]
				if r := e.req("POST", fmt.Sprintf("/api/v1/patients/%d/insurance", pid), zw, map[string]any{"card_no": "BJ1000001", "region": "110000", "kind": "employee"}); r.status != 200 {
					t.Fatalf("bind %d %s", r.status, r.raw)
				}
				a, c := drugOfCategory(t, "甲"), drugOfCategory(t, "") // no category: self-paid (丙)
				now := e.clock.Now().UTC().Truncate(time.Microsecond)
				p := &rx.Prescription{VisitID: 1 << 31, Version: 1, Institution: "xuanwu", Department: "neurology", PatientID: pid, PatientName: "张伟",
					DoctorID: 1, DoctorName: "医师", Status: rx.PendingReview, IssuedAt: now, ValidDays: 1, ValidUntil: rx.ValidUntil(now, 1), TotalFen: 206000,
					Diagnoses: []string{"I10"}, Items: []rx.Item{{Drug: a.Code, Name: a.NameZH, Dose: 1, DoseUnit: "片", Frequency: "qd", Route: "oral", Days: 7, Quantity: 2, PriceFen: 100000},
						{Drug: c.Code, Name: c.NameZH, Dose: 1, DoseUnit: "片", Frequency: "qd", Route: "oral", Days: 7, Quantity: 1, PriceFen: 6000}}}
				var err error
				if p.ID, err = e.db.ReservePrescriptionID(ctx); err != nil {
					t.Fatal(err)
				}
				e.s.rxw.Write(ctx, &rx.IssueRequest{P: p})
				p.Status, p.ReviewerID, p.ReviewerName, p.ReviewedAt = rx.Approved, 2, "药师", now
				if err := e.s.rxw.Review(ctx, p, nil, nil); err != nil {
					t.Fatal(err)
				}
				path := fmt.Sprintf("/api/v1/prescriptions/%d", p.ID)
				o := e.req("POST", path+"/fulfilment", zw, map[string]any{"mode": "courier", "insurance": true, "address": homeAddress("110102", "长椿街1号")})
				if o.status != 201 || o.body["status"] != "to_pack" || o.body["settle"] != "insurance" {
					t.Fatalf("fulfilment %d %s", o.status, o.raw)
				}
				opath := fmt.Sprintf("/api/v1/orders/%.0f", o.body["id"])
				if r := e.req("POST", opath+"/receive", zw, map[string]any{"card_no": "BJ1000001"}); r.status != 409 {
					t.Fatalf("settled before arriving: %d %s", r.status, r.raw)
				}
				if r := e.req("POST", opath+"/dispatch", e.login("xuanwu-pharmacist"), nil); r.status != 200 {
					t.Fatalf("dispatch %d %s", r.status, r.raw)
				}
				if err := e.s.courier.(*courier.SandboxSF).Drain(ctx); err != nil {
					t.Fatal(err)
				}
				if r := e.req("POST", opath+"/receive", zw, map[string]any{"card_no": "BJ1000002"}); r.status != 422 || r.errCode() != "insurance_mismatch" {
					t.Fatalf("another card: %d %s", r.status, r.raw)
				}
				rv := e.req("POST", opath+"/receive", zw, map[string]any{"card_no": "bj1000001"})
				if rv.status != 200 {
					t.Fatalf("receive %d %s", rv.status, rv.raw)
				}
				ord := rv.body["order"].(map[string]any)
				fund, acct, cash := ord["fund_fen"].(float64), ord["account_fen"].(float64), ord["cash_fen"].(float64)
				// Over the deductible: the fund pays its share of the 甲 drug;
				// the personal account pays what it holds, the rest is cash.
				if ord["settle_state"] != "pre" || fund+acct+cash != 206000 || fund <= 0 || acct <= 0 || cash < 6000 {
					t.Fatalf("pre-settled: %s", rv.raw)
				}
				pay := rv.body["payment"].(map[string]any)
				if pay["amount_fen"].(float64) != cash {
					t.Fatalf("the cash share to pay: %s", rv.raw)
				}
				if err := e.s.Sandbox("wechat").Pay(ctx, pay["out_trade_no"].(string)); err != nil {
					t.Fatal(err)
				}
				want := "settled"
				if timeout {
					want = "reversed"
				}
				waitFor(t, "the settlement", func() bool {
					got := e.req("GET", opath, zw, nil)
					return got.body["settle_state"] == want
				})
				if timeout {
					waitFor(t, "the refund", func() bool { return e.paymentStatus(pay["id"].(float64)) == billing.Refunded })
					o, err := e.db.Order(ctx, int64(o.body["id"].(float64)))
					if err != nil {
						t.Fatal(err)
					}
					if st, err := e.s.InsuranceSandbox().Query(ctx, o.SettleRef); err != nil || st.State != insurance.StateReversed {
						t.Fatalf("the bureau's settlement: %+v %v", st, err)
					}
				} else {
					tot, err := e.s.InsuranceSandbox().Totals(ctx, "xuanwu", e.clock.Now())
					if err != nil || tot.Count != 1 || tot.FundFen != int64(fund) {
						t.Fatalf("the bureau's totals: %+v %v", tot, err)
					}
				}
				e.balanced()
			})
		})
	}
}
