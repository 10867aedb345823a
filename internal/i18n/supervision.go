package i18n

// Texts of the supervision feed (issue 13; N-16, N-22): the platform's
// answers to a refused batch.
func init() {
	add(map[string][2]string{
		"supervision_bad_signature":  {"批次签名无效：与该机构登记的公钥不符，批次未接收", "The batch's signature does not verify with the institution's registered key; nothing was stored"},
		"supervision_unknown_source": {"该机构未在监管平台登记上报公钥，批次未接收", "No reporting key is registered for this institution; nothing was stored"},
		"supervision_gap":            {"批次从第 %d 条开始，监管平台只收到第 %d 条：中间缺失，请从下一条起重发", "The batch starts at event %d but the platform has events up to %d only: resend from the next one"},
		"supervision_mismatch":       {"批次中有事件与监管平台已收到的事件序号或标识冲突，批次未接收", "An event of the batch conflicts with one the platform received (same number or same id); nothing was stored"},
		"field.not_consecutive":      {"事件序号须连续递增", "Event numbers must follow each other"},
	})
}
