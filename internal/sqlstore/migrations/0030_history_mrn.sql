-- Offline history kept under an institution's medical record number
-- (病案号, MRN; issue 16): a hospital's system keys its patients by MRN, not
-- always by resident ID. A visit whose patient has no resident ID is kept
-- under (institution, mrn); the MRN is linked to a Yunyi patient by resident
-- ID (one resident ID is one patient, N-5) from a file's identifiers, from
-- the institution's link file or when the patient binds the hospital card.
-- Linked history counts for follow-up eligibility (S-3).
CREATE TABLE history_mrns (
    institution    TEXT NOT NULL REFERENCES institutions(code),
    mrn            TEXT NOT NULL,
    -- The patient as the hospital's record gives them (the card binding
    -- checks name and birth date against them).
    name           TEXT NOT NULL DEFAULT '',
    birth_date     TEXT NOT NULL DEFAULT '',
    sex            TEXT NOT NULL DEFAULT '',
    -- The linked patient ('' : not linked), how (import | file | card),
    -- by whom and when.
    resident_id    TEXT NOT NULL DEFAULT '',
    linked_by      TEXT NOT NULL DEFAULT '',
    linked_account BIGINT NOT NULL DEFAULT 0,
    linked_at      BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (institution, mrn)
);
CREATE INDEX history_mrns_linked ON history_mrns(resident_id, institution) WHERE resident_id <> '';

-- A visit's MRN ('' : none); a visit with a resident ID keeps it too.
ALTER TABLE visit_history ADD COLUMN mrn TEXT NOT NULL DEFAULT '';
CREATE INDEX visit_history_mrn ON visit_history(institution, mrn) WHERE mrn <> '';

-- What an import's report says beyond its counts and problems: resources
-- not used, notes on entries taken with a remark, visits kept under an MRN
-- and links made (JSON).
ALTER TABLE history_imports ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
