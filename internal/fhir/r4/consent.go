package r4

import (
	"strconv"

	"github.com/yunyi-health/yunyi/internal/referral"
)

// ConsentActor is a party of a consent's provision.
type ConsentActor struct {
	Role      CodeableConcept `json:"role"`
	Reference Reference       `json:"reference"`
}

// ConsentProvision is what a consent permits: reads by the grantee of
// the source's records in a period.
type ConsentProvision struct {
	Type   string            `json:"type"`
	Period *Period           `json:"period,omitempty"`
	Actor  []ConsentActor    `json:"actor,omitempty"`
	Action []CodeableConcept `json:"action,omitempty"`
}

// Consent is a patient's (or guardian's) consent to share records with
// another institution (W-4; package referral).
type Consent struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Status       string            `json:"status"`
	Scope        CodeableConcept   `json:"scope"`
	Category     []CodeableConcept `json:"category"`
	Patient      *Reference        `json:"patient,omitempty"`
	DateTime     string            `json:"dateTime,omitempty"`
	PolicyRule   *CodeableConcept  `json:"policyRule,omitempty"`
	Provision    *ConsentProvision `json:"provision,omitempty"`
}

// Code systems of a Consent.
const (
	SystemConsentScope  = "http://terminology.hl7.org/CodeSystem/consentscope"
	SystemLOINC         = "http://loinc.org"
	SystemParticipation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	SystemConsentAction = "http://terminology.hl7.org/CodeSystem/consentaction"
)

// ConsentStatus is active while the consent allows reads now, inactive
// once revoked or out of its period.
func ConsentStatus(active bool) string {
	if active {
		return "active"
	}
	return "inactive"
}

// ConsentOf maps a record-sharing consent: the grantee institution is the
// recipient (IRCP), the source institution, when one, the custodian (CST)
// of the records shared.
func ConsentOf(c *referral.Consent, active bool) *Consent {
	out := &Consent{ResourceType: "Consent", ID: strconv.FormatInt(c.ID, 10), Status: ConsentStatus(active),
		Scope:      concept(SystemConsentScope, "patient-privacy", "Privacy Consent"),
		Category:   concepts(SystemLOINC, "59284-0", "Patient Consent"),
		Patient:    &Reference{Reference: "Patient/" + strconv.FormatInt(c.PatientID, 10), Display: c.PatientName},
		DateTime:   Instant(c.CreatedAt),
		PolicyRule: ptr(concept(SystemActCode, "OPTIN", "opt-in")),
		Provision: &ConsentProvision{Type: "permit", Period: &Period{Start: c.ValidFrom, End: c.ValidTo},
			Action: concepts(SystemConsentAction, "access", "Access"),
			Actor: []ConsentActor{{Role: concept(SystemParticipation, "IRCP", "information recipient"),
				Reference: Reference{Reference: "Organization/" + c.Grantee}}}}}
	if c.Source != "" {
		out.Provision.Actor = append(out.Provision.Actor, ConsentActor{Role: concept(SystemParticipation, "CST", "custodian"),
			Reference: Reference{Reference: "Organization/" + c.Source}})
	}
	return out
}
