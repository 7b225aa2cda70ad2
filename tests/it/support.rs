//! `TestApp`: a real server on a free port with a fresh database, driven over HTTP like a user.
//!
//! SQLite by default (a temp file per test); PostgreSQL when `LOQUENT_TEST_DATABASE_URL` names a
//! server (`postgres://postgres@127.0.0.1:5432`): each test then creates its own database and
//! drops it afterwards.
//!
//! A test reads as the setup a user has, then what they do:
//!
//! ```ignore
//! let app = TestApp::builder()
//!     .with_sandbox()                                   // Twilio is the sandbox
//!     .with_setting("LOQUENT_MAX_BODY_BYTES", "4096")   // any `LOQUENT_*` setting
//!     .start()
//!     .await;                                           // or `TestApp::new().await`
//! let owner = app.owner("Acme").await;                  // signed up, signed in
//! let viewer = app.member_with(&owner, &["Phone:Collection:List"]).await;
//! let TwilioOwner { owner, account, phones } = app.owner_on_twilio("Acme", 2, 7).await;
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use loquent::{App, Config};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    database_url: String,
    pg: Option<PgDatabase>,
    sandbox: Option<loquent_sandbox::SandboxHandle>,
    dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

/// How a test asks for its server: `TestApp::builder().with_sandbox().start().await`.
///
/// Settings apply in order after the sandbox's own, so a test can override any of them.
#[must_use = "a builder does nothing until `start` is awaited"]
#[derive(Default)]
pub struct TestAppBuilder {
    settings: Vec<(String, String)>,
    sandbox: Option<SandboxChoice>,
    own_public_url: bool,
}

enum SandboxChoice {
    Fresh,
    Existing(loquent_sandbox::SandboxHandle),
}

impl TestAppBuilder {
    /// One `LOQUENT_*` setting, as the environment would give it.
    pub fn with_setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Several settings at once (see [`Self::with_setting`]).
    pub fn with_settings(mut self, settings: &[(&str, &str)]) -> Self {
        for (name, value) in settings {
            self = self.with_setting(name, value);
        }
        self
    }

    /// A fresh Twilio sandbox the server talks to as its Twilio (REST API and events), with the
    /// public URL `https://loquent.example.com`; reach it with [`TestApp::sandbox`].
    pub fn with_sandbox(mut self) -> Self {
        self.sandbox = Some(SandboxChoice::Fresh);
        self
    }

    /// [`Self::with_sandbox`] on a sandbox the test already started, for settings that need
    /// sandbox data before the server starts (a platform account).
    pub fn with_existing_sandbox(mut self, sandbox: loquent_sandbox::SandboxHandle) -> Self {
        self.sandbox = Some(SandboxChoice::Existing(sandbox));
        self
    }

    /// The server's own address (`http://127.0.0.1:PORT`) as its public URL, even with a
    /// sandbox: a browser opening that address then passes the `Origin` check of
    /// `/api/realtime`. (Twilio webhooks signed for the sandbox's URL would then not verify.)
    pub fn with_own_public_url(mut self) -> Self {
        self.own_public_url = true;
        self
    }

