-- The newest change time each outside source (a custom inbound endpoint) has applied to a
-- lead, so that an older delivery arriving late cannot overwrite a newer one.
CREATE TABLE lead_marks (
    company_id  TEXT NOT NULL,
    lead_id     TEXT NOT NULL,
    source      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (company_id, lead_id, source)
);
