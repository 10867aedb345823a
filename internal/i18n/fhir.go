package i18n

// Texts of the FHIR R4 API (issue 16): its own refusals, in
// OperationOutcome issues with the JSON API's codes beside them.
func init() {
	add(map[string][2]string{
		"fhir_format": {"仅支持 JSON 格式（application/fhir+json）",
			"Only JSON is served (application/fhir+json)"},
		"fhir_param_unknown": {"不支持的参数：%s（支持的参数见 /fhir/R4/metadata）",
			"Parameter not supported: %s (see /fhir/R4/metadata for those that are)"},
		"fhir_param_invalid":  {"参数 %s 的取值无效", "The value of parameter %s is not valid"},
		"fhir_param_repeated": {"参数 %s 只能出现一次", "Parameter %s may be given once only"},
		"fhir_payment_required": {"该服务需在线支付挂号费：保留的号源在支付成功后才确认预约，请先支付",
			"This service's fee is paid online: the held place is booked once it is paid; please pay first"},
		"fhir_search_needs_patient": {"检索诊断须指定 patient 或 encounter 参数",
			"A search of diagnoses needs the patient or encounter parameter"},
		"hold_gone": {"号源保留已结束（已过期或已取消），请重新查找号源",
			"The hold has ended (it expired or was cancelled): find a place again"},
		"field.fhir_param_repeated": {"只能出现一次", "May be given once only"},
	})
}
