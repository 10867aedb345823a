-- Drugs to the door (R-3): each institution's delivery rules (data), the
-- orders of approved prescriptions, and the couriers' route events.
CREATE TABLE delivery_settings (
    institution  TEXT PRIMARY KEY,
    courier      BOOLEAN NOT NULL DEFAULT FALSE,
    regions      TEXT NOT NULL DEFAULT '',
    regions_text TEXT NOT NULL DEFAULT '',
    sender       TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE delivery_orders (
    id              {{id}},
    prescription_id BIGINT NOT NULL,
    institution     TEXT NOT NULL,
    patient_id      BIGINT NOT NULL,
    account_id      BIGINT NOT NULL,
    mode            TEXT NOT NULL,
    address         TEXT NOT NULL DEFAULT '{}',
    amount_fen      BIGINT NOT NULL,
    status          TEXT NOT NULL,
    courier         TEXT NOT NULL DEFAULT '',
    waybill_no      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    paid_at         BIGINT NOT NULL DEFAULT 0,
    dispatched_at   BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT NOT NULL DEFAULT 0
);
-- One open order a prescription.
CREATE UNIQUE INDEX delivery_orders_open ON delivery_orders(prescription_id) WHERE status <> 'cancelled';
CREATE INDEX delivery_orders_queue ON delivery_orders(institution, status, paid_at);
CREATE INDEX delivery_orders_waybill ON delivery_orders(waybill_no);

-- Route events by waybill: a push may come before the dispatch that
-- records the waybill on its order has committed; nothing is lost.
CREATE TABLE delivery_events (
    waybill   TEXT NOT NULL,
    route_id  TEXT NOT NULL,
    at        BIGINT NOT NULL,
    opcode    TEXT NOT NULL,
    status    TEXT NOT NULL,
    address   TEXT NOT NULL DEFAULT '',
    remark    TEXT NOT NULL DEFAULT '',
    received  BIGINT NOT NULL,
    PRIMARY KEY (waybill, route_id)
);
