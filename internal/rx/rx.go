// Package rx is the e-prescription (电子处方): the drug catalogue and each
// institution's formulary, prescribing by the visit's doctor (N-9), safety
// rules as data (CEL over the prescription's facts, R-2, N-4, N-10, N-14),
// pharmacist review (审方, R-1, N-11, N-12), validity (N-13) and the
// signatures of the doctor and the pharmacist (SM2 over SM3).
//
// It imports neither the web nor the database: its Store is implemented in
// sqlstore.
package rx

import (
	"time"
)

// ControlClass is a drug's control class under Chinese drug law.
type ControlClass string

// Control classes. Narcotic and psychotropic drugs, medical toxic drugs,
// radioactive drugs and precursor chemicals are under special management
// and never prescribed online (R-2, N-10); 宣武医院 adds other high-risk
// and special-management drugs.
const (
	Narcotic      ControlClass = "narcotic"       // 麻醉药品
	Psychotropic1 ControlClass = "psychotropic_1" // 第一类精神药品
	Psychotropic2 ControlClass = "psychotropic_2" // 第二类精神药品
	Toxic         ControlClass = "toxic"          // 医疗用毒性药品
	Radioactive   ControlClass = "radioactive"    // 放射性药品
	Precursor     ControlClass = "precursor"      // 药品类易制毒化学品
	HighRisk      ControlClass = "high_risk"      // 其他高警示药品
	Special       ControlClass = "special"        // 其他特殊管理药品
	NoControl     ControlClass = "none"
)

// ControlClasses lists every class, in the order the catalogue documents them.
var ControlClasses = []ControlClass{Narcotic, Psychotropic1, Psychotropic2, Toxic, Radioactive, Precursor, HighRisk, Special, NoControl}

// Drug is one entry of the catalogue: one product form and strength.
type Drug struct {
	Code        string       `json:"code"`     // stable identifier, e.g. "cetirizine-oral-solution-1mg-ml"
	Generic     string       `json:"generic"`  // English generic name (INN), e.g. "cetirizine"
	NameZH      string       `json:"name_zh"`  // Chinese generic name, e.g. 西替利嗪
	Initials    string       `json:"initials"` // pinyin initials of NameZH, lower case, e.g. "xtlq"
	Form        string       `json:"form"`     // dosage form in Chinese, e.g. 口服溶液
	Strength    string       `json:"strength"` // e.g. "10 mg", "1 mg/ml"
	Route       string       `json:"route"`    // oral | topical | inhaled | nasal | ophthalmic | rectal | injection | transdermal | sublingual
	Unit        string       `json:"unit"`     // dispensing unit in Chinese: 盒, 瓶, 支
	DoseUnit    string       `json:"dose_unit"`
	Ingredients []string     `json:"ingredients"` // lower-case INN of each active ingredient (duplicate and interaction checks)
	Control     ControlClass `json:"control"`
	Insurance   string       `json:"insurance,omitempty"` // 甲 | 乙 | 丙 (national insurance catalogue category), "" when not listed
	// PaedMin and PaedMax are the paediatric daily dose range in DoseUnit
	// per kg of body weight per day; both 0 when the catalogue has none.
	PaedMin float64  `json:"paed_min_per_kg_day,omitempty"`
	PaedMax float64  `json:"paed_max_per_kg_day,omitempty"`
	Tags    []string `json:"tags,omitempty"` // demo specialties it serves: paed-skin, growth, nutrition, allergy, chronic, general, ...
	Source  string   `json:"source"`         // where the facts come from
}

// Interaction is a well-known drug-drug interaction between two ingredients
// (or an ingredient and a class listed by its members) that needs the
// doctor's confirmation.
type Interaction struct {
	A, B      string // ingredients (lower-case INN)
	Severity  string // high | moderate
	MessageZH string
	MessageEN string
	Source    string
}

// FormularyItem is a catalogue drug an institution stocks.
type FormularyItem struct {
	Institution string `json:"institution"`
	Drug        string `json:"drug"`
	PriceFen    int64  `json:"price_fen"` // per dispensing unit, in fen
	Online      bool   `json:"online"`    // may be prescribed online there
}

// Frequencies are the dosing frequencies a prescription may use, with their
// administrations per day (0 for as needed).
var Frequencies = map[string]float64{
	"qd": 1, "bid": 2, "tid": 3, "qid": 4, "qn": 1, "q12h": 2, "q8h": 3, "q6h": 4, "qod": 0.5, "qw": 1.0 / 7, "prn": 0,
}

