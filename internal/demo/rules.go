package demo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/schedule"
)

// PilotOpens is when first-visit booking opened (S-5): 2026-01-31, 14:00.
var PilotOpens = time.Date(2026, 1, 31, 14, 0, 0, 0, dates.Beijing)

// rule is a demo rule: what refuses (and what to do), then what is met when
// it passes, each in Chinese and English; families read both on the
// booking page.
func rule(inst, dept, code, source, zh, en, passedZH, passedEN, expr string) policy.Rule {
	return policy.Rule{Institution: inst, Department: dept, Code: code, Source: source, MessageZH: zh, MessageEN: en,
		PassedZH: passedZH, PassedEN: passedEN, Expr: expr, Active: true}
}

// Texts of rules that several institutions share.
const (
	criticalZH       = "急危重症患者请立即到线下急诊就医，或拨打 120 急救电话"
	criticalEN       = "Emergency or critical patients must go to an emergency department now, or call 120"
	criticalPassedZH = "没有急危重症状"
	criticalPassedEN = "No emergency or critical symptoms"
)

// Rules are the seeds' rules as data: the platform's (national rules and
// the regulator's pilot) and each institution's. A rule that only concerns
// follow-ups (or first visits) also passes for the other kind of visit: its
// passed text says so, so that it is true either way.
func Rules() []policy.Rule {
	rs := []policy.Rule{
		rule("", "", "qualified", "S-1",
			"该机构尚未获得互联网诊疗资质批准，暂不能线上预约；请选择其他医院，或到该院线下门诊就诊",
			"This institution is not yet approved for internet diagnosis: choose another hospital, or visit its outpatient clinic",
			"该机构已获互联网诊疗资质批准", "The institution is approved for internet diagnosis",
			"institution_approved"),
		rule("", "", "follow-up-history", "S-3, N-2",
			"线上复诊须在本院同一科室有明确诊断的线下就诊记录；请先到本院该科室线下门诊就诊",
			"An online follow-up needs an earlier offline visit with a definite diagnosis in the same department: see the department in person first",
			"符合复诊须在本院同一科室有线下明确诊断的要求（首诊不受此限）", "Meets the follow-up's need of an earlier offline diagnosis in this department (first visits are not limited)",
			`kind != "follow_up" || has_history`),
		rule("", "", "follow-up-not-first", "N-1",
			"线上复诊仅适用于已确诊疾病的复诊；第一次就诊请到线下门诊",
			"Online follow-ups are for diseases already diagnosed: have a first visit at the outpatient clinic",
			"就诊类型与所约服务相符", "The kind of visit matches the service booked",
			`kind != "follow_up" || !first_visit`),
		rule("", "", "pilot-institution", "S-5, G-2",
			"仅首诊试点医疗机构可提供互联网首诊；请选择首诊试点医院，或到线下门诊首诊",
			"Only designated pilot institutions offer online first visits: choose a pilot hospital, or have the first visit at an outpatient clinic",
			"符合互联网首诊仅限试点机构的要求（复诊不受此限）", "Meets the rule that only pilot institutions offer online first visits (follow-ups are not limited)",
			`kind != "first_visit" || institution_pilot`),
		rule("", "", "pilot-specialty", "S-5",
			"互联网首诊仅限儿科生长发育、营养、皮肤疾病三个试点专业；其他问题请到线下门诊首诊",
			"Online first visits are limited to the pilot paediatric specialties (growth, nutrition, skin disease): for anything else, have the first visit at an outpatient clinic",
			"符合首诊试点专业范围的要求（复诊不受此限）", "Meets the pilot's limit on specialties (follow-ups are not limited)",
			`kind != "first_visit" || specialty_pilot`),
		rule("", "", "pilot-children", "S-5",
			"互联网首诊试点仅面向未满 18 周岁的儿童；成人请到线下门诊首诊",
			"The first-visit pilot is for children under 18: adults have their first visit at an outpatient clinic",
			"符合首诊试点面向未满 18 周岁儿童的要求（复诊不受此限）", "Meets the pilot's age limit of under 18 (follow-ups are not limited)",
			`kind != "first_visit" || age < 18`),
		rule("", "", "first-visit-doctor", "D-1, D-2",
			"该号源医师目前不符合互联网首诊出诊条件；请选择其他医师的号源",
			"The doctor of this slot does not currently meet the first-visit requirements: choose another doctor's slot",
			"该号源医师符合本次出诊条件", "The doctor of this slot meets the requirements for this visit",
			`kind != "first_visit" || doctor_first_visit_ok`),
		rule("", "", "doctor-online", "D-2",
			"该医师已暂停互联网诊疗；请选择其他医师的号源",
			"This doctor is suspended from internet diagnosis: choose another doctor's slot",
			"该医师可以提供互联网诊疗", "The doctor may see patients online",
			"doctor_online"),
		// H-SJT (seed 1): 12 months, same department; no under 18, pregnant or maternal, first visits, critical or difficult cases.
		rule("shijitan", "", "sjt-window", "S-3",
			"须在 12 个月内于本院同一科室线下就诊并有明确诊断；请先到世纪坛医院该科室线下门诊就诊",
			"Needs an offline visit with a definite diagnosis in the same department within 12 months: see the department at Shijitan in person first",
			"12 个月内在本院同一科室有线下明确诊断", "A definite offline diagnosis in this department within the last 12 months",
			`kind != "follow_up" || (has_history && days_since_last_visit <= 365)`),
		rule("shijitan", "", "sjt-card", "M-3",
			"请先在“我的”中绑定本人社保卡，再预约世纪坛医院互联网诊疗",
			"Bind your social-security card (under Me) before booking Shijitan's internet clinic",
			"已绑定经医保核验的社保卡", "A verified social-security card is bound",
			"insurance_bound"),
		rule("shijitan", "", "sjt-age", "S-4",
			"世纪坛医院互联网诊疗不接诊未满 18 周岁的患者；请选择儿童医院，或到线下门诊就诊",
			"Shijitan's internet clinic does not see patients under 18: choose a children's hospital, or visit an outpatient clinic",
			"就诊人已满 18 周岁", "The patient is 18 or over",
			"age >= 18"),
		rule("shijitan", "", "sjt-pregnant", "S-4",
			"互联网诊疗不接诊妊娠期或哺乳期患者；请到线下门诊就诊",
			"Pregnant or breastfeeding patients are not seen online: please visit the outpatient clinic",
			"就诊人不在妊娠期或哺乳期", "The patient is not pregnant or breastfeeding",
			"!pregnant"),
		rule("shijitan", "", "sjt-first", "S-4",
			"互联网诊疗不接诊首诊患者；第一次就诊请到线下门诊",
			"First visits are not seen online: have the first visit at the outpatient clinic",
			"不是该问题的第一次就诊", "Not the first visit for this problem",
			"!first_visit"),
		rule("shijitan", "", "critical", "S-4", criticalZH, criticalEN, criticalPassedZH, criticalPassedEN, "!critical"),
		rule("shijitan", "", "difficult", "S-4",
			"疑难病患者请到线下门诊就诊",
			"Difficult or complex conditions are seen offline: please visit the outpatient clinic",
			"不属于疑难复杂疾病", "Not a difficult or complex condition",
			"!difficult"),
		// H-BCH: a visit in the department within its window, mostly 1 to 3 months.
		rule("bch", "", "bch-window", "S-3",
			"须在本院该科室规定时间（3 个月）内有就诊记录；请先到北京儿童医院该科室线下门诊就诊",
			"Needs a visit in this department within its window (3 months): see the department in person first",
			"符合复诊须在本院该科室 3 个月内有就诊记录的要求（首诊不受此限）", "Meets the follow-up window: a visit in this department within 3 months (first visits are not limited)",
			`kind != "follow_up" || (has_history && days_since_last_visit <= 90)`),
		rule("bch", "allergy", "bch-window", "S-3",
			"须在本院过敏反应科 1 个月内有就诊记录；请先到过敏反应科线下门诊就诊",
			"Needs a visit in Allergy within 1 month: see Allergy in person first",
			"符合复诊须在本院过敏反应科 1 个月内有就诊记录的要求（首诊不受此限）", "Meets the follow-up window: a visit in Allergy within 1 month (first visits are not limited)",
			`kind != "follow_up" || (has_history && days_since_last_visit <= 30)`),
		rule("bch", "ent", "bch-window", "S-3",
			"须在本院耳鼻咽喉头颈外科 1 个月内有就诊记录；请先到耳鼻咽喉头颈外科线下门诊就诊",
			"Needs a visit in ENT within 1 month: see ENT in person first",
			"符合复诊须在本院耳鼻咽喉头颈外科 1 个月内有就诊记录的要求（首诊不受此限）", "Meets the follow-up window: a visit in ENT within 1 month (first visits are not limited)",
			`kind != "follow_up" || (has_history && days_since_last_visit <= 30)`),
		rule("bch", "dermatology", "bch-window", "S-3",
			"须在本院皮肤科 2 个月内有就诊记录；请先到皮肤科线下门诊就诊",
			"Needs a visit in Dermatology within 2 months: see Dermatology in person first",
			"符合复诊须在本院皮肤科 2 个月内有就诊记录的要求（首诊不受此限）", "Meets the follow-up window: a visit in Dermatology within 2 months (first visits are not limited)",
			`kind != "follow_up" || (has_history && days_since_last_visit <= 60)`),
		rule("bch", "", "critical", "S-4", criticalZH, criticalEN, criticalPassedZH, criticalPassedEN, "!critical"),
		rule("bch", "", "difficult", "S-4",
			"疑难病患者暂无法使用互联网医疗服务；请到线下门诊就诊",
			"Difficult or complex conditions cannot use the online service: please visit the outpatient clinic",
			"不属于疑难复杂疾病", "Not a difficult or complex condition",
			"!difficult"),
		// H-CCMC: patients already seen in the department they book.
		rule("ccmc", "", "ccmc-seen", "S-3",
			"须曾在所挂科室就诊过；请先到首都儿童医学中心该科室线下就诊",
			"Must have been seen before in the department booked: see the department in person first",
			"符合复诊须曾在所挂科室就诊的要求（首诊不受此限）", "Meets the follow-up's need of an earlier visit in this department (first visits are not limited)",
			`kind != "follow_up" || has_history`),
		rule("ccmc", "", "critical", "S-4", criticalZH, criticalEN, criticalPassedZH, criticalPassedEN, "!critical"),
		rule("xuanwu", "", "critical", "S-4", criticalZH, criticalEN, criticalPassedZH, criticalPassedEN, "!critical"),
		rule("pumch", "", "critical", "S-4", criticalZH, criticalEN, criticalPassedZH, criticalPassedEN, "!critical"),
	}
	for i := range rs {
		rs[i].Position = i
	}
	return rs
}

