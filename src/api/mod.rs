//! JSON API handlers, one file per resource. Routes are in `crate::router`.

pub mod auth;
pub mod members;
pub mod realtime;
pub mod roles;
