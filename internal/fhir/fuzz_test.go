package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// bundleCodes are the codes of a file refused as a whole.
var bundleCodes = map[string]bool{"fhir_not_object": true, "fhir_not_bundle": true, "fhir_entry_array": true, "json_type": true,
	"json_syntax": true, "json_eof": true, "entry_too_long": true}

// syntheaSeed is a Synthea bundle of the history package's testdata cut
// to its first Patient, Encounters and Conditions (a seed the fuzzer can
// mutate quickly).
func syntheaSeed(f *testing.F, path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	var b struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		f.Fatal(err)
	}
	var keep []json.RawMessage
	count := map[string]int{}
	for _, e := range b.Entry {
		var x struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		}
		json.Unmarshal(e, &x)
		if t := x.Resource.ResourceType; count[t] < map[string]int{"Patient": 1, "Encounter": 3, "Condition": 3, "Observation": 1}[t] {
			count[t]++
			keep = append(keep, e)
		}
	}
	b.Entry = keep
	out, _ := json.Marshal(b)
	return out
}

// fuzzStore keeps an import's visits in memory.
type fuzzStore struct {
	history.Store
	seen   map[string]bool
	visits []history.Visit
}

func (s *fuzzStore) InsertVisits(_ context.Context, vs []history.Visit) (int, error) {
	n := 0
	for _, v := range vs {
		if !s.seen[v.ExternalID] {
			s.seen[v.ExternalID] = true
			s.visits = append(s.visits, v)
			n++
		}
	}
	return n, nil
}

func (s *fuzzStore) LinkMRNs(_ context.Context, ls []history.Link) ([]history.LinkResult, error) {
	out := make([]history.LinkResult, len(ls))
	for i := range out {
		out[i] = history.Linked
	}
	return out, nil
}

