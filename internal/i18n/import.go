package i18n

// Texts of offline-history imports (issue 15): the refusal of a file over
// the size limit, what is wrong with a whole file, and the problems of its
// rows ("import.<code>" of history.Detail).
func init() {
	add(map[string][2]string{
		"import_too_large": {"文件超过导入上限 %s。%s", "The file is over the import limit of %s. %s"},
		"import.too_large.none": {"未导入任何内容；请拆分文件，或请运维调整 --import-max-bytes",
			"Nothing was imported: split the file, or ask the operator to raise --import-max-bytes"},
		"import.too_large.partial": {"导入 #%d 在第 %d 行处停止：此前写入的 %d 行保留，再次导入时计为重复；请拆分文件，或请运维调整 --import-max-bytes",
			"Import #%d stopped at row %d: the %d rows written before stay, and count as duplicates when imported again; split the file, or ask the operator to raise --import-max-bytes"},

		// A whole file.
		"import.no_header":      {"文件为空：第一行须为表头 %s", "The file is empty: its first line must be the header %s"},
		"import.header":         {"第一行须为表头 %s", "The first line must be the header %s"},
		"import.row_too_long":   {"第 %s 行之后的一行超过 %s MB，不是就诊记录", "The row after line %s is longer than %s MB: not a visit"},
		"import.entry_too_long": {"Bundle 的 %s 超过 %s MB", "The Bundle's %s is longer than %s MB"},
		"import.fhir_not_object": {"文件不是 JSON 对象：FHIR Bundle 以 { 开始",
			"The file is not a JSON object: a FHIR Bundle starts with {"},
		"import.fhir_not_bundle":  {"resourceType 为 “%s”，应为 Bundle", "resourceType is “%s”, want Bundle"},
		"import.fhir_entry_array": {"Bundle.entry 应为数组", "Bundle.entry must be an array"},
		"import.json_type":        {"%s 应为%s，文件中却是%s", "%s must be %s, but the file has %s"},
		"import.json_syntax":      {"文件在第 %s 个字节附近不是有效的 JSON", "The file is not valid JSON near byte %s"},
		"import.json_eof":         {"文件在 Bundle 结束之前就结束了（JSON 不完整）", "The file ends before the Bundle does (incomplete JSON)"},
		"import.json.string":      {"字符串", "a string"},
		"import.json.number":      {"数字", "a number"},
		"import.json.bool":        {"true 或 false", "true or false"},
		"import.json.object":      {"对象", "an object"},
		"import.json.array":       {"数组", "an array"},
		"import.json.value":       {"其他值", "another value"},
		"import.fhir_subject":     {"Encounter %s：subject “%s” 不是本 Bundle 中的 Patient", "Encounter %s: subject “%s” is not a Patient of the bundle"},
		"import.fhir_no_resident_id": {"Encounter %s：其 Patient 既没有居民身份证号标识（system %s），也没有病案号（type 为 MR 的 identifier）",
			"Encounter %s: its Patient has neither a resident ID identifier (system %s) nor a medical record number (an identifier of type MR)"},
		"import.fhir_status": {"Encounter %s：状态为 “%s”，只有 finished 的就诊才算就诊记录",
			"Encounter %s: status “%s”, only finished encounters are visits"},
		"import.fhir_start": {"Encounter %s：period.start “%s” 不是日期", "Encounter %s: period.start “%s” is not a date"},
		"import.fhir_no_department": {"Encounter %s：没有科室；请在 serviceType 中给出（system %s），或使用 department 参数",
			"Encounter %s: no department: give serviceType with system %s or the department parameter"},

		// A row (or an encounter).
		"import.csv_quote":        {"引号不成对（至第 %s 行）", "Unbalanced quotes (up to line %s)"},
		"import.csv_bare_quote":   {"未加引号的字段中有引号（第 %s 行）", "A quote inside an unquoted field (line %s)"},
		"import.fields":           {"该行有 %s 列，应为 %s 列", "%s fields, want %s"},
		"import.definite":         {"definite 列的值 “%s” 不是 true 或 false", "definite “%s” is not true or false"},
		"import.no_resident_id":   {"缺少居民身份证号（也没有病案号）", "No resident ID (nor an MRN)"},
		"import.no_mrn":           {"缺少病案号", "No MRN"},
		"import.mrn":              {"病案号 “%s” 无效：须为 1 至 %s 个字母、数字或 - _ . /", "MRN “%s” is not valid: 1 to %s letters, digits or - _ . /"},
		"import.birth_date":       {"出生日期 “%s” 不是 YYYY-MM-DD 格式的过去日期", "birth_date “%s” is not a past date written YYYY-MM-DD"},
		"import.resident_id":      {"居民身份证号无效：%s", "resident_id is not valid: %s"},
		"import.no_department":    {"缺少科室", "No department"},
		"import.department":       {"“%s” 不是本机构的科室编码", "“%s” is not a department of the institution"},
		"import.visit_date":       {"就诊日期 “%s” 不是 YYYY-MM-DD 格式的日期", "visit_date “%s” is not a date written YYYY-MM-DD"},
		"import.future":           {"就诊日期 %s 晚于今天（%s）", "visit_date %s is in the future (today is %s)"},
		"import.before_birth":     {"就诊日期 %s 早于出生日期（居民身份证号中的，或文件给出的）", "visit_date %s is before the birth date (the resident ID's, or the file's)"},
		"import.icd":              {"诊断编码 “%s” 不在 ICD-10 编码表中", "diagnosis_code “%s” is not an ICD-10 code of the list"},
		"import.unstorable":       {"%s 含有 NUL 字符或无效的 UTF-8 编码", "%s holds a NUL character or is not valid UTF-8"},
		"import.line":             {"第 %d 行", "line %d"},
		"import.entry":            {"第 %d 项", "entry %d"},
		"import.problems_omitted": {"另有 %d 个问题未列出", "%d more problems not listed"},

		// Medical record numbers (病案号) and their links (issue 16): notes
		// on entries taken with a remark, and rows of a link file.
		"import.mrn_link_conflict": {"病案号 %s 已关联另一个居民身份证号，未更改", "MRN %s is linked to another resident ID: left as it is"},
		"import.mrn_link_birth": {"病案号 %s 未关联：本院记录的出生日期与居民身份证号中的不同",
			"MRN %s was not linked: the hospital's record gives another birth date than the resident ID"},
		"import.fhir_dx_unmapped": {"Encounter %s：诊断以 %s 编码 %s（%s），本系统没有其 ICD-10 对照：保留诊断名称，不含诊断编码",
			"Encounter %s: the diagnosis is coded %s %s (%s), with no ICD-10 mapping here: kept by its name, without a code"},
		"import.fhir_dx_more": {"Encounter %s：另有 %s 个诊断未保留（一次就诊只保留一个诊断，即“%s”）：%s",
			"Encounter %s: %s more diagnoses not kept (a visit keeps one diagnosis, “%s”): %s"},
		"import.fhir_condition_unused": {"Condition %s：其 encounter “%s” 不在本 Bundle 中，未使用",
			"Condition %s: its encounter “%s” is not in the bundle: not used"},
		"import.under_mrn":     {"仅按病案号保存（关联就诊人后计入复诊资格）", "Kept under the MRN alone (they count for follow-ups once linked)"},
		"import.mrn_links":     {"本次关联的病案号", "MRNs linked"},
		"import.notes":         {"导入时的说明", "Notes on entries imported"},
		"import.notes_omitted": {"另有 %d 条说明未列出", "%d more notes not listed"},
		"import.ignored":       {"未使用的资源", "Resources not used"},

		// The history page: the MRN header and the link file.
		"history.hint_mrn": {"按病案号导入时，CSV 的表头多三列（resident_id 可为空：就诊记录保存在本院病案号下，关联就诊人后计入复诊资格）：",
			"To import by medical record number, the CSV has three more columns (resident_id may then be empty: the visits are kept under the MRN and count for follow-ups once it is linked):"},
		"history.links":        {"病案号关联文件", "MRN link file"},
		"history.links_hint":   {"上传 CSV（表头 mrn,resident_id），将本院病案号关联到就诊人的居民身份证号；已关联到其他人的病案号不会更改。", "Upload a CSV (header mrn,resident_id) to link the institution's MRNs to patients' resident IDs; an MRN linked to someone else is left as it is."},
		"history.links_upload": {"上传并关联", "Upload and link"},
		"history.linked":       {"新关联", "Linked"},
		"history.already":      {"此前已关联", "Already linked"},
		"history.links_failed": {"未关联", "Not linked"},

		// Hospital cards (就诊卡, the institution's MRN) bound by patients.
		"hospital_card_mismatch": {"未能绑定：该医院没有此病案号，或其记录中的姓名、出生日期与就诊人不符",
			"Not bound: the hospital has no such MRN, or its record gives another name or birth date than the patient's"},
		"hospital_card_taken": {"该病案号已关联另一位就诊人；如有误，请联系医院", "This MRN is linked to another patient: ask the hospital if this is wrong"},
	})
}
