//! A tenant: everything else belongs to exactly one organization.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The Twilio account this organization uses (its own, or a subaccount of the platform).
    pub twilio_account_sid: Option<String>,
    /// Sealed with the server key (see `secrets`); never leaves the server in clear.
    pub twilio_auth_token: Option<String>,
    /// True when the organization connected its own Twilio account.
    pub byo_twilio: bool,
    /// True when the Twilio account is one of the built-in sandbox's (emulated).
    pub twilio_sandbox: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
