-- How far an institution lets its doctors see its bookings beyond their
-- own work (issue 15, N-19, PIPL's minimum necessary): without a row a
-- doctor sees the sessions they hold; a row widens it for the institution
-- (department '') or for one department (which replaces the institution's
-- row there). Every change and every read through a widening is audited.
CREATE TABLE doctor_reach (
    institution TEXT NOT NULL,
    department  TEXT NOT NULL DEFAULT '',
    reach       TEXT NOT NULL CHECK (reach IN ('own', 'department', 'institution')),
    updated_at  BIGINT NOT NULL DEFAULT 0,
    updated_by  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (institution, department)
);
