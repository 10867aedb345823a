package i18n

// catalog maps a key to its Chinese and English text.
var catalog = map[string][2]string{
	// Error codes (package errs).
	"invalid_input":          {"输入有误，请检查标出的项目", "Some input is not valid; see the marked fields"},
	"not_found":              {"未找到该对象，或您无权查看", "Not found, or you may not see it"},
	"forbidden":              {"您无权执行此操作", "You are not allowed to do this"},
	"unauthorized":           {"请先登录，或登录已过期", "Please log in; your session may have expired"},
	"bad_credentials":        {"用户名或密码错误", "Wrong username or password"},
	"rate_limited":           {"操作过于频繁，请稍后再试", "Too many requests; please try again later"},
	"conflict":               {"操作与当前状态冲突", "This conflicts with the current state"},
	"duplicate":              {"该信息已被登记", "This is already registered"},
	"csrf_failed":            {"页面已过期或来源不可信，请刷新页面后重试", "The form expired or came from another site; reload the page and try again"},
	"internal":               {"系统内部错误，请稍后再试", "Internal error; please try again later"},
	"unavailable":            {"服务暂不可用", "Service unavailable"},
	"payload_too_large":      {"提交的内容过大", "The request is too large"},
	"unsupported_media_type": {"不支持的内容类型，请使用 JSON", "Unsupported content type; send JSON"},
	"not_qualified":          {"该机构尚未获得互联网诊疗资质批准，暂不能提供服务", "This institution is not yet approved for internet diagnosis"},
	"bad_json":               {"请求内容不是有效的 JSON", "The request body is not valid JSON"},
	"method_not_allowed":     {"不支持该请求方法", "Method not allowed"},

	// Field error codes.
	"field.required":                    {"此项为必填项", "This field is required"},
	"field.duplicate":                   {"已被登记，不能重复", "Already registered"},
	"field.not_found":                   {"不存在", "Does not exist"},
	"field.username_format":             {"用户名须以字母开头，3 到 32 位字母、数字、下划线、点或连字符", "Username: 3 to 32 letters, digits, _ . or -, starting with a letter"},
	"field.password_length":             {"密码长度须为 8 到 128 位", "Password must be 8 to 128 characters"},
	"field.password_weak":               {"密码须同时包含字母和数字，且不能与用户名相同", "Password needs letters and digits and must differ from the username"},
	"field.phone_format":                {"请输入 11 位中国大陆手机号码", "Enter an 11-digit mainland China mobile number"},
	"field.name_format":                 {"请输入 2 到 30 个字的真实姓名", "Enter a real name of 2 to 30 characters"},
	"field.resident_id_length":          {"居民身份证号须为 18 位", "A resident ID number has 18 characters"},
	"field.resident_id_format":          {"居民身份证号须为 17 位数字加 1 位数字或 X", "A resident ID number is 17 digits and a digit or X"},
	"field.resident_id_region":          {"居民身份证号的地区码无效", "The region code of the resident ID number is not valid"},
	"field.resident_id_birth":           {"居民身份证号中的出生日期无效", "The birth date in the resident ID number is not valid"},
	"field.resident_id_future":          {"居民身份证号中的出生日期晚于今天", "The birth date in the resident ID number is in the future"},
	"field.resident_id_checksum":        {"居民身份证号校验位不正确，请核对", "The check digit of the resident ID number is wrong; please check it"},
	"field.resident_id_mismatch_birth":  {"出生日期与居民身份证号不一致", "The birth date does not match the resident ID number"},
	"field.resident_id_mismatch_sex":    {"性别与居民身份证号不一致", "The sex does not match the resident ID number"},
	"field.child_not_minor":             {"子女须未满 18 周岁；成年人请自行注册", "A child must be under 18; adults register themselves"},
	"field.relation_invalid":            {"关系只能是“子女”", "The relation must be child"},
	"field.role_invalid":                {"角色无效", "Unknown role"},
	"field.institution_required":        {"医务人员账户须属于一个医疗机构", "Staff accounts belong to an institution"},
	"field.institution_not_allowed":     {"该角色不属于某个医疗机构", "This role does not belong to an institution"},
	"field.code_format":                 {"编码须为 2 到 40 位小写字母、数字或连字符，以字母开头", "Code: 2 to 40 lower-case letters, digits or -, starting with a letter"},
	"field.status_invalid":              {"资质状态无效", "Unknown qualification status"},
	"field.date_format":                 {"日期格式应为 YYYY-MM-DD", "Dates are written YYYY-MM-DD"},
	"field.kind_invalid":                {"服务类型须为复诊或首诊", "The kind is follow-up or first visit"},
	"field.first_visit_needs_specialty": {"首诊服务须指定专业", "A first-visit service needs a specialty"},
	"field.price_range":                 {"价格须在 0 到 100000 元之间", "Price must be between 0 and 100,000 yuan"},
	"field.days_format":                 {"开放日为 1 到 7 的数字，用逗号分隔", "Open days are numbers 1 to 7 separated by commas"},
	"field.title_invalid":               {"职称无效", "Unknown title"},
	"field.profession_invalid":          {"职业须为医师或药师", "Profession is doctor or pharmacist"},
	"field.scope_invalid":               {"暂停范围须为“首诊”或“全部互联网诊疗”", "Scope is first_visit or all"},
	"field.pilot_not_designated":        {"机构未被指定为首诊试点，不能设置试点专业", "The institution is not a designated first-visit pilot"},
	"field.number":                      {"须为数字", "Must be a number"},

	// D-1 / D-2 reasons.
	"d1_not_doctor":            {"不是医师", "Not a doctor"},
	"d1_no_licence":            {"没有执业证书编号", "No licence number"},
	"d1_practice_years":        {"独立临床工作不满 %d 年", "Less than %d years of independent clinical practice"},
	"d1_title":                 {"职称低于主治医师", "Title below attending physician"},
	"d1_internet_years":        {"互联网复诊经验不满 %d 年", "Less than %d year of internet follow-up practice"},
	"d1_training":              {"未完成院内互联网诊疗培训并通过考核", "Has not passed the hospital's internet-diagnosis training and assessment"},
	"d2_suspended_first_visit": {"已被暂停首诊资格：%s", "Suspended from first visits: %s"},
	"d2_suspended_all":         {"已被暂停全部互联网诊疗：%s", "Suspended from all internet work: %s"},
}

