//! Integration tests through the front door: HTTP, WebSocket and a real browser.

// The application's rules on the environment and on spawning (clippy.toml) are not the tests':
// they read their own settings (LOQUENT_TEST_DATABASE_URL, CHROMEDRIVER) and run peers in tasks.
#![expect(
    clippy::disallowed_methods,
    reason = "tests read their own settings and spawn their peers"
)]

mod support;

mod after_the_call;
mod agents;
mod analyzers;
mod auth;
mod browser;
mod call_pages;
mod call_sync;
mod calls;
mod calls_api;
mod cli;
mod contact_pages;
mod contacts_api;
mod dashboard;
mod durability;
mod event_delivery;
mod event_streams;
mod first_run;
mod invitations;
mod jobs;
mod live_calls;
mod members;
mod openapi;
mod ops;
mod organizations;
mod password_reset;
mod phone_numbers;
mod realtime;
mod recordings;
mod reports;
mod sign_in;
mod tenancy;
mod todos;
mod twilio_page;
mod web_calls;

mod redact;
mod snapshots_api;
mod snapshots_pages;
