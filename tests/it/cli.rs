//! The `loquent` binary as an operator uses it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_loquent");

fn loquent(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("LOQUENT_DATA_DIR", data_dir)
        .env_remove("LOQUENT_DATABASE_URL")
        .env_remove("LOQUENT_LISTEN")
        .env_remove("LOQUENT_CONFIG")
        .current_dir(data_dir);
    cmd
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "migrate", "user"] {
        assert!(text.contains(word), "--help should mention {word}: {text}");
    }
}

#[test]
fn bad_configuration_names_the_setting_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = loquent(dir.path())
        .env("LOQUENT_LISTEN", "not-an-address")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOQUENT_LISTEN"));
}

#[tokio::test]
async fn user_create_then_serve_then_sign_in_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = loquent(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "Ops@Example.com",
            "--password",
            "operator pw 1",
            "--org",
            "Ops Inc",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Ops Inc"));

    let again = loquent(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "operator pw 1",
            "--org",
            "Twice",
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = loquent(dir.path())
        .env("LOQUENT_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/readyz")).await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "ops@example.com", "password": "operator pw 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    // The secret key was created private, beside the database.
    assert!(dir.path().join("secret.key").exists());
    assert!(dir.path().join("loquent.db").exists());
}

#[tokio::test]
async fn sandbox_prints_its_base_urls_and_serves_twilio() {
    use std::io::{BufRead, BufReader};

    let mut sandbox = Command::new(BIN)
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = sandbox.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let urls: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let api = urls["twilio_api_base"].as_str().unwrap().to_owned();
    assert!(urls["twilio_events_base"].is_string());

    // The server accepts the printed URLs as they are.
    let env = [
        ("LOQUENT_TWILIO_API_BASE".to_owned(), api.clone()),
        (
            "LOQUENT_TWILIO_EVENTS_BASE".to_owned(),
            urls["twilio_events_base"].as_str().unwrap().to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    loquent::Config::from_sources(None, &env).expect("sandbox URLs are valid settings");

    let http = reqwest::Client::new();
    let account: serde_json::Value = http
        .post(format!("{api}/sandbox/accounts"))
        .json(&json!({"numbers": 1, "calls_per_number": 3, "recording_share": 0.5, "seed": 7}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = account["account_sid"].as_str().unwrap();
    let token = account["auth_token"].as_str().unwrap();
    let calls: serde_json::Value = http
        .get(format!("{api}/2010-04-01/Accounts/{sid}/Calls.json"))
        .basic_auth(sid, Some(token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["calls"].as_array().unwrap().len(), 3);
    let refused = http
        .get(format!("{api}/2010-04-01/Accounts/{sid}/Calls.json"))
        .basic_auth(sid, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);

    let _ = sandbox.kill();
    let _ = sandbox.wait();
}
