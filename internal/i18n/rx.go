package i18n

// Texts of e-prescriptions (issue 11): errors, field codes, statuses.
func init() {
	add(map[string][2]string{
		"prescription_refused":     {"处方未通过安全规则检查，不能开具：%s", "The prescription did not pass the safety rules: %s"},
		"not_prescriber":           {"只有本次问诊的接诊医师本人可以开具处方", "Only the visit's own doctor may prescribe"},
		"prescribe_window":         {"问诊未在进行中或已结束超过 %d 小时，不能再开具处方", "The visit is not in progress, or ended more than %d hours ago: no prescription can be issued"},
		"prescription_not_pending": {"该处方不在待审核状态", "The prescription is not waiting for review"},
		"prescription_expired":     {"处方已超过有效期，不能审核或调配", "The prescription has expired: it can no longer be reviewed or filled"},
		"prescription_revises":     {"只能修改本次问诊最新一版且已被药师驳回的处方", "Only the visit's latest prescription, rejected by the pharmacist, can be revised"},
		"signing_unavailable":      {"电子签名服务未配置（缺少签名密钥文件）", "Electronic signatures are not configured (no signing key file)"},

		"field.invalid": {"取值无效", "Not a valid value"},

		"rx.status.pending_review": {"待药师审核", "Waiting for pharmacist review"},
		"rx.status.approved":       {"审核通过", "Approved"},
		"rx.status.rejected":       {"药师驳回", "Rejected by the pharmacist"},
		"rx.status.expired":        {"已过期", "Expired"},
		"rx.status.dispensed":      {"已调配", "Dispensed"},
	})
}
