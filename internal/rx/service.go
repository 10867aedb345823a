package rx

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Error codes of prescribing and review.
const (
	CodeRefused       = "prescription_refused"
	CodeNotPrescriber = "not_prescriber"
	CodeWindow        = "prescribe_window"
	CodeNotPending    = "prescription_not_pending"
	CodeExpired       = "prescription_expired"
	CodeRevises       = "prescription_revises"
)

// DefaultWindow is how long after a visit ends its doctor may still
// prescribe, unless the institution sets another (data).
const DefaultWindow = 24 * time.Hour

// Limits of a prescription's input.
const (
	MaxItems   = 10
	MaxNote    = 500
	MaxReasons = 10
)

// Subject is what prescribing needs to know of the visit, its patient and
// its doctor (the web layer loads it and checks who asks).
type Subject struct {
	VisitID     int64
	VisitState  string // in_progress, completed, ...
	VisitEnded  time.Time
	Institution string
	Department  string
	PatientID   int64
	PatientName string
	PatientSex  string
	Birth       time.Time
	DoctorID    int64 // practitioner
	DoctorName  string
	Answers     map[string]any // the pre-consultation (allergies, weight)
	Diagnoses   []string       // ICD-10 codes recorded in the visit's record so far
}

// Input is a doctor's prescription as sent.
type Input struct {
	Items          []Item   `json:"items"`
	Diagnoses      []string `json:"diagnoses"`
	WeightKg       float64  `json:"weight_kg"`
	Supply         Supply   `json:"supply"`
	LongTermReason string   `json:"long_term_reason"`
	Note           string   `json:"note"`
	Confirm        []string `json:"confirm"`
	ValidDays      int      `json:"valid_days"`
	Revises        int64    `json:"revises"`
}

// Store persists prescriptions, formularies, safety rules and signing keys.
type Store interface {
	Formulary(ctx context.Context, institution string) ([]FormularyItem, error)
	SaveFormulary(ctx context.Context, items []FormularyItem) error
	RxRules(ctx context.Context, institution string) ([]Rule, error) // the platform's and the institution's ("" = all)
	SaveRxRule(ctx context.Context, r *Rule) error
	PrescribeWindow(ctx context.Context, institution string) (time.Duration, error)

	// SigningKey returns a practitioner's public key and sealed private key,
	// not_found when none; AddSigningKey stores one unless the practitioner
	// already has one (then the stored one wins).
	SigningKey(ctx context.Context, practitionerID int64) (pub string, sealed []byte, err error)
	AddSigningKey(ctx context.Context, practitionerID int64, pub string, sealed []byte, at time.Time) error

	// LatestVersion returns a visit's latest prescription (0, 0, "" when
	// it has none).
	LatestVersion(ctx context.Context, visitID int64) (id int64, version int, status Status, err error)
	// ReservePrescriptionID hands out an id no prescription has, so that
	// the doctor signs (the signed content names the id) before the write.
	ReservePrescriptionID(ctx context.Context) (int64, error)
	// Issue writes a batch of signed prescriptions in one transaction, each
	// with its notices and audit entry. A request whose id, or whose visit
	// and version, is taken gets errs conflict in its Err (and nothing of
	// it is written); the others are written.
	Issue(ctx context.Context, reqs []*IssueRequest) error
	Prescription(ctx context.Context, id int64) (*Prescription, error)
	Prescriptions(ctx context.Context, f Filter) ([]Prescription, error)
	// Review writes a batch of reviews in one transaction, each a compare
	// and set on pending_review and valid_until: one that finds its
	// prescription no longer pending gets prescription_not_pending, one
	// past its validity prescription_expired, a missing one not_found.
	Review(ctx context.Context, reqs []*ReviewRequest) error
	// Expire marks pending prescriptions past their validity expired and
	// returns them.
	Expire(ctx context.Context, now time.Time) ([]Prescription, error)
	Stats(ctx context.Context, institution string, from, to time.Time) ([]DoctorStats, error)
}

// Filter selects prescriptions.
type Filter struct {
	Institution string
	Status      Status
	VisitID     int64
	PatientIDs  []int64
	DoctorID    int64
	Limit       int
}