func (l *loader) rules(ctx context.Context) error {
	e := policy.NewEngine()
	for _, r := range Rules() {
		if err := e.Validate(&r); err != nil {
			return fmt.Errorf("demo rule %s: %w", r.Code, err)
		}
		if err := l.s.SaveRule(ctx, &r); err != nil {
			return fmt.Errorf("demo rule %s: %w", r.Code, err)
		}
	}
	return nil
}

// refreshRules gives the rules of a demo database written before rules had
// passed texts (migration 0020) their demo texts, on a later start: a
// stored rule of the same scope, code and expression that has none gets
// the demo's, its other fields as they are. A rule staff changed keeps
// what they wrote.
func (l *loader) refreshRules(ctx context.Context) error {
	stored, err := l.s.Rules(ctx, "")
	if err != nil {
		return err
	}
	demo := map[string]policy.Rule{}
	for _, r := range Rules() {
		demo[r.Institution+"|"+r.Department+"|"+r.Service+"|"+r.Code] = r
	}
	for _, r := range stored {
		d, ok := demo[r.Institution+"|"+r.Department+"|"+r.Service+"|"+r.Code]
		if !ok || r.PassedZH != "" || r.PassedEN != "" || r.Expr != d.Expr {
			continue
		}
		r.PassedZH, r.PassedEN = d.PassedZH, d.PassedEN
		if err := l.s.SaveRule(ctx, &r); err != nil {
			return fmt.Errorf("demo rule %s: %w", r.Code, err)
		}
	}
	return nil
}

