// Package history holds the offline visit records that follow-up
// eligibility is decided on (S-3, N-2), and their import from the
// hospitals' systems as CSV or FHIR R4 bundles (package fhir parses those).
package history

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/identity"
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
}

// Problem is an entry that could not be imported.
type Problem struct {
	Index  int    `json:"index"` // 1-based row of a CSV (after the header), or entry of a bundle
	Reason string `json:"reason"`
}

// Report of an import.
type Report struct {
	ID         int64     `json:"id"`
	Status     string    `json:"status"` // running | done | failed
	Format     string    `json:"format"`
	Total      int       `json:"total"`
	Processed  int       `json:"processed"`
	Imported   int       `json:"imported"`
	Duplicates int       `json:"duplicates"`
	Failed     int       `json:"failed"`
	Problems   []Problem `json:"problems"`
	Ignored    []Ignored `json:"ignored,omitempty"` // resources of a bundle that are not visits
}

// Ignored counts the resources of a type that an import did not use.
type Ignored struct {
	ResourceType string `json:"resource_type"`
	Count        int    `json:"count"`
}

// CSVHeader is the required header of a CSV import.
var CSVHeader = []string{"resident_id", "department", "visit_date", "diagnosis_code", "diagnosis_name", "definite"}

// Validate checks a visit; departments are checked against known.
func (v *Visit) Validate(departments map[string]bool, now time.Time) error {
	var problems []string
	if _, err := identity.ParseResidentID(v.ResidentID, now); err != nil {
		problems = append(problems, "resident_id invalid")
	}
	if !departments[v.Department] {
		problems = append(problems, fmt.Sprintf("unknown department %q", v.Department))
	}
	d, err := time.Parse(dates.Layout, v.Date)
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("visit_date %q is not YYYY-MM-DD", v.Date))
	case d.After(now):
		problems = append(problems, "visit_date in the future")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// ParseCSV reads visits from CSV with CSVHeader. Bad rows become problems;
// good rows are returned. A bad header is an error.
func ParseCSV(r io.Reader, institution string) ([]Visit, []Problem, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("no CSV header: %w", err)
	}
	for i := range head {
		head[i] = strings.TrimSpace(strings.TrimPrefix(head[i], "\ufeff"))
	}
	if strings.Join(head, ",") != strings.Join(CSVHeader, ",") {
		return nil, nil, fmt.Errorf("the header must be %s", strings.Join(CSVHeader, ","))
	}
	var visits []Visit
	var problems []Problem
	for i := 1; ; i++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			problems = append(problems, Problem{Index: i, Reason: err.Error()})
			continue
		}
		if len(rec) != len(CSVHeader) {
			problems = append(problems, Problem{Index: i, Reason: fmt.Sprintf("%d fields, want %d", len(rec), len(CSVHeader))})
			continue
		}
		var definite bool
		switch strings.ToLower(strings.TrimSpace(rec[5])) {
		case "1", "true", "yes", "y", "是":
			definite = true
		case "0", "false", "no", "n", "否", "":
		default:
			problems = append(problems, Problem{Index: i, Reason: fmt.Sprintf("definite %q is not true or false", rec[5])})
			continue
		}
		v := Visit{Institution: institution, ResidentID: strings.ToUpper(strings.TrimSpace(rec[0])), Department: strings.TrimSpace(rec[1]),
			Date: strings.TrimSpace(rec[2]), DiagnosisCode: strings.TrimSpace(rec[3]), DiagnosisName: strings.TrimSpace(rec[4]), Definite: definite, Source: "csv"}
		h := sha256.Sum256([]byte(strings.Join([]string{v.ResidentID, v.Department, v.Date, v.DiagnosisCode}, "\x00")))
		v.ExternalID = "csv:" + hex.EncodeToString(h[:12])
		visits = append(visits, v)
	}
	return visits, problems, nil
}

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
	// InsertVisits stores visits, skipping those whose external id exists;
	// returns how many were new.
	InsertVisits(ctx context.Context, visits []Visit) (int, error)
	// LastDefiniteVisits answers many queries at once, in their order.
	LastDefiniteVisits(ctx context.Context, qs []Query) ([]Last, error)
	Visits(ctx context.Context, residentID string) ([]Visit, error)
	CreateImport(ctx context.Context, institution, format string, by int64, at time.Time) (int64, error)
	UpdateImport(ctx context.Context, institution string, r *Report, finished time.Time) error
	Import(ctx context.Context, institution string, id int64) (*Report, error)
}

// ImportChunk is how many visits are written between progress reports.
const ImportChunk = 1000

// Import validates and stores visits of an institution. index gives each
// visit's entry number for problems (nil: position+1); problems found
// while reading are carried in r. progress, when not nil, is called after
// every chunk. Re-importing the same entries changes nothing (they count
// as duplicates).
func Import(ctx context.Context, st Store, r *Report, visits []Visit, index []int, departments map[string]bool, now time.Time, progress func(*Report)) error {
	r.Total = len(visits) + len(r.Problems)
	r.Failed = len(r.Problems)
	r.Processed = r.Failed
	good := make([]Visit, 0, ImportChunk)
	flush := func() error {
		if len(good) == 0 {
			return nil
		}
		n, err := st.InsertVisits(ctx, good)
		if err != nil {
			return err
		}
		r.Imported += n
		r.Duplicates += len(good) - n
		r.Processed += len(good)
		good = good[:0]
		if progress != nil {
			progress(r)
		}
		return nil
	}
	for i, v := range visits {
		idx := i + 1
		if index != nil {
			idx = index[i]
		}
		if err := v.Validate(departments, now); err != nil {
			r.Problems = append(r.Problems, Problem{Index: idx, Reason: err.Error()})
			r.Failed++
			r.Processed++
			continue
		}
		good = append(good, v)
		if len(good) == ImportChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	sort.Slice(r.Problems, func(a, b int) bool { return r.Problems[a].Index < r.Problems[b].Index })
	return nil
}