func init() {
	add(map[string][2]string{
		"field.type_string":  {"须为文本", "Must be text"},
		"field.type_int64":   {"须为整数", "Must be an integer"},
		"field.type_int":     {"须为整数", "Must be an integer"},
		"field.type_bool":    {"须为 true 或 false", "Must be true or false"},
		"field.type_float64": {"须为数字", "Must be a number"},
		"field.type_slice":   {"须为列表", "Must be a list"},
		"field.type_struct":  {"须为对象", "Must be an object"},
		"field.type_map":     {"须为对象", "Must be an object"},
	})
}

func init() {
	catalog["field.code_immutable"] = [2]string{"编码不能修改", "The code cannot be changed"}
}

func init() {
	catalog["field.unknown_field"] = [2]string{"不认识的字段", "Unknown field"}
}

// Editing an object with PUT or PATCH (issue 15, N-19).
func init() {
	add(map[string][2]string{
		"field.put_missing":       {"PUT 替换整个对象，不能省略此项（只改部分字段请用 PATCH）", "PUT replaces the whole object: this field may not be left out (use PATCH to change only some fields)"},
		"field.field_not_allowed": {"您的角色不能修改此项", "Your role may not change this field"},
		"field.read_only":         {"此项在这里只读，请在它自己的地址修改", "This field is read-only here; change it at its own address"},
	})
}

