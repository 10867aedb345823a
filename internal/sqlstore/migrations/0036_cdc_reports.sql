-- Reports of notifiable infectious diseases to disease control (疾控, W-5;
-- issue 16). The list is data the regulator edits: ICD-10 codes of the
-- shipped list (a code also matches its subcodes: A38 matches A38.x).
CREATE TABLE notifiable_diseases (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    name_en    TEXT NOT NULL DEFAULT '',
    class      TEXT NOT NULL DEFAULT '',   -- 甲类 / 乙类 / 丙类 (A, B, C)
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    updated_by BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL DEFAULT 0
);
-- Diseases of the Law on the Prevention and Control of Infectious Diseases
-- whose codes the shipped ICD-10 list has.
INSERT INTO notifiable_diseases (code, name, name_en, class) VALUES
    ('B05', '麻疹', 'Measles', 'B'),
    ('A38', '猩红热', 'Scarlet fever', 'B'),
    ('B08.4', '手足口病', 'Hand, foot and mouth disease', 'C'),
    ('J11', '流行性感冒', 'Influenza', 'C'),
    ('A09', '其他感染性腹泻病', 'Other infectious diarrhoea', 'C'),
    ('A08.0', '其他感染性腹泻病（轮状病毒）', 'Other infectious diarrhoea (rotavirus)', 'C');

-- The outbox: one report per visit and diagnosis, written in the
-- transaction that signs the record (or its amendment); the sender posts
-- it until the receiver takes it (sent_at), backing off between tries.
CREATE TABLE cdc_outbox (
    id           {{id}},
    visit_id     BIGINT NOT NULL REFERENCES appointments(id),
    code         TEXT NOT NULL,             -- the diagnosis' ICD-10 code
    disease      TEXT NOT NULL,             -- the notifiable list's code it matched
    institution  TEXT NOT NULL,
    body         TEXT NOT NULL DEFAULT '',  -- the FHIR message Bundle last sent (JSON)
    created_at   BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    sent_at      BIGINT NOT NULL DEFAULT 0,
    UNIQUE (visit_id, code)
);
CREATE INDEX cdc_outbox_due ON cdc_outbox(sent_at, next_at);

-- The sandbox receiver's inbox (a stand-in for disease control's system):
-- one row per message id, however often it arrives.
CREATE TABLE cdc_sandbox_received (
    message_id  TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    deliveries  INTEGER NOT NULL DEFAULT 1,
    received_at BIGINT NOT NULL
);
