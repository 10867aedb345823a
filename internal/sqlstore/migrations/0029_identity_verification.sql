-- Identity that cannot be squatted (N-5, issue 15): phones proved by SMS
-- codes, names and resident IDs by the identity check, and claims of an ID
-- that another profile held.

-- SMS codes: only a salted HMAC of each code (hex). Sending is limited per
-- phone (counted here) and per client address; a code is spent once.
CREATE TABLE sms_codes (
    id         {{id}},
    phone      TEXT NOT NULL,
    purpose    TEXT NOT NULL CHECK (purpose IN ('register','add_child')),
    salt       TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    ip         TEXT NOT NULL DEFAULT '',
    account_id BIGINT NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sms_codes_phone ON sms_codes (phone, created_at);

-- An account's phone as proved by a code (an account made before codes
-- has none, and proves its phone when it next adds a child).
CREATE TABLE phone_verifications (
    account_id  BIGINT PRIMARY KEY REFERENCES accounts(id),
    phone       TEXT NOT NULL,
    verified_at BIGINT NOT NULL
);

-- verified_at: when the identity check matched the profile's name and ID
-- (0: made before the check). frozen_at: when a verified person claimed
-- the profile's ID (its resident_id is then 'frozen:<id>'; the claim keeps
-- the ID).
ALTER TABLE patients ADD COLUMN verified_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE patients ADD COLUMN frozen_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE identity_claims (
    id               {{id}},
    resident_id      TEXT NOT NULL,
    frozen_patient   BIGINT NOT NULL REFERENCES patients(id),
    frozen_verified  BOOLEAN NOT NULL,
    new_patient      BIGINT NOT NULL REFERENCES patients(id),
    claimant_account BIGINT NOT NULL REFERENCES accounts(id),
    created_at       BIGINT NOT NULL
);
CREATE INDEX identity_claims_resident ON identity_claims (resident_id, created_at);

-- The population register of the sandbox identity check
-- (identity.SandboxIDCheck): who holds which resident ID. The real check
-- keeps nothing here.
CREATE TABLE idcheck_sandbox_persons (
    resident_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
