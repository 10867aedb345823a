package r4

import (
	"sort"
	"time"
)

// Param is a search parameter a resource takes.
type Param struct {
	Name, Type, Doc string
}

// Operation is an operation on a resource type.
type Operation struct {
	Name, Definition, Doc string
}

// ResourceSpec is what the API supports of a resource type: the one list
// the handlers check requests against and the CapabilityStatement is made
// from, so the statement lists exactly what is served.
type ResourceSpec struct {
	Type       string
	Profile    string // the base definition
	Doc        string
	Params     []Param
	Includes   []string
	Operations []Operation
}

// Result parameters every search takes.
var ResultParams = []Param{
	{"_count", "number", "每页条数，默认 20，最多 100 / entries per page, default 20, at most 100"},
	{"_offset", "number", "翻页位置（由 next 链接给出）/ where a page starts (given by the next link)"},
	{"_include", "special", "见 searchInclude / see searchInclude"},
	{"_format", "special", "json 或 application/fhir+json；仅支持 JSON / json or application/fhir+json: JSON only"},
}

var idParam = Param{"_id", "token", "逻辑 id / logical id"}

// Specs lists every resource type served, in the statement's order.
var Specs = []ResourceSpec{
	{Type: "Organization", Doc: "医疗机构（公开）；active 表示当前可开展互联网诊疗 (S-1) / institutions (public); active: may offer internet diagnosis now (S-1)",
		Params: []Param{idParam, {"identifier", "token", SystemInstitution + "|code"}, {"name", "string", "名称包含 / name contains"}, {"active", "token", "true|false"}}},
	{Type: "HealthcareService", Doc: "科室服务目录（公开）/ the departments' service catalogue (public)",
		Params: []Param{idParam, {"identifier", "token", SystemService + "|code"}, {"organization", "reference", "Organization/code"},
			{"service-type", "token", SystemService + "|code"}, {"specialty", "token", SystemDepartment + "|code or " + SystemSpecialty + "|code"},
			{"active", "token", "true|false"}},
		Includes: []string{"HealthcareService:organization"}},
	{Type: "Practitioner", Doc: "医师与药师（公开部分；执业证号仅本机构管理员与监管方可见，N-8）/ doctors and pharmacists (the licence only for the institution's admins and the regulator)",
		Params: []Param{idParam, {"identifier", "token", SystemLicence + "|number"}, {"name", "string", "姓名包含 / name contains"}}},
	{Type: "PractitionerRole", Doc: "医师在机构的科室与出诊服务（公开）/ a practitioner's department and services (public)",
		Params: []Param{idParam, {"practitioner", "reference", "Practitioner/id"}, {"organization", "reference", "Organization/code"},
			{"specialty", "token", SystemDepartment + "|code"}, {"service", "reference", "HealthcareService/code"}, {"active", "token", "true|false"}},
		Includes: []string{"PractitionerRole:practitioner", "PractitionerRole:organization", "PractitionerRole:service"}},
	{Type: "Schedule", Doc: "一位医师一项服务的出诊（号源的容器，公开）；id 为 <服务>.<医师> / one practitioner's sessions of one service (public); id <service>.<practitioner>",
		Params: []Param{idParam, {"actor", "reference", "Practitioner/id or HealthcareService/code"}, {"service-type", "token", SystemService + "|code"},
			{"active", "token", "true|false"}},
		Includes: []string{"Schedule:actor"}},
	{Type: "Slot", Doc: "号源：一位医师的一个出诊时段（公开）；余号见扩展 slot-remaining / a doctor's session (public); places left in slot-remaining",
		Params: []Param{idParam, {"schedule", "reference", "Schedule/id"}, {"service-type", "token", SystemService + "|code"},
			{"specialty", "token", SystemDepartment + "|code"}, {"start", "date", "ge, gt, le, lt, eq + date or dateTime"},
			{"status", "token", "free | busy | busy-unavailable"}},
		Includes: []string{"Slot:schedule"}},
	{Type: "Patient", Doc: "就诊人：本人与其子女；机构医务人员可见在本院预约的患者；身份证号不显示（可按身份证号检索）/ patients: one's own and one's children; staff: those booked at their institution; the resident ID is never shown (but may be searched by)",
		Params: []Param{idParam, {"identifier", "token", SystemResidentID + "|number"}, {"name", "string", "姓名包含 / name contains"}}},
	{Type: "RelatedPerson", Doc: "监护人与子女的关联（仅监护人可见）/ a guardian's link to a child (only the guardians see it)",
		Params:   []Param{idParam, {"patient", "reference", "Patient/id"}},
		Includes: []string{"RelatedPerson:patient"}},
	{Type: "Appointment", Doc: "预约；挂号费未付或 $hold 保留中的为 pending / bookings; held ones (unpaid, or by $hold) are pending",
		Params: []Param{idParam, {"patient", "reference", "Patient/id"}, {"practitioner", "reference", "Practitioner/id"},
			{"slot", "reference", "Slot/id"}, {"service-type", "token", SystemService + "|code"}, {"date", "date", "号源时段开始 / the session's start"},
			{"status", "token", "proposed | pending | booked | arrived | fulfilled | cancelled | noshow | checked-in"}},
		Includes: []string{"Appointment:patient", "Appointment:practitioner", "Appointment:slot"},
		Operations: []Operation{
			{"find", "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-find",
				"IHE ITI-115：按预约规则给出可约号源（GET 或 POST Parameters）。必填 start、end、patient，以及四个预约前问题 pregnant、critical、difficult、first_visit（布尔）；可选 service（HealthcareService）、organization、practitioner、specialty、visit-type、_count。/ IHE ITI-115: the places the booking rules let the patient book. start, end, patient and the four pre-booking questions are required."},
			{"hold", "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-hold",
				"IHE ITI-116：appointment-reference 为 $find 给出的 Appointment；保留名额至服务的 pay_window_minutes（数据），到期释放 / IHE ITI-116: holds the place for the service's pay_window_minutes (data); it returns when the hold expires."},
			{"book", "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-book",
				"IHE ITI-117：appointment-reference（$find 或 $hold 的 Appointment）或 appointment-resource（status pending，含 slot、patient 与 screening-answers 扩展；带 id 且 status 为 booked 确认保留、cancelled 取消）。规则不符时 OperationOutcome 逐条列出 / IHE ITI-117: books; a refusal names every failed rule."},
		}},
	{Type: "Encounter", Doc: "在线就诊（与预约同 id）；监管方仅见终止转线下的就诊，不含患者 (V-3) / the online visit (same id as its appointment); the regulator sees terminated visits, without the patient",
		Params: []Param{idParam, {"patient", "reference", "Patient/id"}, {"practitioner", "reference", "Practitioner/id"},
			{"date", "date", "号源时段开始 / the session's start"}, {"status", "token", "planned | arrived | in-progress | finished | cancelled"}},
		Includes: []string{"Encounter:patient", "Encounter:practitioner"}},
	{Type: "Condition", Doc: "就诊病历（已签名的最新版本）中的诊断，ICD-10 / the diagnoses of a visit's signed record (latest version), ICD-10",
		Params:   []Param{idParam, {"patient", "reference", "Patient/id"}, {"encounter", "reference", "Encounter/id"}, {"code", "token", SystemICD10 + "|code"}},
		Includes: []string{"Condition:patient", "Condition:encounter"}},
	{Type: "MedicationRequest", Doc: "电子处方的每一行药品；患者仅见审核通过的处方 (R-1)；检索范围为最新 500 张处方 / each line of an e-prescription; patients see approved ones only (R-1); searches cover the newest 500 prescriptions",
		Params: []Param{idParam, {"patient", "reference", "Patient/id"}, {"encounter", "reference", "Encounter/id"},
			{"status", "token", "draft | active | cancelled | completed"}},
		Includes: []string{"MedicationRequest:patient", "MedicationRequest:requester"}},
	{Type: "Consent", Doc: "患者（或监护人）同意某机构的医师查阅其在其他机构的病历 (W-4)；撤回或过期为 inactive；仅本人与监护人可见 / a patient's (or guardian's) consent that an institution's doctors read the patient's records of other institutions (W-4); inactive once revoked or out of its period; only the family sees it",
		Params: []Param{idParam, {"patient", "reference", "Patient/id"}, {"status", "token", "active | inactive"}}},
}

