// Package fhir reads FHIR R4 bundles of offline visit history (Synthea's
// output is the model): Patient, Encounter and Condition become history
// visits; what cannot be used is reported by entry, never dropped silently.
package fhir

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/history"
)

// ResidentIDSystem is the identifier system of Chinese resident identity
// numbers on a Patient, as Yunyi documents it.
const ResidentIDSystem = "https://yunyi.dev/fhir/sid/cn-resident-id"

// DepartmentSystem is the coding system of department codes in an
// Encounter's serviceType (the institution's own department codes).
const DepartmentSystem = "https://yunyi.dev/fhir/CodeSystem/department"

type reference struct {
	Reference string `json:"reference"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type concept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text"`
}

type resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	// Patient
	Identifier []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	// Encounter
	Status      string    `json:"status"`
	Subject     reference `json:"subject"`
	ServiceType *concept  `json:"serviceType"`
	Period      struct {
		Start string `json:"start"`
	} `json:"period"`
	ReasonCode []concept `json:"reasonCode"`
	// Condition
	Encounter          reference `json:"encounter"`
	Code               *concept  `json:"code"`
	VerificationStatus *concept  `json:"verificationStatus"`
}

type entry struct {
	FullURL  string   `json:"fullUrl"`
	Resource resource `json:"resource"`
}

// Result of reading a bundle.
type Result struct {
	Visits   []history.Visit
	Index    []int // the bundle entry (1-based) of each visit
	Problems []history.Problem
	Ignored  map[string]int // resource types not used, with counts
	Total    int            // encounters found
}

// ReadBundle parses a Bundle. department, when not empty, is the
// department of every encounter that does not name one; known lists the
// institution's department codes.
func ReadBundle(r io.Reader, institution, department string, known map[string]bool) (*Result, error) {
	var b struct {
		ResourceType string  `json:"resourceType"`
		Entry        []entry `json:"entry"`
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("not a JSON FHIR bundle: %w", err)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("resourceType is %q, want Bundle", b.ResourceType)
	}
	res := &Result{Ignored: map[string]int{}}
	key := func(e entry) string {
		if e.FullURL != "" {
			return e.FullURL
		}
		return e.Resource.ResourceType + "/" + e.Resource.ID
	}
	patients := map[string]string{} // reference → resident id ("" when none)
	type dx struct {
		code, name string
		definite   bool
	}
	diagnoses := map[string][]dx{} // encounter reference → conditions
	for _, e := range b.Entry {
		switch e.Resource.ResourceType {
		case "Patient":
			rid := ""
			for _, id := range e.Resource.Identifier {
				if id.System == ResidentIDSystem {
					rid = strings.ToUpper(strings.TrimSpace(id.Value))
				}
			}
			patients[key(e)] = rid
			patients["Patient/"+e.Resource.ID] = rid
		case "Condition":
			c := e.Resource
			d := dx{definite: c.VerificationStatus == nil || hasCode(c.VerificationStatus, "confirmed")}
			if c.Code != nil {
				d.code, d.name = first(c.Code)
			}
			diagnoses[c.Encounter.Reference] = append(diagnoses[c.Encounter.Reference], d)
		case "Encounter":
		default:
			res.Ignored[e.Resource.ResourceType]++
		}
	}
	for i, e := range b.Entry {
		if e.Resource.ResourceType != "Encounter" {
			continue
		}
		res.Total++
		idx := i + 1
		enc := e.Resource
		fail := func(format string, args ...any) {
			res.Problems = append(res.Problems, history.Problem{Index: idx, Reason: fmt.Sprintf("Encounter %s: ", enc.ID) + fmt.Sprintf(format, args...)})
		}
		rid, ok := patients[enc.Subject.Reference]
		if !ok {
			fail("subject %q is not a Patient of the bundle", enc.Subject.Reference)
			continue
		}
		if rid == "" {
			fail("its Patient has no resident ID identifier (system %s)", ResidentIDSystem)
			continue
		}
		if enc.Status != "" && enc.Status != "finished" {
			fail("status %q, only finished encounters are visits", enc.Status)
			continue
		}
		start, err := time.Parse(time.RFC3339, enc.Period.Start)
		if err != nil {
			if d, err2 := time.Parse(dates.Layout, enc.Period.Start); err2 == nil {
				start, err = d, nil
			}
		}
		if err != nil {
			fail("period.start %q is not a date", enc.Period.Start)
			continue
		}
		dept := department
		if enc.ServiceType != nil {
			for _, c := range enc.ServiceType.Coding {
				if known[c.Code] && (c.System == DepartmentSystem || c.System == "") {
					dept = c.Code
				}
			}
		}
		if dept == "" {
			fail("no department: give serviceType with system %s or the department parameter", DepartmentSystem)
			continue
		}
		v := history.Visit{Institution: institution, Department: dept, ResidentID: rid, Date: start.In(dates.Beijing).Format(dates.Layout),
			Source: "fhir", ExternalID: "fhir:Encounter/" + enc.ID}
		ds := diagnoses[key(e)]
		if len(ds) == 0 {
			ds = diagnoses["Encounter/"+enc.ID]
		}
		sort.SliceStable(ds, func(a, b int) bool { return ds[a].definite && !ds[b].definite })
		if len(ds) > 0 {
			v.DiagnosisCode, v.DiagnosisName, v.Definite = ds[0].code, ds[0].name, ds[0].definite
		} else if len(enc.ReasonCode) > 0 {
			// A reason for the visit is not a confirmed diagnosis.
			v.DiagnosisCode, v.DiagnosisName = first(&enc.ReasonCode[0])
		}
		res.Visits = append(res.Visits, v)
		res.Index = append(res.Index, idx)
	}
	return res, nil
}

func first(c *concept) (code, name string) {
	if len(c.Coding) > 0 {
		code, name = c.Coding[0].Code, c.Coding[0].Display
	}
	if c.Text != "" {
		name = c.Text
	}
	return code, name
}

func hasCode(c *concept, code string) bool {
	for _, x := range c.Coding {
		if x.Code == code {
			return true
		}
	}
	return false
}