// Item is one line of a prescription.
type Item struct {
	Drug      string  `json:"drug"`      // catalogue code
	Dose      float64 `json:"dose"`      // per administration
	DoseUnit  string  `json:"dose_unit"` // mg, ml, g, 喷, 滴, 粒, 片, ...
	Frequency string  `json:"frequency"` // a key of Frequencies
	Route     string  `json:"route"`
	Days      int     `json:"days"`     // days of supply
	Quantity  int     `json:"quantity"` // dispensing units
	// Filled from the catalogue and formulary when issued.
	Name     string `json:"name,omitempty"`
	Strength string `json:"strength,omitempty"`
	Form     string `json:"form,omitempty"`
	Unit     string `json:"unit,omitempty"`
	PriceFen int64  `json:"price_fen,omitempty"`
}

// Supply is the kind of supply a prescription gives (N-14).
type Supply string

// Supplies.
const (
	SupplyNormal   Supply = "normal"    // at most 7 days
	SupplyAcute    Supply = "acute"     // acute or emergency: at most 3 days
	SupplyLongTerm Supply = "long_term" // stable chronic disease, reason stated: at most 12 weeks
)

// Status is where a prescription is.
type Status string

// Statuses and their FHIR R4 MedicationRequest.status.
const (
	PendingReview Status = "pending_review" // draft
	Approved      Status = "approved"       // active
	Rejected      Status = "rejected"       // cancelled (a new version follows)
	Expired       Status = "expired"        // cancelled
	Dispensed     Status = "dispensed"      // completed
)

// FHIRStatus maps a status onto MedicationRequest.status.
func (s Status) FHIRStatus() string {
	switch s {
	case PendingReview:
		return "draft"
	case Approved:
		return "active"
	case Dispensed:
		return "completed"
	}
	return "cancelled"
}

// Verdict is one safety rule's answer on a prescription.
type Verdict struct {
	Code      string `json:"code"`
	Source    string `json:"source,omitempty"`
	Severity  string `json:"severity"` // refuse | confirm
	Passed    bool   `json:"passed"`
	Confirmed bool   `json:"confirmed,omitempty"` // a failed confirm rule the doctor confirmed
	Detail    string `json:"detail,omitempty"`    // which drugs or ingredients
	MessageZH string `json:"message_zh"`
	MessageEN string `json:"message_en"`
}

// Signature is one signer's SM2 signature over the SM3 digest of the
// prescription's canonical form (see Canonical).
type Signature struct {
	Role           string    `json:"role"` // doctor | pharmacist
	PractitionerID int64     `json:"practitioner_id"`
	Name           string    `json:"name"`
	PublicKey      string    `json:"public_key"` // base64 of the PKIX DER public key at signing
	Digest         string    `json:"digest"`     // hex SM3 digest of what was signed
	Value          string    `json:"value"`      // base64 ASN.1 SM2 signature
	At             time.Time `json:"at"`
}

// Prescription is one version of a visit's prescription.
type Prescription struct {
	ID            int64       `json:"id"`
	VisitID       int64       `json:"visit_id"`
	Version       int         `json:"version"`
	Revises       int64       `json:"revises,omitempty"`
	Institution   string      `json:"institution"`
	Department    string      `json:"department"`
	PatientID     int64       `json:"patient_id"`
	PatientName   string      `json:"patient_name"`
	PatientSex    string      `json:"patient_sex"`
	PatientAge    string      `json:"patient_age"` // e.g. "4岁2个月"
	DoctorID      int64       `json:"doctor_id"`   // practitioner
	DoctorName    string      `json:"doctor_name"`
	Items         []Item      `json:"items"`
	Diagnoses     []string    `json:"diagnoses"` // ICD-10
	WeightKg      float64     `json:"weight_kg,omitempty"`
	Allergies     string      `json:"allergies,omitempty"` // the drug allergies declared when it was checked
	Supply        Supply      `json:"supply"`
	LongTermWhy   string      `json:"long_term_reason,omitempty"`
	Note          string      `json:"note,omitempty"`
	Verdicts      []Verdict   `json:"verdicts"`
	Confirmed     []string    `json:"confirmed,omitempty"` // rule codes the doctor confirmed
	Status        Status      `json:"status"`
	IssuedAt      time.Time   `json:"issued_at"`
	ValidDays     int         `json:"valid_days"`  // 1 to 3 (N-13)
	ValidUntil    time.Time   `json:"valid_until"` // end of the last valid day, Beijing
	ReviewerID    int64       `json:"reviewer_id,omitempty"`
	ReviewerName  string      `json:"reviewer_name,omitempty"`
	ReviewedAt    time.Time   `json:"reviewed_at,omitzero"`
	ReviewReasons []string    `json:"review_reasons,omitempty"`
	ReviewNote    string      `json:"review_note,omitempty"`
	TotalFen      int64       `json:"total_fen"`
	Signatures    []Signature `json:"signatures,omitempty"`
}
