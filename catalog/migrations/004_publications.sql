-- Hub releases (issue 7): which version went to which repo, as which commit and tag. A row is
-- written only after the commit and the tag both exist on the Hub.
CREATE TABLE IF NOT EXISTS publications (
    dataset      VARCHAR NOT NULL,
    version      VARCHAR NOT NULL,
    repo_id      VARCHAR NOT NULL,
    endpoint     VARCHAR NOT NULL,
    commit_oid   VARCHAR NOT NULL,
    tag          VARCHAR NOT NULL,
    published_at TIMESTAMP NOT NULL
);
