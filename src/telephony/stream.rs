//! `WSS /twilio/stream`: the media stream Twilio opens for `<Connect><Stream>`.
//!
//! The upgrade must carry `X-Twilio-Signature`. Which token signed it is known only from the
//! `start` message (its `accountSid`), so the signature is checked there, before anything is
//! looked up or written: a forged stream is closed having touched nothing.

use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use loquent_twilio::media_stream::{InboundMessage, StartMessage};
use tracing::Instrument;

use super::bridge::transport::Transport;
use super::bridge::{Bridge, CallContext};
use super::media_socket::{self, CallSocket, Incoming, Upgrade};
use super::session::AgentSetup;
use super::voice::stream_url;
use super::wake::ConnectionSocket;
use super::webhook::{organization_of_account, signature};
use crate::app::AppState;
use crate::calls::CallError;
use crate::calls::start::{InboundCall, start_inbound};
use crate::contacts::resolve::resolve_or_create;
use crate::entity::organization;
use crate::phone_numbers::answering::{Answering, find_answering};

/// Twilio sends `connected` and `start` at once; a stream silent for this long is not Twilio.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing a stream we refuse may wait for the peer to take the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Twilio's frames are a few hundred bytes; anything near this is not a media stream.
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Twilio's frames are a few hundred bytes: a small read buffer (grown for a larger frame) holds
/// a batch of them and keeps memory per call low.
const READ_BUFFER_BYTES: usize = 2 * 1024;

pub async fn open(
    State(state): State<AppState>,
    headers: HeaderMap,
    connection: Option<Extension<ConnectInfo<ConnectionSocket>>>,
    upgrade: Upgrade,
) -> Response {
    let Ok(signature) = signature(&headers) else {
        tracing::warn!("media stream without X-Twilio-Signature rejected");
        return (StatusCode::FORBIDDEN, "missing X-Twilio-Signature").into_response();
    };
    let connection = connection.map(|Extension(ConnectInfo(c))| c);
    // The bridge tunes the socket's receive threshold: it needs the connection's descriptor.
    if let Some(connection) = &connection {
        connection.want_descriptor();
    }
    upgrade.on_upgrade(READ_BUFFER_BYTES, MAX_FRAME_BYTES, move |socket| {
        run(state, socket, signature, connection)
    })
}

async fn run(
    state: AppState,
    mut socket: CallSocket,
    signature: String,
    connection: Option<ConnectionSocket>,
) {
    let accepted = Instant::now();
    let start = match tokio::time::timeout(START_TIMEOUT, wait_for_start(&mut socket)).await {
        Ok(Some(start)) => start,
        // The peer closed, sent `stop` or broke the protocol: what is owed (the close's answer,
        // the error's close frame) goes out before the connection ends.
        Ok(None) => return close(socket, media_socket::NORMAL, "").await,
        Err(_) => {
            tracing::warn!("media stream sent no start within {START_TIMEOUT:?}; closing");
            return close(socket, media_socket::POLICY, "no start message").await;
        }
    };
    let call_sid = start.start.call_sid.as_str().to_owned();
    let Some(org) = verified_org(&state, &start, &signature).await else {
        tracing::warn!(%call_sid, "media stream signature invalid; closing without touching anything");
        return close(socket, media_socket::POLICY, "invalid signature").await;
    };
    let span = tracing::info_span!("call", org_id = %org.id, %call_sid);
    async move {
        let context = match prepare(&state, org, &start).await {
            Ok(context) => context,
            Err(why) => {
                tracing::warn!(%why, "cannot bridge this call; closing the stream");
                return close(socket, media_socket::NORMAL, "call cannot be answered").await;
            }
        };
        let transport = Transport::twilio(start.stream_sid.as_str().to_owned());
        Bridge::run(state, socket, transport, connection, context, accepted).await;
    }
    .instrument(span)
    .await;
}

/// Reads until `start`, skipping `connected` (and anything else Twilio sends first).
async fn wait_for_start(socket: &mut CallSocket) -> Option<StartMessage> {
    while let Some(Ok(message)) = socket.next().await {
        match message {
            Incoming::Text => {}
            Incoming::Binary => continue,
            Incoming::Close(_) => return None,
        }
        match InboundMessage::parse(socket.text()) {
            Ok(InboundMessage::Start(start)) => return Some(start),
            Ok(InboundMessage::Stop(_)) => return None,
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "unreadable frame before start"),
        }
    }
    None
}

/// The organization whose account signed the upgrade, if the signature is right.
async fn verified_org(
    state: &AppState,
    start: &StartMessage,
    signature: &str,
) -> Option<organization::Model> {
    let org = organization_of_account(&state.db, start.start.account_sid.as_str())
        .await
        .ok()??;
    let token = state.twilio.auth_token(&org)?;
    loquent_twilio::signature::validate_form(
        &token,
        &stream_url(&state.config.server.public_url),
        std::iter::empty::<(&str, &str)>(),
        signature,
    )
    .ok()?;
    Some(org)
}

/// Why a verified stream cannot be bridged; the stream is closed and this logged.
#[derive(Debug, thiserror::Error)]
enum Unbridgeable {
    #[error("the stream has no from/to parameters")]
    NoParameters,
    #[error("{0} is not a number of this organization with an agent")]
    NoAgent(String),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// Number → agent, the caller's contact and the call row: everything the bridge needs.
async fn prepare(
    state: &AppState,
    org: organization::Model,
    start: &StartMessage,
) -> Result<CallContext, Unbridgeable> {
    let params = &start.start.custom_parameters;
    let (Some(from), Some(to)) = (params.get("from"), params.get("to")) else {
        return Err(Unbridgeable::NoParameters);
    };
    let Some(Answering { number, agent }) = find_answering(&state.db, org.id, to).await? else {
        return Err(Unbridgeable::NoAgent(to.clone()));
    };
    let contact = resolve_or_create(
        &state.db,
        org.id,
        from,
        crate::contacts::source::INBOUND_CALL,
    )
    .await?;
    let call = start_inbound(
        &state.db,
        InboundCall {
            org_id: org.id,
            phone_number_id: number.id,
            contact_id: contact.id,
            call_sid: &start.start.call_sid,
            from,
            to,
        },
    )
    .await?;
    tracing::info!(call_id = %call.id, agent = %agent.name, "call started");
    // The calls page shows the new call at the top while it is open. Once per call, not per
    // frame; best effort: the row is stored either way and a reload shows it.
    let event = serde_json::json!({
        "call_id": call.id,
        "call_sid": call.call_sid,
        "status": call.status,
    });
    if let Err(e) = state.events.publish(org.id, "call.updated", event).await {
        tracing::warn!(error = %e, "could not publish call.updated");
    }
    Ok(CallContext {
        setup: AgentSetup::of(&agent, &state.secrets),
        org,
        call,
        contact: Some(contact),
    })
}

async fn close(mut socket: CallSocket, code: u16, reason: &'static str) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(code, reason)).await;
}