// schedules gives every demo doctor weekly sessions on the days its
// services open: 10 places a session (H-CCMC: one session of 10 a day).
func (l *loader) schedules(ctx context.Context) error {
	for _, in := range institutions() {
		inst, err := l.s.Institution(ctx, in.Code)
		if err != nil {
			return err
		}
		for _, d := range inst.Departments {
			docs := l.doctors[in.Code+"/"+d.Code]
			for _, sv := range d.Services {
				for k, doc := range docs {
					if in.oneSession && k > 0 && sv.Kind == directory.FollowUp {
						break
					}
					start := []string{"09:00", "14:00"}[k%2]
					for _, day := range sv.Days {
						s := &schedule.Schedule{Service: sv.Code, PractitionerID: doc, Weekday: day, StartTime: start, Capacity: 10, Active: true}
						if err := l.s.SaveSchedule(ctx, s); err != nil {
							return fmt.Errorf("demo schedule: %w", err)
						}
					}
				}
			}
		}
	}
	return nil
}

// demoVisits are the demo patients' offline visits that exercise S-3, in
// days before now.
var demoVisits = []struct {
	who, inst, dept string
	days            int
	code, name      string
	definite        bool
}{
	{"张伟", "xuanwu", "neurology", 40, "G43.9", "偏头痛", true},
	{"张伟", "shijitan", "cardiology", 200, "I10", "原发性高血压", true},
	{"张伟", "pumch", "endocrinology", 400, "E11.9", "2型糖尿病", true},
	{"李小雨", "bch", "allergy", 20, "J45.9", "哮喘", true},
	{"李小雨", "bch", "dermatology", 100, "L20.9", "特应性皮炎", true},
	{"李小雨", "ccmc", "allergy", 150, "J30.4", "变应性鼻炎", true},
	{"李小天", "bch", "endocrine", 50, "E34.3", "矮小症", true},
	{"李小天", "ccmc", "respiratory", 10, "J06.9", "急性上呼吸道感染", false},
	{"王晓", "shijitan", "endocrinology", 100, "E05.9", "甲状腺功能亢进症", true},
	{"陈静", "shijitan", "gastroenterology", 30, "K29.7", "胃炎", true},
}

