package i18n

// Texts of electronic invoices (医疗收费电子票据, issue 12).
func init() {
	add(map[string][2]string{
		"field.invoice_format": {"格式须为 json 或 pdf", "The format is json or pdf"},
	})
}
