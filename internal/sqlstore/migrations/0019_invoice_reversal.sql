-- Reversing invoices (红字票据, 红冲): a refund that succeeds issues a
-- reversing invoice of minus the refunded amount, in the same transaction
-- that records the refund, numbered in the institution's one sequence
-- (invoice_counters) with the originals. The original stays.
--
-- A payment now has several invoices: its original (refund_id 0) and one
-- per refund (refund_id, the refund's id), each at most once. 0014 made
-- payment_id UNIQUE, which SQLite cannot drop: the table is rebuilt (on
-- both engines, the same statements), its rows and ids kept.
CREATE TABLE invoices_0019 (
    id              {{id}},
    institution     TEXT NOT NULL,
    number          BIGINT NOT NULL,
    code            TEXT NOT NULL,
    check_code      TEXT NOT NULL,
    payment_id      BIGINT NOT NULL REFERENCES payments(id),
    refund_id       BIGINT NOT NULL DEFAULT 0,  -- 0: the original, else the refund this invoice reverses
    original_id     BIGINT NOT NULL DEFAULT 0,  -- a reversing invoice's original (its id)
    original_code   TEXT NOT NULL DEFAULT '',   -- and its 票据代码
    original_number BIGINT NOT NULL DEFAULT 0,  -- and its 票据号码
    reason          TEXT NOT NULL DEFAULT '',   -- 冲红原因: the refund's reason
    patient_id      BIGINT NOT NULL,
    payer_name      TEXT NOT NULL,
    amount_fen      BIGINT NOT NULL,            -- negative on a reversing invoice
    items           TEXT NOT NULL,
    issued_at       BIGINT NOT NULL,
    UNIQUE (institution, number),
    UNIQUE (payment_id, refund_id)
);
INSERT INTO invoices_0019 (id, institution, number, code, check_code, payment_id, patient_id, payer_name, amount_fen, items, issued_at)
    SELECT id, institution, number, code, check_code, payment_id, patient_id, payer_name, amount_fen, items, issued_at FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_0019 RENAME TO invoices;
CREATE INDEX invoices_patient ON invoices(patient_id, issued_at);
-- An institution's invoices of a day (the staff's list).
CREATE INDEX invoices_issued ON invoices(institution, issued_at);
-- The rows were copied with their ids: PostgreSQL's identity goes on after them.
-- postgres: SELECT setval(pg_get_serial_sequence('invoices', 'id'), COALESCE((SELECT MAX(id) FROM invoices), 0) + 1, false);
