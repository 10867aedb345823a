// Package r4 is Yunyi's FHIR R4 face on what it already keeps: the
// resources it serves (their JSON shapes, a subset of FHIR R4 4.0.1 with
// only the elements Yunyi fills), the mapping from the directory, schedule,
// visit and prescription domains onto them, the search parameters each
// resource takes, and the CapabilityStatement that lists exactly those.
//
// It imports neither the web nor the database: the handlers in
// internal/web decide who may see what and audit it; this package only
// says what a resource looks like.
package r4

import "encoding/json"

// Element types. Every field is omitted when empty, so a resource holds
// only what Yunyi knows; FHIR forbids empty strings and empty arrays.

// Coding is a code from a code system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a concept as codings and text.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is a business identifier.
type Identifier struct {
	Extension []Extension      `json:"extension,omitempty"`
	Use       string           `json:"use,omitempty"`
	Type      *CodeableConcept `json:"type,omitempty"`
	System    string           `json:"system,omitempty"`
	Value     string           `json:"value,omitempty"`
	Period    *Period          `json:"period,omitempty"`
	Assigner  *Reference       `json:"assigner,omitempty"`
}

// Reference points at another resource.
type Reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

// Period is a time range; either end may be open.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// HumanName is a person's name. Chinese names are kept whole in Text
// (family and given names are not split by Yunyi).
type HumanName struct {
	Use  string `json:"use,omitempty"`
	Text string `json:"text,omitempty"`
}

// ContactPoint is a phone number or other contact.
type ContactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
}

// Quantity is a measured amount.
type Quantity struct {
	Value  *float64 `json:"value,omitempty"`
	Unit   string   `json:"unit,omitempty"`
	System string   `json:"system,omitempty"`
	Code   string   `json:"code,omitempty"`
}

// Money is an amount in a currency.
type Money struct {
	Value    *float64 `json:"value,omitempty"`
	Currency string   `json:"currency,omitempty"`
}

// Extension is additional content defined by Yunyi (or HL7), identified by
// its URL; a complex extension holds extensions.
type Extension struct {
	URL            string      `json:"url"`
	Extension      []Extension `json:"extension,omitempty"`
	ValueBoolean   *bool       `json:"valueBoolean,omitempty"`
	ValueCode      string      `json:"valueCode,omitempty"`
	ValueDateTime  string      `json:"valueDateTime,omitempty"`
	ValueInteger   *int        `json:"valueInteger,omitempty"`
	ValueString    string      `json:"valueString,omitempty"`
	ValueMoney     *Money      `json:"valueMoney,omitempty"`
	ValueReference *Reference  `json:"valueReference,omitempty"`
}

// Meta is a resource's metadata.
type Meta struct {
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
}

// Narrative is a resource's human-readable summary (XHTML).
type Narrative struct {
	Status string `json:"status"`
	Div    string `json:"div"`
}

// --- resources ---

// Patient is a real-name person who is treated (就诊人).
type Patient struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id"`
	Identifier   []Identifier   `json:"identifier,omitempty"`
	Active       *bool          `json:"active,omitempty"`
	Name         []HumanName    `json:"name,omitempty"`
	Telecom      []ContactPoint `json:"telecom,omitempty"`
	Gender       string         `json:"gender,omitempty"`
	BirthDate    string         `json:"birthDate,omitempty"`
}

// RelatedPerson is a guardian (监护人) of a child patient.
type RelatedPerson struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Active       *bool             `json:"active,omitempty"`
	Patient      Reference         `json:"patient"`
	Relationship []CodeableConcept `json:"relationship,omitempty"`
	Name         []HumanName       `json:"name,omitempty"`
	Telecom      []ContactPoint    `json:"telecom,omitempty"`
	Gender       string            `json:"gender,omitempty"`
}

// Qualification is a practitioner's title or licence.
type Qualification struct {
	Identifier []Identifier    `json:"identifier,omitempty"`
	Code       CodeableConcept `json:"code"`
	Period     *Period         `json:"period,omitempty"`
}

