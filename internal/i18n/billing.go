package i18n

// Texts of money (issue 12): payments, holds, refunds.
func init() {
	add(map[string][2]string{
		"not_payable":                  {"该预约无需支付或已支付", "Nothing is to be paid for this booking"},
		"hold_expired":                 {"未在规定时间内支付，号源已释放，请重新预约", "The place was released because it was not paid in time: please book again"},
		"refund_amount":                {"退款金额超过可退金额", "The refund is more than what is left to refund"},
		"payment_provider_down":        {"支付渠道暂时无法下单，请稍后再试", "The payment provider cannot take the order now: please try again later"},
		"payment.status.pending":       {"待支付", "Waiting for payment"},
		"payment.status.paid":          {"已支付", "Paid"},
		"payment.status.closed":        {"已关闭", "Closed"},
		"payment.status.refunded":      {"已退款", "Refunded"},
		"appt.held":                    {"待支付", "Waiting for payment"},
		"appt.expired":                 {"未支付，号源已释放", "Not paid: place released"},
		"appt.pay_by":                  {"号源保留至 %s，请支付挂号费 %s 元", "Place held until %s: pay the fee of %s yuan"},
		"appt.pay_wechat":              {"微信支付", "Pay with WeChat Pay"},
		"appt.pay_alipay":              {"支付宝支付", "Pay with Alipay"},
		"appt.refunded":                {"已退", "refunded"},
		"appointment.status.held":      {"待支付（号源保留中）", "Held: waiting for payment"},
		"appointment.status.expired":   {"未支付，已释放", "Not paid: released"},
		"appointment.status.booked":    {"已预约", "Booked"},
		"appointment.status.cancelled": {"已取消", "Cancelled"},
	})
}
