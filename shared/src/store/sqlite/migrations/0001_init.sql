-- Companies (tenants) and their settings.
CREATE TABLE companies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    domain      TEXT,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE leads (
    id             TEXT PRIMARY KEY,
    company_id     TEXT NOT NULL,
    name           TEXT NOT NULL,
    email          TEXT,
    email_key      TEXT,
    phone          TEXT,
    phone_key      TEXT,
    company        TEXT,
    source         TEXT,
    pipeline       TEXT NOT NULL,
    status         TEXT NOT NULL,
    score          INTEGER NOT NULL,
    custom_fields  TEXT NOT NULL,
    notes          TEXT,
    user_id        TEXT,
    search_text    TEXT NOT NULL,
    sort_name      TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
-- Within a company a phone and an e-mail belong to one lead.
CREATE UNIQUE INDEX leads_phone_key ON leads (company_id, phone_key) WHERE phone_key IS NOT NULL;
CREATE UNIQUE INDEX leads_email_key ON leads (company_id, email_key) WHERE email_key IS NOT NULL;
CREATE INDEX leads_created ON leads (company_id, created_at, id);
CREATE INDEX leads_updated ON leads (company_id, updated_at, id);
CREATE INDEX leads_name ON leads (company_id, sort_name, id);
CREATE INDEX leads_score ON leads (company_id, score, id);
CREATE INDEX leads_status ON leads (company_id, status, id);

-- Append-only history of a lead.
CREATE TABLE lead_events (
    id          TEXT PRIMARY KEY,
    company_id  TEXT NOT NULL,
    lead_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    from_value  TEXT,
    to_value    TEXT,
    at          TEXT NOT NULL,
    by_user     TEXT
);
CREATE INDEX lead_events_lead ON lead_events (company_id, lead_id, at, id);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    company_id       TEXT NOT NULL,
    lead_id          TEXT NOT NULL,
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL,
    metadata         TEXT NOT NULL DEFAULT '{}',
    last_message_at  TEXT,
    last_inbound_at  TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX conversations_lead ON conversations (company_id, lead_id);
-- One active conversation per lead and channel.
CREATE UNIQUE INDEX conversations_active ON conversations (company_id, lead_id, channel)
    WHERE status = 'active';

CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    company_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    role             TEXT NOT NULL,
    content          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    metadata         TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL
);
CREATE INDEX messages_conversation ON messages (company_id, conversation_id, created_at, id);
