// Package history holds the offline visit records that follow-up
// eligibility is decided on (S-3, N-2), and their import from the
// hospitals' systems as CSV or FHIR R4 bundles (package fhir parses those).
//
// An import is a stream (import.go): rows are read, checked and written in
// batches as they arrive, so that its memory does not grow with the file;
// its report counts every row and lists the first problems with their line
// in the file.
//
// Hospitals key their patients by medical record number (病案号, MRN), not
// always by resident ID (mrn.go): a visit whose patient has no resident ID
// is kept under the institution's MRN, and counts for follow-up
// eligibility once the MRN is linked to a resident ID (from a file that
// carries both, from the institution's link file, or when the patient
// binds the hospital card).
package history

import (
	"context"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/i18n"
)

// Visit is one offline visit in a department.
type Visit struct {
	Institution   string `json:"institution"`
	Department    string `json:"department"`
	ResidentID    string `json:"resident_id"`
	Date          string `json:"visit_date"`
	DiagnosisCode string `json:"diagnosis_code"`
	DiagnosisName string `json:"diagnosis_name"`
	Definite      bool   `json:"definite"`
	Source        string `json:"source"`      // csv | fhir
	ExternalID    string `json:"external_id"` // stable id in the source, for idempotent imports
	// MRN is the institution's medical record number of the patient ("":
	// none). A visit with no resident ID is kept under it alone.
	MRN string `json:"mrn,omitempty"`
	// The patient as the hospital's record gives them, kept with the MRN
	// (the hospital-card binding checks them): name, birth date
	// (YYYY-MM-DD) and sex (FHIR's administrative gender), each "" when
	// the file does not say.
	PatientName string `json:"-"`
	BirthDate   string `json:"-"`
	Sex         string `json:"-"`
}

// Detail is one thing wrong with an entry, or with a whole file: a stable
// code, whose texts are the catalogue's "import.<code>" (internal/i18n),
// and the arguments of its message: Args as they are, then Refs, keys of
// the catalogue shown translated.
type Detail struct {
	Code string   `json:"code"`
	Args []string `json:"args,omitempty"`
	Refs []string `json:"refs,omitempty"`
}

// Text is the detail's message in lang.
func (d Detail) Text(lang i18n.Lang) string {
	args := make([]any, 0, len(d.Args)+len(d.Refs))
	for _, a := range d.Args {
		args = append(args, a)
	}
	for _, r := range d.Refs {
		args = append(args, i18n.Ref(r))
	}
	return i18n.T(lang, "import."+d.Code, args...)
}

// Problem is an entry that could not be imported.
type Problem struct {
	Index int `json:"index"` // 1-based row of a CSV (after the header), or entry of a bundle
	// Line is the line of the file a CSV row starts on (the header is
	// line 1; a quoted field may span lines, so rows and lines differ).
	Line    int      `json:"line,omitempty"`
	Reason  string   `json:"reason"` // the details' texts, in the reader's language
	Details []Detail `json:"details,omitempty"`
}

// Localize writes the problem's reason in lang (a problem stored before
// details existed keeps its reason).
func (p *Problem) Localize(lang i18n.Lang) {
	if len(p.Details) == 0 {
		return
	}
	texts := make([]string, len(p.Details))
	for i, d := range p.Details {
		texts[i] = d.Text(lang)
	}
	p.Reason = strings.Join(texts, i18n.T(lang, "reason.sep"))
}

// Report of an import.
type Report struct {
	ID     int64  `json:"id"`
	Status string `json:"status"` // running | done | failed
	Format string `json:"format"`
	// Total counts the rows (CSV, after the header) or encounters (FHIR)
	// read so far; Processed those checked, and written when good.
	Total      int `json:"total"`
	Processed  int `json:"processed"`
	Imported   int `json:"imported"`
	Duplicates int `json:"duplicates"`
	Failed     int `json:"failed"`
	// Problems lists the first MaxProblems failed entries in file order;
	// ProblemsOmitted counts the others (Failed includes them).
	Problems        []Problem `json:"problems"`
	ProblemsOmitted int       `json:"problems_omitted"`
	Ignored         []Ignored `json:"ignored,omitempty"` // resources of a bundle that are not visits
	// UnderMRN counts the good visits (new or duplicate) whose patient has
	// no resident ID, kept under the institution's MRN: they count for
	// follow-ups once the MRN is linked. MRNLinks counts the MRNs this
	// import linked to a resident ID (a row or Patient that carries both).
	UnderMRN int `json:"under_mrn"`
	MRNLinks int `json:"mrn_links"`
	// Notes are entries taken with a remark (a diagnosis coded in a system
	// with no ICD-10 mapping kept without its code, diagnoses of an
	// encounter beyond the one a visit keeps, a Condition of no encounter,
	// an MRN that could not be linked), the first MaxProblems in file
	// order; NotesOmitted counts the others.
	Notes        []Problem `json:"notes,omitempty"`
	NotesOmitted int       `json:"notes_omitted,omitempty"`
}

// Localize writes every problem's and note's reason in lang.
func (r *Report) Localize(lang i18n.Lang) {
	for i := range r.Problems {
		r.Problems[i].Localize(lang)
	}
	for i := range r.Notes {
		r.Notes[i].Localize(lang)
	}
}

// Ignored counts the resources of a type that an import did not use.
type Ignored struct {
	ResourceType string `json:"resource_type"`
	Count        int    `json:"count"`
}

// CSVHeader is the required header of a CSV import.
var CSVHeader = []string{"resident_id", "department", "visit_date", "diagnosis_code", "diagnosis_name", "definite"}

// CSVHeaderMRN is the header of a CSV import that also gives the
// institution's MRN and the patient's name and birth date as its record
// has them: a row's resident_id may then be empty (the visit is kept under
// the MRN).
var CSVHeaderMRN = append(append([]string(nil), CSVHeader...), "mrn", "name", "birth_date")

// Query asks for a person's most recent definite visit in a department
// on or before a day (YYYY-MM-DD).
type Query struct {
	ResidentID, Institution, Department, OnOrBefore string
}

// Last is the most recent definite visit of a person in a department.
type Last struct {
	Found         bool
	Date          string
	DiagnosisCode string
}

// Store persists visits.
type Store interface {
	// InsertVisits stores visits in one transaction, skipping those whose
	// external id exists; returns how many were new. The MRNs of the
	// visits are recorded with the patient's name, birth date and sex
	// (those the visits give replace the record's).
	InsertVisits(ctx context.Context, visits []Visit) (int, error)
	// LastDefiniteVisits answers many queries at once, in their order:
	// the visits under the person's resident ID and those under an MRN
	// of the institution linked to it.
	LastDefiniteVisits(ctx context.Context, qs []Query) ([]Last, error)
	// Visits lists a person's visits: those under their resident ID and
	// those under an MRN linked to it.
	Visits(ctx context.Context, residentID string) ([]Visit, error)
	MRNStore
	CreateImport(ctx context.Context, institution, format string, by int64, at time.Time) (int64, error)
	UpdateImport(ctx context.Context, institution string, r *Report, finished time.Time) error
	Import(ctx context.Context, institution string, id int64) (*Report, error)
}
