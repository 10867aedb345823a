package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/delivery"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/insurance"
	"github.com/yunyi-health/yunyi/internal/rx"
)

// courierFor is the courier adapter: Config.Courier, or a sandbox that
// pushes its route events to this server (made at the first dispatch,
// when the server's address is known from the request).
func (s *Server) courierFor(r *http.Request) courier.Courier {
	s.courierMu.Lock()
	defer s.courierMu.Unlock()
	if s.courier == nil { // no adapter configured: the sandbox
		c := s.cfg.CourierSandbox
		c.PushURL, c.Now = baseURL(r)+"/api/v1/couriers/sf/events", s.cfg.Now
		if c.Key == nil {
			c.Key = s.courierKey
		}
		s.courier = courier.NewSandboxSF(c)
	}
	return s.courier
}

type fulfilmentIn struct {
	Mode     string          `json:"mode"`     // courier (from the hospital) or pharmacy (a retail pharmacy of its list)
	Pharmacy string          `json:"pharmacy"` // the pharmacy's code (mode pharmacy)
	Address  courier.Address `json:"address"`
	// Insurance: settle with the patient's bound card when the drugs
	// arrive (M-2, where the institution does so); else paid now.
	Insurance bool `json:"insurance"`
}

type orderOut struct {
	*delivery.Order
	StatusText string `json:"status_text"`
}

func orderJSON(o *delivery.Order, lang i18n.Lang) *orderOut {
	if o.Events == nil {
		o.Events = []courier.Event{} // a new order: no events yet, a list all the same
	}
	return &orderOut{Order: o, StatusText: i18n.T(lang, "order.status."+string(o.Status))}
}

// chooseFulfilment places an approved prescription's order: the
// institution's delivery rules (data) decide whether the mode is offered
// and the address served, before any payment.
func (s *Server) chooseFulfilment(ctx context.Context, c call, in fulfilmentIn) (*orderOut, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	p, role, err := s.prescriptionFor(c.r, id, true)
	if err != nil {
		return nil, err
	}
	if role != "patient" {
		return nil, errs.E(errs.Forbidden)
	}
	if p.Status != rx.Approved {
		return nil, errs.E(delivery.CodeNotReady)
	}
	if !s.cfg.Now().Before(p.ValidUntil) {
		return nil, errs.E(rx.CodeExpired) // N-13: an expired prescription is not filled
	}
	set, err := s.db.DeliverySettings(ctx, p.Institution)
	if err != nil {
		return nil, err
	}
	if !set.Offers(in.Mode) {
		return nil, errs.E(delivery.CodeNotOffered)
	}
	var shop *delivery.Pharmacy
	if in.Mode == delivery.ModePharmacy {
		if shop, err = s.offeredPharmacy(ctx, set, in.Pharmacy); err != nil {
			return nil, err
		}
	} else if in.Pharmacy != "" {
		var f errs.Fields
		f.Add("pharmacy", "institution_not_allowed")
		return nil, f.Err()
	}
	if err := delivery.CheckAddress(in.Address); err != nil {
		return nil, err
	}
	switch {
	case shop != nil && !shop.Serves(in.Address):
		return nil, errs.E(delivery.CodeRegion, shop.Name, shop.RegionsText)
	case shop == nil && !set.Serves(in.Address):
		name := p.Institution
		if inst, err := s.dir.Institution(ctx, p.Institution); err == nil {
			name = inst.Name
		}
		return nil, errs.E(delivery.CodeRegion, name, set.RegionsText)
	}
	o := &delivery.Order{PrescriptionID: p.ID, Institution: p.Institution, PatientID: p.PatientID, AccountID: c.Actor.ID, Mode: in.Mode,
		Pharmacy: in.Pharmacy, Address: in.Address, AmountFen: p.TotalFen, Status: delivery.AwaitingPayment, CreatedAt: s.cfg.Now().UTC()}
	if in.Insurance {
		// M-2: settled with the card on arrival; nothing is paid before.
		if !set.InsuranceAtDelivery || shop != nil {
			return nil, errs.E(codeInsNotOffered)
		}
		if _, err := s.db.InsuranceOf(ctx, p.PatientID); errs.Is(err, errs.NotFound) {
			return nil, errs.E(codeInsNotBound)
		} else if err != nil {
			return nil, err
		}
		o.Status, o.Settle = delivery.ToPack, delivery.SettleInsurance
	}
	if _, err := s.db.CreateOrder(ctx, o); err != nil {
		return nil, err
	}
	if err := s.record(c.r, "order.create", "order", strconv.FormatInt(o.ID, 10), o.Institution, strings.TrimSpace("prescription "+strconv.FormatInt(p.ID, 10)+" "+o.Pharmacy)); err != nil {
		return nil, err
	}
	return orderJSON(o, apiLang(c.r)), nil
}

