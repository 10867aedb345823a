-- Social-security cards bound to patients (M-3), verified through the
-- insurance bureau's adapter (its person number kept for settlements).
CREATE TABLE patient_insurance (
    patient_id  BIGINT PRIMARY KEY REFERENCES patients(id),
    card_no     TEXT NOT NULL,
    region      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    psn_no      TEXT NOT NULL,
    verified_at BIGINT NOT NULL
);
