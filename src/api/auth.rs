//! `/api/auth/*`: sign-up, sign-in, sign-out and "who am I".

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{CurrentMember, RequestClient, session};
use crate::entity::{organization, user};
use crate::error::{ApiError, ErrorBody, Json};
use crate::paging;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignupRequest {
    email: String,
    password: String,
    organization_name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    id: Uuid,
    email: String,
    name: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    id: Uuid,
    name: String,
    byo_twilio: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    user: UserView,
    organization: OrganizationView,
    is_owner: bool,
    permissions: Vec<String>,
}

impl From<&user::Model> for UserView {
    fn from(u: &user::Model) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
        }
    }
}

impl From<&organization::Model> for OrganizationView {
    fn from(o: &organization::Model) -> Self {
        Self {
            id: o.id,
            name: o.name.clone(),
            byo_twilio: o.byo_twilio,
        }
    }
}

pub(crate) fn me(member: &CurrentMember) -> MeResponse {
    let permissions = if member.member.is_owner {
        vec!["*:*:*".to_owned()]
    } else {
        member
            .permissions
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    };
    MeResponse {
        user: (&member.user).into(),
        organization: (&member.organization).into(),
        is_owner: member.member.is_owner,
        permissions,
    }
}

/// Signs in `user` to `org` and answers with the session cookie and their profile.
pub(crate) async fn sign_in(
    state: &AppState,
    status: StatusCode,
    user_id: Uuid,
    org_id: Uuid,
) -> Result<Response, ApiError> {
    let token = session::start(&state.db, &state.config, user_id, org_id).await?;
    let member = CurrentMember::from_token(&state.db, &token)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("fresh session did not resolve")))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        session::session_cookie(&state.config, &token),
    );
    Ok((status, headers, Json(me(&member))).into_response())
}

/// Creates an account and its organization, with the new user as its owner, and signs them in.
#[utoipa::path(
    post,
    path = "/api/auth/signup",
    tag = "auth",
    operation_id = "auth_signup",
    security(()),
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Signed up and in; the session cookie is set.",
            body = MeResponse,
            headers(("Set-Cookie" = String, description = "The `loquent_session` cookie."))),
        (status = 400, response = BadRequest),
        (status = 409, body = ErrorBody, description = "`conflict`: the e-mail already has an \
            account."),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn signup(
    State(state): State<AppState>,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let account =
        crate::users::signup::sign_up(&state.db, &req.email, &req.password, &req.organization_name)
            .await?;
    tracing::info!(org_id = %account.organization.id, user_id = %account.user.id, "signed up");
    sign_in(
        &state,
        StatusCode::CREATED,
        account.user.id,
        account.organization.id,
    )
    .await
}

/// Signs in with e-mail and password.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    operation_id = "auth_login",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set.", body = MeResponse,
            headers(("Set-Cookie" = String, description = "The `loquent_session` cookie."))),
        (status = 400, response = BadRequest),
        (status = 401, description = "`invalid_credentials`: the e-mail or the password is wrong \
            (the same whether or not the account exists).", body = ErrorBody),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidInput),
        (status = 429, description = "`too_many_requests`: too many attempts for this e-mail or \
            from this address (the same whether or not the account exists); `Retry-After` says \
            how many seconds to wait.", body = ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds before the next attempt is \
            checked."))),
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    RequestClient(client): RequestClient,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let (user, member) =
        crate::users::login::authenticate(&state.db, &req.email, &req.password, &client).await?;
    sign_in(&state, StatusCode::OK, user.id, member.organization_id).await
}

/// Ends the session (if any) and clears the cookie.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    operation_id = "auth_logout",
    security((), ("session" = [])),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared.",
            headers(("Set-Cookie" = String,
                description = "The expired `loquent_session` cookie."))),
    ),
)]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = session::read_cookie(&headers, session::COOKIE) {
        session::end(&state.db, token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            session::clear_session_cookie(&state.config),
        )],
    )
        .into_response())
}

