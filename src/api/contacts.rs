//! `/api/contacts`: the organization's contacts, searched and paged, one with its recent calls,
//! and editing one.

use axum::extract::State;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::contacts::list::{ContactPage, ContactQuery};
use crate::contacts::read::ContactDetails;
use crate::contacts::update::ContactInput;
use crate::contacts::{self, ContactError, ContactView};
use crate::error::{ApiError, Json, Path, Query};
use crate::paging;

permissions! {
    ListContacts = "Contact:Collection:List",
    ReadContact = "Contact:Instance:Read",
    UpdateContact = "Contact:Instance:Update",
}

/// The query of `GET /api/contacts`; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Text in the name, e-mail or company, or digits of a number.
    q: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 200; 50 when absent.
    limit: Option<String>,
}

/// Newest first; `next_cursor` is `null` on the last page.
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListContacts>,
    Query(params): Query<ListParams>,
) -> Result<Json<ContactPage>, ApiError> {
    let bad = |e: paging::PagingError| ContactError::InvalidQuery(e.to_string());
    let query = ContactQuery {
        search: params.q,
        cursor: paging::parse_cursor(params.cursor.as_deref()).map_err(bad)?,
        limit: paging::parse_limit(params.limit.as_deref()).map_err(bad)?,
    };
    Ok(Json(
        contacts::list::list(&state.db, member.org_id(), &query).await?,
    ))
}

/// The contact, its numbers and its most recent calls.
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadContact>,
    Path(id): Path<Uuid>,
) -> Result<Json<ContactDetails>, ApiError> {
    Ok(Json(
        contacts::read::read(&state.db, member.org_id(), id).await?,
    ))
}

/// Replaces the contact's name, e-mail, company and notes (absent or blank clears one); 422
/// with every bad field.
pub async fn update(
    State(state): State<AppState>,
    member: Allowed<UpdateContact>,
    Path(id): Path<Uuid>,
    Json(input): Json<ContactInput>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(
        contacts::update::update(&state.db, member.org_id(), id, &input).await?,
    ))
}
