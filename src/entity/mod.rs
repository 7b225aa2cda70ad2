//! SeaORM entities: one file per table. Behaviour lives in the domain modules, not here.

pub mod agent;
pub mod analyzer;
pub mod call;
pub mod call_analysis;
pub mod call_sync;
pub mod contact;
pub mod contact_phone;
pub mod job;
pub mod member;
pub mod member_role;
pub mod message;
pub mod organization;
pub mod organization_twilio_settings;
pub mod password_credential;
pub mod password_reset;
pub mod phone_number;
pub mod phone_number_analyzer;
pub mod report_recipient;
pub mod role;
pub mod session;
pub mod sign_in;
pub mod sign_in_throttle;
pub mod todo;
pub mod twilio_event;
pub mod user;
