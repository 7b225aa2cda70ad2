//! Organizations (tenants), their members and roles.

pub mod members;
pub mod roles;
pub mod twilio;
