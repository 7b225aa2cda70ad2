//! Full-text search over call transcripts (`GET /api/calls?q=`), one index per backend, both
//! kept in sync by the database itself so no writer of `call.transcription` can forget it:
//!
//! - SQLite: an FTS5 table `call_search` filled by triggers on `call`. FTS5 rows are keyed by an
//!   integer and calls by a UUID, so `call_search_doc` maps one to the other (a call's FTS row is
//!   found by its key, never by scanning). The tokenizer keeps diacritics, as PostgreSQL does.
//! - PostgreSQL: a GIN expression index on the transcript's words. Runs of ASCII characters
//!   other than letters and digits become spaces before `to_tsvector('simple', ...)` (whose
//!   parser would otherwise keep `e-mail`, `bob@example.com` or `-1234` whole), and the parser
//!   splits the rest at non-letters, so words are split as FTS5's `unicode61` splits them and
//!   neither side stems: the same text matches the same query on both databases. Non-ASCII
//!   characters are left to the parser rather than to `[:alnum:]`, which under the plain `C`
//!   locale would cut `café` in two. `calls::search` builds the matching expression, which must
//!   stay identical to the indexed one for the index to be used (a test checks it).
//!
//! Frozen once released: change the schema with a new migration, never by editing this one.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE call_search_doc (doc INTEGER PRIMARY KEY, call_id NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE call_search USING fts5(transcription, \
     tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE TRIGGER call_search_insert AFTER INSERT ON call \
     WHEN NEW.transcription IS NOT NULL BEGIN \
       INSERT INTO call_search_doc (call_id) VALUES (NEW.id); \
       INSERT INTO call_search (rowid, transcription) \
         SELECT doc, NEW.transcription FROM call_search_doc WHERE call_id = NEW.id; \
     END",
    "CREATE TRIGGER call_search_update AFTER UPDATE OF transcription ON call BEGIN \
       DELETE FROM call_search \
         WHERE rowid = (SELECT doc FROM call_search_doc WHERE call_id = OLD.id); \
       INSERT OR IGNORE INTO call_search_doc (call_id) \
         SELECT NEW.id WHERE NEW.transcription IS NOT NULL; \
       INSERT INTO call_search (rowid, transcription) \
         SELECT doc, NEW.transcription FROM call_search_doc \
         WHERE call_id = NEW.id AND NEW.transcription IS NOT NULL; \
     END",
    "CREATE TRIGGER call_search_delete AFTER DELETE ON call BEGIN \
       DELETE FROM call_search \
         WHERE rowid = (SELECT doc FROM call_search_doc WHERE call_id = OLD.id); \
       DELETE FROM call_search_doc WHERE call_id = OLD.id; \
     END",
    // The transcripts stored before this migration.
    "INSERT INTO call_search_doc (call_id) SELECT id FROM call WHERE transcription IS NOT NULL",
    "INSERT INTO call_search (rowid, transcription) \
     SELECT d.doc, c.transcription FROM call_search_doc d JOIN call c ON c.id = d.call_id",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS call_search_delete",
    "DROP TRIGGER IF EXISTS call_search_update",
    "DROP TRIGGER IF EXISTS call_search_insert",
    "DROP TABLE IF EXISTS call_search",
    "DROP TABLE IF EXISTS call_search_doc",
];

pub(crate) const POSTGRES_UP: &[&str] = &[
    "CREATE INDEX idx_call_transcription_search ON call USING GIN \
     (to_tsvector('simple', regexp_replace(coalesce(transcription, ''), \
     '[^[:alnum:]\\u0080-\\U0010FFFF]+', ' ', 'g')))",
];

const POSTGRES_DOWN: &[&str] = &["DROP INDEX IF EXISTS idx_call_transcription_search"];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run(manager, SQLITE_UP).await,
            DatabaseBackend::Postgres => run(manager, POSTGRES_UP).await,
            other => Err(DbErr::Migration(format!(
                "transcript search is not built for {other:?}"
            ))),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run(manager, SQLITE_DOWN).await,
            DatabaseBackend::Postgres => run(manager, POSTGRES_DOWN).await,
            _ => Ok(()),
        }
    }
}
