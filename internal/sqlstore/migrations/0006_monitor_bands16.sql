-- Fingerprint bands are now four of 16 bits (near-duplicates within 3 bits
-- share one); the earlier eight 8-bit bands are dropped. Items stored before
-- this migration are no longer found as repost candidates.
DELETE FROM monitor_bands;
