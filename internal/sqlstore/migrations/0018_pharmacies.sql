-- Retail pharmacies (R-3, H-BCH): organisations of their own that an
-- institution lists for its patients to pick. Each has staff accounts
-- (role retail_pharmacist) that see only the orders sent to it, and it
-- delivers from its shop to the areas it serves.
CREATE TABLE pharmacies (
    code         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    name_en      TEXT NOT NULL DEFAULT '',
    licence_no   TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL DEFAULT '',
    address      TEXT NOT NULL DEFAULT '{}',
    regions      TEXT NOT NULL DEFAULT '',
    regions_text TEXT NOT NULL DEFAULT '',
    hours        TEXT NOT NULL DEFAULT '',
    active       BOOLEAN NOT NULL DEFAULT TRUE
);

-- The pharmacies an institution offers, in the order its patients see them.
CREATE TABLE institution_pharmacies (
    institution TEXT NOT NULL REFERENCES institutions(code),
    pharmacy    TEXT NOT NULL REFERENCES pharmacies(code),
    position    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (institution, pharmacy)
);

ALTER TABLE accounts ADD COLUMN pharmacy TEXT REFERENCES pharmacies(code);

-- An order sent to a retail pharmacy: its queue is by pharmacy.
ALTER TABLE delivery_orders ADD COLUMN pharmacy TEXT NOT NULL DEFAULT '';
CREATE INDEX delivery_orders_pharmacy ON delivery_orders(pharmacy, status, paid_at);
