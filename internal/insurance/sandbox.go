package insurance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// SandboxConfig sets up a SandboxBureau.
type SandboxConfig struct {
	// Policies are the benefit rules; nil means DefaultPolicies().
	Policies []Policy
	// Now is the bureau's clock; nil means time.Now.
	Now func() time.Time
	// TimeoutEvery makes every N-th new settlement time out (0: never): the
	// bureau settles, the answer is lost (ErrTimeout), and the bureau
	// reverses the settlement by itself (冲正), so a Query shows it
	// "reversed" with the account and the deductible restored. Repeats of
	// an already made settlement are not counted.
	TimeoutEvery int64
	// UnavailableEvery makes every N-th call of any Bureau method answer
	// ErrUnavailable without doing anything (0: never).
	UnavailableEvery int64
	// Delay is how long each call takes (the context can cut it short).
	Delay time.Duration
}

// SandboxBureau is the Bureau of the sandbox: it keeps a roster of insured
// persons, their account balances, what each consumed of the yearly
// deductible and cap, and the settlements, and behaves as the national
// interface does (see Bureau). It is safe for concurrent use.
//
// Days and years are Beijing calendar days and years of the settlement
// time. Reconciliation (Totals, Details) lists a settlement under the day
// it was made; a reversed one stays listed in Details with state
// "reversed" and does not count in Totals. Reversing a settlement gives
// back the deductible and cap it consumed; later settlements of the same
// year are not recomputed.
type SandboxBureau struct {
	cfg   SandboxConfig
	calls atomic.Int64

	mu        sync.Mutex
	policies  map[[2]string]Policy // (region, kind)
	persons   map[string]*person   // by psn_no
	byID      map[string]string    // resident ID → psn_no
	byCard    map[string]string    // card number → psn_no
	setl      map[string]*record   // by setl_id
	byOrder   map[[2]string]string // (institution, order ref) → setl_id
	orderRefs map[string][]string  // order ref → setl_ids
	seq       int64
	settles   int64
}

type person struct {
	Insured
	use map[int]Usage // by year
}

type record struct {
	s    Settlement
	year int
	used Usage
	fp   string // what was asked, to tell a repeat from a conflict
}

