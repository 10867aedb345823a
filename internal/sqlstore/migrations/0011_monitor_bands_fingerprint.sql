-- Repost candidates are decided from the bands alone: each band row carries
-- its item's fingerprint, so the distance is computed without reading the
-- item (whose body spans pages). An item's bands are found by item (a
-- changed item replaces them). The bands are rebuilt from the items'
-- fingerprints, which also brings back the items 0006 left out.
DROP TABLE monitor_bands;
CREATE TABLE monitor_bands (
    band        INTEGER NOT NULL,
    value       INTEGER NOT NULL,
    item_id     BIGINT NOT NULL,
    fingerprint BIGINT NOT NULL,
    PRIMARY KEY (band, value, item_id)
){{without_rowid}};
CREATE INDEX monitor_bands_item ON monitor_bands(item_id);
INSERT INTO monitor_bands (band, value, item_id, fingerprint)
    SELECT 0, fingerprint & 65535, id, fingerprint FROM monitor_items
    UNION ALL SELECT 1, (fingerprint >> 16) & 65535, id, fingerprint FROM monitor_items
    UNION ALL SELECT 2, (fingerprint >> 32) & 65535, id, fingerprint FROM monitor_items
    UNION ALL SELECT 3, (fingerprint >> 48) & 65535, id, fingerprint FROM monitor_items;
-- PostgreSQL keeps article bodies out of line without compressing them:
-- compressing a 9 KB body cost more than storing the rest of the item, and
-- a body is read whole or not at all.
-- postgres: ALTER TABLE monitor_items ALTER COLUMN body SET STORAGE EXTERNAL;
