package web

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/delivery"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/rx"
)

// The e-prescription pages (issue 11): the pharmacist's queue and review
// (审方), the guardian's prescriptions and the public verification page
// the QR code of a printed prescription points at. The doctor prescribes on
// the visit page (templates/visit.html, static/rx.js) through the JSON API;
// these pages read and review through the same functions as the API
// (loadPrescription, review, verify), so the same rules and audit apply.
func (s *Server) rxRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /pharmacist", s.requireLogin(s.show("rx_queue", s.rxQueuePage)))
	mux.HandleFunc("GET /prescriptions", s.requireLogin(s.show("rx_mine", s.rxMinePage)))
	mux.HandleFunc("GET /prescriptions/{id}", s.requireLogin(s.show("rx_view", s.rxPage)))
	mux.HandleFunc("POST /prescriptions/{id}/review", s.requireLogin(s.postRxReview))
	mux.HandleFunc("GET /rx/verify/{id}", s.rxVerifyPage)
	mux.HandleFunc("POST /prescriptions/{id}/fulfilment", s.requireLogin(s.postFulfilment))
	mux.HandleFunc("POST /prescriptions/{id}/pay", s.requireLogin(s.postRxPay))
	mux.HandleFunc("POST /orders/{id}/dispatch", s.requireLogin(s.postDispatch))
	mux.HandleFunc("GET /orders/{id}/slip", s.requireLogin(s.show("slip", s.slipPage)))
	mux.HandleFunc("GET /pharmacy", s.requireLogin(s.show("pharmacy", s.pharmacyQueuePage)))
	mux.HandleFunc("POST /orders/{id}/receive", s.requireLogin(s.postReceive))
}

// rxView is a prescription as the pages show it: the API's view, times in
// Beijing, names for codes and each item's directions in words.
type rxView struct {
	*rxJSON
	Issued, Until, Reviewed string
	InstitutionName         string
	DepartmentName          string
	Weight                  string // "16" (kg), "" when not given
	Lines                   []rxLine
	SupplyText              string
}

// rxLine is one item: what is dispensed and how it is taken.
type rxLine struct {
	rx.Item
	Usage string // "150 mg，每日三次，口服"
}

// beijingTime formats an instant for the pages.
func beijingTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dates.Beijing).Format("2006-01-02 15:04")
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// rxViewOf builds the view of a prescription; allergies (from the visit's
// pre-consultation) only for those who review or prescribe.
func (s *Server) rxViewOf(ctx context.Context, p *rx.Prescription, lang i18n.Lang, allergies bool) (*rxView, error) {
	v := &rxView{rxJSON: s.rxOut(p, lang), Issued: beijingTime(p.IssuedAt), Until: beijingTime(p.ValidUntil), Reviewed: beijingTime(p.ReviewedAt),
		InstitutionName: p.Institution, DepartmentName: p.Department, SupplyText: i18n.T(lang, "rx.supply."+string(p.Supply))}
	if p.WeightKg > 0 {
		v.Weight = formatNumber(p.WeightKg)
	}
	if inst, err := s.dir.Institution(ctx, p.Institution); err == nil {
		v.InstitutionName = inst.Name
		if lang == i18n.EN && inst.NameEN != "" {
			v.InstitutionName = inst.NameEN
		}
		for _, d := range inst.Departments {
			if d.Code == p.Department {
				v.DepartmentName = d.Name
				if lang == i18n.EN && d.NameEN != "" {
					v.DepartmentName = d.NameEN
				}
			}
		}
	} else if !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	for _, it := range p.Items {
		parts := []string{formatNumber(it.Dose) + " " + it.DoseUnit, i18n.T(lang, "rx.freq."+it.Frequency)}
		if it.Route != "" {
			parts = append(parts, i18n.T(lang, "rx.route."+it.Route))
		}
		parts = append(parts, i18n.T(lang, "rx.days_n", it.Days))
		v.Lines = append(v.Lines, rxLine{Item: it, Usage: strings.Join(parts, i18n.T(lang, "list.sep"))})
	}
	if allergies {
		vs, err := s.db.Visit(ctx, p.VisitID)
		if err != nil {
			return nil, err
		}
		for _, key := range []string{"drug_allergies", "allergies"} {
			if a, _ := vs.Answers[key].(string); strings.TrimSpace(a) != "" {
				v.Allergies = strings.TrimSpace(a)
				break
			}
		}
	}
	return v, nil
}

