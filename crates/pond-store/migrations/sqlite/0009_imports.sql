-- Background imports (issue 15): a CSV import is checked when uploaded, stored here and run by
-- the job queue step by step, independent of the request that uploaded it. What it makes stays
-- hidden until it commits (channel_codes.import_id is set until then) and is removed again if it
-- fails at any point. Mirrored for both databases.
CREATE TABLE imports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id      BIGINT  NOT NULL REFERENCES corps(id),
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    total        BIGINT  NOT NULL,
    done         BIGINT  NOT NULL DEFAULT 0,
    payload      TEXT    NOT NULL DEFAULT '',
    report       TEXT    NOT NULL DEFAULT '[]',
    error        TEXT    NOT NULL DEFAULT '',
    error_zh     TEXT    NOT NULL DEFAULT '',
    actor        TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX imports_by_corp ON imports (corp_id, id);

ALTER TABLE channel_codes ADD COLUMN import_id BIGINT;
CREATE INDEX channel_codes_by_import ON channel_codes (import_id);
