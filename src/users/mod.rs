//! People who sign in: e-mail addresses, sign-up and password sign-in.

pub mod email;
pub mod login;
pub mod signup;

pub use email::EmailAddress;