// Practitioner is a doctor or pharmacist.
type Practitioner struct {
	ResourceType  string          `json:"resourceType"`
	ID            string          `json:"id"`
	Identifier    []Identifier    `json:"identifier,omitempty"`
	Active        *bool           `json:"active,omitempty"`
	Name          []HumanName     `json:"name,omitempty"`
	Qualification []Qualification `json:"qualification,omitempty"`
}

// PractitionerRole is what a practitioner does at an institution.
type PractitionerRole struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id"`
	Active            *bool             `json:"active,omitempty"`
	Practitioner      *Reference        `json:"practitioner,omitempty"`
	Organization      *Reference        `json:"organization,omitempty"`
	Code              []CodeableConcept `json:"code,omitempty"`
	Specialty         []CodeableConcept `json:"specialty,omitempty"`
	HealthcareService []Reference       `json:"healthcareService,omitempty"`
}

// Organization is an institution (医疗机构).
type Organization struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Extension    []Extension       `json:"extension,omitempty"`
	Identifier   []Identifier      `json:"identifier,omitempty"`
	Active       *bool             `json:"active,omitempty"`
	Type         []CodeableConcept `json:"type,omitempty"`
	Name         string            `json:"name,omitempty"`
	Alias        []string          `json:"alias,omitempty"`
}

// AvailableTime is when a service is offered.
type AvailableTime struct {
	DaysOfWeek []string `json:"daysOfWeek,omitempty"`
	AllDay     *bool    `json:"allDay,omitempty"`
}

// HealthcareService is an entry of a department's catalogue (an online
// follow-up or first-visit service).
type HealthcareService struct {
	ResourceType        string            `json:"resourceType"`
	ID                  string            `json:"id"`
	Extension           []Extension       `json:"extension,omitempty"`
	Identifier          []Identifier      `json:"identifier,omitempty"`
	Active              *bool             `json:"active,omitempty"`
	ProvidedBy          *Reference        `json:"providedBy,omitempty"`
	Category            []CodeableConcept `json:"category,omitempty"`
	Type                []CodeableConcept `json:"type,omitempty"`
	Specialty           []CodeableConcept `json:"specialty,omitempty"`
	Name                string            `json:"name,omitempty"`
	Characteristic      []CodeableConcept `json:"characteristic,omitempty"`
	AppointmentRequired *bool             `json:"appointmentRequired,omitempty"`
	AvailableTime       []AvailableTime   `json:"availableTime,omitempty"`
}

// Schedule is one practitioner's availability for one service: the
// container of its slots.
type Schedule struct {
	ResourceType    string            `json:"resourceType"`
	ID              string            `json:"id"`
	Active          *bool             `json:"active,omitempty"`
	ServiceCategory []CodeableConcept `json:"serviceCategory,omitempty"`
	ServiceType     []CodeableConcept `json:"serviceType,omitempty"`
	Specialty       []CodeableConcept `json:"specialty,omitempty"`
	Actor           []Reference       `json:"actor"`
	PlanningHorizon *Period           `json:"planningHorizon,omitempty"`
	Comment         string            `json:"comment,omitempty"`
}

// Slot is one session of a doctor for a service (号源), with its places.
type Slot struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Extension    []Extension       `json:"extension,omitempty"`
	ServiceType  []CodeableConcept `json:"serviceType,omitempty"`
	Specialty    []CodeableConcept `json:"specialty,omitempty"`
	Schedule     Reference         `json:"schedule"`
	Status       string            `json:"status"`
	Start        string            `json:"start"`
	End          string            `json:"end"`
	Overbooked   *bool             `json:"overbooked,omitempty"`
}

// AppointmentParticipant is who takes part in an appointment.
type AppointmentParticipant struct {
	Type     []CodeableConcept `json:"type,omitempty"`
	Actor    *Reference        `json:"actor,omitempty"`
	Required string            `json:"required,omitempty"`
	Status   string            `json:"status"`
}

