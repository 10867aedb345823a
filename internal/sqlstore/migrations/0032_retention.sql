-- Retention of records (N-17, issue 17): a period per record type, as
-- data, seeded with the rules' numbers. The legal minimum and which types
-- may be purged are the rules' (retention.Policy.Validate); the checks
-- below hold them against a direct edit of the table too. A visit record
-- (门诊电子病历) is kept at least 15 years, the chat and the call's records
-- at least 3 (N-17); the audit log at least as long as the records it
-- traces (N-16), and never purged: its hash chain starts at the first entry.
CREATE TABLE retention_policies (
    type       TEXT PRIMARY KEY CHECK (type IN ('visit_record', 'chat', 'call', 'audit')),
    years      INTEGER NOT NULL CHECK (years <= 100),
    purge      BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL DEFAULT 0,
    updated_by BIGINT NOT NULL DEFAULT 0,
    CHECK (years >= CASE WHEN type IN ('chat', 'call') THEN 3 ELSE 15 END),
    CHECK (purge = FALSE OR type IN ('chat', 'call'))
);
INSERT INTO retention_policies (type, years, purge) VALUES
    ('visit_record', 15, FALSE),
    ('chat', 3, TRUE),
    ('call', 3, TRUE),
    ('audit', 15, FALSE);

-- The purge's runs inside `yunyi serve`: the counts are written with each
-- batch, so a run a crash stopped is taken up by the next (its owner made
-- no progress for a while) and audited once with all it removed. One run
-- is open at a time (servers sharing a database take turns).
CREATE TABLE retention_runs (
    id            {{id}},
    owner         TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT NOT NULL DEFAULT 0,
    chat_messages BIGINT NOT NULL DEFAULT 0,
    chat_files    BIGINT NOT NULL DEFAULT 0,
    call_guests   BIGINT NOT NULL DEFAULT 0,
    cutoffs       TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX retention_runs_open ON retention_runs (finished_at) WHERE finished_at = 0;

-- The purge finds what has expired by the time it was made.
CREATE INDEX messages_created ON messages (created_at);
CREATE INDEX attachments_chat_created ON attachments (created_at) WHERE purpose = 'chat';
CREATE INDEX visit_guests_created ON visit_guests (created_at);
