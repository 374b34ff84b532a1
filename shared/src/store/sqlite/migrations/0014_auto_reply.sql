-- The AI agent at work: a conversation's AI state (agent, pause, the turn last
-- answered), a channel account's agent, and the customer turns waiting for quiet.
ALTER TABLE conversations ADD COLUMN ai TEXT NOT NULL DEFAULT '{}';
ALTER TABLE channel_accounts ADD COLUMN ai TEXT NOT NULL DEFAULT '{}';
CREATE TABLE ai_turns (
    id               TEXT PRIMARY KEY,
    company_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    lead_id          TEXT NOT NULL,
    due_ms           INTEGER NOT NULL
);
CREATE INDEX ai_turns_lead ON ai_turns (company_id, lead_id);
