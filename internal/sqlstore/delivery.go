package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/delivery"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/supervision"
)

var _ delivery.Store = (*DB)(nil)

func (db *DB) DeliverySettings(ctx context.Context, institution string) (*delivery.Settings, error) {
	s := &delivery.Settings{Institution: institution}
	var regions, sender string
	err := db.QueryRowContext(ctx, `SELECT courier, regions, regions_text, sender, insurance_at_delivery FROM delivery_settings WHERE institution = $1`, institution).
		Scan(&s.Courier, &regions, &s.RegionsText, &sender, &s.InsuranceAtDelivery)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil // nothing offered
	}
	if err != nil {
		return nil, err
	}
	if regions != "" {
		s.Regions = strings.Split(regions, ",")
	}
	json.Unmarshal([]byte(sender), &s.Sender)
	rows, err := db.query(ctx, `SELECT pharmacy FROM institution_pharmacies WHERE institution = $1 ORDER BY position, pharmacy`, institution)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var code string
		if err := rows.Scan(&code); err != nil {
			return nil, err
		}
		s.Pharmacies = append(s.Pharmacies, code)
	}
	return s, rows.Err()
}

// SaveDeliverySettings stores an institution's delivery rules and
// replaces its list of pharmacies (an unknown one: pharmacies not_found).
func (db *DB) SaveDeliverySettings(ctx context.Context, s *delivery.Settings) error {
	sender, _ := json.Marshal(s.Sender)
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_settings (institution, courier, regions, regions_text, sender, insurance_at_delivery) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (institution) DO UPDATE SET courier = excluded.courier, regions = excluded.regions, regions_text = excluded.regions_text,
		sender = excluded.sender, insurance_at_delivery = excluded.insurance_at_delivery`, s.Institution, s.Courier, strings.Join(s.Regions, ","), s.RegionsText,
			string(sender), s.InsuranceAtDelivery); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM institution_pharmacies WHERE institution = $1`, s.Institution); err != nil {
			return err
		}
		for i, code := range s.Pharmacies {
			_, err := tx.ExecContext(ctx, `INSERT INTO institution_pharmacies (institution, pharmacy, position) VALUES ($1, $2, $3)`, s.Institution, code, i)
			if isForeignKey(err) {
				var f errs.Fields
				f.Add("pharmacies", "not_found")
				return f.Err()
			}
			if err != nil {
				return duplicateField(err, "pharmacies")
			}
		}
		return nil
	})
}

const pharmacyCols = `code, name, name_en, licence_no, phone, address, regions, regions_text, hours, active`

func scanPharmacy(row interface{ Scan(...any) error }) (*delivery.Pharmacy, error) {
	var p delivery.Pharmacy
	var addr, regions string
	if err := row.Scan(&p.Code, &p.Name, &p.NameEN, &p.LicenceNo, &p.Phone, &addr, &regions, &p.RegionsText, &p.Hours, &p.Active); err != nil {
		return nil, notFound(err)
	}
	json.Unmarshal([]byte(addr), &p.Address)
	if regions != "" {
		p.Regions = strings.Split(regions, ",")
	}
	return &p, nil
}

