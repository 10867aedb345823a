package i18n

// Texts of the retention of records (N-17; package retention).
func init() {
	add(map[string][2]string{
		"retention_period": {"该记录须按规定保存至 %s，保存期满前不能删除（N-17）",
			"This record must be kept until %s: it cannot be deleted before (N-17)"},
		"field.retention_below_minimum": {"不能短于法定最短保存期 %d 年", "May not be shorter than the legal minimum of %d years"},
		"field.retention_too_long":      {"保存期不能超过 %d 年", "A period may not exceed %d years"},
		"field.retention_not_purgeable": {"此类记录从不自动清除", "Records of this type are never purged"},
	})
}
