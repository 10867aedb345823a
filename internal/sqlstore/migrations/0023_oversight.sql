-- The regulator's side (issue 13; V-4, N-21, N-22, G-3): satisfaction
-- ratings of visits, complaints and adverse events with their deadlines,
-- and rectification orders.

-- Categories of complaints and adverse events, and the severities of
-- adverse events, as data (list: complaint, adverse_event, severity).
CREATE TABLE oversight_categories (
    list     TEXT NOT NULL,
    code     TEXT NOT NULL,
    name     TEXT NOT NULL,
    name_en  TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (list, code)
);
INSERT INTO oversight_categories (list, code, name, name_en, position) VALUES
    ('complaint', 'service_attitude', '服务态度', 'Staff attitude', 1),
    ('complaint', 'diagnosis_quality', '诊疗质量', 'Quality of diagnosis and treatment', 2),
    ('complaint', 'waiting', '预约与等候', 'Booking and waiting', 3),
    ('complaint', 'fees', '收费与退款', 'Fees and refunds', 4),
    ('complaint', 'privacy', '隐私与个人信息', 'Privacy and personal information', 5),
    ('complaint', 'prescription_delivery', '处方与配送', 'Prescriptions and delivery', 6),
    ('complaint', 'other', '其他', 'Other', 7),
    ('adverse_event', 'medication_error', '用药错误', 'Medication error', 1),
    ('adverse_event', 'delayed_referral', '延误转诊', 'Delayed referral', 2),
    ('adverse_event', 'misdiagnosis', '误诊漏诊', 'Missed or wrong diagnosis', 3),
    ('adverse_event', 'identity_error', '患者身份识别错误', 'Patient misidentified', 4),
    ('adverse_event', 'privacy_breach', '隐私泄露', 'Privacy breach', 5),
    ('adverse_event', 'system_failure', '系统故障影响诊疗', 'System failure affecting care', 6),
    ('adverse_event', 'other', '其他', 'Other', 7),
    ('severity', 'general', '一般', 'General', 1),
    ('severity', 'serious', '严重', 'Serious', 2),
    ('severity', 'critical', '重大', 'Critical', 3);

-- How long after the report a case must reach each step (triaged,
-- investigating, closed), per kind and optionally per category and
-- severity ('' = any; the most specific row wins). A complaint is
-- answered (closed with findings) within 5 working days; a serious
-- adverse event is triaged within 24 hours, a critical one within 12.
CREATE TABLE oversight_deadlines (
    kind     TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT '',
    step     TEXT NOT NULL,
    amount   INTEGER NOT NULL,
    unit     TEXT NOT NULL,
    PRIMARY KEY (kind, category, severity, step)
);
INSERT INTO oversight_deadlines (kind, category, severity, step, amount, unit) VALUES
    ('complaint', '', '', 'triaged', 1, 'working_days'),
    ('complaint', '', '', 'investigating', 2, 'working_days'),
    ('complaint', '', '', 'closed', 5, 'working_days'),
    ('complaint', 'privacy', '', 'triaged', 24, 'hours'),
    ('adverse_event', '', '', 'triaged', 2, 'working_days'),
    ('adverse_event', '', '', 'investigating', 5, 'working_days'),
    ('adverse_event', '', '', 'closed', 15, 'working_days'),
    ('adverse_event', '', 'serious', 'triaged', 24, 'hours'),
    ('adverse_event', '', 'serious', 'investigating', 2, 'working_days'),
    ('adverse_event', '', 'serious', 'closed', 10, 'working_days'),
    ('adverse_event', '', 'critical', 'triaged', 12, 'hours'),
    ('adverse_event', '', 'critical', 'investigating', 24, 'hours'),
    ('adverse_event', '', 'critical', 'closed', 5, 'working_days');