func (db *DB) SavePharmacy(ctx context.Context, p *delivery.Pharmacy) error {
	addr, _ := json.Marshal(p.Address)
	_, err := db.w.ExecContext(ctx, `INSERT INTO pharmacies (`+pharmacyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, name_en = excluded.name_en, licence_no = excluded.licence_no, phone = excluded.phone,
		address = excluded.address, regions = excluded.regions, regions_text = excluded.regions_text, hours = excluded.hours, active = excluded.active`,
		p.Code, p.Name, p.NameEN, p.LicenceNo, p.Phone, string(addr), strings.Join(p.Regions, ","), p.RegionsText, p.Hours, p.Active)
	return err
}

func (db *DB) Pharmacy(ctx context.Context, code string) (*delivery.Pharmacy, error) {
	return scanPharmacy(db.QueryRowContext(ctx, `SELECT `+pharmacyCols+` FROM pharmacies WHERE code = $1`, code))
}

// Pharmacies lists every registered pharmacy (the platform's registry).
func (db *DB) Pharmacies(ctx context.Context) ([]delivery.Pharmacy, error) {
	rows, err := db.query(ctx, `SELECT `+pharmacyCols+` FROM pharmacies ORDER BY code`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPharmacy)
}

func (db *DB) PharmaciesOf(ctx context.Context, institution string) ([]delivery.Pharmacy, error) {
	rows, err := db.query(ctx, `SELECT p.code, p.name, p.name_en, p.licence_no, p.phone, p.address, p.regions, p.regions_text, p.hours, p.active
		FROM institution_pharmacies ip JOIN pharmacies p ON p.code = ip.pharmacy WHERE ip.institution = $1 AND p.active ORDER BY ip.position, p.code`, institution)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPharmacy)
}

const orderCols = `id, prescription_id, institution, patient_id, account_id, mode, pharmacy, address, amount_fen, status, courier, waybill_no,
	created_at, paid_at, dispatched_at, delivered_at, settle, settle_state, settle_ref, setl_id, fund_fen, account_fen, cash_fen`

func scanOrder(row interface{ Scan(...any) error }) (*delivery.Order, error) {
	var o delivery.Order
	var addr, status string
	var created, paid, dispatched, delivered int64
	if err := row.Scan(&o.ID, &o.PrescriptionID, &o.Institution, &o.PatientID, &o.AccountID, &o.Mode, &o.Pharmacy, &addr, &o.AmountFen, &status, &o.Courier,
		&o.WaybillNo, &created, &paid, &dispatched, &delivered, &o.Settle, &o.SettleState, &o.SettleRef, &o.SetlID, &o.FundFen, &o.AccountFen, &o.CashFen); err != nil {
		return nil, notFound(err)
	}
	json.Unmarshal([]byte(addr), &o.Address)
	o.Status = delivery.Status(status)
	o.CreatedAt, o.PaidAt, o.DispatchedAt, o.DeliveredAt = fromMicros(created), fromMicros(paid), fromMicros(dispatched), fromMicros(delivered)
	return &o, nil
}

func (db *DB) CreateOrder(ctx context.Context, o *delivery.Order) (bool, error) {
	addr, _ := json.Marshal(o.Address)
	err := db.w.QueryRowContext(ctx, `INSERT INTO delivery_orders (prescription_id, institution, patient_id, account_id, mode, pharmacy, address, amount_fen, status,
		created_at, settle) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING RETURNING id`, o.PrescriptionID, o.Institution, o.PatientID,
		o.AccountID, o.Mode, o.Pharmacy, string(addr), o.AmountFen, string(o.Status), micros(o.CreatedAt), o.Settle).Scan(&o.ID)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	prev, err := db.OrderOfPrescription(ctx, o.PrescriptionID)
	if err != nil {
		return false, err
	}
	*o = *prev
	return false, nil
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// waybillEvents are a waybill's route events by time.
func (db *DB) waybillEvents(ctx context.Context, q queryer, waybill string) ([]courier.Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT route_id, waybill, at, opcode, status, address, remark FROM delivery_events WHERE waybill = $1 ORDER BY at, route_id`, waybill)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*courier.Event, error) {
		var e courier.Event
		var at int64
		var st string
		if err := r.Scan(&e.RouteID, &e.WaybillNo, &at, &e.OpCode, &st, &e.Address, &e.Remark); err != nil {
			return nil, err
		}
		e.At, e.Status = fromMicros(at), courier.Status(st)
		return &e, nil
	})
}

func (db *DB) withEvents(ctx context.Context, o *delivery.Order, err error) (*delivery.Order, error) {
	if err != nil {
		return nil, err
	}
	o.Events = []courier.Event{}
	if o.WaybillNo == "" {
		return o, nil
	}
	es, err := db.waybillEvents(ctx, db.w, o.WaybillNo)
	if err != nil {
		return nil, err
	}
	if es = courier.Timeline(es); es != nil {
		o.Events = es
	}
	return o, nil
}

