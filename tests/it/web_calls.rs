//! Talking to an agent from the browser, through the web-call socket, with a simulated page that
//! behaves as the dashboard's does: it sends its microphone as 20 ms PCM frames at 24 kHz without
//! a break, plays the agent's audio in real time, echoes each mark once the audio before it has
//! played (all of them at once on `clear`, which empties its queue), and hangs up with `end`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use loquent_sandbox::speech::{self, Phrase, Tone};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::realtime::{Socket, session_cookie, session_cookie_with};
use crate::support::{Member, TestApp};

const RATE: u32 = 24_000;
/// 20 ms at 24 kHz.
const FRAME: usize = 480;

enum Queued {
    Audio(usize),
    Mark(String),
}

/// The page: what it says, what it plays, what it was told.
struct Page {
    socket: Socket,
    started: Option<Value>,
    /// Caller samples still to say; silence once empty.
    to_say: VecDeque<i16>,
    /// The agent's audio and marks, in play order.
    playing: VecDeque<Queued>,
    agent_pcm: Vec<i16>,
    played_samples: usize,
    clears: usize,
    transcript: Vec<(String, String)>,
    ended: Option<String>,
    closed: bool,
}

impl Page {
    async fn open(app: &TestApp, member: &Member, agent_id: &str) -> Self {
        Self::open_at(app, member, &format!("/api/agents/{agent_id}/web-call")).await
    }

    /// The page's socket at `path` (the web-call route with its query).
    async fn open_at(app: &TestApp, member: &Member, path: &str) -> Self {
        let cookie = session_cookie(app, member).await;
        let request = web_call_request_to(app, path, Some(&cookie), None);
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("upgrade");
        assert_eq!(response.status(), 101);
        Self {
            socket,
            started: None,
            to_say: VecDeque::new(),
            playing: VecDeque::new(),
            agent_pcm: Vec::new(),
            played_samples: 0,
            clears: 0,
            transcript: Vec::new(),
            ended: None,
            closed: false,
        }
    }

    fn say(&mut self, phrase: Phrase, ms: usize) {
        let mut pcm = Vec::new();
        Tone::new(phrase.frequency_hz(), RATE).pcm(ms * 24, &mut pcm);
        self.to_say.extend(pcm);
    }

    fn pause(&mut self, ms: usize) {
        self.to_say.extend(std::iter::repeat_n(0, ms * 24));
    }

    fn queued_samples(&self) -> usize {
        self.playing
            .iter()
            .map(|q| match q {
                Queued::Audio(n) => *n,
                Queued::Mark(_) => 0,
            })
            .sum()
    }

    /// Runs the page in real time until `done` holds, at most `limit`.
    async fn until(&mut self, what: &str, limit: Duration, done: impl Fn(&Page) -> bool) {
        let deadline = Instant::now() + limit;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?}; transcript {:?}, ended {:?}",
                self.transcript,
                self.ended
            );
            if self.closed {
                panic!("{what}: the socket closed first ({:?})", self.ended);
            }
            tokio::select! {
                _ = tick.tick() => self.frame().await,
                message = self.socket.next() => self.on_message(message).await,
            }
        }
    }

    /// 20 ms: the microphone's frame goes out, and 20 ms of the agent's audio plays.
    async fn frame(&mut self) {
        let mut pcm = Vec::with_capacity(FRAME * 2);
        for _ in 0..FRAME {
            let sample = self.to_say.pop_front().unwrap_or(0);
            pcm.extend_from_slice(&sample.to_le_bytes());
        }
        if self.socket.send(Message::binary(pcm)).await.is_err() {
            self.closed = true;
            return;
        }
        let mut room = FRAME;
        while let Some(front) = self.playing.front_mut() {
            match front {
                Queued::Mark(name) => {
                    let echo = json!({"type": "mark", "name": name}).to_string();
                    self.playing.pop_front();
                    let _ = self.socket.send(Message::text(echo)).await;
                }
                Queued::Audio(_) if room == 0 => break,
                Queued::Audio(n) => {
                    let played = (*n).min(room);
                    *n -= played;
                    room -= played;
                    self.played_samples += played;
                    if *n == 0 {
                        self.playing.pop_front();
                    }
                }
            }
        }
    }

    async fn on_message(&mut self, message: Option<Result<Message, impl std::fmt::Debug>>) {
        match message {
            Some(Ok(Message::Binary(bytes))) => {
                assert_eq!(bytes.len() % 2, 0, "PCM16 comes in whole samples");
                let samples: Vec<i16> = bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                self.playing.push_back(Queued::Audio(samples.len()));
                self.agent_pcm.extend(samples);
            }
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                match message["type"].as_str().unwrap() {
                    "started" => self.started = Some(message),
                    "mark" => self
                        .playing
                        .push_back(Queued::Mark(message["name"].as_str().unwrap().to_owned())),
                    "clear" => {
                        self.clears += 1;
                        // Dropped unplayed; every pending mark is echoed at once.
                        let marks: Vec<String> = self
                            .playing
                            .drain(..)
                            .filter_map(|q| match q {
                                Queued::Mark(name) => Some(name),
                                Queued::Audio(_) => None,
                            })
                            .collect();
                        for name in marks {
                            let echo = json!({"type": "mark", "name": name}).to_string();
                            let _ = self.socket.send(Message::text(echo)).await;
                        }
                    }
                    "transcript" => self.transcript.push((
                        message["speaker"].as_str().unwrap().to_owned(),
                        message["text"].as_str().unwrap().to_owned(),
                    )),
                    "end" => self.ended = Some(message["reason"].as_str().unwrap().to_owned()),
                    other => panic!("unknown message {other}: {text}"),
                }
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => self.closed = true,
            Some(Ok(_)) => {}
        }
    }

    fn said(&self, speaker: &str) -> usize {
        self.transcript.iter().filter(|(s, _)| s == speaker).count()
    }
}

