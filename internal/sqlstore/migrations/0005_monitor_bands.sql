-- Locality-sensitive index of item fingerprints (see 0006 for the bands: the
-- 64-bit SimHash is split so that fingerprints at most 3 bits apart share
-- a band, and near-duplicate candidates are found by index).
CREATE TABLE monitor_bands (
    item_id BIGINT NOT NULL,
    band    INTEGER NOT NULL,
    value   INTEGER NOT NULL,
    PRIMARY KEY (band, value, item_id)
);