// mayDispatch: the hospital pharmacy ships its own orders, a retail
// pharmacy only those sent to it.
func mayDispatch(a authz.Actor, o *delivery.Order) bool {
	if o.Pharmacy != "" {
		return authz.RetailDispatch(a, o.Pharmacy)
	}
	return authz.DispatchDrugs(a, o.Institution)
}

// visibleOrder reads an order its patient's accounts, its dispatcher (the
// institution's pharmacy, or the retail pharmacy it was sent to) or the
// institution's admin may see; any other is not_found.
func (s *Server) visibleOrder(ctx context.Context, c call, id int64) (*delivery.Order, error) {
	o, err := s.db.Order(ctx, id)
	if err != nil {
		return nil, err
	}
	ok := mayDispatch(c.Actor, o) || authz.ManageInstitution(c.Actor, o.Institution)
	if !ok && c.Actor.Role == identity.RolePatient {
		linked, err := s.ids.Store.LinkedAccounts(ctx, o.PatientID)
		if err != nil {
			return nil, err
		}
		ok = authz.SeePatient(c.Actor, linked)
	}
	if !ok {
		return nil, errs.E(errs.NotFound)
	}
	return o, s.record(c.r, "order.read", "order", strconv.FormatInt(o.ID, 10), o.Institution, "")
}

// pathOrder is the visible order named by the path's id.
func (s *Server) pathOrder(ctx context.Context, c call) (*delivery.Order, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	return s.visibleOrder(ctx, c, id)
}

func (s *Server) getOrder(ctx context.Context, c call, _ none) (*orderOut, error) {
	o, err := s.pathOrder(ctx, c)
	if err != nil {
		return nil, err
	}
	return orderJSON(o, apiLang(c.r)), nil
}

// prescriptionOrder is a prescription's open order (for its page).
func (s *Server) prescriptionOrder(ctx context.Context, c call, _ none) (*orderOut, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	if _, _, err := s.prescriptionFor(c.r, id, false); err != nil {
		return nil, err
	}
	o, err := s.db.OrderOfPrescription(ctx, id)
	if err != nil {
		return nil, err
	}
	o, err = s.visibleOrder(ctx, c, o.ID)
	if err != nil {
		return nil, err
	}
	return orderJSON(o, apiLang(c.r)), nil
}

type ordersOut struct {
	Items []*orderOut `json:"items"`
}

// institutionOrders is the pharmacy's queue: orders of a status (to_pack
// by default), oldest paid first.
func (s *Server) institutionOrders(ctx context.Context, c call, _ none) (ordersOut, error) {
	return s.ordersOf(ctx, c, c.r.PathValue("code"))
}

func (s *Server) ordersOf(ctx context.Context, c call, code string) (ordersOut, error) {
	if !authz.DispatchDrugs(c.Actor, code) {
		return ordersOut{}, errs.E(errs.Forbidden)
	}
	return s.queue(ctx, c, delivery.Queue{Institution: code}, "institution", code)
}

// pharmacyOrders is a retail pharmacy's queue: only the orders sent to it.
func (s *Server) pharmacyOrders(ctx context.Context, c call, _ none) (ordersOut, error) {
	code := c.r.PathValue("code")
	if !authz.RetailDispatch(c.Actor, code) {
		return ordersOut{}, errs.E(errs.Forbidden)
	}
	return s.queue(ctx, c, delivery.Queue{Pharmacy: code}, "pharmacy", code)
}

// queue lists a packing queue of the status asked (to_pack by default),
// audited as a read of the orders' addresses and drugs.
func (s *Server) queue(ctx context.Context, c call, q delivery.Queue, objType, code string) (ordersOut, error) {
	q.Status = delivery.Status(c.r.URL.Query().Get("status"))
	if q.Status == "" {
		q.Status = delivery.ToPack
	}
	os, err := s.db.Orders(ctx, q)
	if err != nil {
		return ordersOut{}, err
	}
	out := ordersOut{Items: []*orderOut{}}
	for i := range os {
		out.Items = append(out.Items, orderJSON(&os[i], apiLang(c.r)))
	}
	return out, s.record(c.r, "order.list", objType, code, q.Institution, string(q.Status))
}

