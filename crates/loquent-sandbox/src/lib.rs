//! Emulators of Twilio, OpenAI and Gemini speaking their documented wire formats, for tests and
//! demo mode: the Twilio REST APIs, webhooks and a simulated caller; OpenAI Realtime,
//! transcription and Chat Completions; Gemini Live.
//!
//! # Twilio
//!
//! One HTTP listener serves:
//!
//! - **v2010 REST** at Twilio's exact paths (`/2010-04-01/Accounts/...`): `FetchAccount`,
//!   `CreateAccount` (subaccounts), `ListCall` (`To`, `From`, `Status`, `StartTime`,
//!   `StartTime>`, `StartTime<`, `PageSize` ≤ 1000 default 50, `Page` + `PageToken`), `FetchCall`,
//!   `UpdateCall` (`Status`, `Twiml`, `Url`), `ListCallRecording`, `CreateCallRecording`,
//!   `FetchRecording`, `DeleteRecording`, recording media (`…/Recordings/{Sid}.mp3`, a valid
//!   real MP3 as long as the recording (a caller-and-agent loop, see `fixtures/`), `RequestedChannels=1|2`),
//!   `ListIncomingPhoneNumber` (`PhoneNumber`), `FetchIncomingPhoneNumber`,
//!   `UpdateIncomingPhoneNumber` (an empty `VoiceUrl` clears it), `CreateIncomingPhoneNumber`
//!   and `ListAvailablePhoneNumberLocal` (`AreaCode`, `Contains`). For area code `AAA` the
//!   numbers for sale are `+1AAA5550100`–`+1AAA5550199` (415 without `AreaCode`); buying any
//!   other number answers 400 with error 21422.
//! - **Event Streams v1** at `/v1/Sinks`, `/v1/Subscriptions`,
//!   `/v1/Subscriptions/{Sid}/SubscribedEvents` (create, list, fetch, delete). The
//!   `TwilioClient` ignores any path in its base URLs, so Events live on the same origin:
//!   [`SandboxHandle::twilio_events_base`] equals [`SandboxHandle::twilio_api_base`].
//!
//! Requests use HTTP Basic auth with an Account SID and its Auth Token, or an API key SID and its
//! secret (`CreateNewKey`, `ListKey`, `FetchKey`, `DeleteKey` are served); wrong credentials get
//! 401 with Twilio's error body (code 20003). A main account's credentials may act on its
//! subaccounts; a subaccount's only on itself (others: 401). Unknown resources get 404 / 20404.
//! Responses are Twilio's JSON (snake_case, RFC 2822 dates in v2010, ISO 8601 in Events, the
//! v2010 paging envelope with relative `…_page_uri`s, Events' `meta` with absolute URLs).
//!
//! # Control API (`/sandbox`, JSON, no auth)
//!
//! | Request | Effect |
//! | --- | --- |
//! | `POST /sandbox/accounts` `{numbers, calls_per_number, recording_share, seed, since?, until?, friendly_name?, parties?}` | Creates a main account with `numbers` numbers and `calls_per_number` completed calls each (inbound: `To` = the number; outbound-api: `From` = the number), spread over `[since, until)` (default 2025-01-01 to 2025-04-01), `recording_share` of them recorded; with `parties`, the other party of each call is one of that many numbers (repeat callers), else a fresh random number. Everything derives from `seed`: the same request gives the same SIDs, token and calls; seeding again resets that account. Answers 201 `{account_sid, auth_token, numbers: [{sid, phone_number}], calls, recordings}`. |
//! | `POST /sandbox/numbers` `{account_sid, phone_number?, voice_url?, voice_method?, status_callback?, friendly_name?}` | Gives an account a number (any number, e.g. with or without a voice URL). 201 with the IncomingPhoneNumber JSON. |
//! | `POST /sandbox/calls` `{account_sid, from, to, script?, wait?}` | Places a simulated inbound call to `to` (a number of the account) and answers 200 with its report once it has ended; with `wait: false`, 202 `{call_sid, report}` at once. See "Call simulator" below. |
//! | `GET /sandbox/calls/{CallSid}` | The report of a simulated call: 202 `{status: "in-progress"}` while it runs, 200 with the report after. |
//! | `POST /sandbox/live-calls` `{account_sid, from, to, status?, direction?}` | Adds a call starting now, `in-progress` and `inbound` by default, with nobody on it: a live call to hang up, redirect or record through the REST API. 201 with the Call JSON. |
//! | `GET /sandbox/requests?account_sid=AC…&mutating=true` | `{requests: [{method, path, query, form, account_sid, status, at}]}`: every API request (control requests excluded) in arrival order; `mutating=true` keeps POST and DELETE only. |
//! | `DELETE /sandbox/requests` | Clears the log. |
//! | `POST /sandbox/faults` `{account_sid?, method?, path_contains?, rate, statuses?, latency_ms?, drop_connection?, seed?, retry_after?}` | Adds a fault rule (rules accumulate; the first that fires decides). A `rate` share of the API requests it matches (that account, that method, a path containing `path_contains`; PRNG seeded with `seed`) waits `latency_ms`, then loses its connection (`drop_connection`, logged as 499) or fails with one of `statuses` (default `[429, 500]`; `[]` means latency only). 429s carry `Retry-After: retry_after` (default 0) and error 20429; 5xx carry 20500 (503: 20503). Faulted requests do not run. |
//! | `POST /sandbox/api-keys` `{account_sid, friendly_name?}` | Creates an API key: 201 `{sid, secret, friendly_name, …}`. `SK…` + secret then authenticate as that account (the REST `…/Keys.json` does the same). |
//! | `DELETE /sandbox/faults` | Stops injecting faults. |
//!
//! # Call simulator
//!
//! A simulated call rings the way Twilio rings: the number's voice URL gets Twilio's form
//! parameters (`CallSid`, `AccountSid`, `From`, `To`, `CallStatus=ringing`, `Direction`, …) with a
//! valid `X-Twilio-Signature` and an `I-Twilio-Idempotency-Token`. The TwiML is parsed as strictly
//! as Twilio does (invalid documents fail the call with error 12100/12200; an unreachable app or a
//! non-2xx answer with 11200) and run: `<Start><Recording>` starts a recording, `<Say>` (30 ms per
//! character, at most 3 s) and `<Pause>` take time, `<Dial>` is reported as a transfer (and its
//! `action` requested), `<Redirect>` fetches the next document, `<Hangup>` ends the call, and
//! `<Connect><Stream>` opens the Media Stream with a signed upgrade and plays the caller:
//! `connected`, `start` (with the `<Parameter>`s), a 20 ms µ-law `media` frame every 20 ms from the
//! caller's script, `dtmf`, marks echoed as the server's audio plays out in real time, all pending
//! marks echoed on `clear`, and `stop` at hang-up. Frames the server sends are checked like
//! Twilio checks them (31950 binary frame, 31951 invalid message or wrong `streamSid`). Twilio only
//! connects to `wss://`; when the number's voice URL is plain `http://` (an app on a developer's
//! machine or in a test) the sandbox connects to the same `wss://` URL without TLS, and still
//! signs the URL as written.
//!
//! When the stream ends the `<Connect action>` URL is requested: with `CallStatus=in-progress`
//! if the server closed the socket (its TwiML runs next), with `CallStatus=completed` and
//! `CallDuration` if the caller hung up or the call was ended through the REST API. Hanging up
//! (`Status=completed`) or redirecting (`Twiml`, `Url`) the call through the REST API meanwhile
//! ends the stream with `stop`, as on Twilio. Then recordings complete (status callback with
//! `RecordingSid`, `RecordingUrl` without extension, `RecordingStatus=completed`,
//! `RecordingChannels`, `RecordingDuration`, …), the number's own `StatusCallback` hears the final
//! status, and Event Streams webhook sinks get a JSON array of the subscribed events
//! (`com.twilio.voice.insights.call-summary.complete` for every call;
//! `com.twilio.voice.status-callback.call.completed` when the number has a status callback),
//! signed with `bodySHA256`.
//!
//! The caller's `script` is a list of steps: `{"say": PHRASE, "ms": N}`, `{"silence": MS}`,
//! `{"dtmf": "12#"}`, `{"wait_for_speech": MS}`, `{"wait_for_reply": MS}`,
//! `{"wait_for_hangup": MS}`, `"hangup"`; phrases are the tones of [`speech`]. The report
//! ([`CallReport`]) lists the TwiML documents, what was said and dialled, per stream the frames sent
//! and received, agent-voice frames, audio played, marks played and cleared, clears, DTMF, the time
//! to first audio, reply latencies and barge-in-to-`clear` times, every callback with the status
//! the app answered, Event Streams deliveries, errors and warnings.
//!
//! # OpenAI Realtime and Gemini Live
//!
//! - **OpenAI Realtime (GA)**: `GET {openai_base_url}/realtime?model=…` (WebSocket), where
//!   [`SandboxHandle::openai_base_url`] is `{origin}/openai/v1`. Bearer auth (401 without);
//!   `session.created`, then `session.updated` with the full effective session after each
//!   accepted `session.update` (beta shapes get `beta_api_shape_disabled` and close 4000, the
//!   `OpenAI-Beta` header gets `invalid_beta`); server VAD on `audio/pcmu` or `audio/pcm` input;
//!   scripted responses whose `response.output_audio.delta`s are paced in real time; function
//!   calls; barge-in (`response.done` `cancelled`); `conversation.item.truncate` bounded by the
//!   audio sent, as OpenAI bounds it; input transcription when configured.
//! - **Gemini Live**: `{gemini_base_url}/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=…`,
//!   where [`SandboxHandle::gemini_base_url`] is `{origin}/gemini`. `setup` first (otherwise close
//!   1007), JSON in binary frames, PCM16 input at the rate in its MIME type, PCM16 24 kHz model
//!   turns paced in real time, `interrupted`, `toolCall` / `toolResponse`,
//!   `toolCallCancellation`, transcriptions, `sessionResumptionUpdate` handles that resume.
//!
//! Both hear the caller's [`speech::Phrase`]s: a phrase whose [`speech::Phrase::tool`] the
//! session declared becomes a call of that tool (arguments made up from its JSON schema); others
//! get a spoken reply in the agent's voice ([`speech::AGENT_VOICE_HZ`]); a tool's result gets a
//! short spoken reply.
//!
//! Per-connection modes and faults are words of the model id (OpenAI `?model=`, Gemini
//! `setup.model`), e.g. `sandbox-echo`, `gpt-realtime-slow-start`, `models/sandbox-go-away`:
//!
//! | Word | OpenAI | Gemini |
//! | --- | --- | --- |
//! | `echo` | every `input_audio_buffer.append` comes straight back as a `response.output_audio.delta` with the same base64 (no VAD, no responses; only the first 20 of each are logged): latency benchmarks | every `realtimeInput.audio` comes straight back as model audio, resampled to 24 kHz |
//! | `slow-start` | `session.created` 2 s late | `setupComplete` 2 s late |
//! | `error` | an `error` event (`server_error`) 200 ms after setup | close 1011 200 ms after setup |
//! | `drop` | TCP dropped without a close frame 200 ms after setup | the same |
//! | `expire` | the 60-minute limit 1 s after setup: `error` `session_expired`, then close 1001 | — |
//! | `go-away` | — | `goAway` (`timeLeft` 1 s) 1 s after setup, then close 1000; resumed connections are not sent away again |
//!
//! Control API:
//!
//! | Request | Effect |
//! | --- | --- |
//! | `POST /sandbox/realtime/faults` `{provider?: "openai"\|"gemini", connections?, faults: {echo?, slow_start_ms?, error_after_ms?, drop_after_ms?, expire_after_ms?, go_away_after_ms?}}` | The next `connections` connections (all, without it) of that provider (both, without it) get these faults, on top of the model-id words. 204; unknown fields 422. |
//! | `DELETE /sandbox/realtime/faults` | Drops the queued faults. |
//! | `GET /sandbox/realtime/connections` | `{connections: [{id, provider, model, received, sent, ended}]}`: the last 64 connections with every client message received and server message sent (audio replaced by its length), and how each ended. |
//! | `DELETE /sandbox/realtime/connections` | Clears that log. |
//!
//! # OpenAI transcription and Chat Completions
//!
//! `POST {openai_base_url}/audio/transcriptions` and `POST {openai_base_url}/chat/completions`,
//! with their control API under `/sandbox/openai` (canned chat answers, faults, request log):
//! see the `openai` module's documentation.
//!
//! # Load generator
//!
//! [`load::run`] places many simultaneous calls the way Twilio does (signed webhook, strict
//! TwiML, signed stream upgrade, `connected`/`start`, a `media` frame every 20 ms, marks echoed,
//! `stop`), without the call simulator's per-frame recognition: each frame carries a stamp, and
//! its echo (the realtime emulators' `echo` mode) is matched and timed. `benches/live_calls.rs`
//! at the workspace root drives it against the server.
//!
//! # Running it
//!
//! In process: [`Sandbox::start`] returns a [`SandboxHandle`] with the base URLs; the server
//! stops when the handle is dropped. As a process: [`serve_forever`] prints one JSON line
//! `{"twilio_api_base": "...", "twilio_events_base": "...", "openai_base_url": "...",
//! "gemini_base_url": "..."}` on stdout, then serves.

