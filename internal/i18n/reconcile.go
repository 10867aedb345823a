package i18n

// Texts of the daily reconciliation (issue 12).
func init() {
	add(map[string][2]string{
		"statement_not_ready": {"%s 的对账单（%s）尚未发布：微信支付次日 10:00、支付宝次日 09:00 发布，请稍后再试",
			"The statement of %s (%s) is not published yet: WeChat Pay publishes it at 10:00 the next day, Alipay at 09:00; try again later"},
	})
}
