//! The calls-list benchmark (issue 22): `GET /api/calls` through the real HTTP front door, with a
//! session cookie, on an organization with 1,000,000 calls beside 10 other organizations' calls,
//! on SQLite and on PostgreSQL. Targets: p99 ≤ 20 ms for every page kind but search, search
//! p99 ≤ 100 ms.
//!
//! ```text
//! cargo bench -p loquent --bench calls_list
//! CALLS=100000 OTHER_CALLS=10000 cargo bench -p loquent --bench calls_list
//! ```
//!
//! Settings (environment): `CALLS` (1,000,000: the measured organization's calls),
//! `OTHER_ORGS` (10) × `OTHER_CALLS` (50,000 each), `REQUESTS` (200 timed requests per page kind
//! and pass, after 20 untimed ones), `BUDGET_SECS` (30: a kind whose requests took that long
//! in a pass stops there, and the table says how many were timed), `PASSES` (3, alternating the databases), `DATABASES`
//! (`sqlite,postgres`), `PG_URL` (`postgres://postgres@127.0.0.1:5432`; each run makes and drops
//! its own database). To measure again without seeding again: `SQLITE_FILE=/path/calls.db` and
//! `PG_DATABASE=name` keep the databases (seeded on the first run, reused, and migrated, by the
//! next).
//!
//! Seeding goes through the tables the application writes (`call`, `contact`, `contact_phone`,
//! `phone_number`, `analyzer`, `call_analysis`) with multi-row inserts of 1,000 rows, 20,000
//! calls per transaction, so the search triggers fill the search documents (`call_search_doc`,
//! and SQLite's `call_search`) as for any insert. On PostgreSQL the secondary indexes of `call`
//! and `call_search_doc` (the transcript GIN index among them) are dropped for the load and created again from their own `pg_get_indexdef`, as a bulk load
//! would, then the tables are analysed (autovacuum would do it on its own within minutes).
//! SQLite is measured as the application leaves it: no `ANALYZE`.
//!
//! The data, from a fixed seed: calls spread over three years up to 2026-12-06; 65 % inbound;
//! statuses by direction (completed 80 % in, 60 % out; no-answer, busy, failed, canceled);
//! 60 % of completed calls recorded, 80 % of those transcribed (about 30 % of all calls) with
//! 6 to 12 `Agent`/`Caller` segments of 5 to 12 words, 90 % of transcripts analysed. The
//! measured organization has 3 numbers and `CALLS / 50` contacts, the other party of a call
//! picked with a long tail (the most frequent contact has about 0.7 % of the calls). Every
//! transcript has one topic sentence out of 30, so a topic word (`invoice`) is in about 1 % of
//! the calls; `zeppelin` is in about one call in 100,000.
//!
//! Page kinds: the first page (`limit` 50, the default); a page 10,000 calls deep (its cursor
//! found once by walking `next_cursor`, then asked for repeatedly); a filtered page (inbound,
//! completed, recorded, in a 90-day range ending a month before the newest call); the most
//! frequent contact's calls (about 7,000 of 1,000,000); an occasional contact's (a few dozen);
//! transcript searches for the common and the rare word.

#![expect(
    clippy::disallowed_methods,
    reason = "the benchmark reads its own settings (CALLS, PG_URL, ...) and serves on a task \
              that lives as long as the run"
)]

mod support;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{drop_pg, fresh_pg};

use chrono::{DateTime, TimeDelta, Utc};
use loquent::entity::{analyzer, call, call_analysis, contact, contact_phone, phone_number};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Set, Statement,
    TransactionTrait,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

