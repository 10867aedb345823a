package fhir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/i18n"
)

const rid = "11010819800506002X"

func bundle(entries ...string) string {
	return `{"resourceType":"Bundle","type":"collection","meta":{"tag":[{"code":"x"}]},"entry":[` + strings.Join(entries, ",") + `]}`
}

var patient = `{"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"p1","identifier":[{"system":"` + ResidentIDSystem + `","value":"` + rid + `"}]}}`

func enc(id, extra string) string {
	return `{"fullUrl":"urn:uuid:` + id + `","resource":{"resourceType":"Encounter","id":"` + id + `","status":"finished","subject":{"reference":"urn:uuid:p1"},"period":{"start":"2026-10-01T09:00:00+08:00"}` + extra + `}}`
}

// A malformed bundle is refused with its problem in words, where it is,
// and never a Go type or the decoder's own message.
func TestMalformedBundles(t *testing.T) {
	cases := []struct {
		name, body, code string
		en               []string // in the English text
	}{
		{"not JSON", `hello`, "json_syntax", []string{"not valid JSON near byte 1"}},
		{"an array", `[1,2]`, "fhir_not_object", nil},
		{"another resource", `{"resourceType":"Patient","id":"x"}`, "fhir_not_bundle", []string{"Patient"}},
		{"no resourceType", `{"entry":[]}`, "fhir_not_bundle", nil},
		{"resourceType a number", `{"resourceType":5}`, "json_type", []string{"Bundle.resourceType must be a string, but the file has a number"}},
		{"entry an object", `{"resourceType":"Bundle","entry":{}}`, "fhir_entry_array", nil},
		{"period.start a number", bundle(patient, enc("e1", "")[:len(enc("e1", ""))-2]+`,"serviceType":{"coding":[{"code":5}]}}}`), "json_type",
			[]string{"Bundle.entry[1].resource.serviceType.coding.code must be a string, but the file has a number"}},
		{"identifier an object", bundle(`{"resource":{"resourceType":"Patient","identifier":{"system":"x"}}}`), "json_type",
			[]string{"Bundle.entry[0].resource.identifier must be an array, but the file has an object"}},
		{"subject a string", bundle(`{"resource":{"resourceType":"Encounter","subject":"Patient/1"}}`), "json_type",
			[]string{"Bundle.entry[0].resource.subject must be an object, but the file has a string"}},
		{"cut short", bundle(patient)[:60], "json_eof", nil},
		{"a missing comma", `{"resourceType":"Bundle" "entry":[]}`, "json_syntax", []string{"near byte 25"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadBundle(strings.NewReader(c.body), "h1", "derm", map[string]bool{"derm": true})
			var fe *history.FileError
			if !errors.As(err, &fe) || fe.Code != c.code {
				t.Fatalf("%v, want %s", err, c.code)
			}
			en, zh := fe.Text(i18n.EN), fe.Text(i18n.ZH)
			for _, s := range []string{en, zh} {
				if strings.Contains(s, "Go ") || strings.Contains(s, "json:") || strings.Contains(s, "unmarshal") || strings.Contains(s, "%!") ||
					strings.Contains(s, "struct") || strings.Contains(s, "import.") {
					t.Fatalf("%q", s)
				}
			}
			for _, want := range c.en {
				if !strings.Contains(en, want) {
					t.Fatalf("%q, want %q in it", en, want)
				}
			}
		})
	}
}

