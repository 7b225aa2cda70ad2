//! Calls: listing history, fetching one, and steering a live call (hang up, new TwiML,
//! redirect).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::client::operations::{FETCH_CALL, LIST_CALL, UPDATE_CALL};
use crate::client::{TwilioClient, TwilioError, TwilioStream, string_or_number, v2010_page};
use crate::sid::{AccountSid, CallSid, PhoneNumberSid};
use crate::twiml::{self, Method};

/// `api.v2010.account.call`. Dates are RFC 2822 strings as Twilio sends them; `duration`,
/// `price` and `queue_time` are strings in the API too.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    pub sid: Option<CallSid>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub parent_call_sid: Option<CallSid>,
    pub account_sid: Option<AccountSid>,
    /// E.164 for phone calls, `client:…` or `sip:…` otherwise.
    pub to: Option<String>,
    pub to_formatted: Option<String>,
    pub from: Option<String>,
    pub from_formatted: Option<String>,
    pub phone_number_sid: Option<PhoneNumberSid>,
    pub status: Option<CallStatus>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Seconds.
    #[serde(default, deserialize_with = "string_or_number")]
    pub duration: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub price: Option<String>,
    pub price_unit: Option<String>,
    /// `inbound`, `outbound-api`, `outbound-dial`.
    pub direction: Option<String>,
    pub answered_by: Option<String>,
    pub api_version: Option<String>,
    pub forwarded_from: Option<String>,
    pub group_sid: Option<String>,
    pub caller_name: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub queue_time: Option<String>,
    pub trunk_sid: Option<String>,
    pub uri: Option<String>,
    pub subresource_uris: Option<BTreeMap<String, String>>,
}

/// A call's state (`call_enum_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallStatus {
    Queued,
    Ringing,
    InProgress,
    Completed,
    Busy,
    Failed,
    NoAnswer,
    Canceled,
    /// A value newer than this client; never sent as a filter.
    #[serde(other)]
    Unknown,
}

impl CallStatus {
    /// Every status Twilio documents, in the order a call goes through them.
    pub const KNOWN: [CallStatus; 8] = [
        Self::Queued,
        Self::Ringing,
        Self::InProgress,
        Self::Completed,
        Self::Busy,
        Self::Failed,
        Self::NoAnswer,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::NoAnswer => "no-answer",
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
        }
    }

    /// The call is over (`completed`, `busy`, `failed`, `no-answer`, `canceled`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `CallStatus` value that is none of [`CallStatus::KNOWN`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a Twilio call status (queued, ringing, in-progress, completed, busy, failed, no-answer or canceled)"
)]
pub struct UnknownCallStatus(pub String);

/// Parses the statuses Twilio documents, exactly as it spells them. Unlike deserializing, which
/// keeps a newer value as [`CallStatus::Unknown`], parsing refuses it: a webhook's status is
/// written to the call, and `unknown` would lose what Twilio said.
impl FromStr for CallStatus {
    type Err = UnknownCallStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::KNOWN
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownCallStatus(s.to_owned()))
    }
}

/// Filters for [`TwilioClient::list_calls`]. All optional; combine freely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub to: Option<String>,
    pub from: Option<String>,
    pub status: Option<CallStatus>,
    /// Calls that started on or after this day (UTC): Twilio's `StartTime>` parameter,
    /// which docs write as `StartTime>=YYYY-MM-DD`.
    pub started_on_or_after: Option<NaiveDate>,
    /// Records per page, 1..=1000 (Twilio's default is 50). Larger values are clamped.
    pub page_size: Option<u32>,
}

impl CallFilter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.to = Some(to.into());
        self
    }

    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    pub fn status(mut self, status: CallStatus) -> Self {
        self.status = Some(status);
        self
    }

    pub fn started_on_or_after(mut self, day: NaiveDate) -> Self {
        self.started_on_or_after = Some(day);
        self
    }

    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }
}

/// Twilio's largest page.
pub const MAX_PAGE_SIZE: u32 = 1000;

pub(crate) fn page_size(size: Option<u32>) -> Option<String> {
    size.map(|s| s.clamp(1, MAX_PAGE_SIZE).to_string())
}