fn web_call_request(
    app: &TestApp,
    agent_id: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    web_call_request_to(
        app,
        &format!("/api/agents/{agent_id}/web-call"),
        cookie,
        origin,
    )
}

fn web_call_request_to(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = app.ws_url(path).into_client_request().unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    request
}

async fn app_with_emulated_ai() -> TestApp {
    TestApp::builder()
        .with_setting("LOQUENT_SANDBOX", "auto")
        .start()
        .await
}

async fn agent(app: &TestApp, owner: &Member) -> String {
    let res = owner
        .post_json(
            app,
            "/api/agents",
            &json!({
                "name": "Front desk",
                "prompt": "You answer the phone for Acme Plumbing.",
                "config": {
                    "provider": "openai",
                    "tools": {"end_call": true},
                    "vad": {"silence_duration_ms": 300},
                },
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let agent: Value = res.json().await.unwrap();
    agent["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_member_talks_to_an_agent_from_the_browser() {
    let app = app_with_emulated_ai().await;
    let owner = app.owner("Acme Plumbing").await;
    let agent_id = agent(&app, &owner).await;
    let mut page = Page::open(&app, &owner, &agent_id).await;

    // The call starts, and the agent greets the caller: audio at 24 kHz in the agent's voice.
    let wait = Duration::from_secs(20);
    page.until("the greeting", wait, |p| {
        p.started.is_some() && p.agent_pcm.len() >= 600 * 24 && p.queued_samples() == 0
    })
    .await;
    assert!(speech::is_agent_voice(&page.agent_pcm, RATE));
    let call_id = page.started.as_ref().unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A turn each way, shown live on both sides.
    page.say(Phrase::Hello, 1000);
    page.until("a reply", wait, |p| {
        p.said("caller") >= 1 && p.said("agent") >= 2
    })
    .await;
    assert!(
        page.transcript
            .contains(&("caller".into(), "Hello.".into())),
        "{:?}",
        page.transcript
    );

    // A question gets a long answer; the caller talks over it and the page is told to drop what
    // it has not played.
    page.say(Phrase::Question, 1200);
    let heard = page.agent_pcm.len();
    page.until("the long answer", wait, |p| {
        p.agent_pcm.len() > heard + 24 * 500
    })
    .await;
    let answers = page.said("agent");
    page.say(Phrase::Hello, 800);
    page.until("the barge-in's clear", wait, |p| p.clears >= 1)
        .await;
    page.until("the answer to the interruption", wait, |p| {
        p.queued_samples() == 0 && p.said("agent") > answers
    })
    .await;

    // "Goodbye": the agent says so and ends the call.
    page.pause(500);
    page.say(Phrase::EndCall, 1000);
    page.until("the agent's hang-up", wait, |p| p.ended.is_some())
        .await;
    assert_eq!(page.ended.as_deref(), Some("The agent ended the call."));
    page.until("the socket's close", Duration::from_secs(5), |p| p.closed)
        .await;

    // The call is in the calls list as a web call, then gets its recording (stereo WAV made
    // here) and the recording's transcript, through the normal pipeline.
    let call = wait_for_call(&app, &owner, &call_id, |c| {
        c["transcript_source"] == "recording"
    })
    .await;
    assert_eq!(call["source"], "web");
    assert_eq!(call["status"], "completed");
    assert_eq!(call["from_number"], format!("web:{}", owner.email));
    let list: Value = owner.get_json(&app, "/api/calls").await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == call_id.as_str()),
        "{list}"
    );
    let res = owner
        .client
        .get(app.url(&format!("/api/calls/{call_id}/recording")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "audio/wav");
    let wav = res.bytes().await.unwrap();
    let recording = loquent_ai::transcription::Recording::parse(wav.clone()).unwrap();
    assert_eq!(recording.channels(), 2);
    assert!(
        recording.duration_secs() > 4.0,
        "{}",
        recording.duration_secs()
    );
    let (caller, agent) = channels(&wav);
    assert!(
        caller.iter().any(|&s| s > 5_000),
        "the caller's side is on the left"
    );
    assert!(
        speech::is_agent_voice(&agent, RATE),
        "the agent's on the right"
    );
    assert!(
        !speech::is_agent_voice(&caller, RATE),
        "the agent does not leak into the caller's channel"
    );
}

/// The left and right channels of a 16-bit stereo WAV with a 44-byte header.
fn channels(wav: &[u8]) -> (Vec<i16>, Vec<i16>) {
    let mut left = Vec::new();
    let mut right = Vec::new();
    for frame in wav[44..].chunks_exact(4) {
        left.push(i16::from_le_bytes([frame[0], frame[1]]));
        right.push(i16::from_le_bytes([frame[2], frame[3]]));
    }
    (left, right)
}

async fn wait_for_call(
    app: &TestApp,
    owner: &Member,
    call_id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let call: Value = owner.get_json(app, &format!("/api/calls/{call_id}")).await;
        if done(&call) {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "the call never got there: {call}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_web_call_socket_admits_only_a_signed_in_member_of_the_agents_organization() {
    let app = app_with_emulated_ai().await;
    let acme = app.owner("Acme").await;
    let globex = app.owner("Globex").await;
    let agent_id = agent(&app, &acme).await;
    let (status, _) = refused(web_call_request(&app, &agent_id, None, None)).await;
    assert_eq!(status, 401, "no session");
    let cookie = session_cookie(&app, &acme).await;
    let (status, body) = refused(web_call_request(
        &app,
        &agent_id,
        Some(&cookie),
        Some("https://evil.example"),
    ))
    .await;
    assert_eq!(status, 403, "a foreign page");
    assert!(body.contains("cross_origin"), "{body}");
    let globex_cookie = session_cookie(&app, &globex).await;
    let (status, _) = refused(web_call_request(
        &app,
        &agent_id,
        Some(&globex_cookie),
        None,
    ))
    .await;
    assert_eq!(status, 404, "another organization's agent");
    let (status, _) = refused(web_call_request(
        &app,
        &uuid::Uuid::now_v7().to_string(),
        Some(&cookie),
        None,
    ))
    .await;
    assert_eq!(status, 404, "no such agent");
    let (status, body) = refused(web_call_request_to(
        &app,
        &format!(
            "/api/agents/{agent_id}/web-call?phone_id={}",
            uuid::Uuid::now_v7()
        ),
        Some(&cookie),
        None,
    ))
    .await;
    assert_eq!(status, 404, "a number the agent does not answer");
    assert!(body.contains("number of this agent not found"), "{body}");

    // A member without the permission to place calls.
    let reader = app.member_with(&acme, &["Agent:Instance:Read"]).await;
    let reader_cookie = session_cookie_with(&app, &reader, "member password 1").await;
    let (status, _) = refused(web_call_request(
        &app,
        &agent_id,
        Some(&reader_cookie),
        None,
    ))
    .await;
    assert_eq!(status, 403, "no Call:Collection:Create");

    // A plain GET is told it needs an upgrade, and nothing was stored by any of it.
    let res = acme
        .client
        .get(app.url(&format!("/api/agents/{agent_id}/web-call")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UPGRADE_REQUIRED);
    let calls: Value = acme.get_json(&app, "/api/calls").await;
    assert_eq!(calls["items"], json!([]));
}

#[tokio::test]
async fn a_page_that_stops_sending_audio_is_hung_up() {
    let app = app_with_emulated_ai().await;
    let owner = app.owner("Acme").await;
    let agent_id = agent(&app, &owner).await;
    let mut page = Page::open(&app, &owner, &agent_id).await;
    // The page says nothing at all (a closed laptop): the server gives up on it after 5 s.
    let opened = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(Ok(message)) = page.socket.next().await {
            if let Message::Close(_) = message {
                break;
            }
            page.on_message(Some(Ok::<_, ()>(message))).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "the call was never ended");
    assert!(
        opened.elapsed() >= Duration::from_secs(5),
        "ended after {:?}, before the page had been silent for 5 s",
        opened.elapsed()
    );
    let call_id = page.started.as_ref().expect("started")["call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = wait_for_call(&app, &owner, &call_id, |c| c["status"] == "completed").await;
    assert_eq!(call["source"], "web");
}

#[tokio::test]
async fn a_page_cannot_send_audio_faster_than_real_time() {
    let app = app_with_emulated_ai().await;
    let owner = app.owner("Acme").await;
    let agent_id = agent(&app, &owner).await;
    let mut page = Page::open(&app, &owner, &agent_id).await;
    while page.started.is_none() {
        let message = page.socket.next().await;
        page.on_message(message).await;
    }
    // Ten seconds of "hello" at once, then hang up: only what real time allows (the time since
    // the call started, plus a second) reaches the agent and the recording.
    let mut tone = Tone::new(Phrase::Hello.frequency_hz(), RATE);
    for _ in 0..500 {
        let mut samples = Vec::new();
        tone.pcm(FRAME, &mut samples);
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        page.socket.send(Message::binary(bytes)).await.unwrap();
    }
    page.socket
        .send(Message::text(json!({"type": "end"}).to_string()))
        .await
        .unwrap();
    let call_id = page.started.as_ref().unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let wav = loop {
        let res = owner
            .client
            .get(app.url(&format!("/api/calls/{call_id}/recording")))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::OK {
            break res.bytes().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no recording");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (caller, _) = channels(&wav);
    let spoken = caller.iter().filter(|&&s| s != 0).count() as f64 / f64::from(RATE);
    assert!(
        (0.9..3.0).contains(&spoken),
        "{spoken} s of the caller's 10 s were taken"
    );
}

#[tokio::test]
async fn a_member_can_call_as_one_of_the_organizations_contacts() {
    use sea_orm::{ActiveModelTrait, Set};
    let app = app_with_emulated_ai().await;
    let owner = app.owner("Acme").await;
    let res = owner
        .post_json(
            &app,
            "/api/agents",
            &json!({
                "name": "Front desk",
                "prompt": "You answer the phone for Acme Plumbing.",
                "config": {"provider": "openai", "caller_context": true},
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let agent: Value = res.json().await.unwrap();
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let org_id: uuid::Uuid = owner.org_id().parse().unwrap();
    let db = &app.app.db;
    let contact =
        loquent::contacts::resolve::resolve_or_create(db, org_id, "+14155550123", "manual")
            .await
            .unwrap();
    let mut known: loquent::entity::contact::ActiveModel = contact.clone().into();
    known.name = Set(Some("Ada Lovelace".into()));
    known.notes = Set(Some("Boiler serviced in March.".into()));
    known.update(db).await.unwrap();

    // The agent page offers the contact to call as.
    let html = owner.page(&app, &format!("/agents/{agent_id}")).await;
    assert!(
        html.contains(&format!(
            r#"<option value="{}">Ada Lovelace (+14155550123)</option>"#,
            contact.id
        )),
        "{html}"
    );

    let path = format!("/api/agents/{agent_id}/web-call?contact_id={}", contact.id);
    let mut page = Page::open_at(&app, &owner, &path).await;
    page.until("the greeting", Duration::from_secs(20), |p| {
        p.said("agent") >= 1
    })
    .await;
    page.socket
        .send(Message::text(json!({"type": "end"}).to_string()))
        .await
        .unwrap();
    let call_id = page.started.as_ref().unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = wait_for_call(&app, &owner, &call_id, |c| c["status"] == "completed").await;
    assert_eq!(call["contact"]["id"], contact.id.to_string(), "{call}");

    // The agent was told who is calling before it greeted them.
    let sandbox = app.app.sandbox.as_ref().unwrap().twilio_base();
    let log: Value = reqwest::get(format!("{sandbox}sandbox/realtime/connections"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let received: Vec<Value> = log["connections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["received"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        received
            .iter()
            .any(|m| m["type"] == "conversation.item.create"
                && m["item"]["content"][0]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Ada Lovelace") && t.contains("Boiler serviced"))),
        "no caller context in {received:#?}"
    );

    // A contact that is not the organization's: not found.
    let cookie = session_cookie(&app, &owner).await;
    let path = format!(
        "/api/agents/{agent_id}/web-call?contact_id={}",
        uuid::Uuid::now_v7()
    );
    let (status, _) = refused(web_call_request_to(&app, &path, Some(&cookie), None)).await;
    assert_eq!(status, 404);
}

/// The answer to an upgrade that must be refused: its status and body.
async fn refused(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> (u16, String) {
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            (response.status().as_u16(), body)
        }
        Ok(_) => panic!("upgraded"),
        Err(other) => panic!("{other}"),
    }
}