-- Complaints (kind complaint) and adverse events (kind adverse_event).
-- due_at is the deadline of the next step (0 once closed): what the
-- overdue lists read. alerted_state is the state whose overdue alert went
-- out (each step once).
CREATE TABLE oversight_cases (
    id                 {{id}},
    kind               TEXT NOT NULL,
    institution        TEXT NOT NULL REFERENCES institutions(code),
    visit_id           BIGINT NOT NULL DEFAULT 0,
    patient_id         BIGINT NOT NULL DEFAULT 0,
    reporter_id        BIGINT NOT NULL,
    reporter_role      TEXT NOT NULL,
    category           TEXT NOT NULL,
    severity           TEXT NOT NULL DEFAULT '',
    text               TEXT NOT NULL,
    state              TEXT NOT NULL,
    reported_at        BIGINT NOT NULL,
    triaged_at         BIGINT NOT NULL DEFAULT 0,
    investigating_at   BIGINT NOT NULL DEFAULT 0,
    closed_at          BIGINT NOT NULL DEFAULT 0,
    triage_note        TEXT NOT NULL DEFAULT '',
    investigation_note TEXT NOT NULL DEFAULT '',
    findings           TEXT NOT NULL DEFAULT '',
    handler_id         BIGINT NOT NULL DEFAULT 0,
    triage_due         BIGINT NOT NULL,
    investigate_due    BIGINT NOT NULL,
    close_due          BIGINT NOT NULL,
    due_at             BIGINT NOT NULL,
    alerted_state      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX oversight_cases_inst ON oversight_cases(kind, institution, reported_at);
CREATE INDEX oversight_cases_reporter ON oversight_cases(reporter_id);
CREATE INDEX oversight_cases_patient ON oversight_cases(patient_id);
CREATE INDEX oversight_cases_due ON oversight_cases(due_at);

-- Satisfaction: one rating a completed visit.
CREATE TABLE visit_ratings (
    visit_id    BIGINT PRIMARY KEY,
    institution TEXT NOT NULL,
    doctor_id   BIGINT NOT NULL DEFAULT 0,
    patient_id  BIGINT NOT NULL,
    account_id  BIGINT NOT NULL,
    score       INTEGER NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX visit_ratings_inst ON visit_ratings(institution);

-- Inspections' findings and the orders to rectify them (G-3).
CREATE TABLE rectifications (
    id                {{id}},
    institution       TEXT NOT NULL REFERENCES institutions(code),
    inspected_on      TEXT NOT NULL,
    findings          TEXT NOT NULL,
    deadline_date     TEXT NOT NULL,
    deadline_at       BIGINT NOT NULL,
    state             TEXT NOT NULL,
    round_no          INTEGER NOT NULL DEFAULT 1,
    issued_by         BIGINT NOT NULL,
    issued_at         BIGINT NOT NULL,
    suspended_at      BIGINT NOT NULL DEFAULT 0,
    suspension_reason TEXT NOT NULL DEFAULT '',
    alerted_round     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rectifications_inst ON rectifications(institution, issued_at);
CREATE INDEX rectifications_deadline ON rectifications(state, deadline_at);

CREATE TABLE rectification_events (
    id               {{id}},
    rectification_id BIGINT NOT NULL REFERENCES rectifications(id),
    kind             TEXT NOT NULL,
    text             TEXT NOT NULL DEFAULT '',
    deadline         TEXT NOT NULL DEFAULT '',
    late             BOOLEAN NOT NULL DEFAULT FALSE,
    actor_id         BIGINT NOT NULL,
    at               BIGINT NOT NULL
);
CREATE INDEX rectification_events_order ON rectification_events(rectification_id, id);

-- The files of responses, kept in the blob store; event_id is the
-- response they are part of (0 until it is sent).
CREATE TABLE rectification_files (
    id               {{id}},
    rectification_id BIGINT NOT NULL REFERENCES rectifications(id),
    event_id         BIGINT NOT NULL DEFAULT 0,
    name             TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    size             BIGINT NOT NULL,
    sha256           TEXT NOT NULL,
    blob_key         TEXT NOT NULL,
    uploaded_by      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX rectification_files_order ON rectification_files(rectification_id, id);
