package web

import (
	"context"
	"fmt"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// LoadDemoPrescriptions gives the demo yesterday's two completed skin first
// visits at 北京儿童医院 with their prescriptions: 李小雨's approved at once,
// 李小天's (under 6) rejected by the pharmacist, revised and approved. They
// go through the same rules, signatures and store as the API. It does
// nothing when a prescription exists already or signing is not configured.
func (s *Server) LoadDemoPrescriptions(ctx context.Context) error {
	if s.rxKeys == nil {
		return nil
	}
	if have, err := s.db.Prescriptions(ctx, rx.Filter{Limit: 1}); err != nil || len(have) > 0 {
		return err
	}
	docAcct, err := s.ids.Store.AccountByUsername(ctx, "bch-dermatology-doctor")
	if errs.Is(err, errs.NotFound) {
		return nil // not the demo
	} else if err != nil {
		return err
	}
	guardian, err := s.ids.Store.AccountByUsername(ctx, "liming")
	if err != nil {
		return err
	}
	phAcct, err := s.ids.Store.AccountByUsername(ctx, "bch-pharmacist")
	if err != nil {
		return err
	}
	doc, err := s.db.PractitionerByAccount(ctx, docAcct.ID)
	if err != nil {
		return err
	}
	ph, err := s.db.PractitionerByAccount(ctx, phAcct.ID)
	if err != nil {
		return err
	}
	svc, err := s.bk.Service(ctx, "bch-skin-fv")
	if err != nil {
		return err
	}
	kids, err := s.ids.Store.PatientsOf(ctx, guardian.ID)
	if err != nil {
		return err
	}
	byName := map[string]int64{}
	for _, p := range kids {
		byName[p.Name] = p.ID
	}
	// Yesterday's morning session.
	y := s.cfg.Now().In(dates.Beijing).AddDate(0, 0, -1)
	start := time.Date(y.Year(), y.Month(), y.Day(), 9, 0, 0, 0, dates.Beijing)
	if _, err := s.db.InsertSlots(ctx, []schedule.Slot{{Service: svc.Code, Institution: svc.Institution, Department: svc.Department,
		PractitionerID: doc.ID, Kind: svc.Kind, Day: start.Format(dates.Layout), Start: start, Capacity: 10}}); err != nil {
		return err
	}
	slots, err := s.db.ListSlots(ctx, schedule.SlotFilter{Service: svc.Code, From: start.Format(dates.Layout), To: start.Format(dates.Layout)})
	if err != nil {
		return err
	}
	var slotID int64
	for _, sl := range slots {
		if sl.PractitionerID == doc.ID && sl.Start.Equal(start) {
			slotID = sl.ID
		}
	}
	if slotID == 0 {
		return fmt.Errorf("demo prescriptions: yesterday's slot not found")
	}
	cetirizine, ibuprofen := demoDrug("cetirizine", false), demoDrug("ibuprofen", true)
	type visitPlan struct {
		child   string
		answers map[string]any
		first   rx.Input
		revised *rx.Input
		reasons []string
	}
	plans := []visitPlan{
		{child: "李小雨", answers: map[string]any{"site": []any{"face"}, "duration_days": 5.0, "weight_kg": 25.0, "drug_allergies": "青霉素", "description": "面颊红斑、瘙痒"},
			first: rx.Input{Items: []rx.Item{{Drug: cetirizine, Dose: 5, DoseUnit: "mg", Frequency: "qd", Days: 7, Quantity: 1}}, Diagnoses: []string{"L20.9"}, WeightKg: 25}},
		{child: "李小天", answers: map[string]any{"site": []any{"trunk"}, "duration_days": 3.0, "weight_kg": 16.0, "drug_allergies": "无", "description": "躯干丘疹伴低热"},
			first: rx.Input{Items: []rx.Item{{Drug: ibuprofen, Dose: 200, DoseUnit: "mg", Frequency: "tid", Days: 3, Quantity: 1},
				{Drug: cetirizine, Dose: 5, DoseUnit: "mg", Frequency: "qd", Days: 5, Quantity: 1}}, Diagnoses: []string{"L20.9"}, WeightKg: 16,
				Confirm: []string{"under-6-accompanied", "paediatric-dose"}},
			revised: &rx.Input{Items: []rx.Item{{Drug: ibuprofen, Dose: 150, DoseUnit: "mg", Frequency: "tid", Days: 3, Quantity: 1},
				{Drug: cetirizine, Dose: 2.5, DoseUnit: "mg", Frequency: "qd", Days: 5, Quantity: 1}}, Diagnoses: []string{"L20.9"}, WeightKg: 16,
				Confirm: []string{"under-6-accompanied"}},
			reasons: []string{"布洛芬日剂量超过 40 mg/kg，请按体重调整", "4 岁儿童西替利嗪每日 2.5 mg 即可"}},
	}
	form, err := s.formulary(ctx, svc.Institution)
	if err != nil {
		return err
	}
	rules, err := s.rxRules(ctx, svc.Institution)
	if err != nil {
		return err
	}
	docKey, err := s.rxKeys.Signer(ctx, rx.RoleDoctor, doc.ID, doc.Name)
	if err != nil {
		return err
	}
	phKey, err := s.rxKeys.Signer(ctx, rx.RolePharmacist, ph.ID, ph.Name)
	if err != nil {
		return err
	}
	for i, pl := range plans {
		at := start.Add(time.Duration(i) * 30 * time.Minute)
		res, err := s.db.Book(ctx, []schedule.BookRequest{{SlotID: slotID, PatientID: byName[pl.child], AccountID: guardian.ID,
			IdemKey: "demo-rx-" + pl.child, Answers: `{"first_visit":true}`, At: at.Add(-24 * time.Hour)}})
		if err != nil {
			return err
		}
		if res[0].Appointment == nil {
			return fmt.Errorf("demo prescriptions: booking %s: %s", pl.child, res[0].Code)
		}
		id := res[0].Appointment.ID
		if err := s.db.SaveAnswers(ctx, id, "skin", pl.answers, &visit.Transition{VisitID: id, Action: visit.ActCheckIn, To: visit.CheckedIn, At: at.Add(-time.Hour), By: guardian.ID}); err != nil {
			return err
		}
		for _, st := range []struct {
			a  visit.Action
			to visit.State
			at time.Time
			by int64
		}{{visit.ActWait, visit.Waiting, at.Add(-10 * time.Minute), guardian.ID}, {visit.ActStart, visit.InProgress, at, docAcct.ID}} {
			if err := s.db.Step(ctx, visit.Transition{VisitID: id, Action: st.a, To: st.to, At: st.at, By: st.by}, nil); err != nil {
				return err
			}
		}
		v, err := s.db.Visit(ctx, id)
		if err != nil {
			return err
		}
		p, err := s.ids.Store.PatientByID(ctx, v.PatientID)
		if err != nil {
			return err
		}
		sub := &rx.Subject{VisitID: id, VisitState: string(v.State), Institution: v.Institution, Department: v.Department, PatientID: p.ID,
			PatientName: p.Name, PatientSex: string(p.Sex), Birth: p.Birth, DoctorID: doc.ID, DoctorName: doc.Name, Answers: v.Answers}
		issue := func(in rx.Input, when time.Time) (*rx.Prescription, error) {
			pr, facts, err := s.rxc.Prepare(sub, &in, form, when)
			if err != nil {
				return nil, err
			}
			if err := s.rxc.Check(ctx, rules, pr, facts); err != nil {
				return nil, fmt.Errorf("demo prescription for %s: %w", pl.child, err)
			}
			return pr, s.rxw.Issue(ctx, pr, docKey, nil, nil)
		}
		review := func(pr *rx.Prescription, when time.Time, reasons []string) error {
			pr.ReviewerID, pr.ReviewerName, pr.ReviewedAt, pr.ReviewReasons = ph.ID, ph.Name, when.UTC(), reasons
			if len(reasons) > 0 {
				pr.Status = rx.Rejected
			} else {
				pr.Status, pr.ReviewNote = rx.Approved, "已核对用法用量"
				if err := phKey.Approve(pr); err != nil {
					return err
				}
			}
			return s.rxw.Review(ctx, pr, nil, nil)
		}
		pr, err := issue(pl.first, at.Add(10*time.Minute))
		if err != nil {
			return err
		}
		if pl.revised != nil {
			if err := review(pr, at.Add(20*time.Minute), pl.reasons); err != nil {
				return err
			}
			pl.revised.Revises = pr.ID
			if pr, err = issue(*pl.revised, at.Add(25*time.Minute)); err != nil {
				return err
			}
		}
		if err := review(pr, at.Add(35*time.Minute), nil); err != nil {
			return err
		}
		rec := &visit.Record{VisitID: id, ChiefComplaint: "皮疹 " + fmt.Sprint(pl.answers["duration_days"]) + " 天", PresentIllness: fmt.Sprint(pl.answers["description"]),
			Diagnoses: []visit.Diagnosis{{Code: "L20.9"}}, Advice: "按处方用药，保湿护肤，一周后复诊", AuthorID: docAcct.ID}
		rec.Normalise()
		if err := s.db.Step(ctx, visit.Transition{VisitID: id, Action: visit.ActComplete, To: visit.Completed, At: at.Add(15 * time.Minute), By: docAcct.ID},
			func(tx visit.Tx) error { return tx.SignRecord(rec) }); err != nil {
			return err
		}
	}
	return nil
}

// demoDrug is the first single-ingredient oral catalogue drug of an
// ingredient (with a paediatric range when asked).
func demoDrug(generic string, paed bool) string {
	for _, d := range rx.DefaultCatalogue().All() {
		if d.Generic == generic && d.Route == "oral" && len(d.Ingredients) == 1 && (!paed || d.PaedMax > 0) {
			return d.Code
		}
	}
	return ""
}