func (db *DB) Order(ctx context.Context, id int64) (*delivery.Order, error) {
	o, err := scanOrder(db.w.QueryRowContext(ctx, `SELECT `+orderCols+` FROM delivery_orders WHERE id = $1`, id))
	return db.withEvents(ctx, o, err)
}

func (db *DB) OrderOfPrescription(ctx context.Context, prescriptionID int64) (*delivery.Order, error) {
	o, err := scanOrder(db.w.QueryRowContext(ctx, `SELECT `+orderCols+` FROM delivery_orders WHERE prescription_id = $1 AND status <> 'cancelled'
		ORDER BY id DESC LIMIT 1`, prescriptionID))
	return db.withEvents(ctx, o, err)
}

// Orders lists a packing queue, oldest paid first: an institution's own
// orders or one retail pharmacy's.
func (db *DB) Orders(ctx context.Context, q delivery.Queue) ([]delivery.Order, error) {
	if q.Limit <= 0 {
		q.Limit = 200
	}
	cond := `institution = $1 AND pharmacy = ''`
	key := q.Institution
	if q.Pharmacy != "" {
		cond, key = `pharmacy = $1`, q.Pharmacy
	}
	rows, err := db.w.QueryContext(ctx, `SELECT `+orderCols+` FROM delivery_orders WHERE `+cond+` AND ($2 = '' OR status = $2)
		ORDER BY paid_at, id LIMIT $3`, key, string(q.Status), q.Limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanOrder)
}

func (db *DB) Dispatch(ctx context.Context, id int64, courierName, waybill string, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var rxID, acct int64
		var mode string
		err := tx.QueryRowContext(ctx, `UPDATE delivery_orders SET status = 'dispatched', courier = $2, waybill_no = $3, dispatched_at = $4
			WHERE id = $1 AND status IN ('to_pack', 'failed') RETURNING prescription_id, account_id, mode`, id, courierName, waybill, micros(at)).
			Scan(&rxID, &acct, &mode)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.E(delivery.CodeOrderState)
		}
		if err != nil {
			return err
		}
		// N-12: dispensed once it leaves the pharmacy (FHIR: completed).
		ev := feed{Event: supervision.Event{Kind: supervision.PrescriptionDispensed, OccurredAt: at, Outcome: mode,
			Ref: "prescription/" + strconv.FormatInt(rxID, 10)}}
		err = tx.QueryRowContext(ctx, `UPDATE prescriptions SET status = 'dispensed', updated_at = $2 WHERE id = $1 AND status = 'approved'
			RETURNING institution, department, visit_id, patient_id`, rxID, micros(at)).Scan(&ev.Institution, &ev.Department, &ev.Visit, &ev.PatientID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := db.insertMany(ctx, tx, "notifications", noticeCols, [][]any{noticeRow(acct, "dispatched", "药品已发出",
			fmt.Sprintf("您的处方药品已交顺丰速运寄出，运单号 %s，可在处方页查看物流。", waybill), "Drugs on their way",
			fmt.Sprintf("Your prescription's drugs were handed to the courier, waybill %s; follow them on the prescription page.", waybill),
			fmt.Sprintf("prescription/%d", rxID), at)}); err != nil {
			return err
		}
		// The courier may have pushed already.
		if _, err := db.followEvents(ctx, tx, id, at); err != nil {
			return err
		}
		if ev.Institution == "" {
			return nil // dispensed before (a failed delivery sent again)
		}
		return db.emit(ctx, tx, ev)
	})
}

