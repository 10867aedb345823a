package insurance

import (
	"errors"
	"fmt"
	"testing"
)

// Test policies with round figures, so that every split can be checked by hand.
var (
	testEmployee = Policy{Region: "110000", Kind: Employee, DeductibleFen: 10000, FundRatio: 7000, CategoryBSelfShare: 1000, CapFen: 1000000, HasAccount: true}
	testResident = Policy{Region: "110000", Kind: Resident, DeductibleFen: 5000, FundRatio: 5000, CategoryBSelfShare: 1000, CapFen: 100000}
)

func check(t *testing.T, items []ItemSplit) *Settlement {
	t.Helper()
	s := &Settlement{Items: items}
	s.sum()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSplitTable covers 甲/乙/丙 × 职工/居民 × deductible reached or not ×
// account used or not, for one item of 200 yuan; the account holds 50 yuan.
func TestSplitTable(t *testing.T) {
	type want struct{ fund, account, cash, ded, pre, self int64 }
	cases := []struct {
		pol      Policy
		cat      Category
		reached  bool
		useAcct  bool
		want     want
		scenario string
	}{
		// 职工: deductible 100 yuan, fund 70%, 乙 10% first.
		{testEmployee, CategoryA, false, false, want{7000, 0, 13000, 10000, 0, 0}, "甲: 100 deductible, 70% of 100"},
		{testEmployee, CategoryA, false, true, want{7000, 5000, 8000, 10000, 0, 0}, ""},
		{testEmployee, CategoryA, true, false, want{14000, 0, 6000, 0, 0, 0}, "甲: 70% of 200"},
		{testEmployee, CategoryA, true, true, want{14000, 5000, 1000, 0, 0, 0}, ""},
		{testEmployee, CategoryB, false, false, want{5600, 0, 14400, 10000, 2000, 0}, "乙: 20 first, 100 deductible, 70% of 80"},
		{testEmployee, CategoryB, false, true, want{5600, 5000, 9400, 10000, 2000, 0}, ""},
		{testEmployee, CategoryB, true, false, want{12600, 0, 7400, 0, 2000, 0}, "乙: 20 first, 70% of 180"},
		{testEmployee, CategoryB, true, true, want{12600, 5000, 2400, 0, 2000, 0}, ""},
		{testEmployee, CategoryC, false, false, want{0, 0, 20000, 0, 0, 20000}, "丙: self-paid, deductible untouched"},
		{testEmployee, CategoryC, false, true, want{0, 5000, 15000, 0, 0, 20000}, "丙: the account may pay it"},
		{testEmployee, CategoryC, true, false, want{0, 0, 20000, 0, 0, 20000}, ""},
		{testEmployee, CategoryC, true, true, want{0, 5000, 15000, 0, 0, 20000}, ""},
		// 居民: deductible 50 yuan, fund 50%, no personal account.
		{testResident, CategoryA, false, false, want{7500, 0, 12500, 5000, 0, 0}, "甲: 50 deductible, 50% of 150"},
		{testResident, CategoryA, false, true, want{7500, 0, 12500, 5000, 0, 0}, "no account in the scheme"},
		{testResident, CategoryA, true, false, want{10000, 0, 10000, 0, 0, 0}, ""},
		{testResident, CategoryA, true, true, want{10000, 0, 10000, 0, 0, 0}, ""},
		{testResident, CategoryB, false, false, want{6500, 0, 13500, 5000, 2000, 0}, "乙: 20 first, 50 deductible, 50% of 130"},
		{testResident, CategoryB, false, true, want{6500, 0, 13500, 5000, 2000, 0}, ""},
		{testResident, CategoryB, true, false, want{9000, 0, 11000, 0, 2000, 0}, ""},
		{testResident, CategoryB, true, true, want{9000, 0, 11000, 0, 2000, 0}, ""},
		{testResident, CategoryC, false, false, want{0, 0, 20000, 0, 0, 20000}, ""},
		{testResident, CategoryC, false, true, want{0, 0, 20000, 0, 0, 20000}, ""},
		{testResident, CategoryC, true, false, want{0, 0, 20000, 0, 0, 20000}, ""},
		{testResident, CategoryC, true, true, want{0, 0, 20000, 0, 0, 20000}, ""},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s/%s/reached=%v/account=%v", c.pol.Kind, c.cat, c.reached, c.useAcct)
		t.Run(name, func(t *testing.T) {
			var used Usage
			if c.reached {
				used.DeductibleFen = c.pol.DeductibleFen
			}
			items, consumed, err := Split(c.pol, []Item{{Code: "X01", Category: c.cat, PriceFen: 10000, Quantity: 2}}, used, 5000, c.useAcct)
			if err != nil {
				t.Fatal(err)
			}
			s := check(t, items)
			it := items[0]
			got := want{it.FundFen, it.AccountFen, it.CashFen, it.DeductibleFen, it.PreSelfPaidFen, it.SelfPaidFen}
			if got != c.want || s.TotalFen != 20000 {
				t.Fatalf("%s: got %+v, want %+v", c.scenario, got, c.want)
			}
			if consumed != (Usage{DeductibleFen: c.want.ded, FundFen: c.want.fund}) {
				t.Fatalf("consumed %+v", consumed)
			}
		})
	}
}

func TestSplitRoundingAndSpanning(t *testing.T) {
	// Rounding: 乙 share half up, fund down; the person takes the odd fen.
	items, _, err := Split(testEmployee, []Item{
		{Code: "B1", Category: CategoryB, PriceFen: 1005, Quantity: 1}, // pre 100.5 → 101; in scope 904; fund 632.8 → 632
		{Code: "A1", Category: CategoryA, PriceFen: 1001, Quantity: 1}, // fund 700.7 → 700
		{Code: "B2", Category: CategoryB, PriceFen: 1004, Quantity: 1}, // pre 100.4 → 100; in scope 904
	}, Usage{DeductibleFen: 10000}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	s := check(t, items)
	if items[0].PreSelfPaidFen != 101 || items[0].FundFen != 632 || items[1].FundFen != 700 || items[2].PreSelfPaidFen != 100 || items[2].FundFen != 632 {
		t.Fatalf("rounding: %+v", items)
	}
	if s.CashFen != 3010-1964 {
		t.Fatalf("cash %d", s.CashFen)
	}

	// The deductible spans items in order; the account runs out mid-way.
	items, used, err := Split(testEmployee, []Item{
		{Code: "A1", Category: CategoryA, PriceFen: 3000, Quantity: 2}, // 6000, all deductible
		{Code: "A2", Category: CategoryA, PriceFen: 8000, Quantity: 1}, // 4000 deductible, fund 70% of 4000
		{Code: "C1", Category: CategoryC, PriceFen: 500, Quantity: 1},
	}, Usage{}, 9000, true)
	if err != nil {
		t.Fatal(err)
	}
	s = check(t, items)
	if items[0].DeductibleFen != 6000 || items[1].DeductibleFen != 4000 || items[1].FundFen != 2800 || used.DeductibleFen != 10000 {
		t.Fatalf("deductible: %+v", items)
	}
	if items[0].AccountFen != 6000 || items[1].AccountFen != 3000 || items[1].CashFen != 2200 || items[2].AccountFen != 0 || s.AccountFen != 9000 {
		t.Fatalf("account: %+v", items)
	}

	// The yearly cap stops the fund; the rest falls on the person.
	items, used, err = Split(testEmployee, []Item{{Code: "A1", Category: CategoryA, PriceFen: 10000, Quantity: 1}},
		Usage{DeductibleFen: 10000, FundFen: testEmployee.CapFen - 1234}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	check(t, items)
	if items[0].FundFen != 1234 || items[0].CashFen != 10000-1234 || used.FundFen != 1234 {
		t.Fatalf("cap: %+v", items)
	}

	// A free item (price 0) is no trouble.
	items, _, err = Split(testResident, []Item{{Code: "F", Category: CategoryA, PriceFen: 0, Quantity: 1}}, Usage{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	check(t, items)
}

// TestSplitInvariantSweep checks the invariants over many amounts, usages
// and balances, with the default (Beijing) policies too.
func TestSplitInvariantSweep(t *testing.T) {
	pols := append([]Policy{testEmployee, testResident}, DefaultPolicies()...)
	cats := []Category{CategoryA, CategoryB, CategoryC}
	n := 0
	for _, p := range pols {
		for price := int64(1); price < 5_000_000; price = price*7 + 3 {
			for _, ded := range []int64{0, p.DeductibleFen / 3, p.DeductibleFen - 1, p.DeductibleFen} {
				for _, bal := range []int64{0, 1, 777, 1_000_000} {
					items := []Item{
						{Code: "1", Category: cats[n%3], PriceFen: price, Quantity: 1 + n%4},
						{Code: "2", Category: cats[(n+1)%3], PriceFen: price/3 + 1, Quantity: 2},
						{Code: "3", Category: cats[(n+2)%3], PriceFen: price * 2, Quantity: 1},
					}
					n++
					sp, used, err := Split(p, items, Usage{DeductibleFen: ded, FundFen: p.CapFen - price}, bal, n%2 == 0)
					if err != nil {
						t.Fatal(err)
					}
					s := check(t, sp)
					if s.AccountFen > bal || used.DeductibleFen > p.DeductibleFen-ded || (p.CapFen > 0 && used.FundFen > max(price, 0)) {
						t.Fatalf("over the limits: %+v used %+v", s, used)
					}
				}
			}
		}
	}
}

func TestSplitRejects(t *testing.T) {
	bad := [][]Item{
		nil,
		{{Code: "", Category: CategoryA, PriceFen: 1, Quantity: 1}},
		{{Code: "x", Category: "D", PriceFen: 1, Quantity: 1}},
		{{Code: "x", Category: CategoryA, PriceFen: -1, Quantity: 1}},
		{{Code: "x", Category: CategoryA, PriceFen: 1, Quantity: 0}},
		{{Code: "x", Category: CategoryA, PriceFen: maxItemFen, Quantity: 2}},
	}
	for i, items := range bad {
		if _, _, err := Split(testEmployee, items, Usage{}, 0, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if _, _, err := Split(Policy{Region: "110000", Kind: Employee, FundRatio: 10001}, []Item{{Code: "x", Category: CategoryA, Quantity: 1}}, Usage{}, 0, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad policy: %v", err)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Category{"甲": CategoryA, "乙类": CategoryB, "丙": CategoryC, "a": CategoryA, "B": CategoryB} {
		if got, err := ParseCategory(in); err != nil || got != want {
			t.Errorf("ParseCategory(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseCategory("丁"); !errors.Is(err, ErrInvalid) {
		t.Error("丁 accepted")
	}
	if k, err := ParseKind("居民"); err != nil || k != Resident {
		t.Errorf("ParseKind: %v %v", k, err)
	}
	for _, p := range DefaultPolicies() {
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
	}
}
