-- Guests in a visit's call (issue 14): a second parent, an interpreter or
-- the child's community doctor, invited by the guardian or the doctor
-- with a one-time link sent by SMS. Only the hashes of the link's token
-- and of the guest session's token are kept. A guest is bound to one
-- visit; the doctor may remove them, and may record (N-4) that a guest
-- clinician is with the child.
CREATE TABLE visit_guests (
    id           {{id}},
    visit_id     BIGINT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('guardian','interpreter','clinician')),
    phone        TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    licence_no   TEXT NOT NULL DEFAULT '',
    invited_by   BIGINT NOT NULL,
    link_hash    {{blob}} NOT NULL UNIQUE,
    session_hash {{blob}} UNIQUE,
    csrf         TEXT NOT NULL DEFAULT '',
    expires_at   BIGINT NOT NULL,
    joined_at    BIGINT NOT NULL DEFAULT 0,
    left_at      BIGINT NOT NULL DEFAULT 0,
    removed_at   BIGINT NOT NULL DEFAULT 0,
    removed_by   BIGINT NOT NULL DEFAULT 0,
    present_at   BIGINT NOT NULL DEFAULT 0,
    present_by   BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);
CREATE INDEX visit_guests_visit ON visit_guests (visit_id, id);