// Encounters become visits with their Patient's resident ID and their
// Condition's ICD-10 code, whatever the order of the entries; a Condition
// coded only in SNOMED CT keeps its name without a code; what cannot be
// used is a problem of its entry.
func TestReadBundle(t *testing.T) {
	cond := func(id, enc, system, code string) string {
		return `{"resource":{"resourceType":"Condition","id":"` + id + `","encounter":{"reference":"urn:uuid:` + enc + `"},"verificationStatus":{"coding":[{"code":"confirmed"}]},"code":{"coding":[{"system":"` + system + `","code":"` + code + `","display":"名"}]}}}`
	}
	body := bundle(
		enc("e1", ""),
		cond("c1", "e1", "http://hl7.org/fhir/sid/icd-10", "L20.9"),
		enc("e2", `,"serviceType":{"coding":[{"system":"`+DepartmentSystem+`","code":"growth"}]}`),
		cond("c2", "e2", "http://snomed.info/sct", "232353008"),
		`{"resource":{"resourceType":"Observation","id":"o"}}`,
		enc("e3", "")[:len(enc("e3", ""))-2]+`,"status":"planned"}}`,
		`{"resource":{"resourceType":"Encounter","id":"e4","subject":{"reference":"urn:uuid:nobody"},"period":{"start":"2026-01-01"}}}`,
		patient,
	)
	res, err := ReadBundle(strings.NewReader(body), "h1", "derm", map[string]bool{"derm": true, "growth": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Visits) != 2 || res.Total != 4 || res.Ignored["Observation"] != 1 {
		t.Fatalf("%+v", res)
	}
	v1, v2 := res.Visits[0], res.Visits[1]
	if v1.ResidentID != rid || v1.Department != "derm" || v1.DiagnosisCode != "L20.9" || !v1.Definite || v1.Date != "2026-10-01" || res.Index[0] != 1 {
		t.Fatalf("%+v", v1)
	}
	if v2.Department != "growth" || v2.DiagnosisCode != "" || v2.DiagnosisName != "名" || res.Index[1] != 3 {
		t.Fatalf("%+v", v2)
	}
	if len(res.Problems) != 2 || res.Problems[0].Index != 6 || res.Problems[0].Details[0].Code != "fhir_status" || res.Problems[1].Details[0].Code != "fhir_subject" {
		t.Fatalf("%+v", res.Problems)
	}
}

// An entry over history.MaxRecord is refused before it is held.
func TestBundleEntryTooLong(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"`),
		strings.NewReader(strings.Repeat("x", 3<<20)), strings.NewReader(`"}}]}`))
	_, err := ReadBundle(r, "h1", "", nil)
	var fe *history.FileError
	if !errors.As(err, &fe) || fe.Code != "entry_too_long" || !strings.Contains(fe.Text(i18n.EN), "entry[0]") {
		t.Fatalf("%v", err)
	}
}