// DoctorStats are one doctor's prescribing figures for a period (N-15:
// the institution's quality staff and the regulator only).
type DoctorStats struct {
	DoctorID      int64          `json:"doctor_id"`
	DoctorName    string         `json:"doctor_name"`
	Prescriptions int            `json:"prescriptions"`
	Approved      int            `json:"approved"`
	Rejected      int            `json:"rejected"`
	TotalFen      int64          `json:"total_fen"`
	Drugs         map[string]int `json:"drugs"` // drug code → items prescribed
}

// Checker builds a prescription's facts and evaluates the safety rules.
type Checker struct {
	Cat    *Catalogue
	Engine *Engine
	ICD    func(code string) bool // a known ICD-10 code (nil: the code's shape only)
}

// Prepare validates the input, fills the items from the catalogue and the
// formulary and builds the facts. Field errors are invalid_input.
func (c *Checker) Prepare(sub *Subject, in *Input, formulary map[string]FormularyItem, now time.Time) (*Prescription, *Facts, error) {
	var f errs.Fields
	if len(in.Items) == 0 {
		f.Add("items", "required")
	}
	if len(in.Items) > MaxItems {
		f.Add("items", "too_many_rows", MaxItems)
	}
	if len(in.Diagnoses) == 0 {
		f.Add("diagnoses", "required")
	}
	if in.Supply == "" {
		in.Supply = SupplyNormal
	}
	if in.Supply != SupplyNormal && in.Supply != SupplyAcute && in.Supply != SupplyLongTerm {
		f.Add("supply", "invalid")
	}
	if in.ValidDays == 0 {
		in.ValidDays = 1
	}
	if in.WeightKg < 0 || in.WeightKg > 300 || math.IsNaN(in.WeightKg) {
		f.Add("weight_kg", "number_range")
	}
	in.Note, in.LongTermReason = strings.TrimSpace(in.Note), strings.TrimSpace(in.LongTermReason)
	if len([]rune(in.Note)) > MaxNote {
		f.Add("note", "too_long", MaxNote)
	}
	if len([]rune(in.LongTermReason)) > MaxNote {
		f.Add("long_term_reason", "too_long", MaxNote)
	}
	p := &Prescription{VisitID: sub.VisitID, Revises: in.Revises, Institution: sub.Institution, Department: sub.Department,
		PatientID: sub.PatientID, PatientName: sub.PatientName, PatientSex: sub.PatientSex, PatientAge: AgeText(sub.Birth, now),
		DoctorID: sub.DoctorID, DoctorName: sub.DoctorName, WeightKg: in.WeightKg, Supply: in.Supply, LongTermWhy: in.LongTermReason,
		Note: in.Note, Status: PendingReview, IssuedAt: now.UTC().Truncate(time.Microsecond), ValidDays: in.ValidDays}
	p.ValidUntil = ValidUntil(now, in.ValidDays)
	p.Allergies, _ = sub.Answers["drug_allergies"].(string)
	seenDiag := map[string]bool{}
	for i, d := range in.Diagnoses {
		d = strings.ToUpper(strings.TrimSpace(d))
		if !icdLike(d) || (c.ICD != nil && !c.ICD(d)) {
			f.Add(fmt.Sprintf("diagnoses[%d]", i), "icd_unknown")
			continue
		}
		if !seenDiag[d] {
			seenDiag[d] = true
			p.Diagnoses = append(p.Diagnoses, d)
		}
	}
	age := dates.Years(sub.Birth, now)
	facts := &Facts{Institution: sub.Institution, Department: sub.Department, AgeYears: int64(age), AgeMonths: int64(months(sub.Birth, now)),
		WeightKg: in.WeightKg, Supply: string(in.Supply), LongTermReason: in.LongTermReason, Diagnoses: p.Diagnoses, VisitDiagnoses: sub.Diagnoses, ValidDays: int64(in.ValidDays)}
	allergens := Allergens(sub.Answers)
	ingredientCount := map[string]int{}
	var ingredients []string
	for i, it := range in.Items {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		d, ok := c.Cat.Drug(it.Drug)
		if !ok {
			f.Add(field("drug"), "not_found")
			continue
		}
		if it.Dose <= 0 || it.Dose > 1e5 || math.IsNaN(it.Dose) {
			f.Add(field("dose"), "number_range")
		}
		if strings.TrimSpace(it.DoseUnit) == "" {
			it.DoseUnit = d.DoseUnit
		}
		if _, ok := Frequencies[it.Frequency]; !ok {
			f.Add(field("frequency"), "invalid")
		}
		if it.Route == "" {
			it.Route = d.Route
		}
		if it.Days < 1 || it.Days > 366 {
			f.Add(field("days"), "number_range")
		}
		if it.Quantity < 1 || it.Quantity > 1000 {
			f.Add(field("quantity"), "number_range")
		}
		it.Name, it.Strength, it.Form, it.Unit = d.NameZH, d.Strength, d.Form, d.Unit
		fi, stocked := formulary[d.Code]
		switch {
		case !stocked:
			facts.NotInFormulary = append(facts.NotInFormulary, d.NameZH)
		case !fi.Online:
			facts.NotOnline = append(facts.NotOnline, d.NameZH)
		default:
			it.PriceFen = fi.PriceFen
			p.TotalFen += fi.PriceFen * int64(it.Quantity)
		}
		facts.Drugs = append(facts.Drugs, d.Code)
		facts.ControlClasses = append(facts.ControlClasses, string(d.Control))
		if d.Control != NoControl {
			facts.Controlled = append(facts.Controlled, fmt.Sprintf("%s（%s）", d.NameZH, ClassNames[d.Control]))
		}
		if int64(it.Days) > facts.MaxDays {
			facts.MaxDays = int64(it.Days)
		}
		for _, ing := range d.Ingredients {
			ingredientCount[ing]++
			if ingredientCount[ing] == 1 {
				ingredients = append(ingredients, ing)
			}
			if allergens[ing] != "" {
				facts.AllergyHits = append(facts.AllergyHits, fmt.Sprintf("%s（%s）", d.NameZH, allergens[ing]))
			}
		}
		if age < 18 && d.PaedMax > 0 && it.DoseUnit == d.DoseUnit {
			perDay := Frequencies[it.Frequency]
			switch {
			case in.WeightKg <= 0:
				facts.WeightMissing = append(facts.WeightMissing, d.NameZH)
			case perDay > 0:
				daily := it.Dose * perDay / in.WeightKg
				if daily < d.PaedMin*0.999 || daily > d.PaedMax*1.001 {
					facts.DoseOutOfRange = append(facts.DoseOutOfRange, fmt.Sprintf("%s：%.3g %s/kg/日（常用 %.3g–%.3g）", d.NameZH, daily, d.DoseUnit, d.PaedMin, d.PaedMax))
				}
			}
		}
		in.Items[i] = it
	}
	for _, ing := range ingredients {
		if ingredientCount[ing] > 1 {
			facts.DuplicateIngredients = append(facts.DuplicateIngredients, ing)
		}
	}
	for _, x := range c.Cat.InteractionsAmong(ingredients) {
		facts.Interactions = append(facts.Interactions, fmt.Sprintf("%s + %s：%s", x.A, x.B, x.MessageZH))
	}
	if err := f.Err(); err != nil {
		return nil, nil, err
	}
	p.Items = in.Items
	for _, code := range in.Confirm {
		if code = strings.TrimSpace(code); code != "" && !contains(p.Confirmed, code) {
			p.Confirmed = append(p.Confirmed, code)
		}
	}
	sort.Strings(p.Confirmed)
	return p, facts, nil
}

