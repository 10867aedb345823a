package i18n

// Texts of the online visit (issue: the visit): errors, field codes, states.
func init() {
	add(map[string][2]string{
		"visit_illegal_step":   {"当前问诊状态为“%[2]s”，不能执行“%[1]s”", "The visit is %[2]s: %[1]s is not possible now"},
		"visit_locked":         {"问诊已开始或已结束，预问诊内容已锁定，不能再修改", "The visit has started or ended: the pre-consultation is locked"},
		"record_locked":        {"只有进行中的问诊可以编辑病历草稿；已签署的病历请使用修订", "Only a visit in progress has a draft record; amend a signed record instead"},
		"record_not_signed":    {"病历尚未签署，不能修订", "The record is not signed yet; it cannot be amended"},
		"chat_closed":          {"问诊未在候诊或进行中，不能发送消息", "The visit is not waiting or in progress: messages cannot be sent"},
		"too_early":            {"就诊时间未到，不能标记为爽约", "The visit's time has not come: it cannot be marked as a no-show"},
		"doctor_not_eligible":  {"医师当前不能接诊此问诊，原因见各项", "The doctor may not start this visit now; see the reasons"},
		"attachment_type":      {"只接受 JPEG、PNG 图片或 PDF 文件（按文件内容判断，而非文件名）", "Only JPEG or PNG images and PDF files are accepted (judged by the content, not the name)"},
		"attachment_too_large": {"单个文件不能超过 %d MB", "A file may not exceed %d MB"},
		"attachment_total":     {"本次问诊的附件总大小不能超过 %d MB", "The files of a visit may not exceed %d MB in all"},
		"attachment_count":     {"本次问诊最多上传 %d 个附件", "A visit may have at most %d files"},

		"field.field_type":     {"不支持的题目类型", "Unknown question type"},
		"field.files_required": {"请上传至少一个文件", "Upload at least one file"},
		"field.answer_type":    {"答案格式不正确", "The answer has the wrong form"},
		"field.number_format":  {"请输入数字", "Enter a number"},
		"field.number_range":   {"数值超出合理范围", "The number is out of range"},
		"field.not_an_option":  {"不是可选项之一", "Not one of the options"},
		"field.too_many_rows":  {"行数过多", "Too many rows"},
		"field.icd_unknown":    {"不是有效的 ICD-10 编码", "Not a known ICD-10 code"},
		"doctor.not_assigned":  {"不是本次问诊的接诊医师", "Not the doctor of this visit"},

		"state.booked":      {"已预约", "Booked"},
		"state.checked_in":  {"已完成预问诊", "Pre-consultation done"},
		"state.waiting":     {"候诊中", "Waiting"},
		"state.in_progress": {"问诊中", "In progress"},
		"state.completed":   {"已完成", "Completed"},
		"state.terminated":  {"已终止，转线下就诊", "Terminated, referred offline"},
		"state.no_show":     {"爽约", "No-show"},
		"state.cancelled":   {"已取消", "Cancelled"},

		"act.check_in":  {"提交预问诊", "check in"},
		"act.wait":      {"进入候诊", "enter the waiting room"},
		"act.start":     {"接诊", "call in"},
		"act.complete":  {"完成问诊", "complete"},
		"act.terminate": {"终止问诊", "terminate"},
		"act.no_show":   {"标记爽约", "mark as no-show"},
		"act.cancel":    {"取消", "cancel"},

		"urgency.routine":   {"两周内到院就诊", "Within two weeks"},
		"urgency.soon":      {"三天内到院就诊", "Within three days"},
		"urgency.emergency": {"立即前往急诊", "Go to the emergency department now"},
	})
}
