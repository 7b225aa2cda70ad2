//! Who is asking: passwords, sessions, CSRF, permissions and the `CurrentMember` extractor.

mod client;
pub mod csrf;
mod current_member;
mod origin;
pub mod password;
pub mod permission;
pub mod session;

pub use client::RequestClient;
pub(crate) use current_member::permissions;
pub use current_member::{Allowed, CurrentMember, RequiredPermission, permissions_of};
pub use origin::SameOrigin;
pub use permission::Permission;
