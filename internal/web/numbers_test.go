package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// 分时段预约 (issue 14): each booking of a session answers its number and
// its estimated time, start + (number - 1) × the service's visit length
// (data: 20 minutes for the demo's first visits; the admin may change it),
// and reads back the same.
func TestAppointmentNumberAndEstimatedTime(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		kids := e.patientIDs(lm)
		doc := e.login("bch-dermatology-doctor")
		slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
		start, err := time.Parse(time.RFC3339, slot["start"].(string))
		if err != nil {
			t.Fatalf("slot start %v", slot["start"])
		}
		for i, child := range []string{"李小雨", "李小天"} {
			id := e.bookVisit(lm, kids[child], slot, fmt.Sprint("n", i))
			a := e.req("GET", fmt.Sprintf("/api/v1/appointments/%.0f", id), lm, nil)
			at, _ := time.Parse(time.RFC3339, fmt.Sprint(a.body["estimated_at"]))
			if a.body["number"] != float64(i+1) || !at.Equal(start.Add(time.Duration(i)*20*time.Minute)) {
				t.Fatalf("%s: %s", child, a.raw)
			}
		}
		page := string(e.req("GET", "/appointments", lm, nil).raw)
		if !strings.Contains(page, "第 1 号") || !strings.Contains(page, "第 2 号") || !strings.Contains(page, "预计 "+start.In(dates.Beijing).Add(20*time.Minute).Format("15:04")+" 就诊") {
			t.Fatalf("the appointments page lacks the numbers and times:\n%s", page)
		}
		admin := e.login("bch-admin")
		bad := e.req("PUT", "/api/v1/institutions/bch/services/bch-skin-fv", admin, map[string]any{"department": "dermatology", "name": "皮肤疾病首诊",
			"kind": "first_visit", "specialty": "skin", "visit_minutes": 0})
		if bad.status != 400 || bad.fieldCodes()["visit_minutes"] != "invalid" {
			t.Fatalf("visit length 0: %d %s", bad.status, bad.raw)
		}
	})
}
