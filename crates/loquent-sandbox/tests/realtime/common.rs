use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt as _, StreamExt as _};
use loquent_sandbox::speech::{self, Phrase, Tone};
use loquent_sandbox::{Sandbox, SandboxHandle};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::schema::Spec;

const PATIENCE: Duration = Duration::from_secs(5);

pub async fn sandbox() -> SandboxHandle {
    Sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts")
}

/// A raw WebSocket client, for what the real clients never do.
pub struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub async fn connect(
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<Raw, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(Raw { ws })
}

pub fn ws_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.replacen("http://", "ws://", 1))
}

pub async fn openai(sandbox: &SandboxHandle, model: &str) -> Raw {
    let url = ws_url(
        &sandbox.openai_base_url(),
        &format!("/realtime?model={model}"),
    );
    connect(&url, &[("authorization", "Bearer sk-sandbox")])
        .await
        .expect("upgrade")
}

/// The status of a refused upgrade.
pub fn refused_status(error: &tungstenite::Error) -> u16 {
    match error {
        tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// A server message, and whether it came in a binary frame.
pub enum Frame {
    Json(Value, bool),
    Closed(u16, String),
}

impl Raw {
    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    pub async fn frame(&mut self) -> Frame {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a server message in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Frame::Json(serde_json::from_str(text.as_str()).unwrap(), false);
                }
                Some(Ok(Message::Binary(bytes))) => {
                    return Frame::Json(serde_json::from_slice(&bytes).unwrap(), true);
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Frame::Closed(code, reason);
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return Frame::Closed(1006, "no close frame".to_owned()),
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        match self.frame().await {
            Frame::Json(value, _) => value,
            Frame::Closed(code, reason) => panic!("closed with {code}: {reason}"),
        }
    }

    /// The next OpenAI event of type `kind`, skipping others.
    pub async fn event(&mut self, kind: &str) -> Value {
        loop {
            let event = self.recv().await;
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// Skips messages until the server closes; its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            if let Frame::Closed(code, reason) = self.frame().await {
                return (code, reason);
            }
        }
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn quiet(&mut self, wait: Duration) {
        if let Ok(Some(Ok(message))) = tokio::time::timeout(wait, self.ws.next()).await {
            panic!("unexpected server message: {message:?}");
        }
    }
}

/// `ms` of `phrase` then `silence_ms` of silence as µ-law 8 kHz, base64, 20 ms per string.
pub fn mulaw_frames(phrase: Phrase, ms: usize, silence_ms: usize) -> Vec<String> {
    let mut tone = Tone::new(phrase.frequency_hz(), speech::SAMPLE_RATE);
    let mut frames: Vec<String> = (0..ms / 20)
        .map(|_| STANDARD.encode(tone.mulaw_frame()))
        .collect();
    frames.extend((0..silence_ms / 20).map(|_| STANDARD.encode(speech::silence_frame())));
    frames
}

/// The same as PCM16LE 16 kHz (Gemini's input), one base64 string.
pub fn pcm16k(phrase: Phrase, ms: usize, silence_ms: usize) -> String {
    let mut pcm = Vec::new();
    Tone::new(phrase.frequency_hz(), 16_000).pcm(ms * 16, &mut pcm);
    pcm.extend(std::iter::repeat_n(0i16, silence_ms * 16));
    STANDARD.encode(
        pcm.iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

pub async fn connections(sandbox: &SandboxHandle) -> Vec<Value> {
    let url = format!("{}/sandbox/realtime/connections", sandbox.twilio_api_base());
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["connections"].as_array().unwrap().clone()
}

/// Every OpenAI server event the sandbox sent (and, with `clients`, every client event it
/// received) is valid against the spec's `RealtimeServerEvent` / `RealtimeClientEvent`.
/// Returns how many events were checked.
pub async fn assert_openai_conforms(sandbox: &SandboxHandle, clients: bool) -> usize {
    let spec = Spec::load();
    let mut checked = 0;
    let mut failures = Vec::new();
    for connection in connections(sandbox).await {
        if connection["provider"] != "openai" {
            continue;
        }
        let mut lists = vec![("RealtimeServerEvent", &connection["sent"])];
        if clients {
            lists.push(("RealtimeClientEvent", &connection["received"]));
        }
        for (union, events) in lists {
            for event in events.as_array().unwrap() {
                checked += 1;
                if let Err(errors) = spec.validate_event(union, event) {
                    failures.push(format!("{} {}: {errors:#?}", union, event["type"]));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} nonconforming events:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}
