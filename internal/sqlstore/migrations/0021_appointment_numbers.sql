-- A number and an estimated time for every booking (分时段预约, issue 14).
-- A slot is one doctor's session; each booking takes a number in it, and
-- its estimated time is the session's start + (number - 1) × the
-- service's visit length (data), moved by how late the doctor runs.
--
-- Numbers never collide and stay within the session: a number given back
-- (a cancellation, an expired hold) goes to the next booking of that
-- session, lowest first. next_no is the highest number handed out,
-- free_nos how many of those are free again, taken_no the number the last
-- take handed out (0: the next booking looks for the lowest free one).
ALTER TABLE slots ADD COLUMN next_no INTEGER NOT NULL DEFAULT 0;
ALTER TABLE slots ADD COLUMN free_nos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE slots ADD COLUMN taken_no INTEGER NOT NULL DEFAULT 0;
-- How late the doctor runs in this session (microseconds), from the last
-- call: the estimated times of those still waiting move by it.
ALTER TABLE slots ADD COLUMN delay_us BIGINT NOT NULL DEFAULT 0;

ALTER TABLE appointments ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
-- When the family was told that their time moved (once).
ALTER TABLE appointments ADD COLUMN late_noticed BIGINT NOT NULL DEFAULT 0;

ALTER TABLE services ADD COLUMN visit_minutes INTEGER NOT NULL DEFAULT 10;
ALTER TABLE services ADD COLUMN late_notice_minutes INTEGER NOT NULL DEFAULT 15;

-- The bookings made before: numbered in the order they were made.
UPDATE appointments SET number = (SELECT COUNT(*) FROM appointments b WHERE b.slot_id = appointments.slot_id
    AND b.status IN ('booked', 'held') AND b.id <= appointments.id) WHERE status IN ('booked', 'held');
UPDATE slots SET next_no = (SELECT COUNT(*) FROM appointments a WHERE a.slot_id = slots.id AND a.status IN ('booked', 'held'));

CREATE UNIQUE INDEX appointments_number ON appointments(slot_id, number) WHERE status IN ('booked', 'held') AND number > 0;
