//! `GET /api/getting-started`: the steps from an empty organization to its first call, each
//! ticked from what exists (see [`crate::orgs::getting_started`]).

use axum::extract::State;

use crate::api::openapi::Unauthorized;
use crate::app::AppState;
use crate::auth::CurrentMember;
use crate::error::{ApiError, Json};
use crate::orgs::getting_started::{self, Checklist};

/// The getting-started checklist of the current organization. Any member may read it: it says
/// whether each step is done, and links to a call only for a member who may open calls.
#[utoipa::path(
    get,
    path = "/api/getting-started",
    tag = "settings",
    operation_id = "getting_started_read",
    responses(
        (status = 200, body = Checklist, description = "The steps, in order, each with whether \
            it is done and the dashboard page where it is done."),
        (status = 401, response = Unauthorized),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: CurrentMember,
) -> Result<Json<Checklist>, ApiError> {
    Ok(Json(
        getting_started::read(
            &state.db,
            member.org_id(),
            state.sandbox.is_some(),
            member.can("Call:Instance:Read"),
        )
        .await?,
    ))
}
