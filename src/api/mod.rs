//! JSON API handlers, one file per resource. Routes are in `crate::router`.

pub mod agents;
pub mod analyzers;
pub mod auth;
mod byte_range;
pub mod call_sync;
pub mod calls;
pub mod contacts;
pub mod event_streams;
pub mod getting_started;
pub mod invitations;
pub mod jobs;
pub mod members;
pub mod openapi;
pub mod phones;
pub mod realtime;
pub mod reports;
pub mod roles;
pub mod settings;
pub mod telephony_settings;
pub mod todos;
pub mod twilio;
pub mod web_call;
