//! Server-rendered dashboard pages (askama templates in `templates/`).

pub mod account;
pub mod agents;
pub mod analyzers;
pub mod auth_pages;
pub mod calls;
pub mod contacts;
pub mod invitation;
pub mod jobs;
pub mod lists;
pub mod reports;
pub mod settings;
pub mod todos;
pub mod twilio;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::app::AppState;
use crate::auth::CurrentMember;
use crate::auth::csrf::CsrfToken;
use crate::error::ApiError;
pub use crate::error::PageError;

/// What every signed-in page's layout needs.
pub struct Chrome {
    pub csrf: String,
    pub user_email: String,
    pub org_name: String,
    pub active: &'static str,
    pub flash: Option<String>,
    /// The only origin whose pages `/api/realtime` serves (the public URL's). `static/app.js`
    /// stays off the socket on a page opened at another address (`localhost` for `127.0.0.1`):
    /// the upgrade would be refused, and retried, for nothing.
    pub realtime_origin: String,
    /// The person's organizations, for the switcher (shown when there are several).
    pub organizations: Vec<OrganizationOption>,
    /// The page's own address, when this body answers a form posted elsewhere (a failed form,
    /// shown again): `static/app.js` puts it in the address bar, so the person stays on the page
    /// and a reload reads it rather than posting the form again.
    pub page_path: Option<String>,
    /// The organization uses the built-in sandbox as its Twilio account: the header says so on
    /// every page, so emulated numbers and calls are never taken for real ones.
    pub sandbox: bool,
}

impl Chrome {
    /// This body is the page at `path`, whatever address the form was posted to.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.page_path = Some(path.into());
        self
    }
}

pub struct OrganizationOption {
    pub id: uuid::Uuid,
    pub name: String,
    pub current: bool,
}

/// A signed-in member on a dashboard page: without a session the browser is sent to sign in.
pub struct PageMember {
    pub member: CurrentMember,
    pub csrf: String,
    realtime_origin: String,
    organizations: Vec<crate::orgs::membership::Membership>,
}

impl PageMember {
    pub fn chrome(&self, active: &'static str) -> Chrome {
        Chrome {
            csrf: self.csrf.clone(),
            user_email: self.member.user.email.clone(),
            org_name: self.member.organization.name.clone(),
            active,
            flash: None,
            realtime_origin: self.realtime_origin.clone(),
            organizations: self
                .organizations
                .iter()
                .map(|m| OrganizationOption {
                    id: m.organization_id,
                    name: m.name.clone(),
                    current: m.organization_id == self.member.org_id(),
                })
                .collect(),
            page_path: None,
            sandbox: self.member.organization.twilio_sandbox,
        }
    }
}

pub fn csrf_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for PageMember {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match CurrentMember::from_request_parts(parts, state).await {
            Ok(member) => Ok(Self {
                organizations: crate::orgs::membership::of_user(&state.db, member.user.id)
                    .await
                    .map_err(|e| PageError::from(ApiError::from(e)).into_response())?,
                member,
                csrf: csrf_of(parts),
                realtime_origin: state
                    .config
                    .server
                    .public_url
                    .origin()
                    .ascii_serialization(),
            }),
            Err(ApiError::Unauthorized) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// Renders a template, turning a rendering failure into a 500 page.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => PageError::from(ApiError::internal(e)).into_response(),
    }
}

pub async fn not_found() -> PageError {
    PageError::not_found()
}
