// Package demo loads the demo data of `yunyi serve --demo`: every
// institution of the seeds (shared/domain/seed-rules.md) with its
// departments, specialties, services and rules, the regulator, doctors
// (some meeting D-1, some not, one suspended), pharmacists, couriers and
// patients that exercise the rules. All of it is fictitious.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/delivery"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/monitor"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/qualification"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Password of every demo account (printed at start and on the login page).
const Password = "yunyi2026"

// Account is a demo login.
type Account struct {
	Username, Role, Note string
	TOTPSecret           string // staff: the known second-factor secret (EnrolStaff)
}

// Store is what the loader writes to.
type Store interface {
	identity.Store
	directory.Store
	policy.Store
	schedule.Store
	history.Store
	monitor.Store
	SaveQuestionnaire(ctx context.Context, q *visit.Questionnaire) error
	SetVisitDate(ctx context.Context, institution, externalID, date string) error
	SaveFormulary(ctx context.Context, items []rx.FormularyItem) error
	SaveRxRule(ctx context.Context, r *rx.Rule) error
	SaveDeliverySettings(ctx context.Context, s *delivery.Settings) error
	SavePharmacy(ctx context.Context, p *delivery.Pharmacy) error
	qualification.Store
	// The sandbox identity check knows the demo's persons, and their
	// phones count as proved (N-5).
	identity.SandboxRegistry
	MarkPhoneVerified(ctx context.Context, accountID int64, phone string, at time.Time) error
}

// deliveries are the demo institutions' delivery rules: 首都儿童医学中心
// ships anywhere the same day; 宣武医院 only inside Beijing (GB/T 2260
// codes 110…); 北京儿童医院's patients pick a retail pharmacy that
// delivers. The others do not ship yet.
var deliveries = map[string]delivery.Settings{
	"bch": {Pharmacies: []string{"yy-pharmacy-xicheng", "yy-pharmacy-haidian"}},
	"ccmc": {Courier: true, RegionsText: "全国", Sender: courier.Address{Name: "首都儿童医学中心药剂科", Phone: "010-00000001", Province: "北京市",
		City: "北京市", District: "朝阳区", RegionCode: "110105", Detail: "雅宝路2号 门诊药房"}},
	"xuanwu": {Courier: true, Regions: []string{"110"}, RegionsText: "北京市内", InsuranceAtDelivery: true, Sender: courier.Address{Name: "宣武医院药剂科", Phone: "010-00000002",
		Province: "北京市", City: "北京市", District: "西城区", RegionCode: "110102", Detail: "长椿街45号 门诊药房"}},
}

// Pharmacies are the demo's retail pharmacies (R-3, H-BCH). They are
// made up for the demo, clearly named as such: the shops, licences and
// phone numbers are not real ones. Each has a staff account
// <code>-staff (role retail_pharmacist).
var Pharmacies = []delivery.Pharmacy{
	{Code: "yy-pharmacy-xicheng", Name: "云医示范合作药房（西城店）", NameEN: "Yunyi demo partner pharmacy (Xicheng)", LicenceNo: "京AA0000001（演示）",
		Phone: "010-00000011", Hours: "08:00–22:00", Regions: []string{"110101", "110102", "110105", "110106", "110107", "110108"}, RegionsText: "北京城六区", Active: true,
		Address: courier.Address{Name: "云医示范合作药房（西城店）", Phone: "010-00000011", Province: "北京市", City: "北京市", District: "西城区", RegionCode: "110102", Detail: "南礼士路演示街1号"}},
	{Code: "yy-pharmacy-haidian", Name: "云医示范合作药房（海淀店）", NameEN: "Yunyi demo partner pharmacy (Haidian)", LicenceNo: "京AA0000002（演示）",
		Phone: "010-00000012", Hours: "24 小时", Regions: []string{"110"}, RegionsText: "北京市内", Active: true,
		Address: courier.Address{Name: "云医示范合作药房（海淀店）", Phone: "010-00000012", Province: "北京市", City: "北京市", District: "海淀区", RegionCode: "110108", Detail: "中关村演示路2号"}},
}

type dept struct {
	code, name, en string
	specialties    []spec
	days           string // follow-up service open days
	fuPrice        int64  // fen
}

type spec struct {
	code, name, en string
	pilot          bool
	firstVisit     bool // has a first-visit service (pilot specialties)
}

