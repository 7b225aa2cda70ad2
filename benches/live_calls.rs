//! The live-call benchmark: N simultaneous simulated calls against a running server whose agent
//! talks to the OpenAI Realtime emulator in echo mode, so every frame a caller sends comes back
//! through the whole bridge (Twilio socket → server → realtime socket → emulator and back).
//!
//! ```text
//! cargo bench -p loquent --bench live_calls
//! CALLS=200 HOLD_SECS=10 RAMP_SECS=5 cargo bench -p loquent --bench live_calls
//! MODE=both CALLS=200 HOLD_SECS=20 RAMP_SECS=5 cargo bench -p loquent --bench live_calls
//! SOAK=1 cargo bench -p loquent --bench live_calls      # 1,000 calls for 10 minutes
//! ```
//!
//! Settings (environment): `CALLS` (1000), `HOLD_SECS` (20), `RAMP_SECS` (10), `DRAIN_SECS` (2),
//! `SERVER_CORE` (0), `LOAD_CORE` (1), `REPORT_JSON` (a path for the full report as JSON),
//! `SERVER_LOG` (the server's log filter instead of `warn`, e.g. `info,sqlx=debug`; the run's
//! directory with the server's log and database is then kept),
//! `MODE`: `phone` (the default: calls through Twilio's Media Streams), `web` (calls from the
//! browser: the web-call socket, PCM16 at 24 kHz, recorded by the server) or `both` (phone calls,
//! then web calls, against the same server; the web calls' CPU is compared with the phone calls'
//! and should stay within [`TARGET_WEB_CPU_RATIO`] of it). `SOAK=1` (phone calls; `CALLS` and
//! `HOLD_SECS` default to 1,000 and 600) also samples the server's resident memory every
//! [`SOAK_SAMPLE`] and, once the calls are over, checks that it is back where it started: no call
//! still active, no more tasks alive (`/metrics`) and no more descriptors open (`/proc`) than
//! before the calls, and memory after the first minute of the hold grew at most
//! [`SOAK_RSS_GROWTH`].
//!
//! What runs where, on the 2-core machine the targets are set for:
//!
//! - the server (`loquent serve`, this build's binary) on core `SERVER_CORE`, with a fresh SQLite
//!   database in a temporary directory and every outside service pointed at the sandbox;
//! - this process on core `LOAD_CORE`: the load generator (`loquent_sandbox::load`) and the
//!   sandbox (Twilio REST for the set-up, the OpenAI Realtime emulator), the same code as
//!   `loquent sandbox` served on this process's runtime. One process and one runtime for the
//!   whole load side: a second process on the same core would add a context switch and an
//!   `epoll_wait` to most trips of an echo, on the side that already does more work per call
//!   than the server (it sends every 20 ms frame).
//!
//! The organization is set up over the HTTP API as a user would: sign up, connect the sandbox's
//! Twilio account, import its number, point the number's voice URL at the server, create an
//! agent (`provider: openai`, `model: sandbox-echo`) and assign it to the number. One call is
//! placed first to check the path end to end, then the N calls, and a markdown table compares
//! the figures with the issue's targets. The exit status is 0 when every target is met, 1 when
//! one is not, 2 when the benchmark could not run.

#![expect(
    clippy::disallowed_methods,
    reason = "the benchmark reads its own settings (CALLS, HOLD_SECS, ...)"
)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use loquent_sandbox::Sandbox;
use loquent_sandbox::load::{self, LoadPlan, LoadReport, ProcessUsage, Watch, WebCallTarget};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The issue's targets.
const TARGET_P99_MS: f64 = 50.0;
/// While the server is lightly loaded (its default: up to 100 calls per core, and it runs on one
/// core here) caller audio is not batched, and the added latency should be the bridge's alone.
const TARGET_LIGHT_P99_MS: f64 = 5.0;
const LIGHT_LOAD_CALLS: usize = 100;
const TARGET_CPU_MS_PER_CALL_SECOND: f64 = 0.7;
const TARGET_RSS_KIB_PER_CALL: f64 = 1024.0;
/// A web call's server CPU per call-second, as a multiple of a phone call's (issue 24).
const TARGET_WEB_CPU_RATIO: f64 = 1.5;
/// Soak: how often the server's memory is sampled, how much it may grow after the first minute
/// of the hold, and how long the server may take to let go of the calls once they are over:
/// longer than an HTTP client may keep an idle connection (reqwest lets go of one idle for 90 s
/// at its pool's next sweep, every 90 s: up to 180 s), since the emulator's webhook client and the
/// server's own client to the emulated Twilio API each keep a few, a task and a descriptor in
/// the server apiece. The check ends as soon as the counts are back.
const SOAK_SAMPLE: Duration = Duration::from_secs(10);
const SOAK_RSS_GROWTH: f64 = 0.05;
const SOAK_SETTLE: Duration = Duration::from_secs(200);
/// Tasks and descriptors the server may hold beyond its count before the calls: the connection
/// the check itself is made on.
const SOAK_SLACK: f64 = 1.0;
/// Above this share of its core the load side (generator + emulator) is saturated and the
/// latencies it measures include its own queueing.
const LOAD_SIDE_SATURATED: f64 = 0.9;
/// Set on the re-executed, pinned benchmark process.
const PINNED_ENV: &str = "LOQUENT_BENCH_PINNED";
/// The label of this process (generator and emulator) in the report.
const LOAD_SIDE: &str = "load side";
const PASSWORD: &str = "live calls benchmark";

