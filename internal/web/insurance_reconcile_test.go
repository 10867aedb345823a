package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/insurance"
	"github.com/yunyi-health/yunyi/internal/rx"
)

// settledAtDelivery takes an approved prescription of 宣武医院 for 张伟
// (card bound) through courier delivery and settlement with insurance at
// the door (M-2): pre-settled, the cash share paid through WeChat Pay,
// settled by the bureau. It answers the settled order.
func (e *env) settledAtDelivery(zw string, pid int64, items []rx.Item) map[string]any {
	e.t.Helper()
	ctx := context.Background()
	now := e.clock.Now().UTC().Truncate(time.Microsecond)
	var total int64
	for _, it := range items {
		total += it.PriceFen * int64(it.Quantity)
	}
	p := &rx.Prescription{Version: 1, Institution: "xuanwu", Department: "neurology", PatientID: pid, PatientName: "张伟",
		DoctorID: 1, DoctorName: "医师", Status: rx.PendingReview, IssuedAt: now, ValidDays: 1, ValidUntil: rx.ValidUntil(now, 1), TotalFen: total,
		Diagnoses: []string{"I10"}, Items: items}
	var err error
	if p.ID, err = e.db.ReservePrescriptionID(ctx); err != nil {
		e.t.Fatal(err)
	}
	p.VisitID = 1<<31 + p.ID
	if err := e.s.rxw.Write(ctx, &rx.IssueRequest{P: p}); err != nil {
		e.t.Fatal(err)
	}
	p.Status, p.ReviewerID, p.ReviewerName, p.ReviewedAt = rx.Approved, 2, "药师", now
	if err := e.s.rxw.Review(ctx, p, nil, nil); err != nil {
		e.t.Fatal(err)
	}
	o := e.req("POST", fmt.Sprintf("/api/v1/prescriptions/%d/fulfilment", p.ID), zw, map[string]any{"mode": "courier", "insurance": true,
		"address": homeAddress("110102", "长椿街1号")})
	if o.status != 201 || o.body["settle"] != "insurance" {
		e.t.Fatalf("fulfilment %d %s", o.status, o.raw)
	}
	opath := fmt.Sprintf("/api/v1/orders/%.0f", o.body["id"])
	if r := e.req("POST", opath+"/dispatch", e.login("xuanwu-pharmacist"), nil); r.status != 200 {
		e.t.Fatalf("dispatch %d %s", r.status, r.raw)
	}
	if err := e.s.courier.(*courier.SandboxSF).Drain(ctx); err != nil {
		e.t.Fatal(err)
	}
	rv := e.req("POST", opath+"/receive", zw, map[string]any{"card_no": "BJ1000001"})
	if rv.status != 200 {
		e.t.Fatalf("receive %d %s", rv.status, rv.raw)
	}
	if pay, ok := rv.body["payment"].(map[string]any); ok {
		if err := e.s.Sandbox("wechat").Pay(ctx, pay["out_trade_no"].(string)); err != nil {
			e.t.Fatal(err)
		}
	}
	var got map[string]any
	waitFor(e.t, "the settlement", func() bool {
		got = e.req("GET", opath, zw, nil).body
		return got["settle_state"] == insurance.StateSettled
	})
	return got
}

// insuranceDiffs maps a difference's settlement ("totals" for the totals)
// to the kinds (and shares) of its differences.
func insuranceDiffs(body map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, d := range body["insurance"].(map[string]any)["differences"].([]any) {
		m := d.(map[string]any)
		key, _ := m["setl_id"].(string)
		if key == "" {
			key, _ = m["order_ref"].(string)
		}
		if key == "" {
			key = "totals"
		}
		kind := m["kind"].(string)
		if sh, _ := m["share"].(string); sh != "" {
			kind += ":" + sh
		}
		out[key] = append(out[key], kind)
		slices.Sort(out[key])
	}
	return out
}