type inst struct {
	directory.Institution
	depts      []dept
	release    directory.Release // the booking window of its services (S-2); zero: the default
	courier    bool              // ships drugs itself (has a courier account)
	oneSession bool              // one session of 10 places a day per follow-up service (H-CCMC)
	suspend    string            // department whose second doctor is suspended from first visits (D-2)
	payAt      string            // when its services' fees are paid (M-1); "": none online yet
}

// feeTiming is when the institution's fees are paid online (M-1): the
// demo's institutions other than the one the seeds describe as paying at
// booking (H-CCMC, self-pay) take no fee online.
func (in inst) feeTiming() string {
	if in.payAt == "" {
		return directory.PayNone
	}
	return in.payAt
}

// pilotSpecs are the pilot's specialties (S-5). An institution whose
// Pilot is set below has them designated from PilotFrom (G-2: the loader
// writes the designations; the flag itself is derived from them).
var pilotSpecs = map[string]spec{
	"growth":    {"growth", "生长发育", "Growth and development", true, true},
	"nutrition": {"nutrition", "营养", "Nutrition", true, true},
	"skin":      {"skin", "皮肤疾病", "Skin disease", true, true},
}

func institutions() []inst {
	all := "1,2,3,4,5,6,7"
	return []inst{
		{directory.Institution{Code: "bch", Name: "北京儿童医院", NameEN: "Beijing Children's Hospital", Status: directory.QualApproved,
			ApprovedOn: "2020-04-20", OnlineSince: "2020-04-20", Channel: "微信公众号“北京儿童医院服务号”、“北京儿童医院”小程序", Pilot: true,
			Delivery: "患者选择零售药店配送", StatusNote: "2026 年互联网首诊试点医疗机构"},
			[]dept{
				{"endocrine", "内分泌遗传代谢科", "Endocrinology, Genetics and Metabolism", nil, all, 5000},
				{"rheumatology", "风湿免疫科", "Rheumatology and Immunology", nil, all, 5000},
				{"cardiology", "心脏内科", "Cardiology", nil, all, 5000},
				{"allergy", "过敏反应科", "Allergy", nil, all, 5000},
				{"ent", "耳鼻咽喉头颈外科", "Otolaryngology – Head and Neck Surgery", nil, all, 5000},
				{"dermatology", "皮肤科", "Dermatology", []spec{pilotSpecs["skin"]}, all, 5000},
				{"child-health", "儿童保健科", "Child Health Care", []spec{pilotSpecs["growth"], pilotSpecs["nutrition"]}, all, 5000},
			},
			// Seed 1: slots 1 to 7 days ahead.
			directory.Release{MinDays: 1, MaxDays: 7, ReleaseTime: "00:00", CancelCutoffM: 120}, false, false, "dermatology", ""},
		{directory.Institution{Code: "ccmc", Name: "首都儿童医学中心", NameEN: "Capital Children's Medical Center",
			Alias: "首都儿科研究所附属儿童医院（首儿所）", Status: directory.QualApproved, ApprovedOn: "2020-06-02", OnlineSince: "2020-06-02",
			Channel: "微信公众号“首都儿童医学中心”", Pilot: true, Delivery: "医院快递配送：药品和发票当天寄出，手机查看物流",
			StatusNote: "2026 年互联网首诊试点医疗机构；每天开放两个专业，每个专业 10 个号源"},
			[]dept{
				// Two specialties open a day: allergy and child health on odd days, respiratory and dermatology on even days.
				{"allergy", "变态反应科", "Allergy", nil, "1,3,5,7", 3000},
				{"child-health", "儿童保健科", "Child Health Care", []spec{pilotSpecs["growth"], pilotSpecs["nutrition"]}, "1,3,5,7", 3000},
				{"respiratory", "呼吸科", "Respiratory Medicine", nil, "2,4,6", 3000},
				{"dermatology", "皮肤科", "Dermatology", []spec{pilotSpecs["skin"]}, "2,4,6", 3000},
			}, directory.Release{}, true, true, "", directory.PayAtBooking},
		{directory.Institution{Code: "xuanwu", Name: "宣武医院", NameEN: "Xuanwu Hospital", Alias: "首都医科大学宣武医院",
			Status: directory.QualApproved, ApprovedOn: "2020-03-01", Channel: "App“掌上宣武医院”", Insurance: true,
			Delivery: "医院配送到家，收到药品时持医保卡实时结算", DeliveryArea: "北京市内"},
			[]dept{
				{"neurology", "神经内科", "Neurology", nil, all, 4000},
				{"cardiology", "心内科", "Cardiology", nil, all, 4000},
				{"endocrinology", "内分泌科", "Endocrinology", nil, all, 4000},
			}, directory.Release{}, true, false, "", ""},
		{directory.Institution{Code: "shijitan", Name: "世纪坛医院", NameEN: "Beijing Shijitan Hospital", Status: directory.QualApproved,
			ApprovedOn: "2020-04-29", OnlineSince: "2020-04-29", Channel: "App“世纪云服务”（创建账号并绑定社保卡）", Delivery: "医院配送"},
			[]dept{
				{"cardiology", "心内科", "Cardiology", nil, all, 4000},
				{"endocrinology", "内分泌科", "Endocrinology", nil, all, 4000},
				{"gastroenterology", "消化内科", "Gastroenterology", nil, all, 4000},
			}, directory.Release{}, true, false, "", ""},
		{directory.Institution{Code: "changgung", Name: "北京清华长庚医院", NameEN: "Beijing Tsinghua Changgung Hospital", Status: directory.QualPending,
			StatusNote: "2020 年 4 月通过北京市卫生健康委信息中心查核验收（互联网诊疗资质评审），待正式批复后开展业务"},
			[]dept{
				{"general", "普通内科", "General Internal Medicine", nil, all, 4000},
				{"cardiology", "心内科", "Cardiology", nil, all, 4000},
			}, directory.Release{}, false, false, "", ""},
		{directory.Institution{Code: "pumch", Name: "北京协和医院", NameEN: "Peking Union Medical College Hospital", Status: directory.QualApproved,
			ApprovedOn: "2020-05-20", Channel: "App“北京协和医院”", Delivery: "医院配送"},
			[]dept{
				{"endocrinology", "内分泌科", "Endocrinology", nil, all, 6000},
				{"rheumatology", "风湿免疫科", "Rheumatology", nil, all, 6000},
				{"dermatology", "皮肤科", "Dermatology", nil, all, 6000},
			}, directory.Release{}, true, false, "", ""},
	}
}

