-- The supervision feed (issue 13; N-16, N-22): each institution's outbox
-- of supervision events, written in the transaction of the change each
-- reports, the reporter's cursors, and the platform's receiving side (the
-- institutions' registered keys and the events received).

-- The feed's settings, as data: the reporter's timings and the secret
-- under which patients' ids become pseudonymous keys (made here, at
-- random, and never sent).
CREATE TABLE supervision_settings (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    interval_ms    BIGINT NOT NULL,
    backoff_min_ms BIGINT NOT NULL,
    backoff_max_ms BIGINT NOT NULL,
    batch_size     INTEGER NOT NULL,
    parallel       INTEGER NOT NULL,
    lease_ms       BIGINT NOT NULL,
    patient_secret {{blob}} NOT NULL
);
INSERT INTO supervision_settings (id, interval_ms, backoff_min_ms, backoff_max_ms, batch_size, parallel, lease_ms, patient_secret)
    VALUES (1, 5000, 1000, 300000, 500, 4, 60000, {{random32}});

-- --- The sending side ---

-- The last event number written per institution: taken by an upsert in
-- the transaction of the change (UPDATE … RETURNING: numbers without gaps,
-- in commit order).
CREATE TABLE supervision_heads (
    institution TEXT PRIMARY KEY,
    last_seq    BIGINT NOT NULL
);

-- The outbox: each event's canonical JSON (what is sent, signed, as is).
CREATE TABLE supervision_outbox (
    institution TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (institution, seq)
){{without_rowid}};

-- The reporter's progress per institution: what the platform
-- acknowledged, the failures since, when to try again, and which server
-- holds it now (a claim until lease_until).
CREATE TABLE supervision_cursors (
    institution     TEXT PRIMARY KEY,
    acked_seq       BIGINT NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    last_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_ack_at     BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     BIGINT NOT NULL DEFAULT 0
);

-- Each institution's SM2 key pair that signs its batches, the private key
-- sealed under the operator's master key (--keys).
CREATE TABLE supervision_keys (
    institution TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    sealed      {{blob}} NOT NULL,
    created_at  BIGINT NOT NULL
);

-- --- The platform's side ---

-- Institutions whose batches the platform takes, with the public key
-- their batches are signed with (registered by the regulator).
CREATE TABLE supervision_sources (
    institution TEXT PRIMARY KEY REFERENCES institutions(code),
    public_key  TEXT NOT NULL,
    by_account  BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL
);

-- What the platform has of each institution's feed: the last number
-- received (a gap-free prefix), the institution's head as its last batch
-- said, counts, and the last refusal.
CREATE TABLE supervision_received (
    institution      TEXT PRIMARY KEY,
    last_seq         BIGINT NOT NULL DEFAULT 0,
    head_seq         BIGINT NOT NULL DEFAULT 0,
    events           BIGINT NOT NULL DEFAULT 0,
    duplicates       BIGINT NOT NULL DEFAULT 0,
    batches          BIGINT NOT NULL DEFAULT 0,
    last_received_at BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    last_error_at    BIGINT NOT NULL DEFAULT 0
);

-- The events received, each once (by number and by id). day is the
-- Beijing date it happened on (the dashboards count by it).
CREATE TABLE supervision_events (
    institution TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    department  TEXT NOT NULL DEFAULT '',
    day         TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (institution, seq)
){{without_rowid}};
CREATE UNIQUE INDEX supervision_events_id ON supervision_events (id);
CREATE INDEX supervision_events_day ON supervision_events (day, institution, kind);
