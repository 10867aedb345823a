package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/delivery"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// Retail pharmacies (R-3, H-BCH): organisations of their own, listed by
// institutions for their patients to pick. A pharmacy's staff (role
// retail_pharmacist) see and dispatch only the orders sent to it; the
// hospital's pharmacy never sees them in its queue.

// offeredPharmacy is a pharmacy the institution lists, open for orders.
func (s *Server) offeredPharmacy(ctx context.Context, set *delivery.Settings, code string) (*delivery.Pharmacy, error) {
	var f errs.Fields
	if code == "" {
		f.Add("pharmacy", "required")
		return nil, f.Err()
	}
	if !slices.Contains(set.Pharmacies, code) {
		f.Add("pharmacy", "not_offered")
		return nil, f.Err()
	}
	p, err := s.db.Pharmacy(ctx, code)
	if errs.Is(err, errs.NotFound) || (err == nil && !p.Active) {
		f.Add("pharmacy", "not_offered")
		return nil, f.Err()
	}
	return p, err
}

// sender is who ships an order: the retail pharmacy it was sent to, else
// the institution's pharmacy.
func (s *Server) sender(ctx context.Context, o *delivery.Order) (courier.Address, error) {
	if o.Pharmacy != "" {
		p, err := s.db.Pharmacy(ctx, o.Pharmacy)
		if err != nil {
			return courier.Address{}, err
		}
		return p.Address, nil
	}
	set, err := s.db.DeliverySettings(ctx, o.Institution)
	if err != nil {
		return courier.Address{}, err
	}
	return set.Sender, nil
}

// deliveryOut is an institution's delivery rules with its pharmacies
// spelled out, as a patient choosing how to get the drugs needs them.
type deliveryOut struct {
	*delivery.Settings
	PharmacyList []delivery.Pharmacy `json:"pharmacy_list"`
}

// getDelivery answers an institution's delivery rules (public, as its
// service list is).
func (s *Server) getDelivery(ctx context.Context, c call, _ none) (*deliveryOut, error) {
	code := c.r.PathValue("code")
	if _, err := s.dir.Institution(ctx, code); err != nil {
		return nil, err
	}
	set, err := s.db.DeliverySettings(ctx, code)
	if err != nil {
		return nil, err
	}
	list, err := s.db.PharmaciesOf(ctx, code)
	if err != nil {
		return nil, err
	}
	if set.Pharmacies == nil {
		set.Pharmacies = []string{}
	}
	if set.Regions == nil {
		set.Regions = []string{} // anywhere: a list all the same
	}
	return &deliveryOut{Settings: set, PharmacyList: list}, nil
}

