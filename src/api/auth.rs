//! `/api/auth/*`: sign-up, sign-in, sign-out and "who am I".

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{CurrentMember, session};
use crate::entity::{organization, user};
use crate::error::{ApiError, Json};

#[derive(Deserialize)]
pub struct SignupRequest {
    email: String,
    password: String,
    organization_name: String,
}

#[derive(Deserialize)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
pub struct UserView {
    id: Uuid,
    email: String,
    name: Option<String>,
}

#[derive(Serialize)]
pub struct OrganizationView {
    id: Uuid,
    name: String,
    byo_twilio: bool,
}

#[derive(Serialize)]
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

pub async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let (user, member) =
        crate::users::login::authenticate(&state.db, &req.email, &req.password).await?;
    sign_in(&state, StatusCode::OK, user.id, member.organization_id).await
}

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

pub async fn current(member: CurrentMember) -> Json<MeResponse> {
    Json(me(&member))
}
