package i18n

// Texts of electronic invoices (医疗收费电子票据, issue 12): the bills,
// the reversing ones a refund issues (红字票据, 红冲), and their pages.
func init() {
	add(map[string][2]string{
		"field.invoice_format":  {"格式须为 json 或 pdf", "The format is json or pdf"},
		"nav.invoices":          {"我的票据", "Invoices"},
		"title.invoices":        {"我的票据", "My invoices"},
		"title.inst_invoices":   {"医疗收费电子票据", "Invoices"},
		"me.invoices":           {"我的票据（医疗收费电子票据）", "My invoices (electronic bills for medical charges)"},
		"invoice.hint":          {"支付成功后开具医疗收费电子票据；退款成功后开具红字票据冲红，原票据保留。", "A paid fee gets an electronic bill for medical charges; a refund gets a reversing (red) invoice, and the original stays."},
		"invoice.kind.original": {"原票", "Original"},
		"invoice.kind.reversal": {"红冲", "Reversal"},
		"invoice.number":        {"票据代码 / 号码", "Code / number"},
		"invoice.date":          {"开票日期", "Issued"},
		"invoice.institution":   {"收款单位", "Institution"},
		"invoice.payer":         {"交款人", "Payer"},
		"invoice.amount":        {"金额", "Amount"},
		"invoice.kind":          {"类型", "Kind"},
		"invoice.bill":          {"票据", "Bill"},
		"invoice.pdf":           {"查看 PDF", "PDF"},
		"invoice.reverses":      {"冲红原票 %s", "reverses %s"},
		"invoice.reason":        {"原因：%s", "Reason: %s"},
		"invoice.none":          {"暂无票据。", "No invoices yet."},
		"invoice.none_day":      {"当日无票据。", "No invoices that day."},
		"invoice.day":           {"日期", "Day"},
		"invoice.show":          {"查询", "Show"},
		"invoice.prev_day":      {"前一天", "Previous day"},
		"invoice.next_day":      {"后一天", "Next day"},
		"invoice.count":         {"原票 %d 张，红冲 %d 张", "%d originals, %d reversals"},
		"invoice.total":         {"合计（原票减红冲）", "Total (originals less reversals)"},
	})
}
