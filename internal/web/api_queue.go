package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/chat"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// The visit day as a family lives it: a session's line (visit.Positions),
// pushed live to every visit still to be seen whenever it moves; a doctor
// running late moving the estimated times and telling the families once;
// a patient not there when called, called once more after the next one,
// then marked no-show.

// lineEvent is the type of the socket frame that carries a visit's
// position (data: visit.Position).
const lineEvent = "line"

// movesLine lists the steps after which a session's line is told again.
var movesLine = map[visit.Action]bool{visit.ActStart: true, visit.ActComplete: true, visit.ActTerminate: true,
	visit.ActNoShow: true, visit.ActCancel: true, visit.ActSkip: true}

// position is where a visit still to be seen stands now; nil for one that
// is not.
func (s *Server) position(ctx context.Context, v *visit.Visit) (*visit.Position, error) {
	if !v.State.ToBeSeen() {
		return nil, nil
	}
	line, err := s.db.Line(ctx, v.SlotID)
	if err != nil {
		return nil, err
	}
	if p, ok := visit.Positions(line, s.cfg.Now())[v.ID]; ok {
		return &p, nil
	}
	return nil, nil
}

// lineMoved tells every visit still to be seen of a session its new
// position over the visit's socket, here and (through the bus) on the
// other servers. It follows a change already committed: a failure to read
// the line is logged, the change stands.
func (s *Server) lineMoved(ctx context.Context, slotID int64) {
	if slotID == 0 {
		return
	}
	line, err := s.db.Line(context.WithoutCancel(ctx), slotID)
	if err != nil {
		s.log.Warn("line not told", "slot", slotID, "err", err)
		return
	}
	for id, p := range visit.Positions(line, s.cfg.Now()) {
		data, _ := json.Marshal(p)
		s.hub.Tell(id, chat.Event{Type: lineEvent, Data: data})
	}
}

// hhmm is a time of day in Beijing.
func hhmm(t time.Time) string { return t.In(dates.Beijing).Format("15:04") }

// smsOut is a text to send once its transaction has committed.
type smsOut struct {
	account    int64
	kind, text string
}

// tellLate puts a notice in the inbox of each family of late, in the
// call-in's transaction, that the doctor runs late and their visit's
// estimated time moved; it returns the SMS to send once committed.
func (s *Server) tellLate(ctx context.Context, tx visit.Tx, late []visit.Visit) ([]smsOut, error) {
	var out []smsOut
	for _, v := range late {
		args := []any{v.ServiceName, v.PatientName, v.DoctorName, v.Number, hhmm(v.EstimatedAt)}
		body := i18n.T(i18n.ZH, "queue.late.body", args...)
		accounts, err := s.patientAccounts(ctx, v.PatientID)
		if err != nil {
			return nil, err
		}
		for _, id := range accounts {
			if err := tx.Notify(&notify.Notification{AccountID: id, Kind: "visit_late", Title: i18n.T(i18n.ZH, "queue.late.title"), Body: body,
				TitleEN: i18n.T(i18n.EN, "queue.late.title"), BodyEN: i18n.T(i18n.EN, "queue.late.body", args...),
				Ref: "visit/" + strconv.FormatInt(v.ID, 10), CreatedAt: s.cfg.Now()}); err != nil {
				return nil, err
			}
			out = append(out, smsOut{id, "visit_late", "【云医】" + body})
		}
	}
	return out, nil
}

// skip is the doctor's "not here, call again later" (the patient missed
// the call): the visit moves behind the next one still to be seen of its
// session and the family is told; on the last call (visit.Missed) it is
// the no-show instead.
func (s *Server) skip(r *http.Request, vc *visitCtx) error {
	if err := vc.must(visit.PartyDoctor); err != nil {
		return err
	}
	v := vc.v
	act, err := visit.Missed(v.State, v.Calls)
	if err != nil {
		return err
	}
	if act == visit.ActNoShow {
		return s.noShow(r, vc)
	}
	t := visit.Transition{VisitID: v.ID, Action: visit.ActSkip, To: v.State, At: s.cfg.Now(), By: actor(r).ID}
	args := []any{v.PatientName, v.ServiceName, v.DoctorName, v.Number}
	err = s.db.Skip(r.Context(), t, v.Calls, func(tx visit.Tx) error {
		return s.tellPatient(r.Context(), tx, v, "missed_call", i18n.T(i18n.ZH, "queue.missed.title"), i18n.T(i18n.ZH, "queue.missed.body", args...),
			i18n.T(i18n.EN, "queue.missed.title"), i18n.T(i18n.EN, "queue.missed.body", args...))
	})
	if err != nil {
		return err
	}
	vc.v.Calls++
	s.record(r, "visit.skip", "visit", strconv.FormatInt(v.ID, 10), v.Institution, fmt.Sprintf("missed call %d", vc.v.Calls))
	s.lineMoved(r.Context(), v.SlotID)
	return nil
}

func (s *Server) apiSkip(w http.ResponseWriter, r *http.Request) {
	s.visitAction(w, r, func(vc *visitCtx) error { return s.skip(r, vc) })
}

// queueRow is a visit of the doctor's queue: with its number and estimated
// time (in visit.Visit), the red flags its answers raise, whether the
// pre-consultation is done and whether the patient waits now.
type queueRow struct {
	visit.Visit
	Flags      []visit.Flag `json:"flags"`
	PreConsult bool         `json:"pre_consult_done"`
	WaitingNow bool         `json:"waiting_now"`
	// LastCall: a missed call now would mark the no-show.
	LastCall bool `json:"-"`
}

// queueRows adds to a doctor's queue what each row shows.
func (s *Server) queueRows(ctx context.Context, q []visit.Visit) ([]queueRow, error) {
	out := make([]queueRow, 0, len(q))
	forms := map[string]*visit.Questionnaire{}
	for _, v := range q {
		row := queueRow{Visit: v, Flags: []visit.Flag{}, PreConsult: !v.CheckedInAt.IsZero(), WaitingNow: v.State == visit.Waiting}
		if act, err := visit.Missed(v.State, v.Calls); err == nil && act == visit.ActNoShow {
			row.LastCall = true
		}
		if v.Questionnaire != "" {
			qn, ok := forms[v.Questionnaire]
			if !ok {
				var err error
				if qn, err = s.db.Questionnaire(ctx, v.Questionnaire); err != nil && !errs.Is(err, errs.NotFound) {
					return nil, err
				}
				forms[v.Questionnaire] = qn
			}
			if qn != nil {
				row.Flags = qn.Flags(ctx, v.Answers)
			}
		}
		out = append(out, row)
	}
	return out, nil
}
