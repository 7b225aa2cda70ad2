//! Recordings: starting one on a live call, listing a call's, fetching, deleting, and
//! downloading the audio.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::Deserialize;

use crate::client::operations::{
    CREATE_CALL_RECORDING, DELETE_RECORDING, FETCH_RECORDING, FETCH_RECORDING_MEDIA,
    LIST_CALL_RECORDING,
};
use crate::client::{TwilioClient, TwilioError, TwilioStream, string_or_number, v2010_page};
use crate::sid::{AccountSid, CallSid, RecordingSid};
use crate::twiml::{Method, RecordingChannels, RecordingEvent, RecordingTrack, Trim};

/// `api.v2010.account.recording` (account-wide recording resource).
#[derive(Debug, Clone, Deserialize)]
pub struct Recording {
    pub account_sid: Option<AccountSid>,
    pub api_version: Option<String>,
    pub call_sid: Option<CallSid>,
    pub conference_sid: Option<String>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub start_time: Option<String>,
    /// Seconds, as a string.
    #[serde(default, deserialize_with = "string_or_number")]
    pub duration: Option<String>,
    pub sid: Option<RecordingSid>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub price: Option<String>,
    pub price_unit: Option<String>,
    pub status: Option<RecordingStatus>,
    /// 1 or 2.
    pub channels: Option<u8>,
    pub source: Option<String>,
    pub error_code: Option<i64>,
    pub uri: Option<String>,
    pub encryption_details: Option<serde_json::Value>,
    pub subresource_uris: Option<BTreeMap<String, String>>,
    /// The audio, without extension (append `.mp3`; [`TwilioClient::download_recording`]
    /// does this for you).
    pub media_url: Option<String>,
}

/// `api.v2010.account.call.call_recording`: a recording as seen through its call.
#[derive(Debug, Clone, Deserialize)]
pub struct CallRecording {
    pub account_sid: Option<AccountSid>,
    pub api_version: Option<String>,
    pub call_sid: Option<CallSid>,
    pub conference_sid: Option<String>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub start_time: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub duration: Option<String>,
    pub sid: Option<RecordingSid>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub price: Option<String>,
    pub uri: Option<String>,
    pub encryption_details: Option<serde_json::Value>,
    pub price_unit: Option<String>,
    pub status: Option<RecordingStatus>,
    pub channels: Option<u8>,
    pub source: Option<String>,
    pub error_code: Option<i64>,
    /// `inbound`, `outbound` or `both`.
    pub track: Option<String>,
}

/// `recording_enum_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordingStatus {
    InProgress,
    Paused,
    Stopped,
    Processing,
    Completed,
    Absent,
    Deleted,
    #[serde(other)]
    Unknown,
}

/// Options for [`TwilioClient::start_call_recording`] (`CreateCallRecording`). Twilio's
/// defaults when unset: mono, both tracks, `do-not-trim`, callback on `completed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartRecording {
    pub channels: Option<RecordingChannels>,
    pub track: Option<RecordingTrack>,
    pub trim: Option<Trim>,
    pub status_callback: Option<String>,
    pub status_callback_method: Option<Method>,
    /// Sent as one `RecordingStatusCallbackEvent` per value.
    pub status_callback_events: Vec<RecordingEvent>,
}

/// Which file to download ([`TwilioClient::download_recording`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestedChannels {
    /// Whatever the recording has (no `RequestedChannels` parameter).
    #[default]
    AsRecorded,
    /// `RequestedChannels=1`: downmixed to mono.
    Mono,
    /// `RequestedChannels=2`: caller and callee on separate channels (dual recordings).
    Dual,
}

/// A recording's audio being downloaded: headers are in, the body streams.
pub struct RecordingMedia {
    /// `audio/mpeg` for MP3.
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    pub body: BoxStream<'static, Result<Bytes, TwilioError>>,
}

impl std::fmt::Debug for RecordingMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingMedia")
            .field("content_type", &self.content_type)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

v2010_page!(CallRecordingPage, recordings, CallRecording);

impl TwilioClient {
    /// `ListCallRecording`: the recordings of one call.
    pub fn list_call_recordings(&self, call: &CallSid) -> TwilioStream<CallRecording> {
        let account = self.account_sid().clone();
        let request = self.request(
            &LIST_CALL_RECORDING,
            &[("AccountSid", account.as_str()), ("CallSid", call.as_str())],
        );
        self.paginate::<CallRecordingPage>(request)
    }

    /// `CreateCallRecording`: start recording a live call.
    pub async fn start_call_recording(
        &self,
        call: &CallSid,
        options: &StartRecording,
    ) -> Result<CallRecording, TwilioError> {
        let account = self.account_sid().clone();
        let mut request = self
            .request(
                &CREATE_CALL_RECORDING,
                &[("AccountSid", account.as_str()), ("CallSid", call.as_str())],
            )
            .opt_param(
                "RecordingChannels",
                options
                    .channels
                    .map(super::twiml::RecordingChannels::as_str),
            )
            .opt_param(
                "RecordingTrack",
                options.track.map(super::twiml::RecordingTrack::as_str),
            )
            .opt_param("Trim", options.trim.map(super::twiml::Trim::as_str))
            .opt_param("RecordingStatusCallback", options.status_callback.clone())
            .opt_param(
                "RecordingStatusCallbackMethod",
                options.status_callback_method.map(Method::as_str),
            );
        for event in &options.status_callback_events {
            request = request.param("RecordingStatusCallbackEvent", event.as_str());
        }
        self.send_json(&request).await
    }

    /// `FetchRecording`.
    pub async fn fetch_recording(&self, sid: &RecordingSid) -> Result<Recording, TwilioError> {
        let account = self.account_sid().clone();
        let request = self.request(
            &FETCH_RECORDING,
            &[("AccountSid", account.as_str()), ("Sid", sid.as_str())],
        );
        self.send_json(&request).await
    }

    /// `DeleteRecording` (Twilio answers 204).
    pub async fn delete_recording(&self, sid: &RecordingSid) -> Result<(), TwilioError> {
        let account = self.account_sid().clone();
        let request = self.request(
            &DELETE_RECORDING,
            &[("AccountSid", account.as_str()), ("Sid", sid.as_str())],
        );
        self.send_no_content(&request).await
    }

    /// Download a recording as MP3 (`…/Recordings/{Sid}.mp3`), streaming the body.
    ///
    /// A recording that has only just completed may still answer 404 for a moment
    /// ([`TwilioError::is_not_found`]); retry later in that case.
    pub async fn download_recording(
        &self,
        sid: &RecordingSid,
        channels: RequestedChannels,
    ) -> Result<RecordingMedia, TwilioError> {
        let account = self.account_sid().clone();
        let request = self
            .request(
                &FETCH_RECORDING_MEDIA,
                &[("AccountSid", account.as_str()), ("Sid", sid.as_str())],
            )
            .opt_param(
                "RequestedChannels",
                match channels {
                    RequestedChannels::AsRecorded => None,
                    RequestedChannels::Mono => Some("1"),
                    RequestedChannels::Dual => Some("2"),
                },
            );
        let response = self.send_streaming(&request).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(RecordingMedia {
            content_type,
            content_length: response.content_length(),
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map_err(TwilioError::Connection))
                .boxed(),
        })
    }
}
