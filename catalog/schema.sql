-- synth catalog, schema version 1. The DuckDB file is the system of record: a dataset version exists
-- once its row is here, and rows of a registered version are never updated.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    applied_at  TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS datasets (
    name        VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS builds (
    build_id        VARCHAR PRIMARY KEY,
    dataset         VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,      -- registered | duplicate | failed_validation
    version         VARCHAR,               -- the version this build produced or matched
    recipe_path     VARCHAR NOT NULL,
    recipe_sha256   VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP NOT NULL,
    wall_seconds    DOUBLE NOT NULL,
    flow_run_id     VARCHAR,
    build_dir       VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS versions (
    dataset           VARCHAR NOT NULL,
    version           VARCHAR NOT NULL,    -- semantic version X.Y.Z
    fingerprint       VARCHAR NOT NULL,    -- sha256 over the tables' file hashes
    recipe_yaml       VARCHAR NOT NULL,
    recipe_sha256     VARCHAR NOT NULL,
    parent_version    VARCHAR,
    build_id          VARCHAR NOT NULL,
    validation_passed BOOLEAN NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (dataset, version)
);

CREATE TABLE IF NOT EXISTS files (
    dataset     VARCHAR NOT NULL,
    version     VARCHAR NOT NULL,
    table_name  VARCHAR NOT NULL,
    path        VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    rows        BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    published   BOOLEAN NOT NULL           -- part of the Hub release (rejects are kept, not published)
);

CREATE TABLE IF NOT EXISTS validations (
    build_id    VARCHAR NOT NULL,
    table_name  VARCHAR NOT NULL,
    suite       VARCHAR NOT NULL,
    success     BOOLEAN NOT NULL,
    evaluated   INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    summary     VARCHAR NOT NULL,
    details     JSON NOT NULL,
    docs_path   VARCHAR
);

CREATE TABLE IF NOT EXISTS funnel (
    build_id     VARCHAR NOT NULL,
    position     INTEGER NOT NULL,
    stage        VARCHAR NOT NULL,
    unit_in      VARCHAR NOT NULL,
    unit_out     VARCHAR NOT NULL,
    n_in         BIGINT NOT NULL,
    n_out        BIGINT NOT NULL,
    dropped      JSON NOT NULL,            -- {reason: count}
    labels       JSON NOT NULL,            -- {label: count} of what was kept
    wall_seconds DOUBLE NOT NULL
);

CREATE TABLE IF NOT EXISTS usage (
    build_id          VARCHAR NOT NULL,
    stage             VARCHAR NOT NULL,
    model             VARCHAR NOT NULL,
    requests          BIGINT NOT NULL,
    samples           BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    wall_seconds      DOUBLE NOT NULL
);

CREATE TABLE IF NOT EXISTS lineage (
    dataset      VARCHAR NOT NULL,
    version      VARCHAR NOT NULL,
    source_kind  VARCHAR NOT NULL,         -- seeds | model | prompt | parent
    source       VARCHAR NOT NULL,
    detail       VARCHAR NOT NULL
);
