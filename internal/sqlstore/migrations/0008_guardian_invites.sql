-- Invitations for a second guardian of a child (N-5: one person, one
-- patient; the guardians share it). Only the code's hash is kept.
CREATE TABLE guardian_invites (
    code_hash  {{blob}} PRIMARY KEY,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    created_by BIGINT NOT NULL REFERENCES accounts(id),
    expires_at BIGINT NOT NULL,
    used_by    BIGINT NOT NULL DEFAULT 0,
    used_at    BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
