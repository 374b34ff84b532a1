-- Custom inbound webhooks: a client id in the URL, a secret to sign with.
CREATE TABLE inbound_endpoints (
    id          TEXT PRIMARY KEY,
    company_id  TEXT NOT NULL,
    client_id   TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX inbound_endpoints_company ON inbound_endpoints (company_id, created_at);
