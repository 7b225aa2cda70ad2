use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{Member, TestApp};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn session_cookie(app: &TestApp, member: &Member) -> String {
    session_cookie_with(app, member, "correct horse battery").await
}

/// The session cookie of `member` signed in with `password` (invited members chose their own).
pub async fn session_cookie_with(app: &TestApp, member: &Member, password: &str) -> String {
    // reqwest's cookie store is not readable; sign in again to capture the cookie.
    let res = TestApp::client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": member.email, "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

pub async fn connect(app: &TestApp, cookie: &str) -> Socket {
    let mut request = app.ws_url("/api/realtime").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    socket
}

async fn next_event(socket: &mut Socket) -> Option<Value> {
    match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => Some(serde_json::from_str(&text).unwrap()),
        _ => None,
    }
}

#[tokio::test]
async fn members_receive_their_organizations_events_only() {
    let app = TestApp::new().await;
    let acme = app.owner("Acme").await;
    let globex = app.owner("Globex").await;
    let mut acme_socket = connect(&app, &session_cookie(&app, &acme).await).await;
    let mut globex_socket = connect(&app, &session_cookie(&app, &globex).await).await;

    let acme_id = acme.org_id().parse().unwrap();
    let globex_id = globex.org_id().parse().unwrap();
    app.app
        .events
        .publish(
            acme_id,
            "twilio.call_sync.progress",
            json!({"phase": "Fetching"}),
        )
        .await
        .unwrap();
    app.app
        .events
        .publish(
            globex_id,
            "twilio.call_sync.progress",
            json!({"phase": "Done"}),
        )
        .await
        .unwrap();

    let event = next_event(&mut acme_socket).await.expect("acme event");
    assert_eq!(
        event,
        json!({"type": "twilio.call_sync.progress", "payload": {"phase": "Fetching"}})
    );
    let event = next_event(&mut globex_socket).await.expect("globex event");
    assert_eq!(event["payload"]["phase"], "Done");
    // Nothing else arrives for Acme: Globex's event is not theirs.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), acme_socket.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn realtime_needs_a_session() {
    let app = TestApp::new().await;
    let request = app.ws_url("/api/realtime").into_client_request().unwrap();
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), StatusCode::UNAUTHORIZED.as_u16());
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

/// The upgrade as a browser on `origin` would send it, with the member's cookie.
async fn upgrade_from(
    app: &TestApp,
    cookie: &str,
    origin: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = app.ws_url("/api/realtime").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

#[tokio::test]
async fn a_foreign_origin_cannot_open_the_socket_even_with_a_valid_session() {
    let app = TestApp::new().await;
    let acme = app.owner("Acme").await;
    let cookie = session_cookie(&app, &acme).await;
    for origin in ["https://evil.example", "null"] {
        match upgrade_from(&app, &cookie, origin).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status().as_u16(), 403, "Origin: {origin}");
                let body = String::from_utf8(res.body().clone().unwrap_or_default()).unwrap();
                assert!(body.contains("cross_origin"), "{body}");
            }
            other => panic!("Origin {origin}: expected 403, got {other:?}"),
        }
    }
    // The dashboard's own pages (the public URL's origin) and non-browser clients (no Origin)
    // still connect.
    let own = app.url("");
    let mut socket = upgrade_from(&app, &cookie, own.trim_end_matches('/'))
        .await
        .expect("the public origin upgrades");
    let mut plain = connect(&app, &cookie).await;
    let org = acme.org_id().parse().unwrap();
    app.app
        .events
        .publish(org, "hello", json!({}))
        .await
        .unwrap();
    assert_eq!(next_event(&mut socket).await.unwrap()["type"], "hello");
    assert_eq!(next_event(&mut plain).await.unwrap()["type"], "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_without_blocking_publishers() {
    let app = TestApp::new().await;
    let acme = app.owner("Acme").await;
    let cookie = session_cookie(&app, &acme).await;
    let mut stalled = connect(&app, &cookie).await;
    let mut live = connect(&app, &cookie).await;
    let org = acme.org_id().parse().unwrap();
    const EVENTS: u64 = 3000;

    // The live browser reads as events come; `seen` is how many it has.
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = tokio::spawn({
        let seen = seen.clone();
        async move {
            let mut last = None;
            while let Some(event) = next_event(&mut live).await {
                last = event["payload"]["i"].as_u64();
                if let Some(i) = last {
                    seen.store(i + 1, std::sync::atomic::Ordering::Relaxed);
                }
                if last == Some(EVENTS - 1) {
                    break;
                }
            }
            last
        }
    });

    // 3000 x 7 KB (under PostgreSQL's NOTIFY limit) is far more than the socket buffers of a
    // browser that never reads.
    let pad = "x".repeat(7 * 1000);
    let started = std::time::Instant::now();
    for i in 0..EVENTS {
        // A browser that reads is never more than half the server's per-client buffer (256
        // events) behind: on a busy machine the publisher waits for it, so what is tested is the
        // stalled browser, not the scheduler.
        while i >= seen.load(std::sync::atomic::Ordering::Relaxed) + 128 && !reader.is_finished() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        app.app
            .events
            .publish(org, "test.flood", json!({"i": i, "pad": pad}))
            .await
            .unwrap();
        // A steady flow, not one burst: the live reader must keep up, the stalled one cannot.
        if i % 64 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    // Publishing never waited on the stalled browser.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        reader.await.unwrap(),
        Some(EVENTS - 1),
        "the live browser got everything"
    );

    // The stalled one finds, once it reads, that it was dropped for lagging.
    let mut closed_for_lag = false;
    for _ in 0..EVENTS {
        match tokio::time::timeout(Duration::from_secs(5), stalled.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                closed_for_lag = u16::from(frame.code) == 4008;
                break;
            }
            Ok(Some(Ok(_))) => continue,
            _ => break,
        }
    }
    assert!(
        closed_for_lag,
        "a lagging browser is disconnected with code 4008"
    );
}

#[tokio::test]
async fn events_cross_server_processes_on_postgres() {
    let first = TestApp::new().await;
    if !first.is_postgres() {
        // One SQLite file serves one process; fan-out across processes is a PostgreSQL feature.
        return;
    }
    let second = first.sibling().await;
    let acme = first.owner("Acme").await;
    let cookie = session_cookie(&first, &acme).await;
    let mut on_second = connect(&second, &cookie).await;
    // Give the listener a moment: it subscribes before the socket exists, but be generous.
    tokio::time::sleep(Duration::from_millis(100)).await;
    first
        .app
        .events
        .publish(
            acme.org_id().parse().unwrap(),
            "hello",
            json!({"from": "first"}),
        )
        .await
        .unwrap();
    let event = next_event(&mut on_second)
        .await
        .expect("event through NOTIFY");
    assert_eq!(event["payload"]["from"], "first");
}
