-- Pond schema v5 (PostgreSQL; see ../sqlite/0005_hot_tables_without_corp_fk.sql): the tables
-- written for every event no longer check their corp_id against corps.
--
-- Each row inserted into them ran PostgreSQL's foreign-key trigger: a `SELECT … FOR KEY SHARE`
-- on the corp's row, planned afresh every time (Pond's connections use
-- plan_cache_mode = force_custom_plan, see db.rs, and that applies to the triggers' queries too)
-- and taking a share lock on the same row from every writer. Under the pipeline benchmark
-- (5,000 events/s) that was 22% of PostgreSQL's CPU. Corps are never deleted, and every corp_id
-- written here comes from a corp Pond has just read; the configuration tables keep their keys.
ALTER TABLE inbox_events         DROP CONSTRAINT IF EXISTS inbox_events_corp_id_fkey;
ALTER TABLE jobs                 DROP CONSTRAINT IF EXISTS jobs_corp_id_fkey;
ALTER TABLE customers            DROP CONSTRAINT IF EXISTS customers_corp_id_fkey;
ALTER TABLE follow_relations     DROP CONSTRAINT IF EXISTS follow_relations_corp_id_fkey;
ALTER TABLE follow_relation_tags DROP CONSTRAINT IF EXISTS follow_relation_tags_corp_id_fkey;
ALTER TABLE customer_events      DROP CONSTRAINT IF EXISTS customer_events_corp_id_fkey;
ALTER TABLE welcome_results      DROP CONSTRAINT IF EXISTS welcome_results_corp_id_fkey;
