package r4

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/policy"
)

// Identifier and code systems. The first two are the ones Yunyi already
// publishes for its FHIR history import (internal/fhir); the others name
// Yunyi's own codes the same way.
const (
	SystemResidentID  = "https://yunyi.dev/fhir/sid/cn-resident-id" // 居民身份证号 (GB 11643)
	SystemMRN         = "https://yunyi.dev/fhir/sid/mrn/"           // + an institution's code: its medical record numbers (病案号)
	SystemDepartment  = "https://yunyi.dev/fhir/CodeSystem/department"
	SystemInstitution = "https://yunyi.dev/fhir/sid/institution"          // an institution's code (bch, ccmc, ...)
	SystemLicence     = "https://yunyi.dev/fhir/sid/practitioner-licence" // 执业证书编码
	SystemService     = "https://yunyi.dev/fhir/CodeSystem/service"       // a service of the catalogue (bch-dermatology-fu)
	SystemSpecialty   = "https://yunyi.dev/fhir/CodeSystem/specialty"     // a specialty within a department (skin, growth)
	SystemServiceKind = "https://yunyi.dev/fhir/CodeSystem/service-kind"  // first_visit, follow_up
	SystemTitle       = "https://yunyi.dev/fhir/CodeSystem/practitioner-title"
	SystemDrug        = "https://yunyi.dev/fhir/CodeSystem/drug"  // the drug catalogue's codes
	SystemRx          = "https://yunyi.dev/fhir/sid/prescription" // a prescription (all its lines)
	SystemAppointment = "https://yunyi.dev/fhir/sid/appointment"  // an appointment's id
	SystemError       = "https://yunyi.dev/fhir/CodeSystem/error" // Yunyi's stable error codes (the JSON API's error.code)
	SystemRule        = "https://yunyi.dev/fhir/CodeSystem/booking-rule"
	SystemQuestion    = "https://yunyi.dev/fhir/CodeSystem/screening-question"

	SystemICD10           = "http://hl7.org/fhir/sid/icd-10"
	SystemIdentifierType  = "http://terminology.hl7.org/CodeSystem/v2-0203" // MR: a medical record number
	SystemRoleCode        = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	SystemActCode         = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	SystemParticipantType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	SystemPractitionerRol = "http://terminology.hl7.org/CodeSystem/practitioner-role"
	SystemConditionClin   = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	SystemConditionVer    = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	SystemConditionCat    = "http://terminology.hl7.org/CodeSystem/condition-category"
	SystemOrgType         = "http://terminology.hl7.org/CodeSystem/organization-type"
	SystemUCUM            = "http://unitsofmeasure.org"
)

// Extensions Yunyi defines, and the one of HL7's it uses.
const (
	ExtScreening   = "https://yunyi.dev/fhir/StructureDefinition/screening-answers" // the four pre-booking questions (S-4), one boolean sub-extension each
	ExtHoldExpires = "https://yunyi.dev/fhir/StructureDefinition/hold-expires"      // until when a pending appointment's place is held
	ExtNumber      = "https://yunyi.dev/fhir/StructureDefinition/queue-number"      // 第 N 号 in the session
	ExtCapacity    = "https://yunyi.dev/fhir/StructureDefinition/slot-capacity"     // places of a session
	ExtRemaining   = "https://yunyi.dev/fhir/StructureDefinition/slot-remaining"    // places still free
	ExtPrice       = "https://yunyi.dev/fhir/StructureDefinition/service-price"     // a service's fee
	ExtQualified   = "https://yunyi.dev/fhir/StructureDefinition/internet-diagnosis-qualification"
	ExtVisitState  = "https://yunyi.dev/fhir/StructureDefinition/visit-state" // Yunyi's own state of the visit
	ExtAbsent      = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
)

var idRe = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// ValidID reports whether s is a FHIR logical id.
func ValidID(s string) bool { return idRe.MatchString(s) }

// ParseInt reads a numeric id; ok is false for anything else.
func ParseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == s
}

// ScheduleID names the Schedule of a practitioner's sessions of a service:
// "<service>.<practitioner>" (service codes hold no dot).
func ScheduleID(service string, practitioner int64) string {
	return service + "." + strconv.FormatInt(practitioner, 10)
}