type rxListData struct {
	Items  []*rxView
	Orders []*orderOut // the pharmacy's orders to pack
}

// rxQueuePage is the pharmacist's queue: the institution's prescriptions
// waiting for review, oldest first (N-11).
func (s *Server) rxQueuePage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.rx_queue")
	a := actor(r)
	if a.Role != identity.RolePharmacist || a.Institution == "" {
		return nil, errs.E(errs.Forbidden)
	}
	ctx := r.Context()
	list, err := s.db.Prescriptions(ctx, rx.Filter{Institution: a.Institution, Status: rx.PendingReview})
	if err != nil {
		return nil, err
	}
	d := rxListData{}
	for i := range list {
		v, err := s.rxViewOf(ctx, &list[i], p.Lang, true)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, v)
	}
	if err := s.record(r, "prescription.list", "prescription", string(rx.PendingReview), a.Institution, strconv.Itoa(len(list))); err != nil {
		return nil, err
	}
	if os, err := s.ordersOf(ctx, call{Actor: a, r: r}, a.Institution); err == nil {
		d.Orders = os.Items
	} else if !errs.Is(err, errs.Forbidden) {
		return nil, err
	}
	p.Data = d
	return p, nil
}

// rxMinePage lists the approved (and dispensed) prescriptions of the
// patient's own and their children's profiles (R-1: never before review).
func (s *Server) rxMinePage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.rx_mine")
	a := actor(r)
	if a.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	ctx := r.Context()
	pats, err := s.ids.Store.PatientsOf(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	ids := []int64{}
	for _, pt := range pats {
		ids = append(ids, pt.ID)
	}
	var list []rx.Prescription
	for _, st := range []rx.Status{rx.Approved, rx.Dispensed} {
		got, err := s.db.Prescriptions(ctx, rx.Filter{PatientIDs: ids, Status: st})
		if err != nil {
			return nil, err
		}
		list = append(list, got...)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].IssuedAt.After(list[j].IssuedAt) })
	d := rxListData{}
	for i := range list {
		v, err := s.rxViewOf(ctx, &list[i], p.Lang, false)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, v)
	}
	if err := s.record(r, "prescription.list", "prescription", string(rx.Approved), "", strconv.Itoa(len(list))); err != nil {
		return nil, err
	}
	p.Data = d
	return p, nil
}

// rxPageData is the prescription page: the prescription, who looks at it,
// the review form (the pharmacist's, while it waits) and the verification.
type rxPageData struct {
	*rxView
	Role      string // pharmacist | doctor | patient | retail (the retail pharmacy it was sent to)
	CanReview bool
	Verify    *verifyOut
	VerifyErr string
	VerifyURL string
	Reasons   []string        // the usual reasons of a rejection, in the page's language
	Checked   map[string]bool // reasons ticked before a refused submission
	FormOther string          // the form's input after a refusal
	FormNote  string
	// Drugs to the door: the order and what may be done with it.
	Order       *orderOut
	Delivery    *delivery.Settings
	CanFulfil   bool // the patient may place the order
	CanPay      bool // the order waits for its payment
	CanDispatch bool // the pharmacist may hand it to the courier
	CanReceive  bool // the patient may confirm receipt and settle with insurance (M-2)
	// Retail pharmacies (H-BCH): those the patient may pick, and the one
	// the order went to.
	Pharmacies    []delivery.Pharmacy
	OrderPharmacy *delivery.Pharmacy
}

// rxReasons are the usual reasons to reject (《医疗机构处方审核规范》).
var rxReasons = []string{"indication", "drug_choice", "dose", "form_route", "duplicate", "interaction", "allergy"}