// syntheaFile opens a Synthea bundle kept in the history package's
// testdata (README there: source and licence).
func syntheaFile(t *testing.T, name string) *os.File {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join("..", "history", "testdata", "synthea", name+"_*.json"))
	if len(matches) != 1 {
		t.Fatalf("testdata: %s: %v", name, matches)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Synthea's Patients carry no resident ID: their encounters become visits
// under the medical record number (the identifier of type MR), with the
// patient's name, birth date and sex as the record gives them; a
// Condition coded in SNOMED CT keeps its name, without a code, and is
// noted as not mapped; resources that are not visits are counted.
func TestReadSyntheaUnderMRN(t *testing.T) {
	res, err := ReadBundle(syntheaFile(t, "Clemente_Kreiger"), "h1", "derm", map[string]bool{"derm": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Visits) != 3 || res.Total != 3 || len(res.Problems) != 0 || res.Ignored["Observation"] != 48 || res.Ignored["Claim"] != 3 {
		t.Fatalf("%+v", res)
	}
	definite := 0
	for _, v := range res.Visits {
		if v.ResidentID != "" || v.MRN != "1484A42D-0EAF-4654-9CBF-6B050A5CD73B" || v.PatientName != "Clemente Kreiger" || v.BirthDate != "1984-07-02" ||
			v.Sex != "male" || v.Department != "derm" || v.DiagnosisCode != "" {
			t.Fatalf("%+v", v)
		}
		if v.Definite {
			definite++
			if v.Date != "2018-09-17" || v.DiagnosisName != "Body mass index 30+ - obesity (finding)" {
				t.Fatalf("%+v", v)
			}
		}
	}
	if definite != 1 {
		t.Fatalf("%d definite visits", definite)
	}
	if len(res.Notes) != 1 || res.Notes[0].Details[0].Code != "fhir_dx_unmapped" ||
		!strings.Contains(res.Notes[0].Reason, "SNOMED CT 162864005") || !strings.Contains(res.Notes[0].Reason, "no ICD-10 mapping") {
		t.Fatalf("%+v", res.Notes)
	}
	// An Encounter's reason coded in SNOMED CT (no Condition) is noted too.
	res, err = ReadBundle(syntheaFile(t, "Buster_Hoeger"), "h1", "derm", map[string]bool{"derm": true})
	if err != nil || len(res.Visits) != 6 || len(res.Notes) != 3 {
		t.Fatalf("%v %+v", err, res)
	}
}

// A Patient with both a resident ID and an MRN gives both to its visits
// (the import links them); one with neither is a problem of each of its
// encounters; a name is written family first in Chinese, and a partial
// birth date is not kept.
func TestReadBundlePatientKeys(t *testing.T) {
	mr := `{"type":{"coding":[{"system":"` + IdentifierTypeSystem + `","code":"MR"}]},"system":"urn:oid:1.2.3","value":"bj-0042"}`
	both := `{"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"p1","identifier":[` + mr + `,{"system":"` + ResidentIDSystem + `","value":"` + strings.ToLower(rid) + `"}],` +
		`"name":[{"use":"old","text":"旧名"},{"use":"official","family":"李","given":["小雨"]}],"birthDate":"1980-05-06","gender":"female"}}`
	res, err := ReadBundle(strings.NewReader(bundle(both, enc("e1", ""))), "h1", "derm", map[string]bool{"derm": true})
	if err != nil || len(res.Visits) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	if v := res.Visits[0]; v.ResidentID != rid || v.MRN != "BJ-0042" || v.PatientName != "李小雨" || v.BirthDate != "1980-05-06" || v.Sex != "female" {
		t.Fatalf("%+v", v)
	}
	// Another system's MR identifier counts; an untyped identifier does not.
	untyped := `{"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"p1","identifier":[{"system":"https://github.com/synthetichealth/synthea","value":"x"}],"birthDate":"1980"}}`
	res, err = ReadBundle(strings.NewReader(bundle(untyped, enc("e1", ""))), "h1", "derm", map[string]bool{"derm": true})
	if err != nil || len(res.Visits) != 0 || len(res.Problems) != 1 || res.Problems[0].Details[0].Code != "fhir_no_resident_id" {
		t.Fatalf("%v %+v", err, res)
	}
	onlyMR := `{"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"p1","identifier":[` + mr + `],"name":[{"family":"Kreiger","given":["Clemente"]}],"birthDate":"1984"}}`
	res, err = ReadBundle(strings.NewReader(bundle(onlyMR, enc("e1", ""))), "h1", "derm", map[string]bool{"derm": true})
	if err != nil || len(res.Visits) != 1 || res.Visits[0].PatientName != "Clemente Kreiger" || res.Visits[0].BirthDate != "" {
		t.Fatalf("%v %+v", err, res)
	}
	// A Patient's name of the wrong type is the file's problem, where it is.
	_, err = ReadBundle(strings.NewReader(bundle(`{"resource":{"resourceType":"Patient","name":"李小雨"}}`)), "h1", "derm", nil)
	var fe *history.FileError
	if !errors.As(err, &fe) || fe.Code != "json_type" || !strings.Contains(fe.Text(i18n.EN), "entry[0].resource.name") {
		t.Fatalf("%v", err)
	}
}

// A visit keeps one diagnosis (a confirmed one first): the others of its
// encounter are noted with their codes; a Condition of no encounter of
// the bundle is noted, not dropped.
func TestReadBundleDiagnosesNoted(t *testing.T) {
	cond := func(id, enc, status, system, code, name string) string {
		return `{"resource":{"resourceType":"Condition","id":"` + id + `","encounter":{"reference":"urn:uuid:` + enc + `"},"verificationStatus":{"coding":[{"code":"` +
			status + `"}]},"code":{"coding":[{"system":"` + system + `","code":"` + code + `","display":"` + name + `"}]}}}`
	}
	body := bundle(patient, enc("e1", ""),
		cond("c1", "e1", "provisional", "http://snomed.info/sct", "84757009", "Epilepsy"),
		cond("c2", "e1", "confirmed", "http://hl7.org/fhir/sid/icd-10", "G40.9", "癫痫"),
		cond("c3", "e1", "confirmed", "http://snomed.info/sct", "128613002", "Seizure disorder"),
		cond("c4", "gone", "confirmed", "http://snomed.info/sct", "1", "x"))
	res, err := ReadBundle(strings.NewReader(body), "h1", "derm", map[string]bool{"derm": true})
	if err != nil || len(res.Visits) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	if v := res.Visits[0]; v.DiagnosisCode != "G40.9" || !v.Definite {
		t.Fatalf("%+v", v)
	}
	var codes []string
	for _, n := range res.Notes {
		codes = append(codes, fmt.Sprintf("%d:%s", n.Index, n.Details[0].Code))
	}
	if fmt.Sprint(codes) != "[2:fhir_dx_more 6:fhir_condition_unused]" || !strings.Contains(res.Notes[0].Reason, "128613002 Seizure disorder") ||
		!strings.Contains(res.Notes[0].Reason, "84757009 Epilepsy") || !strings.Contains(res.Notes[1].Reason, "urn:uuid:gone") {
		t.Fatalf("%v %+v", codes, res.Notes)
	}
}
