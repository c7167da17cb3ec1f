-- Pond schema v3 (SQLite; mirrored in ../postgres/0003_acquisition.sql): welcome messages and
-- their results, channel live codes, their landing-page scans and per-employee contact ways.

CREATE TABLE welcome_messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id      BIGINT  NOT NULL REFERENCES corps(id),
    name         TEXT    NOT NULL,
    text         TEXT    NOT NULL DEFAULT '',
    attachments  TEXT    NOT NULL DEFAULT '[]',
    is_default   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    deleted_at   BIGINT
);

CREATE TABLE staff_welcome (
    corp_id     BIGINT  NOT NULL REFERENCES corps(id),
    userid      TEXT    NOT NULL,
    welcome_id  BIGINT  NOT NULL,
    PRIMARY KEY (corp_id, userid)
);

CREATE TABLE welcome_results (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id          BIGINT  NOT NULL REFERENCES corps(id),
    external_userid  TEXT    NOT NULL,
    userid           TEXT    NOT NULL,
    welcome_code     TEXT    NOT NULL,
    welcome_id       BIGINT,
    status           TEXT    NOT NULL,
    reason           TEXT    NOT NULL DEFAULT '',
    event_at         BIGINT  NOT NULL,
    received_at      BIGINT  NOT NULL DEFAULT 0,
    finished_at      BIGINT  NOT NULL,
    UNIQUE (corp_id, welcome_code)
);
CREATE INDEX welcome_results_by_customer ON welcome_results (corp_id, external_userid);

CREATE TABLE channel_codes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id        BIGINT  NOT NULL REFERENCES corps(id),
    name           TEXT    NOT NULL,
    channel_group  TEXT    NOT NULL DEFAULT '',
    mode           TEXT    NOT NULL,
    strategy       TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    rules          TEXT    NOT NULL,
    auto_tags      TEXT    NOT NULL DEFAULT '[]',
    welcome_id     BIGINT,
    skip_verify    BOOLEAN NOT NULL DEFAULT TRUE,
    remark_prefix  TEXT    NOT NULL DEFAULT '',
    config_id      TEXT    NOT NULL DEFAULT '',
    qr_code        TEXT    NOT NULL DEFAULT '',
    current_users  TEXT    NOT NULL DEFAULT '[]',
    rr_position    BIGINT  NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    deleted_at     BIGINT,
    UNIQUE (corp_id, state)
);

CREATE TABLE channel_code_scans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id     BIGINT  NOT NULL REFERENCES corps(id),
    code_id     BIGINT  NOT NULL,
    userid      TEXT    NOT NULL DEFAULT '',
    scanned_at  BIGINT  NOT NULL
);
CREATE INDEX channel_code_scans_by_code ON channel_code_scans (corp_id, code_id, scanned_at);

CREATE TABLE staff_contact_ways (
    corp_id    BIGINT  NOT NULL REFERENCES corps(id),
    code_id    BIGINT  NOT NULL,
    userid     TEXT    NOT NULL,
    config_id  TEXT    NOT NULL,
    qr_code    TEXT    NOT NULL,
    PRIMARY KEY (corp_id, code_id, userid)
);

CREATE INDEX follow_relations_by_state ON follow_relations (corp_id, state, added_at);
