//! The [`crate::calls::after::kind::PROCESS_RECORDING`] job: download a call's recording from Twilio, store it,
//! transcribe it by channel (caller and agent), save the transcript as the call's and start the
//! post-call steps, then delete the recording from Twilio when the organization wants that.
//!
//! Idempotent, step by step, because a job may run again after a crash:
//! - `recording_url` (the storage key) and `recording_sid` are set together once the audio is
//!   stored, before transcribing: a run that finds them reads the stored audio instead of
//!   downloading it again.
//! - The transcript and the post-call jobs are saved in one transaction, the jobs deduplicated by
//!   the Recording SID: a run that finds the recording's transcript only enqueues again (which
//!   adds nothing) and deletes.
//! - Deleting from Twilio is best effort and comes last: a failure is logged, never fails the job
//!   (the recording is stored here either way).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use loquent_ai::transcription::{Attribution, Recording, Transcriber, Transcript};
use loquent_twilio::recordings::RequestedChannels;
use loquent_twilio::{RecordingSid, TwilioClient, TwilioError};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

use super::settings;
use crate::calls::after::{RecordingJob, enqueue_post_call};
use crate::calls::recording::{self as call_recording, SOURCE_RECORDING};
use crate::entity::{call, job};
use crate::jobs::{Handler, Outcome};
use crate::orgs::twilio::{TwilioAccounts, reload};
use crate::storage::{Storage, recording_key};

/// Runs [`crate::calls::after::kind::PROCESS_RECORDING`] jobs.
pub struct ProcessRecording {
    db: DatabaseConnection,
    twilio: TwilioAccounts,
    storage: Storage,
    /// `None` when no OpenAI API key is configured: recordings are stored, not transcribed.
    transcriber: Option<Transcriber>,
    /// Notified after the post-call steps are enqueued, so this process's runner starts them.
    wake: Arc<Notify>,
}

impl ProcessRecording {
    pub fn new(
        db: DatabaseConnection,
        twilio: TwilioAccounts,
        storage: Storage,
        transcriber: Option<Transcriber>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            db,
            twilio,
            storage,
            transcriber,
            wake,
        }
    }
}

#[async_trait::async_trait]
impl Handler for ProcessRecording {
    async fn run(&self, job: &job::Model) -> Result<Outcome, String> {
        let payload: RecordingJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| format!("this job does not describe a recording: {e}"))?;
        let (Some(org_id), Some(call_id)) = (job.organization_id, job.call_id) else {
            return Err("this job names no organization or call".to_owned());
        };
        let recording_sid: RecordingSid = payload
            .recording_sid
            .parse()
            .map_err(|e| format!("{} is not a recording SID: {e}", payload.recording_sid))?;
        self.process(org_id, call_id, &recording_sid, Origin::Live)
            .await
    }
}

/// Where a recording's call comes from, which decides what follows its transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A call answered here: the post-call steps follow, and the recording is deleted from
    /// Twilio when the organization says so.
    Live,
    /// A call imported from Twilio's history: transcribed only (no report about an old call),
    /// and never deleted from Twilio (a sync is read-only there).
    Imported,
}

/// The model for recordings with one channel (both sides mixed): it labels the speakers.
pub const DIARIZATION_MODEL: &str = "gpt-4o-transcribe-diarize";

/// What to say when the database fails (no details that could hold secrets).
fn database(error: impl std::fmt::Display) -> String {
    tracing::warn!(%error, "recording job: database error");
    "the database failed; will try again".to_owned()
}

impl ProcessRecording {
    /// Downloads, stores and transcribes recording `recording_sid` of the organization's call
    /// `call_id`; idempotent (the stored key and the transcript's source mark what is done).
    pub async fn process(
        &self,
        org_id: Uuid,
        call_id: Uuid,
        recording_sid: &RecordingSid,
        origin: Origin,
    ) -> Result<Outcome, String> {
        let Some(call) = call_recording::find(&self.db, org_id, call_id)
            .await
            .map_err(database)?
        else {
            return Ok(Outcome::Skipped("the call no longer exists".to_owned()));
        };
        let org = reload(&self.db, org_id).await.map_err(|e| e.to_string())?;
        let transcribed = call.transcript_source.as_deref() == Some(SOURCE_RECORDING)
            && call.recording_sid.as_deref() == Some(recording_sid.as_str());
        if !transcribed {
            let audio = match &call.recording_url {
                Some(key) => self.stored(key).await?,
                None => {
                    let client = self.twilio.client_for(&org).map_err(|e| e.to_string())?;
                    // Ours are recorded dual; an imported one comes as it was recorded.
                    let channels = match origin {
                        Origin::Live => RequestedChannels::Dual,
                        Origin::Imported => RequestedChannels::AsRecorded,
                    };
                    let audio = download(&client, recording_sid, channels).await?;
                    let key = recording_key(org_id, &call.call_sid);
                    self.storage.put(&key, audio.clone()).await.map_err(|e| {
                        tracing::warn!(error = %e, %key, "cannot store a recording");
                        format!("cannot store the recording {recording_sid}: {e}")
                    })?;
                    call_recording::set_recording(
                        &self.db,
                        org_id,
                        call.id,
                        &key,
                        recording_sid.as_str(),
                    )
                    .await
                    .map_err(database)?;
                    audio
                }
            };
            let transcript = self.transcribe(audio, recording_sid).await?;
            let txn = crate::db::begin_write(&self.db).await.map_err(database)?;
            call_recording::save_transcript(
                &txn,
                org_id,
                call.id,
                &transcript.to_text(),
                segments_json(&transcript),
            )
            .await
            .map_err(database)?;
            if origin == Origin::Live {
                enqueue_post_call(&txn, &call, recording_sid.as_str())
                    .await
                    .map_err(database)?;
            }
            txn.commit().await.map_err(database)?;
        } else if origin == Origin::Live {
            // Saved by an earlier run that stopped before its end: the steps are deduplicated.
            enqueue_post_call(&self.db, &call, recording_sid.as_str())
                .await
                .map_err(database)?;
        }
        if origin == Origin::Live {
            self.wake.notify_one();
            // A web call's recording was made here: Twilio never had it.
            if call.source.as_deref() != Some(crate::calls::source::WEB) {
                self.delete_from_twilio(&org, &call, recording_sid).await;
            }
        }
        Ok(Outcome::Done)
    }