// Spec returns the spec of a resource type.
func Spec(typ string) (*ResourceSpec, bool) {
	for i := range Specs {
		if Specs[i].Type == typ {
			return &Specs[i], true
		}
	}
	return nil, false
}

// Param returns a search parameter of the spec (result parameters
// included).
func (s *ResourceSpec) Param(name string) (Param, bool) {
	for _, p := range s.Params {
		if p.Name == name {
			return p, true
		}
	}
	for _, p := range ResultParams {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Includes reports whether the spec supports an _include value.
func (s *ResourceSpec) Include(v string) bool {
	for _, i := range s.Includes {
		if i == v {
			return true
		}
	}
	return false
}

// CapabilityStatement is the server's statement. It is built here as a
// generic document so that every element it needs can be written without
// a type for each.
type CapabilityStatement map[string]any

// Capability makes the statement for a server whose FHIR base is base,
// at software version version.
func Capability(base, version string, at time.Time) CapabilityStatement {
	var resources []map[string]any
	for _, s := range Specs {
		r := map[string]any{"type": s.Type, "profile": "http://hl7.org/fhir/StructureDefinition/" + s.Type, "documentation": s.Doc,
			"interaction": []map[string]any{{"code": "read"}, {"code": "search-type"}}, "versioning": "no-version",
			"readHistory": false, "updateCreate": false}
		var params []map[string]any
		for _, p := range s.Params {
			params = append(params, map[string]any{"name": p.Name, "type": p.Type, "documentation": p.Doc})
		}
		for _, p := range ResultParams[:2] {
			params = append(params, map[string]any{"name": p.Name, "type": p.Type, "documentation": p.Doc})
		}
		r["searchParam"] = params
		if len(s.Includes) > 0 {
			inc := append([]string(nil), s.Includes...)
			sort.Strings(inc)
			r["searchInclude"] = inc
		}
		var ops []map[string]any
		for _, o := range s.Operations {
			ops = append(ops, map[string]any{"name": o.Name, "definition": o.Definition, "documentation": o.Doc})
		}
		if len(ops) > 0 {
			r["operation"] = ops
		}
		resources = append(resources, r)
	}
	software := map[string]any{"name": "Yunyi"}
	if version != "" {
		software["version"] = version
	}
	return CapabilityStatement{
		"resourceType":   "CapabilityStatement",
		"id":             "yunyi",
		"url":            base + "/metadata",
		"name":           "YunyiFHIRServer",
		"title":          "云医 Yunyi FHIR R4 API",
		"status":         "active",
		"experimental":   false,
		"date":           Instant(at),
		"publisher":      "Yunyi",
		"description":    "云医互联网医院平台的 FHIR R4 接口：读取与检索（与 JSON API 相同的授权，患者数据的每次访问均记入审计），以及 IHE ITI 预约（$find、$hold、$book）。错误均为 OperationOutcome，issue.details.coding 给出稳定的错误代码（" + SystemError + "）。/ Yunyi's FHIR R4 API: read and search with the JSON API's authorisation (every access to patient data audited), and IHE ITI Scheduling. Every error is an OperationOutcome whose issue.details.coding carries the stable error code.",
		"kind":           "instance",
		"software":       software,
		"implementation": map[string]any{"description": "云医 Yunyi", "url": base},
		"fhirVersion":    "4.0.1",
		"format":         []string{"json", "application/fhir+json"},
		"rest": []map[string]any{{
			"mode":          "server",
			"documentation": "翻页：Bundle.link next（_count、_offset）；中文或英文消息由 Accept-Language 决定。/ Paging by Bundle.link next (_count, _offset); messages in Chinese or English by Accept-Language.",
			"security":      map[string]any{"cors": false, "description": "Authorization: Bearer <token>（POST /api/v1/auth/login）或浏览器会话；匿名仅可访问公开的机构目录与号源 / a bearer token from POST /api/v1/auth/login, or a browser session; anonymous callers see only the public directory and slots"},
			"resource":      resources,
		}},
	}
}
