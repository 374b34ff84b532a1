-- Outbound webhook endpoints (with their signing secret) and their delivery log.
CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    company_id       TEXT NOT NULL,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    description      TEXT,
    active           INTEGER NOT NULL DEFAULT 1,
    disabled_reason  TEXT,
    secret           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_company ON webhook_endpoints (company_id, created_at);

CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,
    company_id   TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL,
    http_status  INTEGER,
    latency_ms   INTEGER NOT NULL,
    response     TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    at           TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (company_id, endpoint_id, id);
