package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// invoiceOut is an electronic bill for medical charges (医疗收费电子票据)
// as the API answers it: the stored invoice with the fields as printed. A
// reversing invoice (红字票据, kind reversal) has a negative amount and
// names its original.
type invoiceOut struct {
	*billing.Invoice
	Kind               string `json:"kind"`                           // original | reversal
	KindText           string `json:"kind_text"`                      // 原票 | 红冲, in the caller's language
	NumberText         string `json:"number_text"`                    // 票据号码, ten digits
	OriginalNumberText string `json:"original_number_text,omitempty"` // a reversal's original's 票据号码
	Amount             string `json:"amount"`                         // 合计 in yuan, 30.00 (-30.00 on a reversal)
	AmountCapital      string `json:"amount_capital"`                 // 合计 in capitals, 叁拾元整 (负叁拾元整)
	InstitutionName    string `json:"institution_name"`               // 收款单位
	PDF                string `json:"pdf"`                            // where the printable bill is
}

func newInvoiceOut(inv *billing.Invoice, name, pdf string, lang i18n.Lang) invoiceOut {
	return invoiceOut{Invoice: inv, Kind: inv.Kind(), KindText: i18n.T(lang, "invoice.kind."+inv.Kind()), NumberText: inv.NumberText(),
		OriginalNumberText: inv.OriginalNumberText(), Amount: billing.Yuan(inv.AmountFen), AmountCapital: billing.CapitalYuan(inv.AmountFen),
		InstitutionName: name, PDF: pdf}
}

// invoicePDF is where one invoice's printable bill is.
func invoicePDF(id int64) string { return fmt.Sprintf("/api/v1/invoices/%d?format=pdf", id) }

// institutionNames finds institutions' names (Chinese, as printed on the
// bill; English too for the pages), each once.
type institutionNames struct {
	s     *Server
	names map[string][2]string
}

func (s *Server) institutionNames() *institutionNames {
	return &institutionNames{s: s, names: map[string][2]string{}}
}

// name is the institution's name in lang (its Chinese name when it has no
// English one; its code when it is not in the directory).
func (n *institutionNames) name(ctx context.Context, code string, lang i18n.Lang) (string, error) {
	v, ok := n.names[code]
	if !ok {
		v = [2]string{code, ""}
		if inst, err := n.s.dir.Institution(ctx, code); err == nil {
			v = [2]string{inst.Name, inst.NameEN}
		} else if !errs.Is(err, errs.NotFound) {
			return "", err
		}
		n.names[code] = v
	}
	if lang == i18n.EN && v[1] != "" {
		return v[1], nil
	}
	return v[0], nil
}

// invoiceFormat reads the format parameter: json (the default) or pdf.
func invoiceFormat(r *http.Request) (string, error) {
	switch format := r.URL.Query().Get("format"); format {
	case "", "json":
		return "json", nil
	case "pdf":
		return "pdf", nil
	}
	var f errs.Fields
	f.Add("format", "invoice_format")
	return "", f.Err()
}

