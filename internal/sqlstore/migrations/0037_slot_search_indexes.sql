-- FHIR searches of Slot by date (issue 16, `yunyi bench fhir`): a day's
-- free places of every service scanned the whole table (SQLite: SCAN s,
-- 170 ms a search at 20,000 slots), and a service's week read every slot
-- of the service through the unique (service, practitioner_id, starts_at)
-- index, then sorted them by start. Slots are never moved in time, so
-- these indexes cost the booking's slot updates nothing.
CREATE INDEX slots_starts ON slots(starts_at);
CREATE INDEX slots_service_starts ON slots(service, starts_at);
