-- Chat messages are numbered by the database (a counter per visit, taken in
-- the writing transaction), so that several servers can carry one visit's
-- conversation; a resend with the same client id is found by index.
ALTER TABLE visits ADD COLUMN chat_seq BIGINT NOT NULL DEFAULT 0;
UPDATE visits SET chat_seq = COALESCE((SELECT MAX(m.seq) FROM messages m WHERE m.visit_id = visits.appointment_id), 0);
-- A resend stored twice before this (possible across a restart) keeps its
-- text; only the later copy loses the client id the index is unique on.
UPDATE messages SET client_id = '' WHERE client_id <> '' AND EXISTS (SELECT 1 FROM messages m2
    WHERE m2.visit_id = messages.visit_id AND m2.sender_id = messages.sender_id AND m2.client_id = messages.client_id AND m2.seq < messages.seq);
CREATE UNIQUE INDEX messages_client ON messages(visit_id, sender_id, client_id) WHERE client_id <> '';
