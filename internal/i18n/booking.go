package i18n

// Texts of the booking page's questions and verdicts, and of the rules'
// passed texts (S-4: every rule's verdict in words a family understands).
func init() {
	add(map[string][2]string{
		"book.failed":          {"以下 %d 项条件未符合，请按提示处理：", "%d conditions are not met; here is what to do:"},
		"book.failed_one":      {"以下 1 项条件未符合，请按提示处理：", "1 condition is not met; here is what to do:"},
		"book.met":             {"已符合 %d 项条件", "%d conditions met"},
		"book.met_one":         {"已符合 1 项条件", "1 condition met"},
		"book.answer_each":     {"每个问题都须选择“是”或“否”，未回答不能检查或预约。", "Choose Yes or No for every question: nothing can be checked or booked until all are answered."},
		"book.answer_required": {"请回答此问题：选择“是”或“否”", "Please answer this question: choose Yes or No"},
		"rules.passed_zh":      {"符合时的说明（中文，可选）", "Text when met (Chinese, optional)"},
		"rules.passed_en":      {"符合时的说明（英文，可选）", "Text when met (English, optional)"},
		"rules.passed_hint":    {"预约页把已符合的条件折叠列出，显示这段说明，例如“已获互联网诊疗资质”；不填则显示“此项条件已符合”。", "The booking page lists the conditions met, folded, with this text, e.g. \"Approved for internet diagnosis\"; left empty, it says \"This condition is met\"."},
	})
}
