package visit

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Diagnosis is an ICD-10 coded diagnosis.
type Diagnosis struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Record is the structured medical record (病历) of a visit. The draft has
// Version 0; completing the visit signs version 1; every amendment adds the
// next version and keeps the earlier ones.
type Record struct {
	VisitID        int64       `json:"visit_id"`
	Version        int         `json:"version"`
	ChiefComplaint string      `json:"chief_complaint"`
	PresentIllness string      `json:"present_illness"`
	History        string      `json:"history"`
	Observations   string      `json:"observations"`
	Diagnoses      []Diagnosis `json:"diagnoses"`
	Advice         string      `json:"advice"`
	AmendReason    string      `json:"amend_reason,omitempty"`
	AuthorID       int64       `json:"author_id"`
	AuthorName     string      `json:"author,omitempty"`
	SignedAt       time.Time   `json:"signed_at,omitzero"`
	UpdatedAt      time.Time   `json:"updated_at,omitzero"`
}

// Normalise trims the text fields and fills the diagnoses' names from the
// code list.
func (r *Record) Normalise() {
	for _, p := range []*string{&r.ChiefComplaint, &r.PresentIllness, &r.History, &r.Observations, &r.Advice, &r.AmendReason} {
		*p = strings.TrimSpace(*p)
	}
	ds := r.Diagnoses[:0]
	for _, d := range r.Diagnoses {
		d.Code = strings.ToUpper(strings.TrimSpace(d.Code))
		if d.Code == "" {
			continue
		}
		if c, ok := LookupICD(d.Code); ok {
			d.Name = c.Name
		}
		ds = append(ds, d)
	}
	r.Diagnoses = ds
}

// ValidateDraft checks lengths and codes; a draft may be incomplete.
func (r *Record) ValidateDraft() error {
	var f errs.Fields
	r.check(&f)
	return f.Err()
}

// ValidateSigned checks a record to sign: a chief complaint, at least one
// diagnosis with a known ICD-10 code, and advice.
func (r *Record) ValidateSigned() error {
	var f errs.Fields
	r.checkSigned(&f)
	return f.Err()
}

// ValidateAmendment checks an amendment: a complete record and the reason
// for the change.
func (r *Record) ValidateAmendment() error {
	var f errs.Fields
	r.checkSigned(&f)
	if r.AmendReason == "" {
		f.Add("amend_reason", "required")
	}
	return f.Err()
}

func (r *Record) checkSigned(f *errs.Fields) {
	r.check(f)
	if r.ChiefComplaint == "" {
		f.Add("chief_complaint", "required")
	}
	if len(r.Diagnoses) == 0 {
		f.Add("diagnoses", "required")
	}
	if r.Advice == "" {
		f.Add("advice", "required")
	}
}

func (r *Record) check(f *errs.Fields) {
	for name, v := range map[string]string{"chief_complaint": r.ChiefComplaint, "present_illness": r.PresentIllness,
		"history": r.History, "observations": r.Observations, "advice": r.Advice, "amend_reason": r.AmendReason} {
		limit := 4000
		if name == "chief_complaint" {
			limit = 200
		}
		if utf8.RuneCountInString(v) > limit {
			f.Add(name, "too_long")
		}
	}
	if len(r.Diagnoses) > 10 {
		f.Add("diagnoses", "too_many_rows")
	}
	seen := map[string]bool{}
	for i, d := range r.Diagnoses {
		if _, ok := LookupICD(d.Code); !ok {
			f.Add(fmt.Sprintf("diagnoses[%d].code", i), "icd_unknown")
		} else if seen[d.Code] {
			f.Add(fmt.Sprintf("diagnoses[%d].code", i), "duplicate")
		}
		seen[d.Code] = true
	}
}

// ICD is one entry of the ICD-10 code list shipped with Yunyi (a subset of
// the categories and subcategories used in paediatric and general
// outpatient care, with the Chinese names of the national edition).
type ICD struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	NameEN string `json:"name_en"`
}

//go:embed icd10.tsv
var icdTSV string

var (
	icdOnce  sync.Once
	icdList  []ICD
	icdIndex map[string]ICD
)

func loadICD() {
	icdIndex = map[string]ICD{}
	for _, line := range strings.Split(icdTSV, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) < 3 {
			continue
		}
		c := ICD{Code: p[0], Name: p[1], NameEN: p[2]}
		icdList = append(icdList, c)
		icdIndex[c.Code] = c
	}
	sort.Slice(icdList, func(i, j int) bool { return icdList[i].Code < icdList[j].Code })
}

// LookupICD finds a code.
func LookupICD(code string) (ICD, bool) {
	icdOnce.Do(loadICD)
	c, ok := icdIndex[strings.ToUpper(code)]
	return c, ok
}

// SearchICD finds codes whose code starts with q or whose name contains
// it, at most limit.
func SearchICD(q string, limit int) []ICD {
	icdOnce.Do(loadICD)
	q = strings.TrimSpace(q)
	uq, lq := strings.ToUpper(q), strings.ToLower(q)
	out := []ICD{}
	for _, c := range icdList {
		if q == "" || strings.HasPrefix(c.Code, uq) || strings.Contains(c.Name, q) || strings.Contains(strings.ToLower(c.NameEN), lq) {
			out = append(out, c)
			if len(out) == limit {
				break
			}
		}
	}
	return out
}
