//! Text search in call transcripts, one function per database over the search documents the
//! `call_search` and `search_doc` migrations keep in sync (FTS5 on SQLite, a GIN-indexed
//! `tsvector` on PostgreSQL).
//!
//! What matches, on both: a query is split into words at every character that is not a letter
//! or a digit, exactly as the index splits transcripts; a call matches when its transcript has,
//! for every word, a word starting with it, ignoring case. No stemming, no stop words, accents
//! kept (`cafe` does not find `café`). So `leak kitch` finds "my kitchen tap is leaking" on
//! either database, and the same data gives the same results.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryTrait,
    Select, Statement,
};
use uuid::Uuid;

use crate::entity::call;

/// The most words a query may have.
pub const MAX_WORDS: usize = 16;
/// The longest query, in characters.
pub const MAX_CHARS: usize = 200;

/// A transcript query's words: lower-cased, each only letters and digits, at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidSearch {
    #[error("q has no word to search for: use letters or digits")]
    NoWords,
    #[error("q is too long: at most {MAX_CHARS} characters and {MAX_WORDS} words")]
    TooLong,
}

impl SearchTerms {
    pub fn parse(query: &str) -> Result<Self, InvalidSearch> {
        if query.chars().count() > MAX_CHARS {
            return Err(InvalidSearch::TooLong);
        }
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return Err(InvalidSearch::NoWords);
        }
        if words.len() > MAX_WORDS {
            return Err(InvalidSearch::TooLong);
        }
        Ok(Self(words))
    }

    pub fn words(&self) -> &[String] {
        &self.0
    }
}

/// The table of search documents, one per transcribed call: `call_id`, `organization_id` and
/// `created_at` copied from the call (the `search_doc` migration's triggers keep them), and the
/// words.
pub const DOC: &str = "call_search_doc";

/// Up to this many matching documents (every organization's), a search reads the matches and
/// sorts them; beyond, it walks the organization's documents newest first.
pub const FEW: u64 = 2_000;

/// How a search reads its page, chosen by how many documents match (see [`plan`]).
///
/// Neither database can tell from its statistics how many calls a prefix query matches (and a
/// prepared statement's generic plan does not even see the words), and each reading is fast
/// only on its side of the line: measured on 1,000,000 calls (docs/PERFORMANCE.md, "Calls list"),
/// reading and sorting a word in 17,000 transcripts took 50 ms (PostgreSQL) to 145 ms (SQLite),
/// walking took 2 to 5 ms; for a word in 16 transcripts, walking took 95 ms (SQLite) to 275 ms
/// (PostgreSQL), reading them 0.4 to 6 ms. Counting the matches up to [`FEW`] first costs a
/// millisecond or two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// At most [`FEW`] matches: collect them all (through the word index), keep the
    /// organization's, read those calls by primary key and sort them.
    Collect,
    /// More: walk the organization's documents newest first (`idx_call_search_doc_org_created`)
    /// and test each, stopping at a page. The page is ordered and cursored on the documents'
    /// copies of `created_at` and the call id, which equal the call's.
    Walk,
}

/// The reading for `terms`: one capped count of the matching documents.
pub async fn plan(db: &impl ConnectionTrait, terms: &SearchTerms) -> Result<Reading, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM \"{DOC}\" \
             WHERE words @@ to_tsquery('simple', $1) LIMIT {limit}) AS m",
            limit = FEW + 1
        ),
        _ => format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM call_search \
             WHERE call_search MATCH ? LIMIT {limit}) AS m",
            limit = FEW + 1
        ),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [query_text(backend, terms).into()],
        ))
        .await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(if u64::try_from(n).unwrap_or(0) <= FEW {
        Reading::Collect
    } else {
        Reading::Walk
    })
}

