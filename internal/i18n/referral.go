package i18n

// Texts of referrals, record-sharing consents and disease-control reports
// (issue 16; packages referral and cdc).
func init() {
	add(map[string][2]string{
		"referral_state":                  {"转诊单当前状态为“%s”，不能进行此操作", "The referral is %s: this step is not allowed"},
		"consent_revoked":                 {"该授权已撤回", "This consent was revoked already"},
		"field.referral_same_institution": {"不能转诊到本机构", "A referral goes to another institution"},
		"act.referral":                    {"开具转诊单", "refer the patient"},
		"referral.state.created":          {"待接收", "Awaiting the receiving institution"},
		"referral.state.accepted":         {"已接收", "Accepted"},
		"referral.state.declined":         {"已拒绝", "Declined"},
		"referral.state.cancelled":        {"已撤销", "Cancelled"},
		"referral.direction.up":           {"上转（转上级医院专科）", "Up (to a specialist)"},
		"referral.direction.down":         {"下转（转基层医疗机构）", "Down (to primary care)"},
		"referral.direction.peer":         {"平级转诊", "To a peer institution"},
		"referral.urgency.routine":        {"普通", "Routine"},
		"referral.urgency.urgent":         {"加急", "Urgent"},
		"referral.urgency.emergency":      {"紧急", "Emergency"},
		"referral.received.title":         {"收到转诊申请", "Referral received"},
		"referral.received.body": {"%s %s医师为患者%s开具了转诊单，转入%s（%s）：%s。请在“转诊”页面接收或拒绝。",
			"%s (Dr %s) referred %s to %s (%s): %s. Accept or decline it on the Referrals page."},
		"referral.referral_created.title": {"医生已为您开具转诊单", "You were referred"},
		"referral.referral_created.body": {"%s已由%s转诊至%s%s，待对方医院接收后会再通知您。%s",
			"%s was referred by %s to %s, %s; you will be told when it is accepted.%s"},
		"referral.referral_accepted.title": {"转诊已被接收", "Referral accepted"},
		"referral.referral_accepted.body": {"%s由%s转往%s%s的转诊已被接收，可预约该科室复诊。%s",
			"The referral of %s from %s to %s, %s was accepted: you may book a follow-up there.%s"},
		"referral.referral_declined.title": {"转诊未被接收", "Referral declined"},
		"referral.referral_declined.body": {"%s由%s转往%s%s的转诊未被接收，原因：%s",
			"The referral of %s from %s to %s, %s was declined: %s"},
		"referral.referral_cancelled.title": {"转诊已撤销", "Referral cancelled"},
		"referral.referral_cancelled.body": {"%s由%s转往%s%s的转诊已由医生撤销。%s",
			"The referral of %s from %s to %s, %s was cancelled by the doctor.%s"},
		"consent.all_sources": {"所有医疗机构", "every institution"},
	})
}
