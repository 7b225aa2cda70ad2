//! `/api/invitations`: inviting people by e-mail, and the invited person's side (what a link
//! invites to, accepting it).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{MeResponse, me, sign_in};
use crate::api::members::{AddMember, ListMembers};
use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, CurrentMember, RequestClient};
use crate::error::{ApiError, ErrorBody, Json, Path};
use crate::orgs::invitations::{self, Acceptor, InvitationView, Inviter, Sent};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct InviteRequest {
    /// Who to invite.
    email: String,
    /// Roles of the organization the person gets on accepting.
    #[serde(default)]
    role_ids: Vec<Uuid>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SentInvitation {
    pub invitation: InvitationView,
    /// The link, only when this server cannot send e-mail (no `LOQUENT_SMTP_URL`): pass it on
    /// yourself. It is shown this once; resending makes a new one. Null when the link is mailed.
    pub link: Option<String>,
}

/// The answer for a sent invitation, with its link when it was not mailed (else the mail job
/// is woken).
fn sent_view(state: &AppState, sent: Sent) -> Result<SentInvitation, ApiError> {
    let link = match sent.token {
        Some(token) => Some(
            invitations::link(&state.config.server.public_url, &token)
                .map_err(ApiError::internal)?
                .to_string(),
        ),
        None => {
            state.jobs_wake.notify_one();
            None
        }
    };
    Ok(SentInvitation {
        invitation: sent.invitation,
        link,
    })
}

/// The organization's invitations that were neither accepted nor revoked, newest first.
#[utoipa::path(
    get,
    path = "/api/invitations",
    tag = "invitations",
    operation_id = "invitations_list",
    responses(
        (status = 200, description = "Pending and expired invitations.",
            body = Vec<InvitationView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListMembers>,
) -> Result<Json<Vec<InvitationView>>, ApiError> {
    Ok(Json(
        invitations::list(&state.db, member.org_id(), Utc::now()).await?,
    ))
}

/// Invites a person by e-mail.
///
/// The link works once, for 7 days. It is mailed when this server can send e-mail; otherwise
/// the answer carries it (`link`) for you to pass on. A person with an account already signs
/// in to accept; anyone else chooses a password.
#[utoipa::path(
    post,
    path = "/api/invitations",
    tag = "invitations",
    operation_id = "invitations_create",
    request_body = InviteRequest,
    responses(
        (status = 201, description = "Invited.", body = SentInvitation),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conflict`: the person is a member \
            already or has a pending invitation."),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    member: Allowed<AddMember>,
    Json(req): Json<InviteRequest>,
) -> Result<(StatusCode, Json<SentInvitation>), ApiError> {
    let sent = invitations::invite(
        &state.db,
        member.org_id(),
        Inviter {
            user_id: member.user.id,
            permissions: member.granter(),
        },
        &req.email,
        &req.role_ids,
        state.invitation_delivery(),
        Utc::now(),
    )
    .await?;
    tracing::info!(org_id = %member.org_id(), invitation_id = %sent.invitation.id, "invited");
    Ok((StatusCode::CREATED, Json(sent_view(&state, sent)?)))
}

/// Sends the invitation again with a new link, working for another 7 days; the old link stops
/// working.
#[utoipa::path(
    post,
    path = "/api/invitations/{id}/resend",
    tag = "invitations",
    operation_id = "invitations_resend",
    params(("id" = Uuid, Path, description = "The invitation's id.")),
    responses(
        (status = 200, description = "Sent again.", body = SentInvitation),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn resend(
    State(state): State<AppState>,
    member: Allowed<AddMember>,
    Path(id): Path<Uuid>,
) -> Result<Json<SentInvitation>, ApiError> {
    let sent = invitations::resend(
        &state.db,
        member.org_id(),
        id,
        state.invitation_delivery(),
        Utc::now(),
    )
    .await?;
    Ok(Json(sent_view(&state, sent)?))
}

/// Revokes an invitation: its link stops working.
#[utoipa::path(
    delete,
    path = "/api/invitations/{id}",
    tag = "invitations",
    operation_id = "invitations_revoke",
    params(("id" = Uuid, Path, description = "The invitation's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    member: Allowed<AddMember>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    invitations::revoke(&state.db, member.org_id(), id, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct InvitationToken {
    /// The `token` of the invitation's link.
    token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationPreview {
    /// The organization's name.
    organization: String,
    /// The invited e-mail.
    email: String,
    /// Who invited them (null when that account is gone).
    invited_by: Option<String>,
    expires_at: DateTime<Utc>,
    /// Whether an account has the invited e-mail: then the person signs in to accept, else
    /// they choose a password.
    has_account: bool,
}

/// What an invitation's link invites to.
#[utoipa::path(
    post,
    path = "/api/invitations/preview",
    tag = "invitations",
    operation_id = "invitations_preview",
    security(()),
    request_body = InvitationToken,
    responses(
        (status = 200, description = "The invitation.", body = InvitationPreview),
        (status = 400, body = ErrorBody, description = "`bad_request`: the link was used, \
            revoked, has expired or is not one we sent."),
    ),
)]
pub async fn preview(
    State(state): State<AppState>,
    Json(req): Json<InvitationToken>,
) -> Result<Json<InvitationPreview>, ApiError> {
    let preview = invitations::preview(&state.db, &req.token, Utc::now()).await?;
    Ok(Json(InvitationPreview {
        organization: preview.organization_name,
        email: preview.email.to_string(),
        invited_by: preview.invited_by,
        expires_at: preview.expires_at,
        has_account: preview.has_account,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AcceptInvitation {
    /// The `token` of the invitation's link.
    token: String,
    /// Not signed in: the password of the invited e-mail's account, or, without one, the new
    /// account's password (8 to 256 characters). Ignored when signed in.
    password: Option<String>,
}

/// Accepts an invitation.
///
/// Signed in as the invited e-mail's account: joins the organization, and this session acts
/// for it from now on. Not signed in: with the password of the invited e-mail's account (checked
/// and throttled like sign-in), joins and signs in; without an account, creates it with
/// `password`, joins and signs in. The link works once.
#[utoipa::path(
    post,
    path = "/api/invitations/accept",
    tag = "invitations",
    operation_id = "invitations_accept",
    security((), ("session" = [])),
    request_body = AcceptInvitation,
    responses(
        (status = 200, description = "Joined; the session acts for the organization (a new \
            session cookie is set when the password signed in).", body = MeResponse),
        (status = 201, description = "Account created, joined and signed in; the session \
            cookie is set.", body = MeResponse,
            headers(("Set-Cookie" = String, description = "The `loquent_session` cookie."))),
        (status = 400, body = ErrorBody, description = "`bad_request`: the link was used, \
            revoked, has expired or is not one we sent."),
        (status = 401, description = "`invalid_credentials`: the account's password is wrong.",
            body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`conflict`: the invited e-mail has an \
            account and no password was given, or the session is another person's."),
        (status = 422, response = InvalidInput),
        (status = 429, description = "`too_many_requests`: too many password attempts; \
            `Retry-After` says how many seconds to wait.", body = ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds to wait."))),
    ),
)]
pub async fn accept(
    State(state): State<AppState>,
    RequestClient(client): RequestClient,
    current: Option<CurrentMember>,
    Json(req): Json<AcceptInvitation>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    if let Some(current) = current {
        let accepted =
            invitations::accept(&state.db, &req.token, Acceptor::Account(&current.user), now)
                .await?;
        crate::orgs::membership::switch(
            &state.db,
            current.session_id,
            accepted.user_id,
            accepted.organization_id,
        )
        .await?;
        let member = CurrentMember::from_session_id(&state.db, current.session_id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        tracing::info!(org_id = %accepted.organization_id, user_id = %accepted.user_id,
            "invitation accepted");
        return Ok(Json(me(&member)).into_response());
    }
    // What is wrong with the link comes first, then whose account it is.
    let preview = invitations::preview(&state.db, &req.token, now).await?;
    let Some(password) = req.password.as_deref() else {
        if preview.has_account {
            return Err(crate::orgs::OrgError::SignInToAccept(preview.email).into());
        }
        return Err(ApiError::Unprocessable(
            "choose a password for the new account (password)".to_owned(),
        ));
    };
    let (accepted, status) = if preview.has_account {
        let user = crate::users::login::check_credentials(
            &state.db,
            preview.email.as_str(),
            password,
            &client,
        )
        .await?;
        let accepted =
            invitations::accept(&state.db, &req.token, Acceptor::Account(&user), now).await?;
        (accepted, StatusCode::OK)
    } else {
        let accepted = invitations::accept(
            &state.db,
            &req.token,
            Acceptor::NewAccount { password },
            now,
        )
        .await?;
        (accepted, StatusCode::CREATED)
    };
    tracing::info!(org_id = %accepted.organization_id, user_id = %accepted.user_id,
        "invitation accepted");
    sign_in(&state, status, accepted.user_id, accepted.organization_id).await
}
