//! The organization's analyzers: a prompt run over the transcript of every call to the numbers
//! it is attached to (`phone_number_analyzer`), each run appended to the call as a
//! `call_analysis` row (`run.rs`). An analyzer marked default for new numbers is attached to the
//! numbers the organization imports or buys later ([`attach_defaults`]).
//!
//! This module is the home of `analyzer`, `phone_number_analyzer` and `call_analysis`: nothing
//! else writes them.

pub mod delete;
pub mod run;
pub mod save;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use serde::Serialize;
use uuid::Uuid;

pub use save::AnalyzerInput;

use crate::entity::{analyzer, phone_number_analyzer};
use crate::validation::FieldError;

/// Why an analyzer could not be found or saved.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    /// Another organization's analyzer is as unknown as a missing one.
    #[error("analyzer not found")]
    NotFound,
    #[error("{}", FieldError::summary(.0))]
    InvalidFields(Vec<FieldError>),
    #[error("database error")]
    Database(#[from] DbErr),
}

/// An analyzer as the API shows it, with the numbers whose calls it analyzes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnalyzerView {
    pub id: Uuid,
    pub name: String,
    pub prompt: String,
    pub active: bool,
    /// Attached to the numbers imported or bought from now on.
    pub is_default: bool,
    pub phone_number_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AnalyzerView {
    fn new(a: analyzer::Model, phone_number_ids: Vec<Uuid>) -> Self {
        Self {
            id: a.id,
            name: a.name,
            prompt: a.prompt,
            active: a.active,
            is_default: a.is_default,
            phone_number_ids,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// The organization's analyzers by name, each with its numbers.
pub async fn list(db: &impl ConnectionTrait, org_id: Uuid) -> Result<Vec<AnalyzerView>, DbErr> {
    let analyzers = analyzer::Entity::find()
        .filter(analyzer::Column::OrganizationId.eq(org_id))
        .order_by_asc(analyzer::Column::Name)
        .order_by_asc(analyzer::Column::Id)
        .all(db)
        .await?;
    let mut numbers = attached_numbers(db, org_id, None).await?;
    Ok(analyzers
        .into_iter()
        .map(|a| {
            let ids = numbers.remove(&a.id).unwrap_or_default();
            AnalyzerView::new(a, ids)
        })
        .collect())
}

/// One of the organization's analyzers; another organization's is "not found".
pub async fn find(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
) -> Result<analyzer::Model, AnalyzerError> {
    analyzer::Entity::find_by_id(id)
        .filter(analyzer::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?
        .ok_or(AnalyzerError::NotFound)
}

/// [`find`], with the analyzer's numbers.
pub async fn read(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    id: Uuid,
) -> Result<AnalyzerView, AnalyzerError> {
    let found = find(db, org_id, id).await?;
    let ids = attached_numbers(db, org_id, Some(id))
        .await?
        .remove(&id)
        .unwrap_or_default();
    Ok(AnalyzerView::new(found, ids))
}

/// The numbers each of the organization's analyzers (or only `analyzer_id`) is attached to, in
/// the order the numbers were added to the organization (their ids are UUIDv7).
async fn attached_numbers(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    analyzer_id: Option<Uuid>,
) -> Result<HashMap<Uuid, Vec<Uuid>>, DbErr> {
    let mut query = phone_number_analyzer::Entity::find()
        .filter(phone_number_analyzer::Column::OrganizationId.eq(org_id));
    if let Some(id) = analyzer_id {
        query = query.filter(phone_number_analyzer::Column::AnalyzerId.eq(id));
    }
    let links = query
        .order_by_asc(phone_number_analyzer::Column::PhoneNumberId)
        .all(db)
        .await?;
    let mut by_analyzer: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for link in links {
        by_analyzer
            .entry(link.analyzer_id)
            .or_default()
            .push(link.phone_number_id);
    }
    Ok(by_analyzer)
}

/// Attaches the organization's active default analyzers to its new number `phone_number_id`, so
/// its calls are analyzed without further setup. Run it in the transaction that inserts the
/// number: a number is never left without the defaults it was meant to get.
pub async fn attach_defaults(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    phone_number_id: Uuid,
) -> Result<usize, DbErr> {
    let defaults = analyzer::Entity::find()
        .filter(analyzer::Column::OrganizationId.eq(org_id))
        .filter(analyzer::Column::IsDefault.eq(true))
        .filter(analyzer::Column::Active.eq(true))
        .all(db)
        .await?;
    for default in &defaults {
        phone_number_analyzer::ActiveModel {
            phone_number_id: Set(phone_number_id),
            analyzer_id: Set(default.id),
            organization_id: Set(org_id),
            created_at: Set(Utc::now()),
        }
        .insert(db)
        .await?;
    }
    Ok(defaults.len())
}
