-- Integrity (issue 17). Publishing is a recoverable protocol: an attempt is recorded here before its
-- first request to the Hub and updated after each step, so a retry knows which staging branch, tag
-- and base commit an interrupted attempt involved, and finishes or cleans it up from what the Hub has.
-- (Also with this migration: each dataset's views move to a schema named exactly as the dataset,
-- rebuilt from the files table by catalog/store.py, since the old names were not one per dataset.)
CREATE TABLE IF NOT EXISTS publish_attempts (
    attempt_id     VARCHAR NOT NULL,
    dataset        VARCHAR NOT NULL,
    version        VARCHAR NOT NULL,
    repo_id        VARCHAR NOT NULL,
    endpoint       VARCHAR NOT NULL,
    tag            VARCHAR NOT NULL,
    staging_branch VARCHAR NOT NULL,
    step           VARCHAR NOT NULL,   -- started | staged | tagged | main | done | rolled_back | superseded
    base_commit    VARCHAR,            -- main's head when the attempt began
    staged_commit  VARCHAR,            -- the commit on the staging branch (the tag's target)
    main_commit    VARCHAR,
    note           VARCHAR NOT NULL,   -- what the last step checked, or why it stopped
    started_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
