-- Money (M-1): when each service's fee is paid (data), the hold of a paid
-- booking until its payment, payments through a provider, refunds, and
-- the double-entry ledger every movement is written to.
ALTER TABLE services ADD COLUMN pay_at TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN pay_window_minutes INTEGER NOT NULL DEFAULT 15;

-- A held appointment (status 'held') keeps its place until pay_by.
ALTER TABLE appointments ADD COLUMN pay_by BIGINT NOT NULL DEFAULT 0;
DROP INDEX appointments_one_a_day;
CREATE UNIQUE INDEX appointments_one_a_day ON appointments(patient_id, institution, department, day) WHERE status IN ('booked', 'held');
CREATE INDEX appointments_held ON appointments(pay_by) WHERE status = 'held';

CREATE TABLE payments (
    id             {{id}},
    purpose        TEXT NOT NULL,
    ref_id         BIGINT NOT NULL,
    account_id     BIGINT NOT NULL,
    patient_id     BIGINT NOT NULL,
    institution    TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL CHECK (amount_fen > 0),
    reserved_fen   BIGINT NOT NULL DEFAULT 0,
    refunded_fen   BIGINT NOT NULL DEFAULT 0,
    provider       TEXT NOT NULL,
    channel        TEXT NOT NULL,
    out_trade_no   TEXT NOT NULL UNIQUE,
    transaction_id TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    cashier_url    TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    pay_by         BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    paid_at        BIGINT NOT NULL DEFAULT 0,
    closed_at      BIGINT NOT NULL DEFAULT 0,
    CHECK (reserved_fen <= amount_fen AND refunded_fen <= reserved_fen)
);
-- One pending payment at a time for an appointment or a prescription.
CREATE UNIQUE INDEX payments_open ON payments(purpose, ref_id) WHERE status = 'pending';
CREATE INDEX payments_account ON payments(account_id, created_at);
CREATE INDEX payments_pending ON payments(status, pay_by);

CREATE TABLE refunds (
    id            {{id}},
    payment_id    BIGINT NOT NULL REFERENCES payments(id),
    reason_key    TEXT NOT NULL,
    out_refund_no TEXT NOT NULL UNIQUE,
    amount_fen    BIGINT NOT NULL CHECK (amount_fen > 0),
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL,
    provider_id   TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    done_at       BIGINT NOT NULL DEFAULT 0,
    UNIQUE (payment_id, reason_key)
);
CREATE INDEX refunds_status ON refunds(status, created_at);

-- Every movement of money is a journal of entries summing to zero.
CREATE TABLE ledger_entries (
    id          {{id}},
    journal     TEXT NOT NULL,
    account     TEXT NOT NULL,
    amount_fen  BIGINT NOT NULL,
    payment_id  BIGINT NOT NULL,
    refund_id   BIGINT NOT NULL DEFAULT 0,
    patient_id  BIGINT NOT NULL,
    institution TEXT NOT NULL,
    at          BIGINT NOT NULL,
    memo        TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX ledger_journal_account ON ledger_entries(journal, account);
CREATE INDEX ledger_payment ON ledger_entries(payment_id);
CREATE INDEX ledger_institution ON ledger_entries(institution, at);