const PASSWORD: &str = "bench password 123";
const MEASURED_EMAIL: &str = "bench@calls.example.com";
/// The newest seeded call is just before this instant.
const NEWEST: &str = "2026-12-06T00:00:00Z";
const SPAN_DAYS: i64 = 3 * 365;
const ROWS_PER_STATEMENT: usize = 1_000;
const CALLS_PER_TRANSACTION: usize = 20_000;
const WARM_UP: usize = 20;
const COMMON_TERM: &str = "invoice";
const RARE_TERM: &str = "zeppelin";
/// The rare term's share of transcripts (about 0.3 of calls are transcribed).
const RARE_SHARE: f64 = 1.0 / 30_000.0;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// SplitMix64: small, fast, and the same data on every run and database.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    #[expect(clippy::cast_precision_loss, reason = "53 bits, exactly representable")]
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    #[expect(clippy::cast_possible_truncation, reason = "below n, a usize")]
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn hex32(&mut self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }

    /// A version 7 UUID at `at`, as `Uuid::now_v7` makes them.
    fn uuid_at(&mut self, at: DateTime<Utc>) -> Uuid {
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        random[8..].copy_from_slice(&self.next_u64().to_le_bytes()[..2]);
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }
}

const WORDS: &[&str] = &[
    "yes",
    "no",
    "okay",
    "thanks",
    "thank",
    "you",
    "hello",
    "hi",
    "good",
    "morning",
    "afternoon",
    "please",
    "could",
    "would",
    "can",
    "we",
    "I",
    "my",
    "your",
    "our",
    "the",
    "a",
    "an",
    "is",
    "are",
    "was",
    "it",
    "that",
    "this",
    "there",
    "here",
    "about",
    "with",
    "for",
    "from",
    "on",
    "at",
    "to",
    "in",
    "next",
    "week",
    "today",
    "tomorrow",
    "monday",
    "tuesday",
    "friday",
    "time",
    "call",
    "back",
    "number",
    "name",
    "address",
    "street",
    "account",
    "order",
    "service",
    "appointment",
    "booking",
    "schedule",
    "available",
    "slot",
    "price",
    "quote",
    "estimate",
    "repair",
    "install",
    "visit",
    "technician",
    "problem",
    "issue",
    "question",
    "help",
    "check",
    "confirm",
    "sure",
    "great",
    "perfect",
    "right",
    "just",
    "also",
    "still",
    "again",
    "maybe",
    "sometime",
    "later",
    "earlier",
    "before",
    "after",
    "minute",
    "hour",
    "day",
    "morning",
    "evening",
    "office",
    "team",
    "manager",
    "colleague",
    "message",
    "email",
    "text",
    "phone",
    "line",
    "speak",
    "talk",
    "ask",
    "tell",
    "need",
    "want",
    "like",
    "know",
    "think",
    "see",
    "look",
    "get",
    "make",
    "send",
    "take",
    "come",
    "go",
    "wait",
    "hold",
    "transfer",
    "noted",
    "sorry",
    "fine",
    "done",
    "ready",
    "open",
    "closed",
    "weekend",
    "holiday",
    "kitchen",
    "bathroom",
    "water",
    "heating",
    "boiler",
    "window",
    "door",
    "roof",
    "garden",
    "car",
    "delivery",
    "package",
    "parcel",
    "tracking",
    "warranty",
    "contract",
    "policy",
    "payment",
    "card",
    "bank",
    "transfer",
    "balance",
    "discount",
    "offer",
    "new",
    "old",
    "same",
    "different",
    "first",
    "last",
    "second",
];

/// One topic sentence per transcript; the first word of each is its topic's word.
const TOPICS: &[&str] = &[
    "invoice for last month looks wrong",
    "refund has not arrived yet",
    "leak under the sink again",
    "cancellation of the yearly plan",
    "upgrade to the premium package",
    "complaint about the last visit",
    "reschedule the appointment to thursday",
    "directions to your warehouse",
    "opening hours over christmas",
    "password reset for the portal",
    "damaged item in the delivery",
    "insurance claim paperwork",
    "emergency callout tonight",
    "feedback on the new technician",
    "membership renewal reminder",
    "quotation for a new bathroom",
    "parking near the clinic",
    "prescription ready for pickup",
    "dentist appointment for my daughter",
    "catering for forty guests",
    "table for six on saturday",
    "shipment stuck in customs",
    "tenancy agreement questions",
    "mortgage appointment next week",
    "gas smell in the hallway",
    "broken heater in the office",
    "enrolment for the spring course",
    "vaccination slots for seniors",
    "solar panels survey",
    "pest control in the attic",
];

