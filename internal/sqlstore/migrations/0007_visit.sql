-- Yunyi schema, part 7: the online visit (V-1..V-3): questionnaires,
-- visits and their steps, attachments, chat, records, termination, and the
-- SMS sandbox's log.

-- Pre-consultation templates (预问诊), stored as data: fields and red flags
-- as JSON.
CREATE TABLE questionnaires (
    code       TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    title_en   TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
ALTER TABLE services ADD COLUMN questionnaire TEXT NOT NULL DEFAULT '';

-- A visit is the online life of an appointment (same id). The row appears
-- with the first step; until then the appointment alone says "booked".
CREATE TABLE visits (
    appointment_id  BIGINT PRIMARY KEY REFERENCES appointments(id),
    state           TEXT NOT NULL,
    questionnaire   TEXT NOT NULL DEFAULT '',
    answers         TEXT NOT NULL DEFAULT '{}',
    checked_in_at   BIGINT NOT NULL DEFAULT 0,
    waiting_since   BIGINT NOT NULL DEFAULT 0,
    started_at      BIGINT NOT NULL DEFAULT 0,
    ended_at        BIGINT NOT NULL DEFAULT 0,
    call_started_at BIGINT NOT NULL DEFAULT 0,
    call_ended_at   BIGINT NOT NULL DEFAULT 0,
    call_seconds    BIGINT NOT NULL DEFAULT 0,
    refund_due      BOOLEAN NOT NULL DEFAULT FALSE,
    reminded_at     BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX visits_state ON visits(state);

-- Every step of a visit, timed.
CREATE TABLE visit_steps (
    id         {{id}},
    visit_id   BIGINT NOT NULL,
    action     TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    by_account BIGINT NOT NULL DEFAULT 0,
    at         BIGINT NOT NULL
);
CREATE INDEX visit_steps_visit ON visit_steps(visit_id, id);

CREATE TABLE attachments (
    id           {{id}},
    visit_id     BIGINT NOT NULL,
    purpose      TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    blob_key     TEXT NOT NULL,
    uploaded_by  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_visit ON attachments(visit_id, id);

-- Chat messages, numbered per visit.
CREATE TABLE messages (
    visit_id      BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    sender_id     BIGINT NOT NULL,
    sender_role   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    body          TEXT NOT NULL DEFAULT '',
    attachment_id BIGINT NOT NULL DEFAULT 0,
    client_id     TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (visit_id, seq)
);

CREATE TABLE chat_reads (
    visit_id   BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    PRIMARY KEY (visit_id, account_id)
);

-- The record (病历): version 0 is the draft, 1 the signed record, later
-- versions amendments. Rows are never updated once signed.
CREATE TABLE records (
    visit_id     BIGINT NOT NULL,
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL,
    author_id    BIGINT NOT NULL,
    amend_reason TEXT NOT NULL DEFAULT '',
    signed_at    BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (visit_id, version)
);

-- Reasons to terminate a visit and refer offline (V-3), as data.
CREATE TABLE termination_reasons (
    code     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    name_en  TEXT NOT NULL DEFAULT '',
    active   BOOLEAN NOT NULL DEFAULT TRUE,
    position INTEGER NOT NULL DEFAULT 0
);
INSERT INTO termination_reasons (code, name, name_en, position) VALUES
    ('needs_exam', '需要线下体格检查', 'Needs a physical examination', 1),
    ('needs_tests', '需要线上无法完成的检查检验', 'Needs tests not available online', 2),
    ('beyond_specialty', '超出本专业诊疗范围', 'Beyond the specialty', 3),
    ('red_flags', '出现危急或警示症状', 'Red-flag symptoms', 4),
    ('patient_request', '患者（监护人）要求线下就诊', 'Patient request', 5),
    ('technical_failure', '音视频或网络故障，无法继续', 'Technical failure', 6),
    ('other', '其他（须说明）', 'Other (explain)', 7);

CREATE TABLE terminations (
    visit_id       BIGINT PRIMARY KEY,
    institution    TEXT NOT NULL,
    department     TEXT NOT NULL,
    kind           TEXT NOT NULL,
    doctor_id      BIGINT NOT NULL,
    reasons        TEXT NOT NULL,
    note           TEXT NOT NULL DEFAULT '',
    ref_department TEXT NOT NULL,
    urgency        TEXT NOT NULL,
    advice         TEXT NOT NULL,
    by_account     BIGINT NOT NULL,
    at             BIGINT NOT NULL
);
CREATE INDEX terminations_inst ON terminations(institution, at);

-- What the SMS sandbox would have sent.
CREATE TABLE sms_log (
    id          {{id}},
    to_phone    TEXT NOT NULL,
    body        TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    provider_id TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