// Check evaluates the rules; a refusal is prescription_refused carrying
// every verdict (the failed ones and the others).
func (c *Checker) Check(ctx context.Context, rules []Rule, p *Prescription, facts *Facts) error {
	ok, verdicts := c.Engine.Evaluate(ctx, rules, facts, p.Confirmed)
	p.Verdicts = verdicts
	// Only confirmations of rules that needed them are kept.
	var kept []string
	for _, v := range verdicts {
		if v.Confirmed {
			kept = append(kept, v.Code)
		}
	}
	p.Confirmed = kept
	if !ok {
		return &Refusal{Verdicts: verdicts}
	}
	return nil
}

// Refusal is a prescription the safety rules refused.
type Refusal struct{ Verdicts []Verdict }

func (r *Refusal) Error() string {
	var failed []string
	for _, v := range r.Verdicts {
		if !v.Passed && !v.Confirmed {
			failed = append(failed, v.Code)
		}
	}
	return CodeRefused + ": " + strings.Join(failed, ", ")
}

// ValidUntil is the end of the last valid day in Beijing: the day of issue
// and days-1 more (N-13).
func ValidUntil(issued time.Time, days int) time.Time {
	d := issued.In(dates.Beijing)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, dates.Beijing).AddDate(0, 0, max(days, 1)).Add(-time.Microsecond).UTC()
}