const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jamal", "Kate",
    "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara",
];
const LAST_NAMES: &[&str] = &[
    "Adams", "Brown", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Huang", "Ivanova", "Jones",
    "Kowalski", "Lopez", "Martin", "Nakamura", "Okafor", "Patel", "Rossi", "Smith",
];

fn sentence(rng: &mut Rng) -> String {
    let n = 5 + rng.below(8);
    let mut words: Vec<&str> = (0..n).map(|_| rng.pick(WORDS)).collect();
    if let Some(first) = words.first_mut()
        && *first == "I"
    {
        *first = "So";
    }
    let mut s = words.join(" ");
    if let Some(c) = s.get(..1) {
        let upper = c.to_uppercase();
        s.replace_range(..1, &upper);
    }
    s.push('.');
    s
}

/// A transcript's segments and its `Speaker: text` lines (as `calls::transcript::to_text`).
fn transcript(rng: &mut Rng, duration: i32) -> (Value, String) {
    let n = 6 + rng.below(7);
    let topic_at = rng.below(n);
    let rare = rng.unit() < RARE_SHARE;
    let step = f64::from(duration.max(n as i32)) / n as f64;
    let mut segments = Vec::with_capacity(n);
    let mut text = String::new();
    for i in 0..n {
        let speaker = if i % 2 == 0 { "Agent" } else { "Caller" };
        let mut line = sentence(rng);
        if i == topic_at {
            line = format!("It is about the {}. {line}", rng.pick(TOPICS));
        }
        if rare && i == n - 1 {
            line.push_str(&format!(" Like a {RARE_TERM} over the bay."));
        }
        #[expect(clippy::cast_precision_loss, reason = "a handful of segments")]
        let start = (i as f64 * step * 10.0).round() / 10.0;
        segments.push(
            json!({"speaker": speaker, "start": start, "end": start + step * 0.9, "text": line}),
        );
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(speaker);
        text.push_str(": ");
        text.push_str(&line);
    }
    (Value::Array(segments), text)
}

