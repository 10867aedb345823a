package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/delivery"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// a courier may push a waybill's route before the dispatch that
// records the waybill has committed: the events are kept and the order
// follows them once dispatched; a route pushed twice counts once.
func TestCourierEventsBeforeDispatch(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		at := now().UTC().Truncate(time.Microsecond)
		acct := &identity.Account{Username: "parcel", PasswordHash: "x", Role: identity.RolePatient, CreatedAt: at}
		if err := db.CreateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		o := &delivery.Order{PrescriptionID: 77, Institution: "ccmc", PatientID: 1, AccountID: acct.ID, Mode: delivery.ModeCourier, AmountFen: 100,
			Status: delivery.AwaitingPayment, CreatedAt: at}
		if _, err := db.CreateOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer().Exec(`UPDATE delivery_orders SET status = 'to_pack' WHERE id = $1`, o.ID); err != nil {
			t.Fatal(err)
		}
		route := []courier.Event{
			{RouteID: "w1-02", WaybillNo: "SF1", At: at.Add(2 * time.Hour), OpCode: courier.OpSigned},
			{RouteID: "w1-01", WaybillNo: "SF1", At: at.Add(time.Hour), OpCode: "50"},
			{RouteID: "w1-02", WaybillNo: "SF1", At: at.Add(2 * time.Hour), OpCode: courier.OpSigned},
		}
		// Kept, but refused so that the courier pushes again.
		changed, err := db.AddEvents(ctx, route, at)
		if !errs.Is(err, delivery.CodeUnknownWaybill) || len(changed) != 0 {
			t.Fatalf("events of an unknown waybill: %v %v", changed, err)
		}
		if err := db.Dispatch(ctx, o.ID, "sf", "SF1", at); err != nil {
			t.Fatal(err)
		}
		got, err := db.Order(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != delivery.Delivered || len(got.Events) != 2 || got.Events[0].RouteID != "w1-01" {
			t.Fatalf("order %s, events %+v", got.Status, got.Events)
		}
	})
}
