-- Pond schema v1 (SQLite). Mirrored in ../postgres/0001_init.sql; a test checks both define the same
-- tables and columns. Times are UTC epoch milliseconds (BIGINT). Never edit once released: add 0002.

CREATE TABLE corps (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL,
    wecom_corp_id     TEXT    UNIQUE,
    agent_id          BIGINT,
    contact_secret    TEXT    NOT NULL DEFAULT '',
    app_secret        TEXT    NOT NULL DEFAULT '',
    callback_token    TEXT    NOT NULL DEFAULT '',
    encoding_aes_key  TEXT    NOT NULL DEFAULT '',
    api_base_url      TEXT    NOT NULL DEFAULT 'https://qyapi.weixin.qq.com',
    timezone          TEXT    NOT NULL DEFAULT 'Asia/Shanghai',
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);

CREATE TABLE departments (
    corp_id      BIGINT  NOT NULL REFERENCES corps(id),
    dept_id      BIGINT  NOT NULL,
    name         TEXT    NOT NULL,
    parent_id    BIGINT,
    sort_order   BIGINT  NOT NULL DEFAULT 0,
    removed_at   BIGINT,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (corp_id, dept_id)
);

CREATE TABLE staff (
    corp_id         BIGINT  NOT NULL REFERENCES corps(id),
    userid          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    department_ids  TEXT    NOT NULL DEFAULT '',
    position        TEXT    NOT NULL DEFAULT '',
    mobile          TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL DEFAULT 'active',
    removed_at      BIGINT,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (corp_id, userid)
);

CREATE TABLE customers (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id          BIGINT  NOT NULL REFERENCES corps(id),
    external_userid  TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    customer_type    BIGINT  NOT NULL DEFAULT 1,
    avatar           TEXT    NOT NULL DEFAULT '',
    gender           BIGINT  NOT NULL DEFAULT 0,
    unionid          TEXT    NOT NULL DEFAULT '',
    corp_name        TEXT    NOT NULL DEFAULT '',
    removed_at       BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    UNIQUE (corp_id, external_userid)
);

CREATE TABLE follow_relations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id          BIGINT  NOT NULL REFERENCES corps(id),
    external_userid  TEXT    NOT NULL,
    userid           TEXT    NOT NULL,
    remark           TEXT    NOT NULL DEFAULT '',
    description      TEXT    NOT NULL DEFAULT '',
    add_way          BIGINT  NOT NULL DEFAULT 0,
    state            TEXT    NOT NULL DEFAULT '',
    added_at         BIGINT  NOT NULL,
    removed_at       BIGINT,
    updated_at       BIGINT  NOT NULL,
    UNIQUE (corp_id, external_userid, userid)
);
CREATE INDEX follow_relations_by_staff ON follow_relations (corp_id, userid);

CREATE TABLE tag_groups (
    corp_id     BIGINT  NOT NULL REFERENCES corps(id),
    group_id    TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    sort_order  BIGINT  NOT NULL DEFAULT 0,
    deleted_at  BIGINT,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (corp_id, group_id)
);

CREATE TABLE tags (
    corp_id     BIGINT  NOT NULL REFERENCES corps(id),
    tag_id      TEXT    NOT NULL,
    group_id    TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    sort_order  BIGINT  NOT NULL DEFAULT 0,
    deleted_at  BIGINT,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (corp_id, tag_id)
);

CREATE TABLE follow_relation_tags (
    corp_id          BIGINT  NOT NULL REFERENCES corps(id),
    external_userid  TEXT    NOT NULL,
    userid           TEXT    NOT NULL,
    tag_id           TEXT    NOT NULL,
    tagged_at        BIGINT  NOT NULL,
    PRIMARY KEY (corp_id, external_userid, userid, tag_id)
);
CREATE INDEX follow_relation_tags_by_tag ON follow_relation_tags (corp_id, tag_id);

CREATE TABLE customer_groups (
    corp_id       BIGINT  NOT NULL REFERENCES corps(id),
    chat_id       TEXT    NOT NULL,
    name          TEXT    NOT NULL DEFAULT '',
    owner_userid  TEXT    NOT NULL DEFAULT '',
    notice        TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    dismissed_at  BIGINT,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (corp_id, chat_id)
);

CREATE TABLE group_members (
    corp_id         BIGINT  NOT NULL REFERENCES corps(id),
    chat_id         TEXT    NOT NULL,
    member_id       TEXT    NOT NULL,
    member_type     BIGINT  NOT NULL,
    join_time       BIGINT  NOT NULL,
    join_scene      BIGINT  NOT NULL DEFAULT 0,
    invitor_userid  TEXT    NOT NULL DEFAULT '',
    group_nickname  TEXT    NOT NULL DEFAULT '',
    left_at         BIGINT,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (corp_id, chat_id, member_id)
);

CREATE TABLE inbox_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id       BIGINT  NOT NULL REFERENCES corps(id),
    dedupe_key    TEXT    NOT NULL,
    event_type    TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending',
    attempts      BIGINT  NOT NULL DEFAULT 0,
    last_error    TEXT,
    received_at   BIGINT  NOT NULL,
    processed_at  BIGINT,
    UNIQUE (corp_id, dedupe_key)
);
CREATE INDEX inbox_events_pending ON inbox_events (status, id);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id          BIGINT  NOT NULL REFERENCES corps(id),
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending',
    attempts         BIGINT  NOT NULL DEFAULT 0,
    max_attempts     BIGINT  NOT NULL,
    next_run_at      BIGINT  NOT NULL,
    locked_by        TEXT,
    locked_until     BIGINT,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    finished_at      BIGINT,
    UNIQUE (corp_id, idempotency_key)
);
CREATE INDEX jobs_claimable ON jobs (status, next_run_at);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id     BIGINT  NOT NULL REFERENCES corps(id),
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL
);
CREATE INDEX audit_log_by_corp ON audit_log (corp_id, id);

CREATE TABLE console_users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id        BIGINT  NOT NULL REFERENCES corps(id),
    email          TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT  NOT NULL,
    last_login_at  BIGINT
);

CREATE TABLE sessions (
    id_hash     TEXT    PRIMARY KEY,
    corp_id     BIGINT  NOT NULL REFERENCES corps(id),
    user_id     BIGINT  NOT NULL REFERENCES console_users(id),
    csrf_token  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id       BIGINT  NOT NULL REFERENCES corps(id),
    name          TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    prefix        TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