/// One organization's numbers, contacts, analyzer and `calls` calls; `org_index` 0 is the
/// measured organization. Its first contact is the most frequent caller.
async fn seed_org(
    db: &DatabaseConnection,
    org_id: Uuid,
    org_index: u64,
    calls: usize,
) -> Result<(), String> {
    let mut rng = Rng(0x5EED_0000 + org_index);
    let newest: DateTime<Utc> = NEWEST.parse().map_err(|e| format!("{e}"))?;
    let oldest = newest - TimeDelta::days(SPAN_DAYS);
    let err = |e: sea_orm::DbErr| e.to_string();

    let numbers: Vec<(Uuid, String)> = (0..3)
        .map(|i| (rng.uuid_at(oldest), format!("+1555{org_index:02}{i:05}")))
        .collect();
    phone_number::Entity::insert_many(numbers.iter().enumerate().map(|(i, (id, number))| {
        phone_number::ActiveModel {
            id: Set(*id),
            organization_id: Set(org_id),
            number: Set(number.clone()),
            twilio_sid: Set(Some(format!("PN{}", rng.hex32()))),
            friendly_name: Set(["Main line", "Sales", "Support"][i].to_owned()),
            agent_id: Set(None),
            previous_voice_url: Set(None),
            created_at: Set(oldest),
            updated_at: Set(oldest),
        }
    }))
    .exec_without_returning(db)
    .await
    .map_err(err)?;

    let analyzer_id = rng.uuid_at(oldest);
    analyzer::Entity::insert(analyzer::ActiveModel {
        id: Set(analyzer_id),
        organization_id: Set(org_id),
        name: Set("Summary".to_owned()),
        prompt: Set("Summarise the call in two sentences.".to_owned()),
        is_default: Set(true),
        active: Set(true),
        created_at: Set(oldest),
        updated_at: Set(oldest),
    })
    .exec_without_returning(db)
    .await
    .map_err(err)?;

    let contact_count = (calls / 50).max(10);
    let contacts: Vec<(Uuid, String)> = (0..contact_count)
        .map(|i| {
            (
                contact_id(org_index, i),
                format!("+1646{org_index:02}{i:07}"),
            )
        })
        .collect();
    let txn = db.begin().await.map_err(err)?;
    for chunk in contacts.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<contact::ActiveModel> = chunk
            .iter()
            .map(|(id, _)| {
                let named = rng.unit() < 0.3;
                contact::ActiveModel {
                    id: Set(*id),
                    organization_id: Set(org_id),
                    name: Set(named
                        .then(|| format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES)))),
                    email: Set(None),
                    notes: Set(None),
                    company: Set(None),
                    source: Set(if rng.unit() < 0.5 {
                        loquent::contacts::source::CALL_SYNC
                    } else {
                        loquent::contacts::source::INBOUND_CALL
                    }
                    .to_owned()),
                    last_contacted_at: Set(Some(newest)),
                    created_at: Set(oldest),
                    updated_at: Set(oldest),
                }
            })
            .collect();
        contact::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await
            .map_err(err)?;
        let phones: Vec<contact_phone::ActiveModel> = chunk
            .iter()
            .map(|(id, number)| contact_phone::ActiveModel {
                id: Set(rng.uuid_at(oldest)),
                organization_id: Set(org_id),
                contact_id: Set(*id),
                number: Set(number.clone()),
                created_at: Set(oldest),
            })
            .collect();
        contact_phone::Entity::insert_many(phones)
            .exec_without_returning(&txn)
            .await
            .map_err(err)?;
    }
    txn.commit().await.map_err(err)?;

    let span_ms = SPAN_DAYS * 86_400_000;
    #[expect(clippy::cast_possible_wrap, reason = "calls far below 2^63")]
    let step_ms = span_ms / calls.max(1) as i64;
    let mut done = 0;
    while done < calls {
        let txn = db.begin().await.map_err(err)?;
        let end = (done + CALLS_PER_TRANSACTION).min(calls);
        let mut i = done;
        while i < end {
            let batch_end = (i + ROWS_PER_STATEMENT).min(end);
            let mut rows = Vec::with_capacity(batch_end - i);
            let mut analyses = Vec::new();
            for n in i..batch_end {
                #[expect(clippy::cast_possible_wrap, reason = "calls far below 2^63")]
                let at_ms = n as i64 * step_ms + (rng.next_u64() % step_ms.max(1) as u64) as i64;
                let created_at = oldest + TimeDelta::milliseconds(at_ms);
                let inbound = rng.unit() < 0.65;
                let r = rng.unit();
                let number = &numbers[usize::from(r >= 0.6) + usize::from(r >= 0.9)];
                // The other party: a long tail, the first contact the most frequent.
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss,
                    reason = "an index below contact_count"
                )]
                let who =
                    ((rng.unit().powi(2) * contact_count as f64) as usize).min(contact_count - 1);
                let (contact_id, external) = &contacts[who];
                let s = rng.unit();
                let status = if inbound {
                    match s {
                        s if s < 0.80 => "completed",
                        s if s < 0.88 => "no-answer",
                        s if s < 0.90 => "busy",
                        s if s < 0.92 => "failed",
                        _ => "canceled",
                    }
                } else {
                    match s {
                        s if s < 0.60 => "completed",
                        s if s < 0.80 => "no-answer",
                        s if s < 0.90 => "busy",
                        s if s < 0.95 => "failed",
                        _ => "canceled",
                    }
                };
                let completed = status == "completed";
                #[expect(clippy::cast_possible_truncation, reason = "at most 3,600 seconds")]
                let duration = if completed {
                    (5.0 - rng.unit().max(1e-9).ln() * 150.0).min(3_600.0) as i32
                } else {
                    0
                };
                let call_sid = format!("CA{}", rng.hex32());
                let recorded = completed && rng.unit() < 0.6;
                let transcribed = recorded && rng.unit() < 0.8;
                let (segments, text) = if transcribed {
                    let (segments, text) = transcript(&mut rng, duration);
                    (Some(segments), Some(text))
                } else {
                    (None, None)
                };
                let id = rng.uuid_at(created_at);
                if transcribed && rng.unit() < 0.9 {
                    analyses.push(call_analysis::ActiveModel {
                        id: Set(rng.uuid_at(created_at)),
                        organization_id: Set(org_id),
                        call_id: Set(id),
                        analyzer_id: Set(analyzer_id),
                        analysis_text: Set(format!(
                            "The caller asked about the {}. {}",
                            rng.pick(TOPICS),
                            sentence(&mut rng)
                        )),
                        job_id: Set(None),
                        created_at: Set(created_at + TimeDelta::seconds(i64::from(duration) + 60)),
                    });
                }
                let (from, to) = if inbound {
                    (external.clone(), number.1.clone())
                } else {
                    (number.1.clone(), external.clone())
                };
                rows.push(call::ActiveModel {
                    id: Set(id),
                    organization_id: Set(org_id),
                    phone_number_id: Set(Some(number.0)),
                    direction: Set(if inbound { "inbound" } else { "outbound" }.to_owned()),
                    from_number: Set(from),
                    to_number: Set(to),
                    from_to_number: Set(external.clone()),
                    contact_id: Set(Some(*contact_id)),
                    status: Set(status.to_owned()),
                    started_at: Set(Some(created_at)),
                    duration_secs: Set(Some(duration)),
                    recording_sid: Set(recorded.then(|| format!("RE{}", rng.hex32()))),
                    recording_url: Set(
                        recorded.then(|| loquent::storage::recording_key(org_id, &call_sid))
                    ),
                    call_sid: Set(call_sid),
                    transcript_source: Set(transcribed
                        .then(|| loquent::calls::transcript::source::RECORDING.to_owned())),
                    transcription: Set(text),
                    transcript_segments: Set(segments),
                    source: Set(Some("phone".to_owned())),
                    created_at: Set(created_at),
                    updated_at: Set(created_at + TimeDelta::seconds(i64::from(duration))),
                });
            }
            call::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(err)?;
            if !analyses.is_empty() {
                call_analysis::Entity::insert_many(analyses)
                    .exec_without_returning(&txn)
                    .await
                    .map_err(err)?;
            }
            i = batch_end;
        }
        txn.commit().await.map_err(err)?;
        done = end;
    }
    Ok(())
}

