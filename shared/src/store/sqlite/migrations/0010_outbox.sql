-- The transactional outbox: each event written in the same transaction as its change,
-- removed once the worker has handled it. Read in id order (ids are time-ordered).
CREATE TABLE outbox (
    id          TEXT PRIMARY KEY,
    company_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    lead_id     TEXT,
    payload     TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX outbox_lead ON outbox (company_id, lead_id);
