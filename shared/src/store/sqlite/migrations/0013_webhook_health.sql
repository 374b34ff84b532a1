-- Since when an outbound endpoint has been failing (no row: it is not); five days of it
-- disable the endpoint.
CREATE TABLE webhook_health (
    company_id     TEXT NOT NULL,
    endpoint_id    TEXT NOT NULL,
    failing_since  TEXT NOT NULL,
    PRIMARY KEY (company_id, endpoint_id)
);