/// The organization's calls whose transcripts match `terms`, read as `reading` says, and the
/// expressions to order and page them on (`created_at`, id).
pub fn calls(
    backend: DatabaseBackend,
    org_id: Uuid,
    terms: &SearchTerms,
    reading: Reading,
) -> (Select<call::Entity>, Expr, Expr) {
    let text = query_text(backend, terms);
    match reading {
        Reading::Collect => {
            let (scope, matching) = match backend {
                // `id = ANY(ARRAY(...))`: the matches are collected once through the GIN
                // index, and the calls read by primary key.
                DatabaseBackend::Postgres => (
                    call::Column::OrganizationId.eq(org_id),
                    Expr::cust_with_values(
                        format!(
                            "\"call\".\"id\" = ANY(ARRAY(SELECT call_id FROM \"{DOC}\" \
                             WHERE words @@ to_tsquery('simple', $1)))"
                        ),
                        [text],
                    ),
                ),
                // The unary `+` keeps SQLite off the organization's index, which it would
                // otherwise walk (in order, so it needs no sort) testing every call: without
                // statistics it cannot know the matches are few.
                _ => (
                    Expr::cust_with_values("+\"call\".\"organization_id\" = ?", [org_id]),
                    Expr::cust_with_values(
                        format!(
                            "\"call\".\"id\" IN (SELECT call_id FROM \"{DOC}\" WHERE doc IN \
                             (SELECT rowid FROM call_search WHERE call_search MATCH ?))"
                        ),
                        [text],
                    ),
                ),
            };
            (
                call::Entity::find().filter(scope).filter(matching),
                Expr::col((call::Entity, call::Column::CreatedAt)),
                Expr::col((call::Entity, call::Column::Id)),
            )
        }
        Reading::Walk => {
            let doc = || Alias::new(DOC);
            let matching = match backend {
                DatabaseBackend::Postgres => Expr::cust_with_values(
                    format!("\"{DOC}\".\"words\" @@ to_tsquery('simple', $1)"),
                    [text],
                ),
                // The matches' FTS5 row numbers are the documents' own keys: collected once,
                // then each document walked past is tested without reading a row.
                _ => Expr::cust_with_values(
                    format!(
                        "\"{DOC}\".\"doc\" IN \
                         (SELECT rowid FROM call_search WHERE call_search MATCH ?)"
                    ),
                    [text],
                ),
            };
            let mut select = call::Entity::find();
            QueryTrait::query(&mut select).join(
                JoinType::InnerJoin,
                doc(),
                Expr::col((doc(), Alias::new("call_id"))).equals((call::Entity, call::Column::Id)),
            );
            (
                select
                    .filter(call::Column::OrganizationId.eq(org_id))
                    .filter(Expr::col((doc(), Alias::new("organization_id"))).eq(org_id))
                    .filter(matching),
                Expr::col((doc(), Alias::new("created_at"))),
                Expr::col((doc(), Alias::new("call_id"))),
            )
        }
    }
}

/// The words as each database's query language takes them. SQLite: FTS5 phrases, each word
/// quoted (its characters are only letters and digits, so quoting cannot be escaped) with a
/// prefix star; FTS5 ANDs them. PostgreSQL: `to_tsquery` prefixes (`w:*`) joined by `&`; its
/// placeholder is `$1` (sea-query numbers PostgreSQL's, and reads `?` there as an operator).
fn query_text(backend: DatabaseBackend, terms: &SearchTerms) -> String {
    match backend {
        DatabaseBackend::Postgres => terms
            .words()
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & "),
        _ => terms
            .words()
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_split_into_lowercase_words_like_the_index() {
        let terms = SearchTerms::parse("  Kitchen-tap, LEAK's café 42 ").unwrap();
        assert_eq!(
            terms.words(),
            ["kitchen", "tap", "leak", "s", "café", "42"].map(String::from)
        );
        assert_eq!(SearchTerms::parse(" -- !"), Err(InvalidSearch::NoWords));
        assert_eq!(SearchTerms::parse(""), Err(InvalidSearch::NoWords));
        assert_eq!(
            SearchTerms::parse(&"a ".repeat(MAX_WORDS + 1)),
            Err(InvalidSearch::TooLong)
        );
        assert_eq!(
            SearchTerms::parse(&"a".repeat(MAX_CHARS + 1)),
            Err(InvalidSearch::TooLong)
        );
    }

    #[test]
    fn quotes_and_operators_never_reach_the_query_syntax() {
        let terms = SearchTerms::parse("\"tap\" OR * NEAR(x) & !leak:*").unwrap();
        assert!(
            terms
                .words()
                .iter()
                .all(|w| w.chars().all(char::is_alphanumeric))
        );
    }
}
