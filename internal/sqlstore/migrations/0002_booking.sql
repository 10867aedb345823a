-- Yunyi schema, part 2: hospital rules as data, offline history, schedules,
-- slots, appointments and the in-app inbox.

-- Booking window and release of a service (S-2).
ALTER TABLE services ADD COLUMN book_min_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN book_max_days INTEGER NOT NULL DEFAULT 7;
ALTER TABLE services ADD COLUMN release_time TEXT NOT NULL DEFAULT '00:00';
ALTER TABLE services ADD COLUMN opens_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN cancel_cutoff_minutes INTEGER NOT NULL DEFAULT 120;

-- Eligibility rules: a CEL expression over the booking facts that must be
-- true. Scope: platform ('' institution), institution, department or service;
-- a narrower rule with the same code replaces a wider one.
CREATE TABLE policy_rules (
    id          {{id}},
    institution TEXT NOT NULL DEFAULT '',
    department  TEXT NOT NULL DEFAULT '',
    service     TEXT NOT NULL DEFAULT '',
    code        TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    message_zh  TEXT NOT NULL,
    message_en  TEXT NOT NULL,
    expr        TEXT NOT NULL,
    position    INTEGER NOT NULL DEFAULT 0,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at  BIGINT NOT NULL,
    UNIQUE (institution, department, service, code)
);

-- Offline visits imported from the hospitals (S-3, N-2), matched to
-- patients by resident ID.
CREATE TABLE visit_history (
    id             {{id}},
    institution    TEXT NOT NULL REFERENCES institutions(code),
    department     TEXT NOT NULL,
    resident_id    TEXT NOT NULL,
    visit_date     TEXT NOT NULL,
    diagnosis_code TEXT NOT NULL DEFAULT '',
    diagnosis_name TEXT NOT NULL DEFAULT '',
    definite       BOOLEAN NOT NULL DEFAULT FALSE,
    source         TEXT NOT NULL DEFAULT '',
    external_id    TEXT NOT NULL,
    imported_at    BIGINT NOT NULL,
    UNIQUE (institution, external_id)
);
CREATE INDEX visit_history_lookup ON visit_history(resident_id, institution, department, visit_date);

CREATE TABLE history_imports (
    id          {{id}},
    institution TEXT NOT NULL,
    format      TEXT NOT NULL,
    status      TEXT NOT NULL,
    total       INTEGER NOT NULL DEFAULT 0,
    processed   INTEGER NOT NULL DEFAULT 0,
    imported    INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    errors      TEXT NOT NULL DEFAULT '[]',
    by_account  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL DEFAULT 0
);

-- A doctor's weekly session for a service.
CREATE TABLE schedules (
    id              {{id}},
    service         TEXT NOT NULL REFERENCES services(code),
    practitioner_id BIGINT NOT NULL REFERENCES practitioners(id),
    weekday         INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_time      TEXT NOT NULL,
    capacity        INTEGER NOT NULL CHECK (capacity > 0),
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (service, practitioner_id, weekday, start_time)
);

CREATE TABLE slots (
    id              {{id}},
    service         TEXT NOT NULL REFERENCES services(code),
    institution     TEXT NOT NULL,
    department      TEXT NOT NULL,
    practitioner_id BIGINT NOT NULL REFERENCES practitioners(id),
    kind            TEXT NOT NULL,
    day             TEXT NOT NULL,
    starts_at       BIGINT NOT NULL,
    capacity        INTEGER NOT NULL,
    booked          INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'open',
    UNIQUE (service, practitioner_id, starts_at),
    CHECK (booked >= 0 AND booked <= capacity)
);
CREATE INDEX slots_service_day ON slots(service, day);
CREATE INDEX slots_inst_day ON slots(institution, department, day);
CREATE INDEX slots_practitioner ON slots(practitioner_id, day);

CREATE TABLE appointments (
    id            {{id}},
    slot_id       BIGINT NOT NULL REFERENCES slots(id),
    patient_id    BIGINT NOT NULL REFERENCES patients(id),
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    service       TEXT NOT NULL,
    institution   TEXT NOT NULL,
    department    TEXT NOT NULL,
    day           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    answers       TEXT NOT NULL DEFAULT '{}',
    idem_key      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    cancelled_at  BIGINT NOT NULL DEFAULT 0,
    cancel_reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX appointments_idem ON appointments(account_id, idem_key);
-- One active booking per patient per department per day.
CREATE UNIQUE INDEX appointments_one_a_day ON appointments(patient_id, institution, department, day) WHERE status = 'booked';
CREATE INDEX appointments_slot ON appointments(slot_id);
CREATE INDEX appointments_patient ON appointments(patient_id, day);

CREATE TABLE notifications (
    id         {{id}},
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    title_en   TEXT NOT NULL DEFAULT '',
    body_en    TEXT NOT NULL DEFAULT '',
    ref        TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    read_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notifications_account ON notifications(account_id, id);
