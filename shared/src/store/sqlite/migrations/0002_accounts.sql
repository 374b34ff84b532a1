-- API keys: only the SHA-256 of a key is kept.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    company_id    TEXT NOT NULL,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,
    active        INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
);
CREATE INDEX api_keys_company ON api_keys (company_id, created_at);

-- WhatsApp numbers, Instagram accounts and Facebook pages; one external id, one company.
CREATE TABLE channel_accounts (
    id            TEXT PRIMARY KEY,
    company_id    TEXT NOT NULL,
    channel       TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    name          TEXT NOT NULL,
    access_token  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX channel_accounts_company ON channel_accounts (company_id, created_at);

-- Token buckets shared by every process.
CREATE TABLE rate_buckets (
    key         TEXT PRIMARY KEY,
    tokens      REAL NOT NULL,
    at_ms       INTEGER NOT NULL
);

-- Idempotency-Key records, kept 24 hours.
CREATE TABLE idempotency_keys (
    company_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    state         TEXT NOT NULL,
    response      TEXT,
    lease_until   INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (company_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