/// What to do to a live call ([`TwilioClient::update_call`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallUpdate {
    /// `Status=completed`: hang up a call in progress.
    Complete,
    /// `Status=canceled`: cancel a call that is queued or ringing.
    Cancel,
    /// `Twiml=…`: replace what the call is doing with this TwiML document.
    Twiml(String),
    /// `Url=…&Method=…`: fetch new TwiML from this URL.
    Redirect { url: String, method: Option<Method> },
}

impl CallUpdate {
    pub fn twiml(response: &twiml::Response) -> Self {
        Self::Twiml(response.to_xml())
    }

    pub fn redirect(url: impl Into<String>) -> Self {
        Self::Redirect {
            url: url.into(),
            method: None,
        }
    }
}

v2010_page!(CallPage, calls, Call);

impl TwilioClient {
    /// `ListCall`: every call matching `filter`, newest first, fetched page by page as the
    /// stream is consumed.
    pub fn list_calls(&self, filter: &CallFilter) -> TwilioStream<Call> {
        let account = self.account_sid().clone();
        let request = self
            .request(&LIST_CALL, &[("AccountSid", account.as_str())])
            .opt_param("To", filter.to.clone())
            .opt_param("From", filter.from.clone())
            .opt_param("Status", filter.status.map(CallStatus::as_str))
            .opt_param(
                "StartTime>",
                filter
                    .started_on_or_after
                    .map(|d| d.format("%Y-%m-%d").to_string()),
            )
            .opt_param("PageSize", page_size(filter.page_size));
        self.paginate::<CallPage>(request)
    }

    /// `FetchCall`.
    pub async fn fetch_call(&self, sid: &CallSid) -> Result<Call, TwilioError> {
        let account = self.account_sid().clone();
        let request = self.request(
            &FETCH_CALL,
            &[("AccountSid", account.as_str()), ("Sid", sid.as_str())],
        );
        self.send_json(&request).await
    }

    /// `UpdateCall`: hang up, cancel, replace TwiML or redirect a live call.
    pub async fn update_call(
        &self,
        sid: &CallSid,
        update: CallUpdate,
    ) -> Result<Call, TwilioError> {
        let account = self.account_sid().clone();
        let request = self.request(
            &UPDATE_CALL,
            &[("AccountSid", account.as_str()), ("Sid", sid.as_str())],
        );
        let request = match update {
            CallUpdate::Complete => request.param("Status", "completed"),
            CallUpdate::Cancel => request.param("Status", "canceled"),
            CallUpdate::Twiml(xml) => request.param("Twiml", xml),
            CallUpdate::Redirect { url, method } => request
                .param("Url", url)
                .opt_param("Method", method.map(Method::as_str)),
        };
        self.send_json(&request).await
    }

    /// Hang up a call in progress (`UpdateCall` with `Status=completed`).
    pub async fn hang_up_call(&self, sid: &CallSid) -> Result<Call, TwilioError> {
        self.update_call(sid, CallUpdate::Complete).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_parses_and_prints_as_twilio_spells_it() {
        let spelled = [
            "queued",
            "ringing",
            "in-progress",
            "completed",
            "busy",
            "failed",
            "no-answer",
            "canceled",
        ];
        for (text, status) in spelled.into_iter().zip(CallStatus::KNOWN) {
            assert_eq!(text.parse::<CallStatus>(), Ok(status));
            assert_eq!(status.as_str(), text);
            assert_eq!(status.to_string(), text);
            let json: CallStatus = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(json, status);
        }
    }

    #[test]
    fn an_unknown_or_misspelled_status_is_refused_with_its_value() {
        for text in [
            "",
            "unknown",
            "answered",
            "Completed",
            "in_progress",
            " completed",
        ] {
            let error = text.parse::<CallStatus>().unwrap_err();
            assert_eq!(error, UnknownCallStatus(text.to_owned()));
            assert!(error.to_string().contains(&format!("{text:?}")));
        }
    }

    #[test]
    fn only_the_end_states_are_terminal() {
        let terminal: Vec<_> = CallStatus::KNOWN
            .into_iter()
            .filter(|s| s.is_terminal())
            .map(CallStatus::as_str)
            .collect();
        assert_eq!(
            terminal,
            ["completed", "busy", "failed", "no-answer", "canceled"]
        );
        assert!(!CallStatus::Unknown.is_terminal());
    }
}
