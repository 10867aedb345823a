// Package delivery takes an approved prescription's drugs to the patient
// the order the patient places (courier from the hospital pharmacy
// to an address the institution serves), its payment, the dispatch with a
// waybill, and the courier's route events as the patient's timeline. The
// courier itself is internal/courier's adapter. It imports neither the
// web nor the database.
package delivery

import (
	"context"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Modes of fulfilment.
const (
	ModeCourier  = "courier"  // the hospital pharmacy ships it
	ModePharmacy = "pharmacy" // a retail pharmacy the patient picks
)

// Status of an order. awaiting_payment → to_pack (paid) → dispatched
// (handed to the courier) → delivered, or returned / failed (then sent
// again or refunded); cancelled when given up before dispatch.
type Status string

const (
	AwaitingPayment Status = "awaiting_payment"
	ToPack          Status = "to_pack"
	Dispatched      Status = "dispatched"
	Delivered       Status = "delivered"
	Returned        Status = "returned"
	Failed          Status = "failed"
	Cancelled       Status = "cancelled"
)

// Error codes.
const (
	CodeRegion         = "delivery_region"      // the address is outside where the institution delivers
	CodeNotOffered     = "delivery_not_offered" // the institution does not offer this mode
	CodeNotReady       = "order_not_ready"      // not approved and paid: nothing leaves
	CodeOrderState     = "order_state"          // the order is past that step
	CodeUnknownWaybill = "unknown_waybill"      // a courier's push for a waybill no order has (yet)
)

// Settings are an institution's delivery rules (data).
type Settings struct {
	Institution string          `json:"institution"`
	Courier     bool            `json:"courier"`      // ships from its pharmacy
	Regions     []string        `json:"regions"`      // GB/T 2260 code prefixes it delivers to ("110" = Beijing); empty: anywhere
	RegionsText string          `json:"regions_text"` // how the rule reads to patients, e.g. 北京市内
	Sender      courier.Address `json:"sender"`       // the pharmacy's address on the waybill
	// InsuranceAtDelivery: orders may be settled with the patient's
	// insurance card when the drugs arrive (M-2, H-XW), paying only the
	// self-pay part then.
	InsuranceAtDelivery bool `json:"insurance_at_delivery"`
	// Pharmacies are the retail pharmacies (codes) its patients may pick,
	// in the order they are shown (R-3, H-BCH); none: that mode is not
	// offered.
	Pharmacies []string `json:"pharmacies"`
}

// Serves says whether an address is inside the institution's area.
func (s *Settings) Serves(a courier.Address) bool { return serves(s.Regions, a) }

// Offers says whether the institution offers a mode of fulfilment.
func (s *Settings) Offers(mode string) bool {
	switch mode {
	case ModeCourier:
		return s.Courier
	case ModePharmacy:
		return len(s.Pharmacies) > 0
	}
	return false
}

// serves says whether an address is inside an area given by GB/T 2260
// code prefixes (none: anywhere).
func serves(regions []string, a courier.Address) bool {
	if len(regions) == 0 {
		return true
	}
	for _, p := range regions {
		if strings.HasPrefix(a.RegionCode, p) {
			return true
		}
	}
	return false
}

// Pharmacy is a retail pharmacy (零售药店, R-3, H-BCH): an organisation of
// its own that institutions list for their patients to pick. Its staff
// (role retail_pharmacist) see only the orders sent to it; it delivers
// from its shop to the areas it serves.
type Pharmacy struct {
	Code        string          `json:"code"`
	Name        string          `json:"name"`
	NameEN      string          `json:"name_en"`
	LicenceNo   string          `json:"licence_no"` // 药品经营许可证编号
	Phone       string          `json:"phone"`
	Address     courier.Address `json:"address"` // its shop: the sender on its waybills
	Regions     []string        `json:"regions"` // where it delivers (GB/T 2260 prefixes); empty: anywhere
	RegionsText string          `json:"regions_text"`
	Hours       string          `json:"hours"` // opening hours as shown, e.g. 08:00–22:00
	Active      bool            `json:"active"`
}

// Serves says whether the pharmacy delivers to an address.
func (p *Pharmacy) Serves(a courier.Address) bool { return serves(p.Regions, a) }

// Validate checks a pharmacy for saving.
func (p *Pharmacy) Validate() error {
	var f errs.Fields
	if !validCode(p.Code) {
		f.Add("code", "invalid")
	}
	if strings.TrimSpace(p.Name) == "" {
		f.Add("name", "required")
	}
	if strings.TrimSpace(p.LicenceNo) == "" {
		f.Add("licence_no", "required")
	}
	checkAddress(&f, "address.", p.Address, false)
	for _, r := range p.Regions {
		if r == "" || len(r) > 6 || strings.Trim(r, "0123456789") != "" {
			f.Add("regions", "invalid")
			break
		}
	}
	return f.Err()
}

// validCode: lower-case letters, digits and hyphens, 2 to 40 of them.
func validCode(c string) bool {
	if len(c) < 2 || len(c) > 40 {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// CheckAddress validates a delivery address: every field a courier needs,
// a mainland mobile number, a 6-digit region code.
func CheckAddress(a courier.Address) error {
	var f errs.Fields
	checkAddress(&f, "address.", a, true)
	return f.Err()
}

// checkAddress adds the address's field errors; a recipient's phone must
// be a mainland mobile number, a shop's may be a landline (010-…).
func checkAddress(f *errs.Fields, prefix string, a courier.Address, mobile bool) {
	req := func(field, v string) {
		if strings.TrimSpace(v) == "" {
			f.Add(prefix+field, "required")
		}
	}
	req("name", a.Name)
	req("phone", a.Phone)
	req("province", a.Province)
	req("city", a.City)
	req("detail", a.Detail)
	if len(a.RegionCode) != 6 || strings.Trim(a.RegionCode, "0123456789") != "" {
		f.Add(prefix+"region_code", "invalid")
	}
	switch {
	case a.Phone == "":
	case mobile && (len(a.Phone) != 11 || a.Phone[0] != '1' || strings.Trim(a.Phone, "0123456789") != ""):
		f.Add(prefix+"phone", "phone_invalid")
	case !mobile && (len(a.Phone) < 7 || len(a.Phone) > 20 || strings.Trim(a.Phone, "0123456789-") != ""):
		f.Add(prefix+"phone", "phone_invalid")
	}
}

// Order is a prescription's drugs on their way.
type Order struct {
	ID             int64           `json:"id"`
	PrescriptionID int64           `json:"prescription_id"`
	Institution    string          `json:"institution"`
	PatientID      int64           `json:"patient_id"`
	AccountID      int64           `json:"-"`
	Mode           string          `json:"mode"`
	Pharmacy       string          `json:"pharmacy,omitempty"` // the retail pharmacy it was sent to (mode pharmacy)
	Address        courier.Address `json:"address"`
	AmountFen      int64           `json:"amount_fen"`
	Status         Status          `json:"status"`
	Courier        string          `json:"courier,omitempty"`
	WaybillNo      string          `json:"waybill_no,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	PaidAt         time.Time       `json:"paid_at,omitzero"`
	DispatchedAt   time.Time       `json:"dispatched_at,omitzero"`
	DeliveredAt    time.Time       `json:"delivered_at,omitzero"`
	Events         []courier.Event `json:"events"`
	// Settlement at delivery (M-2): "insurance" when the order is settled
	// with the card on arrival; the split once pre-settled.
	Settle      string `json:"settle,omitempty"`
	SettleState string `json:"settle_state,omitempty"` // pre, cash_paid, settled, reversed
	SettleRef   string `json:"-"`                      // the order's reference at the bureau (one per attempt)
	SetlID      string `json:"setl_id,omitempty"`
	FundFen     int64  `json:"fund_fen"`
	AccountFen  int64  `json:"account_fen"`
	CashFen     int64  `json:"cash_fen"`
}

// Settlement states and the mode.
const (
	SettleInsurance = "insurance"
	SettlePre       = "pre"       // pre-settled (2206): the split is known
	SettleCashPaid  = "cash_paid" // the self-pay part is paid
	SettleDone      = "settled"   // settled (2207)
	SettleReversed  = "reversed"  // the bureau reversed it: the cash went back
)

// StatusOf is the order's status after its courier events: the courier's
// current status decides once the parcel is on its way.
func StatusOf(o *Order, events []courier.Event) Status {
	if o.Status != Dispatched && o.Status != Delivered && o.Status != Returned && o.Status != Failed {
		return o.Status
	}
	switch courier.Current(events) {
	case courier.Delivered:
		return Delivered
	case courier.Returned:
		return Returned
	case courier.Failed:
		return Failed
	}
	return Dispatched
}

// Queue selects orders: those an institution's pharmacy ships (Pharmacy
// ""), or those sent to one retail pharmacy (Institution "": from every
// institution); of a status ("": any).
type Queue struct {
	Institution string
	Pharmacy    string
	Status      Status
	Limit       int
}

// Store keeps orders and their events.
type Store interface {
	DeliverySettings(ctx context.Context, institution string) (*Settings, error)
	SaveDeliverySettings(ctx context.Context, s *Settings) error
	// CreateOrder stores an order awaiting payment, or answers the open
	// one of the prescription (created=false).
	CreateOrder(ctx context.Context, o *Order) (created bool, err error)
	Order(ctx context.Context, id int64) (*Order, error)
	OrderOfPrescription(ctx context.Context, prescriptionID int64) (*Order, error)
	// Orders lists a queue, oldest paid first: an institution's own
	// (Pharmacy "") or one retail pharmacy's.
	Orders(ctx context.Context, q Queue) ([]Order, error)
	SavePharmacy(ctx context.Context, p *Pharmacy) error
	Pharmacy(ctx context.Context, code string) (*Pharmacy, error)
	// PharmaciesOf are the active pharmacies of an institution's list, in
	// its order.
	PharmaciesOf(ctx context.Context, institution string) ([]Pharmacy, error)
	// Dispatch moves a paid order to dispatched with its waybill (and its
	// prescription to dispensed), a compare and set on to_pack.
	Dispatch(ctx context.Context, id int64, courierName, waybill string, at time.Time) error
	// AddEvents stores a courier's route events (a route id once per
	// waybill) and moves the orders to the status they give; it answers the
	// orders whose status changed, and unknown_waybill (after storing
	// everything) when a waybill has no order yet, so that the courier
	// pushes again.
	AddEvents(ctx context.Context, events []courier.Event, at time.Time) ([]Order, error)
	// SetSettlement records an order's settlement step (a compare and set
	// on its state: from is the state it must be in).
	SetSettlement(ctx context.Context, o *Order, from string) error
}
