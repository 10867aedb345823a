package i18n

// Texts of the visit summary (门诊病历) and of health education (W-6),
// issue 14.
func init() {
	add(map[string][2]string{
		"summary_not_ready":     {"病历签署后才能下载门诊病历", "The visit summary is available once the record is signed"},
		"summary.download":      {"下载门诊病历", "Download the visit summary"},
		"summary.download_hint": {"PDF，含诊断、医嘱、已审核处方与病历修订记录", "PDF with the diagnoses, the advice, the approved prescriptions and the record's amendments"},
		"title.education":       {"健康教育", "Health education"},
		"act.education":         {"添加健康教育资料", "attach health education"},
		"edu.intro":             {"以下为本院各专科的健康教育资料，仅供一般健康知识参考，不能代替医生面诊和个体化诊疗建议。", "Health-education articles of the hospital's specialties: general information only, not a substitute for a doctor's examination and advice."},
		"edu.none":              {"暂无健康教育资料。", "No health-education articles yet."},
		"edu.source":            {"来源", "Source"},
		"edu.visit":             {"医生推荐的健康教育资料", "Health education from your doctor"},
		"edu.visit_none":        {"医生尚未添加健康教育资料。", "The doctor has not attached any health education yet."},
		"edu.attach":            {"添加到医嘱", "Attach to the advice"},
		"edu.attach_hint":       {"勾选要推荐给患者家庭的资料（本次问诊专科的资料在前）。", "Tick the articles to give the family (those of the visit's specialty first)."},
		"edu.all":               {"查看本院全部健康教育资料", "All of the hospital's health education"},
		"edu.read":              {"阅读全文", "Read"},
	})
}
