-- Referrals between institutions (N-24, W-5: tiered care, 分级诊疗) and
-- consents to share records (W-4; issue 16). A referral is written by a
-- visit's doctor to another institution's department, up (for a
-- specialist) or down (to primary care); the receiving institution accepts
-- or declines it, and an accepted one is a booking fact there
-- (referred_in, days_since_referral) that rules may use.
CREATE TABLE referrals (
    id               {{id}},
    visit_id         BIGINT NOT NULL REFERENCES appointments(id),
    patient_id       BIGINT NOT NULL REFERENCES patients(id),
    from_institution TEXT NOT NULL REFERENCES institutions(code),
    from_department  TEXT NOT NULL,
    from_account     BIGINT NOT NULL REFERENCES accounts(id),
    to_institution   TEXT NOT NULL REFERENCES institutions(code),
    to_department    TEXT NOT NULL,
    direction        TEXT NOT NULL,             -- up | down | peer
    urgency          TEXT NOT NULL,             -- routine | urgent | emergency
    reason           TEXT NOT NULL,
    summary          TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,             -- created | accepted | declined | cancelled
    decided_by       BIGINT NOT NULL DEFAULT 0, -- the account that accepted, declined or cancelled
    decided_at       BIGINT NOT NULL DEFAULT 0,
    note             TEXT NOT NULL DEFAULT '',  -- the decision's words
    created_at       BIGINT NOT NULL
);
CREATE INDEX referrals_to ON referrals(to_institution, state, created_at);
CREATE INDEX referrals_from ON referrals(from_institution, created_at);
CREATE INDEX referrals_patient ON referrals(patient_id, to_institution, to_department, state);
CREATE INDEX referrals_visit ON referrals(visit_id);

-- A patient's (or guardian's) consent that an institution's doctors read
-- the patient's records of another institution (source '' : of every
-- institution), from one day to another (valid_to '' : no end); revocable,
-- a revoked consent stays as the record of what was allowed. Published as
-- FHIR Consent.
CREATE TABLE record_consents (
    id          {{id}},
    patient_id  BIGINT NOT NULL REFERENCES patients(id),
    grantee     TEXT NOT NULL REFERENCES institutions(code),
    source      TEXT NOT NULL DEFAULT '',
    valid_from  TEXT NOT NULL,
    valid_to    TEXT NOT NULL DEFAULT '',
    granted_by  BIGINT NOT NULL REFERENCES accounts(id),
    created_at  BIGINT NOT NULL,
    revoked_by  BIGINT NOT NULL DEFAULT 0,
    revoked_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX record_consents_patient ON record_consents(patient_id, grantee);
