-- Electronic bills for medical charges (医疗收费电子票据, issue 12): one per
-- paid payment, numbered per institution without gaps. The number is taken
-- from the institution's counter inside the transaction that records the
-- payment, so a payment rolled back takes no number.
CREATE TABLE invoice_counters (
    institution TEXT PRIMARY KEY,
    next        BIGINT NOT NULL -- the number the institution issues next
);

CREATE TABLE invoices (
    id          {{id}},
    institution TEXT NOT NULL,
    number      BIGINT NOT NULL,
    code        TEXT NOT NULL,
    check_code  TEXT NOT NULL,
    payment_id  BIGINT NOT NULL UNIQUE REFERENCES payments(id),
    patient_id  BIGINT NOT NULL,
    payer_name  TEXT NOT NULL,
    amount_fen  BIGINT NOT NULL,
    items       TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    UNIQUE (institution, number)
);
CREATE INDEX invoices_patient ON invoices(patient_id, issued_at);
