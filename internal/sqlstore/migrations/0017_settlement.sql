-- Insurance settled when the drugs arrive (M-2, H-XW): whether an
-- institution does so (data), and each order's settlement with the bureau.
ALTER TABLE delivery_settings ADD COLUMN insurance_at_delivery BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE delivery_orders ADD COLUMN settle TEXT NOT NULL DEFAULT '';
ALTER TABLE delivery_orders ADD COLUMN settle_state TEXT NOT NULL DEFAULT '';
ALTER TABLE delivery_orders ADD COLUMN settle_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE delivery_orders ADD COLUMN setl_id TEXT NOT NULL DEFAULT '';
ALTER TABLE delivery_orders ADD COLUMN fund_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE delivery_orders ADD COLUMN account_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE delivery_orders ADD COLUMN cash_fen BIGINT NOT NULL DEFAULT 0;
