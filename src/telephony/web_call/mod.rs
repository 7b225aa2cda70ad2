//! Talking to an agent from the browser: a member's web call runs through the same bridge as a
//! phone call, with the page in Twilio's place (see [`super::bridge::transport`]), and is kept
//! as a call with `source = web`, recorded here with the caller and the agent on separate
//! channels, then processed like a phone call's recording: transcript, analyzers, to-dos, report.
//!
//! The socket: binary messages are PCM16 little-endian mono at 24 kHz both ways (the page sends
//! 20 ms frames); text messages are JSON: from the server `started` (with the call's id),
//! `transcript` (`speaker`, `text`), `mark` (`name`, to echo once the audio before it has
//! played), `clear` (drop the agent's audio not played yet) and `end` (`reason`); from the page
//! `mark` (the echo) and `end` (hang up).

pub mod recording;

use std::time::Instant;

use loquent_ai::audio::AudioFormat;
use loquent_twilio::RecordingSid;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use tracing::Instrument;
use uuid::Uuid;

use self::recording::Recorder;
use super::bridge::transport::Transport;
use super::bridge::{Bridge, CallContext};
use super::media_socket::{self, CallSocket};
use super::session::AgentSetup;
use super::wake::ConnectionSocket;
use crate::app::AppState;
use crate::calls::start::{WebCall, start_web};
use crate::entity::{agent, call, contact, organization, phone_number};

/// Agent audio waiting for the page beyond which it is dropped: about 10 s of PCM at 24 kHz.
pub const WRITE_LIMIT: usize = 512 * 1024;
/// The page's frames are 960 bytes (20 ms); a larger message is not one of ours.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Enough for a few of the page's frames.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How long closing a call that could not start may wait for the page to take the close.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Who is calling which agent.
pub struct WebCaller {
    pub org: organization::Model,
    pub agent: agent::Model,
    /// The number whose analyzers run on the call: the one chosen, else the agent's oldest.
    pub number: Option<phone_number::Model>,
    /// The contact the member calls as, if any.
    pub contact: Option<contact::Model>,
    pub member_email: String,
}

/// The organization's number `phone_id`, if the agent answers it.
pub async fn number_of_agent(
    db: &DatabaseConnection,
    org_id: Uuid,
    agent_id: Uuid,
    phone_id: Option<Uuid>,
) -> Result<Option<phone_number::Model>, sea_orm::DbErr> {
    let mut query = phone_number::Entity::find()
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .filter(phone_number::Column::AgentId.eq(agent_id));
    if let Some(id) = phone_id {
        query = query.filter(phone_number::Column::Id.eq(id));
    }
    query
        .order_by_asc(phone_number::Column::CreatedAt)
        .order_by_asc(phone_number::Column::Id)
        .one(db)
        .await
}

/// The web call on its socket, from the call row to the stored recording. With the connection's
/// socket, the loop wakes once per batch of the page's frames, as for a phone call (see
/// [`super::wake`]).
pub async fn run(
    state: AppState,
    mut socket: CallSocket,
    connection: Option<ConnectionSocket>,
    caller: WebCaller,
) {
    let started = Instant::now();
    let from = format!("web:{}", caller.member_email);
    let to = match &caller.number {
        Some(number) => number.number.clone(),
        None => format!("web:{}", caller.agent.name),
    };
    let call = start_web(
        &state.db,
        WebCall {
            org_id: caller.org.id,
            phone_number_id: caller.number.as_ref().map(|n| n.id),
            contact_id: caller.contact.as_ref().map(|c| c.id),
            from: &from,
            to: &to,
        },
    )
    .await;
    let call = match call {
        Ok(call) => call,
        Err(error) => {
            tracing::error!(%error, "cannot store a web call");
            let end = json!({"type": "end", "reason": "The call could not be started."});
            socket.queue_text_always(&end.to_string());
            let _ =
                tokio::time::timeout(CLOSE_TIMEOUT, socket.close(media_socket::NORMAL, "")).await;
            return;
        }
    };
    let span = tracing::info_span!("web_call", org_id = %caller.org.id, call_sid = %call.call_sid);
    async move {
        tracing::info!(call_id = %call.id, agent = %caller.agent.name, "web call started");
        let event = json!({"call_id": call.id, "call_sid": call.call_sid, "status": call.status});
        if let Err(e) = state
            .events
            .publish(caller.org.id, "call.updated", event)
            .await
        {
            tracing::warn!(error = %e, "could not publish call.updated");
        }
        socket.set_write_limit(WRITE_LIMIT);
        socket.queue_text_always(&json!({"type": "started", "call_id": call.id}).to_string());
        let mut setup = AgentSetup::of(&caller.agent, &state.secrets);
        setup.session.audio_format = AudioFormat::Pcm24k;
        let context = CallContext {
            setup,
            org: caller.org,
            call: call.clone(),
            contact: caller.contact,
        };
        let transport = Transport::web(Recorder::start());
        let transport = Bridge::run(
            state.clone(),
            socket,
            transport,
            connection,
            context,
            started,
        )
        .await;
        // No status callback ends a web call: the calls page hears of its end from here (the
        // row itself is closed by the call writer, as a phone call's stream end is).
        let event = json!({"call_id": call.id, "call_sid": call.call_sid, "status": "completed"});
        if let Err(e) = state
            .events
            .publish(call.organization_id, "call.updated", event)
            .await
        {
            tracing::warn!(error = %e, "could not publish call.updated");
        }
        if let Transport::Web(link) = transport {
            store_recording(&state, &call, link.recorder).await;
        }
    }
    .instrument(span)
    .await;
}

/// The call's recording to storage, then its processing queued (as Twilio's callback queues a
/// phone call's).
async fn store_recording(state: &AppState, call: &call::Model, recorder: Recorder) {
    let wav = match recorder.finish().await {
        Ok(Some(wav)) => wav,
        Ok(None) => {
            tracing::info!("nothing was said; the web call has no recording");
            return;
        }
        Err(error) => {
            tracing::error!(%error, "the web call's recording is lost");
            return;
        }
    };
    let key = crate::storage::web_recording_key(call.organization_id, &call.call_sid);
    if let Err(error) = state.storage.put(&key, wav.into()).await {
        tracing::error!(%error, %key, "cannot store the web call's recording");
        return;
    }
    // A Recording SID of our own, unique per call, in Twilio's shape: the recording pipeline
    // keys its steps by it.
    let sid: RecordingSid = match format!("RE{}", call.id.simple()).parse() {
        Ok(sid) => sid,
        Err(error) => {
            tracing::error!(%error, "cannot name the web call's recording");
            return;
        }
    };
    match crate::recordings::completed::web_call_recorded(&state.db, call, &key, &sid).await {
        Ok(()) => state.jobs_wake.notify_one(),
        Err(error) => tracing::error!(%error, "cannot queue the web call's recording"),
    }
}
