//! The SQLite and PostgreSQL migration trees must define the same tables and columns.

use std::collections::BTreeSet;

use pond_store::{Db, MIGRATIONS, read_db, testing::TestDb};

async fn columns(db: &Db) -> BTreeSet<(String, String)> {
    let rows: Vec<(String, String)> = match db {
        Db::Sqlite { .. } => read_db!(db, |pool| sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
        )
        .fetch_all(pool)
        .await),
        Db::Postgres(_) => read_db!(db, |pool| {
            sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public'"
        )
        .fetch_all(pool)
        .await
        }),
    }
    .expect("read schema");
    rows.into_iter().collect()
}

#[tokio::test]
async fn both_trees_have_same_versions_and_schema() {
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1, "versions are consecutive");
        assert!(!m.sqlite.trim().is_empty() && !m.postgres.trim().is_empty());
    }
    let sqlite = TestDb::sqlite().await;
    let lite_cols = columns(&sqlite.db).await;
    assert!(lite_cols.contains(&("jobs".to_owned(), "idempotency_key".to_owned())));
    sqlite.cleanup().await;
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let pg_cols = columns(&pg.db).await;
    pg.cleanup().await;
    let only_lite: Vec<_> = lite_cols.difference(&pg_cols).collect();
    let only_pg: Vec<_> = pg_cols.difference(&lite_cols).collect();
    assert!(
        only_lite.is_empty() && only_pg.is_empty(),
        "only in SQLite: {only_lite:?}; only in PostgreSQL: {only_pg:?}"
    );
}
