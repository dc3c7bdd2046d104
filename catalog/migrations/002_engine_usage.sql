-- Engine accounting (issue 3): which backend ran, what the response cache answered, schema retries
-- and failures, and engine start-up time apart from generation time.
ALTER TABLE usage ADD COLUMN backend VARCHAR DEFAULT '';
ALTER TABLE usage ADD COLUMN cache_hits BIGINT DEFAULT 0;
ALTER TABLE usage ADD COLUMN backend_requests BIGINT DEFAULT 0;
ALTER TABLE usage ADD COLUMN parse_retries BIGINT DEFAULT 0;
ALTER TABLE usage ADD COLUMN failures BIGINT DEFAULT 0;
ALTER TABLE usage ADD COLUMN load_seconds DOUBLE DEFAULT 0;