// followEvents sets an order's status from its waybill's events and tells
// the family of a change; it answers the order when it changed.
func (db *DB) followEvents(ctx context.Context, tx *sql.Tx, id int64, at time.Time) (*delivery.Order, error) {
	o, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+orderCols+` FROM delivery_orders WHERE id = $1`, id))
	if err != nil {
		return nil, err
	}
	es, err := db.waybillEvents(ctx, tx, o.WaybillNo)
	if err != nil {
		return nil, err
	}
	next := delivery.StatusOf(o, es)
	if next == o.Status {
		return nil, nil
	}
	delivered := int64(0)
	if next == delivery.Delivered {
		delivered = micros(at)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE delivery_orders SET status = $2, delivered_at = $3 WHERE id = $1`, id, string(next), delivered); err != nil {
		return nil, err
	}
	o.Status = next
	title, body, titleEN, bodyEN := "药品已签收", "您的处方药品已签收。", "Delivered", "Your prescription's drugs were delivered."
	switch next {
	case delivery.Returned:
		title, body, titleEN, bodyEN = "药品包裹已退回", "您的处方药品包裹被退回，药款将原路退还。", "Parcel returned", "The parcel came back; the payment will be refunded."
	case delivery.Failed:
		title, body, titleEN, bodyEN = "派送未成功", "快递员未能送达，药房将安排再次配送。", "Delivery failed", "The courier could not deliver; the pharmacy will send it again."
	case delivery.Dispatched:
		return o, nil
	}
	err = db.insertMany(ctx, tx, "notifications", noticeCols, [][]any{noticeRow(o.AccountID, "delivery_"+string(next), title, body, titleEN, bodyEN,
		fmt.Sprintf("prescription/%d", o.PrescriptionID), at)})
	return o, err
}

// AddEvents stores route events by waybill (a route id once), whether or
// not the dispatch that names the waybill has committed yet, and sets the
// status of the orders they belong to.
func (db *DB) AddEvents(ctx context.Context, events []courier.Event, at time.Time) ([]delivery.Order, error) {
	var changed []delivery.Order
	unknown := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		changed, unknown = changed[:0], false
		waybills := map[string]bool{}
		for _, e := range events {
			if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_events (waybill, route_id, at, opcode, status, address, remark, received)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`, e.WaybillNo, e.RouteID, micros(e.At), e.OpCode,
				string(courier.Classify(e.OpCode, e.Remark)), e.Address, e.Remark, micros(at)); err != nil {
				return err
			}
			waybills[e.WaybillNo] = true
		}
		for w := range waybills {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM delivery_orders WHERE waybill_no = $1 ORDER BY id DESC LIMIT 1`, w).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				// Its dispatch has not committed yet (or it is not ours): the
				// events are kept, and the push is refused so that the
				// courier sends it again, by when the order knows its waybill.
				unknown = true
				continue
			}
			if err != nil {
				return err
			}
			o, err := db.followEvents(ctx, tx, id, at)
			if err != nil {
				return err
			}
			if o != nil {
				changed = append(changed, *o)
			}
		}
		return nil
	})
	if err == nil && unknown {
		err = errs.E(delivery.CodeUnknownWaybill)
	}
	return changed, err
}

// SetSettlement records an order's settlement step: its state, reference,
// split and settlement id, if the order is still in state from; once
// settled, the insurance's shares are written to the ledger (the cash
// part came in as a payment of its own).
func (db *DB) SetSettlement(ctx context.Context, o *delivery.Order, from string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE delivery_orders SET settle_state = $2, settle_ref = $3, setl_id = $4, fund_fen = $5, account_fen = $6, cash_fen = $7
			WHERE id = $1 AND settle_state = $8`, o.ID, o.SettleState, o.SettleRef, o.SetlID, o.FundFen, o.AccountFen, o.CashFen, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(delivery.CodeOrderState)
		}
		if o.SettleState != delivery.SettleDone || o.FundFen+o.AccountFen == 0 {
			return nil
		}
		at := db.now()
		j := billing.SettlementJournal(o.ID, o.SetlID)
		var rows [][]any
		add := func(account string, amount int64) {
			if amount != 0 {
				rows = append(rows, []any{j, account, amount, int64(0), int64(0), o.PatientID, o.Institution, micros(at), "order " + fmt.Sprint(o.ID)})
			}
		}
		add(billing.InsuranceFundAccount, o.FundFen)
		add(billing.InsurancePersonalAccount, o.AccountFen)
		add("institution:"+o.Institution, -(o.FundFen + o.AccountFen))
		return db.insertMany(ctx, tx, "ledger_entries", ledgerCols, rows)
	})
}
