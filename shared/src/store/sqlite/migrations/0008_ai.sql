-- AI agents (the seed's ai_agents, with the model and an active flag), the monthly AI
-- spend a budget is checked against, and usage per day, agent and model.
CREATE TABLE ai_agents (
    id             TEXT PRIMARY KEY,
    company_id     TEXT NOT NULL,
    name           TEXT NOT NULL,
    description    TEXT,
    type           TEXT NOT NULL DEFAULT 'custom',
    system_prompt  TEXT,
    model          TEXT NOT NULL,
    temperature    REAL NOT NULL DEFAULT 0.7,
    max_tokens     INTEGER NOT NULL DEFAULT 1000,
    tools_config   TEXT NOT NULL DEFAULT '{}',
    active         INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX ai_agents_company ON ai_agents (company_id, created_at);

CREATE TABLE ai_spend (
    company_id     TEXT NOT NULL,
    month          TEXT NOT NULL,
    spent_nano     INTEGER NOT NULL DEFAULT 0,
    reserved_nano  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, month)
);

CREATE TABLE ai_usage (
    company_id         TEXT NOT NULL,
    day                TEXT NOT NULL,
    agent_id           TEXT NOT NULL,
    model              TEXT NOT NULL,
    calls              INTEGER NOT NULL DEFAULT 0,
    prompt_tokens      INTEGER NOT NULL DEFAULT 0,
    completion_tokens  INTEGER NOT NULL DEFAULT 0,
    cached_tokens      INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_nano          INTEGER NOT NULL DEFAULT 0,
    estimated_calls    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, day, agent_id, model)
);
