package i18n

// Texts of retail pharmacies and the packing slip (issue 12, R-3).
func init() {
	add(map[string][2]string{
		"nav.pharmacy":             {"药店订单", "Pharmacy orders"},
		"title.pharmacy_queue":     {"药店待配送订单", "Orders to deliver"},
		"title.slip":               {"发货单", "Packing slip"},
		"field.not_offered":        {"不在该机构可选范围内", "Not among those the institution offers"},
		"order.mode":               {"取药方式", "How to get the drugs"},
		"order.pharmacy_pick":      {"由我选择的零售药店配送", "Delivered by a retail pharmacy I pick"},
		"order.pharmacy_note":      {"药店收到已支付的处方后配送到下方地址。", "The pharmacy delivers to the address below once the prescription is paid."},
		"order.by_pharmacy":        {"配送药店", "Delivered by"},
		"order.slip":               {"发货单", "Packing slip"},
		"pharmacy.licence":         {"药品经营许可证", "Drug trading licence"},
		"pharmacy.nothing_to_pack": {"暂无待配送的订单", "Nothing to pack"},
		"pharmacy.on_the_way":      {"配送中", "On their way"},
		"pharmacy.none":            {"暂无", "None"},
		"slip.print":               {"打印", "Print"},
		"slip.order":               {"订单号", "Order"},
		"slip.shipper":             {"发货方", "Shipped by"},
		"slip.recipient":           {"收件人", "Recipient"},
		"slip.prescription":        {"处方", "Prescription"},
		"slip.printed":             {"打印时间", "Printed"},
		"slip.checked":             {"核对", "Checked"},
		"slip.verify":              {"处方真伪可扫码或访问：", "Check the prescription at:"},
		"slip.invoice":             {"医疗收费电子票据（随包裹寄出）", "Electronic invoice (in the parcel)"},
		"slip.invoice_no":          {"票据代码 · 号码", "Invoice code · number"},
		"slip.payee":               {"收款单位", "Payee"},
		"slip.payer":               {"交款人", "Payer"},
		"slip.total":               {"合计", "Total"},
		"slip.check_code":          {"校验码", "Check code"},
		"slip.invoice_pdf":         {"打印票据 PDF", "Print the invoice PDF"},
		"slip.no_invoice":          {"此订单无需开具票据（医保到付订单在结算后开具）。", "No invoice for this order (an order settled with insurance gets one after settlement)."},
	})
}
