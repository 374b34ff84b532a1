-- Each company's lead count, kept as leads are created and deleted, so that an unfiltered
-- page of leads never counts the company.
CREATE TABLE lead_counts (
    company_id  TEXT PRIMARY KEY,
    n           INTEGER NOT NULL
);
INSERT INTO lead_counts (company_id, n) SELECT company_id, COUNT(*) FROM leads GROUP BY company_id;
