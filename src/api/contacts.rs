//! `/api/contacts`: the organization's contacts, searched and paged, one with its recent calls,
//! and editing one.

use axum::extract::State;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::contacts::list::{ContactPage, ContactQuery};
use crate::contacts::read::ContactDetails;
use crate::contacts::update::ContactInput;
use crate::contacts::{self, ContactError, ContactView};
use crate::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::paging;

permissions! {
    ListContacts = "Contact:Collection:List",
    ReadContact = "Contact:Instance:Read",
    UpdateContact = "Contact:Instance:Update",
}

/// The query of `GET /api/contacts`; every field optional.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Text in the name, e-mail or company, or digits of a number.
    q: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 200; 50 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// The organization's contacts, searched, a page at a time.
///
/// Newest first; `next_cursor` is `null` on the last page.
#[utoipa::path(
    get,
    path = "/api/contacts",
    tag = "contacts",
    operation_id = "contacts_list",
    params(ListParams),
    responses(
        (status = 200, description = "A page of contacts.", body = ContactPage),
        (status = 400, body = ErrorBody, description = "`bad_request`: a query value that cannot \
            be used (the message names it)."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/api/contacts/{id}",
    tag = "contacts",
    operation_id = "contacts_read",
    params(("id" = Uuid, Path, description = "The contact's id.")),
    responses(
        (status = 200, description = "The contact with its recent calls.", body = ContactDetails),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadContact>,
    Path(id): Path<Uuid>,
) -> Result<Json<ContactDetails>, ApiError> {
    Ok(Json(
        contacts::read::read(&state.db, member.org_id(), id).await?,
    ))
}

/// Edits a contact.
///
/// Replaces the contact's name, e-mail, company and notes (absent or blank clears one); 422
/// with every bad field.
#[utoipa::path(
    put,
    path = "/api/contacts/{id}",
    tag = "contacts",
    operation_id = "contacts_update",
    params(("id" = Uuid, Path, description = "The contact's id.")),
    request_body = ContactInput,
    responses(
        (status = 200, description = "The contact as it now is.", body = ContactView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = InvalidInput),
    ),
)]
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
