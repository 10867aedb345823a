package i18n

// Texts of identity that cannot be squatted (N-5, issue 15): SMS codes,
// the public-security identity check, claims of a resident ID.
func init() {
	add(map[string][2]string{
		// Errors.
		"identity_check_unavailable": {"公安部身份核验服务暂时无法连接，本次未保存任何信息，请稍后再试",
			"The identity check of the Ministry of Public Security cannot be reached now; nothing was saved: please try again later"},
		"identity_disputed": {"该身份证号近期已被认领，为保护各方信息，请携带身份证件（儿童请携带户口簿或出生医学证明）到医院窗口当面核验",
			"This resident ID was claimed recently: to protect everyone's data, bring the ID card (for a child, the household register or birth certificate) to a hospital counter to have it checked in person"},
		"identity_registered": {"该身份证号已由本手机号注册过账号（用户名 %s），请直接登录",
			"This resident ID already has an account proved by this phone (username %s): please log in"},
		"sms_failed": {"短信发送失败，请稍后再试", "The text message could not be sent: please try again later"},

		"field.identity_mismatch":    {"姓名与身份证号不一致（公安部身份核验）", "The name does not match the resident ID (identity check of the Ministry of Public Security)"},
		"field.sms_code_invalid":     {"验证码错误或已失效，请重新获取", "The code is wrong or no longer valid: ask for a new one"},
		"field.sms_code_format":      {"请输入 6 位数字验证码", "Enter the 6-digit code"},
		"field.purpose_invalid":      {"用途只能是 register（注册）或 add_child（添加就诊人）", "The purpose is register or add_child"},
		"field.phone_not_account":    {"验证码只发送到本账号登记的手机号", "Codes go to the account's own mobile number only"},
		"sms.code.register":          {"【云医】您的注册验证码为 %s，5 分钟内有效，请勿告诉他人。如非本人操作，请忽略本短信。", "[Yunyi] Your registration code is %s, valid for 5 minutes. Do not share it. If you did not ask for it, ignore this message."},
		"sms.code.add_child":         {"【云医】您正在添加就诊人，验证码为 %s，5 分钟内有效，请勿告诉他人。", "[Yunyi] You are adding a patient: your code is %s, valid for 5 minutes. Do not share it."},
		"claim.self.title":           {"账号已冻结", "Account frozen"},
		"claim.self.body":            {"您账号的本人档案（%s）所用身份证号已由通过公安部身份核验的本人认领，该档案与账号已冻结，不能再登录或预约。如您确为本人，请携带身份证件到医院窗口当面核验。", "The resident ID of your own profile (%s) was claimed by its holder, verified by the identity check of the Ministry of Public Security: the profile and the account are frozen and can no longer log in or book. If the ID is yours, bring your ID card to a hospital counter to have it checked in person."},
		"claim.child.title":          {"就诊人档案已冻结", "Patient profile frozen"},
		"claim.child.body":           {"就诊人 %s 的身份证号已由通过公安部身份核验的本人或监护人认领，该档案已冻结，不能再查看或预约。如您是其监护人，请携带户口簿或出生医学证明到医院窗口当面核验；如认领者是孩子的另一位监护人，可请其在「我的」页面为您生成监护人邀请码。", "The resident ID of the patient %s was claimed by its holder or a guardian verified by the identity check of the Ministry of Public Security: the profile is frozen and can no longer be read or booked for. If you are the child's guardian, bring the household register or birth certificate to a hospital counter; if the claimant is the child's other guardian, ask them for a guardian invitation code (on their \"Me\" page)."},
		"f.sms_code":                 {"短信验证码", "SMS code"},
		"register.send_code":         {"获取验证码", "Send me a code"},
		"register.code_sent":         {"验证码已发送至 %s，5 分钟内有效", "A code was sent to %s; it is valid for 5 minutes"},
		"register.demo_sms":          {"演示环境：短信不会真正发出，验证码可用 admin 账号在「运维」页的「短信沙箱记录」中查看。", "Demo: no text message is really sent; read the code in the SMS log of the operations page, logged in as admin."},
		"register.verify_hint":       {"注册需验证手机号，并经公安部身份核验确认姓名与身份证号一致。", "Registration proves your phone by a code and checks your name and resident ID with the Ministry of Public Security."},
		"me.addchild.verify":         {"本账号的手机号尚未验证：添加就诊人前请先获取验证码。", "This account's phone is not verified yet: ask for a code before adding a patient."},
		"me.addchild.other_guardian": {"如孩子已由另一位监护人添加，请向其索取监护人邀请码（在上方「用邀请码关联孩子」中填写），不要重复添加：重复添加将冻结对方的档案。", "If the child was added by another guardian, ask them for a guardian invitation code (enter it above) instead of adding the child again: adding again freezes their profile of the child."},
	})
}
