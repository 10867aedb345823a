// Package fhirtest checks, in tests, what Yunyi's FHIR API writes: against
// the official FHIR R4 JSON schema (../testdata/fhir.schema.json, see its
// SOURCE.md) with santhosh-tekuri/jsonschema, and by a round trip through
// a real FHIR R4 model library (samply/golang-fhir-models): each resource
// is read into the library's types (whose code types refuse codes outside
// their value sets) and written back, and nothing may be lost or changed.
package fhirtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	once    sync.Once
	schema  *jsonschema.Schema
	loadErr error
)

// SchemaPath is where the schema is kept.
func SchemaPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "fhir.schema.json")
}

func load() {
	f, err := os.Open(SchemaPath())
	if err != nil {
		loadErr = err
		return
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		loadErr = err
		return
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("http://hl7.org/fhir/json-schema/4.0", doc); err != nil {
		loadErr = err
		return
	}
	schema, loadErr = c.Compile("http://hl7.org/fhir/json-schema/4.0")
}

// Validate checks a FHIR JSON document against the R4 schema.
func Validate(raw []byte) error {
	once.Do(load)
	if loadErr != nil {
		return fmt.Errorf("the FHIR schema: %w", loadErr)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return schema.Validate(inst)
}

// models reads and writes each resource type with the library.
var models = map[string]func([]byte) (any, error){
	"Patient":             func(b []byte) (any, error) { return fhir.UnmarshalPatient(b) },
	"RelatedPerson":       func(b []byte) (any, error) { return fhir.UnmarshalRelatedPerson(b) },
	"Practitioner":        func(b []byte) (any, error) { return fhir.UnmarshalPractitioner(b) },
	"PractitionerRole":    func(b []byte) (any, error) { return fhir.UnmarshalPractitionerRole(b) },
	"Organization":        func(b []byte) (any, error) { return fhir.UnmarshalOrganization(b) },
	"HealthcareService":   func(b []byte) (any, error) { return fhir.UnmarshalHealthcareService(b) },
	"Schedule":            func(b []byte) (any, error) { return fhir.UnmarshalSchedule(b) },
	"Slot":                func(b []byte) (any, error) { return fhir.UnmarshalSlot(b) },
	"Appointment":         func(b []byte) (any, error) { return fhir.UnmarshalAppointment(b) },
	"Encounter":           func(b []byte) (any, error) { return fhir.UnmarshalEncounter(b) },
	"Condition":           func(b []byte) (any, error) { return fhir.UnmarshalCondition(b) },
	"Consent":             func(b []byte) (any, error) { return fhir.UnmarshalConsent(b) },
	"MedicationRequest":   func(b []byte) (any, error) { return fhir.UnmarshalMedicationRequest(b) },
	"OperationOutcome":    func(b []byte) (any, error) { return fhir.UnmarshalOperationOutcome(b) },
	"CapabilityStatement": func(b []byte) (any, error) { return fhir.UnmarshalCapabilityStatement(b) },
	"Parameters":          func(b []byte) (any, error) { return fhir.UnmarshalParameters(b) },
	"Bundle":              func(b []byte) (any, error) { return fhir.UnmarshalBundle(b) },
}

// RoundTrip reads a resource (a Bundle's entries too) into the library's
// model and writes it back; the result must be the same JSON.
func RoundTrip(raw []byte) error {
	var head struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return err
	}
	read, ok := models[head.ResourceType]
	if !ok {
		return fmt.Errorf("no model for %q", head.ResourceType)
	}
	m, err := read(raw)
	if err != nil {
		return fmt.Errorf("%s: the model refuses it: %w", head.ResourceType, err)
	}
	back, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var want, got any
	json.Unmarshal(raw, &want)
	json.Unmarshal(back, &got)
	got = dropEmpty(got)
	if head.ResourceType == "Bundle" {
		// The model keeps entries as raw JSON: they are checked one by one.
		for _, e := range head.Entry {
			if err := RoundTrip(e.Resource); err != nil {
				return err
			}
		}
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("%s changed in a round trip through the model:\nserved %s\nmodel  %s", head.ResourceType, raw, back)
	}
	return nil
}

// dropEmpty removes empty objects the model writes for elements it keeps
// as values rather than pointers (MedicationRequest.medicationReference):
// FHIR has no empty elements, so they say nothing.
func dropEmpty(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = dropEmpty(e)
			if m, ok := e.(map[string]any); ok && len(m) == 0 {
				delete(x, k)
				continue
			}
			x[k] = e
		}
	case []any:
		for i := range x {
			x[i] = dropEmpty(x[i])
		}
	}
	return v
}

// Check fails t unless raw is valid against the schema and survives the
// round trip.
func Check(t testing.TB, raw []byte) {
	t.Helper()
	if err := Validate(raw); err != nil {
		t.Fatalf("not valid FHIR R4: %v\n%s", err, raw)
	}
	if err := RoundTrip(raw); err != nil {
		t.Fatal(err)
	}
}
