package demo

import (
	"context"

	"github.com/yunyi-health/yunyi/internal/visit"
)

func num(v float64) *float64 { return &v }

// drugAllergies asks for the drug allergies the prescription rules check.
func drugAllergies() visit.Field {
	return visit.Field{Key: "drug_allergies", Label: "药物过敏史（如青霉素、头孢，无则填“无”）", LabelEN: "Drug allergies (e.g. penicillin; \"none\" if none)", Type: visit.FieldText}
}

// weightNow asks for the child's weight, offered to the doctor for
// weight-based doses.
func weightNow() visit.Field {
	return visit.Field{Key: "weight_kg", Label: "目前体重", LabelEN: "Weight now", Type: visit.FieldNumber, Unit: "kg", Min: num(1), Max: num(200)}
}

func yesno(key, label, en string) visit.Field {
	return visit.Field{Key: key, Label: label, LabelEN: en, Type: visit.FieldYesNo}
}

// Questionnaires are the pre-consultation templates of the demo (V-1): one
// per pilot specialty and a general one for follow-up visits. Each red
// flag is a CEL condition on the answers (a).
func Questionnaires() []visit.Questionnaire {
	files := func(label, en string, required bool) visit.Field {
		return visit.Field{Key: "files", Label: label, LabelEN: en, Type: visit.FieldFiles, Required: required}
	}
	return []visit.Questionnaire{
		{Code: "follow_up", Title: "复诊预问诊", TitleEN: "Follow-up pre-consultation", Fields: []visit.Field{
			{Key: "diagnosis", Label: "线下已确诊的疾病", LabelEN: "Diagnosis made offline", Type: visit.FieldText, Required: true},
			{Key: "diagnosed_on", Label: "确诊日期", LabelEN: "Diagnosed on", Type: visit.FieldDate},
			{Key: "current_state", Label: "目前情况（症状变化、复查结果）", LabelEN: "Current state (symptoms, recent results)", Type: visit.FieldTextarea, Required: true},
			{Key: "medicines", Label: "正在使用的药物及用法", LabelEN: "Medicines taken now, and how", Type: visit.FieldTextarea},
			drugAllergies(),
			yesno("new_symptoms", "是否出现新的症状", "Any new symptoms"),
			yesno("chest_pain", "是否有胸痛、呼吸困难或意识改变", "Chest pain, breathlessness or confusion"),
			files("既往病历、检查检验报告（JPEG、PNG 或 PDF）", "Past records and lab reports (JPEG, PNG or PDF)", false),
		}, RedFlags: []visit.RedFlag{
			{Code: "acute_symptoms", When: `has(a.chest_pain) && a.chest_pain == true`, Message: "有胸痛、呼吸困难或意识改变：不宜线上复诊，应立即线下或急诊就诊",
				MessageEN: "Chest pain, breathlessness or confusion: not for online care; send to the emergency department"},
			{Code: "new_problem", When: `has(a.new_symptoms) && a.new_symptoms == true`, Message: "出现新的症状：复诊仅限已确诊疾病，新问题须线下首诊",
				MessageEN: "New symptoms: follow-up covers the known disease only; a new problem needs an offline first visit"},
		}},
		{Code: "growth", Title: "生长发育首诊预问诊", TitleEN: "Growth and development pre-consultation", Fields: []visit.Field{
			{Key: "concern", Label: "主要担心的问题", LabelEN: "Main concern", Type: visit.FieldChoice, Required: true, Options: []visit.Option{
				{Value: "short", Label: "身高偏矮", LabelEN: "Short stature"}, {Value: "slow", Label: "长得慢", LabelEN: "Growing slowly"},
				{Value: "early_puberty", Label: "发育偏早", LabelEN: "Early puberty"}, {Value: "other", Label: "其他", LabelEN: "Other"}}},
			weightNow(), drugAllergies(),
			{Key: "measurements", Label: "身高体重记录（最近的几次）", LabelEN: "Height and weight history", Type: visit.FieldTable, Required: true, MaxRows: 12,
				Columns: []visit.Column{{Key: "date", Label: "日期", LabelEN: "Date", Type: visit.FieldDate},
					{Key: "height_cm", Label: "身高", LabelEN: "Height", Type: visit.FieldNumber, Unit: "cm"},
					{Key: "weight_kg", Label: "体重", LabelEN: "Weight", Type: visit.FieldNumber, Unit: "kg"}}},
			{Key: "father_height_cm", Label: "父亲身高", LabelEN: "Father's height", Type: visit.FieldNumber, Unit: "cm", Min: num(120), Max: num(230), Required: true},
			{Key: "mother_height_cm", Label: "母亲身高", LabelEN: "Mother's height", Type: visit.FieldNumber, Unit: "cm", Min: num(120), Max: num(230), Required: true},
			{Key: "birth_weeks", Label: "出生胎龄", LabelEN: "Gestational age at birth", Type: visit.FieldNumber, Unit: "周", Min: num(22), Max: num(44)},
			{Key: "birth_weight_kg", Label: "出生体重", LabelEN: "Birth weight", Type: visit.FieldNumber, Unit: "kg", Min: num(0.3), Max: num(7)},
			yesno("headache_vomiting", "近期是否有头痛、呕吐或视力下降", "Recent headaches, vomiting or worse sight"),
			files("骨龄片、既往检查报告", "Bone-age X-ray, past reports", false),
		}, RedFlags: []visit.RedFlag{
			{Code: "intracranial", When: `has(a.headache_vomiting) && a.headache_vomiting == true`, Message: "头痛、呕吐或视力下降伴生长问题：警惕颅内病变，应线下就诊",
				MessageEN: "Headache, vomiting or worse sight with a growth problem: rule out an intracranial cause in person"},
			{Code: "preterm", When: `has(a.birth_weeks) && a.birth_weeks < 32.0`, Message: "出生胎龄不足 32 周：需结合矫正年龄评估",
				MessageEN: "Born before 32 weeks: assess against corrected age"},
		}},
		{Code: "nutrition", Title: "营养首诊预问诊", TitleEN: "Nutrition pre-consultation", Fields: []visit.Field{
			{Key: "concern", Label: "主要问题", LabelEN: "Main problem", Type: visit.FieldChoice, Required: true, Options: []visit.Option{
				{Value: "picky", Label: "挑食、进食少", LabelEN: "Picky eating"}, {Value: "underweight", Label: "体重不增或偏瘦", LabelEN: "Underweight"},
				{Value: "overweight", Label: "超重或肥胖", LabelEN: "Overweight"}, {Value: "anaemia", Label: "贫血", LabelEN: "Anaemia"}}},
			weightNow(), drugAllergies(),
			{Key: "diet", Label: "一日饮食情况（早、中、晚及加餐）", LabelEN: "A day's diet", Type: visit.FieldTextarea, Required: true},
			{Key: "weights", Label: "体重变化记录", LabelEN: "Weight curve", Type: visit.FieldTable, MaxRows: 12,
				Columns: []visit.Column{{Key: "date", Label: "日期", LabelEN: "Date", Type: visit.FieldDate},
					{Key: "weight_kg", Label: "体重", LabelEN: "Weight", Type: visit.FieldNumber, Unit: "kg"}}},
			{Key: "weight_loss_pct", Label: "近 3 个月体重下降比例", LabelEN: "Weight lost in the last 3 months", Type: visit.FieldNumber, Unit: "%", Min: num(0), Max: num(100)},
			{Key: "allergies", Label: "食物过敏", LabelEN: "Food allergies", Type: visit.FieldText},
			files("既往检查报告（血常规等）", "Past reports (blood count, ...)", false),
		}, RedFlags: []visit.RedFlag{
			{Code: "weight_loss", When: `has(a.weight_loss_pct) && a.weight_loss_pct >= 10.0`, Message: "3 个月内体重下降 ≥10%：需线下查找原因",
				MessageEN: "Lost 10% or more in 3 months: find the cause in person"},
		}},
		{Code: "skin", Title: "皮肤疾病首诊预问诊", TitleEN: "Skin disease pre-consultation", Fields: []visit.Field{
			{Key: "site", Label: "皮损部位", LabelEN: "Site", Type: visit.FieldMulti, Required: true, Options: []visit.Option{
				{Value: "face", Label: "面部", LabelEN: "Face"}, {Value: "scalp", Label: "头皮", LabelEN: "Scalp"}, {Value: "trunk", Label: "躯干", LabelEN: "Trunk"},
				{Value: "limbs", Label: "四肢", LabelEN: "Limbs"}, {Value: "diaper", Label: "尿布区", LabelEN: "Diaper area"}}},
			{Key: "duration_days", Label: "出现多少天", LabelEN: "For how many days", Type: visit.FieldNumber, Unit: "天", Min: num(0), Max: num(3650), Required: true},
			{Key: "itch", Label: "瘙痒程度", LabelEN: "Itch", Type: visit.FieldChoice, Options: []visit.Option{
				{Value: "none", Label: "不痒", LabelEN: "None"}, {Value: "mild", Label: "轻度", LabelEN: "Mild"}, {Value: "severe", Label: "严重影响睡眠", LabelEN: "Keeps the child awake"}}},
			{Key: "description", Label: "皮疹描述、诱因及用药情况", LabelEN: "Rash, triggers, treatments tried", Type: visit.FieldTextarea},
			yesno("fever", "是否伴有发热", "With fever"),
			yesno("blisters_mucosa", "是否有大片水疱或口腔、眼部黏膜受累", "Large blisters, or mouth or eyes affected"),
			weightNow(), drugAllergies(),
			files("皮损照片（清晰、光线充足，必传）", "Photos of the skin (sharp, well lit; required)", true),
		}, RedFlags: []visit.RedFlag{
			{Code: "mucosa", When: `has(a.blisters_mucosa) && a.blisters_mucosa == true`, Message: "大片水疱或黏膜受累：警惕重症药疹，应立即线下或急诊就诊",
				MessageEN: "Large blisters or mucosa involved: possible severe drug reaction; send to the emergency department"},
			{Code: "fever_rash", When: `has(a.fever) && a.fever == true`, Message: "皮疹伴发热：需排除感染性疾病，线上诊断须谨慎",
				MessageEN: "Rash with fever: rule out infection before diagnosing online"},
		}},
	}
}

// questionnaireOf picks the template of a demo service.
func questionnaireOf(specialty string) string {
	switch specialty {
	case "growth", "nutrition", "skin":
		return specialty
	}
	return "follow_up"
}

func (l *loader) questionnaires(ctx context.Context) error {
	if l.dry {
		return nil
	}
	for _, q := range Questionnaires() {
		q.UpdatedAt = l.now
		if err := q.Validate(); err != nil {
			return err
		}
		if err := l.s.SaveQuestionnaire(ctx, &q); err != nil {
			return err
		}
	}
	return nil
}
