-- The visit day as a family lives it: a patient who is not there when the
-- doctor calls is called once more after the next one, then marked no-show
-- (visit.CallsBeforeNoShow calls in all).
--
-- calls is how many calls the patient missed; line_after, once a call was
-- missed, the line place the visit now waits in: right behind the visit
-- whose place that is (0: its own number's place); skipped_at orders the
-- visits waiting behind the same one, first skipped first. A session's
-- line is ordered by (line_after or number, skipped_at, number).
ALTER TABLE visits ADD COLUMN calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visits ADD COLUMN line_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visits ADD COLUMN skipped_at BIGINT NOT NULL DEFAULT 0;