// 医保对账 at 宣武医院: three orders settled with insurance at delivery (one
// with fund, account and cash shares, one with fund and cash, one wholly
// in cash) agree with the bureau's totals (3201) and details (3202) — on
// the day itself with source=insurance, and the next morning beside the
// payment providers' statements; shares moved between two settlements at
// the bureau (the totals still equal) are found; then a settlement only
// the bureau has, one the bureau reversed, one only our books have and a
// share changed in our books are each listed, and the ledger still sums
// to zero.
func TestInsuranceReconciliation(t *testing.T) {
	eachPayEnv(t, func(c *Config) { c.CourierSandbox = courier.SandboxConfig{SimStep: time.Hour} }, func(t *testing.T, e *env) {
		ctx := context.Background()
		zw := e.login("zhangwei")
		pid := e.patientIDs(zw)["张伟"]
		if r := e.req("POST", fmt.Sprintf("/api/v1/patients/%d/insurance", pid), zw, map[string]any{"card_no": "BJ1000001", "region": "110000", "kind": "employee"}); r.status != 200 {
			t.Fatalf("bind %d %s", r.status, r.raw)
		}
		a, c := drugOfCategory(t, "甲"), drugOfCategory(t, "") // no category: self-paid (丙)
		item := func(d rx.Drug, qty int, price int64) rx.Item {
			return rx.Item{Drug: d.Code, Name: d.NameZH, Dose: 1, DoseUnit: "片", Frequency: "qd", Route: "oral", Days: 7, Quantity: qty, PriceFen: price}
		}
		// Over the deductible: fund, account (1,500 yuan, all of it) and cash.
		oa := e.settledAtDelivery(zw, pid, []rx.Item{item(a, 2, 100000), item(c, 1, 6000)})
		// The account empty: fund and cash.
		ob := e.settledAtDelivery(zw, pid, []rx.Item{item(a, 1, 10000)})
		// Wholly self-paid: cash only, no journal.
		oc := e.settledAtDelivery(zw, pid, []rx.Item{item(c, 1, 6000)})
		if oa["fund_fen"].(float64) <= 0 || oa["account_fen"].(float64) <= 0 || ob["fund_fen"].(float64) <= 0 || ob["account_fen"].(float64) != 0 ||
			oc["fund_fen"].(float64) != 0 || oc["account_fen"].(float64) != 0 {
			t.Fatalf("the splits: %v\n%v\n%v", oa, ob, oc)
		}
		waitFor(t, "the notifications", func() bool { return e.s.Sandbox("wechat").(interface{ Pending() int }).Pending() == 0 })
		setlA, setlB := oa["setl_id"].(string), ob["setl_id"].(string)

		day := e.clock.Now().In(dates.Beijing).Format(dates.Layout)
		path := "/api/v1/institutions/xuanwu/reconciliation?day=" + day
		admin := e.login("xuanwu-admin")
		check := func(r *resp, what string) map[string]any {
			t.Helper()
			if r.status != 200 {
				t.Fatalf("%s: %d %s", what, r.status, r.raw)
			}
			ins, ok := r.body["insurance"].(map[string]any)
			if !ok {
				t.Fatalf("%s: no insurance part: %s", what, r.raw)
			}
			return ins
		}
		agree := func(r *resp, what string) {
			t.Helper()
			ins := check(r, what)
			if r.body["differences"] != float64(0) || ins["details"] != float64(3) || ins["matched"] != float64(3) ||
				fmt.Sprint(ins["bureau"]) != fmt.Sprint(ins["ours"]) || ins["ours"].(map[string]any)["count"] != float64(3) ||
				ins["ledger_fund_fen"] != oa["fund_fen"].(float64)+ob["fund_fen"].(float64) || ins["ledger_account_fen"] != oa["account_fen"] {
				t.Fatalf("%s: %s", what, r.raw)
			}
		}

		// On the day itself: the bureau's part alone (no statement yet).
		r := e.req("GET", path+"&source=insurance", admin, nil)
		agree(&r, "the bureau's part on the day")
		if ps := r.body["providers"].([]any); len(ps) != 0 {
			t.Fatalf("providers with source=insurance: %s", r.raw)
		}
		if r := e.req("GET", path, admin, nil); r.status != 409 || r.errCode() != "statement_not_ready" {
			t.Fatalf("before the statements: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", path+"&source=bureau", admin, nil); r.status != 400 || r.fieldCodes()["source"] != "invalid" {
			t.Fatalf("a bad source: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", path+"&source=insurance", e.login("ccmc-admin"), nil); r.status != 403 {
			t.Fatalf("another hospital reconciles xuanwu: %d", r.status)
		}
		if r := e.req("GET", path+"&source=insurance", zw, nil); r.status != 403 {
			t.Fatalf("a patient reconciles: %d", r.status)
		}

		// The next morning: the statements beside the bureau, all agreeing.
		e.clock.Add(24*time.Hour + time.Minute)
		admin = e.login("xuanwu-admin")
		for _, who := range []string{admin, e.login("regulator")} {
			r := e.req("GET", path, who, nil)
			agree(&r, "the next morning")
			if len(r.body["providers"].([]any)) != 2 {
				t.Fatalf("providers %s", r.raw)
			}
		}
		r = e.req("GET", path+"&source=payments", admin, nil)
		if r.status != 200 || r.body["insurance"] != nil || len(r.body["providers"].([]any)) != 2 {
			t.Fatalf("source=payments: %d %s", r.status, r.raw)
		}
		// An institution that settles no insurance has no such part.
		if r := e.req("GET", "/api/v1/institutions/ccmc/reconciliation?day="+day, e.login("ccmc-admin"), nil); r.status != 200 || r.body["insurance"] != nil {
			t.Fatalf("ccmc: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/institutions/ccmc/reconciliation?day="+day+"&source=insurance", e.login("ccmc-admin"), nil); r.status != 200 ||
			r.body["insurance"].(map[string]any)["details"] != float64(0) || r.body["differences"] != float64(0) {
			t.Fatalf("ccmc's bureau part: %d %s", r.status, r.raw)
		}

		// The bureau moves 1 yuan of fund from A to B and of cash from B to
		// A: its totals still equal ours, its details do not.
		bureau := e.s.InsuranceSandbox()
		move := func(sign int64) {
			for id, d := range map[string]int64{setlA: -100 * sign, setlB: 100 * sign} {
				if err := bureau.AlterForTest(id, func(s *insurance.Settlement) { s.FundFen, s.CashFen = s.FundFen+d, s.CashFen-d }); err != nil {
					t.Fatal(err)
				}
			}
		}
		move(1)
		r = e.req("GET", path+"&source=insurance", admin, nil)
		ins := check(&r, "shares moved")
		want := map[string][]string{setlA: {"amount_differs:cash", "amount_differs:fund"}, setlB: {"amount_differs:cash", "amount_differs:fund"}}
		if got := insuranceDiffs(r.body); fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(ins["bureau"]) != fmt.Sprint(ins["ours"]) || r.body["differences"] != float64(4) {
			t.Fatalf("shares moved: %v, want %v\n%s", got, want, r.raw)
		}
		move(-1)

		// Planted: a settlement only the bureau has (of that day), B
		// reversed at the bureau, a settlement only our books have (with
		// its journal), and A's account share changed in our books.
		b, err := e.db.InsuranceOf(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		only, err := bureau.Settle(ctx, insurance.SettleRequest{Institution: "xuanwu", PsnNo: b.PsnNo, OrderRef: "YY-PLANTED-1",
			Items: []insurance.Item{{Code: a.Code, Name: a.NameZH, Category: insurance.CategoryA, PriceFen: 1000, Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := bureau.AlterForTest(only.SetlID, func(s *insurance.Settlement) { s.At = s.At.Add(-24 * time.Hour) }); err != nil {
			t.Fatal(err)
		}
		if err := bureau.Reverse(ctx, setlB); err != nil {
			t.Fatal(err)
		}
		w := e.db.Writer()
		at := e.clock.Now().Add(-24 * time.Hour).UnixMicro()
		var planted int64
		if err := w.QueryRow(`INSERT INTO delivery_orders (prescription_id, institution, patient_id, account_id, mode, amount_fen, status, created_at,
			settle, settle_state, settle_ref, setl_id, fund_fen, account_fen, cash_fen)
			VALUES (987654321, 'xuanwu', $1, 0, 'courier', 800, 'delivered', $2, 'insurance', 'settled', 'YY-PLANTED-2', 'SETLPLANTED', 500, 0, 300) RETURNING id`,
			pid, at).Scan(&planted); err != nil {
			t.Fatal(err)
		}
		j := billing.SettlementJournal(planted, "SETLPLANTED")
		for _, q := range []string{
			fmt.Sprintf(`INSERT INTO ledger_entries (journal, account, amount_fen, payment_id, patient_id, institution, at) VALUES ('%s', '%s', 500, 0, %d, 'xuanwu', %d)`,
				j, billing.InsuranceFundAccount, pid, at),
			fmt.Sprintf(`INSERT INTO ledger_entries (journal, account, amount_fen, payment_id, patient_id, institution, at) VALUES ('%s', 'institution:xuanwu', -500, 0, %d, 'xuanwu', %d)`,
				j, pid, at),
			fmt.Sprintf(`UPDATE delivery_orders SET account_fen = account_fen - 100, cash_fen = cash_fen + 100 WHERE setl_id = '%s'`, setlA),
		} {
			if _, err := w.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		r = e.req("GET", path, admin, nil)
		ins = check(&r, "planted")
		got := insuranceDiffs(r.body)
		totals := got["totals"]
		delete(got, "totals")
		want = map[string][]string{
			setlA:         {"amount_differs:account", "amount_differs:account", "amount_differs:cash"}, // the bureau's and the journal's account share
			setlB:         {"state_differs"},
			only.SetlID:   {"missing_in_ledger"},
			"SETLPLANTED": {"missing_in_statement"},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || !slices.Contains(totals, "totals_differ:count") {
			t.Fatalf("planted: %v (totals %v), want %v\n%s", got, totals, want, r.raw)
		}
		if n := len(ins["differences"].([]any)); r.body["differences"] != float64(n) || ins["details"] != float64(4) || ins["matched"] != float64(1) {
			t.Fatalf("planted: %s", r.raw)
		}
		for _, d := range ins["differences"].([]any) {
			if m := d.(map[string]any); m["setl_id"] == setlB && !strings.Contains(m["detail"].(string), "reversed at the bureau") {
				t.Fatalf("B's difference: %v", m)
			}
		}
		var looks int
		w.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'reconciliation.read' AND object_id = 'xuanwu'`).Scan(&looks)
		if looks != 7 { // the refused ones not
			t.Fatalf("%d looks audited, want 7", looks)
		}
		e.balanced()
	})
}
