-- Each company's kept counts (leads, conversations), moved in the same transaction as what
-- they count, so that an unfiltered page never counts the company; and conversations
-- ordered by last activity through an index, so that a page never sorts them all.
CREATE TABLE counts (
    company_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (company_id, name)
);
INSERT INTO counts (company_id, name, n) SELECT company_id, 'leads', COUNT(*) FROM leads GROUP BY company_id;
INSERT INTO counts (company_id, name, n) SELECT company_id, 'conversations', COUNT(*) FROM conversations GROUP BY company_id;
ALTER TABLE conversations ADD COLUMN activity TEXT NOT NULL DEFAULT '';
UPDATE conversations SET activity = COALESCE(last_message_at, created_at);
CREATE INDEX conversations_activity ON conversations (company_id, activity, id);
