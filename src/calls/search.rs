//! Text search in call transcripts, one function per database over the index the
//! `call_search` migration keeps in sync (FTS5 on SQLite, a GIN expression index on PostgreSQL).
//!
//! What matches, on both: a query is split into words at every character that is not a letter
//! or a digit, exactly as the index splits transcripts; a call matches when its transcript has,
//! for every word, a word starting with it, ignoring case. No stemming, no stop words, accents
//! kept (`cafe` does not find `café`). So `leak kitch` finds "my kitchen tap is leaking" on
//! either database, and the same data gives the same results.

use sea_orm::DatabaseBackend;
use sea_orm::sea_query::{Expr, SimpleExpr};

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

/// The condition "the call's transcript matches `terms`" on `backend`.
pub fn matching(backend: DatabaseBackend, terms: &SearchTerms) -> SimpleExpr {
    match backend {
        DatabaseBackend::Postgres => matching_postgres(terms),
        _ => matching_sqlite(terms),
    }
}

/// SQLite: FTS5 `MATCH` with each word quoted (its characters are only letters and digits, so
/// quoting cannot be escaped) and a prefix star; FTS5 ANDs the phrases.
///
/// The matches are turned into `call` rowids (through the primary key's index alone) before
/// they meet the page's scan: the rowid is in every index of `call`, so walking the
/// organization's calls newest first tests each against the matches without reading the row.
/// Tested by `id`, every call walked past was read whole, transcript included: 1.4 s and more
/// for a rare word among 1,000,000 calls (see docs/PERFORMANCE.md, "Calls list").
pub fn matching_sqlite(terms: &SearchTerms) -> SimpleExpr {
    let query = terms
        .words()
        .iter()
        .map(|w| format!("\"{w}\"*"))
        .collect::<Vec<_>>()
        .join(" ");
    Expr::cust_with_values(
        "\"call\".\"rowid\" IN (SELECT c.rowid FROM \"call\" c WHERE c.id IN \
         (SELECT d.call_id FROM call_search s \
         JOIN call_search_doc d ON d.doc = s.rowid WHERE call_search MATCH ?))",
        [query],
    )
}

/// PostgreSQL: `to_tsquery` of the words as prefixes (`w:*`) joined by `&`, against the very
/// expression the `idx_call_transcription_search` index holds (change one, change both). The
/// placeholder is `$1`: sea-query numbers PostgreSQL's, and reads `?` there as an operator.
///
/// The matching calls are collected first, through that index alone, in an `ARRAY(...)`
/// sub-query that PostgreSQL runs once; the page is then read by primary key, and the list's own
/// conditions (the organization first) keep only the caller's calls. Written as a plain filter,
/// the planner, which cannot estimate how many calls a prefix query matches, walked the
/// organization's calls newest first and computed every transcript's words until it had a
/// page: 30 s and more for a rare word among 1,000,000 calls. The sub-query leaves the
/// organization out on purpose: with it, the prepared statement's generic plan ANDed the
/// organization's million-row bitmap into every search (130 ms for a word in 10 calls; see
/// docs/PERFORMANCE.md, "Calls list"). Inside the sub-query `"call"` is its own row.
pub fn matching_postgres(terms: &SearchTerms) -> SimpleExpr {
    let query = terms
        .words()
        .iter()
        .map(|w| format!("{w}:*"))
        .collect::<Vec<_>>()
        .join(" & ");
    Expr::cust_with_values(
        format!(
            "\"call\".\"id\" = ANY(ARRAY(SELECT \"call\".\"id\" FROM \"call\" \
             WHERE {POSTGRES_DOCUMENT} @@ to_tsquery('simple', $1)))"
        ),
        [query],
    )
}

/// The words of a call's transcript on PostgreSQL: the expression `idx_call_transcription_search`
/// indexes, with its column qualified.
const POSTGRES_DOCUMENT: &str = "to_tsvector('simple', regexp_replace(coalesce(\"call\".\"transcription\", ''), \
     '[^[:alnum:]\\u0080-\\U0010FFFF]+', ' ', 'g'))";

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
    fn the_postgres_query_reads_the_indexed_expression() {
        let indexed = crate::migration::postgres_search_index();
        let ours = POSTGRES_DOCUMENT.replace("\"call\".\"transcription\"", "transcription");
        assert!(indexed.contains(&ours), "{indexed}\n{ours}");
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
