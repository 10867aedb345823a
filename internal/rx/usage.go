package rx

import (
	"fmt"
	"strconv"
	"strings"
)

// UsageZH is an item's directions as the printed prescription writes them
// (每次 5 ml，每日一次，口服，共 7 天), for other printed documents of the
// visit (the visit summary).
func UsageZH(it Item) string {
	use := []string{
		"每次 " + strconv.FormatFloat(it.Dose, 'f', -1, 64) + " " + it.DoseUnit,
		pdfOr(pdfFrequencyZH[it.Frequency], it.Frequency),
		pdfOr(pdfRouteZH[it.Route], it.Route),
	}
	if it.Days > 0 {
		use = append(use, fmt.Sprintf("共 %d 天", it.Days))
	}
	return strings.Join(pdfNonEmpty(use...), "，")
}
