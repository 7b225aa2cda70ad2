//! Opening the database. One code path for SQLite (the zero-setup default) and PostgreSQL.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
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