// Loaded reports whether the demo data is already there.
func Loaded(ctx context.Context, s Store) (bool, error) {
	_, err := s.Institution(ctx, "bch")
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	return err == nil, err
}

// Load writes the demo data unless it is there already; it returns the
// demo accounts either way.
func Load(ctx context.Context, s Store, now time.Time) ([]Account, bool, error) {
	l := &loader{s: s, now: now, doctors: map[string][]int64{}, patients: map[string]*identity.Patient{}}
	done, err := Loaded(ctx, s)
	if err != nil {
		return nil, false, err
	}
	if done {
		l.dry = true
	}
	if err := l.run(ctx); err != nil {
		return nil, false, err
	}
	if done {
		if err := l.refreshHistory(ctx); err != nil {
			return nil, false, err
		}
		if err := l.refreshRules(ctx); err != nil {
			return nil, false, err
		}
		if err := l.changgungApplication(ctx); err != nil {
			return nil, false, err
		}
		if err := l.education(ctx); err != nil {
			return nil, false, err
		}
	}
	return l.accounts, !done, nil
}

type loader struct {
	s        Store
	now      time.Time
	doctors  map[string][]int64 // "institution/department" → practitioner ids
	patients map[string]*identity.Patient
	dry      bool // only list the accounts
	hash     string
	accounts []Account
	seq      int
}

func (l *loader) account(ctx context.Context, username string, role identity.Role, institution, note string) (int64, error) {
	l.accounts = append(l.accounts, Account{Username: username, Role: string(role), Note: note})
	if l.dry {
		return 0, nil
	}
	a := &identity.Account{Username: username, PasswordHash: l.hash, Role: role, Institution: institution, CreatedAt: l.now}
	if err := l.s.CreateAccount(ctx, a); err != nil {
		return 0, fmt.Errorf("demo account %s: %w", username, err)
	}
	return a.ID, nil
}