// ParseScheduleID reads a ScheduleID.
func ParseScheduleID(id string) (service string, practitioner int64, ok bool) {
	svc, pr, found := strings.Cut(id, ".")
	if !found || svc == "" {
		return "", 0, false
	}
	n, ok := ParseInt(pr)
	return svc, n, ok
}

// pairID names the n-th part of a numbered object: "<id>-<n>" (a record's
// diagnosis, a prescription's line, a child's guardian).
func pairID(a, b int64) string { return fmt.Sprintf("%d-%d", a, b) }

func parsePair(id string) (int64, int64, bool) {
	x, y, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	a, ok1 := ParseInt(x)
	b, ok2 := ParseInt(y)
	return a, b, ok1 && ok2
}

// ConditionID is the n-th (1-based) diagnosis of a visit's signed record.
func ConditionID(visitID int64, n int) string { return pairID(visitID, int64(n)) }

// ParseConditionID reads a ConditionID.
func ParseConditionID(id string) (visitID int64, n int, ok bool) {
	v, k, ok := parsePair(id)
	return v, int(k), ok
}

// MedicationRequestID is the n-th (1-based) line of a prescription.
func MedicationRequestID(rxID int64, n int) string { return pairID(rxID, int64(n)) }

// ParseMedicationRequestID reads a MedicationRequestID.
func ParseMedicationRequestID(id string) (rxID int64, n int, ok bool) {
	p, k, ok := parsePair(id)
	return p, int(k), ok
}

// RelatedPersonID is a guardian account's link to a child.
func RelatedPersonID(childID, accountID int64) string { return pairID(childID, accountID) }

// ParseRelatedPersonID reads a RelatedPersonID.
func ParseRelatedPersonID(id string) (childID, accountID int64, ok bool) { return parsePair(id) }

// Proposal is a place $find offers: a slot, for a patient, with the answers
// to the pre-booking questions the rules were checked with. It is not
// stored; its id carries it to $hold and $book.
type Proposal struct {
	SlotID, PatientID int64
	Answers           map[string]bool
}

// ID is "proposed-<slot>-<patient>-<answers>", the answers one letter
// (y or n) per question in policy.AnswerKeys order.
func (p Proposal) ID() string {
	var b strings.Builder
	for _, k := range policy.AnswerKeys {
		if p.Answers[k] {
			b.WriteByte('y')
		} else {
			b.WriteByte('n')
		}
	}
	return fmt.Sprintf("proposed-%d-%d-%s", p.SlotID, p.PatientID, b.String())
}

// ParseProposal reads a proposal's id.
func ParseProposal(id string) (Proposal, bool) {
	rest, ok := strings.CutPrefix(id, "proposed-")
	if !ok {
		return Proposal{}, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || len(parts[2]) != len(policy.AnswerKeys) {
		return Proposal{}, false
	}
	slot, ok1 := ParseInt(parts[0])
	patient, ok2 := ParseInt(parts[1])
	if !ok1 || !ok2 {
		return Proposal{}, false
	}
	p := Proposal{SlotID: slot, PatientID: patient, Answers: map[string]bool{}}
	for i, k := range policy.AnswerKeys {
		switch parts[2][i] {
		case 'y':
			p.Answers[k] = true
		case 'n':
			p.Answers[k] = false
		default:
			return Proposal{}, false
		}
	}
	return p, true
}

// Ref is a relative reference "<type>/<id>".
func Ref(typ, id string) *Reference { return &Reference{Reference: typ + "/" + id} }

// RefInt is Ref with a numeric id.
func RefInt(typ string, id int64) *Reference { return Ref(typ, strconv.FormatInt(id, 10)) }

// ParseRef reads a reference to typ: "<typ>/<id>", an absolute URL ending
// so, or a bare id. ok is false for a reference to another type.
func ParseRef(typ, ref string) (string, bool) {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		head, id := ref[:i], ref[i+1:]
		if head != typ && !strings.HasSuffix(head, "/"+typ) {
			return "", false
		}
		ref = id
	}
	return ref, ValidID(ref)
}