/// Something that stops the benchmark, with what to do about it.
type Failure = String;

struct Settings {
    calls: usize,
    hold: Duration,
    ramp: Duration,
    drain: Duration,
    server_core: String,
    load_core: String,
    report_json: Option<PathBuf>,
    phone: bool,
    web: bool,
    soak: bool,
    /// The server's log filter instead of `warn`; the run's directory (the log, the database) is
    /// then kept for reading.
    server_log: Option<String>,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        let text = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let soak = number("SOAK", 0) == 1;
        Self {
            calls: number("CALLS", 1000) as usize,
            hold: Duration::from_secs(number("HOLD_SECS", if soak { 600 } else { 20 })),
            ramp: Duration::from_secs(number("RAMP_SECS", 10)),
            drain: Duration::from_secs(number("DRAIN_SECS", 2)),
            server_core: text("SERVER_CORE", "0"),
            load_core: text("LOAD_CORE", "1"),
            report_json: std::env::var_os("REPORT_JSON").map(PathBuf::from),
            server_log: std::env::var("SERVER_LOG")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            phone: matches!(text("MODE", "phone").as_str(), "phone" | "both"),
            web: !soak && matches!(text("MODE", "phone").as_str(), "web" | "both"),
            soak,
        }
    }
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench` (and any filter); settings come from the environment.
    let settings = Settings::from_env();
    if let Some(status) = pin_to_load_core(&settings) {
        return status;
    }
    loquent::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("live_calls: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(bench(&settings)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(failure) => {
            eprintln!("live_calls: {failure}");
            ExitCode::from(2)
        }
    }
}

/// Run this benchmark again under `taskset -c LOAD_CORE`, so the generator (and the sandbox it
/// starts, which inherits the affinity) never competes with the server for its core. `None`:
/// carry on in this process (already pinned, or no `taskset`).
fn pin_to_load_core(settings: &Settings) -> Option<ExitCode> {
    if std::env::var_os(PINNED_ENV).is_some() {
        return None;
    }
    if !has_taskset() {
        eprintln!("live_calls: taskset not found; nothing is pinned, so the figures are rougher");
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let status = Command::new("taskset")
        .arg("-c")
        .arg(&settings.load_core)
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(PINNED_ENV, "1")
        .status();
    match status {
        Ok(status) => Some(ExitCode::from(
            status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(2),
        )),
        Err(e) => {
            eprintln!("live_calls: taskset failed ({e}); running unpinned");
            None
        }
    }
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Child processes, killed when the benchmark ends however it ends.
struct Children(Vec<(&'static str, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The sandbox's base URLs.
struct SandboxUrls {
    twilio_api_base: String,
    openai_base_url: String,
}

async fn bench(settings: &Settings) -> Result<bool, Failure> {
    let binary = Path::new(env!("CARGO_BIN_EXE_loquent"));
    if !binary.exists() {
        return Err(format!(
            "the server binary {} is missing; `cargo bench -p loquent --bench live_calls` builds it",
            binary.display()
        ));
    }
    check_open_files(settings.calls);
    let dir = std::env::temp_dir().join(format!("loquent-live-calls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut children = Children(Vec::new());

    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    let urls = SandboxUrls {
        twilio_api_base: sandbox.twilio_api_base(),
        openai_base_url: sandbox.openai_base_url(),
    };
    let (server, origin) = start_server(
        binary,
        &dir,
        &urls,
        &settings.server_core,
        settings.server_log.as_deref().unwrap_or("warn"),
    )?;
    let server_pid = server.id();
    children.0.push(("server", server));
    wait_ready(&origin, &mut children, &dir).await?;
    eprintln!(
        "live_calls: server {origin} (pid {server_pid}, core {}), sandbox {} (in this process), logs in {}",
        settings.server_core,
        urls.twilio_api_base,
        dir.display()
    );

    check_bridge(&origin).await?;
    let line = set_up(&origin, &urls).await?;
    if !settings.phone && !settings.web {
        return Err("MODE must be phone, web or both".to_owned());
    }
    let mut reports = serde_json::Map::new();
    let mut passed = true;
    let mut phone_cpu = None;
    for web in [false, true] {
        if (web && !settings.web) || (!web && !settings.phone) {
            continue;
        }
        let kind = if web { "web" } else { "phone" };
        preflight(&line, &urls, settings, web).await?;
        let mut plan = line.plan(settings, web);
        plan.calls = settings.calls;
        plan.watch = vec![
            Watch::process("server", server_pid),
            Watch::process(LOAD_SIDE, std::process::id()),
        ];
        eprintln!(
            "live_calls: {} {kind} calls, started over {} s, {} s each…",
            settings.calls,
            settings.ramp.as_secs(),
            settings.hold.as_secs()
        );
        let soak = match settings.soak {
            true => Some(Soak::begin(&origin, server_pid).await?),
            false => None,
        };
        let report = load::run(plan).await;
        passed &= print_table(settings, &report, kind);
        if let Some(soak) = soak {
            passed &= soak.end(settings).await;
        }
        let cpu = usage(&report, "server").and_then(|u| u.cpu_ms_per_call_second);
        if web {
            if let (Some(phone), Some(web)) = (phone_cpu, cpu) {
                let ratio = web / phone;
                let ok = ratio <= TARGET_WEB_CPU_RATIO;
                passed &= ok;
                println!(
                    "Web calls: {web:.3} ms server CPU per call-second against {phone:.3} for phone \
                     calls in this run: {ratio:.2}× (target ≤ {TARGET_WEB_CPU_RATIO}×): {}",
                    verdict(ok)
                );
            }
        } else {
            phone_cpu = cpu;
        }
        reports.insert(
            kind.to_owned(),
            serde_json::to_value(&report).map_err(|e| e.to_string())?,
        );
        // The web calls' recordings are stored and processed after they end; a quiet moment
        // keeps that out of the next run's window.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if let Some(path) = &settings.report_json {
        let json = serde_json::to_vec_pretty(&reports).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    drop(children);
    if settings.server_log.is_some() {
        eprintln!(
            "live_calls: the server's log and database are kept in {}",
            dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(passed)
}

/// Every call holds a socket on each side of the server: warn before the run hits the limit.
fn check_open_files(calls: usize) {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse::<usize>().ok())
        });
    if let Some(limit) = limit
        && limit < calls * 3 + 256
    {
        eprintln!(
            "live_calls: the open-file limit ({limit}) is low for {calls} calls (each needs a \
             socket to the server and one from it to the emulator); raise it with `ulimit -n`"
        );
    }
}

fn free_port() -> Result<u16, Failure> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// `loquent serve` on its own core, configured entirely by `LOQUENT_*` variables.
fn start_server(
    binary: &Path,
    dir: &Path,
    urls: &SandboxUrls,
    core: &str,
    log_filter: &str,
) -> Result<(Child, String), Failure> {
    let port = free_port()?;
    let origin = format!("http://127.0.0.1:{port}");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let log = File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let mut command = if has_taskset() {
        // taskset execs the server: the child's pid is the server's.
        let mut command = Command::new("taskset");
        command.arg("-c").arg(core).arg(binary);
        command
    } else {
        Command::new(binary)
    };
    command
        .arg("serve")
        .env("LOQUENT_LISTEN", format!("127.0.0.1:{port}"))
        // Plain http: the voice URL Twilio signs is exactly this origin + path, and streams are
        // connected without TLS (as the sandbox does for http apps).
        .env("LOQUENT_PUBLIC_URL", &origin)
        .env("LOQUENT_DATA_DIR", &data)
        .env(
            "LOQUENT_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", data.join("bench.db").display()),
        )
        .env("LOQUENT_TWILIO_API_BASE", &urls.twilio_api_base)
        .env("LOQUENT_TWILIO_EVENTS_BASE", &urls.twilio_api_base)
        .env("LOQUENT_OPENAI_BASE_URL", &urls.openai_base_url)
        .env("LOQUENT_OPENAI_API_KEY", "sk-sandbox-live-calls")
        // Per-call info lines would be part of the measured CPU; warnings still show problems.
        .env("LOQUENT_LOG", log_filter)
        .env_remove("LOQUENT_CONFIG")
        .current_dir(dir)
        .stdout(log)
        .stderr(err);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {} serve: {e}", binary.display()))?;
    Ok((child, origin))
}

async fn wait_ready(origin: &str, children: &mut Children, dir: &Path) -> Result<(), Failure> {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        for (name, child) in &mut children.0 {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "the {name} exited ({status}) while starting; see {}",
                    dir.display()
                ));
            }
        }
        let ready = client
            .get(format!("{origin}/readyz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK);
        if ready {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "the server at {origin} was not ready within 30 s; see {}/server.log",
        dir.display()
    ))
}

/// The number the calls ring, as Twilio knows it.
struct Line {
    account_sid: String,
    auth_token: String,
    number: String,
    voice_url: String,
    /// The sandbox's Twilio, where each call is registered so the server can look it up.
    twilio_api_base: String,
    /// Where web calls go, and the member's cookie.
    web_call: WebCallTarget,
}

impl Line {
    fn plan(&self, settings: &Settings, web: bool) -> LoadPlan {
        let mut plan = LoadPlan::new(
            &self.voice_url,
            &self.account_sid,
            &self.auth_token,
            &self.number,
        );
        plan.from = "+15550000000".into();
        plan.ramp = settings.ramp;
        plan.hold = settings.hold;
        plan.drain = settings.drain;
        plan.twilio_api_base = Some(self.twilio_api_base.clone());
        if web {
            plan.web_call = Some(self.web_call.clone());
        }
        plan
    }
}

/// Send a JSON request and insist on `expected`; any other answer stops the benchmark with it.
async fn call_api(
    request: reqwest::RequestBuilder,
    what: &str,
    expected: StatusCode,
) -> Result<Value, Failure> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("{what}: request failed: {e}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status == StatusCode::NOT_FOUND {
        return Err(format!(
            "{what}: 404 — this build does not have that endpoint yet: {body}"
        ));
    }
    if status != expected {
        return Err(format!(
            "{what}: answered {status} (expected {expected}): {body}"
        ));
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// An organization on the sandbox's Twilio account, its number answered by an echo agent.
async fn set_up(origin: &str, urls: &SandboxUrls) -> Result<Line, Failure> {
    let api = |path: &str| format!("{origin}{path}");
    let user = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .map_err(|e| e.to_string())?;
    let plain = reqwest::Client::new();
    call_api(
        user.post(api("/api/auth/signup")).json(&json!({
            "email": format!("bench-{}@example.com", std::process::id()),
            "password": PASSWORD,
            "organization_name": "Live calls benchmark",
        })),
        "sign up",
        StatusCode::CREATED,
    )
    .await?;
    let account = call_api(
        plain
            .post(format!("{}/sandbox/accounts", urls.twilio_api_base))
            .json(&json!({"numbers": 1, "calls_per_number": 0, "recording_share": 0.0, "seed": std::process::id()})),
        "seed a sandbox Twilio account",
        StatusCode::CREATED,
    )
    .await?;
    let text = |v: &Value, name: &str| {
        v[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {name} in {v}"))
    };
    let account_sid = text(&account, "account_sid")?;
    let auth_token = text(&account, "auth_token")?;
    let number = text(&account["numbers"][0], "phone_number")?;
    call_api(
        user.post(api("/api/twilio/connect"))
            .json(&json!({"account_sid": account_sid, "auth_token": auth_token})),
        "connect the Twilio account",
        StatusCode::OK,
    )
    .await?;
    call_api(
        user.post(api("/api/twilio/sync-numbers"))
            .json(&json!({"numbers": [number]})),
        "import the number",
        StatusCode::OK,
    )
    .await?;
    let imported = call_api(
        user.get(api("/api/twilio/imported-numbers")),
        "list imported numbers",
        StatusCode::OK,
    )
    .await?;
    let phone_id = imported
        .as_array()
        .and_then(|numbers| numbers.iter().find(|n| n["number"] == number.as_str()))
        .map(|n| text(n, "id"))
        .ok_or_else(|| format!("{number} is not among the imported numbers: {imported}"))??;
    call_api(
        user.post(api("/api/twilio/configure-phone-voice"))
            .json(&json!({"phone_number_id": phone_id})),
        "point the number's voice URL at the server",
        StatusCode::OK,
    )
    .await?;
    // The agents API (`POST /api/agents`, the agent's realtime settings under `config`).
    let agent = call_api(
        user.post(api("/api/agents")).json(&json!({
            "name": "Echo",
            "prompt": "Repeat the caller.",
            "config": {"provider": "openai", "model": "sandbox-echo", "voice": "marin"},
        })),
        "create the echo agent (POST /api/agents)",
        StatusCode::CREATED,
    )
    .await?;
    let agent_id = text(&agent, "id")?;
    call_api(
        user.put(api(&format!("/api/phones/{phone_id}")))
            .json(&json!({"agent_id": agent_id})),
        "assign the agent to the number",
        StatusCode::OK,
    )
    .await?;
    // Ring the voice URL Twilio has for the number, as Twilio would.
    let numbers = call_api(
        plain
            .get(format!(
                "{}/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json",
                urls.twilio_api_base
            ))
            .query(&[("PhoneNumber", number.as_str())])
            .basic_auth(&account_sid, Some(&auth_token)),
        "read the number's voice URL from Twilio",
        StatusCode::OK,
    )
    .await?;
    let voice_url = text(&numbers["incoming_phone_numbers"][0], "voice_url")?;
    // The member's session cookie for web calls, as a browser would send it.
    let login = plain
        .post(api("/api/auth/login"))
        .json(&json!({"email": format!("bench-{}@example.com", std::process::id()), "password": PASSWORD}))
        .send()
        .await
        .map_err(|e| format!("sign in: {e}"))?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| {
            format!(
                "sign in answered {} without a session cookie",
                login.status()
            )
        })?
        .to_owned();
    let web_call = WebCallTarget {
        url: format!(
            "{}/api/agents/{agent_id}/web-call",
            origin.replacen("http://", "ws://", 1)
        ),
        cookie,
    };
    if voice_url != format!("{origin}/twilio/voice") {
        return Err(format!(
            "the number's voice URL is {voice_url:?}, not this server's /twilio/voice"
        ));
    }
    Ok(Line {
        account_sid,
        auth_token,
        number,
        voice_url,
        twilio_api_base: urls.twilio_api_base.clone(),
        web_call,
    })
}

/// Unsigned requests to the bridge's endpoints, compared with a path that cannot exist: the same
/// answer (the router's fallback) means this build does not have the live-call bridge yet. A 404
/// alone would not tell: the bridge may well answer 404 for a number it does not know.
async fn check_bridge(origin: &str) -> Result<(), Failure> {
    let client = reqwest::Client::new();
    let answer = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        Ok::<_, Failure>((status, response.text().await.unwrap_or_default()))
    };
    let form = [("CallSid", "CA00000000000000000000000000000000")];
    let fallback = answer(
        client
            .post(format!("{origin}/twilio/no-such-route"))
            .form(&form),
    )
    .await?;
    let voice = answer(client.post(format!("{origin}/twilio/voice")).form(&form)).await?;
    let fallback_get = answer(client.get(format!("{origin}/twilio/no-such-route"))).await?;
    let stream = answer(client.get(format!("{origin}/twilio/stream"))).await?;
    let missing: Vec<&str> = [
        ("POST /twilio/voice", voice == fallback),
        ("GET /twilio/stream", stream == fallback_get),
    ]
    .into_iter()
    .filter_map(|(route, missing)| missing.then_some(route))
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the live-call bridge is not in this build: {} answer{} like a route that does not \
             exist ({})",
            missing.join(" and "),
            if missing.len() == 1 { "s" } else { "" },
            fallback.0
        ));
    }
    Ok(())
}

/// One short call first: a broken path fails here with its reasons, not as 1,000 failures.
async fn preflight(
    line: &Line,
    urls: &SandboxUrls,
    settings: &Settings,
    web: bool,
) -> Result<(), Failure> {
    let mut plan = line.plan(settings, web);
    plan.calls = 1;
    plan.ramp = Duration::ZERO;
    plan.hold = Duration::from_secs(1);
    plan.from = "+15559990000".into();
    let report = load::run(plan).await;
    if report.calls_failed > 0 {
        return Err(format!(
            "the first test call failed: {}",
            report.failure_samples.join("; ")
        ));
    }
    if report.frames_echoed == 0 {
        let connections = reqwest::get(format!(
            "{}/sandbox/realtime/connections",
            urls.twilio_api_base
        ))
        .await
        .ok();
        let connections = match connections {
            Some(r) => r.json::<Value>().await.unwrap_or(Value::Null),
            None => Value::Null,
        };
        let opened = connections["connections"].as_array().map_or(0, Vec::len);
        return Err(format!(
            "the first test call streamed {} frames and none came back (media received: {}, \
             protocol errors: {:?}). The server opened {opened} realtime connection(s) to the \
             emulator; the agent must use provider openai with model sandbox-echo, and caller \
             audio must pass through unchanged (µ-law both ways).",
            report.frames_sent, report.media_received, report.protocol_error_samples
        ));
    }
    if report.frames_lost > 0 || report.protocol_errors > 0 {
        eprintln!(
            "live_calls: warning: the first test call lost {} of {} frames, {} protocol errors {:?}",
            report.frames_lost,
            report.frames_sent,
            report.protocol_errors,
            report.protocol_error_samples
        );
    }
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "pass" } else { "**FAIL**" }
}

fn usage<'a>(report: &'a LoadReport, label: &str) -> Option<&'a ProcessUsage> {
    report
        .usage
        .iter()
        .find(|u| u.label == label && u.error.is_none())
}

/// The table, and whether every target was met.
fn print_table(settings: &Settings, report: &LoadReport, kind: &str) -> bool {
    let server = usage(report, "server");
    let cpu = server.and_then(|u| u.cpu_ms_per_call_second);
    let rss = server.and_then(|u| u.rss_kib_per_call);
    let concurrent = server.map_or(0, |u| u.calls_at_load);
    let calls_ok = report.calls_completed == settings.calls && concurrent == settings.calls;
    let lost_ok = report.frames_lost == 0 && report.frames_sent > 0;
    // The target is for N concurrent calls: judged on the frames sent while every call was
    // streaming (the window the CPU figure is taken over). The ramp adds up to N / ramp call
    // set-ups a second on both cores, and the hang-ups; the whole run is printed beside it.
    let steady = &report.steady_latency;
    let p99_target = if settings.calls <= LIGHT_LOAD_CALLS {
        TARGET_LIGHT_P99_MS
    } else {
        TARGET_P99_MS
    };
    let latency_ok = steady.count > 0 && steady.p99_ms <= p99_target;
    // The CPU target is for a loaded server, which batches; a lightly loaded one spends more per
    // call on latency, and has the CPU to spare.
    let light = settings.calls <= LIGHT_LOAD_CALLS;
    let cpu_ok = light || cpu.is_some_and(|c| c <= TARGET_CPU_MS_PER_CALL_SECOND);
    // The same over whole calls: set-up (webhooks, signature, rows, the session's opening) and
    // teardown as well as the audio.
    let whole = server.and_then(|u| u.whole_cpu_ms_per_call_second);
    let whole_ok = light || whole.is_some_and(|c| c <= TARGET_CPU_MS_PER_CALL_SECOND);
    let rss_ok = rss.is_some_and(|r| r <= TARGET_RSS_KIB_PER_CALL);
    let clean_ok = report.protocol_errors == 0
        && report.foreign_echoes == 0
        && report.unknown_echoes == 0
        && report.duplicate_echoes == 0;
    let load_side = usage(report, LOAD_SIDE).map_or(0.0, |u| u.cpu_share);
    let saturated = load_side > LOAD_SIDE_SATURATED;
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("n/a".to_owned(), |v| format!("{v:.digits$}"));

    println!();
    println!(
        "### Live calls ({kind}): {} calls × {} s (ramp {} s), server pinned to core {}",
        settings.calls,
        settings.hold.as_secs(),
        settings.ramp.as_secs(),
        settings.server_core
    );
    println!();
    println!("| Measure | Value | Target | Result |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| Calls completed / planned (streaming at once) | {} / {} ({concurrent}) | {} concurrent | {} |",
        report.calls_completed,
        report.calls_planned,
        settings.calls,
        verdict(calls_ok)
    );
    println!("| Frames sent | {} | | |", report.frames_sent);
    println!(
        "| Frames lost | {} | 0 | {} |",
        report.frames_lost,
        verdict(lost_ok)
    );
    println!(
        "| Added latency caller→agent→caller, every call streaming, p50 / p99 / max | {:.1} / {:.1} / {:.1} ms | p99 ≤ {p99_target} ms | {} |",
        steady.p50_ms,
        steady.p99_ms,
        steady.max_ms,
        verdict(latency_ok)
    );
    println!(
        "| … over the whole run, ramp and hang-ups included | {:.1} / {:.1} / {:.1} ms | | |",
        report.latency.p50_ms, report.latency.p99_ms, report.latency.max_ms,
    );
    println!(
        "| First audio p50 / p99 | {:.1} / {:.1} ms | | |",
        report.first_audio.p50_ms, report.first_audio.p99_ms
    );
    // The CPU target is judged only above light load; below it the row shows what it would be.
    let cpu_row = |measure: String, value: Option<f64>, ok: bool| {
        let (target, result) = if light {
            (
                format!("(above light load: ≤ {TARGET_CPU_MS_PER_CALL_SECOND} ms)"),
                "—",
            )
        } else {
            (format!("≤ {TARGET_CPU_MS_PER_CALL_SECOND} ms"), verdict(ok))
        };
        println!("| {measure} | {} ms | {target} | {result} |", opt(value, 3));
    };
    cpu_row("Server CPU per call-second".to_owned(), cpu, cpu_ok);
    cpu_row(
        format!(
            "… over whole calls: set-up, audio and teardown ({:.0} s of server time)",
            server.map_or(0.0, |u| u.whole_seconds)
        ),
        whole,
        whole_ok,
    );
    println!(
        "| Server RSS per call | {} KiB | ≤ 1 MiB | {} |",
        opt(rss, 1),
        verdict(rss_ok)
    );
    if let Some(server) = server {
        println!(
            "| Server in the steady window | {:.0} % of its core over {:.1} s, RSS {} → {} MiB (peak {} MiB) | | |",
            server.cpu_share * 100.0,
            server.window_seconds,
            server.idle_rss_kib / 1024,
            server.load_rss_kib / 1024,
            server.peak_rss_kib / 1024
        );
    }
    println!(
        "| Protocol errors / crossed, unknown, duplicate echoes | {} / {}, {}, {} | 0 | {} |",
        report.protocol_errors,
        report.foreign_echoes,
        report.unknown_echoes,
        report.duplicate_echoes,
        verdict(clean_ok)
    );
    println!(
        "| Marks received / echoed / unplayed at hang-up, clears | {} / {} / {}, {} | | |",
        report.marks_received, report.marks_echoed, report.marks_unplayed, report.clears_received
    );
    println!(
        "| Load side (emulator + generator) CPU | {:.0} % of its core | < {:.0} % | {} |",
        load_side * 100.0,
        LOAD_SIDE_SATURATED * 100.0,
        if saturated {
            "saturated: latencies are upper bounds"
        } else {
            "ok"
        }
    );
    println!(
        "| Generator send lag max / frames > 5 ms late | {:.1} ms / {} | | |",
        report.send_lag_max_ms, report.late_frames
    );
    println!();
    for usage in &report.usage {
        if let Some(error) = &usage.error {
            println!("{} was not measured: {error}", usage.label);
        }
    }
    if !report.failure_samples.is_empty() {
        println!("Failures by stage: {:?}", report.failures);
        for sample in &report.failure_samples {
            println!("- {sample}");
        }
    }
    if !report.protocol_error_samples.is_empty() {
        println!("Protocol errors:");
        for sample in &report.protocol_error_samples {
            println!("- {sample}");
        }
    }
    let passed = calls_ok && lost_ok && latency_ok && cpu_ok && whole_ok && rss_ok && clean_ok;
    println!(
        "{}",
        if passed {
            "All targets met."
        } else {
            "Some targets were not met."
        }
    );
    passed
}

/// The soak's watch on the server: its state before the calls and its memory while they run.
struct Soak {
    origin: String,
    pid: u32,
    tasks_before: f64,
    fds_before: usize,
    began: tokio::time::Instant,
    /// Seconds since the calls began, and resident memory in KiB.
    memory: tokio::task::JoinHandle<Vec<(f64, u64)>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Soak {
    async fn begin(origin: &str, pid: u32) -> Result<Self, Failure> {
        let tasks_before = scrape(origin, "loquent_runtime_alive_tasks")
            .await
            .ok_or("the server's /metrics has no loquent_runtime_alive_tasks")?;
        let fds_before = open_descriptors(pid)?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let began = tokio::time::Instant::now();
        let memory = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(SOAK_SAMPLE);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return samples,
                }
                if let Ok(sample) = load::ProcessSample::read(pid) {
                    samples.push((began.elapsed().as_secs_f64(), sample.rss_kib));
                }
            }
        });
        Ok(Self {
            origin: origin.to_owned(),
            pid,
            tasks_before,
            fds_before,
            began,
            memory,
            stop,
        })
    }

    /// Prints the soak's table once the server has let go of the calls (or [`SOAK_SETTLE`] has
    /// passed); whether it passed.
    async fn end(self, settings: &Settings) -> bool {
        let _ = self.stop.send(true);
        let memory = self.memory.await.unwrap_or_default();
        let ended = self.began.elapsed();
        let settle_until = tokio::time::Instant::now() + SOAK_SETTLE;
        let (mut active, mut tasks, mut fds);
        loop {
            active = scrape(&self.origin, "loquent_active_calls").await;
            tasks = scrape(&self.origin, "loquent_runtime_alive_tasks").await;
            fds = open_descriptors(self.pid).ok();
            let settled = active == Some(0.0)
                && tasks.is_some_and(|t| t <= self.tasks_before + SOAK_SLACK)
                && fds.is_some_and(|f| f as f64 <= self.fds_before as f64 + SOAK_SLACK);
            if settled || tokio::time::Instant::now() >= settle_until {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let settled_after = self.began.elapsed().saturating_sub(ended);
        // Memory from the first minute of the hold (after the ramp) to the end of the hold.
        let from = (settings.ramp + Duration::from_secs(60)).as_secs_f64();
        let to = (settings.ramp + settings.hold).as_secs_f64();
        let held: Vec<u64> = memory
            .iter()
            .filter(|(at, _)| (from..=to).contains(at))
            .map(|&(_, rss)| rss)
            .collect();
        let growth = match (held.first(), held.iter().max()) {
            (Some(&first), Some(&max)) if first > 0 => Some((max - first) as f64 / first as f64),
            _ => None,
        };
        let memory_ok = growth.is_some_and(|g| g <= SOAK_RSS_GROWTH);
        let active_ok = active == Some(0.0);
        let tasks_ok = tasks.is_some_and(|t| t <= self.tasks_before + SOAK_SLACK);
        let fds_ok = fds.is_some_and(|f| f as f64 <= self.fds_before as f64 + SOAK_SLACK);
        let show = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0}"));
        println!();
        println!(
            "Soak: {} calls held {} s, memory sampled every {} s",
            settings.calls,
            settings.hold.as_secs(),
            SOAK_SAMPLE.as_secs()
        );
        println!();
        println!("| Check | Measured | Target | Verdict |");
        println!("|---|---|---|---|");
        println!(
            "| Server memory, first minute of the hold → its peak | {} → {} MiB ({}) | ≤ +{:.0} % | {} |",
            held.first()
                .map_or("?".to_owned(), |k| format!("{:.1}", *k as f64 / 1024.0)),
            held.iter()
                .max()
                .map_or("?".to_owned(), |k| format!("{:.1}", *k as f64 / 1024.0)),
            growth.map_or("?".to_owned(), |g| format!("{:+.1} %", g * 100.0)),
            SOAK_RSS_GROWTH * 100.0,
            verdict(memory_ok)
        );
        println!(
            "| Calls still active, {:.1} s after the last ended | {} | 0 | {} |",
            settled_after.as_secs_f64(),
            show(active),
            verdict(active_ok)
        );
        println!(
            "| Tasks alive (before the calls → after) | {:.0} → {} | ≤ before + {SOAK_SLACK:.0} | {} |",
            self.tasks_before,
            show(tasks),
            verdict(tasks_ok)
        );
        println!(
            "| Open descriptors (before the calls → after) | {} → {} | ≤ before + {SOAK_SLACK:.0} | {} |",
            self.fds_before,
            fds.map_or("?".to_owned(), |f| f.to_string()),
            verdict(fds_ok)
        );
        let trace: Vec<String> = memory
            .iter()
            .step_by(6)
            .map(|(at, rss)| format!("{at:.0} s {:.1} MiB", *rss as f64 / 1024.0))
            .collect();
        println!();
        println!(
            "Server memory over the run (every minute): {}",
            trace.join(", ")
        );
        memory_ok && active_ok && tasks_ok && fds_ok
    }
}

/// One unlabelled gauge from the server's `/metrics`.
async fn scrape(origin: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{origin}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Descriptors the process `pid` has open.
fn open_descriptors(pid: u32) -> Result<usize, Failure> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(Iterator::count)
        .map_err(|e| format!("cannot list the server's descriptors: {e}"))
}