// Booking texts.
func init() {
	add(map[string][2]string{
		"ineligible":     {"不符合预约条件：%s", "Not eligible: %s"},
		"reason.sep":     {"；", "; "},
		"slot_full":      {"该号源已约满，请选择其他时段", "This slot is full; please choose another"},
		"already_booked": {"该就诊人当天在该科室已有预约，每人每天每科室限约一次", "This patient already has a booking in this department that day"},
		"not_open":       {"该号源尚未开放预约，将于 %s 开放", "Booking for this slot opens at %s"},
		"booking_closed": {"该号源已停止预约（须提前 %d 天预约）", "Booking for this slot has closed (book at least %d days ahead)"},
		"cancel_cutoff":  {"距就诊时间不足 %d 分钟，已不能取消", "Less than %d minutes before the visit: it can no longer be cancelled"},
		"slot_closed":    {"该号源已停诊", "This slot has been withdrawn"},
		"bad_file":       {"文件无法读取：%s", "The file cannot be read: %s"},

		"q.pregnant":    {"您（就诊人）目前是否处于妊娠期或哺乳期？", "Is the patient pregnant or breastfeeding?"},
		"q.critical":    {"是否有急危重症状（如呼吸困难、意识不清、剧烈胸痛、高热惊厥）？", "Are there emergency or critical symptoms (breathlessness, confusion, severe chest pain, febrile seizures)?"},
		"q.difficult":   {"医生是否告知过属于疑难复杂疾病？", "Has a doctor said the condition is difficult or complex?"},
		"q.first_visit": {"这是否是该问题第一次就诊（此前未在医院确诊）？", "Is this the first visit for this problem (never diagnosed at a hospital)?"},

		"field.time_format":    {"时间格式应为 HH:MM", "Times are written HH:MM"},
		"field.capacity_range": {"号源数须在 1 到 500 之间", "Capacity must be 1 to 500"},
		"field.days_range":     {"天数超出范围", "Number of days out of range"},
		"field.too_long":       {"内容过长", "Too long"},
		"field.nul_character":  {"不能包含空字符（NUL）", "May not contain a NUL character"},
		"field.period_invalid": {"结束日期须在开始日期之后，且不超过 92 天", "The end must follow the start, within 92 days"},
		"field.expr_invalid":   {"规则表达式无法编译：%s", "The rule expression does not compile: %s"},
	})
}

// Rules that are data (booking, prescription, red flags): the bounds of
// their cost (issue 15, package celrule).
func init() {
	add(map[string][2]string{
		"field.rule_too_costly": {"规则的计算量可能过大（最坏情况约 %d 步，上限 %d 步），请简化表达式",
			"The rule could cost too much to evaluate (about %d steps at worst; the limit is %d): simplify it"},
		"rule.failed":           {"规则 %s 未能完成计算（%s），按未通过处理", "Rule %s could not be evaluated (%s) and counts as not passed"},
		"rule.failed.cost":      {"超出计算量上限", "over the cost limit"},
		"rule.failed.cancelled": {"请求已取消", "the request was cancelled"},
		"rule.failed.error":     {"表达式在这些数据上出错", "the expression failed on these facts"},
		"flag.failed":           {"红旗规则 %s 未能完成计算（%s），请医师自行核对：%s", "Red flag %s could not be evaluated (%s); check it yourself: %s"},
	})
}

// Monitoring report texts.
func init() {
	add(map[string][2]string{
		"report_published":       {"该期月报已发布，不能再修改", "This issue is published and can no longer change"},
		"report_empty":           {"月报中没有任何条目，不能发布", "The report has no entries to publish"},
		"field.url_scheme":       {"网址须以 http:// 或 https:// 开头", "The URL must start with http:// or https://"},
		"field.source_kind":      {"来源类型须为 rss 或 html", "The kind is rss or html"},
		"field.selector_invalid": {"CSS 选择器无法解析：%s", "The CSS selector does not parse: %s"},
		"field.interval_range":   {"采集间隔须在 5 分钟到 7 天之间", "The interval must be 5 minutes to 7 days"},
		"field.term_invalid":     {"关键词须有主题、词语和大于 0 的权重", "A term needs a topic, a word and a weight above 0"},
		"field.format_unknown":   {"格式须为 txt、html、pdf 或 json", "The format is txt, html, pdf or json"},
	})
}

func init() {
	add(map[string][2]string{
		"pdf_font_missing": {"服务器未安装中文字体，暂不能生成 PDF（请安装 fonts-droid-fallback）", "No Chinese font on the server: PDF is unavailable (install fonts-droid-fallback)"},
	})
}
