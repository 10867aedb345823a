package web

import (
	"net/http"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/i18n"
)

// The invoice pages (医疗收费电子票据): the patient's 我的票据, the
// invoices of the payments the account made and of its own and its
// children's; and an institution's invoices of a day for its admin. They
// read through the same functions as the API (myInvoices,
// institutionInvoices), so the same readers and audit apply; each row
// links to its printable bill (GET /api/v1/invoices/{id}?format=pdf).
func (s *Server) invoiceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /invoices", s.requireLogin(s.show("invoices", s.myInvoicesPage)))
	mux.HandleFunc("GET /admin/institutions/{code}/invoices", s.requireLogin(s.show("invoices", s.institutionInvoicesPage)))
}

// invoiceRow is one invoice as the pages list it.
type invoiceRow struct {
	ID          int64
	Reversal    bool
	Kind        string // original | reversal
	KindText    string // 原票 | 红冲
	Code        string
	NumberText  string
	Issued      string // Beijing time
	Institution string
	Payer       string
	Amount      string // yuan, negative on a reversal
	Original    string // a reversal's original: code-number
	Reason      string
	PaymentID   int64
	PDF         string
}

type invoicesPageData struct {
	Staff           bool   // an institution's list (else the patient's)
	Code            string // the institution (staff)
	InstitutionName string
	Day, Prev, Next string // the day listed (staff)
	Items           []invoiceRow
	Originals       int
	Reversals       int
	Total           string // originals less reversals, yuan
}

func (s *Server) invoiceRows(r *http.Request, list []billing.Invoice, lang i18n.Lang) (*invoicesPageData, error) {
	d := &invoicesPageData{}
	names := s.institutionNames()
	var total int64
	for i := range list {
		inv := &list[i]
		name, err := names.name(r.Context(), inv.Institution, lang)
		if err != nil {
			return nil, err
		}
		row := invoiceRow{ID: inv.ID, Reversal: inv.IsReversal(), Kind: inv.Kind(), KindText: i18n.T(lang, "invoice.kind."+inv.Kind()), Code: inv.Code,
			NumberText: inv.NumberText(), Issued: beijingTime(inv.IssuedAt), Institution: name, Payer: inv.PayerName, Amount: billing.Yuan(inv.AmountFen),
			Reason: inv.Reason, PaymentID: inv.PaymentID, PDF: invoicePDF(inv.ID)}
		if row.Reversal {
			row.Original = inv.OriginalCode + "-" + inv.OriginalNumberText()
			d.Reversals++
		} else {
			d.Originals++
		}
		total += inv.AmountFen
		d.Items = append(d.Items, row)
	}
	d.Total = billing.Yuan(total)
	return d, nil
}

// myInvoicesPage is 我的票据: a patient account's invoices, the latest
// first.
func (s *Server) myInvoicesPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.invoices")
	list, err := s.myInvoices(r.Context(), call{Actor: actor(r), r: r})
	if err != nil {
		return nil, err
	}
	d, err := s.invoiceRows(r, list, p.Lang)
	if err != nil {
		return nil, err
	}
	p.Data = d
	return p, nil
}

// institutionInvoicesPage is an institution's invoices of a day (today
// unless ?day=YYYY-MM-DD), for its admin.
func (s *Server) institutionInvoicesPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.inst_invoices")
	day, list, err := s.institutionInvoices(r.Context(), call{Actor: actor(r), r: r})
	if err != nil {
		return nil, err
	}
	d, err := s.invoiceRows(r, list, p.Lang)
	if err != nil {
		return nil, err
	}
	code := r.PathValue("code")
	d.Staff, d.Code, d.Day = true, code, day
	if d.InstitutionName, err = s.institutionNames().name(r.Context(), code, p.Lang); err != nil {
		return nil, err
	}
	if t, err := time.ParseInLocation(dates.Layout, day, dates.Beijing); err == nil {
		d.Prev, d.Next = t.AddDate(0, 0, -1).Format(dates.Layout), t.AddDate(0, 0, 1).Format(dates.Layout)
	}
	p.Data = d
	return p, nil
}