// putDelivery replaces an institution's delivery rules (its admin): the
// modes, the area it ships to, the sender, insurance at delivery and its
// list of retail pharmacies.
func (s *Server) putDelivery(ctx context.Context, c call, in delivery.Settings) (*deliveryOut, error) {
	code := c.r.PathValue("code")
	if !authz.ManageInstitution(c.Actor, code) {
		return nil, errs.E(errs.Forbidden)
	}
	if _, err := s.dir.Institution(ctx, code); err != nil {
		return nil, err
	}
	in.Institution = code
	var f errs.Fields
	if in.Courier {
		if err := delivery.CheckAddress(in.Sender); err != nil {
			f.Add("sender", "invalid")
		}
	}
	for _, r := range in.Regions {
		if r == "" || len(r) > 6 || !isDigits(r) {
			f.Add("regions", "invalid")
			break
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if err := s.db.SaveDeliverySettings(ctx, &in); err != nil {
		return nil, err
	}
	if err := s.record(c.r, "delivery.save", "institution", code, code, ""); err != nil {
		return nil, err
	}
	return s.getDelivery(ctx, c, none{})
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// getPharmacy answers a pharmacy's public facts (name, licence, shop,
// hours, area).
func (s *Server) getPharmacy(ctx context.Context, c call, _ none) (*delivery.Pharmacy, error) {
	return s.db.Pharmacy(ctx, c.r.PathValue("code"))
}

// putPharmacy registers or updates a retail pharmacy (the platform's
// sysadmin: a pharmacy serves several institutions).
func (s *Server) putPharmacy(ctx context.Context, c call, in delivery.Pharmacy) (*delivery.Pharmacy, error) {
	if !authz.OperatePlatform(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	in.Code = c.r.PathValue("code")
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := s.db.SavePharmacy(ctx, &in); err != nil {
		return nil, err
	}
	if err := s.record(c.r, "pharmacy.save", "pharmacy", in.Code, "", ""); err != nil {
		return nil, err
	}
	return &in, nil
}

// pharmacyQueuePage is a retail pharmacy's work: the orders sent to it to
// pack (paid), and those on their way.
func (s *Server) pharmacyQueuePage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.pharmacy_queue")
	a := actor(r)
	if a.Role != identity.RoleRetailPharmacist || a.Pharmacy == "" {
		return nil, errs.E(errs.Forbidden)
	}
	ctx := r.Context()
	shop, err := s.db.Pharmacy(ctx, a.Pharmacy)
	if err != nil {
		return nil, err
	}
	d := pharmacyQueueData{Pharmacy: shop}
	os, err := s.db.Orders(ctx, delivery.Queue{Pharmacy: a.Pharmacy, Limit: 500})
	if err != nil {
		return nil, err
	}
	for i := range os {
		switch o := orderJSON(&os[i], p.Lang); o.Status {
		case delivery.ToPack, delivery.Failed:
			d.ToPack = append(d.ToPack, o)
		case delivery.Dispatched, delivery.Delivered, delivery.Returned:
			d.Sent = append([]*orderOut{o}, d.Sent...) // newest first
		}
	}
	if err := s.record(r, "order.list", "pharmacy", a.Pharmacy, "", "page"); err != nil {
		return nil, err
	}
	p.Title = p.T("title.pharmacy_queue") + " · " + shop.Name
	p.Data = d
	return p, nil
}

type pharmacyQueueData struct {
	Pharmacy *delivery.Pharmacy
	ToPack   []*orderOut // paid, or back after a failed delivery
	Sent     []*orderOut // handed to the courier, newest first
}

// slipData is the packing slip (发货单) printed into the parcel: who
// ships, to whom, what, the prescription's verification and the invoice
// the invoice travels with the drugs).
type slipData struct {
	Order        *orderOut
	Rx           *rxView
	Shipper      string
	ShipperAddr  courier.Address
	Invoice      *invoiceOut
	PrintedAt    string
	VerifyURL    string
	Institution  string
	PharmacyName string
}

// slipPage is an order's packing slip, for whoever dispatches it.
func (s *Server) slipPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.slip")
	ctx := r.Context()
	c := call{Actor: actor(r), r: r}
	o, err := s.pathOrder(ctx, c)
	if err != nil {
		return nil, err
	}
	if !mayDispatch(c.Actor, o) {
		return nil, errs.E(errs.NotFound)
	}
	rxp, err := s.db.Prescription(ctx, o.PrescriptionID)
	if err != nil {
		return nil, err
	}
	v, err := s.rxViewOf(ctx, rxp, p.Lang, false)
	if err != nil {
		return nil, err
	}
	d := &slipData{Order: orderJSON(o, p.Lang), Rx: v, PrintedAt: beijingTime(s.cfg.Now()), Institution: v.InstitutionName}
	if v.VerifyCode != "" {
		d.VerifyURL = baseURL(r) + "/rx/verify/" + strconv.FormatInt(rxp.ID, 10) + "?code=" + v.VerifyCode
	}
	d.ShipperAddr, err = s.sender(ctx, o)
	if err != nil {
		return nil, err
	}
	d.Shipper = v.InstitutionName
	if o.Pharmacy != "" {
		shop, err := s.db.Pharmacy(ctx, o.Pharmacy)
		if err != nil {
			return nil, err
		}
		d.Shipper, d.PharmacyName = shop.Name, shop.Name
	}
	if pay, err := s.db.OpenPayment(ctx, billing.ForPrescription, o.PrescriptionID); err == nil {
		if inv, err := s.db.Invoice(ctx, pay.ID); err == nil {
			d.Invoice = &invoiceOut{Invoice: inv, NumberText: inv.NumberText(), Amount: billing.Yuan(inv.AmountFen),
				AmountCapital: billing.CapitalYuan(inv.AmountFen), InstitutionName: v.InstitutionName,
				PDF: "/api/v1/payments/" + strconv.FormatInt(pay.ID, 10) + "/invoice?format=pdf"}
		} else if !errs.Is(err, errs.NotFound) {
			return nil, err
		}
	} else if !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	if err := s.record(r, "order.slip", "order", strconv.FormatInt(o.ID, 10), o.Institution, ""); err != nil {
		return nil, err
	}
	p.Title = p.T("title.slip") + " · " + strconv.FormatInt(o.ID, 10)
	p.Data = d
	return p, nil
}
