// Package fhir reads FHIR R4 bundles of offline visit history (Synthea's
// output is the model): Patient, Encounter and Condition become history
// visits; what cannot be used is reported by entry, never dropped silently.
//
// A Patient is known by its resident ID (identifier system
// ResidentIDSystem) or, without one, by the institution's medical record
// number: the value of its identifier of type MR (v2-0203), whatever its
// system (Synthea writes http://hospital.smarthealthit.org). A Patient with
// both links the MRN to the resident ID.
//
// Diagnoses: a Condition's (or, without one, the Encounter's reason's)
// ICD-10 coding is the visit's diagnosis code. No SNOMED CT to ICD-10 map
// ships with Yunyi (SNOMED International's map is licensed), so a coding
// of another system (Synthea writes SNOMED CT) is kept as the diagnosis's
// name without a code, and noted in the report with its system and code;
// a visit keeps one diagnosis, the others of its encounter are noted, and
// so is a Condition of no encounter of the bundle.
package fhir

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/i18n"
)

// ResidentIDSystem is the identifier system of Chinese resident identity
// numbers on a Patient, as Yunyi documents it.
const ResidentIDSystem = "https://yunyi.dev/fhir/sid/cn-resident-id"

// DepartmentSystem is the coding system of department codes in an
// Encounter's serviceType (the institution's own department codes).
const DepartmentSystem = "https://yunyi.dev/fhir/CodeSystem/department"

// IdentifierTypeSystem is HL7 v2 table 0203 (identifier types), whose
// code MR is the medical record number.
const IdentifierTypeSystem = "http://terminology.hl7.org/CodeSystem/v2-0203"

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
		Type   *concept `json:"type"`
		System string   `json:"system"`
		Value  string   `json:"value"`
	} `json:"identifier"`
	// A Patient's (or Practitioner's) HumanNames, an Organization's
	// string: read for a Patient only.
	Name      json.RawMessage `json:"name"`
	BirthDate string          `json:"birthDate"`
	Gender    string          `json:"gender"`
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
	Index    []int             // the bundle entry (1-based) of each visit
	Problems []history.Problem // in entry order
	Ignored  map[string]int    // resource types not used, with counts
	Total    int               // encounters found
	// Notes are entries taken with a remark (history.Report.Notes), the
	// first history.MaxProblems in entry order; NotesOmitted counts the
	// others.
	Notes        []history.Problem
	NotesOmitted int
}

func (r *Result) note(p history.Problem) {
	if len(r.Notes) < history.MaxProblems {
		p.Localize(i18n.EN)
		r.Notes = append(r.Notes, p)
	} else {
		r.NotesOmitted++
	}
}

// person is what is kept of a Patient.
type person struct {
	rid, mrn, name, birth, sex string
}

type humanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

// nameOf writes a Patient's name: its official (else usual, else first)
// HumanName's text, else family and given names: without a space between
// them in Chinese (李小雨), given first otherwise (Clemente Kreiger).
func nameOf(names []humanName) string {
	if len(names) == 0 {
		return ""
	}
	n := names[0]
	for _, use := range []string{"usual", "official"} {
		for _, x := range names {
			if x.Use == use {
				n = x
			}
		}
	}
	if t := strings.TrimSpace(n.Text); t != "" {
		return shown(t)
	}
	given := strings.TrimSpace(strings.Join(n.Given, " "))
	family := strings.TrimSpace(n.Family)
	for _, r := range family + given {
		if unicode.Is(unicode.Han, r) {
			return shown(family + given)
		}
	}
	return shown(strings.TrimSpace(given + " " + family))
}

// encounter is what is kept of an Encounter until the bundle is read (its
// Patient and Conditions may come after it).
type encounter struct {
	idx                    int
	id, key, status, start string
	subject, dept          string
	reasonCode, reasonName string
	reasonOther            coding
}