// Appointment is a booking (预约挂号), or a place $find proposes.
type Appointment struct {
	ResourceType      string                   `json:"resourceType"`
	ID                string                   `json:"id,omitempty"`
	Extension         []Extension              `json:"extension,omitempty"`
	Identifier        []Identifier             `json:"identifier,omitempty"`
	Status            string                   `json:"status"`
	CancelationReason *CodeableConcept         `json:"cancelationReason,omitempty"`
	ServiceCategory   []CodeableConcept        `json:"serviceCategory,omitempty"`
	ServiceType       []CodeableConcept        `json:"serviceType,omitempty"`
	Specialty         []CodeableConcept        `json:"specialty,omitempty"`
	AppointmentType   *CodeableConcept         `json:"appointmentType,omitempty"`
	Start             string                   `json:"start,omitempty"`
	End               string                   `json:"end,omitempty"`
	MinutesDuration   int                      `json:"minutesDuration,omitempty"`
	Slot              []Reference              `json:"slot,omitempty"`
	Created           string                   `json:"created,omitempty"`
	Participant       []AppointmentParticipant `json:"participant"`
}

// EncounterParticipant is a practitioner in an encounter.
type EncounterParticipant struct {
	Type       []CodeableConcept `json:"type,omitempty"`
	Individual *Reference        `json:"individual,omitempty"`
}

// EncounterDiagnosis is a diagnosis of an encounter.
type EncounterDiagnosis struct {
	Condition Reference `json:"condition"`
	Rank      int       `json:"rank,omitempty"`
}

// Encounter is the online visit of a booked appointment.
type Encounter struct {
	ResourceType    string                 `json:"resourceType"`
	ID              string                 `json:"id"`
	Extension       []Extension            `json:"extension,omitempty"`
	Status          string                 `json:"status"`
	Class           Coding                 `json:"class"`
	Type            []CodeableConcept      `json:"type,omitempty"`
	ServiceType     *CodeableConcept       `json:"serviceType,omitempty"`
	Subject         *Reference             `json:"subject,omitempty"`
	Participant     []EncounterParticipant `json:"participant,omitempty"`
	Appointment     []Reference            `json:"appointment,omitempty"`
	Period          *Period                `json:"period,omitempty"`
	Diagnosis       []EncounterDiagnosis   `json:"diagnosis,omitempty"`
	ServiceProvider *Reference             `json:"serviceProvider,omitempty"`
}

// Condition is a diagnosis of a visit's signed record (ICD-10).
type Condition struct {
	ResourceType       string            `json:"resourceType"`
	ID                 string            `json:"id"`
	ClinicalStatus     *CodeableConcept  `json:"clinicalStatus,omitempty"`
	VerificationStatus *CodeableConcept  `json:"verificationStatus,omitempty"`
	Category           []CodeableConcept `json:"category,omitempty"`
	Code               *CodeableConcept  `json:"code,omitempty"`
	Subject            Reference         `json:"subject"`
	Encounter          *Reference        `json:"encounter,omitempty"`
	RecordedDate       string            `json:"recordedDate,omitempty"`
	Recorder           *Reference        `json:"recorder,omitempty"`
}

// Repeat is a dosing frequency: Frequency times per Period PeriodUnit.
type Repeat struct {
	Frequency  int      `json:"frequency,omitempty"`
	Period     *float64 `json:"period,omitempty"`
	PeriodUnit string   `json:"periodUnit,omitempty"`
}

// Timing is when a dose is taken.
type Timing struct {
	Repeat *Repeat          `json:"repeat,omitempty"`
	Code   *CodeableConcept `json:"code,omitempty"`
}

// DoseAndRate is the amount of one dose.
type DoseAndRate struct {
	DoseQuantity *Quantity `json:"doseQuantity,omitempty"`
}

