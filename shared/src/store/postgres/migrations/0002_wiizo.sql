-- What this service adds to the seed's schema: columns on the seed's tables (each with a
-- default, so that rows already there stay valid), the tables of the aggregates the seed did
-- not have, and row-level security under the role company-scoped queries run as.
-- Nothing here drops or rewrites a seed column; uniqueness the seed's rows may not meet
-- (a phone used twice, two active conversations) is enforced by the store under a lock,
-- not by an index that would refuse to build on such data.

-- The role every company-scoped transaction takes (SET LOCAL ROLE), with the company in
-- `wiizo.company_id`: its policies let it see that company's rows only.
DO $$ BEGIN
  CREATE ROLE wiizo_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
GRANT wiizo_app TO CURRENT_USER;

CREATE OR REPLACE FUNCTION wiizo_company() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT NULLIF(current_setting('wiizo.company_id', true), '')::uuid $$;

-- Companies: a folded name for lookups (filled by the store for older rows).
ALTER TABLE companies ADD COLUMN IF NOT EXISTS name_key TEXT;
CREATE INDEX IF NOT EXISTS companies_name_key ON companies (name_key);

-- Leads: the owner as this API writes it (any text; the seed's user_id is set too when it
-- names a row of users), the keys phone and e-mail uniqueness compare, the folded search
-- text and sort name, and a version for optimistic concurrency.
ALTER TABLE leads
  ADD COLUMN IF NOT EXISTS owner TEXT,
  ADD COLUMN IF NOT EXISTS email_key TEXT,
  ADD COLUMN IF NOT EXISTS phone_key TEXT,
  ADD COLUMN IF NOT EXISTS search_text TEXT,
  ADD COLUMN IF NOT EXISTS sort_name TEXT,
  ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS leads_page_created ON leads (company_id, created_at, id);