// dx is a Condition of an encounter.
type dx struct {
	idx        int    // its entry
	id         string // the Condition's
	code, name string
	definite   bool
	other      coding // its coding when none is ICD-10 (unmapped)
}

// ReadBundle parses a Bundle. department, when not empty, is the
// department of every encounter that does not name one; known lists the
// institution's department codes.
//
// The bundle is read entry by entry with a streaming decoder: what is
// kept is a few strings of each Patient, Encounter and Condition, never
// the document. A bundle that is not one (malformed JSON, a value of the
// wrong type, another resource) is a *history.FileError naming the
// problem and where it is; an error of r (a size limit) is returned as it
// is.
func ReadBundle(r io.Reader, institution, department string, known map[string]bool) (*Result, error) {
	lim := &history.RecordLimit{R: r, Max: history.MaxRecord}
	dec := json.NewDecoder(lim)
	lim.Offset = dec.InputOffset
	res := &Result{Ignored: map[string]int{}}
	patients := map[string]person{} // reference → the patient
	diagnoses := map[string][]dx{}  // encounter reference → conditions
	var encounters []encounter
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err, "")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, history.FileErr("fhir_not_object")
	}
	resourceType := ""
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err, "")
		}
		switch key, _ := tok.(string); key {
		case "resourceType":
			if err := dec.Decode(&resourceType); err != nil {
				return nil, jsonError(err, "resourceType")
			}
			if resourceType != "Bundle" {
				return nil, history.FileErr("fhir_not_bundle", shown(resourceType))
			}
		case "entry":
			tok, err := dec.Token()
			if err != nil {
				return nil, jsonError(err, "entry")
			}
			if tok == nil {
				continue // "entry": null
			}
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return nil, history.FileErr("fhir_entry_array")
			}
			for i := 1; dec.More(); i++ {
				var e entry
				if err := dec.Decode(&e); err != nil {
					if errors.Is(err, history.ErrRecordTooLong) {
						return nil, history.FileErr("entry_too_long", fmt.Sprintf("entry[%d]", i-1), strconv.Itoa(history.MaxRecord>>20))
					}
					return nil, jsonError(err, fmt.Sprintf("entry[%d]", i-1))
				}
				key := e.FullURL
				if key == "" {
					key = e.Resource.ResourceType + "/" + e.Resource.ID
				}
				c := &e.Resource
				switch c.ResourceType {
				case "Patient":
					var p person
					for _, id := range c.Identifier {
						switch {
						case id.System == ResidentIDSystem:
							p.rid = strings.ToUpper(strings.TrimSpace(id.Value))
						case p.mrn == "" && id.Type != nil && hasCoding(id.Type, IdentifierTypeSystem, "MR"):
							p.mrn = history.NormMRN(id.Value)
						}
					}
					if len(c.Name) > 0 && string(c.Name) != "null" {
						var names []humanName
						if err := json.Unmarshal(c.Name, &names); err != nil {
							return nil, jsonError(err, fmt.Sprintf("entry[%d].resource.name", i-1))
						}
						p.name = nameOf(names)
					}
					// A full date only: a partial one (1984, 1984-07)
					// cannot be checked against a card holder's.
					if _, err := time.Parse(dates.Layout, c.BirthDate); err == nil {
						p.birth = c.BirthDate
					}
					p.sex = shown(c.Gender)
					patients[key] = p
					patients["Patient/"+c.ID] = p
				case "Condition":
					d := dx{idx: i, id: c.ID, definite: c.VerificationStatus == nil || hasCode(c.VerificationStatus, "confirmed")}
					if c.Code != nil {
						d.code, d.name, d.other = diagnosis(c.Code)
					}
					diagnoses[c.Encounter.Reference] = append(diagnoses[c.Encounter.Reference], d)
				case "Encounter":
					enc := encounter{idx: i, id: c.ID, key: key, status: c.Status, start: c.Period.Start, subject: c.Subject.Reference, dept: department}
					if c.ServiceType != nil {
						for _, cd := range c.ServiceType.Coding {
							if known[cd.Code] && (cd.System == DepartmentSystem || cd.System == "") {
								enc.dept = cd.Code
							}
						}
					}
					if len(c.ReasonCode) > 0 {
						enc.reasonCode, enc.reasonName, enc.reasonOther = diagnosis(&c.ReasonCode[0])
					}
					encounters = append(encounters, enc)
				default:
					res.Ignored[shown(c.ResourceType)]++
				}
			}
			if _, err := dec.Token(); err != nil { // ]
				return nil, jsonError(err, "entry")
			}
		default:
			if err := skip(dec); err != nil {
				return nil, jsonError(err, key)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, jsonError(err, "")
	}
	if resourceType != "Bundle" {
		return nil, history.FileErr("fhir_not_bundle", shown(resourceType))
	}
	used := map[string]bool{} // encounter references whose Conditions were read
	for _, enc := range encounters {
		res.Total++
		used[enc.key], used["Encounter/"+enc.id] = true, true
		fail := func(code string, args ...string) {
			res.Problems = append(res.Problems, history.Problem{Index: enc.idx, Details: []history.Detail{{Code: code, Args: append([]string{shown(enc.id)}, args...)}}})
		}
		pt, ok := patients[enc.subject]
		if !ok {
			fail("fhir_subject", shown(enc.subject))
			continue
		}
		if pt.rid == "" && pt.mrn == "" {
			fail("fhir_no_resident_id", ResidentIDSystem)
			continue
		}
		if enc.status != "" && enc.status != "finished" {
			fail("fhir_status", shown(enc.status))
			continue
		}
		start, err := time.Parse(time.RFC3339, enc.start)
		if err != nil {
			if d, err2 := time.Parse(dates.Layout, enc.start); err2 == nil {
				start, err = d, nil
			}
		}
		if err != nil {
			fail("fhir_start", shown(enc.start))
			continue
		}
		if enc.dept == "" {
			fail("fhir_no_department", DepartmentSystem)
			continue
		}
		v := history.Visit{Institution: institution, Department: enc.dept, ResidentID: pt.rid, MRN: pt.mrn, PatientName: pt.name, BirthDate: pt.birth,
			Sex: pt.sex, Date: start.In(dates.Beijing).Format(dates.Layout), Source: "fhir", ExternalID: "fhir:Encounter/" + enc.id}
		ds := diagnoses[enc.key]
		if len(ds) == 0 {
			ds = diagnoses["Encounter/"+enc.id]
		}
		sort.SliceStable(ds, func(a, b int) bool { return ds[a].definite && !ds[b].definite })
		note := func(code string, args ...string) {
			res.note(history.Problem{Index: enc.idx, Details: []history.Detail{{Code: code, Args: append([]string{shown(enc.id)}, args...)}}})
		}
		var other coding
		if len(ds) > 0 {
			v.DiagnosisCode, v.DiagnosisName, v.Definite, other = ds[0].code, ds[0].name, ds[0].definite, ds[0].other
		} else {
			// A reason for the visit is not a confirmed diagnosis.
			v.DiagnosisCode, v.DiagnosisName, other = enc.reasonCode, enc.reasonName, enc.reasonOther
		}
		if v.DiagnosisCode == "" && other.Code != "" {
			note("fhir_dx_unmapped", systemName(other.System), shown(other.Code), shown(v.DiagnosisName))
		}
		if len(ds) > 1 {
			names := make([]string, 0, len(ds)-1)
			for _, d := range ds[1:] {
				names = append(names, shown(cmp.Or(d.code, d.other.Code)+" "+d.name))
			}
			note("fhir_dx_more", strconv.Itoa(len(ds)-1), shown(v.DiagnosisName), strings.Join(names, "; "))
		}
		res.Visits = append(res.Visits, v)
		res.Index = append(res.Index, enc.idx)
	}
	// Conditions of no encounter of the bundle: not a visit's diagnosis.
	var unused []dx
	for ref, ds := range diagnoses {
		if !used[ref] {
			for _, d := range ds {
				d.name = ref // the reference, for the note
				unused = append(unused, d)
			}
		}
	}
	sort.Slice(unused, func(a, b int) bool { return unused[a].idx < unused[b].idx })
	for _, d := range unused {
		res.note(history.Problem{Index: d.idx, Details: []history.Detail{{Code: "fhir_condition_unused", Args: []string{shown(d.id), shown(d.name)}}}})
	}
	sort.SliceStable(res.Notes, func(a, b int) bool { return res.Notes[a].Index < res.Notes[b].Index })
	return res, nil
}

