//! Transcript search documents that know their call's organization and creation time, so a
//! search can read the caller's matches without visiting `call` rows it will not show
//! (`calls::search` chooses how, by how many documents match):
//!
//! - SQLite: `call_search_doc` (the FTS5 row ↔ call map) gains `organization_id` and
//!   `created_at`, copied from the call by the triggers.
//! - PostgreSQL: the GIN expression index on `call` is replaced by `call_search_doc` (call id,
//!   organization, creation time, the transcript's `tsvector` stored once), kept by a trigger,
//!   with a GIN index on the words. The words are the ones the previous index held (same
//!   splitting, see `m20261206_000010_call_search`).
//!
//! On both, `idx_call_search_doc_org_created` on `(organization_id, created_at, call_id)` lets a
//! search for a common word walk the organization's documents newest first and stop at a page.
//!
//! Both keep the copy in step with the call: a changed transcript, organization or creation time
//! rewrites the document, a deleted call removes it.
//!
//! Frozen once released: change the schema with a new migration, never by editing this one.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE call_search_doc ADD COLUMN organization_id",
    "ALTER TABLE call_search_doc ADD COLUMN created_at",
    "UPDATE call_search_doc SET (organization_id, created_at) = \
     (SELECT c.organization_id, c.created_at FROM call c WHERE c.id = call_search_doc.call_id)",
    "CREATE INDEX idx_call_search_doc_org_created \
     ON call_search_doc (organization_id, created_at, call_id)",
    "DROP TRIGGER call_search_insert",
    "CREATE TRIGGER call_search_insert AFTER INSERT ON call \
     WHEN NEW.transcription IS NOT NULL BEGIN \
       INSERT INTO call_search_doc (call_id, organization_id, created_at) \
         VALUES (NEW.id, NEW.organization_id, NEW.created_at); \
       INSERT INTO call_search (rowid, transcription) \
         SELECT doc, NEW.transcription FROM call_search_doc WHERE call_id = NEW.id; \
     END",
    "DROP TRIGGER call_search_update",
    "CREATE TRIGGER call_search_update AFTER UPDATE OF transcription ON call BEGIN \
       DELETE FROM call_search \
         WHERE rowid = (SELECT doc FROM call_search_doc WHERE call_id = OLD.id); \
       INSERT OR IGNORE INTO call_search_doc (call_id, organization_id, created_at) \
         SELECT NEW.id, NEW.organization_id, NEW.created_at WHERE NEW.transcription IS NOT NULL; \
       INSERT INTO call_search (rowid, transcription) \
         SELECT doc, NEW.transcription FROM call_search_doc \
         WHERE call_id = NEW.id AND NEW.transcription IS NOT NULL; \
     END",
    "CREATE TRIGGER call_search_placement AFTER UPDATE OF organization_id, created_at ON call BEGIN \
       UPDATE call_search_doc SET organization_id = NEW.organization_id, \
         created_at = NEW.created_at WHERE call_id = NEW.id; \
     END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS call_search_placement",
    "DROP TRIGGER call_search_update",
    "CREATE TRIGGER call_search_update AFTER UPDATE OF transcription ON call BEGIN \
       DELETE FROM call_search \
         WHERE rowid = (SELECT doc FROM call_search_doc WHERE call_id = OLD.id); \
       INSERT OR IGNORE INTO call_search_doc (call_id) \
         SELECT NEW.id WHERE NEW.transcription IS NOT NULL; \
       INSERT INTO call_search (rowid, transcription) \
         SELECT doc, NEW.transcription FROM call_search_doc \
         WHERE call_id = NEW.id AND NEW.transcription IS NOT NULL; \
     END",
    "DROP TRIGGER call_search_insert",
    "CREATE TRIGGER call_search_insert AFTER INSERT ON call \
     WHEN NEW.transcription IS NOT NULL BEGIN \
       INSERT INTO call_search_doc (call_id) VALUES (NEW.id); \
       INSERT INTO call_search (rowid, transcription) \
         SELECT doc, NEW.transcription FROM call_search_doc WHERE call_id = NEW.id; \
     END",
    "DROP INDEX IF EXISTS idx_call_search_doc_org_created",
    "ALTER TABLE call_search_doc DROP COLUMN created_at",
    "ALTER TABLE call_search_doc DROP COLUMN organization_id",
];

