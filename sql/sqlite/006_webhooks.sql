-- invois schema, version 6: webhooks (issue 14, Standard Webhooks). Version 5 is the metadata
-- migration (externalId, metadata), merged from its own branch.
--
-- An endpoint, and an outbox of deliveries written in the same transaction as the write and
-- its audit event (storage/events.rs): a write that is acknowledged has its deliveries
-- committed with it, whatever happens to the process afterwards.

CREATE TABLE webhooks (
    id                    TEXT PRIMARY KEY NOT NULL,  -- wh-…
    url                   TEXT NOT NULL,
    event_types           TEXT NOT NULL DEFAULT '[]', -- JSON array of event types; [] = every type
    enabled               INTEGER NOT NULL DEFAULT 1,
    description           TEXT,
    secret                TEXT NOT NULL,              -- whsec_… (the receiver must know it: kept as is)
    previous_secret       TEXT,                       -- still signed with until previous_secret_until
    previous_secret_until TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    disabled_reason       TEXT,                       -- why the server disabled it (410, failing for days)
    failing_since         TEXT                        -- the first failed attempt since the last success
);

-- One row per (event, endpoint). The id is also the message id (`webhook-id`), the same on
-- every attempt. A claimed delivery's next_attempt_at is pushed past the attempt's time-out
-- (a lease): an instance killed mid-attempt leaves it to be claimed again. Times are RFC 3339
-- with milliseconds (fixed width: text order is time order).
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY NOT NULL,       -- dlv-…
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_status_code INTEGER,
    last_body        TEXT,                            -- the response's first KiB
    last_error       TEXT,                            -- time-out, refused connection, …
    last_latency_ms  INTEGER,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