CREATE INDEX IF NOT EXISTS leads_page_updated ON leads (company_id, updated_at, id);
CREATE INDEX IF NOT EXISTS leads_page_name ON leads (company_id, sort_name, id);
CREATE INDEX IF NOT EXISTS leads_page_score ON leads (company_id, score, id);
CREATE INDEX IF NOT EXISTS leads_page_status ON leads (company_id, status, id);
CREATE INDEX IF NOT EXISTS leads_phone_key ON leads (company_id, phone_key);
CREATE INDEX IF NOT EXISTS leads_email_key ON leads (company_id, email_key);
-- Rows written by other software (the seed's web app) wait here for their keys.
CREATE INDEX IF NOT EXISTS leads_unkeyed ON leads (id) WHERE search_text IS NULL;

CREATE TABLE IF NOT EXISTS lead_events (
  id UUID PRIMARY KEY,
  company_id UUID NOT NULL,
  lead_id UUID NOT NULL,
  kind TEXT NOT NULL,
  from_value TEXT,
  to_value TEXT,
  at TIMESTAMPTZ NOT NULL,
  by_user TEXT
);
CREATE INDEX IF NOT EXISTS lead_events_lead ON lead_events (company_id, lead_id, at, id);

-- Conversations and messages carry their company (the seed reached it through the lead);
-- a row inserted without it (by the seed's web app) gets it from its lead or conversation.
ALTER TABLE conversations
  ADD COLUMN IF NOT EXISTS company_id UUID,
  ADD COLUMN IF NOT EXISTS last_message_at TIMESTAMPTZ,
  ADD COLUMN IF NOT EXISTS last_inbound_at TIMESTAMPTZ,
  ADD COLUMN IF NOT EXISTS message_count BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS activity TIMESTAMPTZ,
  ADD COLUMN IF NOT EXISTS ai TEXT NOT NULL DEFAULT '{}';
ALTER TABLE messages
  ADD COLUMN IF NOT EXISTS company_id UUID,
  ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL DEFAULT 'text',
  ADD COLUMN IF NOT EXISTS external_id TEXT,
  ADD COLUMN IF NOT EXISTS status TEXT,
  ADD COLUMN IF NOT EXISTS status_rank INTEGER NOT NULL DEFAULT -1,
  ADD COLUMN IF NOT EXISTS error JSONB;

UPDATE conversations c SET company_id = l.company_id FROM leads l
  WHERE c.company_id IS NULL AND l.id = c.lead_id;
UPDATE messages m SET company_id = c.company_id FROM conversations c
  WHERE m.company_id IS NULL AND c.id = m.conversation_id;
UPDATE conversations c SET
  message_count = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
  last_message_at = (SELECT MAX(created_at) FROM messages m WHERE m.conversation_id = c.id),
  last_inbound_at = (SELECT MAX(created_at) FROM messages m WHERE m.conversation_id = c.id AND m.role = 'user');
UPDATE conversations SET activity = COALESCE(last_message_at, created_at, now()) WHERE activity IS NULL;

CREATE OR REPLACE FUNCTION wiizo_conversation_company() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.company_id IS NULL THEN
    SELECT company_id INTO NEW.company_id FROM leads WHERE id = NEW.lead_id;
  END IF;
  IF NEW.activity IS NULL THEN
    NEW.activity := COALESCE(NEW.last_message_at, NEW.created_at, now());
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS wiizo_conversation_company ON conversations;
CREATE TRIGGER wiizo_conversation_company BEFORE INSERT ON conversations
  FOR EACH ROW EXECUTE FUNCTION wiizo_conversation_company();

CREATE OR REPLACE FUNCTION wiizo_message_company() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.company_id IS NULL THEN
    SELECT company_id INTO NEW.company_id FROM conversations WHERE id = NEW.conversation_id;
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS wiizo_message_company ON messages;
CREATE TRIGGER wiizo_message_company BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION wiizo_message_company();

CREATE INDEX IF NOT EXISTS conversations_company_lead ON conversations (company_id, lead_id, channel);
CREATE INDEX IF NOT EXISTS conversations_activity ON conversations (company_id, activity, id);
CREATE INDEX IF NOT EXISTS messages_page ON messages (company_id, conversation_id, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_external ON messages (company_id, external_id)
  WHERE external_id IS NOT NULL;

-- AI agents: the model and an active flag beside the seed's columns.
ALTER TABLE ai_agents
  ADD COLUMN IF NOT EXISTS model TEXT NOT NULL DEFAULT 'gpt-4o-mini',
  ADD COLUMN IF NOT EXISTS active BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX IF NOT EXISTS ai_agents_page ON ai_agents (company_id, created_at, id);

-- The aggregates the seed did not have.
CREATE TABLE IF NOT EXISTS counts (
  company_id UUID NOT NULL,
  name TEXT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (company_id, name)
);
INSERT INTO counts (company_id, name, n)
  SELECT company_id, 'leads', COUNT(*) FROM leads GROUP BY company_id
  ON CONFLICT DO NOTHING;
INSERT INTO counts (company_id, name, n)
  SELECT company_id, 'conversations', COUNT(*) FROM conversations WHERE company_id IS NOT NULL
  GROUP BY company_id ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS api_keys (
  id UUID PRIMARY KEY,
  company_id UUID NOT NULL,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  scopes JSONB NOT NULL,
  active BOOLEAN NOT NULL,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  last_used_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS api_keys_company ON api_keys (company_id, created_at);

CREATE TABLE IF NOT EXISTS channel_accounts (
  id UUID PRIMARY KEY,
  company_id UUID NOT NULL,
  channel TEXT NOT NULL,
  external_id TEXT NOT NULL,
  name TEXT NOT NULL,
  access_token TEXT NOT NULL,
  ai TEXT NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  UNIQUE (channel, external_id)
);
CREATE INDEX IF NOT EXISTS channel_accounts_company ON channel_accounts (company_id, created_at);

CREATE TABLE IF NOT EXISTS inbound_endpoints (
  id UUID PRIMARY KEY,
  company_id UUID NOT NULL,
  client_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS inbound_endpoints_company ON inbound_endpoints (company_id, created_at);

CREATE TABLE IF NOT EXISTS rate_buckets (
  key TEXT PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  at_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS idempotency_keys (
  company_id UUID NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL,
  response TEXT,
  lease_until BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (company_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE IF NOT EXISTS pending_statuses (
  company_id UUID NOT NULL,
  external_id TEXT NOT NULL,
  status TEXT NOT NULL,
  status_rank INTEGER NOT NULL,
  error JSONB,
  PRIMARY KEY (company_id, external_id)
);

CREATE TABLE IF NOT EXISTS lead_contacts (
  company_id UUID NOT NULL,
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  lead_id UUID NOT NULL,
  PRIMARY KEY (company_id, channel, user_id)
);
CREATE INDEX IF NOT EXISTS lead_contacts_lead ON lead_contacts (company_id, lead_id);

CREATE TABLE IF NOT EXISTS lead_marks (
  company_id UUID NOT NULL,
  lead_id UUID NOT NULL,
  source TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (company_id, lead_id, source)
);

CREATE TABLE IF NOT EXISTS ai_spend (
  company_id UUID NOT NULL,
  month TEXT NOT NULL,
  spent_nano BIGINT NOT NULL DEFAULT 0,
  reserved_nano BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (company_id, month)
);

CREATE TABLE IF NOT EXISTS ai_usage (
  company_id UUID NOT NULL,
  day TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  model TEXT NOT NULL,
  calls BIGINT NOT NULL DEFAULT 0,
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  cached_tokens BIGINT NOT NULL DEFAULT 0,
  reasoning_tokens BIGINT NOT NULL DEFAULT 0,
  cost_nano BIGINT NOT NULL DEFAULT 0,
  estimated_calls BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (company_id, day, agent_id, model)
);

CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id UUID PRIMARY KEY,
  company_id UUID NOT NULL,
  url TEXT NOT NULL,
  events JSONB NOT NULL,
  description TEXT,
  active BOOLEAN NOT NULL DEFAULT true,
  disabled_reason TEXT,
  secret TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_company ON webhook_endpoints (company_id, created_at);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id UUID PRIMARY KEY,
  company_id UUID NOT NULL,
  endpoint_id UUID NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload JSONB NOT NULL,
  status TEXT NOT NULL,
  http_status INTEGER,
  latency_ms BIGINT NOT NULL,
  response TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  lead_id UUID
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON webhook_deliveries (company_id, endpoint_id, id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_lead ON webhook_deliveries (company_id, lead_id);

CREATE TABLE IF NOT EXISTS webhook_retries (
  id TEXT PRIMARY KEY,
  company_id UUID NOT NULL,
  endpoint_id UUID NOT NULL,
  payload JSONB NOT NULL,
  attempt INTEGER NOT NULL,
  due_ms BIGINT NOT NULL,
  lead_id UUID
);
CREATE INDEX IF NOT EXISTS webhook_retries_due ON webhook_retries (due_ms, id);
CREATE INDEX IF NOT EXISTS webhook_retries_lead ON webhook_retries (company_id, lead_id);

CREATE TABLE IF NOT EXISTS webhook_health (
  company_id UUID NOT NULL,
  endpoint_id UUID NOT NULL,
  failing_since TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (company_id, endpoint_id)
);

CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY,
  company_id UUID NOT NULL,
  kind TEXT NOT NULL,
  lead_id UUID,
  payload JSONB NOT NULL,
  at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_lead ON outbox (company_id, lead_id);

CREATE TABLE IF NOT EXISTS ai_turns (
  id TEXT PRIMARY KEY,
  company_id UUID NOT NULL,
  conversation_id UUID NOT NULL,
  lead_id UUID NOT NULL,
  due_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ai_turns_due ON ai_turns (due_ms, id);
CREATE INDEX IF NOT EXISTS ai_turns_lead ON ai_turns (company_id, lead_id);

CREATE TABLE IF NOT EXISTS analytics_days (
  company_id UUID NOT NULL,
  day TEXT NOT NULL,
  metric TEXT NOT NULL,
  amount BIGINT NOT NULL,
  PRIMARY KEY (company_id, day, metric)
);
CREATE TABLE IF NOT EXISTS analytics_counted (
  company_id UUID NOT NULL,
  event_id TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  PRIMARY KEY (company_id, event_id)
);
CREATE INDEX IF NOT EXISTS analytics_counted_age ON analytics_counted (at_ms);

-- Row-level security: under wiizo_app a query sees and writes the company of the
-- transaction only, whatever its WHERE clause says. The seed's own policies stay as they
-- are for the seed's web app.
GRANT USAGE ON SCHEMA public TO wiizo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO wiizo_app;
DO $$ BEGIN
  -- The seed's policies call auth.uid(); wiizo_app evaluates them too.
  IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
    GRANT USAGE ON SCHEMA auth TO wiizo_app;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO wiizo_app;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN NULL;
END $$;

DO $$
DECLARE t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['leads', 'lead_events', 'conversations', 'messages', 'ai_agents',
    'workflows', 'counts', 'api_keys', 'channel_accounts', 'inbound_endpoints',
    'idempotency_keys', 'pending_statuses', 'lead_contacts', 'lead_marks', 'ai_spend',
    'ai_usage', 'webhook_endpoints', 'webhook_deliveries', 'webhook_retries',
    'webhook_health', 'outbox', 'ai_turns', 'analytics_days', 'analytics_counted']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('DROP POLICY IF EXISTS wiizo_tenant ON %I', t);
    EXECUTE format('CREATE POLICY wiizo_tenant ON %I TO wiizo_app '
                   'USING (company_id = wiizo_company()) WITH CHECK (company_id = wiizo_company())', t);
  END LOOP;
END $$;
-- companies stays without row-level security, as in the seed: its web app reads it.