// months is the whole months from birth to now.
func months(birth, now time.Time) int {
	b, n := birth.In(dates.Beijing), now.In(dates.Beijing)
	m := (n.Year()-b.Year())*12 + int(n.Month()) - int(b.Month())
	if n.Day() < b.Day() {
		m--
	}
	return max(m, 0)
}

// AgeText is an age as a prescription prints it: years and months under
// 6, years otherwise; months (and days) for infants.
func AgeText(birth, now time.Time) string {
	if birth.IsZero() {
		return ""
	}
	m := months(birth, now)
	switch {
	case m < 1:
		return fmt.Sprintf("%d天", int(now.Sub(birth).Hours()/24))
	case m < 12:
		return fmt.Sprintf("%d个月", m)
	case m < 72 && m%12 != 0:
		return fmt.Sprintf("%d岁%d个月", m/12, m%12)
	}
	return fmt.Sprintf("%d岁", m/12)
}

func icdLike(code string) bool {
	if len(code) < 3 || len(code) > 8 || code[0] < 'A' || code[0] > 'Z' {
		return false
	}
	for _, r := range code[1:] {
		if !(r >= '0' && r <= '9') && r != '.' && !(r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// allergenGroups maps what patients write (Chinese or English) to the
// ingredients it covers: a class allergy covers every member the catalogue
// carries.
var allergenGroups = map[string][]string{
	"青霉素":           {"amoxicillin", "ampicillin", "benzylpenicillin", "phenoxymethylpenicillin", "piperacillin", "cloxacillin", "flucloxacillin"},
	"penicillin":    {"amoxicillin", "ampicillin", "benzylpenicillin", "phenoxymethylpenicillin", "piperacillin", "cloxacillin", "flucloxacillin"},
	"头孢":            {"cefaclor", "cefuroxime", "cefixime", "cefdinir", "cefalexin", "cefadroxil", "cefprozil", "cefpodoxime", "ceftriaxone"},
	"cephalosporin": {"cefaclor", "cefuroxime", "cefixime", "cefdinir", "cefalexin", "cefadroxil", "cefprozil", "cefpodoxime", "ceftriaxone"},
	"磺胺":            {"sulfamethoxazole", "sulfasalazine", "sulfadiazine"},
	"sulfonamide":   {"sulfamethoxazole", "sulfasalazine", "sulfadiazine"},
	"阿司匹林":          {"aspirin"},
	"布洛芬":           {"ibuprofen"},
	"对乙酰氨基酚":        {"paracetamol"},
	"扑热息痛":          {"paracetamol"},
	"大环内酯":          {"azithromycin", "clarithromycin", "erythromycin", "roxithromycin"},
	"阿奇霉素":          {"azithromycin"},
	"红霉素":           {"erythromycin"},
	"碘":             {"iodine", "povidone-iodine"},
}

// Allergens reads the drug allergies a patient declared in the
// pre-consultation (answers drug_allergies, or allergies) and returns the
// ingredients they cover, each with the words the patient used.
func Allergens(answers map[string]any) map[string]string {
	out := map[string]string{}
	cat := DefaultCatalogue()
	for _, key := range []string{"drug_allergies", "allergies"} {
		s, _ := answers[key].(string)
		for _, tok := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" ,，、;；/\n\t。", r) }) {
			tok = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(tok), "过敏"), "类")
			low := strings.ToLower(tok)
			if low == "" || low == "无" || low == "none" || low == "no" {
				continue
			}
			for _, ing := range allergenGroups[low] {
				out[ing] = tok
			}
			for name, ings := range allergenGroups {
				if strings.HasPrefix(low, name) && len(name) >= 3 {
					for _, ing := range ings {
						out[ing] = tok
					}
				}
			}
			for _, d := range cat.All() {
				if strings.EqualFold(d.Generic, low) || strings.Contains(d.NameZH, tok) && len([]rune(tok)) >= 2 {
					for _, ing := range d.Ingredients {
						out[ing] = tok
					}
				}
				for _, ing := range d.Ingredients {
					if ing == low {
						out[ing] = tok
					}
				}
			}
		}
	}
	return out
}

// WeightOf is the weight the pre-consultation gives (answer weight_kg),
// offered to the doctor; 0 when none.
func WeightOf(answers map[string]any) float64 {
	switch v := answers["weight_kg"].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	return 0
}
