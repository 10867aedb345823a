package i18n

// Texts of the visit day (issue: the visit day as a family lives it): the
// waiting line, a doctor running late, reminders by the estimated time,
// calls the patient missed.
func init() {
	add(map[string][2]string{
		"act.skip": {"稍后再叫", "call again later"},

		// The waiting room and the doctor's queue. queue.ahead takes %v so
		// that the page can also give the script its template ({n}, {m}).
		"queue.ahead":     {"前面还有 %v 位，预计 %v 分钟", "%v ahead of you, about %v minutes"},
		"queue.next":      {"下一位就是您，请留意医生呼叫", "You are next: the doctor will call you soon"},
		"queue.number":    {"第 %d 号", "No. %d"},
		"queue.estimated": {"预计 %s", "Expected at %s"},
		"queue.col_no":    {"号", "No."},
		"queue.col_est":   {"预计时间", "Expected"},
		"queue.no_pre":    {"未填预问诊", "No pre-consultation"},
		"queue.missed":    {"已呼叫未到 %d 次", "Missed %d call(s)"},
		"queue.skip":      {"患者不在，稍后再叫", "Not here: call again later"},
		"queue.skip_last": {"患者仍不在，记为爽约", "Still not here: mark as no-show"},
		"queue.skip_hint": {"未到的患者将排到下一位之后再呼叫一次，第二次仍未到记为爽约。", "A patient who is not here is called once more after the next one, then marked as a no-show."},

		// Notices (inbox and SMS).
		"queue.late.title": {"就诊时间调整", "Your visit's time has moved"},
		"queue.late.body": {"您预约的%[1]s（%[2]s，%[3]s 医师）第 %[4]d 号，医生接诊延迟，预计就诊时间调整为 %[5]s。",
			"%[2]s's visit (%[1]s, Dr %[3]s), number %[4]d: the doctor is running late; the expected time is now %[5]s."},
		"queue.missed.title": {"医生呼叫时您不在", "You missed the doctor's call"},
		"queue.missed.body": {"%[1]s 的%[2]s（%[3]s 医师）第 %[4]d 号：医生呼叫时您不在候诊，将在下一位之后再呼叫一次，届时仍未到将记为爽约。",
			"%[1]s's visit (%[2]s, Dr %[3]s), number %[4]d: you were not there when the doctor called; you will be called once more after the next patient, then marked as a no-show."},
		"queue.reminder.title": {"问诊提醒", "Visit reminder"},
		"queue.reminder.body": {"%[1]s 的%[2]s（%[3]s 医师）第 %[4]d 号，预计今天 %[5]s 开始，请先完成预问诊并按时进入候诊。",
			"%[1]s's visit (%[2]s, Dr %[3]s), number %[4]d, is expected to start today at %[5]s; please do the pre-consultation and enter the waiting room on time."},
	})
}
