//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the JSON API, generated from the
//! handlers' `#[utoipa::path]` attributes and their types' `ToSchema` derives. It is built once,
//! on the first request, and holds no secrets, so it needs no session.
//!
//! Each handler lists its own answers: the success, the errors it makes itself, and the
//! extractors' (`Allowed`: 401, 403; `Path`: 400 on a malformed id; `Json`: 400 on malformed
//! JSON and 422 on a body of the wrong shape), the common ones as the response components below.
//! `tests/it/openapi.rs` checks that every route of the table is here and that real answers
//! match what the document declares.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::session;
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Loquent API",
        description = "The JSON API of a Loquent server: what the dashboard uses, for scripts and \
            integrations. Every path is under `/api`; a request is signed in with the \
            `loquent_session` cookie that `POST /api/auth/signup` and `POST /api/auth/login` set, \
            and acts on the member's organization (another organization's resource is a 404).\n\n\
            Every error answers `{\"error\": {\"code\", \"message\"}}` (`ErrorBody`). Besides the \
            answers each operation lists, a JSON body may be answered 413 \
            (`payload_too_large`) or 415 (`unsupported_media_type`), a request that takes more \
            than 30 seconds 408, and a failure of the server 500 (`internal`).\n\n\
            Not part of this document: Twilio's webhooks (`/twilio/*`, signed by Twilio and \
            answered with TwiML), the dashboard's HTML pages and forms, and the operations \
            endpoints (`/healthz`, `/readyz`, `/metrics`).",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    paths(
        document,
        super::auth::signup,
        super::auth::login,
        super::auth::logout,
        super::auth::current,
        super::auth::sign_ins,
        super::auth::password_reset,
        super::auth::password_reset_confirm,
        super::auth::organizations,
        super::auth::switch_organization,
        super::members::list,
        super::members::update,
        super::members::remove,
        super::invitations::list,
        super::invitations::create,
        super::invitations::resend,
        super::invitations::revoke,
        super::invitations::preview,
        super::invitations::accept,
        super::roles::catalog,
        super::roles::list,
        super::roles::create,
        super::roles::read,
        super::roles::update,
        super::roles::delete,
        super::settings::read,
        super::getting_started::read,
        super::telephony_settings::read,
        super::telephony_settings::update,
        super::twilio::connect,
        super::twilio::connect_sandbox,
        super::twilio::disconnect,
        super::twilio::subaccount,
        super::twilio::imported_numbers,
        super::twilio::unsynced_numbers,
        super::twilio::sync_numbers,
        super::call_sync::sync_call_history,
        super::call_sync::call_syncs,
        super::event_streams::read,
        super::event_streams::setup,
        super::event_streams::remove,
        super::twilio::search_available_numbers,
        super::twilio::buy_phone_number,
        super::twilio::configure_phone_voice,
        super::twilio::restore_phone_voice,
        super::agents::list,
        super::agents::create,
        super::agents::read,
        super::agents::update,
        super::agents::delete,
        super::analyzers::list,
        super::analyzers::create,
        super::analyzers::read,
        super::analyzers::update,
        super::analyzers::delete,
        super::phones::list,
        super::phones::read,
        super::phones::update,
        super::phones::remove_agent,
        super::phones::test_call,
        super::calls::list,
        super::calls::read,
        super::calls::rerun,
        super::calls::recording,
        super::contacts::list,
        super::contacts::read,
        super::contacts::update,
        super::jobs::list,
        super::jobs::retry,
        super::realtime::subscribe,
        super::web_call::open,
        super::todos::list,
        super::todos::approve,
        super::todos::dismiss,
        super::reports::list,
        super::reports::add,
        super::reports::remove,
    ),
    components(
        schemas(crate::realtime::Event),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, InvalidInput, Upstream),
    ),
    modifiers(&SessionCookie),
    security(("session" = [])),
    tags(
        (name = "auth", description = "Signing up, in and out; who is signed in."),
        (name = "members", description = "Who belongs to the organization, with which roles."),
        (name = "invitations", description = "Inviting people by e-mail, and accepting an \
            invitation."),
        (name = "roles", description = "Permissions (`Resource:Level:Variant`) and roles."),
        (name = "settings", description = "The organization's settings and recording switches."),
        (name = "twilio", description = "The Twilio connection, numbers on Twilio, voice \
            webhooks and call-history import."),
        (name = "phones", description = "The organization's numbers, their names and agents."),
        (name = "agents", description = "The AI voice agents that answer calls."),
        (name = "analyzers", description = "Prompts run over call transcripts."),
        (name = "calls", description = "Calls, their transcripts, analyses and recordings."),
        (name = "contacts", description = "The people who called or were called."),
        (name = "jobs", description = "Post-call steps that failed, and starting them over."),
        (name = "todos", description = "To-dos found in calls, and their review."),
        (name = "reports", description = "Who receives the e-mailed call reports."),
        (name = "realtime", description = "The organization's live events over a WebSocket."),
        (name = "openapi", description = "This document."),
    ),
)]
pub struct ApiDoc;

/// The `session` security scheme: the cookie a sign-in sets.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    session::COOKIE,
                    "Set by `POST /api/auth/signup` and `POST /api/auth/login` (HttpOnly, \
                     SameSite=Lax), cleared by `POST /api/auth/logout`.",
                ))),
            );
    }
}

/// The document as served, serialized once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes")
});

/// The OpenAPI document of this API (this document).
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "openapi",
    operation_id = "openapi_document",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object)),
)]
pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// `bad_request`: a malformed id in the URL, malformed JSON, or a query value that cannot be
/// used (the message says which).
#[derive(utoipa::ToResponse)]
#[expect(dead_code, reason = "describes an answer; `ApiError` makes it")]
pub struct BadRequest(ErrorBody<'static>);

/// `unauthorized`: no session, or an expired one; sign in first.
#[derive(utoipa::ToResponse)]
#[expect(dead_code, reason = "describes an answer; `ApiError` makes it")]
pub struct Unauthorized(ErrorBody<'static>);

/// `forbidden`: the member lacks the permission the operation needs (named in the message), or
/// `no_organization`: the account belongs to no organization.
#[derive(utoipa::ToResponse)]
#[expect(dead_code, reason = "describes an answer; `ApiError` makes it")]
pub struct Forbidden(ErrorBody<'static>);

/// `not_found`: no such resource in the member's organization (another organization's is the
/// same).
#[derive(utoipa::ToResponse)]
#[expect(dead_code, reason = "describes an answer; `ApiError` makes it")]
pub struct NotFound(ErrorBody<'static>);

/// `invalid_input`: the body has the wrong shape, or values that cannot be used; `error.fields`
/// lists every bad field when they were checked one by one.
#[derive(utoipa::ToResponse)]
#[expect(dead_code, reason = "describes an answer; `ApiError` makes it")]
pub struct InvalidInput(ErrorBody<'static>);

/// `upstream_error`: Twilio refused or failed the request made on the organization's behalf.
#[derive(utoipa::ToResponse)]
#[expect(dead_code, reason = "describes an answer; `ApiError` makes it")]
pub struct Upstream(ErrorBody<'static>);
