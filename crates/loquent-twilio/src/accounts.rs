//! Accounts: fetching ours, creating a subaccount per Loquent organisation.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::client::operations::{CREATE_ACCOUNT, FETCH_ACCOUNT};
use crate::client::{AuthToken, TwilioClient, TwilioError};
use crate::sid::AccountSid;

/// `api.v2010.account`.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub sid: Option<AccountSid>,
    /// The account's own Auth Token. Returned when a subaccount is created: store it (it is
    /// the subaccount's credential and the key its webhooks are signed with).
    pub auth_token: Option<AuthToken>,
    pub owner_account_sid: Option<AccountSid>,
    pub friendly_name: Option<String>,
    pub status: Option<AccountStatus>,
    #[serde(rename = "type")]
    pub account_type: Option<AccountType>,
    /// RFC 2822, e.g. `Thu, 30 Jul 2015 20:00:00 +0000`.
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub uri: Option<String>,
    pub subresource_uris: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Suspended,
    Closed,
    /// A value newer than this client.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AccountType {
    Trial,
    Full,
    #[serde(other)]
    Unknown,
}

impl TwilioClient {
    /// `FetchAccount`: the account these credentials act on.
    pub async fn fetch_account(&self) -> Result<Account, TwilioError> {
        self.fetch_account_by_sid(&self.account_sid().clone()).await
    }

    /// `FetchAccount` for a given (sub)account.
    pub async fn fetch_account_by_sid(&self, sid: &AccountSid) -> Result<Account, TwilioError> {
        let request = self.request(&FETCH_ACCOUNT, &[("Sid", sid.as_str())]);
        self.send_json(&request).await
    }

    /// `CreateAccount`: a subaccount of ours. Keep the returned `auth_token`.
    pub async fn create_subaccount(&self, friendly_name: &str) -> Result<Account, TwilioError> {
        let request = self
            .request(&CREATE_ACCOUNT, &[])
            .param("FriendlyName", friendly_name);
        self.send_json(&request).await
    }
}
