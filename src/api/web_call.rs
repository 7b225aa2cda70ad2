//! `GET /api/agents/{id}/web-call`: a member talks to an agent from the browser.

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::openapi::{NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, SameOrigin, permissions};
use crate::error::{ApiError, ErrorBody, Path, Query};
use crate::telephony::media_socket::{Upgrade, UpgradeRejection};
use crate::telephony::wake::ConnectionSocket;
use crate::telephony::web_call::{self, WebCaller};

permissions! {
    PlaceWebCall = "Call:Collection:Create",
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebCallQuery {
    /// One of the agent's numbers: the call is kept as a call to it, and its analyzers run on
    /// it. Without it, the agent's oldest number (if it has one).
    phone_id: Option<Uuid>,
    /// Call as this contact of the organization (needs `Contact:Instance:Read`): the agent is
    /// told their name and notes as for a phone call (when the agent does that), the call is
    /// theirs, and its post-call steps update them.
    contact_id: Option<Uuid>,
}

/// Talk to an agent (WebSocket).
///
/// Upgrades to a call with the agent: the same agent, tools and post-call steps as a phone call,
/// with the browser in the caller's place. Checked before the upgrade, in this order: the page's
/// origin (403), the session (401), the permission `Call:Collection:Create` (403), the agent
/// (404), and the number and contact when given (404).
#[utoipa::path(
    get,
    path = "/api/agents/{id}/web-call",
    tag = "agents",
    operation_id = "agents_web_call",
    description = "The GET that opens a WebSocket (an RFC 6455 upgrade). Binary messages are \
        PCM16 little-endian mono at 24 kHz both ways (the page sends 20 ms frames). Text \
        messages are JSON with a `type`: from the server `started` (`call_id`), `transcript` \
        (`speaker`: `caller` or `agent`, `text`), `mark` (`name`: echo it back once the audio \
        before it has played), `clear` (drop the agent audio not played yet) and `end` \
        (`reason`); from the page `mark` (the echo) and `end` (hang up). The call is stored with \
        `source` `web` and recorded (caller left, agent right).",
    params(
        ("id" = Uuid, Path, description = "The agent's id."),
        WebCallQuery,
    ),
    responses(
        (status = 101, description = "Switched to the call's WebSocket."),
        (status = 400, content_type = "text/plain", body = String, description = "Not a \
            WebSocket upgrade (also 426)."),
        (status = 401, response = Unauthorized),
        (status = 403, body = ErrorBody, description = "`cross_origin`: the `Origin` header is \
            not this server's public origin; or `forbidden`/`no_organization`."),
        (status = 404, response = NotFound),
    ),
)]
pub async fn open(
    _: SameOrigin,
    State(state): State<AppState>,
    member: Allowed<PlaceWebCall>,
    Path(agent_id): Path<Uuid>,
    Query(query): Query<WebCallQuery>,
    connection: Option<Extension<ConnectInfo<ConnectionSocket>>>,
    upgrade: Result<Upgrade, UpgradeRejection>,
) -> Result<Response, ApiError> {
    let org_id = member.org_id();
    let agent = crate::agents::find(&state.db, org_id, agent_id).await?;
    let number = web_call::number_of_agent(&state.db, org_id, agent.id, query.phone_id).await?;
    if query.phone_id.is_some() && number.is_none() {
        return Err(ApiError::NotFound("number of this agent"));
    }
    let contact = match query.contact_id {
        Some(id) => {
            member.require("Contact:Instance:Read")?;
            Some(crate::contacts::find(&state.db, org_id, id).await?)
        }
        None => None,
    };
    // Whose agent it is comes first: another organization's is "not found" however it is asked.
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let org = crate::orgs::twilio::reload(&state.db, org_id).await?;
    let caller = WebCaller {
        org,
        agent,
        number,
        contact,
        member_email: member.user.email.clone(),
    };
    let connection = connection.map(|Extension(ConnectInfo(c))| c);
    // The bridge batches the page's audio with the socket's receive threshold.
    if let Some(connection) = &connection {
        connection.want_descriptor();
    }
    Ok(upgrade.on_upgrade(
        web_call::READ_BUFFER_BYTES,
        web_call::MAX_FRAME_BYTES,
        move |socket| web_call::run(state, socket, connection, caller),
    ))
}
