-- The lead an outbound delivery or retry is about: erased with the lead.
ALTER TABLE webhook_deliveries ADD COLUMN lead_id TEXT;
ALTER TABLE webhook_retries ADD COLUMN lead_id TEXT;
CREATE INDEX webhook_deliveries_lead ON webhook_deliveries (company_id, lead_id);
CREATE INDEX webhook_retries_lead ON webhook_retries (company_id, lead_id);
