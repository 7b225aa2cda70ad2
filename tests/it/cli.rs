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
