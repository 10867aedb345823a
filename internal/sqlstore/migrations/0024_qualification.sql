-- The regulator's side (issue 13): qualification applications with their
-- documents (G-1, S-1), the approval's term and its yearly re-validation
-- (N-23), first-visit pilot designations as data with dates (G-2, S-5),
-- and practitioners' photos for the public directory (N-8, N-21).

-- The last day the approval is valid ('' for approvals recorded before
-- terms were kept), and the valid_until whose re-validation reminder was
-- sent (the compare-and-set that sends it once, whichever server runs the
-- loop).
ALTER TABLE institutions ADD COLUMN valid_until TEXT NOT NULL DEFAULT '';
ALTER TABLE institutions ADD COLUMN reminded_for TEXT NOT NULL DEFAULT '';

-- An institution's application for internet-diagnosis qualification, or
-- its yearly re-validation: the departments, services and doctors it will
-- open (JSON arrays of codes and ids), its statement, and the regulator's
-- decision with reasons and the term it granted. At most one application
-- of an institution waits for a decision.
CREATE TABLE qualification_applications (
    id            {{id}},
    institution   TEXT NOT NULL REFERENCES institutions(code),
    kind          TEXT NOT NULL CHECK (kind IN ('qualification','revalidation')),
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','approved','refused')),
    departments   TEXT NOT NULL DEFAULT '[]',
    services      TEXT NOT NULL DEFAULT '[]',
    practitioners TEXT NOT NULL DEFAULT '[]',
    note          TEXT NOT NULL DEFAULT '',
    submitted_by  BIGINT NOT NULL,
    submitted_at  BIGINT NOT NULL,
    decided_by    BIGINT NOT NULL DEFAULT 0,
    decided_at    BIGINT NOT NULL DEFAULT 0,
    reasons       TEXT NOT NULL DEFAULT '',
    valid_from    TEXT NOT NULL DEFAULT '',
    valid_until   TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX qualification_applications_pending ON qualification_applications(institution) WHERE status = 'pending';
CREATE INDEX qualification_applications_status ON qualification_applications(status, submitted_at);

-- The files of an application (licences, inspection reports), kept in the
-- blob store; their type judged from their content.
CREATE TABLE qualification_documents (
    id             {{id}},
    application_id BIGINT NOT NULL REFERENCES qualification_applications(id),
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    blob_key       TEXT NOT NULL,
    uploaded_by    BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX qualification_documents_application ON qualification_documents(application_id, id);

-- First-visit pilot designations: one per institution and specialty, from
-- its first day to its last ('' open-ended).
CREATE TABLE pilot_designations (
    institution TEXT NOT NULL,
    specialty   TEXT NOT NULL,
    from_day    TEXT NOT NULL,
    to_day      TEXT NOT NULL DEFAULT '',
    by_account  BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (institution, specialty),
    FOREIGN KEY (institution, specialty) REFERENCES specialties(institution, code)
);

-- The pilot flags become designations without dates (what they meant: a
-- pilot specialty of a pilot institution, with no limit), and go.
INSERT INTO pilot_designations (institution, specialty, from_day, to_day, by_account, updated_at)
    SELECT s.institution, s.code, '', '', 0, i.updated_at FROM specialties s JOIN institutions i ON i.code = s.institution
    WHERE s.pilot AND i.pilot;
ALTER TABLE specialties DROP COLUMN pilot;
ALTER TABLE institutions DROP COLUMN pilot;

-- A practitioner's photo (N-8): its blob and type; '' for none.
ALTER TABLE practitioners ADD COLUMN photo_key TEXT NOT NULL DEFAULT '';
ALTER TABLE practitioners ADD COLUMN photo_type TEXT NOT NULL DEFAULT '';
