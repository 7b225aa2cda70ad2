//! The one route table, grouped by audience: Twilio webhooks, JSON API, dashboard pages,
//! operations. Read this file to know every URL the server answers.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use axum::{Router, middleware};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::error::ApiError;
use crate::{api, auth, dashboard, health, telephony};

pub fn router(state: AppState) -> Router {
    // Twilio's requests: each is checked for X-Twilio-Signature before its handler runs.
    let twilio = Router::new()
        .route("/twilio/voice", post(telephony::voice::answer))
        .route("/twilio/stream", get(telephony::stream::open))
        .route("/twilio/call-status", post(telephony::status::update))
        .route("/twilio/recording", post(telephony::recording::completed))
        .route(
            crate::event_streams::SINK_PATH,
            post(telephony::events::receive_events),
        );

    let api = Router::new()
        .route("/openapi.json", get(api::openapi::document))
        .route("/auth/signup", post(api::auth::signup))
        .route("/auth/login", post(api::auth::login))
        .route("/auth/logout", post(api::auth::logout))
        .route("/auth/me", get(api::auth::current))
        .route("/auth/sign-ins", get(api::auth::sign_ins))
        .route("/auth/password-reset", post(api::auth::password_reset))
        .route(
            "/auth/password-reset/confirm",
            post(api::auth::password_reset_confirm),
        )
        .route("/auth/organizations", get(api::auth::organizations))
        .route(
            "/auth/switch-organization",
            post(api::auth::switch_organization),
        )
        .route("/members", get(api::members::list))
        .route(
            "/invitations",
            get(api::invitations::list).post(api::invitations::create),
        )
        .route("/invitations/preview", post(api::invitations::preview))
        .route("/invitations/accept", post(api::invitations::accept))
        .route("/invitations/{id}/resend", post(api::invitations::resend))
        .route(
            "/invitations/{id}",
            axum::routing::delete(api::invitations::revoke),
        )
        .route(
            "/members/{id}",
            axum::routing::put(api::members::update).delete(api::members::remove),
        )
        .route("/permissions", get(api::roles::catalog))
        .route("/roles", get(api::roles::list).post(api::roles::create))
        .route(
            "/roles/{id}",
            get(api::roles::read)
                .put(api::roles::update)
                .delete(api::roles::delete),
        )
        .route("/settings", get(api::settings::read))
        .route(
            "/twilio/telephony-settings",
            get(api::telephony_settings::read).patch(api::telephony_settings::update),
        )
        .route("/twilio/connect", post(api::twilio::connect))
        .route("/twilio/disconnect", post(api::twilio::disconnect))
        .route("/twilio/subaccount", post(api::twilio::subaccount))
        .route(
            "/twilio/imported-numbers",
            get(api::twilio::imported_numbers),
        )
        .route(
            "/twilio/get-unsynced-numbers",
            post(api::twilio::unsynced_numbers),
        )
        .route("/twilio/sync-numbers", post(api::twilio::sync_numbers))
        .route(
            "/twilio/sync-call-history",
            post(api::call_sync::sync_call_history),
        )
        .route("/twilio/call-syncs", get(api::call_sync::call_syncs))
        .route("/twilio/event-streams", get(api::event_streams::read))
        .route("/twilio/setup-event-sink", post(api::event_streams::setup))
        .route(
            "/twilio/remove-event-sink",
            post(api::event_streams::remove),
        )
        .route(
            "/twilio/search-available-numbers",
            post(api::twilio::search_available_numbers),
        )
        .route(
            "/twilio/buy-phone-number",
            post(api::twilio::buy_phone_number),
        )
        .route(
            "/twilio/configure-phone-voice",
            post(api::twilio::configure_phone_voice),
        )
        .route(
            "/twilio/restore-phone-voice",
            post(api::twilio::restore_phone_voice),
        )
        .route("/agents", get(api::agents::list).post(api::agents::create))
        .route(
            "/agents/{id}",
            get(api::agents::read)
                .put(api::agents::update)
                .delete(api::agents::delete),
        )
        .route(
            "/analyzers",
            get(api::analyzers::list).post(api::analyzers::create),
        )
        .route(
            "/analyzers/{id}",
            get(api::analyzers::read)
                .put(api::analyzers::update)
                .delete(api::analyzers::delete),
        )
        .route("/getting-started", get(api::getting_started::read))
        .route("/phones", get(api::phones::list))
        .route(
            "/phones/{id}",
            get(api::phones::read).put(api::phones::update),
        )
        .route(
            "/phones/{id}/agent",
            axum::routing::delete(api::phones::remove_agent),
        )
        .route("/calls", get(api::calls::list))
        .route("/calls/{id}", get(api::calls::read))
        .route("/calls/{id}/rerun", post(api::calls::rerun))
        .route("/calls/{id}/recording", get(api::calls::recording))
        .route("/contacts", get(api::contacts::list))
        .route(
            "/contacts/{id}",
            get(api::contacts::read).put(api::contacts::update),
        )
        .route("/jobs", get(api::jobs::list))
        .route("/jobs/{id}/retry", post(api::jobs::retry))
        .route("/realtime", get(api::realtime::subscribe))
        .route("/agents/{id}/web-call", get(api::web_call::open))
        .route("/todos", get(api::todos::list))
        .route("/todos/{id}/approve", post(api::todos::approve))
        .route("/todos/{id}/dismiss", post(api::todos::dismiss))
        .route(
            "/report-recipients",
            get(api::reports::list).post(api::reports::add),
        )
        .route(
            "/report-recipients/{id}",
            axum::routing::delete(api::reports::remove),
        )
        .fallback(|| async { ApiError::NotFound("API route") });

    // The built-in sandbox's routes exist only while it is served.
    let api = if state.sandbox.is_some() {
        api.route(
            "/twilio/connect-sandbox",
            post(api::twilio::connect_sandbox),
        )
        .route("/phones/{id}/test-call", post(api::phones::test_call))
    } else {
        api
    };

    let pages = Router::new()
        .route("/", get(dashboard::auth_pages::home))
        .route(
            "/signup",
            get(dashboard::auth_pages::signup_page).post(dashboard::auth_pages::signup),
        )
        .route(
            "/login",
            get(dashboard::auth_pages::login_page).post(dashboard::auth_pages::login),
        )
        .route("/logout", post(dashboard::auth_pages::logout))
        .route(
            "/forgot-password",
            get(dashboard::auth_pages::forgot_page).post(dashboard::auth_pages::forgot),
        )
        .route(
            "/reset-password",
            get(dashboard::auth_pages::reset_page).post(dashboard::auth_pages::reset),
        )
        .route(
            "/invitation",
            get(dashboard::invitation::show).post(dashboard::invitation::accept),
        )
        .route("/account", get(dashboard::account::page))
        .route(
            "/switch-organization",
            post(dashboard::account::switch_organization),
        )
        .route("/calls", get(dashboard::calls::list))
        .route("/calls/{id}", get(dashboard::calls::detail))
        .route("/calls/{id}/rerun", post(dashboard::calls::rerun))
        .route("/calls/failed-steps", get(dashboard::jobs::page))
        .route(
            "/calls/failed-steps/{id}/retry",
            post(dashboard::jobs::retry),
        )
        .route("/contacts", get(dashboard::contacts::list))
        .route(
            "/contacts/{id}",
            get(dashboard::contacts::detail).post(dashboard::contacts::save),
        )
        .route(
            "/agents",
            get(dashboard::lists::agents).post(dashboard::agents::create),
        )
        .route("/agents/new", get(dashboard::agents::new))
        .route(
            "/agents/{id}",
            get(dashboard::agents::edit).post(dashboard::agents::save),
        )
        .route("/agents/{id}/delete", post(dashboard::agents::delete))
        .route(
            "/analyzers",
            get(dashboard::analyzers::list).post(dashboard::analyzers::create),
        )
        .route("/analyzers/new", get(dashboard::analyzers::new))
        .route(
            "/analyzers/{id}",
            get(dashboard::analyzers::edit).post(dashboard::analyzers::save),
        )
        .route("/analyzers/{id}/delete", post(dashboard::analyzers::delete))
        .route("/todos", get(dashboard::todos::page))
        .route("/todos/{id}/approve", post(dashboard::todos::approve))
        .route("/todos/{id}/dismiss", post(dashboard::todos::dismiss))
        .route("/settings", get(dashboard::settings::overview))
        .route("/settings/members", get(dashboard::settings::members))
        .route("/settings/invitations", post(dashboard::settings::invite))
        .route(
            "/settings/invitations/{id}/resend",
            post(dashboard::settings::resend_invitation),
        )
        .route(
            "/settings/invitations/{id}/revoke",
            post(dashboard::settings::revoke_invitation),
        )
        .route(
            "/settings/members/{id}/roles",
            post(dashboard::settings::set_member_roles),
        )
        .route(
            "/settings/members/{id}/remove",
            post(dashboard::settings::remove_member),
        )
        .route("/settings/roles", post(dashboard::settings::create_role))
        .route(
            "/settings/reports",
            get(dashboard::reports::page).post(dashboard::reports::add),
        )
        .route(
            "/settings/reports/{id}/remove",
            post(dashboard::reports::remove),
        )
        .route("/settings/twilio", get(dashboard::twilio::page))
        .route("/settings/twilio/connect", post(dashboard::twilio::connect))
        .route(
            "/settings/twilio/disconnect",
            post(dashboard::twilio::disconnect),
        )
        .route(
            "/settings/twilio/subaccount",
            post(dashboard::twilio::subaccount),
        )
        .route(
            "/settings/twilio/import",
            post(dashboard::twilio::import_numbers),
        )
        .route("/settings/twilio/buy", post(dashboard::twilio::buy_number))
        .route(
            "/settings/twilio/numbers/{id}/sync-history",
            post(dashboard::twilio::sync_history),
        )
        .route(
            "/settings/twilio/sync-history",
            post(dashboard::twilio::sync_all),
        )
        .route(
            "/settings/twilio/events/setup",
            post(dashboard::twilio::set_up_events),
        )
        .route(
            "/settings/twilio/events/remove",
            post(dashboard::twilio::remove_events),
        )
        .route(
            "/settings/twilio/telephony",
            post(dashboard::twilio::telephony),
        )
        .route(
            "/settings/twilio/numbers/{id}/agent",
            post(dashboard::twilio::set_agent),
        )
        .route(
            "/settings/twilio/numbers/{id}/configure-voice",
            post(dashboard::twilio::configure_voice),
        )
        .route(
            "/settings/twilio/numbers/{id}/restore-voice",
            post(dashboard::twilio::restore_voice),
        )
        .route(
            "/settings/roles/{id}/delete",
            post(dashboard::settings::delete_role),
        )
        .fallback(dashboard::not_found);
    let pages = if state.sandbox.is_some() {
        pages
            .route(
                "/settings/twilio/connect-sandbox",
                post(dashboard::twilio::connect_sandbox),
            )
            .route(
                "/settings/twilio/numbers/{id}/test-call",
                post(dashboard::twilio::test_call),
            )
    } else {
        pages
    };
    let pages = pages
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::csrf::ensure_token,
        ))
        // Pages show account data: never let a shared cache keep them.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    let ops = Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/static/app.css", get(health::stylesheet))
        .route("/static/app.js", get(health::script))
        .route("/static/web-call-worklet.js", get(health::web_call_worklet));

    Router::new()
        .merge(twilio)
        .nest("/api", api)
        .merge(ops)
        .merge(pages)
        // Every body extractor (JSON, forms) stops reading past this and answers 413.
        .layer(DefaultBodyLimit::max(state.config.server.max_body_bytes))
        // Bounds a stuck request; WebSocket upgrades answer at once, so streams are not cut.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(middleware::from_fn(crate::telemetry::track_http))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
