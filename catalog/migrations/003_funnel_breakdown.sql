-- Outcomes per group in the funnel (issue 4): for error injection, per error type how many were
-- tried, kept, and dropped by each label check; for critiques, per label source. Keep rates per type
-- are reported from here.
ALTER TABLE funnel ADD COLUMN breakdown JSON DEFAULT '{}';