// rxPage shows a prescription to the pharmacist of its institution, the
// visit's doctor, or the patient and guardians once approved; anyone else
// gets not_found (loadPrescription).
func (s *Server) rxPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.rx")
	rxp, role, err := s.loadPrescription(r, true)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	v, err := s.rxViewOf(ctx, rxp, p.Lang, role != "patient")
	if err != nil {
		return nil, err
	}
	d := &rxPageData{rxView: v, Role: role, CanReview: role == "pharmacist" && rxp.Status == rx.PendingReview, Checked: map[string]bool{}}
	if d.CanReview {
		for _, k := range rxReasons {
			d.Reasons = append(d.Reasons, p.T("rx.reason."+k))
		}
	}
	if err := s.orderOfPage(r, rxp, role, d, p.Lang); err != nil {
		return nil, err
	}
	if out, err := s.verify(ctx, r); err == nil {
		d.Verify = &out
		if v.VerifyCode != "" {
			d.VerifyURL = fmt.Sprintf("/rx/verify/%d?code=%s", rxp.ID, v.VerifyCode)
		}
	} else {
		_, body := describe(err, p.Lang)
		d.VerifyErr = body.Message
	}
	p.Title = fmt.Sprintf("%s · %s", p.T("title.rx"), rxp.PatientName)
	p.Data = d
	return p, nil
}

// orderOfPage fills the prescription page's delivery part.
func (s *Server) orderOfPage(r *http.Request, rxp *rx.Prescription, role string, d *rxPageData, lang i18n.Lang) error {
	ctx := r.Context()
	set, err := s.db.DeliverySettings(ctx, rxp.Institution)
	if err != nil {
		return err
	}
	d.Delivery = set
	o, err := s.db.OrderOfPrescription(ctx, rxp.ID)
	switch {
	case err == nil:
		if o, err = s.visibleOrder(ctx, call{Actor: actor(r), r: r}, o.ID); err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		if o != nil {
			d.Order = orderJSON(o, lang)
			// Back from the cashier (the drugs, or the cash share of a
			// settlement at delivery): ask the provider rather than wait
			// for its notification.
			purpose, ref := "", int64(0)
			switch {
			case o.Status == delivery.AwaitingPayment:
				purpose, ref = billing.ForPrescription, rxp.ID
			case o.Settle == delivery.SettleInsurance && o.SettleState == delivery.SettlePre:
				purpose, ref = billing.ForSettlement, o.ID
			}
			if purpose != "" && role == "patient" {
				if p, err := s.db.OpenPayment(ctx, purpose, ref); err == nil && p.Status == billing.Pending {
					if p, err = s.bill.Refresh(ctx, p); err == nil && p.Status == billing.Paid {
						if o, err = s.db.Order(ctx, o.ID); err == nil {
							d.Order = orderJSON(o, lang)
						}
					}
				}
			}
			d.CanPay = role == "patient" && d.Order.Status == delivery.AwaitingPayment
			d.CanReceive = role == "patient" && d.Order.Settle == delivery.SettleInsurance && d.Order.Status == delivery.Delivered &&
				(d.Order.SettleState == "" || d.Order.SettleState == delivery.SettleReversed || d.Order.SettleState == delivery.SettlePre)
			d.CanDispatch = mayDispatch(actor(r), o) && (d.Order.Status == delivery.ToPack || d.Order.Status == delivery.Failed)
			if o.Pharmacy != "" {
				if shop, err := s.db.Pharmacy(ctx, o.Pharmacy); err == nil {
					d.OrderPharmacy = shop
				}
			}
		}
	case errs.Is(err, errs.NotFound):
		d.CanFulfil = role == "patient" && rxp.Status == rx.Approved && (set.Courier || len(set.Pharmacies) > 0) && s.cfg.Now().Before(rxp.ValidUntil)
		if d.CanFulfil && len(set.Pharmacies) > 0 {
			if d.Pharmacies, err = s.db.PharmaciesOf(ctx, rxp.Institution); err != nil {
				return err
			}
		}
	default:
		return err
	}
	return nil
}

// postFulfilment places the order from the prescription page's form.
func (s *Server) postFulfilment(w http.ResponseWriter, r *http.Request) {
	in := fulfilmentIn{Mode: r.PostFormValue("mode"), Pharmacy: r.PostFormValue("pharmacy"), Insurance: r.PostFormValue("insurance") == "1", Address: courier.Address{Name: r.PostFormValue("name"), Phone: r.PostFormValue("phone"),
		Province: r.PostFormValue("province"), City: r.PostFormValue("city"), District: r.PostFormValue("district"),
		RegionCode: r.PostFormValue("region_code"), Detail: r.PostFormValue("detail")}}
	if in.Mode != delivery.ModePharmacy {
		in.Pharmacy = "" // the pharmacy radios stay ticked when courier is chosen
	}
	if _, err := s.chooseFulfilment(r.Context(), call{Actor: actor(r), r: r}, in); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/prescriptions/"+r.PathValue("id")+"#order", http.StatusSeeOther)
}