// pharmacies saves the retail pharmacies and their staff accounts.
func (l *loader) pharmacies(ctx context.Context) error {
	for _, p := range Pharmacies {
		username := p.Code + "-staff"
		l.accounts = append(l.accounts, Account{Username: username, Role: string(identity.RoleRetailPharmacist), Note: p.Name + " 药师"})
		if l.dry {
			continue
		}
		if err := l.s.SavePharmacy(ctx, &p); err != nil {
			return err
		}
		a := &identity.Account{Username: username, PasswordHash: l.hash, Role: identity.RoleRetailPharmacist, Pharmacy: p.Code, CreatedAt: l.now}
		if err := l.s.CreateAccount(ctx, a); err != nil {
			return fmt.Errorf("demo account %s: %w", username, err)
		}
	}
	return nil
}

func (l *loader) residentID(birth time.Time, sex identity.Sex) string {
	l.seq++
	return identity.MakeResidentID("110105", birth, l.seq, sex)
}

func (l *loader) run(ctx context.Context) error {
	if !l.dry {
		h, err := identity.HashPassword(Password)
		if err != nil {
			return err
		}
		l.hash = h
	}
	if _, err := l.account(ctx, "admin", identity.RoleSysadmin, "", "系统管理员"); err != nil {
		return err
	}
	if _, err := l.account(ctx, "regulator", identity.RoleRegulator, "", "北京市卫生健康委"); err != nil {
		return err
	}
	// 三员分立: the security and audit administrators beside the system administrator.
	if _, err := l.account(ctx, "secadmin", identity.RoleSecurityAdmin, "", "安全管理员（账号与角色）"); err != nil {
		return err
	}
	if _, err := l.account(ctx, "auditor", identity.RoleAuditAdmin, "", "审计管理员（审计日志）"); err != nil {
		return err
	}
	if err := l.pharmacies(ctx); err != nil {
		return err
	}
	if err := l.questionnaires(ctx); err != nil {
		return err
	}
	for _, in := range institutions() {
		if err := l.institution(ctx, in); err != nil {
			return err
		}
	}
	if err := l.people(ctx); err != nil {
		return err
	}
	if l.dry {
		return nil
	}
	if err := l.qualificationData(ctx); err != nil {
		return err
	}
	if err := l.rules(ctx); err != nil {
		return err
	}
	if err := l.schedules(ctx); err != nil {
		return err
	}
	if err := l.history(ctx); err != nil {
		return err
	}
	if err := l.prescribing(ctx); err != nil {
		return err
	}
	if err := l.education(ctx); err != nil {
		return err
	}
	return LoadMonitor(ctx, l.s, l.now)
}

func (l *loader) institution(ctx context.Context, in inst) error {
	i := in.Institution
	if i.Status == directory.QualApproved {
		i.ValidUntil = l.validUntil(i.Code) // N-23: the current year's approval
	}
	if !l.dry {
		if err := i.Validate(); err != nil {
			return fmt.Errorf("demo institution %s: %w", i.Code, err)
		}
		if err := l.s.SaveInstitution(ctx, &i); err != nil {
			return err
		}
		for _, d := range in.depts {
			if err := l.department(ctx, i.Code, d, in.releaseOrDefault(), in.feeTiming()); err != nil {
				return err
			}
		}
	}
	if _, err := l.account(ctx, i.Code+"-admin", identity.RoleInstitutionAdmin, i.Code, i.Name+" 管理员"); err != nil {
		return err
	}
	if d, ok := deliveries[i.Code]; ok && !l.dry {
		d.Institution = i.Code
		if err := l.s.SaveDeliverySettings(ctx, &d); err != nil {
			return err
		}
	}
	return l.staff(ctx, in)
}

func (in inst) releaseOrDefault() directory.Release {
	if in.release.ReleaseTime == "" {
		return directory.DefaultRelease
	}
	return in.release
}