/// The words of the transcript in `column` on PostgreSQL, split as
/// `m20261206_000010_call_search` split them (a test holds the two together).
fn postgres_words(column: &str) -> String {
    format!(
        "to_tsvector('simple', regexp_replace({column}, \
         '[^[:alnum:]\\u0080-\\U0010FFFF]+', ' ', 'g'))"
    )
}

fn postgres_up() -> Vec<String> {
    vec![
        "CREATE TABLE call_search_doc (\
           call_id uuid PRIMARY KEY REFERENCES call (id) ON DELETE CASCADE, \
           organization_id uuid NOT NULL, \
           created_at timestamp with time zone NOT NULL, \
           words tsvector NOT NULL)"
            .to_owned(),
        "CREATE INDEX idx_call_search_doc_words ON call_search_doc USING GIN (words)".to_owned(),
        "CREATE INDEX idx_call_search_doc_org_created \
         ON call_search_doc (organization_id, created_at, call_id)"
            .to_owned(),
        format!(
            "CREATE FUNCTION call_search_doc_write() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF NEW.transcription IS NULL THEN \
                 DELETE FROM call_search_doc WHERE call_id = NEW.id; \
               ELSE \
                 INSERT INTO call_search_doc (call_id, organization_id, created_at, words) \
                 VALUES (NEW.id, NEW.organization_id, NEW.created_at, {new_words}) \
                 ON CONFLICT (call_id) DO UPDATE SET organization_id = EXCLUDED.organization_id, \
                   created_at = EXCLUDED.created_at, words = EXCLUDED.words; \
               END IF; \
               RETURN NULL; \
             END $$",
            new_words = postgres_words("NEW.transcription")
        ),
        "CREATE TRIGGER call_search_doc_insert AFTER INSERT ON call FOR EACH ROW \
         WHEN (NEW.transcription IS NOT NULL) EXECUTE FUNCTION call_search_doc_write()"
            .to_owned(),
        "CREATE TRIGGER call_search_doc_update AFTER UPDATE ON call FOR EACH ROW \
         WHEN (OLD.transcription IS DISTINCT FROM NEW.transcription \
           OR OLD.organization_id IS DISTINCT FROM NEW.organization_id \
           OR OLD.created_at IS DISTINCT FROM NEW.created_at) \
         EXECUTE FUNCTION call_search_doc_write()"
            .to_owned(),
        format!(
            "INSERT INTO call_search_doc (call_id, organization_id, created_at, words) \
             SELECT c.id, c.organization_id, c.created_at, {words} \
             FROM call c WHERE c.transcription IS NOT NULL",
            words = postgres_words("c.transcription")
        ),
        "DROP INDEX IF EXISTS idx_call_transcription_search".to_owned(),
        "ANALYZE call_search_doc".to_owned(),
    ]
}

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS call_search_doc_update ON call",
    "DROP TRIGGER IF EXISTS call_search_doc_insert ON call",
    "DROP FUNCTION IF EXISTS call_search_doc_write()",
    "DROP TABLE IF EXISTS call_search_doc",
    "CREATE INDEX IF NOT EXISTS idx_call_transcription_search ON call USING GIN \
     (to_tsvector('simple', regexp_replace(coalesce(transcription, ''), \
     '[^[:alnum:]\\u0080-\\U0010FFFF]+', ' ', 'g')))",
];

/// Runs `statements` as one batch: one call is one pooled connection. Apart, a statement could run
/// on a connection whose cached schema predates the one before it (SQLite then refused to
/// create a trigger the previous statement had dropped, "already exists").
async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&statements.join(";\n"))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run(manager, SQLITE_UP).await,
            DatabaseBackend::Postgres => {
                let statements = postgres_up();
                let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
                run(manager, &statements).await
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Same words as before: a transcript found by the replaced index is found by this one.
    #[test]
    fn the_documents_split_words_as_the_replaced_index_did() {
        let replaced = super::super::m20261206_000010_call_search::POSTGRES_UP[0];
        let ours = postgres_words("coalesce(transcription, '')");
        assert!(replaced.contains(&ours), "{replaced}\n{ours}");
    }
}