/// PostgreSQL: the secondary indexes of `call` and of its search documents, dropped for a bulk
/// load; returns the statements that create them again.
async fn drop_call_indexes(db: &DatabaseConnection) -> Result<Vec<String>, String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT indexname, indexdef FROM pg_indexes \
             WHERE schemaname = 'public' AND tablename IN ('call', 'call_search_doc') \
             AND indexname NOT LIKE '%\\_pkey'",
        ))
        .await
        .map_err(|e| e.to_string())?;
    let mut defs = Vec::new();
    for row in rows {
        let name: String = row.try_get("", "indexname").map_err(|e| e.to_string())?;
        let def: String = row.try_get("", "indexdef").map_err(|e| e.to_string())?;
        db.execute_unprepared(&format!("DROP INDEX \"{name}\""))
            .await
            .map_err(|e| e.to_string())?;
        defs.push(def);
    }
    Ok(defs)
}

async fn create_indexes(db: &DatabaseConnection, defs: &[String]) -> Result<(), String> {
    let txn = db.begin().await.map_err(|e| e.to_string())?;
    txn.execute_unprepared("SET LOCAL maintenance_work_mem = '512MB'")
        .await
        .map_err(|e| e.to_string())?;
    for def in defs {
        txn.execute_unprepared(def)
            .await
            .map_err(|e| format!("{def}: {e}"))?;
    }
    txn.commit().await.map_err(|e| e.to_string())?;
    db.execute_unprepared("ANALYZE")
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A signed-in client of `email`'s organization (signed up if new) and the organization's id;
/// `true` when it was new.
async fn member(base: &str, email: &str) -> Result<(reqwest::Client, Uuid, bool), String> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        // Past the server's own 30 s request timeout: a stuck request ends the run.
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let (me, new) = if login.status().is_success() {
        (login, false)
    } else {
        let res = client
            .post(format!("{base}/api/auth/signup"))
            .json(&json!({"email": email, "password": PASSWORD, "organization_name": email}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("sign-up of {email}: {}", res.status()));
        }
        (res, true)
    };
    let me: Value = me.json().await.map_err(|e| e.to_string())?;
    let org_id = me["organization"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no organization id in {me}"))?;
    Ok((client, org_id, new))
}

/// A running server on one database, its measured member, and what the page kinds ask for.
struct Target {
    name: &'static str,
    client: reqwest::Client,
    kinds: Vec<(&'static str, String)>,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

async fn start(
    name: &'static str,
    url: &str,
    calls: usize,
    other_orgs: usize,
    other_calls: usize,
) -> Result<Target, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let env = BTreeMap::from([
        ("LOQUENT_DATABASE_URL".to_owned(), url.to_owned()),
        (
            "LOQUENT_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        ("LOQUENT_LISTEN".to_owned(), addr.to_string()),
        ("LOQUENT_LOG".to_owned(), "warn".to_owned()),
    ]);
    let config = loquent::Config::from_sources(None, &env).map_err(|e| e.to_string())?;
    let app = loquent::App::start(config)
        .await
        .map_err(|e| e.to_string())?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(loquent::serve(Arc::clone(&app), listener, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    let (client, org_id, new) = member(&base, MEASURED_EMAIL).await?;
    if new {
        let started = Instant::now();
        let postgres = app.db.get_database_backend() == DatabaseBackend::Postgres;
        let defs = if postgres {
            drop_call_indexes(&app.db).await?
        } else {
            Vec::new()
        };
        seed_org(&app.db, org_id, 0, calls).await?;
        let measured = started.elapsed().as_secs_f64();
        for k in 1..=other_orgs {
            let (_, other, _) = member(&base, &format!("other{k}@calls.example.com")).await?;
            seed_org(&app.db, other, k as u64, other_calls).await?;
        }
        let inserted = started.elapsed().as_secs_f64();
        if postgres {
            create_indexes(&app.db, &defs).await?;
        }
        println!(
            "{name}: seeded {calls} + {other_orgs} × {other_calls} calls in {:.1} s \
             (measured organization {measured:.1} s, others {:.1} s, indexes and ANALYZE {:.1} s; load {})",
            started.elapsed().as_secs_f64(),
            inserted - measured,
            started.elapsed().as_secs_f64() - inserted,
            load_average()
        );
    } else {
        println!("{name}: reusing the seeded database");
    }
    let top_contact = contact_id(0, 0);
    // Half-way down the tail: a contact with a few dozen calls.
    let occasional_contact = contact_id(0, (calls / 50).max(10) / 2);

    // The cursor 10,000 calls deep, walked to once.
    let mut cursor = String::new();
    let started = Instant::now();
    for _ in 0..(10_000 / 50) {
        let page: Value = client
            .get(format!("{base}/api/calls?cursor={cursor}"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        cursor = page["next_cursor"]
            .as_str()
            .ok_or("fewer than 10,000 calls")?
            .to_owned();
    }
    println!(
        "{name}: walked 200 pages to 10,000 calls deep in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let kinds = vec![
        ("first page", format!("{base}/api/calls")),
        ("10,000 deep", format!("{base}/api/calls?cursor={cursor}")),
        (
            "filtered",
            format!(
                "{base}/api/calls?direction=inbound&status=completed&has_recording=true\
                 &from=2026-08-08&to=2026-11-05"
            ),
        ),
        (
            "frequent contact",
            format!("{base}/api/calls?contact_id={top_contact}"),
        ),
        (
            "occasional contact",
            format!("{base}/api/calls?contact_id={occasional_contact}"),
        ),
        (
            "search, common word",
            format!("{base}/api/calls?q={COMMON_TERM}"),
        ),
        (
            "search, rare word",
            format!("{base}/api/calls?q={RARE_TERM}"),
        ),
    ];
    // Each kind answers with calls, and only the organization's.
    for (kind, url) in &kinds {
        let started = Instant::now();
        let res = client.get(url).send().await.map_err(|e| e.to_string())?;
        let status = res.status();
        let Ok(page) = res.json::<Value>().await else {
            println!(
                "{name}: {kind}: {status} after {:.0} ms",
                started.elapsed().as_secs_f64() * 1_000.0
            );
            continue;
        };
        let items = page["items"].as_array().map_or(0, Vec::len);
        // The rare word may be in no call of a small run.
        if items == 0 && !url.ends_with(RARE_TERM) {
            return Err(format!("{name}: {kind} found no call: {page}"));
        }
        println!("{name}: {kind}: {items} calls on the page");
    }
    Ok(Target {
        name,
        client,
        kinds,
        stop: Some(stop),
        _dir: dir,
    })
}

/// The id of contact `i` of organization `org_index` (the first is the most frequent caller):
/// the same on every run, so a kept database needs no look-up.
fn contact_id(org_index: u64, i: usize) -> Uuid {
    let mut rng = Rng(0xC0_0000_0000 ^ (org_index << 32) ^ i as u64);
    rng.uuid_at(DateTime::UNIX_EPOCH + TimeDelta::days(20_000))
}

/// Milliseconds of `requests` requests per kind, interleaved, after a warm-up; a kind stops
/// early once its requests took `budget` (so a slow kind has fewer, and says so).
async fn pass(target: &Target, requests: usize, budget: Duration) -> Result<Vec<Vec<f64>>, String> {
    let kinds = target.kinds.len();
    let mut times = vec![Vec::with_capacity(requests); kinds];
    let mut spent = vec![Duration::ZERO; kinds];
    for round in 0..(WARM_UP + requests) {
        if round == WARM_UP {
            spent.fill(Duration::ZERO);
        }
        for (k, (kind, url)) in target.kinds.iter().enumerate() {
            // The warm-up gets a tenth of the budget.
            let limit = if round < WARM_UP { budget / 10 } else { budget };
            if spent[k] >= limit {
                continue;
            }
            let started = Instant::now();
            let res = target
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = res.status();
            let body = res.bytes().await;
            let took = started.elapsed();
            spent[k] += took;
            if !status.is_success() || body.is_err() {
                // Timed anyway: a request the server gave up on is as slow as it took.
                eprintln!(
                    "{}: {kind}: {status} after {:.0} ms",
                    target.name,
                    took.as_secs_f64() * 1_000.0
                );
            }
            if round >= WARM_UP {
                times[k].push(took.as_secs_f64() * 1_000.0);
            }
        }
    }
    Ok(times)
}

/// One pass's figures for one page kind.
struct PassFigures {
    p50: f64,
    p99: f64,
    /// Requests timed (fewer than asked when the kind ran out of budget).
    timed: usize,
}

/// Nearest-rank percentile.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank within the sample"
    )]
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    }
}

async fn bench() -> Result<(), String> {
    let calls = setting("CALLS", 1_000_000);
    let other_orgs = setting("OTHER_ORGS", 10);
    let other_calls = setting("OTHER_CALLS", 50_000);
    let requests = setting("REQUESTS", 200);
    let passes = setting("PASSES", 3);
    let budget = Duration::from_secs(setting("BUDGET_SECS", 30) as u64);
    let databases = std::env::var("DATABASES").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    let pg =
        std::env::var("PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    if calls < 10_100 {
        return Err("CALLS must be at least 10,100 (a page 10,000 calls deep)".into());
    }

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut targets = Vec::new();
    let mut made_pg = None;
    if databases.contains("sqlite") {
        let file = std::env::var("SQLITE_FILE")
            .map_or_else(|_| dir.path().join("calls.db"), std::path::PathBuf::from);
        let url = format!("sqlite://{}?mode=rwc", file.display());
        targets.push(start("SQLite", &url, calls, other_orgs, other_calls).await?);
    }
    if databases.contains("postgres") {
        let url = match std::env::var("PG_DATABASE") {
            Ok(name) => {
                let admin = sea_orm::Database::connect(format!("{pg}/postgres"))
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await;
                format!("{pg}/{name}")
            }
            Err(_) => {
                let (url, name) = fresh_pg(&pg).await?;
                made_pg = Some(name);
                url
            }
        };
        let started = start("PostgreSQL", &url, calls, other_orgs, other_calls).await;
        match started {
            Ok(target) => targets.push(target),
            Err(e) => {
                if let Some(name) = &made_pg {
                    drop_pg(&pg, name).await;
                }
                return Err(e);
            }
        }
    }

    // (database, kind) → each pass's (p50, p99, requests timed).
    let mut figures: BTreeMap<(usize, usize), Vec<PassFigures>> = BTreeMap::new();
    let mut loads = Vec::new();
    for p in 0..passes {
        for (t, target) in targets.iter().enumerate() {
            let load = load_average();
            let times = pass(target, requests, budget).await?;
            let mut line = format!("pass {} {} (load {load}):", p + 1, target.name);
            for (k, mut kind) in times.into_iter().enumerate() {
                kind.sort_by(f64::total_cmp);
                let (p50, p99) = (percentile(&kind, 0.5), percentile(&kind, 0.99));
                line.push_str(&format!(
                    " | {} {p50:.1}/{p99:.1} (n={})",
                    target.kinds[k].0,
                    kind.len()
                ));
                figures.entry((t, k)).or_default().push(PassFigures {
                    p50,
                    p99,
                    timed: kind.len(),
                });
            }
            println!("{line}");
            loads.push(load);
        }
    }
    println!();
    println!(
        "{calls} calls + {other_orgs} × {other_calls}; {passes} passes × {requests} requests per \
         kind; one-minute load at each pass's start: {}",
        loads.join(", ")
    );
    println!("| database | page kind | p50 ms | p99 ms | requests | target p99 | met |");
    println!("|---|---|---|---|---|---|---|");
    for ((t, k), runs) in &figures {
        let kind = targets[*t].kinds[*k].0;
        let p50 = median(runs.iter().map(|r| r.p50).collect());
        let p99 = median(runs.iter().map(|r| r.p99).collect());
        let n: Vec<String> = runs.iter().map(|r| r.timed.to_string()).collect();
        let target = if kind.starts_with("search") {
            100.0
        } else {
            20.0
        };
        println!(
            "| {} | {kind} | {p50:.1} | {p99:.1} | {} | ≤ {target:.0} ms | {} |",
            targets[*t].name,
            n.join(" + "),
            if p99 <= target { "yes" } else { "no" }
        );
    }

    for target in &mut targets {
        if let Some(stop) = target.stop.take() {
            let _ = stop.send(());
        }
    }
    drop(targets);
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(name) = made_pg {
        drop_pg(&pg, &name).await;
    }
    Ok(())
}

fn main() -> ExitCode {
    let runtime = support::runtime();
    support::exit("calls list benchmark", runtime.block_on(bench()))
}
