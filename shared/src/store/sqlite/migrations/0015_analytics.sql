-- Analytics: the company's daily tallies, and the events already counted in them (kept a
-- week: long enough for any redelivery of the outbox).
CREATE TABLE analytics_days (
    company_id  TEXT NOT NULL,
    day         TEXT NOT NULL,
    metric      TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    PRIMARY KEY (company_id, day, metric)
);
CREATE TABLE analytics_counted (
    company_id  TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    PRIMARY KEY (company_id, event_id)
);
CREATE INDEX analytics_counted_age ON analytics_counted (at_ms);
