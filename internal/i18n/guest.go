package i18n

// Texts of a guest in a visit's call (issue 14): a second parent, an
// interpreter or the child's community doctor joining by a one-time link.
func init() {
	add(map[string][2]string{
		// Errors.
		"visit_ended":        {"本次问诊已结束", "The visit has ended"},
		"guest_limit":        {"每次问诊最多邀请 %v 位来宾", "At most %v guests may be invited to a visit"},
		"guest_link_invalid": {"邀请链接已使用、已过期或已被撤销", "The invitation link has been used, has expired or was withdrawn"},

		"field.licence_format": {"请输入执业证书编码（6 到 30 位字母或数字）", "Enter the practising licence number (6 to 30 letters or digits)"},

		// Roles and how everyone in the call sees a participant.
		"guest.role.guardian":    {"家属", "Family member"},
		"guest.role.interpreter": {"翻译", "Interpreter"},
		"guest.role.clinician":   {"社区医生", "Community doctor"},
		"guest.party.doctor":     {"医生", "Doctor"},
		"guest.party.patient":    {"患者", "Patient"},
		"guest.party.guest":      {"来宾", "Guest"},
		"guest.label":            {"%s：%s", "%s: %s"},
		"guest.status.invited":   {"已邀请", "invited"},
		"guest.status.joined":    {"已加入", "joined"},
		"guest.status.left":      {"已离开", "left"},
		"guest.status.removed":   {"已移出", "removed"},
		"guest.present":          {"已记录在场（N-4）", "recorded as present (N-4)"},

		// The SMS with the link.
		"guest.sms": {"【云医】%[1]s 的在线问诊（%[2]s 医师）邀请您以「%[3]s」身份加入视频问诊：%[4]s 链接仅本人一次有效，问诊结束即失效。",
			"[Yunyi] You are invited to join %[1]s's online visit (Dr %[2]s) as %[3]s: %[4]s The link works once, for you only, until the visit ends."},

		// The guest's pages.
		"guest.title":        {"加入在线问诊", "Join an online visit"},
		"guest.intro":        {"您受邀以「%s」身份加入 %s 的在线问诊（%s 医师）。请填写真实姓名，问诊中的所有人将看到您的身份和姓名。", "You are invited to join %[2]s's online visit (Dr %[3]s) as %[1]s. Give your real name: everyone in the call will see your role and name."},
		"guest.name":         {"真实姓名", "Real name"},
		"guest.licence":      {"执业证书编码", "Practising licence number"},
		"guest.join":         {"加入问诊", "Join the visit"},
		"guest.leave":        {"离开问诊", "Leave the visit"},
		"guest.left":         {"您已离开本次问诊。", "You have left the visit."},
		"guest.ended":        {"您已不在本次问诊中（已离开、被移出，或问诊已结束）。", "You are no longer in this visit (you left, were removed, or the visit ended)."},
		"guest.participants": {"参与者", "In the call"},
		"guest.only_call":    {"来宾只能参加本次问诊的文字和视频交流，不能查看病历、资料或预问诊。", "As a guest you take part in this visit's chat and video only: not its record, files or pre-consultation."},
		"guest.invite":       {"邀请来宾", "Invite a guest"},
		"guest.invite_hint":  {"邀请第二位家长、翻译或孩子的社区医生加入问诊，对方将收到一次性链接短信。", "Invite a second parent, an interpreter or the child's community doctor: they get a one-time link by SMS."},
		"guest.phone":        {"手机号码", "Mobile number"},
		"guest.role":         {"身份", "Role"},
		"guest.send":         {"发送邀请", "Send the invitation"},
		"guest.remove":       {"移出", "Remove"},
		"guest.mark_present": {"记录社区医生在场（N-4）", "Record the clinician as present (N-4)"},
		"guest.sent":         {"邀请已发送", "Invitation sent"},
		"guest.removed_sock": {"您已被医生移出本次问诊。", "The doctor removed you from the visit."},
		"guest.chat":         {"问诊交流", "Conversation"},
		"guest.send_message": {"发送", "Send"},
		"guest.video":        {"视频", "Video"},
		"guest.start_video":  {"开启视频", "Start video"},
	})
}
