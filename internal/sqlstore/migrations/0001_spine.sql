-- Yunyi schema, part 1: accounts, patients, sessions, directory, audit.
-- Portable SQL for SQLite and PostgreSQL; {{id}} and {{blob}} are replaced
-- per engine. Instants are Unix microseconds (BIGINT); civil dates are TEXT
-- YYYY-MM-DD; money is BIGINT fen.

CREATE TABLE institutions (
    code          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    name_en       TEXT NOT NULL DEFAULT '',
    alias         TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','approved','suspended')),
    approved_on   TEXT NOT NULL DEFAULT '',
    status_note   TEXT NOT NULL DEFAULT '',
    online_since  TEXT NOT NULL DEFAULT '',
    channel       TEXT NOT NULL DEFAULT '',
    pilot         BOOLEAN NOT NULL DEFAULT FALSE,
    insurance     BOOLEAN NOT NULL DEFAULT FALSE,
    delivery      TEXT NOT NULL DEFAULT '',
    delivery_area TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE departments (
    institution TEXT NOT NULL REFERENCES institutions(code),
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    name_en     TEXT NOT NULL DEFAULT '',
    online      BOOLEAN NOT NULL DEFAULT TRUE,
    position    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (institution, code)
);

CREATE TABLE specialties (
    institution TEXT NOT NULL,
    department  TEXT NOT NULL,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    name_en     TEXT NOT NULL DEFAULT '',
    pilot       BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (institution, code),
    FOREIGN KEY (institution, department) REFERENCES departments(institution, code)
);

CREATE TABLE services (
    code        TEXT PRIMARY KEY,
    institution TEXT NOT NULL,
    department  TEXT NOT NULL,
    name        TEXT NOT NULL,
    name_en     TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL CHECK (kind IN ('follow_up','first_visit')),
    specialty   TEXT NOT NULL DEFAULT '',
    price_fen   BIGINT NOT NULL DEFAULT 0,
    days        TEXT NOT NULL DEFAULT '1,2,3,4,5,6,7',
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    position    INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (institution, department) REFERENCES departments(institution, code)
);
CREATE INDEX services_dept ON services(institution, department);

CREATE TABLE accounts (
    id            {{id}},
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    institution   TEXT REFERENCES institutions(code),
    phone         TEXT NOT NULL DEFAULT '',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE patients (
    id          {{id}},
    name        TEXT NOT NULL,
    resident_id TEXT NOT NULL UNIQUE,
    birth_date  TEXT NOT NULL,
    sex         TEXT NOT NULL,
    phone       TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE account_patients (
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    relation   TEXT NOT NULL CHECK (relation IN ('self','child')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, patient_id)
);
CREATE INDEX account_patients_patient ON account_patients(patient_id);
-- A person has one own account (N-5).
CREATE UNIQUE INDEX account_patients_self ON account_patients(patient_id) WHERE relation = 'self';

CREATE TABLE sessions (
    token_hash  {{blob}} PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    kind        TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    idle_expiry BIGINT NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE,
    ip          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE practitioners (
    id                 {{id}},
    institution        TEXT NOT NULL REFERENCES institutions(code),
    department         TEXT NOT NULL DEFAULT '',
    account_id         BIGINT REFERENCES accounts(id),
    name               TEXT NOT NULL,
    profession         TEXT NOT NULL CHECK (profession IN ('doctor','pharmacist')),
    title              TEXT NOT NULL,
    licence_no         TEXT NOT NULL,
    practice_since     TEXT NOT NULL DEFAULT '',
    internet_since     TEXT NOT NULL DEFAULT '',
    training_passed_on TEXT NOT NULL DEFAULT '',
    bio                TEXT NOT NULL DEFAULT ''
);
CREATE INDEX practitioners_inst ON practitioners(institution, department);
CREATE UNIQUE INDEX practitioners_licence ON practitioners(institution, licence_no);

CREATE TABLE practitioner_suspensions (
    id              {{id}},
    practitioner_id BIGINT NOT NULL REFERENCES practitioners(id),
    scope           TEXT NOT NULL CHECK (scope IN ('first_visit','all')),
    reason          TEXT NOT NULL,
    since           BIGINT NOT NULL,
    lifted_at       BIGINT NOT NULL DEFAULT 0,
    by_account      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX practitioner_suspensions_p ON practitioner_suspensions(practitioner_id);

CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    BIGINT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    institution TEXT NOT NULL,
    ip          TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   {{blob}} NOT NULL,
    hash        {{blob}} NOT NULL
);
CREATE INDEX audit_log_object ON audit_log(object_type, object_id);
CREATE INDEX audit_log_inst ON audit_log(institution, seq);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash {{blob}} NOT NULL
);
