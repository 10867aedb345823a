-- Locality-sensitive index of item fingerprints: the eight bytes of the
-- 64-bit SimHash. Fingerprints at most 3 bits apart share at least five
-- of the eight bytes, so near-duplicate candidates are found by index.
CREATE TABLE monitor_bands (
    item_id BIGINT NOT NULL,
    band    INTEGER NOT NULL,
    value   INTEGER NOT NULL,
    PRIMARY KEY (band, value, item_id)
);
