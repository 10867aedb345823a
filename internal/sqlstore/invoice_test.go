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