    /// Starts the server on a free port with a fresh database.
    pub async fn start(self) -> TestApp {
        let sandbox = match self.sandbox {
            None => None,
            Some(SandboxChoice::Fresh) => Some(start_sandbox().await),
            Some(SandboxChoice::Existing(sandbox)) => Some(sandbox),
        };
        // The built-in sandbox only where a test asks for it (`LOQUENT_SANDBOX`): a test server
        // has no keys, so `auto` would turn it on everywhere.
        let mut settings = vec![("LOQUENT_SANDBOX".to_owned(), "off".to_owned())];
        if let Some(sandbox) = &sandbox {
            settings.push((
                "LOQUENT_TWILIO_API_BASE".to_owned(),
                sandbox.twilio_api_base(),
            ));
            settings.push((
                "LOQUENT_TWILIO_EVENTS_BASE".to_owned(),
                sandbox.twilio_events_base(),
            ));
            settings.push((
                "LOQUENT_PUBLIC_URL".to_owned(),
                "https://loquent.example.com".to_owned(),
            ));
        }
        settings.extend(self.settings);
        if self.own_public_url {
            settings.retain(|(name, _)| name != "LOQUENT_PUBLIC_URL");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (database_url, pg) = fresh_database(dir.path()).await;
        let mut app = TestApp::serve(dir, database_url, pg, &settings).await;
        app.sandbox = sandbox;
        app
    }
}

/// A Twilio sandbox on a free port.
pub async fn start_sandbox() -> loquent_sandbox::SandboxHandle {
    loquent_sandbox::Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("sandbox starts")
}

/// A throwaway PostgreSQL database, dropped with the test.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee; a private runtime on its own thread is safe.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(db) = sea_orm::Database::connect(&admin_url).await {
                    let _ = db
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

pub fn postgres_server() -> Option<String> {
    std::env::var("LOQUENT_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

async fn fresh_database(dir: &std::path::Path) -> (String, Option<PgDatabase>) {
    match postgres_server() {
        None => (
            format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
            None,
        ),
        Some(server) => {
            let server = server.trim_end_matches('/');
            let base = match server.rsplit_once('/') {
                // A URL with a database path: keep the server part.
                Some((head, tail))
                    if head.contains("://") && !head.ends_with('/') && !tail.contains('@') =>
                {
                    head.to_owned()
                }
                _ => server.to_owned(),
            };
            let name = format!("loquent_test_{}", uuid::Uuid::new_v4().simple());
            let admin_url = format!("{base}/postgres");
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("connect to LOQUENT_TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            (
                format!("{base}/{name}"),
                Some(PgDatabase { admin_url, name }),
            )
        }
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// A server with default settings: `TestApp::builder().start()`.
    pub async fn new() -> Self {
        Self::builder().start().await
    }

    /// A second server process sharing this one's database and key, as behind a load balancer.
    pub async fn sibling(&self) -> Self {
        self.sibling_with(&[("LOQUENT_SANDBOX", "off")]).await
    }

    /// [`Self::sibling`] with these settings (a restart with the built-in sandbox on).
    pub async fn sibling_with(&self, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = std::fs::read_to_string(self.dir.path().join("secret.key")).ok();
        let mut settings = Vec::new();
        if let Some(key) = key {
            settings.push(("LOQUENT_SECRET_KEY".to_owned(), key.trim().to_owned()));
        }
        settings.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self::serve(dir, self.database_url.clone(), None, &settings).await
    }

    async fn serve(
        dir: tempfile::TempDir,
        database_url: String,
        pg: Option<PgDatabase>,
        settings: &[(String, String)],
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("LOQUENT_LISTEN".into(), addr.to_string());
        env.insert("LOQUENT_DATA_DIR".into(), dir.path().display().to_string());
        env.insert("LOQUENT_DATABASE_URL".into(), database_url.clone());
        for (k, v) in settings {
            env.insert(k.clone(), v.clone());
        }
        let config = Config::from_sources(None, &env).expect("test config");
        let app = App::start(config).await.expect("app starts");
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        tokio::spawn(async move {
            loquent::serve(served, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            addr,
            app,
            database_url,
            pg,
            sandbox: None,
            dir,
            shutdown: Some(tx),
        }
    }

    /// The Twilio sandbox this server was started with ([`TestAppBuilder::with_sandbox`]).
    pub fn sandbox(&self) -> &loquent_sandbox::SandboxHandle {
        self.sandbox
            .as_ref()
            .expect("start the app with `.with_sandbox()` to use the sandbox")
    }

    /// A seeded account on this app's sandbox: `numbers` numbers, no call history.
    pub async fn twilio_account(&self, numbers: u32, seed: u64) -> loquent_sandbox::SeededAccount {
        sandbox_account(self.sandbox(), numbers, seed).await
    }

    /// A new organization on its own Twilio account (`numbers` numbers seeded from `seed`),
    /// connected, with every number imported.
    pub async fn owner_on_twilio(&self, org: &str, numbers: u32, seed: u64) -> TwilioOwner {
        let account = self.twilio_account(numbers, seed).await;
        let owner = self.owner(org).await;
        let phones = self.connect_and_import(&owner, &account).await;
        TwilioOwner {
            owner,
            account,
            phones,
        }
    }

    /// `owner`'s organization connected to `account`, all its numbers imported; returns them.
    pub async fn connect_and_import(
        &self,
        owner: &Member,
        account: &loquent_sandbox::SeededAccount,
    ) -> Vec<Value> {
        connect_and_import(self, owner, account).await
    }

    /// The number's voice URL as this app's sandbox (Twilio) has it.
    pub async fn voice_url_on_twilio(
        &self,
        account: &loquent_sandbox::SeededAccount,
        sid: &str,
    ) -> Option<String> {
        voice_url_on_twilio(self.sandbox(), account, sid).await
    }

    /// Sets the number's voice URL on this app's sandbox, as another tool would.
    pub async fn set_voice_url_on_twilio(
        &self,
        account: &loquent_sandbox::SeededAccount,
        sid: &str,
        url: &str,
    ) {
        set_voice_url_on_twilio(self.sandbox(), account, sid, url).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// The database this server uses, for a `loquent` command an operator would run beside it.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some() || self.database_url.starts_with("postgres")
    }

    /// A browser-like client that keeps cookies and does not follow redirects (tests look at them).
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Signs up a new organization; returns its owner's signed-in client and `/api/auth/me`.
    pub async fn owner(&self, org: &str) -> Member {
        let client = Self::client();
        let email = format!(
            "owner-{}@{}.example.com",
            uuid::Uuid::new_v4().simple(),
            slug(org)
        );
        let res = client
            .post(self.url("/api/auth/signup"))
            .json(&json!({"email": email, "password": "correct horse battery", "organization_name": org}))
            .send()
            .await
            .expect("signup");
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap_or_default()
        );
        let me: Value = res.json().await.expect("me");
        Member { client, email, me }
    }

    /// Adds a member with the given permissions (through a fresh role) to `owner`'s organization:
    /// invited, and the invitation accepted with a new account.
    pub async fn member_with(&self, owner: &Member, permissions: &[&str]) -> Member {
        self.member_through(owner, permissions, None).await
    }

    /// [`Self::member_with`] on a server that mails invitations (to `smtp`).
    pub async fn member_with_mailed(
        &self,
        owner: &Member,
        permissions: &[&str],
        smtp: &crate::reports::Smtp,
    ) -> Member {
        self.member_through(owner, permissions, Some(smtp)).await
    }

    async fn member_through(
        &self,
        owner: &Member,
        permissions: &[&str],
        smtp: Option<&crate::reports::Smtp>,
    ) -> Member {
        let role: Value = owner
            .client
            .post(self.url("/api/roles"))
            .json(&json!({"name": format!("role-{}", uuid::Uuid::new_v4().simple()), "permissions": permissions}))
            .send()
            .await
            .expect("create role")
            .json()
            .await
            .expect("role json");
        let email = format!("member-{}@example.com", uuid::Uuid::new_v4().simple());
        let sent = self
            .send_invitation(owner, &email, &[role["id"].clone()])
            .await;
        let token = match (sent["link"].as_str(), smtp) {
            (Some(link), _) => token_of_link(link),
            (None, Some(smtp)) => {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
                loop {
                    let mailed = smtp
                        .messages()
                        .into_iter()
                        .find(|m| m["to"] == email.as_str());
                    if let Some(m) = mailed {
                        break token_of_link(m["text"].as_str().expect("a text part"));
                    }
                    assert!(std::time::Instant::now() < deadline, "no invitation mailed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
            (None, None) => panic!("the invitation was mailed: use member_with_mailed"),
        };
        let client = Self::client();
        let res = client
            .post(self.url("/api/invitations/accept"))
            .json(&json!({"token": token, "password": "member password 1"}))
            .send()
            .await
            .expect("accept");
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap_or_default()
        );
        let me: Value = res.json().await.expect("me");
        Member { client, email, me }
    }

    async fn send_invitation(&self, admin: &Member, email: &str, role_ids: &[Value]) -> Value {
        let res = admin
            .post_json(
                self,
                "/api/invitations",
                &json!({"email": email, "role_ids": role_ids}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.expect("invitation")
    }

    /// Invites `email` to `admin`'s organization with `role_ids`; returns the link's token. The
    /// test server cannot mail, so the answer carries the link.
    pub async fn invite(&self, admin: &Member, email: &str, role_ids: &[Value]) -> String {
        let sent = self.send_invitation(admin, email, role_ids).await;
        token_of_link(sent["link"].as_str().expect("a link, without SMTP"))
    }

    /// `person` (who has an account) accepts the invitation of `token` on a fresh sign-in of
    /// theirs, so their other sessions keep their organization; returns that client.
    pub async fn accept_signed_in(&self, person: &Member, token: &str) -> reqwest::Client {
        let client = Self::client();
        let res = client
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": person.email, "password": "correct horse battery"}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), StatusCode::OK);
        let res = client
            .post(self.url("/api/invitations/accept"))
            .json(&json!({"token": token}))
            .send()
            .await
            .expect("accept");
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap_or_default()
        );
        client
    }
}

/// The CSRF token in a page's first form.
pub fn csrf_in(html: &str) -> String {
    let start = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a form with its token")
        + 25;
    html[start..start + html[start..].find('"').expect("the token's end")].to_owned()
}

/// The `token` of an invitation or reset link.
pub fn token_of_link(link: &str) -> String {
    let start = link.find("token=").expect("a token in the link") + "token=".len();
    link[start..]
        .split(|c: char| c == '&' || c.is_whitespace())
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

/// What [`TestApp::owner_on_twilio`] sets up.
pub struct TwilioOwner {
    pub owner: Member,
    pub account: loquent_sandbox::SeededAccount,
    /// The imported numbers as `/api/twilio/imported-numbers` lists them.
    pub phones: Vec<Value>,
}

pub struct Member {
    pub client: reqwest::Client,
    pub email: String,
    pub me: Value,
}

impl Member {
    /// GET a JSON resource that must exist.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, app: &TestApp, path: &str) -> T {
        let res = self.client.get(app.url(path)).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("JSON body")
    }

    /// POST a JSON body as this member; the caller checks the answer.
    pub async fn post_json(&self, app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(app.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// A page's HTML, which must render.
    pub async fn page(&self, app: &TestApp, path: &str) -> String {
        let res = self
            .client
            .get(app.url(path))
            .send()
            .await
            .expect("GET page");
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.text().await.expect("HTML")
    }

    /// The CSRF token for this member's dashboard forms, as a browser gets it from any page (the
    /// account page, which every member may open).
    pub async fn csrf(&self, app: &TestApp) -> String {
        csrf_in(&self.page(app, "/account").await)
    }

    /// POST a dashboard form as this member, with the CSRF token a page gave it; redirects are
    /// not followed.
    pub async fn post_form(
        &self,
        app: &TestApp,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf(app).await;
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        self.client
            .post(app.url(path))
            .form(&form)
            .send()
            .await
            .expect("POST form")
    }

    pub fn org_id(&self) -> String {
        self.me["organization"]["id"]
            .as_str()
            .expect("org id")
            .to_owned()
    }
}

/// Asserts the API's error shape and returns its message.
pub async fn api_error(res: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(res.status(), status, "unexpected status");
    let body: Value = res.json().await.expect("error body is JSON");
    let code = body["error"]["code"].as_str().expect("error.code");
    assert!(!code.is_empty());
    body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned()
}

/// A seeded sandbox account: `numbers` numbers, no call history.
pub async fn sandbox_account(
    sandbox: &loquent_sandbox::SandboxHandle,
    numbers: u32,
    seed: u64,
) -> loquent_sandbox::SeededAccount {
    let res = reqwest::Client::new()
        .post(format!("{}/sandbox/accounts", sandbox.twilio_api_base()))
        .json(&json!({"numbers": numbers, "calls_per_number": 0, "recording_share": 0.0, "seed": seed}))
        .send()
        .await
        .expect("seed account");
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.expect("seeded account")
}

/// The number's voice URL as Twilio (the sandbox) has it.
pub async fn voice_url_on_twilio(
    sandbox: &loquent_sandbox::SandboxHandle,
    account: &loquent_sandbox::SeededAccount,
    sid: &str,
) -> Option<String> {
    let number: Value = reqwest::Client::new()
        .get(format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
            sandbox.twilio_api_base(),
            account.account_sid
        ))
        .basic_auth(&account.account_sid, Some(&account.auth_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Twilio writes a cleared URL as "".
    number["voice_url"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

pub async fn set_voice_url_on_twilio(
    sandbox: &loquent_sandbox::SandboxHandle,
    account: &loquent_sandbox::SeededAccount,
    sid: &str,
    url: &str,
) {
    let res = reqwest::Client::new()
        .post(format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
            sandbox.twilio_api_base(),
            account.account_sid
        ))
        .basic_auth(&account.account_sid, Some(&account.auth_token))
        .form(&[("VoiceUrl", url)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// `owner`'s organization connected to `account` and all its numbers imported; returns them.
pub async fn connect_and_import(
    app: &TestApp,
    owner: &Member,
    account: &loquent_sandbox::SeededAccount,
) -> Vec<Value> {
    let res = owner
        .post_json(
            app,
            "/api/twilio/connect",
            &json!({"account_sid": account.account_sid, "auth_token": account.auth_token}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let numbers: Vec<String> = account
        .numbers
        .iter()
        .map(|n| n.phone_number.clone())
        .collect();
    if numbers.is_empty() {
        return Vec::new();
    }
    let res = owner
        .post_json(
            app,
            "/api/twilio/sync-numbers",
            &json!({"numbers": numbers}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );
    owner.get_json(app, "/api/twilio/imported-numbers").await
}

/// Seed 001's switch, as the settings page would set it.
pub async fn set_recording(app: &TestApp, org_id: uuid::Uuid, on: bool) {
    use loquent::entity::organization_twilio_settings as settings;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    let updated = settings::Entity::update_many()
        .col_expr(
            settings::Column::CallRecordingEnabled,
            sea_orm::sea_query::Expr::value(on),
        )
        .filter(settings::Column::OrganizationId.eq(org_id))
        .exec(&app.app.db)
        .await
        .unwrap();
    if updated.rows_affected == 0 {
        let now = chrono::Utc::now();
        settings::ActiveModel {
            organization_id: Set(org_id),
            call_recording_enabled: Set(on),
            event_sink_sid: Set(None),
            sms_subscription_sid: Set(None),
            call_subscription_sid: Set(None),
            sms_events_active: Set(false),
            call_events_active: Set(false),
            caller_lookup_url: Set(None),
            caller_lookup_auth: Set(None),
            delete_recordings_from_twilio: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.app.db)
        .await
        .unwrap();
    }
}

/// A program from the virtualenv `scripts/test.sh` makes for the test servers (aiosmtpd, moto),
/// found through `LOQUENT_TEST_VENV` (default `target/test-venv`). Panics, never skips, when it
/// is missing.
pub fn venv_program(name: &str) -> std::path::PathBuf {
    let venv = std::env::var("LOQUENT_TEST_VENV")
        .ok()
        .filter(|v| !v.is_empty())
        .map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"),
            std::path::PathBuf::from,
        );
    let program = venv.join("bin").join(name);
    assert!(
        program.exists(),
        "{} is missing: scripts/test.sh installs the test servers (or set LOQUENT_TEST_VENV)",
        program.display()
    );
    program
}

/// A server process a test started; killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    pub port: u16,
}

impl ServerProcess {
    /// Starts `program args...` (each `{port}` in `args` replaced by a free port) and waits until
    /// that port accepts connections.
    pub async fn start(program: &std::path::Path, args: &[&str]) -> Self {
        let port = free_port();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()))
            .collect();
        let child = std::process::Command::new(program)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let mut server = Self { child, port };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "{} exited with {status} before listening",
                    program.display()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not listen on {port} within 30 s",
                program.display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A call row as the telephony side and the recording pipeline leave it, for tests of what
/// members read (the pipeline itself is tested through its own front door). Fill what matters;
/// the rest is a completed inbound call made now.
pub struct CallSeed {
    pub phone_number_id: Option<uuid::Uuid>,
    pub contact_id: Option<uuid::Uuid>,
    pub direction: &'static str,
    pub status: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub duration_secs: Option<i32>,
    pub transcript: Option<Vec<loquent::calls::transcript::Segment>>,
    /// Stores these bytes as the call's recording.
    pub recording: Option<Vec<u8>>,
    /// `call.source`; `None` leaves the column out, as on a database from before it.
    pub source: Option<&'static str>,
}

impl Default for CallSeed {
    fn default() -> Self {
        Self {
            phone_number_id: None,
            contact_id: None,
            direction: "inbound",
            status: "completed",
            from: "+15557654321",
            to: "+15550100200",
            created_at: chrono::Utc::now(),
            duration_secs: Some(42),
            transcript: None,
            source: Some("phone"),
            recording: None,
        }
    }
}

/// `Speaker: text` segments, a second apart.
pub fn segments(lines: &[(&str, &str)]) -> Vec<loquent::calls::transcript::Segment> {
    lines
        .iter()
        .enumerate()
        .map(|(i, (speaker, text))| loquent::calls::transcript::Segment {
            speaker: (*speaker).to_owned(),
            start: i as f64 * 1.5,
            end: i as f64 * 1.5 + 1.25,
            text: (*text).to_owned(),
        })
        .collect()
}

/// Inserts `seed` as a call of `org_id` (and stores its recording); returns the row.
pub async fn insert_call(
    app: &TestApp,
    org_id: uuid::Uuid,
    seed: CallSeed,
) -> loquent::entity::call::Model {
    use loquent::calls::transcript;
    use sea_orm::{ActiveModelTrait, Set};
    let id = uuid::Uuid::now_v7();
    let call_sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    let recording_url = match &seed.recording {
        None => None,
        Some(bytes) => {
            let key = loquent::storage::recording_key(org_id, &call_sid);
            app.app
                .storage
                .put(&key, bytes.clone().into())
                .await
                .expect("store the recording");
            Some(key)
        }
    };
    let contact_number = if seed.direction == "inbound" {
        seed.from
    } else {
        seed.to
    };
    let row = loquent::entity::call::ActiveModel {
        id: Set(id),
        organization_id: Set(org_id),
        phone_number_id: Set(seed.phone_number_id),
        call_sid: Set(call_sid),
        direction: Set(seed.direction.to_owned()),
        from_number: Set(seed.from.to_owned()),
        to_number: Set(seed.to.to_owned()),
        from_to_number: Set(contact_number.to_owned()),
        contact_id: Set(seed.contact_id),
        status: Set(seed.status.to_owned()),
        started_at: Set(Some(seed.created_at)),
        duration_secs: Set(seed.duration_secs),
        recording_sid: Set(recording_url
            .as_ref()
            .map(|_| format!("RE{}", uuid::Uuid::new_v4().simple()))),
        recording_url: Set(recording_url),
        transcription: Set(seed.transcript.as_deref().map(transcript::to_text)),
        transcript_segments: Set(seed
            .transcript
            .as_ref()
            .map(|s| serde_json::to_value(s).expect("segments as JSON"))),
        transcript_source: Set(seed.transcript.as_ref().map(|_| "recording".to_owned())),
        source: seed
            .source
            .map_or(sea_orm::ActiveValue::NotSet, |s| Set(Some(s.to_owned()))),
        created_at: Set(seed.created_at),
        updated_at: Set(seed.created_at),
    };
    if seed.source.is_some() {
        return row.insert(&app.app.db).await.expect("call row");
    }
    // A schema from before `call.source`: the insert must not name (or return) the column.
    use sea_orm::{EntityTrait, TryIntoModel};
    loquent::entity::call::Entity::insert(row.clone())
        .exec_without_returning(&app.app.db)
        .await
        .expect("call row");
    let mut row = row;
    row.source = Set(None);
    row.try_into_model().expect("every column set")
}
