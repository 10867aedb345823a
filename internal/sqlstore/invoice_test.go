package sqlstore_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

var invoiceSeq atomic.Int64

// invoicePayments makes a patient and n pending payments of inst for them.
func invoicePayments(t *testing.T, db *sqlstore.DB, inst string, n int) []*billing.Payment {
	t.Helper()
	ctx := context.Background()
	var patient int64
	if err := db.Writer().QueryRowContext(ctx, `INSERT INTO patients (name, resident_id, birth_date, sex, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		"李小雨", fmt.Sprintf("inv-%d", invoiceSeq.Add(1)), "2020-01-01", "female", now().UnixMicro()).Scan(&patient); err != nil {
		t.Fatal(err)
	}
	var out []*billing.Payment
	for i := range n {
		seq := invoiceSeq.Add(1)
		p := &billing.Payment{Purpose: billing.ForAppointment, RefID: seq, AccountID: 1, PatientID: patient, Institution: inst,
			AmountFen: int64(1000 + i), Provider: "wechat", Channel: "native", OutTradeNo: fmt.Sprintf("INV%06d", seq),
			Status: billing.Pending, Description: fmt.Sprintf("复诊 挂号费 %d", i), CreatedAt: now()}
		if _, err := db.CreatePayment(ctx, p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// issue issues p's invoice in a transaction of its own, committed or
// rolled back.
func issue(db *sqlstore.DB, p *billing.Payment, commit bool) error {
	ctx := context.Background()
	tx, err := db.Writer().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := db.IssueInvoiceTx(ctx, tx, p, now()); err != nil {
		return err
	}
	if !commit {
		return tx.Rollback()
	}
	return tx.Commit()
}

// numbers are an institution's invoice numbers, ascending, with the
// payments they were issued for.
func numbers(t *testing.T, db *sqlstore.DB, inst string) ([]int64, map[int64]int) {
	t.Helper()
	list, err := db.Invoices(context.Background(), inst, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var ns []int64
	per := map[int64]int{}
	for i, inv := range list {
		if i > 0 && list[i-1].Number <= inv.Number {
			t.Fatalf("Invoices not latest first: %d then %d", list[i-1].Number, inv.Number)
		}
		ns = append(ns, inv.Number)
		per[inv.PaymentID]++
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	return ns, per
}

func wantSequence(t *testing.T, ns []int64, n int) {
	t.Helper()
	if len(ns) != n {
		t.Fatalf("%d invoices, want %d: %v", len(ns), n, ns)
	}
	for i, v := range ns {
		if v != int64(i+1) {
			t.Fatalf("numbers are not 1..%d: %v", n, ns)
		}
	}
}

// Issue 12: an institution's invoices are numbered 1, 2, 3, … without gaps
// or duplicates however many transactions issue them at once, a
// transaction rolled back takes no number, and a payment is invoiced once.
func TestInvoiceNumbersConcurrent(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		const n = 30
		ps := invoicePayments(t, db, "ccmc", n)
		other := invoicePayments(t, db, "bch", 3)
		// Each payment is issued by two transactions at once; some roll back.
		rollback := func(g int) bool { return g%7 == 3 }
		var wg sync.WaitGroup
		errc := make(chan error, 2*n+len(other))
		for g := range 2 * n {
			wg.Go(func() { errc <- issue(db, ps[g%n], !rollback(g)) })
		}
		for _, p := range other {
			wg.Go(func() { errc <- issue(db, p, true) })
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		want := 0
		for i := range n {
			if !rollback(i) || !rollback(i+n) {
				want++
			}
		}
		ns, per := numbers(t, db, "ccmc")
		wantSequence(t, ns, want)
		for i, p := range ps {
			if got, w := per[p.ID], map[bool]int{true: 0, false: 1}[rollback(i) && rollback(i+n)]; got != w {
				t.Fatalf("payment %d has %d invoices, want %d", i, got, w)
			}
		}
		bns, _ := numbers(t, db, "bch")
		wantSequence(t, bns, len(other))

		// The next one follows on.
		extra := invoicePayments(t, db, "ccmc", 1)[0]
		if err := issue(db, extra, true); err != nil {
			t.Fatal(err)
		}
		ns, _ = numbers(t, db, "ccmc")
		wantSequence(t, ns, want+1)

		// What an invoice holds.
		inv, err := db.Invoice(context.Background(), ps[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if inv.PayerName != "李小雨" || inv.AmountFen != ps[0].AmountFen || inv.PatientID != ps[0].PatientID || inv.Institution != "ccmc" ||
			inv.CheckCode != billing.CheckCode(inv.Code, "ccmc", inv.Number, inv.AmountFen) || inv.Code != billing.InvoiceCode(now()) ||
			len(inv.Items) != 1 || inv.Items[0].Name != "诊查费" || inv.Items[0].AmountFen != ps[0].AmountFen || inv.Items[0].Detail != ps[0].Description ||
			!inv.IssuedAt.Equal(now().Truncate(time.Microsecond)) {
			t.Fatalf("invoice %+v", inv)
		}
		if _, err := db.Invoice(context.Background(), 1<<40); !errs.Is(err, errs.NotFound) {
			t.Fatalf("no invoice: %v", err)
		}
	})
}

func TestInvoiceRollbackTakesNoNumber(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		ps := invoicePayments(t, db, "bch", 5)
		steps := []struct {
			p      int
			commit bool
		}{{0, true}, {1, false}, {2, true}, {1, false}, {1, true}, {0, true}, {2, true}, {3, true}}
		for _, s := range steps {
			if err := issue(db, ps[s.p], s.commit); err != nil {
				t.Fatal(err)
			}
		}
		ns, per := numbers(t, db, "bch")
		wantSequence(t, ns, 4)
		for i, want := range []int64{1, 3, 2, 4} {
			inv, err := db.Invoice(ctx, ps[i].ID)
			if err != nil || inv.Number != want || per[ps[i].ID] != 1 {
				t.Fatalf("payment %d: invoice %+v (%v), want number %d", i, inv, err, want)
			}
		}

		// A payment paid before invoices existed is invoiced on request;
		// one not paid is not.
		last := ps[4]
		if _, err := db.IssueInvoice(ctx, last.ID); !errs.Is(err, errs.Conflict) {
			t.Fatalf("invoicing a pending payment: %v", err)
		}
		if _, err := db.MarkPaid(ctx, last.OutTradeNo, "wx-4", now()); err != nil {
			t.Fatal(err)
		}
		inv, err := db.IssueInvoice(ctx, last.ID)
		if err != nil || inv.Number != 5 || inv.PaymentID != last.ID {
			t.Fatalf("backfill: %+v %v", inv, err)
		}
		if again, err := db.IssueInvoice(ctx, last.ID); err != nil || again.Number != 5 {
			t.Fatalf("invoiced twice: %+v %v", again, err)
		}
		ns, _ = numbers(t, db, "bch")
		wantSequence(t, ns, 5)
	})
}

// Two transactions issue one payment's invoice at once: the second waits
// for the counter while the first holds it, finds the invoice issued when
// it gets it, and gives its number back (PostgreSQL; on SQLite the second
// begins after the first ends).
func TestInvoiceIssuedTwiceAtOnce(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		ps := invoicePayments(t, db, "xuanwu", 2)
		tx1, err := db.Writer().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx1.Rollback()
		if err := db.IssueInvoiceTx(ctx, tx1, ps[0], now()); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() { second <- issue(db, ps[0], true) }()
		time.Sleep(300 * time.Millisecond) // the second is waiting
		if err := tx1.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatal(err)
		}
		var next int64
		if err := db.Writer().QueryRowContext(ctx, `SELECT next FROM invoice_counters WHERE institution = 'xuanwu'`).Scan(&next); err != nil || next != 2 {
			t.Fatalf("counter at %d (%v), want 2", next, err)
		}
		if err := issue(db, ps[1], true); err != nil {
			t.Fatal(err)
		}
		ns, per := numbers(t, db, "xuanwu")
		wantSequence(t, ns, 2)
		if per[ps[0].ID] != 1 {
			t.Fatalf("%d invoices for one payment", per[ps[0].ID])
		}
	})
}

// payerAccount makes a patient account and makes it the payer of ps (a
// refund tells the payer).
func payerAccount(t *testing.T, db *sqlstore.DB, ps []*billing.Payment) int64 {
	t.Helper()
	ctx := context.Background()
	var acct int64
	if err := db.Writer().QueryRowContext(ctx, `INSERT INTO accounts (username, password_hash, role, created_at) VALUES ($1, 'x', 'patient', $2) RETURNING id`,
		fmt.Sprintf("payer-%d", invoiceSeq.Add(1)), now().UnixMicro()).Scan(&acct); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if _, err := db.Writer().ExecContext(ctx, `UPDATE payments SET account_id = $2 WHERE id = $1`, p.ID, acct); err != nil {
			t.Fatal(err)
		}
		p.AccountID = acct
	}
	return acct
}

// refundOf reserves a refund of amount of p (processing) and answers it.
func refundOf(t *testing.T, db *sqlstore.DB, p *billing.Payment, key string, amount int64) *billing.Refund {
	t.Helper()
	r := &billing.Refund{PaymentID: p.ID, ReasonKey: key, OutRefundNo: fmt.Sprintf("RF%06d", invoiceSeq.Add(1)), AmountFen: amount,
		Reason: "退款：" + key, Status: billing.RefundProcessing, CreatedAt: now()}
	if _, err := db.CreateRefund(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// finishTwice reports a refund's verdict n times at once (a provider's
// notification and its duplicate, a query): one of them records it.
func finishTwice(t *testing.T, db *sqlstore.DB, r *billing.Refund, st billing.RefundStatus, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var changed atomic.Int32
	errc := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, ch, err := db.FinishRefund(context.Background(), r.OutRefundNo, st, "wx-"+r.OutRefundNo, now())
			if ch {
				changed.Add(1)
			}
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if changed.Load() != 1 {
		t.Fatalf("refund %s recorded %d times", r.OutRefundNo, changed.Load())
	}
}

// Reversing invoices (红字票据): a refund that succeeds issues one, in the
// transaction that records it, however often its success is reported: minus
// the refunded amount (a partial refund reverses part), naming the
// original, which stays; numbered in the institution's one sequence with the
// originals, without gaps; a failed refund issues none; the ledger sums to
// zero.
func TestInvoiceReversals(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		ps := invoicePayments(t, db, "ccmc", 4) // 1000, 1001, 1002, 1003 fen
		payer := payerAccount(t, db, ps)
		guardian := payerAccount(t, db, nil)
		if _, err := db.Writer().ExecContext(ctx, `INSERT INTO account_patients (account_id, patient_id, relation, created_at) VALUES ($1, $2, 'child', 0)`,
			guardian, ps[0].PatientID); err != nil {
			t.Fatal(err)
		}
		stranger := payerAccount(t, db, nil)
		for i, p := range ps[:3] {
			if _, err := db.MarkPaid(ctx, p.OutTradeNo, fmt.Sprintf("wx-%d", i), now()); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			name    string
			payment int
			amounts []int64 // refunds of the payment, in turn
			status  billing.RefundStatus
			want    []int64 // the reversals' amounts
		}{
			{"full", 0, []int64{1000}, billing.RefundSucceeded, []int64{-1000}},
			{"partial twice", 1, []int64{400, 601}, billing.RefundSucceeded, []int64{-400, -601}},
			{"failed", 2, []int64{1002}, billing.RefundFailed, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				p := ps[c.payment]
				orig, err := db.Invoice(ctx, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				for i, amount := range c.amounts {
					r := refundOf(t, db, p, fmt.Sprintf("%s-%d", c.name, i), amount)
					finishTwice(t, db, r, c.status, 3)
					// Reported again later: nothing changes.
					if _, ch, err := db.FinishRefund(ctx, r.OutRefundNo, c.status, "wx-again", now()); err != nil || ch {
						t.Fatalf("reported again: changed %v, %v", ch, err)
					}
				}
				list, err := db.PaymentInvoices(ctx, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(list) != 1+len(c.want) || list[0].ID != orig.ID || list[0].IsReversal() || list[0].AmountFen != p.AmountFen {
					t.Fatalf("invoices of the payment: %+v", list)
				}
				rs, err := db.Refunds(ctx, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range c.want {
					rev := list[1+i]
					var sum int64
					for _, it := range rev.Items {
						sum += it.AmountFen
					}
					if !rev.IsReversal() || rev.Kind() != billing.KindReversal || rev.AmountFen != want || sum != want || rev.RefundID != rs[i].ID ||
						rev.OriginalID != orig.ID || rev.OriginalCode != orig.Code || rev.OriginalNumber != orig.Number || rev.Reason != rs[i].Reason ||
						rev.PaymentID != p.ID || rev.PatientID != p.PatientID || rev.PayerName != "李小雨" || rev.Number <= orig.Number ||
						rev.CheckCode != billing.CheckCode(rev.Code, "ccmc", rev.Number, want) {
						t.Fatalf("reversal %d: %+v (original %+v)", i, rev, orig)
					}
					if got, err := db.InvoiceByID(ctx, rev.ID); err != nil || got.Number != rev.Number || got.RefundID != rev.RefundID {
						t.Fatalf("by id: %+v %v", got, err)
					}
				}
				// The original stays the payment's invoice.
				if again, err := db.Invoice(ctx, p.ID); err != nil || again.ID != orig.ID || again.AmountFen != p.AmountFen {
					t.Fatalf("the original: %+v %v", again, err)
				}
			})
		}
		// A payment paid before invoices existed (no invoice): its refund
		// issues the original first, then the reversal.
		old := ps[3]
		if _, err := db.Writer().ExecContext(ctx, `UPDATE payments SET status = 'paid', paid_at = $2 WHERE id = $1`, old.ID, now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
		finishTwice(t, db, refundOf(t, db, old, "old", 1003), billing.RefundSucceeded, 2)
		if list, err := db.PaymentInvoices(ctx, old.ID); err != nil || len(list) != 2 || list[0].AmountFen != 1003 || list[1].AmountFen != -1003 ||
			list[1].OriginalNumber != list[0].Number {
			t.Fatalf("invoices of a payment paid before invoices: %+v %v", list, err)
		}

		// 4 originals and 4 reversals: 1..8 without gaps.
		ns, _ := numbers(t, db, "ccmc")
		wantSequence(t, ns, 8)
		if sum, err := db.LedgerSum(ctx); err != nil || sum != 0 {
			t.Fatalf("the ledger sums to %d (%v)", sum, err)
		}

		// The lists: the payer's and the patient's guardian's (not another
		// account's), and the institution's of a day.
		for _, c := range []struct {
			acct int64
			want int
		}{{payer, 8}, {guardian, 8}, {stranger, 0}} {
			got, err := db.ListInvoices(ctx, billing.InvoiceFilter{AccountID: c.acct})
			if err != nil || len(got) != c.want {
				t.Fatalf("account %d's invoices: %d %v, want %d", c.acct, len(got), err, c.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].IssuedAt.After(got[i-1].IssuedAt) || got[i].IssuedAt.Equal(got[i-1].IssuedAt) && got[i].ID > got[i-1].ID {
					t.Fatalf("not the latest first: %+v then %+v", got[i-1], got[i])
				}
			}
		}
		day := now().Truncate(24 * time.Hour)
		for _, f := range []struct {
			from, to time.Time
			want     int
		}{{day, day.Add(48 * time.Hour), 8}, {day.Add(48 * time.Hour), day.Add(72 * time.Hour), 0}} {
			got, err := db.ListInvoices(ctx, billing.InvoiceFilter{Institution: "ccmc", From: f.from, To: f.to})
			if err != nil || len(got) != f.want {
				t.Fatalf("ccmc's invoices from %v: %d %v", f.from, len(got), err)
			}
		}
		if got, err := db.ListInvoices(ctx, billing.InvoiceFilter{Institution: "bch"}); err != nil || len(got) != 0 {
			t.Fatalf("bch's invoices: %d %v", len(got), err)
		}
	})
}

// Payments and refunds of one institution recorded at once, each refund's
// success reported twice at once: every paid payment has one invoice, every
// refund one reversal, and the numbers run 1..n without gaps.
func TestInvoiceReversalNumbersConcurrent(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		const n = 12
		ps := invoicePayments(t, db, "bch", 2*n)
		payerAccount(t, db, ps)
		for _, p := range ps[:n] {
			if _, err := db.MarkPaid(ctx, p.OutTradeNo, "wx-"+p.OutTradeNo, now()); err != nil {
				t.Fatal(err)
			}
		}
		var rs []*billing.Refund
		for i, p := range ps[:n] {
			amount := p.AmountFen
			if i%2 == 1 {
				amount = 300 // partial
			}
			rs = append(rs, refundOf(t, db, p, "c", amount))
		}
		var wg sync.WaitGroup
		errc := make(chan error, 3*n)
		for i := range n {
			// Its success twice, and another payment paid, at once.
			for range 2 {
				wg.Go(func() {
					_, _, err := db.FinishRefund(ctx, rs[i].OutRefundNo, billing.RefundSucceeded, "wx", now())
					errc <- err
				})
			}
			wg.Go(func() { _, err := db.MarkPaid(ctx, ps[n+i].OutTradeNo, "wx-late", now()); errc <- err })
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		ns, per := numbers(t, db, "bch")
		wantSequence(t, ns, 3*n)
		for i, p := range ps {
			want := 1
			if i < n {
				want = 2
			}
			if per[p.ID] != want {
				t.Fatalf("payment %d has %d invoices, want %d", i, per[p.ID], want)
			}
		}
		if sum, err := db.LedgerSum(ctx); err != nil || sum != 0 {
			t.Fatalf("the ledger sums to %d (%v)", sum, err)
		}
	})
}

// Migration 0019 rebuilds the invoices table (a payment now has several
// invoices): the invoices issued before it keep their ids, numbers and
// fields, are their payments' originals, and new ones (reversals among
// them) follow on in ids and numbers.
func TestInvoiceReversalMigrationKeepsInvoices(t *testing.T) {
	for _, engine := range sqltest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, sqltest.DSN(t, engine))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.MigrateBelow(ctx, 19); err != nil {
				t.Fatal(err)
			}
			w := db.Writer()
			var patient, acct int64
			if err := w.QueryRowContext(ctx, `INSERT INTO patients (name, resident_id, birth_date, sex, created_at) VALUES ('李小雨', 'mig-1', '2020-01-01', 'female', 1) RETURNING id`).Scan(&patient); err != nil {
				t.Fatal(err)
			}
			if err := w.QueryRowContext(ctx, `INSERT INTO accounts (username, password_hash, role, created_at) VALUES ('mig', 'x', 'patient', 1) RETURNING id`).Scan(&acct); err != nil {
				t.Fatal(err)
			}
			var pays []int64
			for i := range 2 {
				var id int64
				if err := w.QueryRowContext(ctx, `INSERT INTO payments (purpose, ref_id, account_id, patient_id, institution, amount_fen, provider, channel, out_trade_no,
					status, created_at, paid_at) VALUES ('appointment', $1, $2, $3, 'ccmc', 3000, 'wechat', 'native', $4, 'paid', 1, 1) RETURNING id`,
					100+i, acct, patient, fmt.Sprintf("MIG%d", i)).Scan(&id); err != nil {
					t.Fatal(err)
				}
				pays = append(pays, id)
			}
			// Two invoices as 0014 stored them, the second with an id of its own.
			for i, id := range []int64{1, 7} {
				if _, err := w.ExecContext(ctx, `INSERT INTO invoices (id, institution, number, code, check_code, payment_id, patient_id, payer_name, amount_fen, items, issued_at)
					VALUES ($1, 'ccmc', $2, '11062601', $3, $4, $5, '李小雨', 3000, '[{"name":"诊查费","quantity":1,"amount_fen":3000}]', 1000000)`,
					id, i+1, billing.CheckCode("11062601", "ccmc", int64(i+1), 3000), pays[i], patient); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.ExecContext(ctx, `INSERT INTO invoice_counters (institution, next) VALUES ('ccmc', 3)`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for i, id := range []int64{1, 7} {
				inv, err := db.Invoice(ctx, pays[i])
				if err != nil || inv.ID != id || inv.Number != int64(i+1) || inv.AmountFen != 3000 || inv.IsReversal() || len(inv.Items) != 1 ||
					inv.Items[0].Name != "诊查费" || inv.IssuedAt.UnixMicro() != 1000000 {
					t.Fatalf("invoice %d after the migration: %+v %v", id, inv, err)
				}
			}
			// A refund of the second: its reversal takes number 3 and a new id.
			r := &billing.Refund{PaymentID: pays[1], ReasonKey: "cancelled", OutRefundNo: "MIGR1", AmountFen: 3000, Reason: "预约取消",
				Status: billing.RefundProcessing, CreatedAt: now()}
			if _, err := db.CreateRefund(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.FinishRefund(ctx, "MIGR1", billing.RefundSucceeded, "wx", now()); err != nil {
				t.Fatal(err)
			}
			list, err := db.PaymentInvoices(ctx, pays[1])
			if err != nil || len(list) != 2 || list[1].Number != 3 || list[1].ID <= 7 || list[1].OriginalID != 7 || list[1].AmountFen != -3000 {
				t.Fatalf("after a refund: %+v %v", list, err)
			}
		})
	}
}
