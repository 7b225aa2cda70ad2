//! Integration tests through the front door: HTTP, WebSocket and a real browser.

mod support;

mod agents;
mod auth;
mod browser;
mod calls;
mod cli;
mod dashboard;
mod live_calls;
mod members;
mod ops;
mod phone_numbers;
mod realtime;
mod tenancy;
mod twilio_page;

mod redact;
mod snapshots_api;
mod snapshots_pages;