// Dosage is how a drug is taken.
type Dosage struct {
	Text         string           `json:"text,omitempty"`
	Timing       *Timing          `json:"timing,omitempty"`
	AsNeeded     *bool            `json:"asNeededBoolean,omitempty"`
	Route        *CodeableConcept `json:"route,omitempty"`
	DoseAndRate  []DoseAndRate    `json:"doseAndRate,omitempty"`
	PatientGuide string           `json:"patientInstruction,omitempty"`
}

// Duration is a length of time.
type Duration = Quantity

// DispenseRequest is what the pharmacy gives.
type DispenseRequest struct {
	ValidityPeriod         *Period   `json:"validityPeriod,omitempty"`
	Quantity               *Quantity `json:"quantity,omitempty"`
	ExpectedSupplyDuration *Duration `json:"expectedSupplyDuration,omitempty"`
}

// Annotation is a note.
type Annotation struct {
	Text string `json:"text"`
}

// MedicationRequest is one line of an e-prescription (电子处方).
type MedicationRequest struct {
	ResourceType              string            `json:"resourceType"`
	ID                        string            `json:"id"`
	Identifier                []Identifier      `json:"identifier,omitempty"`
	Status                    string            `json:"status"`
	Intent                    string            `json:"intent"`
	MedicationCodeableConcept *CodeableConcept  `json:"medicationCodeableConcept,omitempty"`
	Subject                   Reference         `json:"subject"`
	Encounter                 *Reference        `json:"encounter,omitempty"`
	AuthoredOn                string            `json:"authoredOn,omitempty"`
	Requester                 *Reference        `json:"requester,omitempty"`
	ReasonCode                []CodeableConcept `json:"reasonCode,omitempty"`
	GroupIdentifier           *Identifier       `json:"groupIdentifier,omitempty"`
	Note                      []Annotation      `json:"note,omitempty"`
	DosageInstruction         []Dosage          `json:"dosageInstruction,omitempty"`
	DispenseRequest           *DispenseRequest  `json:"dispenseRequest,omitempty"`
}

// --- the exchange: bundles, outcomes, parameters ---

// BundleLink is a paging link of a searchset.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleSearch says why an entry is in a searchset.
type BundleSearch struct {
	Mode string `json:"mode"`
}

// BundleEntry is one resource of a bundle.
type BundleEntry struct {
	FullURL  string        `json:"fullUrl,omitempty"`
	Resource any           `json:"resource,omitempty"`
	Search   *BundleSearch `json:"search,omitempty"`
}

// Bundle is a searchset.
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Meta         *Meta         `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Timestamp    string        `json:"timestamp,omitempty"`
	Total        *int          `json:"total,omitempty"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// Issue is one problem of an OperationOutcome.
type Issue struct {
	Severity    string           `json:"severity"`
	Code        string           `json:"code"`
	Details     *CodeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
	Expression  []string         `json:"expression,omitempty"`
}

// OperationOutcome is how every error is answered.
type OperationOutcome struct {
	ResourceType string    `json:"resourceType"`
	ID           string    `json:"id,omitempty"`
	Text         Narrative `json:"text"`
	Issue        []Issue   `json:"issue"`
}

// Parameter is one parameter of an operation.
type Parameter struct {
	Name            string          `json:"name"`
	ValueBoolean    *bool           `json:"valueBoolean,omitempty"`
	ValueDate       string          `json:"valueDate,omitempty"`
	ValueDateTime   string          `json:"valueDateTime,omitempty"`
	ValueString     string          `json:"valueString,omitempty"`
	ValueCode       string          `json:"valueCode,omitempty"`
	ValueInteger    *int            `json:"valueInteger,omitempty"`
	ValueReference  *Reference      `json:"valueReference,omitempty"`
	ValueCoding     *Coding         `json:"valueCoding,omitempty"`
	ValueIdentifier *Identifier     `json:"valueIdentifier,omitempty"`
	Resource        json.RawMessage `json:"resource,omitempty"`
}

// Parameters is the body of an operation.
type Parameters struct {
	ResourceType string      `json:"resourceType"`
	Parameter    []Parameter `json:"parameter,omitempty"`
}

func ptr[T any](v T) *T { return &v }