// dispatch hands a paid order to the courier: a waybill is booked (the
// same order id books the same waybill), then the order and its
// prescription move on (dispensed, N-12). Nothing leaves unpaid.
func (s *Server) dispatch(ctx context.Context, c call, _ none) (*orderOut, error) {
	o, err := s.pathOrder(ctx, c)
	if err != nil {
		return nil, err
	}
	if !mayDispatch(c.Actor, o) {
		return nil, errs.E(errs.Forbidden)
	}
	if o.Status != delivery.ToPack && o.Status != delivery.Failed {
		if o.Status == delivery.AwaitingPayment {
			return nil, errs.E(delivery.CodeNotReady)
		}
		return nil, errs.E(delivery.CodeOrderState)
	}
	sender, err := s.sender(ctx, o)
	if err != nil {
		return nil, err
	}
	cr := s.courierFor(c.r)
	ref := fmt.Sprintf("YY-O%d", o.ID)
	if o.Status == delivery.Failed {
		ref = fmt.Sprintf("YY-O%d-%d", o.ID, len(o.Events)) // sent again: a new waybill
	}
	waybill, err := cr.CreateWaybill(ctx, courier.Shipment{OrderID: ref, Sender: sender, Recipient: o.Address, Items: "处方药品", WeightGrams: 500})
	if err != nil && !errors.Is(err, courier.ErrDuplicateOrder) {
		return nil, err
	}
	now := s.cfg.Now()
	if err := s.db.Dispatch(ctx, o.ID, cr.Name(), waybill, now); err != nil {
		return nil, err
	}
	if err := s.record(c.r, "order.dispatch", "order", strconv.FormatInt(o.ID, 10), o.Institution, cr.Name()+" "+waybill); err != nil {
		return nil, err
	}
	if o, err = s.db.Order(ctx, o.ID); err != nil {
		return nil, err
	}
	s.refundReturned(ctx, []delivery.Order{*o}) // the courier may have pushed first
	return orderJSON(o, apiLang(c.r)), nil
}

// refundReturned gives back what was paid for parcels that came back.
func (s *Server) refundReturned(ctx context.Context, orders []delivery.Order) {
	for _, o := range orders {
		if o.Status != delivery.Returned {
			continue
		}
		p, err := s.db.OpenPayment(ctx, billing.ForPrescription, o.PrescriptionID)
		if err == nil && p.Status == billing.Paid {
			if _, err := s.bill.RequestRefund(ctx, p, fmt.Sprintf("returned:%d", o.ID), "药品包裹被退回，退还药费", p.AmountFen-p.RefundedFen); err != nil {
				s.log.Warn("returned parcel not refunded yet", "order", o.ID, "err", err)
			}
		}
	}
}

// apiCourierEvents is the courier's route push (no session: its signature
// is checked). Duplicates are ignored by route id, the order's status
// follows the events by their time, and a parcel that came back is
// refunded.
func (s *Server) apiCourierEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
	cr := s.courierFor(r)
	if err == nil && r.PathValue("provider") != cr.Name() {
		err = errs.E(errs.NotFound)
	}
	var changed []delivery.Order
	if err == nil {
		var events []courier.Event
		if events, err = cr.ParsePush(r.Header, body); err == nil {
			changed, err = s.db.AddEvents(r.Context(), events, s.cfg.Now())
		}
	}
	if err != nil {
		s.log.Warn("courier push refused", "err", err)
	}
	s.refundReturned(r.Context(), changed)
	status, ack := cr.PushAck(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(ack)
}