func (l *loader) department(ctx context.Context, code string, d dept, release directory.Release, payAt string) error {
	if err := l.s.SaveDepartment(ctx, &directory.Department{Institution: code, Code: d.code, Name: d.name, NameEN: d.en, Online: true}); err != nil {
		return err
	}
	days, _ := directory.ParseWeekdays(d.days)
	fu := &directory.Service{Institution: code, Department: d.code, Code: code + "-" + d.code + "-fu", Name: d.name + "复诊",
		NameEN: d.en + " follow-up", Kind: directory.FollowUp, PriceFen: d.fuPrice, PayAt: payAt, Days: days, Active: true, Release: release, VisitMinutes: 10,
		Questionnaire: questionnaireOf("")}
	if err := l.s.SaveService(ctx, fu); err != nil {
		return err
	}
	for _, sp := range d.specialties {
		if err := l.s.SaveSpecialty(ctx, &directory.Specialty{Institution: code, Department: d.code, Code: sp.code, Name: sp.name, NameEN: sp.en, Pilot: sp.pilot}); err != nil {
			return err
		}
		if sp.firstVisit {
			fv := &directory.Service{Institution: code, Department: d.code, Code: code + "-" + sp.code + "-fv", Name: sp.name + "首诊",
				NameEN: sp.en + " first visit", Kind: directory.FirstVisit, Specialty: sp.code, PriceFen: d.fuPrice + 3000, PayAt: payAt, Days: days, Active: true,
				VisitMinutes: 20, // seed 2: a first visit's video call takes about 20 minutes
				Release:      release, Questionnaire: questionnaireOf(sp.code)}
			// S-5: first-visit booking opened on 2026-01-31 in the afternoon.
			fv.OpensAt = PilotOpens
			if err := l.s.SaveService(ctx, fv); err != nil {
				return err
			}
		}
	}
	return nil
}

// doctor profiles cycle through these: a senior who meets D-1, an attending
// who meets it, a resident who does not, an attending without the training.
type profile struct {
	title                        directory.Title
	practiceY, internetY, trainY int // years before now; -1 for none
}

var profiles = []profile{
	{directory.TitleChief, 20, 5, 2},
	{directory.TitleAttending, 6, 3, 1},
	{directory.TitleResident, 2, 1, 1},
	{directory.TitleAttending, 5, 2, -1},
}

var surnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗"}
var givens = []string{"建华", "秀英", "海燕", "志强", "丽娟", "文博", "晓明", "雪梅", "国庆", "静怡", "子涵", "一鸣"}

func (l *loader) name(n int) string {
	return surnames[n%len(surnames)] + givens[(n/len(surnames)+n)%len(givens)]
}

func (l *loader) ago(years int) string {
	if years < 0 {
		return ""
	}
	return l.now.AddDate(-years, 0, -10).Format("2006-01-02")
}

func (l *loader) staff(ctx context.Context, in inst) error {
	n := 0
	for di, d := range in.depts {
		// Two doctors per department; pilot departments get all four profiles.
		count := 2
		if len(d.specialties) > 0 {
			count = 4
		}
		for k := 0; k < count; k++ {
			pr := profiles[(di+k)%len(profiles)]
			if k == 0 {
				pr = profiles[0]
			}
			n++
			p := &directory.Practitioner{Institution: in.Code, Department: d.code, Name: l.name(len(in.Code)*7 + n),
				Profession: directory.Doctor, Title: pr.title, LicenceNo: fmt.Sprintf("1101%s%04d", licencePrefix(in.Code), n),
				PracticeSince: l.ago(pr.practiceY), InternetSince: l.ago(pr.internetY), TrainingPassedOn: l.ago(pr.trainY)}
			// Accounts: the first doctor of the first department, and of every
			// pilot department (who meets D-1 and can take first visits).
			if k == 0 && (di == 0 || len(d.specialties) > 0) {
				username := in.Code + "-doctor"
				if di > 0 {
					username = in.Code + "-" + d.code + "-doctor"
				}
				id, err := l.account(ctx, username, identity.RoleDoctor, in.Code, d.name+"医师")
				if err != nil {
					return err
				}
				p.AccountID = id
			}
			if l.dry {
				continue
			}
			if err := l.s.SavePractitioner(ctx, p); err != nil {
				return fmt.Errorf("demo practitioner: %w", err)
			}
			l.doctors[in.Code+"/"+d.code] = append(l.doctors[in.Code+"/"+d.code], p.ID)
			// D-2: in.suspend names the department whose second doctor (meeting D-1) is suspended from first visits.
			if d.code == in.suspend && k == 1 {
				if err := l.s.AddSuspension(ctx, &directory.Suspension{PractitionerID: p.ID, Scope: directory.SuspendFirstVisit,
					Reason: "首诊质量评价未达标，暂停首诊资格，整改后恢复", Since: l.now.AddDate(0, 0, -3)}); err != nil {
					return err
				}
			}
		}
	}
	// A pharmacist for every institution, a courier where the hospital ships itself.
	pid, err := l.account(ctx, in.Code+"-pharmacist", identity.RolePharmacist, in.Code, "审方药师")
	if err != nil {
		return err
	}
	if !l.dry {
		ph := &directory.Practitioner{Institution: in.Code, AccountID: pid, Name: l.name(len(in.Code)*7 + n + 1), Profession: directory.Pharmacist,
			Title: directory.TitleSupervisingPharm, LicenceNo: fmt.Sprintf("YS1101%s01", licencePrefix(in.Code)), PracticeSince: l.ago(8)}
		if err := l.s.SavePractitioner(ctx, ph); err != nil {
			return err
		}
	}
	// Quality staff: prescribing statistics (N-15).
	if _, err := l.account(ctx, in.Code+"-quality", identity.RoleQuality, in.Code, "质控人员（处方统计）"); err != nil {
		return err
	}
	if in.courier {
		if _, err := l.account(ctx, in.Code+"-courier", identity.RoleCourier, in.Code, "配送员"); err != nil {
			return err
		}
	}
	return nil
}

