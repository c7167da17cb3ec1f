-- Pond schema v2 (SQLite; mirrored in ../postgres/0002_sync.sql): inbox leases and retry times,
-- the customer timeline, and sync runs with their progress.

ALTER TABLE inbox_events ADD COLUMN locked_until BIGINT;
ALTER TABLE inbox_events ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE customer_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id          BIGINT  NOT NULL REFERENCES corps(id),
    external_userid  TEXT    NOT NULL,
    userid           TEXT    NOT NULL DEFAULT '',
    kind             TEXT    NOT NULL,
    detail           TEXT    NOT NULL DEFAULT '',
    occurred_at      BIGINT  NOT NULL,
    inbox_id         BIGINT
);
CREATE INDEX customer_events_by_customer ON customer_events (corp_id, external_userid, id);
CREATE UNIQUE INDEX customer_events_once_per_inbox ON customer_events (inbox_id, external_userid, userid, kind);

CREATE TABLE sync_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id      BIGINT  NOT NULL REFERENCES corps(id),
    started_by   TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'running',
    phase        TEXT    NOT NULL DEFAULT '',
    done_items   BIGINT  NOT NULL DEFAULT 0,
    total_items  BIGINT  NOT NULL DEFAULT 0,
    summary      TEXT    NOT NULL DEFAULT '',
    error        TEXT,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX sync_runs_by_corp ON sync_runs (corp_id, id);
