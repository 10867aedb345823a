// Package insurance is Yunyi's adapter to the medical-insurance bureau (医保)
// for real-time outpatient settlement (医保实时结算), shaped after the national
// interface (NHSA 定点医药机构接口规范): 1101 person information, 2206
// pre-settlement, 2207 settlement, 2208 settlement reversal, 6301 settlement
// result query, 3201/3202 reconciliation. SandboxBureau stands in for the
// bureau; a real contract changes the adapter and nothing else.
//
// Every amount is integer fen. A settlement splits each item and the whole
// into three parts that add up exactly:
//
//	Total = Fund + Account + Cash
//
// Fund is what the pooled fund pays (fund_pay_sumamt), Account what the
// person's account pays (acct_pay) and Cash what the person pays in cash
// (psn_cash_pay); Account + Cash is the person's part (psn_part_amt).
package insurance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind is the person's insurance scheme.
type Kind string

// The insurance schemes.
const (
	Employee Kind = "employee" // 职工基本医疗保险
	Resident Kind = "resident" // 城乡居民基本医疗保险
)

// Valid reports whether k is a known scheme.
func (k Kind) Valid() bool { return k == Employee || k == Resident }

// ParseKind accepts "employee"/"resident" and "职工"/"居民".
func ParseKind(s string) (Kind, error) {
	switch strings.TrimSpace(s) {
	case "employee", "职工":
		return Employee, nil
	case "resident", "居民":
		return Resident, nil
	}
	return "", fmt.Errorf("%w: insurance kind %q", ErrInvalid, s)
}

// Category is the catalogue category of a drug or service item.
type Category string

// The catalogue categories.
const (
	CategoryA Category = "A" // 甲类: fully in scope
	CategoryB Category = "B" // 乙类: a first share self-paid, the rest in scope
	CategoryC Category = "C" // 丙类: out of scope, fully self-paid
)

// Valid reports whether c is a known category.
func (c Category) Valid() bool { return c == CategoryA || c == CategoryB || c == CategoryC }

// ParseCategory accepts "A"/"B"/"C" (either case), "甲"/"乙"/"丙" and
// "甲类"/"乙类"/"丙类".
func ParseCategory(s string) (Category, error) {
	switch strings.TrimSpace(s) {
	case "A", "a", "甲", "甲类":
		return CategoryA, nil
	case "B", "b", "乙", "乙类":
		return CategoryB, nil
	case "C", "c", "丙", "丙类":
		return CategoryC, nil
	}
	return "", fmt.Errorf("%w: category %q", ErrInvalid, s)
}

// Person identifies someone to the bureau (1101). Region is the code of the
// insured region (参保地), e.g. 110000 for Beijing.
type Person struct {
	Name       string `json:"name"`
	ResidentID string `json:"resident_id"`
	CardNo     string `json:"card_no,omitempty"` // social-security card number
	Region     string `json:"region"`
	Kind       Kind   `json:"kind"`
}

// Insured is a person the bureau knows, with the bureau's person number
// (psn_no) and the balance of the personal account.
type Insured struct {
	PsnNo string `json:"psn_no"`
	Person
	AccountBalanceFen int64 `json:"account_balance_fen"`
}

// BP is a share in basis points: 10000 = 100%.
type BP int64

// Policy is the outpatient benefit of one region and scheme, as data.
type Policy struct {
	Region string `json:"region"`
	Kind   Kind   `json:"kind"`
	// DeductibleFen is the yearly deductible (起付线): the first in-scope
	// fen of a calendar year (Beijing time) are paid by the person.
	DeductibleFen int64 `json:"deductible_fen"`
	// FundRatio is the share of the in-scope amount above the deductible
	// that the pooled fund pays (报销比例).
	FundRatio BP `json:"fund_ratio_bp"`
	// CategoryBSelfShare is the share of a 乙类 item the person pays first
	// (个人先行自付); the rest of the item is in scope.
	CategoryBSelfShare BP `json:"category_b_self_share_bp"`
	// CapFen is the most the fund pays for one person in a calendar year
	// (封顶线); 0 means no cap.
	CapFen int64 `json:"cap_fen"`
	// HasAccount tells whether the scheme has a personal account (职工 yes,
	// 居民 no); without one the account pays nothing.
	HasAccount bool `json:"has_account"`
}

// Validate checks that the policy's figures make sense.
func (p Policy) Validate() error {
	switch {
	case p.Region == "" || !p.Kind.Valid():
		return fmt.Errorf("%w: policy needs a region and a kind", ErrInvalid)
	case p.DeductibleFen < 0 || p.CapFen < 0:
		return fmt.Errorf("%w: negative policy amount", ErrInvalid)
	case p.FundRatio < 0 || p.FundRatio > 10000 || p.CategoryBSelfShare < 0 || p.CategoryBSelfShare > 10000:
		return fmt.Errorf("%w: policy share outside 0..10000 bp", ErrInvalid)
	}
	return nil
}

