package insurance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

const inst = "H11010500001"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newBureau(t *testing.T, cfg SandboxConfig) (*SandboxBureau, *clock, *Insured, *Insured) {
	t.Helper()
	c := &clock{t: testclock.Start()}
	cfg.Now = c.Now
	if cfg.Policies == nil {
		cfg.Policies = []Policy{testEmployee, testResident}
	}
	b := NewSandboxBureau(cfg)
	emp, err := b.AddInsured(Person{Name: "张伟", ResidentID: "110105198001011234", CardNo: "K0001", Region: "110000", Kind: Employee}, 5000)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.AddInsured(Person{Name: "李小雨", ResidentID: "110105201801011230", CardNo: "K0002", Region: "110000", Kind: Resident}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b, c, emp, res
}

func items200(cat Category) []Item {
	return []Item{{Code: "X01", Name: "test", Category: cat, PriceFen: 10000, Quantity: 2}}
}

func TestVerifyPerson(t *testing.T) {
	ctx := context.Background()
	b, _, emp, _ := newBureau(t, SandboxConfig{})
	cases := []struct {
		p    Person
		want error
	}{
		{Person{Name: "张伟", ResidentID: "110105198001011234"}, nil},
		{Person{Name: "张伟", ResidentID: "110105198001011234", CardNo: "K0001"}, nil},
		{Person{Name: " 张伟 ", CardNo: "K0001"}, nil},
		{Person{Name: "张薇", ResidentID: "110105198001011234"}, ErrMismatch},
		{Person{Name: "张伟", ResidentID: "110105198001011234", CardNo: "K0002"}, ErrMismatch},
		{Person{Name: "张伟", ResidentID: "110105199901011234", CardNo: "K0001"}, ErrMismatch},
		{Person{Name: "王晓", ResidentID: "110105199901011234"}, ErrNotInsured},
		{Person{Name: "王晓", CardNo: "K9999"}, ErrNotInsured},
		{Person{Name: "", ResidentID: "110105198001011234"}, ErrInvalid},
	}
	for _, c := range cases {
		in, err := b.VerifyPerson(ctx, c.p)
		if !errors.Is(err, c.want) {
			t.Errorf("VerifyPerson(%+v) = %v, want %v", c.p, err, c.want)
		}
		if err == nil && (in.PsnNo != emp.PsnNo || in.AccountBalanceFen != 5000 || in.Kind != Employee) {
			t.Errorf("VerifyPerson(%+v) = %+v", c.p, in)
		}
	}
	if _, err := b.AddInsured(Person{Name: "x", ResidentID: "110105198001011234", Region: "110000", Kind: Employee}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("duplicate resident ID: %v", err)
	}
	if _, err := b.AddInsured(Person{Name: "x", ResidentID: "1", Region: "310000", Kind: Employee}, 0); !errors.Is(err, ErrNoPolicy) {
		t.Errorf("unknown region: %v", err)
	}
}

func TestSettleFlow(t *testing.T) {
	ctx := context.Background()
	b, clk, emp, res := newBureau(t, SandboxConfig{})
	year := clk.Now().In(dates.Beijing).Year()
	req := SettleRequest{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "RX-1", Items: items200(CategoryA), UseAccount: true}

	// Pre-settlement moves nothing and repeats.
	p1, err := b.PreSettle(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := b.PreSettle(ctx, req)
	if p1.State != StatePre || p1.SetlID != "" || p1.FundFen != 7000 || p1.AccountFen != 5000 || p1.CashFen != 8000 || p2.CashFen != p1.CashFen {
		t.Fatalf("pre-settle %+v / %+v", p1, p2)
	}
	if err := p1.Check(); err != nil {
		t.Fatal(err)
	}
	if bal, _ := b.Balance(emp.PsnNo); bal != 5000 {
		t.Fatalf("pre-settle moved money: %d", bal)
	}

	// Settle: the same split, money moves, the deductible is consumed.
	s1, err := b.Settle(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if s1.State != StateSettled || s1.SetlID == "" || s1.MdtrtID == "" || s1.CashFen != p1.CashFen || s1.FundFen != p1.FundFen {
		t.Fatalf("settle %+v", s1)
	}
	if bal, _ := b.Balance(emp.PsnNo); bal != 0 {
		t.Fatalf("balance %d", bal)
	}
	if u, _ := b.YearUsage(emp.PsnNo, year); u != (Usage{DeductibleFen: 10000, FundFen: 7000}) {
		t.Fatalf("usage %+v", u)
	}

	// Idempotent: the same order returns the same settlement; by card too.
	again := req
	again.PsnNo, again.CardNo = "", "K0001"
	s2, err := b.Settle(ctx, again)
	if err != nil || s2.SetlID != s1.SetlID || s2.CashFen != s1.CashFen {
		t.Fatalf("repeat: %+v %v", s2, err)
	}
	if bal, _ := b.Balance(emp.PsnNo); bal != 0 {
		t.Fatalf("repeat moved money: %d", bal)
	}
	other := req
	other.Items = items200(CategoryB)
	if _, err := b.Settle(ctx, other); !errors.Is(err, ErrOrderConflict) {
		t.Fatalf("conflict: %v", err)
	}

	// The next order of the year finds the deductible reached.
	s3, err := b.Settle(ctx, SettleRequest{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "RX-2", Items: items200(CategoryA), UseAccount: true})
	if err != nil || s3.FundFen != 14000 || s3.AccountFen != 0 || s3.CashFen != 6000 {
		t.Fatalf("second order: %+v %v", s3, err)
	}

	// Reverse the first: the balance and the deductible come back; twice is fine.
	if err := b.Reverse(ctx, s1.SetlID); err != nil {
		t.Fatal(err)
	}
	if err := b.Reverse(ctx, s1.SetlID); err != nil {
		t.Fatal(err)
	}
	if bal, _ := b.Balance(emp.PsnNo); bal != 5000 {
		t.Fatalf("balance after reversal %d", bal)
	}
	if u, _ := b.YearUsage(emp.PsnNo, year); u != (Usage{DeductibleFen: 0, FundFen: 14000}) {
		t.Fatalf("usage after reversal %+v", u)
	}
	q, err := b.Query(ctx, "RX-1")
	if err != nil || q.State != StateReversed || q.ReversedAt.IsZero() {
		t.Fatalf("query %+v %v", q, err)
	}
	if _, err := b.Settle(ctx, req); !errors.Is(err, ErrReversed) {
		t.Fatalf("settling a reversed order: %v", err)
	}
	if err := b.Reverse(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reverse unknown: %v", err)
	}
	if _, err := b.Query(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("query unknown: %v", err)
	}
	// A new order settles as the first did, the deductible being free again.
	s4, err := b.Settle(ctx, SettleRequest{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "RX-1b", Items: items200(CategoryA), UseAccount: true})
	if err != nil || s4.FundFen != s1.FundFen || s4.AccountFen != s1.AccountFen || s4.CashFen != s1.CashFen {
		t.Fatalf("after reversal: %+v %v", s4, err)
	}

	// A resident, another institution with the same order ref.
	s5, err := b.Settle(ctx, SettleRequest{Institution: "H2", PsnNo: res.PsnNo, OrderRef: "RX-2", Items: items200(CategoryB), UseAccount: true})
	if err != nil || s5.FundFen != 6500 || s5.AccountFen != 0 {
		t.Fatalf("resident: %+v %v", s5, err)
	}
	if _, err := b.Query(ctx, "RX-2"); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("ambiguous: %v", err)
	}
	if q, err := b.Query(ctx, s5.SetlID); err != nil || q.Institution != "H2" {
		t.Fatalf("query by setl_id: %+v %v", q, err)
	}

	// A new year: the deductible starts again.
	clk.Add(366 * 24 * time.Hour)
	s6, err := b.Settle(ctx, SettleRequest{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "RX-3", Items: items200(CategoryA)})
	if err != nil || s6.DeductibleFen != 10000 {
		t.Fatalf("new year: %+v %v", s6, err)
	}

	// Errors.
	for _, r := range []SettleRequest{
		{PsnNo: emp.PsnNo, OrderRef: "x", Items: items200(CategoryA)},
		{Institution: inst, PsnNo: emp.PsnNo, Items: items200(CategoryA)},
		{Institution: inst, OrderRef: "x", Items: items200(CategoryA)},
		{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "x"},
	} {
		if _, err := b.Settle(ctx, r); !errors.Is(err, ErrInvalid) {
			t.Errorf("Settle(%+v) = %v", r, err)
		}
	}
	if _, err := b.Settle(ctx, SettleRequest{Institution: inst, PsnNo: "nobody", OrderRef: "x", Items: items200(CategoryA)}); !errors.Is(err, ErrNotInsured) {
		t.Errorf("unknown person: %v", err)
	}
}

func TestSettleTimeoutReverses(t *testing.T) {
	ctx := context.Background()
	b, clk, emp, _ := newBureau(t, SandboxConfig{TimeoutEvery: 2})
	year := clk.Now().In(dates.Beijing).Year()
	if _, err := b.Settle(ctx, SettleRequest{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "A", Items: []Item{{Code: "c", Category: CategoryC, PriceFen: 1000, Quantity: 1}}, UseAccount: true}); err != nil {
		t.Fatal(err)
	}
	req := SettleRequest{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "B", Items: items200(CategoryA), UseAccount: true}
	if s, err := b.Settle(ctx, req); !errors.Is(err, ErrTimeout) || s != nil {
		t.Fatalf("want a time-out, got %+v %v", s, err)
	}
	q, err := b.Query(ctx, "B")
	if err != nil || q.State != StateReversed || q.SetlID == "" {
		t.Fatalf("after time-out: %+v %v", q, err)
	}
	if bal, _ := b.Balance(emp.PsnNo); bal != 4000 { // only order A's 10 yuan
		t.Fatalf("balance %d", bal)
	}
	if u, _ := b.YearUsage(emp.PsnNo, year); u != (Usage{}) {
		t.Fatalf("usage %+v", u)
	}
	// The caller retrying the same order learns it was reversed.
	if s, err := b.Settle(ctx, req); !errors.Is(err, ErrReversed) || s.State != StateReversed {
		t.Fatalf("retry: %+v %v", s, err)
	}
	req.OrderRef = "B2"
	if s, err := b.Settle(ctx, req); err != nil || s.FundFen != 7000 {
		t.Fatalf("new order: %+v %v", s, err)
	}
}

func TestUnavailableAndDelay(t *testing.T) {
	b, _, emp, _ := newBureau(t, SandboxConfig{UnavailableEvery: 3, Delay: 20 * time.Millisecond})
	ctx := context.Background()
	var errs []error
	for i := 0; i < 6; i++ {
		_, err := b.PreSettle(ctx, SettleRequest{Institution: inst, PsnNo: emp.PsnNo, Items: items200(CategoryA)})
		errs = append(errs, err)
	}
	for i, err := range errs {
		if want := (i+1)%3 == 0; errors.Is(err, ErrUnavailable) != want || (!want && err != nil) {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if _, err := b.Query(cctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delay ignores the context: %v", err)
	}
}

func TestReconciliation(t *testing.T) {
	ctx := context.Background()
	b, clk, emp, res := newBureau(t, SandboxConfig{})
	day := clk.Now()
	var ids []string
	for i, r := range []SettleRequest{
		{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "1", Items: items200(CategoryA), UseAccount: true},
		{Institution: inst, PsnNo: res.PsnNo, OrderRef: "2", Items: items200(CategoryB)},
		{Institution: inst, PsnNo: emp.PsnNo, OrderRef: "3", Items: items200(CategoryC)},
		{Institution: "H2", PsnNo: emp.PsnNo, OrderRef: "4", Items: items200(CategoryA)},
	} {
		s, err := b.Settle(ctx, r) // same instant: SetlID orders them
		if err != nil {
			t.Fatal(i, err)
		}
		ids = append(ids, s.SetlID)
	}
	if err := b.Reverse(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	clk.Add(24 * time.Hour)
	if _, err := b.Settle(ctx, SettleRequest{Institution: inst, PsnNo: res.PsnNo, OrderRef: "5", Items: items200(CategoryA)}); err != nil {
		t.Fatal(err)
	}

	det, err := b.Details(ctx, inst, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(det) != 3 || det[0].SetlID != ids[0] || det[1].SetlID != ids[1] || det[2].SetlID != ids[2] || det[2].State != StateReversed {
		t.Fatalf("details %+v", det)
	}
	tot, err := b.Totals(ctx, inst, day)
	if err != nil {
		t.Fatal(err)
	}
	want := Totals{Institution: inst, Day: day.In(dates.Beijing).Format(dates.Layout), Count: 2}
	for _, s := range det[:2] {
		want.TotalFen += s.TotalFen
		want.FundFen += s.FundFen
		want.AccountFen += s.AccountFen
		want.CashFen += s.CashFen
	}
	if *tot != want || tot.TotalFen != tot.FundFen+tot.AccountFen+tot.CashFen || tot.TotalFen != 40000 {
		t.Fatalf("totals %+v, want %+v", tot, want)
	}
	if tot, _ := b.Totals(ctx, inst, day.AddDate(0, 0, 1)); tot.Count != 1 {
		t.Fatalf("next day %+v", tot)
	}
}

// TestConcurrentSettle races settlements of one person (and repeats of one
// order): the balance never goes below zero, each order settles once, and
// the books add up.
func TestConcurrentSettle(t *testing.T) {
	ctx := context.Background()
	b, clk, emp, _ := newBureau(t, SandboxConfig{TimeoutEvery: 7})
	const workers, orders = 8, 40
	var wg sync.WaitGroup
	var timeouts atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < orders; i++ {
				// Every worker settles the same orders: repeats of one key.
				r := SettleRequest{Institution: inst, PsnNo: emp.PsnNo, OrderRef: fmt.Sprint("O", i), Items: items200(CategoryB), UseAccount: true}
				s, err := b.Settle(ctx, r)
				switch {
				case errors.Is(err, ErrTimeout):
					timeouts.Add(1)
				case errors.Is(err, ErrReversed):
				case err != nil:
					t.Error(err)
				default:
					if err := s.Check(); err != nil {
						t.Error(err)
					}
				}
				if i%5 == 0 {
					if _, err := b.PreSettle(ctx, r); err != nil {
						t.Error(err)
					}
					if _, err := b.Query(ctx, r.OrderRef); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	det, _ := b.Details(ctx, inst, clk.Now())
	if len(det) != orders {
		t.Fatalf("%d settlements for %d orders", len(det), orders)
	}
	var acct, ded int64
	reversed := 0
	for _, s := range det {
		if s.State == StateSettled {
			acct += s.AccountFen
			ded += s.DeductibleFen
		} else {
			reversed++
		}
	}
	bal, _ := b.Balance(emp.PsnNo)
	u, _ := b.YearUsage(emp.PsnNo, clk.Now().In(dates.Beijing).Year())
	if bal != 5000-acct || bal < 0 || u.DeductibleFen != ded || ded != testEmployee.DeductibleFen || int64(reversed) != timeouts.Load() || reversed != orders/7 {
		t.Fatalf("balance %d account %d usage %+v deductible %d reversed %d timeouts %d", bal, acct, u, ded, reversed, timeouts.Load())
	}
}