func (l *loader) daysAgo(days int) string {
	return l.now.AddDate(0, 0, -days).In(dates.Beijing).Format(dates.Layout)
}

// history gives the demo patients their offline visits.
func (l *loader) history(ctx context.Context) error {
	var out []history.Visit
	for i, x := range demoVisits {
		p := l.patients[x.who]
		out = append(out, history.Visit{Institution: x.inst, Department: x.dept, ResidentID: p.ResidentID, Date: l.daysAgo(x.days),
			DiagnosisCode: x.code, DiagnosisName: x.name, Definite: x.definite, Source: "demo", ExternalID: fmt.Sprintf("demo:%d", i)})
	}
	for i, x := range demoMRNVisits {
		p := l.patients[x.who]
		out = append(out, history.Visit{Institution: x.inst, Department: x.dept, Date: l.daysAgo(x.days), DiagnosisCode: x.code, DiagnosisName: x.name,
			Definite: true, Source: "demo", ExternalID: fmt.Sprintf("demo-mrn:%d", i), MRN: x.mrn, PatientName: p.Name,
			BirthDate: p.Birth.In(dates.Beijing).Format(dates.Layout), Sex: string(p.Sex)})
	}
	if _, err := l.s.InsertVisits(ctx, out); err != nil {
		return err
	}
	// One MRN linked as a file carrying both would link it; the other
	// left for the family to bind on 我的就诊卡 (or the admin's link file).
	var links []history.Link
	for _, x := range demoMRNVisits {
		if p := l.patients[x.who]; x.linked && !slices.ContainsFunc(links, func(k history.Link) bool { return k.MRN == x.mrn }) {
			links = append(links, history.Link{Institution: x.inst, MRN: x.mrn, ResidentID: p.ResidentID, BirthDate: p.Birth.In(dates.Beijing).Format(dates.Layout),
				By: history.LinkImport, At: l.now})
		}
	}
	_, err := l.s.LinkMRNs(ctx, links)
	return err
}

// demoMRNVisits are offline visits kept under 北京儿童医院's medical record
// numbers (issue 16): 李小雨's, linked to her; 李小天's, not linked (his
// guardian binds the card on 我的就诊卡). They are older than the
// children's visits of the same departments in demoVisits, so the
// follow-up rules (S-3) answer as without them.
var demoMRNVisits = []struct {
	who, inst, dept, mrn string
	linked               bool
	days                 int
	code, name           string
}{
	{"李小雨", "bch", "dermatology", "BCH-DEMO-0001", true, 300, "L20.9", "特应性皮炎"},
	{"李小雨", "bch", "allergy", "BCH-DEMO-0001", true, 420, "J45.9", "哮喘"},
	{"李小天", "bch", "endocrine", "BCH-DEMO-0002", false, 380, "E34.3", "矮小症"},
	{"李小天", "bch", "endocrine", "BCH-DEMO-0002", false, 560, "E34.3", "矮小症"},
}

// refreshHistory moves the demo's offline visits to the same distance
// before now on a later start, so the demo's follow-up rules (S-3) answer
// as they did on the first day.
func (l *loader) refreshHistory(ctx context.Context) error {
	for i, x := range demoVisits {
		if err := l.s.SetVisitDate(ctx, x.inst, fmt.Sprintf("demo:%d", i), l.daysAgo(x.days)); err != nil {
			return err
		}
	}
	for i, x := range demoMRNVisits {
		if err := l.s.SetVisitDate(ctx, x.inst, fmt.Sprintf("demo-mrn:%d", i), l.daysAgo(x.days)); err != nil {
			return err
		}
	}
	return nil
}
