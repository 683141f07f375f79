-- invois schema for PostgreSQL, version 6 (as SQLite's 006_webhooks.sql): webhook endpoints
-- and the outbox of their deliveries. Same conventions as 003_initial.sql: COLLATE "C" text,
-- BIGINT integers, constraints named "table.column"; re-runnable. Instances share the outbox:
-- each claims due rows with FOR UPDATE SKIP LOCKED (storage/webhooks.rs).

CREATE TABLE IF NOT EXISTS webhooks (
    id                    TEXT COLLATE "C" NOT NULL,               -- wh-…
    url                   TEXT COLLATE "C" NOT NULL,
    event_types           TEXT COLLATE "C" NOT NULL DEFAULT '[]',  -- JSON array; [] = every type
    enabled               BIGINT NOT NULL DEFAULT 1,
    description           TEXT COLLATE "C",
    secret                TEXT COLLATE "C" NOT NULL,               -- whsec_…
    previous_secret       TEXT COLLATE "C",
    previous_secret_until TEXT COLLATE "C",
    created_at            TEXT COLLATE "C" NOT NULL,
    updated_at            TEXT COLLATE "C" NOT NULL,
    disabled_reason       TEXT COLLATE "C",
    failing_since         TEXT COLLATE "C",
    CONSTRAINT "webhooks.id" PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id               TEXT COLLATE "C" NOT NULL,                    -- dlv-…, also the webhook-id
    webhook_id       TEXT COLLATE "C" NOT NULL,
    event_id         TEXT COLLATE "C" NOT NULL,
    event_type       TEXT COLLATE "C" NOT NULL,
    status           TEXT COLLATE "C" NOT NULL DEFAULT 'pending',
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TEXT COLLATE "C" NOT NULL,
    last_status_code BIGINT,
    last_body        TEXT COLLATE "C",
    last_error       TEXT COLLATE "C",
    last_latency_ms  BIGINT,
    created_at       TEXT COLLATE "C" NOT NULL,
    delivered_at     TEXT COLLATE "C",
    CONSTRAINT "webhook_deliveries.id" PRIMARY KEY (id),
    CONSTRAINT "webhook_deliveries.webhook_id" FOREIGN KEY (webhook_id)
        REFERENCES webhooks (id) ON DELETE CASCADE,
    CONSTRAINT "webhook_deliveries.status"
        CHECK (status IN ('pending', 'delivered', 'failed'))
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