// prescriptionPayment is what paying for a prescription's drugs asks:
// its order must be placed (fulfilment chosen) and not paid yet.
func (s *Server) prescriptionPayment(ctx context.Context, c call, prescriptionID int64, in payIn) (*paymentOut, error) {
	p, role, err := s.prescriptionFor(c.r, prescriptionID, true)
	if err != nil {
		return nil, err
	}
	if role != "patient" {
		return nil, errs.E(errs.Forbidden)
	}
	o, err := s.db.OrderOfPrescription(ctx, p.ID)
	if errs.Is(err, errs.NotFound) {
		return nil, errs.E(delivery.CodeNotReady)
	}
	if err != nil {
		return nil, err
	}
	if o.Status != delivery.AwaitingPayment {
		if pp, err := s.db.OpenPayment(ctx, billing.ForPrescription, p.ID); err == nil && pp.Status == billing.Paid {
			return s.paymentOut(ctx, pp, apiLang(c.r))
		}
		return nil, errs.E(billing.CodeNotPayable)
	}
	names := make([]string, 0, len(p.Items))
	for _, it := range p.Items {
		names = append(names, it.Name)
	}
	pay, err := s.bill.Pay(ctx, billing.PayRequest{Purpose: billing.ForPrescription, RefID: p.ID, AccountID: c.Actor.ID, PatientID: p.PatientID,
		Institution: p.Institution, AmountFen: o.AmountFen, Description: "药费：" + strings.Join(names, "、"), Method: in.Method, Channel: in.Channel,
		PayBy: p.ValidUntil, NotifyURL: baseURL(c.r) + "/api/v1/payments/notify/" + in.Method, ReturnURL: fmt.Sprintf("/prescriptions/%d", p.ID)})
	if err != nil {
		return nil, err
	}
	if err := s.record(c.r, "payment.create", "payment", strconv.FormatInt(pay.ID, 10), pay.Institution, "prescription "+strconv.FormatInt(p.ID, 10)); err != nil {
		return nil, err
	}
	return s.paymentOut(ctx, pay, apiLang(c.r))
}

type receiveIn struct {
	CardNo  string `json:"card_no"` // the insurance card shown at the door
	Method  string `json:"method"`  // how the self-pay part is paid (wechat, alipay)
	Channel string `json:"channel"`
}

type receiveOut struct {
	Order   *orderOut   `json:"order"`
	Payment *paymentOut `json:"payment,omitempty"` // the self-pay part to pay, when there is one
}

// receive settles an order with insurance when its drugs arrived (M-2,
// H-XW): the patient confirms receipt with the bound card; the bureau
// pre-settles (2206: the fund's, the personal account's and the cash
// share by each drug's category and the person's coverage); the cash
// share is paid through the payment adapter, and then the bureau settles
// (2207). With no cash share it settles at once.
func (s *Server) receive(ctx context.Context, c call, in receiveIn) (*receiveOut, error) {
	o, err := s.pathOrder(ctx, c)
	if err != nil {
		return nil, err
	}
	if c.Actor.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	if o.Settle != delivery.SettleInsurance || o.Status != delivery.Delivered ||
		(o.SettleState != "" && o.SettleState != delivery.SettleReversed && o.SettleState != delivery.SettlePre) {
		return nil, errs.E(delivery.CodeOrderState)
	}
	b, err := s.db.InsuranceOf(ctx, o.PatientID)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(strings.TrimSpace(in.CardNo), b.CardNo) {
		return nil, errs.E(codeInsMismatch)
	}
	if o.SettleState == delivery.SettlePre {
		// Pre-settled already: the same cash share to pay.
		return s.receiveOut(ctx, c, o, in)
	}
	p, err := s.db.Prescription(ctx, o.PrescriptionID)
	if err != nil {
		return nil, err
	}
	items := s.settlementItems(p)
	from := o.SettleState
	o.SettleRef = fmt.Sprintf("YY-O%d-%d", o.ID, s.cfg.Now().UnixMilli())
	pre, err := s.bureau(ctx).PreSettle(ctx, insurance.SettleRequest{Institution: o.Institution, PsnNo: b.PsnNo, OrderRef: o.SettleRef, Items: items, UseAccount: true})
	if err != nil {
		return nil, insuranceErr(err)
	}
	o.SettleState, o.SetlID, o.FundFen, o.AccountFen, o.CashFen = delivery.SettlePre, "", pre.FundFen, pre.AccountFen, pre.CashFen
	if err := s.db.SetSettlement(ctx, o, from); err != nil {
		return nil, err
	}
	if err := s.record(c.r, "order.presettle", "order", strconv.FormatInt(o.ID, 10), o.Institution, fmt.Sprintf("fund %d account %d cash %d", pre.FundFen, pre.AccountFen, pre.CashFen)); err != nil {
		return nil, err
	}
	if o.CashFen == 0 {
		s.settleOrder(ctx, o.ID)
	}
	return s.receiveOut(ctx, c, o, in)
}

