-- Pond schema v5 (SQLite; see ../postgres/0005_hot_tables_without_corp_fk.sql): nothing changes
-- here. On PostgreSQL the tables written for every event drop their corp_id foreign key, whose
-- trigger was planned afresh for every row; SQLite checks a key with one lookup in corps' rowid
-- index, and dropping a constraint would mean rebuilding each table.
SELECT 1;