// systemName names a coding system for people.
func systemName(system string) string {
	switch strings.TrimRight(system, "/") {
	case "http://snomed.info/sct":
		return "SNOMED CT"
	case "http://loinc.org":
		return "LOINC"
	case "":
		return "?"
	}
	return shown(system)
}

// isICD10 tells the coding systems of ICD-10 (and its national editions);
// a coding without a system is taken as one.
func isICD10(system string) bool {
	s := strings.ToLower(system)
	return s == "" || strings.Contains(s, "icd-10") || strings.Contains(s, "icd10") || s == "urn:oid:2.16.840.1.113883.6.3"
}

// diagnosis is the ICD-10 code and the name of a coded concept. A coding
// of another system (SNOMED CT, as Synthea writes) is not a diagnosis
// code here: its name is kept, without a code, and the coding is returned
// as other (to be noted as not mapped).
func diagnosis(c *concept) (code, name string, other coding) {
	for _, x := range c.Coding {
		if isICD10(x.System) && x.Code != "" {
			code, name = x.Code, x.Display
			break
		}
	}
	if code == "" {
		for _, x := range c.Coding {
			if x.Code != "" {
				other = x
				break
			}
		}
	}
	if name == "" && len(c.Coding) > 0 {
		name = c.Coding[0].Display
	}
	if c.Text != "" {
		name = c.Text
	}
	return code, name, other
}