// apiInvoice answers a paid payment's invoice (its original), as JSON or
// (format=pdf) the printable bill, to whoever may see the payment (its
// payer, the patient's guardians, the institution's staff); every read is
// audited. A payment not paid has none (not_found).
func (s *Server) apiInvoice(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	format, err := invoiceFormat(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.visiblePayment(ctx, call{Actor: actor(r), r: r})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inv, err := s.db.Invoice(ctx, p.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveInvoice(w, r, inv, format, fmt.Sprintf("/api/v1/payments/%d/invoice?format=pdf", p.ID))
}

// apiInvoiceByID answers one invoice, original or reversing, by its id,
// as JSON or (format=pdf) the printable bill, to whoever may see its
// payment; anyone else is answered not_found. Every read is audited.
func (s *Server) apiInvoiceByID(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	format, err := invoiceFormat(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inv, err := s.visibleInvoice(ctx, call{Actor: actor(r), r: r})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveInvoice(w, r, inv, format, invoicePDF(inv.ID))
}

// visibleInvoice reads the invoice of the path's id when the caller may
// see its payment; any other is not_found.
func (s *Server) visibleInvoice(ctx context.Context, c call) (*billing.Invoice, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	inv, err := s.db.InvoiceByID(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := s.db.Payment(ctx, inv.PaymentID)
	if err != nil {
		return nil, err
	}
	if ok, err := s.seesPayment(ctx, c.Actor, p); err != nil {
		return nil, err
	} else if !ok {
		return nil, errs.E(errs.NotFound)
	}
	return inv, nil
}

// serveInvoice records the read of inv and answers it as JSON (pdf: where
// its printable bill is) or as the printable bill.
func (s *Server) serveInvoice(w http.ResponseWriter, r *http.Request, inv *billing.Invoice, format, pdf string) {
	name, err := s.institutionNames().name(r.Context(), inv.Institution, i18n.ZH)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.recordInvoiceRead(r, inv, format); err != nil {
		s.fail(w, r, err)
		return
	}
	if format == "pdf" {
		out, err := billing.RenderInvoicePDF(inv, name)
		if err != nil {
			s.fail(w, r, err) // pdf_font_missing without the fonts
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="invoice-%s-%s.pdf"`, inv.Code, inv.NumberText()))
		w.Write(out)
		return
	}
	writeJSON(w, http.StatusOK, newInvoiceOut(inv, name, pdf, apiLang(r)))
}

// recordInvoiceRead audits one invoice read (how: json, pdf, list).
func (s *Server) recordInvoiceRead(r *http.Request, inv *billing.Invoice, how string) error {
	detail := fmt.Sprintf("payment %d, %s-%s, %s", inv.PaymentID, inv.Code, inv.NumberText(), how)
	if inv.IsReversal() {
		detail = fmt.Sprintf("payment %d, %s-%s (reversal of %s-%s), %s", inv.PaymentID, inv.Code, inv.NumberText(), inv.OriginalCode,
			inv.OriginalNumberText(), how)
	}
	return s.record(r, "invoice.read", "invoice", strconv.FormatInt(inv.ID, 10), inv.Institution, detail)
}

type invoicesOut struct {
	Items []invoiceOut `json:"items"`
}

// paymentInvoices lists every invoice of a payment, its original and its
// reversals (红字票据) in the order issued, to whoever may see the payment;
// each invoice's read is audited.
func (s *Server) paymentInvoices(ctx context.Context, c call, _ none) (invoicesOut, error) {
	p, err := s.visiblePayment(ctx, c)
	if err != nil {
		return invoicesOut{}, err
	}
	list, err := s.db.PaymentInvoices(ctx, p.ID)
	if err != nil {
		return invoicesOut{}, err
	}
	for i := range list {
		if err := s.recordInvoiceRead(c.r, &list[i], "list"); err != nil {
			return invoicesOut{}, err
		}
	}
	return s.invoicesOf(ctx, list, apiLang(c.r))
}

// myInvoices lists the invoices a patient account may see, the latest
// first: of payments it made, and of payments for its own and its
// children's profiles (the same readers as the payment's). The list is
// audited as one read naming every invoice.
func (s *Server) myInvoices(ctx context.Context, c call) ([]billing.Invoice, error) {
	if c.Actor.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	list, err := s.db.ListInvoices(ctx, billing.InvoiceFilter{AccountID: c.Actor.ID, Limit: 500})
	if err != nil {
		return nil, err
	}
	return list, s.record(c.r, "invoice.list", "invoice", "", "", invoiceIDs(list))
}

// institutionInvoices lists an institution's invoices of a day (Beijing
// time; the day parameter, today by default), the latest first, for its
// admin (or a sysadmin); the list is audited as one read naming every
// invoice.
func (s *Server) institutionInvoices(ctx context.Context, c call) (day string, list []billing.Invoice, err error) {
	code := c.Path("code")
	if !authz.ManageInstitution(c.Actor, code) {
		return "", nil, errs.E(errs.Forbidden)
	}
	from := s.cfg.Now().In(dates.Beijing)
	from = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, dates.Beijing)
	if q := c.Query("day"); q != "" {
		d, err := time.ParseInLocation(dates.Layout, q, dates.Beijing)
		if err != nil {
			var f errs.Fields
			f.Add("day", "invalid")
			return "", nil, f.Err()
		}
		from = d
	}
	day = from.Format(dates.Layout)
	list, err = s.db.ListInvoices(ctx, billing.InvoiceFilter{Institution: code, From: from, To: from.AddDate(0, 0, 1), Limit: 2000})
	if err != nil {
		return "", nil, err
	}
	return day, list, s.record(c.r, "invoice.list", "institution", code, code, day+": "+invoiceIDs(list))
}

// invoiceIDs names invoices in an audit entry: "3 invoices: 7,9,12".
func invoiceIDs(list []billing.Invoice) string {
	ids := make([]string, len(list))
	for i := range list {
		ids[i] = strconv.FormatInt(list[i].ID, 10)
	}
	return fmt.Sprintf("%d invoices: %s", len(list), strings.Join(ids, ","))
}

// invoicesOf answers listed invoices as the API does.
func (s *Server) invoicesOf(ctx context.Context, list []billing.Invoice, lang i18n.Lang) (invoicesOut, error) {
	out := invoicesOut{Items: []invoiceOut{}}
	names := s.institutionNames()
	for i := range list {
		name, err := names.name(ctx, list[i].Institution, i18n.ZH)
		if err != nil {
			return invoicesOut{}, err
		}
		out.Items = append(out.Items, newInvoiceOut(&list[i], name, invoicePDF(list[i].ID), lang))
	}
	return out, nil
}

// listMyInvoices is GET /api/v1/invoices: the patient account's invoices.
func (s *Server) listMyInvoices(ctx context.Context, c call, _ none) (invoicesOut, error) {
	list, err := s.myInvoices(ctx, c)
	if err != nil {
		return invoicesOut{}, err
	}
	return s.invoicesOf(ctx, list, apiLang(c.r))
}

type dayInvoicesOut struct {
	Day string `json:"day"`
	invoicesOut
	TotalFen int64 `json:"total_fen"` // the day's originals less its reversals
}

// listInstitutionInvoices is GET /api/v1/institutions/{code}/invoices: an
// institution's invoices of a day.
func (s *Server) listInstitutionInvoices(ctx context.Context, c call, _ none) (dayInvoicesOut, error) {
	day, list, err := s.institutionInvoices(ctx, c)
	if err != nil {
		return dayInvoicesOut{}, err
	}
	out, err := s.invoicesOf(ctx, list, apiLang(c.r))
	if err != nil {
		return dayInvoicesOut{}, err
	}
	total := int64(0)
	for _, inv := range list {
		total += inv.AmountFen
	}
	return dayInvoicesOut{Day: day, invoicesOut: out, TotalFen: total}, nil
}
