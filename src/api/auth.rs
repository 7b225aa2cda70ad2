//! `/api/auth/*`: sign-up, sign-in, sign-out and "who am I".

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::openapi::{BadRequest, Forbidden, InvalidInput, Unauthorized};
use crate::app::AppState;
use crate::auth::{CurrentMember, session};
use crate::entity::{organization, user};
use crate::error::{ApiError, ErrorBody, Json};

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

fn me(member: &CurrentMember) -> MeResponse {
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
async fn sign_in(
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
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let (user, member) =
        crate::users::login::authenticate(&state.db, &req.email, &req.password).await?;
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
