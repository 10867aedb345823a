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
		"import.fhir_no_resident_id": {"Encounter %s：其 Patient 没有居民身份证号标识（system %s）",
			"Encounter %s: its Patient has no resident ID identifier (system %s)"},
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
		"import.no_resident_id":   {"缺少居民身份证号", "No resident ID"},
		"import.resident_id":      {"居民身份证号无效：%s", "resident_id is not valid: %s"},
		"import.no_department":    {"缺少科室", "No department"},
		"import.department":       {"“%s” 不是本机构的科室编码", "“%s” is not a department of the institution"},
		"import.visit_date":       {"就诊日期 “%s” 不是 YYYY-MM-DD 格式的日期", "visit_date “%s” is not a date written YYYY-MM-DD"},
		"import.future":           {"就诊日期 %s 晚于今天（%s）", "visit_date %s is in the future (today is %s)"},
		"import.before_birth":     {"就诊日期 %s 早于居民身份证号中的出生日期", "visit_date %s is before the birth date in the resident ID"},
		"import.icd":              {"诊断编码 “%s” 不在 ICD-10 编码表中", "diagnosis_code “%s” is not an ICD-10 code of the list"},
		"import.line":             {"第 %d 行", "line %d"},
		"import.entry":            {"第 %d 项", "entry %d"},
		"import.problems_omitted": {"另有 %d 个问题未列出", "%d more problems not listed"},
	})
}
