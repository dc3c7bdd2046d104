-- Human review (issue 22, synth/view/): a reviewer's decision on one record of a version, with who,
-- when and the sha256 of the record's content when it was reviewed. A version's files and rows are
-- never changed: `synth review apply` makes a new version from these rows. Rows are only added; a
-- record's latest decision is its review (earlier ones stay as its history).
CREATE TABLE IF NOT EXISTS reviews (
    review_id      VARCHAR PRIMARY KEY,
    dataset        VARCHAR NOT NULL,
    version        VARCHAR NOT NULL,
    table_name     VARCHAR NOT NULL,
    record_id      VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    decision       VARCHAR NOT NULL,   -- accepted | rejected | relabelled | comment
    reason         VARCHAR NOT NULL,   -- why it was rejected ('' otherwise)
    label_field    VARCHAR,            -- relabelled: which label (first_error_step, final_answer_correct)
    old_value      VARCHAR,            -- relabelled: JSON of the automatic label
    new_value      VARCHAR,            -- relabelled: JSON of the reviewer's label
    comment        VARCHAR NOT NULL,
    reviewer       VARCHAR NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
