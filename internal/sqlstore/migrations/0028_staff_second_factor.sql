-- Staff accounts (N-20 strong authentication, N-7 the doctor's identity
-- checked before a session of visits; issue 17).
--
-- A staff account's TOTP second factor (RFC 6238): the secret sealed with
-- SM4-GCM under a key derived from the operator's master key (--keys), or
-- marked as stored plain when the server runs without one; a secret being
-- enrolled waits in pending until a code from it confirms it. last_step is
-- the last time step whose code was accepted (a code is good once);
-- failures and wait_until slow guessing down.
CREATE TABLE totp_factors (
    account_id   BIGINT PRIMARY KEY REFERENCES accounts(id),
    secret       {{blob}},
    pending      {{blob}},
    pending_at   BIGINT NOT NULL DEFAULT 0,
    confirmed_at BIGINT NOT NULL DEFAULT 0,
    last_step    BIGINT NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    wait_until   BIGINT NOT NULL DEFAULT 0
);

-- Recovery codes: only their hashes, each good once.
CREATE TABLE recovery_codes (
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    code_hash  {{blob}} NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, code_hash)
);

-- The second step of a browser login: the password was right, the code is
-- asked for. Only the hash of the challenge's token is kept; a challenge
-- takes a few attempts and lives a few minutes.
CREATE TABLE login_challenges (
    token_hash {{blob}} PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    kind       TEXT NOT NULL,
    ip         TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);

-- N-7: a session whose doctor confirmed their identity with the second
-- factor, until when.
CREATE TABLE session_confirmations (
    token_hash   {{blob}} PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    confirmed_at BIGINT NOT NULL,
    valid_until  BIGINT NOT NULL
);

-- Session settings as data: the platform's row (institution '') and an
-- institution's own (0 takes the platform's value). Staff sessions end
-- after staff_idle_minutes without a request, patients' after
-- patient_idle_minutes; a doctor's identity confirmation (N-7) lasts
-- confirmation_minutes.
CREATE TABLE security_settings (
    institution          TEXT PRIMARY KEY,
    staff_idle_minutes   INTEGER NOT NULL DEFAULT 0,
    patient_idle_minutes INTEGER NOT NULL DEFAULT 0,
    confirmation_minutes INTEGER NOT NULL DEFAULT 0,
    updated_at           BIGINT NOT NULL DEFAULT 0,
    updated_by           BIGINT NOT NULL DEFAULT 0
);
INSERT INTO security_settings (institution, staff_idle_minutes, patient_idle_minutes, confirmation_minutes) VALUES ('', 30, 120, 240);