// skip reads past one JSON value without keeping it.
func skip(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// shown bounds a value of the file echoed in a message.
func shown(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// jsonError says in words what is wrong with the JSON at path (a FHIRPath
// into the Bundle): no Go type, no decoder's message. Errors of the
// reader are returned as they are.
func jsonError(err error, path string) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		at := "Bundle"
		if path != "" {
			at += "." + path
		}
		if ute.Field != "" {
			at += "." + ute.Field
		}
		got, _, _ := strings.Cut(ute.Value, " ")
		return &history.FileError{Detail: history.Detail{Code: "json_type", Args: []string{at}, Refs: []string{"import.json." + kind(ute.Type), "import.json." + jsonKind(got)}}}
	case errors.As(err, &se):
		return history.FileErr("json_syntax", strconv.FormatInt(se.Offset, 10))
	case errors.Is(err, history.ErrRecordTooLong):
		return history.FileErr("entry_too_long", path, strconv.Itoa(history.MaxRecord>>20))
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return history.FileErr("json_eof")
	}
	return err
}

// kind names what a Go type is in JSON.
func kind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16,
		reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	}
	return "value"
}

// jsonKind is the name of a JSON value's kind as the decoder reports it.
func jsonKind(v string) string {
	switch v {
	case "string", "number", "bool", "object", "array":
		return v
	}
	return "value"
}

// hasCoding says whether c has the code of the system.
func hasCoding(c *concept, system, code string) bool {
	for _, x := range c.Coding {
		if x.System == system && x.Code == code {
			return true
		}
	}
	return false
}

func hasCode(c *concept, code string) bool {
	for _, x := range c.Coding {
		if x.Code == code {
			return true
		}
	}
	return false
}
