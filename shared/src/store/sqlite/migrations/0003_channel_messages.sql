-- Channel messages: one per channel id, with a delivery status that only moves forward.
ALTER TABLE messages ADD COLUMN external_id TEXT;
ALTER TABLE messages ADD COLUMN status TEXT;
ALTER TABLE messages ADD COLUMN status_rank INTEGER NOT NULL DEFAULT -1;
ALTER TABLE messages ADD COLUMN error TEXT;
CREATE UNIQUE INDEX messages_external ON messages (company_id, external_id) WHERE external_id IS NOT NULL;

-- Statuses that arrived before their message.
CREATE TABLE pending_statuses (
    company_id   TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    status       TEXT NOT NULL,
    status_rank  INTEGER NOT NULL,
    error        TEXT,
    PRIMARY KEY (company_id, external_id)
);

-- Instagram and Messenger users (page-scoped ids) and their leads.
CREATE TABLE lead_contacts (
    company_id  TEXT NOT NULL,
    channel     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    lead_id     TEXT NOT NULL,
    PRIMARY KEY (company_id, channel, user_id)
);
CREATE INDEX lead_contacts_lead ON lead_contacts (company_id, lead_id);