    /// The audio an earlier run stored.
    async fn stored(&self, key: &str) -> Result<Bytes, String> {
        let object = self
            .storage
            .get(key, None)
            .await
            .map_err(|e| format!("cannot read the stored recording: {e}"))?;
        let chunks: Vec<Bytes> = object
            .body
            .try_collect()
            .await
            .map_err(|e| format!("cannot read the stored recording: {e}"))?;
        Ok(chunks.concat().into())
    }

    async fn transcribe(
        &self,
        audio: Bytes,
        recording_sid: &RecordingSid,
    ) -> Result<Transcript, String> {
        let Some(transcriber) = &self.transcriber else {
            return Err(format!(
                "no OpenAI API key is configured (LOQUENT_OPENAI_API_KEY), so the recording \
                 {recording_sid} cannot be transcribed; it is stored"
            ));
        };
        let recording = Recording::parse(audio)
            .map_err(|e| format!("the recording {recording_sid} is not usable audio: {e}"))?;
        // Calls answered here are recorded with a channel per side; an imported call's
        // recording may have one channel, and then the diarizing model tells the voices apart.
        let transcribed = if recording.channels() == 2 {
            transcriber
                .transcribe(&recording, Attribution::ByChannel)
                .await
        } else {
            transcriber
                .clone()
                .with_model(DIARIZATION_MODEL)
                .transcribe(&recording, Attribution::Diarize)
                .await
        };
        transcribed.map_err(|e| format!("transcribing the recording {recording_sid} failed: {e}"))
    }

    async fn delete_from_twilio(
        &self,
        org: &crate::entity::organization::Model,
        call: &call::Model,
        recording_sid: &RecordingSid,
    ) {
        let wanted = match settings::read(&self.db, org.id).await {
            Ok(settings) => settings.delete_recordings_from_twilio,
            Err(error) => {
                tracing::warn!(%error, org_id = %org.id, "recording settings unreadable; keeping the recording on Twilio");
                false
            }
        };
        if !wanted {
            return;
        }
        let deleted = match self.twilio.client_for(org) {
            Ok(client) => client.delete_recording(recording_sid).await,
            Err(error) => {
                tracing::warn!(%error, org_id = %org.id, %recording_sid, "cannot delete the recording from Twilio");
                return;
            }
        };
        match deleted {
            Ok(()) => {
                tracing::info!(org_id = %org.id, call_sid = %call.call_sid, %recording_sid, "recording deleted from Twilio");
            }
            // Deleted by an earlier run.
            Err(e) if e.is_not_found() => {}
            Err(error) => {
                tracing::warn!(%error, org_id = %org.id, %recording_sid, "cannot delete the recording from Twilio; it stays there");
            }
        }
    }
}

/// The MP3 of `sid`, whole (transcription needs all of it).
async fn download(
    client: &TwilioClient,
    sid: &RecordingSid,
    channels: RequestedChannels,
) -> Result<Bytes, String> {
    let explain = |e: &TwilioError| match e.status() {
        Some(status) => format!("Twilio answered {status} while downloading the recording {sid}"),
        None => format!("downloading the recording {sid} from Twilio failed: {e}"),
    };
    let media = client
        .download_recording(sid, channels)
        .await
        .map_err(|e| explain(&e))?;
    let chunks: Vec<Bytes> = media.body.try_collect().await.map_err(|e| explain(&e))?;
    Ok(chunks.concat().into())
}

/// `[{speaker, start, end, text}]`, the speaker `Caller` or `Agent`.
fn segments_json(transcript: &Transcript) -> serde_json::Value {
    transcript
        .segments
        .iter()
        .map(|s| {
            json!({
                "speaker": s.speaker.to_string(),
                "start": s.start,
                "end": s.end,
                "text": s.text,
            })
        })
        .collect()
}

/// The transcriber the configuration describes, if it has an OpenAI API key.
pub fn transcriber(ai: &crate::config::Ai) -> Option<Transcriber> {
    let key = ai
        .openai_api_key
        .as_ref()
        .filter(|k| !k.expose().trim().is_empty())?;
    Some(
        Transcriber::new(
            ai.openai_base_url.as_str().trim_end_matches('/'),
            key.expose().clone(),
        )
        .with_model(&ai.transcription_model),
    )
}
