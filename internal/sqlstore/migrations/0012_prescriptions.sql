-- E-prescriptions (R-1, R-2, N-9..N-15): each institution's formulary, the
-- safety rules as data, practitioners' SM2 signing keys (private keys
-- sealed under the operator's master key), and the prescriptions, every
-- version kept.
CREATE TABLE rx_formulary (
    institution TEXT NOT NULL,
    drug        TEXT NOT NULL,
    price_fen   BIGINT NOT NULL,
    online      BOOLEAN NOT NULL,
    PRIMARY KEY (institution, drug)
);

CREATE TABLE rx_rules (
    id          {{id}},
    institution TEXT NOT NULL DEFAULT '',
    code        TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    severity    TEXT NOT NULL,
    message_zh  TEXT NOT NULL,
    message_en  TEXT NOT NULL,
    expr        TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL DEFAULT 0,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at  BIGINT NOT NULL,
    UNIQUE (institution, code)
);

CREATE TABLE rx_settings (
    institution            TEXT PRIMARY KEY,
    prescribe_window_hours INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    practitioner_id BIGINT PRIMARY KEY,
    public_key      TEXT NOT NULL,
    sealed          {{blob}} NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE prescriptions (
    id            {{id}},
    visit_id      BIGINT NOT NULL,
    version       INTEGER NOT NULL,
    revises       BIGINT NOT NULL DEFAULT 0,
    institution   TEXT NOT NULL,
    department    TEXT NOT NULL,
    patient_id    BIGINT NOT NULL,
    doctor_id     BIGINT NOT NULL,
    status        TEXT NOT NULL,
    body          TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    valid_days    INTEGER NOT NULL,
    valid_until   BIGINT NOT NULL,
    total_fen     BIGINT NOT NULL,
    reviewer_id   BIGINT NOT NULL DEFAULT 0,
    reviewer_name TEXT NOT NULL DEFAULT '',
    reviewed_at   BIGINT NOT NULL DEFAULT 0,
    review        TEXT NOT NULL DEFAULT '',
    doctor_sig    TEXT NOT NULL DEFAULT '',
    pharmacist_sig TEXT NOT NULL DEFAULT '',
    updated_at    BIGINT NOT NULL,
    UNIQUE (visit_id, version)
);
CREATE INDEX prescriptions_queue ON prescriptions (institution, status, issued_at);
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, issued_at);
CREATE INDEX prescriptions_doctor ON prescriptions (doctor_id, issued_at);