// DefaultPolicies returns plausible outpatient figures for Beijing (region
// 110000), for the sandbox and the demo.
//
// They are illustrative, NOT the official figures. The real ones are set
// and published yearly by 北京市医疗保障局 (Beijing Healthcare Security
// Administration, ybj.beijing.gov.cn) and differ by institution level
// (community or hospital), by working or retired status and by age; a real
// bureau applies them itself, and the adapter only reports its split.
func DefaultPolicies() []Policy {
	return []Policy{
		{ // 职工 outpatient: deductible 1,800 yuan, fund 70%, cap 20,000 yuan a year
			Region: "110000", Kind: Employee,
			DeductibleFen: 1800_00, FundRatio: 7000, CategoryBSelfShare: 1000,
			CapFen: 20000_00, HasAccount: true,
		},
		{ // 居民 outpatient: deductible 550 yuan, fund 50%, cap 4,500 yuan a year, no account
			Region: "110000", Kind: Resident,
			DeductibleFen: 550_00, FundRatio: 5000, CategoryBSelfShare: 1000,
			CapFen: 4500_00, HasAccount: false,
		},
	}
}

// Item is one line of a prescription or service bill.
type Item struct {
	Code     string   `json:"code"` // national catalogue code (医保目录编码)
	Name     string   `json:"name"`
	Category Category `json:"category"`
	PriceFen int64    `json:"price_fen"` // unit price
	Quantity int      `json:"quantity"`
}

// ItemSplit is how one item is paid. Always
// TotalFen = FundFen + AccountFen + CashFen and
// TotalFen = SelfPaidFen + PreSelfPaidFen + InScopeFen.
type ItemSplit struct {
	Code           string `json:"code"`
	TotalFen       int64  `json:"total_fen"`
	FundFen        int64  `json:"fund_fen"`
	AccountFen     int64  `json:"account_fen"`
	CashFen        int64  `json:"cash_fen"`
	SelfPaidFen    int64  `json:"self_paid_fen"`     // 丙类 fully self-paid (fulamt_ownpay_amt)
	PreSelfPaidFen int64  `json:"pre_self_paid_fen"` // 乙类 first share (preselfpay_amt)
	InScopeFen     int64  `json:"in_scope_fen"`      // inscp_scp_amt
	DeductibleFen  int64  `json:"deductible_fen"`    // part of the deductible this item consumed (act_pay_dedc)
}

// Settlement states.
const (
	StatePre      = "pre"      // 2206 answer: nothing recorded, no money moved
	StateSettled  = "settled"  // 2207 done
	StateReversed = "reversed" // 2208 done, or reversed by the bureau after a time-out (冲正)
)

// Settlement is the bureau's answer to a pre-settlement or settlement.
type Settlement struct {
	SetlID      string      `json:"setl_id,omitempty"` // empty for a pre-settlement
	MdtrtID     string      `json:"mdtrt_id,omitempty"`
	PsnNo       string      `json:"psn_no"`
	Institution string      `json:"institution"`
	OrderRef    string      `json:"order_ref"`
	TotalFen    int64       `json:"total_fen"`
	FundFen     int64       `json:"fund_fen"`
	AccountFen  int64       `json:"account_fen"`
	CashFen     int64       `json:"cash_fen"`
	Items       []ItemSplit `json:"items"`
	State       string      `json:"state"`
	At          time.Time   `json:"at"`
	ReversedAt  time.Time   `json:"reversed_at,omitzero"`

	// Sums of the items' fields of the same names.
	SelfPaidFen    int64 `json:"self_paid_fen"`
	PreSelfPaidFen int64 `json:"pre_self_paid_fen"`
	InScopeFen     int64 `json:"in_scope_fen"`
	DeductibleFen  int64 `json:"deductible_fen"`
}

// PersonalFen is the person's part (psn_part_amt): account plus cash.
func (s *Settlement) PersonalFen() int64 { return s.AccountFen + s.CashFen }

// SettleRequest asks for a pre-settlement (2206) or a settlement (2207).
// The person is named by PsnNo or, when PsnNo is empty, by CardNo.
// Settle is idempotent by (Institution, OrderRef).
type SettleRequest struct {
	Institution string `json:"institution"` // the institution's code (定点医药机构编号)
	PsnNo       string `json:"psn_no,omitempty"`
	CardNo      string `json:"card_no,omitempty"`
	OrderRef    string `json:"order_ref"` // the institution's own order number
	Items       []Item `json:"items"`
	UseAccount  bool   `json:"use_account"`
}

// PreSettleRequest is the same request, for 2206.
type PreSettleRequest = SettleRequest

