-- invois schema for PostgreSQL, version 7 (as SQLite's 007_delivery_data.sql): each webhook
-- delivery keeps the resource's view rendered in the write's transaction (JSON text, the
-- body's `data`); NULL for deliveries made before this version. Same conventions as
-- 003_initial.sql: COLLATE "C" text; re-runnable.

ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS data TEXT COLLATE "C";
