//! Opening the database. One code path for SQLite (the zero-setup default) and PostgreSQL.

use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionError, TransactionOptions,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::config::{Config, DatabaseKind};
use crate::migration::Migrator;

pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    if config.database.kind() == DatabaseKind::Sqlite {
        // `mode=rwc` creates the file, but not its directory.
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            DbErr::Custom(format!(
                "cannot create data dir {}: {e}",
                config.data_dir.display()
            ))
        })?;
    }
    let mut options = ConnectOptions::new(config.database.url.expose().clone());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    match config.database.kind() {
        DatabaseKind::Sqlite => {
            // SeaORM defaults SQLite to one connection, which would queue every request behind
            // the job poller. WAL lets readers run beside the single writer; the busy timeout
            // makes writers wait for each other instead of failing with SQLITE_BUSY.
            options.max_connections(8).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        }
        DatabaseKind::Postgres => {
            options.max_connections(20);
        }
    }
    Database::connect(options).await
}

/// Applies the migrations on a connection of their own, then opens the pool. SQLite prepares a
/// statement against the schema its connection last read, so a pooled connection opened before
/// the migrations could fail to find an index they added (`ON CONFLICT (column)`).
pub async fn open(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let once = connect(config).await?;
    migrate(&once).await?;
    once.close().await?;
    connect(config).await
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Cheap round trip used by `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// The error of a failed transaction, as the domain error its closure returns: a failure to begin
/// or commit becomes that error's database variant.
pub fn transaction_error<E: From<DbErr>>(err: sea_orm::TransactionError<E>) -> E {
    match err {
        sea_orm::TransactionError::Connection(e) => e.into(),
        sea_orm::TransactionError::Transaction(e) => e,
    }
}

/// `column IN (the strings of one JSON array)`: the whole list bound as a single parameter, so
/// the statement's text (and on PostgreSQL its plan) is the same whatever the list's length, and
/// no list is too long for the backend's limit on parameters (32,766 on SQLite, 65,535 on
/// PostgreSQL).
pub fn in_strings<'a>(
    backend: DatabaseBackend,
    column: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> SimpleExpr {
    let list = serde_json::Value::from(values.into_iter().collect::<Vec<_>>()).to_string();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            format!("\"{column}\" IN (SELECT json_array_elements_text($1::json))")
        }
        _ => format!("\"{column}\" IN (SELECT value FROM json_each(?))"),
    };
    Expr::cust_with_values(sql, [list])
}

/// Begins a transaction that is going to write. Every transaction that writes starts here, never
/// with a bare `begin()`: on SQLite a deferred transaction that reads first takes a read snapshot,
/// and when it then writes after another connection has committed, SQLite refuses the upgrade at
/// once with SQLITE_BUSY (the busy timeout does not apply). `BEGIN IMMEDIATE` takes the write
/// lock up front, so concurrent writers wait on the busy timeout instead. PostgreSQL ignores the
/// mode.
pub async fn begin_write<C>(db: &C) -> Result<DatabaseTransaction, DbErr>
where
    C: TransactionTrait<Transaction = DatabaseTransaction>,
{
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Runs `callback` in a transaction begun by [`begin_write`]: committed when it returns `Ok`,
/// rolled back when it returns `Err`. The counterpart of SeaORM's `transaction` for writers.
pub async fn write_transaction<C, F, T, E>(db: &C, callback: F) -> Result<T, TransactionError<E>>
where
    C: TransactionTrait<Transaction = DatabaseTransaction>,
    F: for<'c> FnOnce(
            &'c DatabaseTransaction,
        ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
        + Send,
    T: Send,
    E: std::fmt::Display + std::fmt::Debug + Send,
{
    let txn = begin_write(db)
        .await
        .map_err(TransactionError::Connection)?;
    match callback(&txn).await {
        Ok(value) => {
            txn.commit().await.map_err(TransactionError::Connection)?;
            Ok(value)
        }
        Err(err) => {
            // Dropping the transaction would roll it back too; doing it here returns the
            // connection to the pool clean before the error travels on.
            let _ = txn.rollback().await;
            Err(TransactionError::Transaction(err))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sea_orm::{DatabaseBackend, Statement};

    use super::*;

    async fn sqlite_pool(dir: &std::path::Path) -> DatabaseConnection {
        let mut env = BTreeMap::new();
        env.insert("LOQUENT_DATA_DIR".to_owned(), dir.display().to_string());
        let config = Config::from_sources(None, &env).unwrap();
        let db = connect(&config).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (n INTEGER)")
            .await
            .unwrap();
        db
    }

    async fn count(db: &impl ConnectionTrait) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT COUNT(*) AS n FROM t",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    /// The race `begin_write` exists for: a transaction reads, another connection commits a
    /// write, then the first one writes. Begun deferred, SQLite refuses that write at once
    /// (SQLITE_BUSY, a stale snapshot); begun by `begin_write`, the other writer waits instead
    /// and both writes land.
    #[tokio::test]
    async fn a_write_transaction_that_reads_first_is_not_refused_by_a_concurrent_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_pool(dir.path()).await;

        let deferred = db.begin().await.unwrap();
        assert_eq!(count(&deferred).await, 0);
        db.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let refused = deferred
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await;
        assert!(refused.is_err(), "SQLite allowed the stale upgrade");
        drop(deferred);

        let txn = begin_write(&db).await.unwrap();
        assert_eq!(count(&txn).await, 1);
        #[expect(
            clippy::disallowed_methods,
            reason = "a second writer for the length of this test"
        )]
        let other = {
            let db = db.clone();
            tokio::spawn(async move { db.execute_unprepared("INSERT INTO t VALUES (3)").await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        txn.execute_unprepared("INSERT INTO t VALUES (4)")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        other.await.unwrap().unwrap();
        assert_eq!(count(&db).await, 3);
    }
}