// NewSandboxBureau returns an empty sandbox bureau. It panics if a policy
// is invalid or given twice: policies are data written by developers.
func NewSandboxBureau(cfg SandboxConfig) *SandboxBureau {
	if cfg.Policies == nil {
		cfg.Policies = DefaultPolicies()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &SandboxBureau{
		cfg:       cfg,
		policies:  map[[2]string]Policy{},
		persons:   map[string]*person{},
		byID:      map[string]string{},
		byCard:    map[string]string{},
		setl:      map[string]*record{},
		byOrder:   map[[2]string]string{},
		orderRefs: map[string][]string{},
	}
	for _, p := range cfg.Policies {
		if err := p.Validate(); err != nil {
			panic(err)
		}
		k := [2]string{p.Region, string(p.Kind)}
		if _, dup := b.policies[k]; dup {
			panic(fmt.Sprintf("insurance: policy %s/%s given twice", p.Region, p.Kind))
		}
		b.policies[k] = p
	}
	return b
}

var _ Bureau = (*SandboxBureau)(nil)

// AddInsured enrols a person with an opening account balance and returns
// them with their new psn_no.
func (b *SandboxBureau) AddInsured(p Person, balanceFen int64) (*Insured, error) {
	p.Name, p.ResidentID, p.CardNo = strings.TrimSpace(p.Name), strings.TrimSpace(p.ResidentID), strings.TrimSpace(p.CardNo)
	if p.Name == "" || p.ResidentID == "" || p.Region == "" || !p.Kind.Valid() || balanceFen < 0 {
		return nil, fmt.Errorf("%w: insured person needs name, resident ID, region, kind and a balance ≥ 0", ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.policies[[2]string{p.Region, string(p.Kind)}]; !ok {
		return nil, ErrNoPolicy
	}
	if _, dup := b.byID[p.ResidentID]; dup {
		return nil, fmt.Errorf("%w: resident ID already insured", ErrInvalid)
	}
	if _, dup := b.byCard[p.CardNo]; dup && p.CardNo != "" {
		return nil, fmt.Errorf("%w: card number already issued", ErrInvalid)
	}
	b.seq++
	in := Insured{PsnNo: fmt.Sprintf("%s%014d", p.Region, b.seq), Person: p, AccountBalanceFen: balanceFen}
	b.persons[in.PsnNo] = &person{Insured: in, use: map[int]Usage{}}
	b.byID[p.ResidentID] = in.PsnNo
	if p.CardNo != "" {
		b.byCard[p.CardNo] = in.PsnNo
	}
	return &in, nil
}

// Balance returns the account balance of an insured person.
func (b *SandboxBureau) Balance(psnNo string) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.persons[psnNo]
	if !ok {
		return 0, ErrNotInsured
	}
	return p.AccountBalanceFen, nil
}

// YearUsage returns what a person has consumed of the deductible and the
// cap in a (Beijing) calendar year.
func (b *SandboxBureau) YearUsage(psnNo string, year int) (Usage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.persons[psnNo]
	if !ok {
		return Usage{}, ErrNotInsured
	}
	return p.use[year], nil
}

// enter waits the configured delay and counts the call.
func (b *SandboxBureau) enter(ctx context.Context) error {
	if b.cfg.Delay > 0 {
		t := time.NewTimer(b.cfg.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// A deadline that has passed counts even before the context's own
	// timer has run (a loaded machine runs it late).
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	if n := b.calls.Add(1); b.cfg.UnavailableEvery > 0 && n%b.cfg.UnavailableEvery == 0 {
		return ErrUnavailable
	}
	return nil
}

// VerifyPerson implements 1101. The person is found by resident ID, or by
// card number when no resident ID is given; the name (and the card, when
// both are given) must then match.
func (b *SandboxBureau) VerifyPerson(ctx context.Context, q Person) (*Insured, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	q.Name, q.ResidentID, q.CardNo = strings.TrimSpace(q.Name), strings.TrimSpace(q.ResidentID), strings.TrimSpace(q.CardNo)
	if q.Name == "" || (q.ResidentID == "" && q.CardNo == "") {
		return nil, fmt.Errorf("%w: name and resident ID or card number needed", ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var psn string
	if q.ResidentID != "" {
		psn = b.byID[q.ResidentID]
		if psn == "" {
			if b.byCard[q.CardNo] != "" && q.CardNo != "" {
				return nil, ErrMismatch // the card is someone else's
			}
			return nil, ErrNotInsured
		}
	} else if psn = b.byCard[q.CardNo]; psn == "" {
		return nil, ErrNotInsured
	}
	p := b.persons[psn]
	if p.Name != q.Name || (q.CardNo != "" && p.CardNo != q.CardNo) {
		return nil, ErrMismatch
	}
	in := p.Insured
	return &in, nil
}

// resolve finds the request's person and policy (b.mu held).
func (b *SandboxBureau) resolve(r *SettleRequest) (*person, Policy, error) {
	if r.Institution == "" {
		return nil, Policy{}, fmt.Errorf("%w: institution code needed", ErrInvalid)
	}
	psn := r.PsnNo
	if psn == "" {
		if r.CardNo == "" {
			return nil, Policy{}, fmt.Errorf("%w: psn_no or card number needed", ErrInvalid)
		}
		psn = b.byCard[r.CardNo]
	}
	p, ok := b.persons[psn]
	if !ok {
		return nil, Policy{}, ErrNotInsured
	}
	pol, ok := b.policies[[2]string{p.Region, string(p.Kind)}]
	if !ok {
		return nil, Policy{}, ErrNoPolicy
	}
	return p, pol, nil
}

func (b *SandboxBureau) compute(r *SettleRequest, now time.Time) (*person, *Settlement, Usage, error) {
	p, pol, err := b.resolve(r)
	if err != nil {
		return nil, nil, Usage{}, err
	}
	items, used, err := Split(pol, r.Items, p.use[now.In(dates.Beijing).Year()], p.AccountBalanceFen, r.UseAccount)
	if err != nil {
		return nil, nil, Usage{}, err
	}
	s := &Settlement{PsnNo: p.PsnNo, Institution: r.Institution, OrderRef: r.OrderRef, Items: items, State: StatePre, At: now}
	s.sum()
	return p, s, used, nil
}

// PreSettle implements 2206: the split as Settle would make it now.
func (b *SandboxBureau) PreSettle(ctx context.Context, r PreSettleRequest) (*Settlement, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_, s, _, err := b.compute(&r, b.cfg.Now())
	return s, err
}

// Settle implements 2207 (see Bureau and SandboxConfig.TimeoutEvery).
func (b *SandboxBureau) Settle(ctx context.Context, r SettleRequest) (*Settlement, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	if r.OrderRef == "" {
		return nil, fmt.Errorf("%w: order reference needed", ErrInvalid)
	}
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	p, s, used, err := b.compute(&r, now)
	if err != nil {
		return nil, err
	}
	fp, _ := json.Marshal(struct {
		PsnNo      string
		Items      []Item
		UseAccount bool
	}{p.PsnNo, r.Items, r.UseAccount})
	key := [2]string{r.Institution, r.OrderRef}
	if id, ok := b.byOrder[key]; ok {
		rec := b.setl[id]
		switch {
		case rec.fp != string(fp):
			return nil, ErrOrderConflict
		case rec.s.State == StateReversed:
			return rec.copy(), ErrReversed
		}
		return rec.copy(), nil
	}
	b.seq++
	day := now.In(dates.Beijing).Format("20060102")
	s.SetlID = fmt.Sprintf("SETL%s%010d", day, b.seq)
	s.MdtrtID = fmt.Sprintf("MDTRT%s%010d", day, b.seq)
	s.State = StateSettled
	rec := &record{s: *s, year: now.In(dates.Beijing).Year(), used: used, fp: string(fp)}
	b.setl[s.SetlID] = rec
	b.byOrder[key] = s.SetlID
	b.orderRefs[r.OrderRef] = append(b.orderRefs[r.OrderRef], s.SetlID)
	p.AccountBalanceFen -= s.AccountFen
	u := p.use[rec.year]
	u.DeductibleFen += used.DeductibleFen
	u.FundFen += used.FundFen
	p.use[rec.year] = u

	b.settles++
	if b.cfg.TimeoutEvery > 0 && b.settles%b.cfg.TimeoutEvery == 0 {
		b.reverse(rec, now) // 冲正: the bureau undoes what the caller never heard of
		return nil, ErrTimeout
	}
	return rec.copy(), nil
}

func (r *record) copy() *Settlement {
	s := r.s
	s.Items = slices.Clone(r.s.Items)
	return &s
}

// reverse undoes a settled record (b.mu held).
func (b *SandboxBureau) reverse(rec *record, now time.Time) {
	if rec.s.State != StateSettled {
		return
	}
	p := b.persons[rec.s.PsnNo]
	p.AccountBalanceFen += rec.s.AccountFen
	u := p.use[rec.year]
	u.DeductibleFen -= rec.used.DeductibleFen
	u.FundFen -= rec.used.FundFen
	p.use[rec.year] = u
	rec.s.State = StateReversed
	rec.s.ReversedAt = now
}

// Reverse implements 2208.
func (b *SandboxBureau) Reverse(ctx context.Context, setlID string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.setl[setlID]
	if !ok {
		return ErrNotFound
	}
	b.reverse(rec, now)
	return nil
}

// Query implements the settlement result query (6301): ref is a SetlID or
// an OrderRef; an OrderRef that several institutions used is ErrAmbiguous.
func (b *SandboxBureau) Query(ctx context.Context, ref string) (*Settlement, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if rec, ok := b.setl[ref]; ok {
		return rec.copy(), nil
	}
	switch ids := b.orderRefs[ref]; len(ids) {
	case 0:
		return nil, ErrNotFound
	case 1:
		return b.setl[ids[0]].copy(), nil
	default:
		return nil, ErrAmbiguous
	}
}

// Details implements 3202: the institution's settlements made on day's
// Beijing date, settled and reversed, by time.
func (b *SandboxBureau) Details(ctx context.Context, institution string, day time.Time) ([]Settlement, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	return b.details(institution, day), nil
}

func (b *SandboxBureau) details(institution string, day time.Time) []Settlement {
	d := day.In(dates.Beijing).Format(dates.Layout)
	b.mu.Lock()
	var out []Settlement
	for _, rec := range b.setl {
		if rec.s.Institution == institution && rec.s.At.In(dates.Beijing).Format(dates.Layout) == d {
			out = append(out, *rec.copy())
		}
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y Settlement) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.SetlID, y.SetlID)
	})
	return out
}

// Totals implements 3201: count and sums of the institution's settlements
// made on day's Beijing date that stand (reversed ones excluded).
func (b *SandboxBureau) Totals(ctx context.Context, institution string, day time.Time) (*Totals, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	t := &Totals{Institution: institution, Day: day.In(dates.Beijing).Format(dates.Layout)}
	for _, s := range b.details(institution, day) {
		if s.State != StateSettled {
			continue
		}
		t.Count++
		t.TotalFen += s.TotalFen
		t.FundFen += s.FundFen
		t.AccountFen += s.AccountFen
		t.CashFen += s.CashFen
	}
	return t, nil
}

// AlterForTest changes the bureau's own record of a settlement, as a
// faulty bureau would, so that reconciliation tests can plant a difference
// (a share changed, a state the bureau alone has; not its SetlID, by which
// it is kept). It touches neither the person's balance nor their usage. For tests only: the national interface
// has nothing like it.
func (b *SandboxBureau) AlterForTest(setlID string, alter func(s *Settlement)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.setl[setlID]
	if !ok {
		return ErrNotFound
	}
	alter(&rec.s)
	return nil
}
