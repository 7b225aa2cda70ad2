//! A real browser (headless Chromium through ChromeDriver) drives the dashboard. The WebDriver
//! protocol is a handful of JSON calls, so it is spoken directly.

mod agents;
mod auth;
mod call_sync;
mod calls;
mod first_run;
mod twilio;
mod web_call;

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    process: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    /// ChromeDriver runs in its own process group with the browser it started (and that
    /// browser's helpers): the whole group goes, so no Chromium outlives the test, even when the
    /// test panicked before ending its WebDriver session.
    fn drop(&mut self) {
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn find_chromedriver() -> Option<String> {
    if let Ok(path) = std::env::var("CHROMEDRIVER") {
        return Some(path);
    }
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_owned)
}

impl Driver {
    /// Panics when ChromeDriver is missing: a browser test that skipped would pass without
    /// testing anything. `scripts/test.sh` installs it.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A browser started with Chromium flags beyond the usual ones (a fake microphone, say).
    pub async fn start_with(extra_args: &[String]) -> Self {
        let binary = find_chromedriver().expect(
            "chromedriver is missing: scripts/test.sh installs chromium and chromium-driver \
             (or set CHROMEDRIVER to its path)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(res) = http.get(format!("{base}/status")).send().await
                && res.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("/usr/bin/chromium");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .map(str::to_owned)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend_from_slice(extra_args);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_owned();
        let driver = Self {
            process,
            base,
            session,
            http,
            _profile: profile,
        };
        // Element look-ups wait for the element, as a person waits for the next page to load;
        // without this, a look-up right after a click races the navigation on a busy machine.
        driver
            .call(
                reqwest::Method::POST,
                "/timeouts",
                Some(json!({"implicit": 15000})),
            )
            .await;
        driver
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(error) = res["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", res["value"]["message"]);
        }
        res["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Empties a text field, as selecting its text and deleting it would.
    pub async fn clear(&self, css: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
    }

    /// A form field's current value (what the person sees in it).
    pub async fn value_of(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{el}/property/value"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Whether a checkbox is ticked (or an option chosen).
    pub async fn is_selected(&self, css: &str) -> bool {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{el}/selected"),
            None,
        )
        .await
        .as_bool()
        .unwrap_or(false)
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn text_of(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until the element exists and its text contains `wanted`: after a click the old
    /// page may still be showing an element with the same selector.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .call_raw(
                    reqwest::Method::POST,
                    "/element",
                    json!({"using": "css selector", "value": css}),
                )
                .await;
            if let Some(el) = found[ELEMENT].as_str() {
                let text = self
                    .call_raw(
                        reqwest::Method::GET,
                        &format!("/element/{el}/text"),
                        Value::Null,
                    )
                    .await;
                if let Some(text) = text.as_str()
                    && text.contains(wanted)
                {
                    return text.to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "expected {css} to contain {wanted:?}; page: {}",
                self.text_of("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Accepts the `confirm()` dialog a click opened.
    pub async fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let res = self
                .call_raw(reqwest::Method::POST, "/alert/accept", json!({}))
                .await;
            if res.is_null() || res["error"].is_null() {
                return;
            }
            assert!(Instant::now() < deadline, "no dialog opened: {res}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` (a function body; `return` gives the value) in the page and returns its
    /// value: for what a person sees but WebDriver cannot ask, such as a player's position.
    pub async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Waits until `script` returns `true`, failing with `what` after 15 s.
    pub async fn wait_until(&self, script: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.script(script).await == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A WebDriver call whose errors are returned instead of failing the test: for polling.
    async fn call_raw(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        if !body.is_null() {
            req = req.json(&body);
        }
        match req.send().await {
            Ok(res) => res
                .json::<Value>()
                .await
                .map(|v| v["value"].clone())
                .unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = self.url().await;
            if url.ends_with(path) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected to reach {path}, still at {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs up a new organization through the sign-up page and lands on the dashboard.
    pub async fn sign_up(&self, app: &crate::support::TestApp, organization: &str, email: &str) {
        self.goto(&app.url("/signup")).await;
        self.type_into("#organization_name", organization).await;
        self.type_into("#email", email).await;
        self.type_into("#password", "correct horse battery").await;
        self.click("#submit").await;
        self.wait_for_path("/calls").await;
    }

    /// Severe console messages (JavaScript errors, failed loads) since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let url = format!("{}/session/{}/se/log", self.base, self.session);
        let res: Value = match self
            .http
            .post(url)
            .json(&json!({"type": "browser"}))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        res["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}
