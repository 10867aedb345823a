// Package courier is Yunyi's adapter to couriers that deliver prescription
// drugs (配送), shaped after SF Express (顺丰): create a waybill, receive the
// courier's route pushes (路由推送) and answer them, and derive what the
// patient sees from the route nodes. SandboxSF stands in for SF; a real
// contract changes the adapter and nothing else.
//
// Route pushes are incremental and unreliable in the ways the real ones
// are: a batch holds up to 10 route nodes, each node has a stable id, a
// batch the receiver does not acknowledge is pushed again whole, batches
// may arrive twice and out of order. Timeline and Current make one
// consistent story out of whatever arrived.
//
// Push signature (ours, not SF's): the sender puts the Unix time in seconds
// in X-SF-Timestamp and hex(HMAC-SHA256(key, timestamp + "\n" + body)) in
// X-SF-Signature, key being the secret shared with the courier. The
// receiver refuses a wrong signature and a timestamp more than 300 s away
// from its clock. Real SF signs with msgDigest = Base64(MD5(URLEncode(
// msgData + timestamp + checkWord))); we deliberately do not copy MD5: a
// real SF adapter verifies SF's scheme inside its own ParsePush.
package courier

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// Status is where a parcel is, as the patient sees it.
type Status string

// Parcel statuses.
const (
	Created        Status = "created" // waybill made, no route node yet
	PickedUp       Status = "picked_up"
	InTransit      Status = "in_transit"
	OutForDelivery Status = "out_for_delivery"
	Delivered      Status = "delivered"
	Returned       Status = "returned"
	Failed         Status = "failed" // a delivery attempt failed; not terminal
)

// Terminal reports whether no later node changes the status: delivered or
// returned.
func (s Status) Terminal() bool { return s == Delivered || s == Returned }

// Event is one route node of a waybill.
type Event struct {
	RouteID   string    `json:"route_id"`
	WaybillNo string    `json:"waybill_no"`
	OrderID   string    `json:"order_id"`
	At        time.Time `json:"at"`
	Address   string    `json:"address"`
	Remark    string    `json:"remark"`
	OpCode    string    `json:"opcode"`
	Status    Status    `json:"status"`
}

// Address is a sender or recipient.
type Address struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Province   string `json:"province"`
	City       string `json:"city"`
	District   string `json:"district"`
	RegionCode string `json:"region_code"` // GB/T 2260 code, e.g. 110105
	Detail     string `json:"detail"`
}

// Shipment is what Yunyi asks a courier to carry.
type Shipment struct {
	OrderID     string  `json:"order_id"` // Yunyi's order, unique per waybill
	Sender      Address `json:"sender"`
	Recipient   Address `json:"recipient"`
	Items       string  `json:"items"` // description of the content
	WeightGrams int     `json:"weight_grams"`
}

// Courier is a delivery company as Yunyi uses it.
type Courier interface {
	// Name is the courier's short name, e.g. "sf".
	Name() string
	// CreateWaybill books a pick-up and returns the waybill number. An
	// OrderID already booked answers the existing waybill number with
	// ErrDuplicateOrder (as SF answers 重复下单).
	CreateWaybill(ctx context.Context, s Shipment) (waybillNo string, err error)
	// ParsePush verifies a route push (ErrBadSignature, ErrStale) and
	// returns its events (ErrBadPush when malformed).
	ParsePush(h http.Header, body []byte) ([]Event, error)
	// PushAck is the HTTP answer to a push that ParsePush (and the
	// receiver's storing) ended with err: success, or an error that makes
	// the courier push the batch again.
	PushAck(err error) (status int, body []byte)
}

// Errors of the courier adapter.
var (
	ErrBadSignature   = errors.New("courier: bad push signature")
	ErrStale          = fmt.Errorf("%w: timestamp more than 300 s away", ErrBadSignature)
	ErrBadPush        = errors.New("courier: malformed push")
	ErrInvalid        = errors.New("courier: invalid shipment")
	ErrDuplicateOrder = errors.New("courier: order already has a waybill")
	ErrUnknownWaybill = errors.New("courier: unknown waybill")
	ErrRouteDone      = errors.New("courier: every route node already pushed")
	ErrMode           = errors.New("courier: not available in this sandbox mode")
)

// SF operation codes (opcode) the sandbox uses. No official table is public;
// these are the ones integrators' code relies on.
const (
	OpPickedUp       = "50"  // 顺丰已收取快件
	OpReceived       = "54"  // 收件入仓
	OpSorted         = "30"  // 快件在集散中心完成分拣
	OpDeparted       = "31"  // 快件已发车
	OpArrived        = "36"  // 快件到达
	OpOutForDelivery = "204" // 正在派送
	OpFailed         = "70"  // 派送不成功 (the sandbox's choice; unsure for real SF)
	OpSigned         = "80"  // 已签收 (also a returned parcel signed by the sender)
	OpReturned       = "631" // 退回
)

// returnWords in an 80's remark mean the parcel went back to the sender.
var returnWords = []string{"退件", "拒收", "退回"}

// Classify maps an SF opcode and remark to a status. 80 (signed) is
// returned when the remark says 退件, 拒收 or 退回, else delivered.
// Unknown codes (and an empty one) are in_transit: SF pushes many
// operational nodes (customs, transfer, holds); each means the parcel is
// on its way, and none may end the story by mistake.
func Classify(opcode, remark string) Status {
	switch strings.TrimSpace(opcode) {
	case OpPickedUp, OpReceived:
		return PickedUp
	case OpSorted, OpDeparted, OpArrived:
		return InTransit
	case OpOutForDelivery:
		return OutForDelivery
	case OpSigned:
		for _, w := range returnWords {
			if strings.Contains(remark, w) {
				return Returned
			}
		}
		return Delivered
	case OpReturned:
		return Returned
	case OpFailed:
		return Failed
	}
	return InTransit
}

