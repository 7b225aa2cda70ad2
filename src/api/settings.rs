//! `GET /api/settings`: the organization's settings as the dashboard shows them. Secrets are
//! never part of it: the Twilio Account SID is masked and the Auth Token absent, and of the AI
//! providers only whether the server has a key is said.

use axum::extract::State;
use serde::Serialize;

use crate::agents::providers::{self, ProviderView};
use crate::api::openapi::{Forbidden, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::error::{ApiError, Json};
use crate::orgs::twilio::{self, TwilioConnectionView};

permissions! {
    ReadSettings = "Settings:Instance:Read",
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    organization: String,
    twilio: TwilioConnectionView,
    /// Each AI provider: whether this server has its key (never the key), and the agents on it
    /// (empty for a member who may not list agents).
    ai_providers: Vec<ProviderView>,
}

/// The organization's settings as the dashboard shows them.
#[utoipa::path(
    get,
    path = "/api/settings",
    tag = "settings",
    operation_id = "settings_read",
    responses(
        (status = 200, body = SettingsView, description = "The settings (the Account SID masked, \
            never the token)."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadSettings>,
) -> Result<Json<SettingsView>, ApiError> {
    let org = twilio::reload(&state.db, member.org_id()).await?;
    let mut ai_providers =
        providers::overview(&state.db, member.org_id(), state.ai_availability()).await?;
    // Which agents use a provider is for members who may list agents.
    if !member.can("Agent:Collection:List") {
        for provider in &mut ai_providers {
            provider.agents.clear();
        }
    }
    Ok(Json(SettingsView {
        twilio: state.twilio.view(&org),
        organization: org.name,
        ai_providers,
    }))
}