// postRxPay sends the payer to the provider's cashier for the drugs.
func (s *Server) postRxPay(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, errs.E(errs.NotFound))
		return
	}
	p, err := s.createPayment(r.Context(), call{Actor: actor(r), r: r}, payIn{PrescriptionID: id, Method: r.PostFormValue("method"), Channel: r.PostFormValue("channel")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.Status == billing.Paid {
		http.Redirect(w, r, "/prescriptions/"+r.PathValue("id")+"#order", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, p.CashierURL, http.StatusSeeOther)
}

// postDispatch hands an order to the courier from the pharmacist's pages.
func (s *Server) postDispatch(w http.ResponseWriter, r *http.Request) {
	o, err := s.dispatch(r.Context(), call{Actor: actor(r), r: r}, none{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/prescriptions/%d#order", o.PrescriptionID), http.StatusSeeOther)
}

// postReceive confirms receipt with the insurance card (M-2) and sends the
// payer to the cashier for the cash share, if there is one.
func (s *Server) postReceive(w http.ResponseWriter, r *http.Request) {
	out, err := s.receive(r.Context(), call{Actor: actor(r), r: r}, receiveIn{CardNo: r.PostFormValue("card_no"), Method: r.PostFormValue("method")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if out.Payment != nil && out.Payment.Status == billing.Pending {
		http.Redirect(w, r, out.Payment.CashierURL, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/prescriptions/%d#order", out.Order.PrescriptionID), http.StatusSeeOther)
}

// postRxReview is the pharmacist's review form: approve (signing) or reject
// with reasons; back to the prescription with a flash, or the page again
// with the errors and the input.
func (s *Server) postRxReview(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	in := reviewIn{Decision: r.PostFormValue("decision"), Note: r.PostFormValue("note")}
	in.Reasons = append(in.Reasons, r.PostForm["reasons"]...)
	in.Reasons = append(in.Reasons, strings.Split(r.PostFormValue("other_reasons"), "\n")...)
	p, err := s.review(r, in)
	if err == nil {
		flash := "rx_approved"
		if p.Status == rx.Rejected {
			flash = "rx_rejected"
		}
		http.Redirect(w, r, fmt.Sprintf("/prescriptions/%d?ok=%s", p.ID, flash), http.StatusSeeOther)
		return
	}
	switch errs.Code(err) {
	case errs.NotFound, errs.Unauthorized, errs.Forbidden, errs.Internal:
		s.fail(w, r, err)
		return
	}
	pg, perr := s.rxPage(w, r)
	if perr != nil {
		s.fail(w, r, perr)
		return
	}
	pg.setErr(err)
	pg.Form = r.PostForm
	d := pg.Data.(*rxPageData)
	for _, x := range r.PostForm["reasons"] {
		d.Checked[x] = true
	}
	d.FormOther, d.FormNote = r.PostFormValue("other_reasons"), r.PostFormValue("note")
	s.render(w, r, statusOf(errs.Code(err)), "rx_view", pg)
}

// rxVerifyData is the public verification page.
type rxVerifyData struct {
	Result  *verifyOut
	Issued  string
	Until   string
	Unknown bool
}

// rxVerifyPage checks a prescription's signatures for anyone holding its
// verification code (the QR code), or for those who may see it.
func (s *Server) rxVerifyPage(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.rx_verify")
	out, err := s.verify(r.Context(), r)
	status := http.StatusOK
	d := rxVerifyData{}
	switch {
	case errs.Is(err, errs.NotFound):
		status, d.Unknown = http.StatusNotFound, true
	case err != nil:
		s.fail(w, r, err)
		return
	default:
		d.Result, d.Issued, d.Until = &out, beijingTime(out.IssuedAt), beijingTime(out.ValidUntil)
		d.Result.StatusText = p.T("rx.status." + out.Status)
	}
	p.Data = d
	s.render(w, r, status, "rx_verify", p)
}