/// Who is signed in, in which organization, with which permissions (`*:*:*` for the owner).
#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    operation_id = "auth_current",
    responses(
        (status = 200, description = "The signed-in member.", body = MeResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn current(member: CurrentMember) -> Json<MeResponse> {
    Json(me(&member))
}

/// The query of `GET /api/auth/sign-ins`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignInParams {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 200; 50 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// One password sign-in to the account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInView {
    id: Uuid,
    /// `false`: a wrong password (or an account without an organization).
    succeeded: bool,
    /// The client's address, as the server saw it (see `LOQUENT_TRUSTED_PROXIES`).
    address: Option<String>,
    user_agent: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInPage {
    items: Vec<SignInView>,
    /// Where the next page starts; `null` on the last page.
    next_cursor: Option<String>,
}

/// The signed-in user's own sign-in history.
///
/// Every password sign-in to the account, successful or not, newest first (attempts refused
/// for being too many are not listed: they never reached the password).
#[utoipa::path(
    get,
    path = "/api/auth/sign-ins",
    tag = "auth",
    operation_id = "auth_sign_ins",
    params(SignInParams),
    responses(
        (status = 200, description = "A page of sign-ins.", body = SignInPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn sign_ins(
    State(state): State<AppState>,
    member: CurrentMember,
    params: Result<Query<SignInParams>, QueryRejection>,
) -> Result<Json<SignInPage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let bad = |e: paging::PagingError| ApiError::BadRequest(e.to_string());
    let cursor = paging::parse_cursor(params.cursor.as_deref()).map_err(bad)?;
    let limit = paging::parse_limit(params.limit.as_deref()).map_err(bad)?;
    let (rows, next_cursor) =
        crate::users::sign_ins::of_user(&state.db, member.user.id, cursor.as_ref(), limit).await?;
    Ok(Json(SignInPage {
        items: rows
            .into_iter()
            .map(|r| SignInView {
                id: r.id,
                succeeded: r.succeeded,
                address: r.address,
                user_agent: r.user_agent,
                created_at: r.created_at,
            })
            .collect(),
        next_cursor,
    }))
}

/// One of the signed-in person's organizations.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrganizationChoice {
    id: Uuid,
    name: String,
    is_owner: bool,
    /// The organization this session acts for.
    current: bool,
}

/// The organizations the signed-in person belongs to, by name.
///
/// The session acts for one of them (`current`); `POST /api/auth/switch-organization` changes
/// which.
#[utoipa::path(
    get,
    path = "/api/auth/organizations",
    tag = "auth",
    operation_id = "auth_organizations",
    responses(
        (status = 200, description = "The person's organizations.",
            body = Vec<OrganizationChoice>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn organizations(
    State(state): State<AppState>,
    member: CurrentMember,
) -> Result<Json<Vec<OrganizationChoice>>, ApiError> {
    let current = member.org_id();
    let list = crate::orgs::membership::of_user(&state.db, member.user.id).await?;
    Ok(Json(
        list.into_iter()
            .map(|m| OrganizationChoice {
                id: m.organization_id,
                name: m.name,
                is_owner: m.is_owner,
                current: m.organization_id == current,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SwitchOrganizationRequest {
    organization_id: Uuid,
}

/// Makes this session act for another of the person's organizations.
///
/// Every request of the session after this one is scoped to that organization, with the
/// person's roles there. The person's other sessions keep theirs.
#[utoipa::path(
    post,
    path = "/api/auth/switch-organization",
    tag = "auth",
    operation_id = "auth_switch_organization",
    request_body = SwitchOrganizationRequest,
    responses(
        (status = 200, description = "Switched; the member in the new organization.",
            body = MeResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn switch_organization(
    State(state): State<AppState>,
    member: CurrentMember,
    Json(req): Json<SwitchOrganizationRequest>,
) -> Result<Json<MeResponse>, ApiError> {
    crate::orgs::membership::switch(
        &state.db,
        member.session_id,
        member.user.id,
        req.organization_id,
    )
    .await?;
    let switched = CurrentMember::from_session_id(&state.db, member.session_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Json(me(&switched)))
}

/// What an operator runs when this server cannot mail reset links.
pub const NO_MAIL_RESET: &str = "this server cannot send e-mail (no LOQUENT_SMTP_URL): ask the \
     person who runs it to set a new password with `loquent user reset-password --email ...`";

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordResetRequest {
    email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasswordResetAccepted {
    message: &'static str,
}

/// What a reset request is answered, whether or not the account exists.
pub const RESET_SENT: &str = "if an account has this e-mail, a link to choose a new password is \
     on its way; it works once, for an hour";

/// Mails a link to choose a new password.
///
/// Answered the same whether or not an account has the e-mail. Throttled like sign-in, per
/// e-mail and per address.
#[utoipa::path(
    post,
    path = "/api/auth/password-reset",
    tag = "auth",
    operation_id = "auth_password_reset",
    security(()),
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted; the link is mailed if the account exists.",
            body = PasswordResetAccepted),
        (status = 400, response = BadRequest),
        (status = 422, response = InvalidInput),
        (status = 429, description = "`too_many_requests`: asked too often for this e-mail or \
            from this address; `Retry-After` says how many seconds to wait.", body = ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds to wait."))),
        (status = 503, description = "`unavailable`: this server cannot send e-mail; the \
            message says how an operator sets a password instead.", body = ErrorBody),
    ),
)]
pub async fn password_reset(
    State(state): State<AppState>,
    RequestClient(client): RequestClient,
    Json(req): Json<PasswordResetRequest>,
) -> Result<Response, ApiError> {
    if state.mailer.is_none() {
        return Err(ApiError::Unavailable(NO_MAIL_RESET.to_owned()));
    }
    crate::users::reset::request(&state.db, &req.email, &client, Utc::now()).await?;
    state.jobs_wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(PasswordResetAccepted {
            message: RESET_SENT,
        }),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordResetConfirm {
    /// The `token` of the mailed link.
    token: String,
    /// The new password (8 to 256 characters).
    password: String,
}

/// Sets a new password through a mailed link.
///
/// The link works once, within an hour. Every session of the user ends; sign in again with the
/// new password.
#[utoipa::path(
    post,
    path = "/api/auth/password-reset/confirm",
    tag = "auth",
    operation_id = "auth_password_reset_confirm",
    security(()),
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "The password is changed."),
        (status = 400, body = ErrorBody, description = "`bad_request`: the link was used \
            already, has expired or is not one we sent."),
        (status = 422, response = InvalidInput),
    ),
)]
pub async fn password_reset_confirm(
    State(state): State<AppState>,
    Json(req): Json<PasswordResetConfirm>,
) -> Result<StatusCode, ApiError> {
    let user =
        crate::users::reset::complete(&state.db, &req.token, &req.password, Utc::now()).await?;
    tracing::info!(user_id = %user.id, "password reset through a mailed link");
    Ok(StatusCode::NO_CONTENT)
}
