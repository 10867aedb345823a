package demo

import (
	"context"
	"fmt"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/qualification"
)

// PilotFrom is the first day of online first visits in the 2026 pilot
// (S-5): the demo's designations of 北京儿童医院 and 首都儿童医学中心 × 生长发育,
// 营养, 皮肤疾病 start on it (G-2).
const PilotFrom = "2026-02-01"

// validDays is how many days from the demo's start each approved
// institution's current approval (N-23) still runs: the approvals were
// re-validated each year; 北京协和医院's lapses within the month, so its
// admin is reminded to re-validate (and, left alone, it is suspended).
var validDays = map[string]int{"bch": 200, "ccmc": 240, "xuanwu": 150, "shijitan": 300, "pumch": 20}

// qualificationData writes the regulator's side of the demo: the pilot
// designations, the terms of the approvals, and 北京清华长庚医院's application
// waiting for the regulator's decision (S-1, G-1).
func (l *loader) qualificationData(ctx context.Context) error {
	if err := l.pilots(ctx); err != nil {
		return err
	}
	return l.changgungApplication(ctx)
}

// validUntil is the last day of a demo institution's approval.
func (l *loader) validUntil(code string) string {
	days, ok := validDays[code]
	if !ok {
		return ""
	}
	return qualification.Day(l.now.AddDate(0, 0, days))
}

// pilots designates the pilot specialties of the pilot institutions from
// the pilot's first day, with no end (G-2, S-5).
func (l *loader) pilots(ctx context.Context) error {
	for _, in := range institutions() {
		if !in.Pilot {
			continue
		}
		for _, d := range in.depts {
			for _, sp := range d.specialties {
				if !sp.pilot {
					continue
				}
				if err := l.s.SavePilot(ctx, &directory.Designation{Institution: in.Code, Specialty: sp.code, From: PilotFrom}); err != nil {
					return fmt.Errorf("demo pilot %s/%s: %w", in.Code, sp.code, err)
				}
			}
		}
	}
	return nil
}

// changgungApplication submits 北京清华长庚医院's application for the
// qualification (it passed the inspection and waits for the approval,
// seed H-CG) unless it has one already: its departments, their follow-up
// services and its doctors.
func (l *loader) changgungApplication(ctx context.Context) error {
	const code = "changgung"
	have, err := l.s.Applications(ctx, qualification.Filter{Institution: code})
	if err != nil || len(have) > 0 {
		return err
	}
	inst, err := l.s.Institution(ctx, code)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if inst.Status != directory.QualPending {
		return nil
	}
	admin, err := l.s.AccountByUsername(ctx, code+"-admin")
	if err != nil {
		return err
	}
	doctors, err := l.s.Practitioners(ctx, code)
	if err != nil {
		return err
	}
	a := &qualification.Application{Institution: code, Kind: qualification.KindQualification, SubmittedBy: admin.ID, SubmittedAt: l.now.AddDate(0, 0, -5),
		Note: "本院已于 2020 年 4 月通过北京市卫生健康委信息中心组织的互联网诊疗资质查核验收，现申请开展互联网诊疗（常见病、慢性病复诊）。"}
	for _, d := range inst.Departments {
		a.Departments = append(a.Departments, d.Code)
		for _, s := range d.Services {
			a.Services = append(a.Services, s.Code)
		}
	}
	for _, p := range doctors {
		if p.Profession == directory.Doctor {
			a.Practitioners = append(a.Practitioners, p.ID)
		}
	}
	if err := a.Validate(inst, doctors); err != nil {
		return fmt.Errorf("demo application: %w", err)
	}
	return l.s.CreateApplication(ctx, a, nil)
}
