-- Catch-up after downtime (issue 15, finding 3; mirrored in ../postgres/0009_catch_up.sql).
-- Sync runs say what kind they were (a full sync or an incremental reconcile), why they ran (and
-- the gap or callback lag behind it), what they cost (WeCom calls, rows written, duration), and
-- when they last showed progress, so an abandoned run stops blocking the next one. Instances
-- record when they were last alive (and when they stopped), so one starting after a gap knows
-- how long nobody listened.
-- Tags deleted upstream are removed from customers (WeCom removes them), including rows left
-- behind before this version.
ALTER TABLE sync_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'full';
ALTER TABLE sync_runs ADD COLUMN reason TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE sync_runs ADD COLUMN gap_ms BIGINT;
ALTER TABLE sync_runs ADD COLUMN wecom_calls BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN rows_written BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN duration_ms BIGINT;
ALTER TABLE sync_runs ADD COLUMN touched_at BIGINT;

CREATE TABLE instance_heartbeats (
    instance    TEXT    PRIMARY KEY,
    started_at  BIGINT  NOT NULL,
    seen_at     BIGINT  NOT NULL,
    stopped_at  BIGINT
);

DELETE FROM follow_relation_tags WHERE EXISTS (
    SELECT 1 FROM tags t
    WHERE t.corp_id = follow_relation_tags.corp_id AND t.tag_id = follow_relation_tags.tag_id
      AND t.deleted_at IS NOT NULL);