pub mod load;
mod openai;
mod realtime;
pub mod speech;
mod twilio;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use twilio::{
    CallReport, Callback, EventDelivery, RecordingReport, SeedRequest, SeededAccount, SeededNumber,
    StreamError, StreamReport,
};

/// The emulators, served over HTTP.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox;

impl Sandbox {
    /// Bind `listen` (port 0 picks a free port) and serve in a background task.
    pub async fn start(listen: SocketAddr) -> io::Result<SandboxHandle> {
        let listener = TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        // Nagle off, as on the real services: the realtime emulators stream small audio messages
        // every 20 ms, and Nagle with delayed ACKs would hold some back by up to 40 ms.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            let router = twilio::router()
                .merge(openai::router())
                .merge(realtime::router());
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                eprintln!("loquent sandbox stopped: {e}");
            }
        });
        Ok(SandboxHandle {
            local_addr,
            stop: Some(stop),
            task,
        })
    }
}

/// A running sandbox; dropping it stops the server.
#[derive(Debug)]
pub struct SandboxHandle {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl SandboxHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT`: the value for `LOQUENT_TWILIO_API_BASE` /
    /// `TwilioClientBuilder::api_base`. The control API lives under `/sandbox` here too.
    pub fn twilio_api_base(&self) -> String {
        origin(self.local_addr)
    }

    /// The value for `LOQUENT_TWILIO_EVENTS_BASE` / `TwilioClientBuilder::events_base`
    /// (the same origin: Events v1 paths start with `/v1`).
    pub fn twilio_events_base(&self) -> String {
        origin(self.local_addr)
    }

    /// `http://127.0.0.1:PORT/openai/v1`: the OpenAI base URL for transcription, chat
    /// (`/sandbox/openai` control API) and the Realtime WebSocket (`{base}/realtime`).
    pub fn openai_base_url(&self) -> String {
        format!("{}/openai/v1", origin(self.local_addr))
    }

    /// `http://127.0.0.1:PORT/gemini`: the Gemini base URL (`GeminiLive::new`).
    pub fn gemini_base_url(&self) -> String {
        format!("{}/gemini", origin(self.local_addr))
    }

    /// Stop accepting requests and wait for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `http://host:port`, with a wildcard bind address replaced by loopback.
fn origin(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Serve until the process ends: print one JSON line with the base URLs on stdout, then serve.
pub async fn serve_forever(listen: SocketAddr) -> io::Result<()> {
    let handle = Sandbox::start(listen).await?;
    let line = serde_json::json!({
        "twilio_api_base": handle.twilio_api_base(),
        "twilio_events_base": handle.twilio_events_base(),
        "openai_base_url": handle.openai_base_url(),
        "gemini_base_url": handle.gemini_base_url(),
    });
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    drop(stdout);
    std::future::pending::<()>().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_advertise_loopback() {
        assert_eq!(
            origin("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("[::]:80".parse().unwrap()), "http://[::1]:80");
        assert_eq!(origin("10.0.0.2:1".parse().unwrap()), "http://10.0.0.2:1");
    }
}