func (s *Server) receiveOut(ctx context.Context, c call, o *delivery.Order, in receiveIn) (*receiveOut, error) {
	out := &receiveOut{}
	if o.CashFen > 0 {
		if in.Method == "" {
			in.Method = "wechat"
		}
		p, err := s.bill.Pay(ctx, billing.PayRequest{Purpose: billing.ForSettlement, RefID: o.ID, AccountID: c.Actor.ID, PatientID: o.PatientID,
			Institution: o.Institution, AmountFen: o.CashFen, Description: "药费个人自付部分（医保结算）", Method: in.Method, Channel: in.Channel,
			NotifyURL: baseURL(c.r) + "/api/v1/payments/notify/" + in.Method, ReturnURL: fmt.Sprintf("/prescriptions/%d", o.PrescriptionID)})
		if err != nil {
			return nil, err
		}
		if out.Payment, err = s.paymentOut(ctx, p, apiLang(c.r)); err != nil {
			return nil, err
		}
	}
	o, err := s.db.Order(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	out.Order = orderJSON(o, apiLang(c.r))
	return out, nil
}

// settleOrder settles a pre-settled order whose cash share is paid (2207).
// When the bureau times out it reverses the settlement itself: the cash
// goes back and the patient may confirm again.
func (s *Server) settleOrder(ctx context.Context, orderID int64) {
	o, err := s.db.Order(ctx, orderID)
	if err != nil || o.Settle != delivery.SettleInsurance {
		return
	}
	if !(o.SettleState == delivery.SettleCashPaid || (o.SettleState == delivery.SettlePre && o.CashFen == 0)) {
		return
	}
	b, err := s.db.InsuranceOf(ctx, o.PatientID)
	if err != nil {
		s.log.Warn("settlement: no card", "order", o.ID, "err", err)
		return
	}
	p, err := s.db.Prescription(ctx, o.PrescriptionID)
	if err != nil {
		return
	}
	items := s.settlementItems(p)
	from := o.SettleState
	st, err := s.bureau(ctx).Settle(ctx, insurance.SettleRequest{Institution: o.Institution, PsnNo: b.PsnNo, OrderRef: o.SettleRef, Items: items, UseAccount: true})
	switch {
	case err == nil:
		o.SettleState, o.SetlID, o.FundFen, o.AccountFen, o.CashFen = delivery.SettleDone, st.SetlID, st.FundFen, st.AccountFen, st.CashFen
		if err := s.db.SetSettlement(ctx, o, from); err != nil {
			s.log.Warn("settlement not recorded", "order", o.ID, "err", err)
		}
	case errors.Is(err, insurance.ErrTimeout):
		// The bureau reversed it (冲正): the cash share goes back.
		o.SettleState = delivery.SettleReversed
		if err := s.db.SetSettlement(ctx, o, from); err != nil {
			s.log.Warn("reversal not recorded", "order", o.ID, "err", err)
			return
		}
		if pay, err := s.db.OpenPayment(ctx, billing.ForSettlement, o.ID); err == nil && pay.Status == billing.Paid {
			if _, err := s.bill.RequestRefund(ctx, pay, billing.ReasonReversed+":"+o.SettleRef, "医保结算超时已冲正，退还自付部分", pay.AmountFen-pay.RefundedFen); err != nil {
				s.log.Warn("reversed settlement's cash not refunded yet", "order", o.ID, "err", err)
			}
		}
	default:
		s.log.Warn("settlement failed", "order", o.ID, "err", err)
	}
}

func insuranceErr(err error) error {
	switch {
	case errors.Is(err, insurance.ErrMismatch), errors.Is(err, insurance.ErrNotInsured):
		return errs.E(codeInsMismatch)
	default:
		return errs.E(codeInsUnavailable)
	}
}

// settlementItems are a prescription's items as the bureau settles them:
// each drug's insurance category from the catalogue (丙, fully self-paid,
// when it has none).
func (s *Server) settlementItems(p *rx.Prescription) []insurance.Item {
	var items []insurance.Item
	for _, it := range p.Items {
		cat := insurance.CategoryC
		if d, ok := s.rxc.Cat.Drug(it.Drug); ok && d.Insurance != "" {
			if c, err := insurance.ParseCategory(d.Insurance); err == nil {
				cat = c
			}
		}
		items = append(items, insurance.Item{Code: it.Drug, Name: it.Name, Category: cat, PriceFen: it.PriceFen, Quantity: max(it.Quantity, 1)})
	}
	return items
}