func licencePrefix(code string) string {
	b := []byte(code + "xxxx")[:4]
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func (l *loader) people(ctx context.Context) error {
	type person struct {
		username, name, note string
		age                  int
		days                 int // extra days past the birthday
		sex                  identity.Sex
		children             []person
	}
	people := []person{
		{"zhangwei", "张伟", "成年患者（复诊）", 45, 30, identity.Male, nil},
		{"liming", "李明", "监护人，有两个孩子", 38, 100, identity.Male, []person{
			{"", "李小雨", "", 8, 40, identity.Female, nil},
			{"", "李小天", "未满 6 岁（N-4）", 4, 200, identity.Male, nil},
		}},
		{"wangxiao", "王晓", "17 岁患者（世纪坛不接诊未满 18 岁）", 17, 120, identity.Female, nil},
		{"chenjing", "陈静", "孕妇患者（预约时回答“妊娠或哺乳期”）", 31, 60, identity.Female, nil},
	}
	for _, p := range people {
		l.accounts = append(l.accounts, Account{Username: p.username, Role: string(identity.RolePatient), Note: p.note})
		if l.dry {
			continue
		}
		birth := time.Date(l.now.Year()-p.age, l.now.Month(), l.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -p.days)
		a := &identity.Account{Username: p.username, PasswordHash: l.hash, Role: identity.RolePatient, Phone: fmt.Sprintf("1380000%04d", l.seq+1), CreatedAt: l.now}
		pt := &identity.Patient{Name: p.name, ResidentID: l.residentID(birth, p.sex), Birth: birth, Sex: p.sex, Phone: a.Phone, CreatedAt: l.now}
		if err := l.s.CreatePatientAccount(ctx, a, pt); err != nil {
			return fmt.Errorf("demo patient %s: %w", p.username, err)
		}
		if err := l.s.MarkPhoneVerified(ctx, a.ID, a.Phone, l.now); err != nil {
			return err
		}
		if _, err := l.s.EnrolSandboxPerson(ctx, pt.ResidentID, pt.Name, l.now); err != nil {
			return err
		}
		l.patients[p.name] = pt
		for _, c := range p.children {
			cb := time.Date(l.now.Year()-c.age, l.now.Month(), l.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -c.days)
			cp := &identity.Patient{Name: c.name, ResidentID: l.residentID(cb, c.sex), Birth: cb, Sex: c.sex, CreatedAt: l.now}
			if err := l.s.AddPatient(ctx, a.ID, cp, identity.RelChild); err != nil {
				return err
			}
			if _, err := l.s.EnrolSandboxPerson(ctx, cp.ResidentID, cp.Name, l.now); err != nil {
				return err
			}
			l.patients[c.name] = cp
		}
	}
	return nil
}

// InsuredPatient is a demo patient the insurance bureau's sandbox knows
// (M-2, M-3): the card printed on it, where and how the person is insured.
type InsuredPatient struct {
	Username, Name, CardNo, Region, Kind string
	BalanceFen                           int64 // the personal account (职工 only)
}

// InsuredPatients are the demo's insured patients; the sandbox bureau is
// told of them at every start (it keeps nothing).
var InsuredPatients = []InsuredPatient{
	{Username: "zhangwei", Name: "张伟", CardNo: "BJ1000001", Region: "110000", Kind: "employee", BalanceFen: 150000},
	{Username: "chenjing", Name: "陈静", CardNo: "BJ1000002", Region: "110000", Kind: "employee", BalanceFen: 40000},
	{Username: "liming", Name: "李小雨", CardNo: "BJ2000001", Region: "110000", Kind: "resident"},
}