// Totals are one institution's settled amounts of one day (3201).
type Totals struct {
	Institution string `json:"institution"`
	Day         string `json:"day"` // 2006-01-02, Beijing time
	Count       int    `json:"count"`
	TotalFen    int64  `json:"total_fen"`
	FundFen     int64  `json:"fund_fen"`
	AccountFen  int64  `json:"account_fen"`
	CashFen     int64  `json:"cash_fen"`
}

// Bureau is the medical-insurance bureau as Yunyi uses it.
type Bureau interface {
	// VerifyPerson checks a person (1101): ErrNotInsured when the bureau
	// does not know them, ErrMismatch when name, resident ID and card do
	// not belong together.
	VerifyPerson(ctx context.Context, p Person) (*Insured, error)
	// PreSettle computes the split (2206). No money moves; it may repeat.
	PreSettle(ctx context.Context, r PreSettleRequest) (*Settlement, error)
	// Settle settles (2207), idempotent by (Institution, OrderRef): a repeat
	// returns the first settlement. ErrTimeout means the answer was lost;
	// the bureau then reverses the settlement itself (冲正) and a later
	// Query shows it "reversed". An order whose settlement was reversed
	// cannot be settled again (ErrReversed); use a new OrderRef.
	Settle(ctx context.Context, r SettleRequest) (*Settlement, error)
	// Reverse reverses a settlement (2208); reversing twice is no error.
	Reverse(ctx context.Context, setlID string) error
	// Query returns a settlement by SetlID or by OrderRef (6301).
	Query(ctx context.Context, ref string) (*Settlement, error)
	// Totals are the day's settled totals of an institution (3201).
	Totals(ctx context.Context, institution string, day time.Time) (*Totals, error)
	// Details are the day's settlements of an institution (3202).
	Details(ctx context.Context, institution string, day time.Time) ([]Settlement, error)
}

// Errors of the bureau.
var (
	ErrNotInsured    = errors.New("insurance: person not insured")
	ErrMismatch      = errors.New("insurance: name, resident ID and card do not match")
	ErrUnavailable   = errors.New("insurance: bureau unavailable")
	ErrTimeout       = errors.New("insurance: settlement timed out; the bureau reverses it")
	ErrNotFound      = errors.New("insurance: settlement not found")
	ErrReversed      = errors.New("insurance: settlement of this order was reversed")
	ErrOrderConflict = errors.New("insurance: order already settled with other content")
	ErrAmbiguous     = errors.New("insurance: order reference used by several institutions")
	ErrNoPolicy      = errors.New("insurance: no policy for the person's region and kind")
	ErrInvalid       = errors.New("insurance: invalid request")
)

// Usage is what a person has consumed in one calendar year.
type Usage struct {
	DeductibleFen int64 `json:"deductible_fen"` // deductible paid so far
	FundFen       int64 `json:"fund_fen"`       // fund paid so far (against the cap)
}

// maxItemFen bounds one item's total so that the arithmetic never overflows.
const maxItemFen = 1_000_000_000_00 // 1e11 fen = one billion yuan

// Split computes how items are paid under policy p, for a person who has
// already consumed used this year and holds balanceFen in the personal
// account. It returns the items' splits and what this bill consumes.
//
// Items are taken in order; for each:
//   - 丙 (C): all self-paid, nothing in scope.
//   - 乙 (B): PreSelfPaid = Total × CategoryBSelfShare, rounded half up to the
//     fen; the rest is in scope.
//   - 甲 (A): all in scope.
//   - The remaining deductible is consumed from the in-scope amount first.
//   - Fund = (in scope − deductible part) × FundRatio, rounded DOWN to the
//     fen (the fund never pays a fraction of a fen more than the ratio),
//     then limited by what is left under the yearly cap. So the fund never
//     exceeds the in-scope amount.
//   - The person's part, Total − Fund, is paid from the account while its
//     balance lasts (only if useAccount and the scheme has an account),
//     the rest in cash.
//
// Rounding is per item, and totals are sums of items, so
// Total = Fund + Account + Cash holds exactly for each item and in total.
func Split(p Policy, items []Item, used Usage, balanceFen int64, useAccount bool) ([]ItemSplit, Usage, error) {
	if err := p.Validate(); err != nil {
		return nil, Usage{}, err
	}
	if len(items) == 0 {
		return nil, Usage{}, fmt.Errorf("%w: no items", ErrInvalid)
	}
	dedLeft := max(p.DeductibleFen-used.DeductibleFen, 0)
	capLeft := int64(-1) // no cap
	if p.CapFen > 0 {
		capLeft = max(p.CapFen-used.FundFen, 0)
	}
	acctLeft := int64(0)
	if useAccount && p.HasAccount {
		acctLeft = max(balanceFen, 0)
	}
	var consumed Usage
	out := make([]ItemSplit, 0, len(items))
	for i, it := range items {
		if it.Code == "" || !it.Category.Valid() || it.Quantity <= 0 || it.PriceFen < 0 ||
			it.PriceFen > maxItemFen || int64(it.Quantity) > maxItemFen/max(it.PriceFen, 1) {
			return nil, Usage{}, fmt.Errorf("%w: item %d (%q)", ErrInvalid, i+1, it.Code)
		}
		s := ItemSplit{Code: it.Code, TotalFen: it.PriceFen * int64(it.Quantity)}
		switch it.Category {
		case CategoryC:
			s.SelfPaidFen = s.TotalFen
		case CategoryB:
			s.PreSelfPaidFen = (s.TotalFen*int64(p.CategoryBSelfShare) + 5000) / 10000
		}
		s.InScopeFen = s.TotalFen - s.SelfPaidFen - s.PreSelfPaidFen
		s.DeductibleFen = min(dedLeft, s.InScopeFen)
		dedLeft -= s.DeductibleFen
		s.FundFen = (s.InScopeFen - s.DeductibleFen) * int64(p.FundRatio) / 10000
		if capLeft >= 0 {
			s.FundFen = min(s.FundFen, capLeft)
			capLeft -= s.FundFen
		}
		personal := s.TotalFen - s.FundFen
		s.AccountFen = min(acctLeft, personal)
		acctLeft -= s.AccountFen
		s.CashFen = personal - s.AccountFen
		consumed.DeductibleFen += s.DeductibleFen
		consumed.FundFen += s.FundFen
		out = append(out, s)
	}
	return out, consumed, nil
}

