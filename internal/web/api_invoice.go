package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// invoiceOut is a payment's electronic bill for medical charges
// (医疗收费电子票据) as the API answers it: the stored invoice with the
// fields as printed.
type invoiceOut struct {
	*billing.Invoice
	NumberText      string `json:"number_text"`      // 票据号码, ten digits
	Amount          string `json:"amount"`           // 合计 in yuan, 30.00
	AmountCapital   string `json:"amount_capital"`   // 合计 in capitals, 叁拾元整
	InstitutionName string `json:"institution_name"` // 收款单位
	PDF             string `json:"pdf"`              // where the printable bill is
}

// apiInvoice answers a paid payment's invoice, as JSON or (format=pdf)
// the printable bill, to whoever may see the payment (its payer, the
// patient's guardians, the institution's staff); every read is audited.
// A payment not paid has none (not_found).
func (s *Server) apiInvoice(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "pdf" {
		var f errs.Fields
		f.Add("format", "invoice_format")
		s.fail(w, r, f.Err())
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
	name := inv.Institution
	if inst, err := s.dir.Institution(ctx, inv.Institution); err == nil {
		name = inst.Name
	} else if !errs.Is(err, errs.NotFound) {
		s.fail(w, r, err)
		return
	}
	if format == "" {
		format = "json"
	}
	if err := s.record(r, "invoice.read", "invoice", strconv.FormatInt(inv.ID, 10), inv.Institution,
		fmt.Sprintf("payment %d, %s-%s, %s", p.ID, inv.Code, inv.NumberText(), format)); err != nil {
		s.fail(w, r, err)
		return
	}
	if format == "pdf" {
		pdf, err := billing.RenderInvoicePDF(inv, name)
		if err != nil {
			s.fail(w, r, err) // pdf_font_missing without the fonts
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="invoice-%s-%s.pdf"`, inv.Code, inv.NumberText()))
		w.Write(pdf)
		return
	}
	writeJSON(w, http.StatusOK, invoiceOut{Invoice: inv, NumberText: inv.NumberText(), Amount: billing.Yuan(inv.AmountFen),
		AmountCapital: billing.CapitalYuan(inv.AmountFen), InstitutionName: name,
		PDF: fmt.Sprintf("/api/v1/payments/%d/invoice?format=pdf", p.ID)})
}
