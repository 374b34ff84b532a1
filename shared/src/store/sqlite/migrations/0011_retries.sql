-- Failed outbound deliveries' next attempts, by when they are due.
CREATE TABLE webhook_retries (
    id           TEXT PRIMARY KEY,
    company_id   TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    payload      TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    due_ms       INTEGER NOT NULL
);
