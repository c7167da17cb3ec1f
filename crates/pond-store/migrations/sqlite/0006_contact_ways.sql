-- One table for every per-employee contact way Pond hands out, whatever it belongs to (a
-- landing-mode channel code, a regional store; fission and group codes next). `owner_kind` names
-- the owning feature's thing, `state` is the contact way's state (see pond_core::state).
CREATE TABLE contact_ways (
    corp_id    BIGINT  NOT NULL REFERENCES corps(id),
    owner_kind TEXT    NOT NULL,
    owner_id   BIGINT  NOT NULL,
    userid     TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    config_id  TEXT    NOT NULL,
    qr_code    TEXT    NOT NULL,
    PRIMARY KEY (corp_id, owner_kind, owner_id, userid)
);

INSERT INTO contact_ways (corp_id, owner_kind, owner_id, userid, state, config_id, qr_code)
SELECT w.corp_id, 'channel_code', w.code_id, w.userid, COALESCE(c.state, ''), w.config_id, w.qr_code
FROM staff_contact_ways w LEFT JOIN channel_codes c ON c.id = w.code_id;

INSERT INTO contact_ways (corp_id, owner_kind, owner_id, userid, state, config_id, qr_code)
SELECT corp_id, 'store', store_id, userid, 'rg-' || store_id, config_id, qr_code
FROM store_contact_ways;

DROP TABLE staff_contact_ways;
DROP TABLE store_contact_ways;