// sum fills a settlement's totals from its items.
func (s *Settlement) sum() {
	s.TotalFen, s.FundFen, s.AccountFen, s.CashFen = 0, 0, 0, 0
	s.SelfPaidFen, s.PreSelfPaidFen, s.InScopeFen, s.DeductibleFen = 0, 0, 0, 0
	for _, it := range s.Items {
		s.TotalFen += it.TotalFen
		s.FundFen += it.FundFen
		s.AccountFen += it.AccountFen
		s.CashFen += it.CashFen
		s.SelfPaidFen += it.SelfPaidFen
		s.PreSelfPaidFen += it.PreSelfPaidFen
		s.InScopeFen += it.InScopeFen
		s.DeductibleFen += it.DeductibleFen
	}
}

// Check verifies a settlement's invariants: for every item and in total,
// Total = Fund + Account + Cash and Total = SelfPaid + PreSelfPaid + InScope,
// no part negative, the fund within the in-scope amount above the
// deductible, and the totals the sums of the items.
func (s *Settlement) Check() error {
	var t Settlement
	t.Items = s.Items
	t.sum()
	for _, it := range slices.Concat(s.Items, []ItemSplit{{Code: "total", TotalFen: s.TotalFen, FundFen: s.FundFen,
		AccountFen: s.AccountFen, CashFen: s.CashFen, SelfPaidFen: s.SelfPaidFen,
		PreSelfPaidFen: s.PreSelfPaidFen, InScopeFen: s.InScopeFen, DeductibleFen: s.DeductibleFen}}) {
		switch {
		case it.TotalFen != it.FundFen+it.AccountFen+it.CashFen:
			return fmt.Errorf("insurance: %s: total %d != fund %d + account %d + cash %d", it.Code, it.TotalFen, it.FundFen, it.AccountFen, it.CashFen)
		case it.TotalFen != it.SelfPaidFen+it.PreSelfPaidFen+it.InScopeFen:
			return fmt.Errorf("insurance: %s: total %d != self-paid %d + pre-self-paid %d + in scope %d", it.Code, it.TotalFen, it.SelfPaidFen, it.PreSelfPaidFen, it.InScopeFen)
		case it.FundFen < 0 || it.AccountFen < 0 || it.CashFen < 0 || it.SelfPaidFen < 0 || it.PreSelfPaidFen < 0 || it.DeductibleFen < 0:
			return fmt.Errorf("insurance: %s: negative part", it.Code)
		case it.FundFen > it.InScopeFen-it.DeductibleFen:
			return fmt.Errorf("insurance: %s: fund %d beyond in-scope %d above deductible %d", it.Code, it.FundFen, it.InScopeFen, it.DeductibleFen)
		}
	}
	if t.TotalFen != s.TotalFen || t.FundFen != s.FundFen || t.AccountFen != s.AccountFen || t.CashFen != s.CashFen ||
		t.SelfPaidFen != s.SelfPaidFen || t.PreSelfPaidFen != s.PreSelfPaidFen || t.InScopeFen != s.InScopeFen || t.DeductibleFen != s.DeductibleFen {
		return fmt.Errorf("insurance: totals are not the sums of the items")
	}
	return nil
}
