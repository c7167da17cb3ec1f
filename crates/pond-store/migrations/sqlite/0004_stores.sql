-- Pond schema v4 (SQLite; mirrored in ../postgres/0004_stores.sql): stores for regional codes,
-- their scans, and the contact way of each store employee.

CREATE TABLE stores (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id     BIGINT  NOT NULL REFERENCES corps(id),
    name        TEXT    NOT NULL,
    address     TEXT    NOT NULL DEFAULT '',
    city        TEXT    NOT NULL,
    latitude    REAL    NOT NULL,
    longitude   REAL    NOT NULL,
    staff       TEXT    NOT NULL DEFAULT '[]',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (corp_id, name)
);

CREATE TABLE store_scans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    corp_id     BIGINT  NOT NULL REFERENCES corps(id),
    store_id    BIGINT  NOT NULL,
    userid      TEXT    NOT NULL,
    located     BOOLEAN NOT NULL,
    distance_m  BIGINT,
    scanned_at  BIGINT  NOT NULL
);
CREATE INDEX store_scans_by_store ON store_scans (corp_id, store_id, scanned_at);

CREATE TABLE store_contact_ways (
    corp_id    BIGINT  NOT NULL REFERENCES corps(id),
    store_id   BIGINT  NOT NULL,
    userid     TEXT    NOT NULL,
    config_id  TEXT    NOT NULL,
    qr_code    TEXT    NOT NULL,
    PRIMARY KEY (corp_id, store_id, userid)
);