// FuzzFHIRImport: whatever a file holds, ReadBundle refuses it with a
// stable code whose texts (both languages) show no Go type or decoder
// message, or reads it: every encounter is a visit or a problem of its
// entry (in entry order), every visit has a person (resident ID or MRN),
// a department and a day; the import of what it read counts every
// encounter once, and writes only visits that pass the import's checks
// and that both stores can keep.
func FuzzFHIRImport(f *testing.F) {
	cond := `{"resource":{"resourceType":"Condition","id":"c1","encounter":{"reference":"urn:uuid:e1"},"verificationStatus":{"coding":[{"code":"confirmed"}]},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"L20.9","display":"名"}]}}}`
	mr := `{"type":{"coding":[{"system":"` + IdentifierTypeSystem + `","code":"MR"}]},"system":"urn:oid:1.2.3","value":"bj-0042"}`
	both := `{"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"p1","identifier":[` + mr + `,{"system":"` + ResidentIDSystem + `","value":"` + strings.ToLower(rid) + `"}],` +
		`"name":[{"use":"old","text":"旧名"},{"use":"official","family":"李","given":["小雨"]}],"birthDate":"1980-05-06","gender":"female"}}`
	for _, s := range []string{
		bundle(patient, enc("e1", ""), cond),
		bundle(both, enc("e1", `,"serviceType":{"coding":[{"system":"`+DepartmentSystem+`","code":"growth"}]}`)),
		bundle(cond, enc("e1", `,"reasonCode":[{"coding":[{"system":"http://snomed.info/sct","code":"1","display":"x"}],"text":"t"}]`), patient),
		bundle(patient, `{"resource":{"resourceType":"Encounter","id":"e4","subject":{"reference":"urn:uuid:nobody"},"period":{"start":"2026-01-01"}}}`),
		bundle(patient, enc("e1", "")[:len(enc("e1", ""))-2]+`,"status":"planned"}}`, `{"resource":{"resourceType":"Observation","id":"o"}}`),
		bundle(`{"resource":{"resourceType":"Patient","id":"p1","identifier":[{"system":"`+ResidentIDSystem+`","value":"a\u0000b"}],"name":[{"text":"\u0000"}]}}`, enc("e1", "")),
		bundle(patient, enc("e1", "")[:len(enc("e1", ""))-2]+`,"period":{"start":"2999-01-01"}}}`),
		`{"resourceType":"Bundle","entry":null}`, `{"entry":[],"resourceType":"Bundle","extra":{"a":[1,{"b":null}]}}`,
		`hello`, `[1,2]`, `{"resourceType":"Patient","id":"x"}`, `{"resourceType":5}`, `{"resourceType":"Bundle","entry":{}}`,
		`{"resourceType":"Bundle" "entry":[]}`, bundle(patient)[:60], `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","name":"李小雨"}}]}`,
	} {
		f.Add([]byte(s))
	}
	matches, _ := filepath.Glob(filepath.Join("..", "history", "testdata", "synthea", "*.json"))
	if len(matches) == 0 {
		f.Fatal("no Synthea bundles in testdata")
	}
	for _, m := range matches {
		f.Add(syntheaSeed(f, m))
	}
	known := map[string]bool{"derm": true, "growth": true}
	now := testclock.Start()
	today := now.In(dates.Beijing).Format(dates.Layout)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := ReadBundle(bytes.NewReader(data), "h1", "derm", known)
		if err != nil {
			var fe *history.FileError
			if !errors.As(err, &fe) || !bundleCodes[fe.Code] {
				t.Fatalf("%v: want a file error of a stable code", err)
			}
			for _, s := range []string{fe.Text(i18n.EN), fe.Text(i18n.ZH)} {
				if strings.Contains(s, "Go ") || strings.Contains(s, "json:") || strings.Contains(s, "unmarshal") || strings.Contains(s, "%!") ||
					strings.Contains(s, "struct") || strings.Contains(s, "import.") || !utf8.ValidString(s) {
					t.Fatalf("%q", s)
				}
			}
			return
		}
		if len(res.Visits) != len(res.Index) || res.Total != len(res.Visits)+len(res.Problems) {
			t.Fatalf("%d encounters, %d visits (%d indexes), %d problems", res.Total, len(res.Visits), len(res.Index), len(res.Problems))
		}
		entries := map[int]bool{}
		for i, idx := range res.Index {
			if idx < 1 || (i > 0 && idx <= res.Index[i-1]) {
				t.Fatalf("indexes %v", res.Index)
			}
			entries[idx] = true
		}
		for i, p := range res.Problems {
			if p.Index < 1 || entries[p.Index] || (i > 0 && p.Index <= res.Problems[i-1].Index) || len(p.Details) != 1 {
				t.Fatalf("problem %+v among %+v, visits at %v", p, res.Problems, res.Index)
			}
		}
		for i, n := range res.Notes {
			if i > 0 && n.Index < res.Notes[i-1].Index {
				t.Fatalf("notes out of order: %+v", res.Notes)
			}
		}
		for _, v := range res.Visits {
			if (v.ResidentID == "" && v.MRN == "") || !known[v.Department] || v.Source != "fhir" || !strings.HasPrefix(v.ExternalID, "fhir:Encounter/") {
				t.Fatalf("%+v", v)
			}
			if _, err := time.Parse(dates.Layout, v.Date); err != nil {
				t.Fatalf("visit of date %q", v.Date)
			}
		}
		st := &fuzzStore{seen: map[string]bool{}}
		im := &history.Importer{Store: st, Institution: "h1", Departments: known, Now: now, Batch: 2, MaxProblems: 4}
		rep := &history.Report{Notes: res.Notes, NotesOmitted: res.NotesOmitted}
		if err := im.Visits(context.Background(), res.Visits, res.Index, res.Problems, rep); err != nil {
			t.Fatal(err)
		}
		if rep.Total != res.Total || rep.Processed != rep.Total || rep.Imported+rep.Duplicates+rep.Failed != rep.Total ||
			len(rep.Problems)+rep.ProblemsOmitted != rep.Failed || rep.Imported != len(st.visits) {
			t.Fatalf("report %+v of %d encounters", rep, res.Total)
		}
		for i, p := range rep.Problems {
			if i > 0 && p.Index < rep.Problems[i-1].Index {
				t.Fatalf("problems out of order: %+v", rep.Problems)
			}
			for _, lang := range []i18n.Lang{i18n.ZH, i18n.EN} {
				p.Localize(lang)
				if strings.Contains(p.Reason, "%!") || p.Reason == "" {
					t.Fatalf("%s: %q", lang, p.Reason)
				}
			}
		}
		for _, v := range st.visits {
			for _, s := range []string{v.Department, v.ResidentID, v.Date, v.DiagnosisCode, v.DiagnosisName, v.ExternalID, v.MRN, v.PatientName,
				v.BirthDate, v.Sex} {
				if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					t.Fatalf("a visit that a store cannot keep was written: %+v", v)
				}
			}
			if v.ResidentID != "" {
				if _, err := identity.ParseResidentID(v.ResidentID, now); err != nil {
					t.Fatalf("written with resident ID %q: %v", v.ResidentID, err)
				}
			} else if !history.ValidMRN(v.MRN) {
				t.Fatalf("written with neither a resident ID nor an MRN: %+v", v)
			}
			if v.Date > today {
				t.Fatalf("written in the future: %+v", v)
			}
		}
	})
}