// status is e's status, classified when not set.
func (e *Event) status() Status {
	if e.Status != "" {
		return e.Status
	}
	return Classify(e.OpCode, e.Remark)
}

// Timeline is the events as the patient sees them: one per route id (the
// first that arrived; events without a route id are told apart by waybill,
// opcode, time and remark), in order of time, events of the same time in
// the order they arrived.
func Timeline(events []Event) []Event {
	seen := make(map[string]bool, len(events))
	out := make([]Event, 0, len(events))
	for _, e := range events {
		k := "id\x00" + e.RouteID
		if e.RouteID == "" {
			k = strings.Join([]string{"", e.WaybillNo, e.OpCode, e.At.UTC().Format(time.RFC3339Nano), e.Remark}, "\x00")
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.At.Compare(b.At) })
	return out
}

// Current is the status after the latest event by time. A terminal event
// (delivered, returned) wins over any other, so a node that arrives late,
// or that carries a skewed time, cannot reopen a finished delivery; among
// terminal events the latest wins. No events: created.
func Current(events []Event) Status {
	tl := Timeline(events)
	if len(tl) == 0 {
		return Created
	}
	for i := len(tl) - 1; i >= 0; i-- {
		if st := tl[i].status(); st.Terminal() {
			return st
		}
	}
	return tl[len(tl)-1].status()
}

// Headers of a signed push.
const (
	HeaderTimestamp = "X-SF-Timestamp" // Unix seconds
	HeaderSignature = "X-SF-Signature" // hex HMAC-SHA256
)

// MaxSkew is how far a push's timestamp may be from the receiver's clock.
const MaxSkew = 300 * time.Second

// Sign returns hex(HMAC-SHA256(key, timestamp + "\n" + body)).
func Sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'\n'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a push's signature headers against key at time now.
func Verify(key []byte, h http.Header, body []byte, now time.Time) error {
	ts, sig := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if len(key) == 0 || ts == "" || sig == "" {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return ErrBadSignature
	}
	want, _ := hex.DecodeString(Sign(key, ts, body))
	if !hmac.Equal(got, want) {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	return nil
}

// MaxBatch is the most route nodes in one push.
const MaxBatch = 10

// AcceptTimeLayout is the layout of acceptTime, in Beijing time.
const AcceptTimeLayout = "2006-01-02 15:04:05"

// route is one node in a push body.
type route struct {
	ID            string `json:"id"`
	OrderID       string `json:"orderid"`
	MailNo        string `json:"mailno"`
	AcceptTime    string `json:"acceptTime"`
	AcceptAddress string `json:"acceptAddress"`
	Remark        string `json:"remark"`
	OpCode        string `json:"opcode"`
}

type pushBody struct {
	WaybillRoute []route `json:"waybillRoute"`
}

// encodePush makes a push body of events.
func encodePush(events []Event) []byte {
	b := pushBody{WaybillRoute: make([]route, len(events))}
	for i, e := range events {
		b.WaybillRoute[i] = route{ID: e.RouteID, OrderID: e.OrderID, MailNo: e.WaybillNo,
			AcceptTime: e.At.In(dates.Beijing).Format(AcceptTimeLayout), AcceptAddress: e.Address,
			Remark: e.Remark, OpCode: e.OpCode}
	}
	out, _ := json.Marshal(b)
	return out
}

// decodePush reads a push body (after its signature was verified).
func decodePush(body []byte) ([]Event, error) {
	var b pushBody
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPush, err)
	}
	if n := len(b.WaybillRoute); n == 0 || n > MaxBatch {
		return nil, fmt.Errorf("%w: %d routes (1..%d)", ErrBadPush, n, MaxBatch)
	}
	out := make([]Event, 0, len(b.WaybillRoute))
	for i, r := range b.WaybillRoute {
		at, err := time.ParseInLocation(AcceptTimeLayout, r.AcceptTime, dates.Beijing)
		if err != nil || r.ID == "" || r.MailNo == "" || r.OpCode == "" {
			return nil, fmt.Errorf("%w: route %d needs id, mailno, opcode and acceptTime", ErrBadPush, i+1)
		}
		out = append(out, Event{RouteID: r.ID, WaybillNo: r.MailNo, OrderID: r.OrderID, At: at,
			Address: r.AcceptAddress, Remark: r.Remark, OpCode: r.OpCode, Status: Classify(r.OpCode, r.Remark)})
	}
	return out, nil
}

// ackBody is the JSON answer to a push.
type ackBody struct {
	ReturnCode string `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
}

// Return codes of a push answer: anything but AckOK makes the courier push
// the batch again.
const (
	AckOK    = "0000"
	AckError = "1000"
)

// Ack is the HTTP answer to a push handled with err: 200 and return_code
// 0000 on success; otherwise return_code 1000 with 401 (signature), 400
// (malformed) or 500 (the receiver's own failure).
func Ack(err error) (int, []byte) {
	a, status := ackBody{ReturnCode: AckOK, ReturnMsg: "success"}, http.StatusOK
	if err != nil {
		a = ackBody{ReturnCode: AckError, ReturnMsg: err.Error()}
		switch {
		case errors.Is(err, ErrBadSignature):
			status = http.StatusUnauthorized
		case errors.Is(err, ErrBadPush):
			status = http.StatusBadRequest
		default:
			status = http.StatusInternalServerError
		}
	}
	out, _ := json.Marshal(a)
	return status, out
}

// acked reports whether a push answer acknowledges the batch.
func acked(status int, body []byte) bool {
	var a ackBody
	return status == http.StatusOK && json.Unmarshal(body, &a) == nil && a.ReturnCode == AckOK
}
