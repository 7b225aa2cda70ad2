//! Call-history sync (seed 000) through the front door: `POST /api/twilio/sync-call-history`
//! against a sandbox account with a seeded history, the progress over a real `/api/realtime`
//! WebSocket, the imported calls, contacts and recordings in the database, and the sandbox's
//! request log to prove nothing was changed on Twilio.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use loquent::entity::{call, contact, contact_phone, job};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::realtime::{Socket, connect, session_cookie};
use crate::support::{Member, TestApp, api_error, connect_and_import};

const RECORDING_KIND: &str = "call_sync.recording";

/// A server on a sandbox (Twilio and OpenAI) whose account has `calls` completed calls per
/// number on `numbers` numbers, `share` of them recorded; the owner connected, numbers imported.
pub struct History {
    pub app: TestApp,
    pub sandbox: loquent_sandbox::SandboxHandle,
    pub owner: Member,
    pub account: loquent_sandbox::SeededAccount,
    pub phones: Vec<Value>,
}

/// Its public URL is its own address, so a browser's live socket passes the Origin check.
pub async fn history(numbers: u32, calls: u32, share: f64, seed: u64) -> History {
    let sandbox = crate::support::start_sandbox().await;
    let (api, openai) = (sandbox.twilio_api_base(), sandbox.openai_base_url());
    let app = TestApp::builder()
        .with_settings(&[
            ("LOQUENT_TWILIO_API_BASE", api.as_str()),
            ("LOQUENT_TWILIO_EVENTS_BASE", api.as_str()),
            ("LOQUENT_OPENAI_BASE_URL", openai.as_str()),
            ("LOQUENT_OPENAI_API_KEY", "sk-sandbox"),
        ])
        .start()
        .await;
    let res = reqwest::Client::new()
        .post(format!("{api}/sandbox/accounts"))
        .json(&json!({"numbers": numbers, "calls_per_number": calls, "recording_share": share, "seed": seed}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let account: loquent_sandbox::SeededAccount = res.json().await.unwrap();
    let owner = app.owner("Acme Plumbing").await;
    let phones = connect_and_import(&app, &owner, &account).await;
    History {
        app,
        sandbox,
        owner,
        account,
        phones,
    }
}

impl History {
    fn base(&self) -> String {
        self.sandbox.twilio_api_base()
    }

    pub fn phone(&self, i: usize) -> (String, String) {
        (
            self.phones[i]["id"].as_str().unwrap().to_owned(),
            self.phones[i]["number"].as_str().unwrap().to_owned(),
        )
    }

    async fn sync(&self, body: &Value) -> reqwest::Response {
        self.owner
            .post_json(&self.app, "/api/twilio/sync-call-history", body)
            .await
    }

    /// Every call of the account, as Twilio lists it (the truth the import must match).
    async fn twilio_calls(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(format!(
            "/2010-04-01/Accounts/{}/Calls.json?PageSize=1000",
            self.account.account_sid
        ));
        while let Some(path) = next {
            let page: Value = reqwest::Client::new()
                .get(format!("{}{path}", self.base()))
                .basic_auth(&self.account.account_sid, Some(&self.account.auth_token))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            out.extend(page["calls"].as_array().unwrap().iter().cloned());
            next = page["next_page_uri"].as_str().map(str::to_owned);
        }
        out
    }

    /// The account's calls that involve `number`.
    async fn calls_of(&self, number: &str) -> Vec<Value> {
        self.twilio_calls()
            .await
            .into_iter()
            .filter(|c| c["to"] == number || c["from"] == number)
            .collect()
    }

    /// Whether Twilio has a recording of `call_sid`.
    async fn is_recorded(&self, call_sid: &str) -> bool {
        let page: Value = reqwest::Client::new()
            .get(format!(
                "{}/2010-04-01/Accounts/{}/Calls/{call_sid}/Recordings.json",
                self.base(),
                self.account.account_sid
            ))
            .basic_auth(&self.account.account_sid, Some(&self.account.auth_token))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        !page["recordings"].as_array().unwrap().is_empty()
    }

    async fn mutating_requests(&self) -> Vec<Value> {
        let log: Value = reqwest::get(format!(
            "{}/sandbox/requests?account_sid={}&mutating=true",
            self.base(),
            self.account.account_sid
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        log["requests"].as_array().unwrap().clone()
    }

    async fn clear_requests(&self) {
        reqwest::Client::new()
            .delete(format!("{}/sandbox/requests", self.base()))
            .send()
            .await
            .unwrap();
    }

    async fn socket(&self) -> Socket {
        connect(&self.app, &session_cookie(&self.app, &self.owner).await).await
    }

    pub fn org_id(&self) -> Uuid {
        self.owner.org_id().parse().unwrap()
    }
}

/// The sync events of `phone_number_id` until its `Done` (or `Error`), sampling while they
/// come how many of its recording jobs run at once.
async fn events_until_done(
    h: &History,
    socket: &mut Socket,
    phone_number_id: &str,
) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut most_running = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let running = job::Entity::find()
            .filter(job::Column::Kind.eq(RECORDING_KIND))
            .filter(job::Column::Status.eq("running"))
            .all(&h.app.app.db)
            .await
            .unwrap()
            .len();
        most_running = most_running.max(running);
        match tokio::time::timeout(Duration::from_millis(20), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["type"] == "twilio.call_sync.progress"
                    && event["payload"]["phone_number_id"] == phone_number_id
                {
                    let phase = event["payload"]["phase"].clone();
                    events.push(event["payload"].clone());
                    if phase == "Done" || phase == "Error" {
                        return (events, most_running);
                    }
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(other) => panic!("the socket ended: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "no Done within 120 s: {events:#?}"
        );
    }
}

fn phases(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let phase = e["phase"].as_str().unwrap().to_owned();
        if out.last() != Some(&phase) {
            out.push(phase);
        }
    }
    out
}

async fn calls_in_db(h: &History) -> Vec<call::Model> {
    call::Entity::find()
        .filter(call::Column::OrganizationId.eq(h.org_id()))
        .all(&h.app.app.db)
        .await
        .unwrap()
}

async fn contact_with(h: &History, number: &str, last: Option<DateTime<Utc>>) -> Uuid {
    let now = Utc::now();
    let id = Uuid::now_v7();
    contact::ActiveModel {
        id: Set(id),
        organization_id: Set(h.org_id()),
        name: Set(Some("Known Person".to_owned())),
        email: Set(None),
        notes: Set(None),
        company: Set(None),
        source: Set("inbound_call".to_owned()),
        last_contacted_at: Set(last),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&h.app.app.db)
    .await
    .unwrap();
    contact_phone::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(h.org_id()),
        contact_id: Set(id),
        number: Set(number.to_owned()),
        created_at: Set(now),
    }
    .insert(&h.app.app.db)
    .await
    .unwrap();
    id
}

fn external(c: &Value, number: &str) -> String {
    if c["to"] == number {
        c["from"].as_str().unwrap().to_owned()
    } else {
        c["to"].as_str().unwrap().to_owned()
    }
}

fn started(c: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc2822(c["start_time"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_numbers_history_is_imported_once_with_contacts_recordings_and_live_progress() {
    let h = history(2, 24, 0.5, 41).await;
    let (phone_id, number) = h.phone(0);
    let truth = h.calls_of(&number).await;
    assert_eq!(truth.len(), 24);

    // Two callers are known already: one contacted later than any of their history (it must
    // not move back), one long ago (it must move forward to their latest call).
    let mut by_party: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for c in &truth {
        by_party.entry(external(c, &number)).or_default().push(c);
    }
    let parties: Vec<&String> = by_party.keys().collect();
    // Whole seconds: PostgreSQL keeps microseconds, not nanoseconds.
    let future = DateTime::from_timestamp(Utc::now().timestamp() + 30 * 86_400, 0).unwrap();
    let ahead = contact_with(&h, parties[0], Some(future)).await;
    let behind = contact_with(
        &h,
        parties[1],
        Some(
            DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
                .unwrap()
                .into(),
        ),
    )
    .await;

    h.clear_requests().await;
    let mut socket = h.socket().await;
    let res = h
        .sync(&json!({"phone_number_id": phone_id, "recording_batch_size": 2}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let result: Value = res.json().await.unwrap();
    assert_eq!(result["imported"], 24);
    assert_eq!(result["skipped"], 0);

    let (events, most_running) = events_until_done(&h, &mut socket, &phone_id).await;
    assert_eq!(
        phases(&events),
        [
            "Fetching",
            "Deduplicating",
            "ResolvingContacts",
            "Inserting",
            "UpdatingTimestamps",
            "ProcessingRecordings",
            "Done"
        ],
        "{events:#?}"
    );
    let done = events.last().unwrap();
    assert_eq!(done["new_count"], 24);
    assert_eq!(done["completed"], 24);
    assert_eq!(done["total"], 24);
    assert!(most_running <= 2, "{most_running} recordings at once");

    // The calls, each with its other party as contact.
    let rows = calls_in_db(&h).await;
    assert_eq!(rows.len(), 24);
    let want: BTreeSet<&str> = truth.iter().map(|c| c["sid"].as_str().unwrap()).collect();
    let got: BTreeSet<&str> = rows.iter().map(|r| r.call_sid.as_str()).collect();
    assert_eq!(got, want);
    for c in &truth {
        let row = rows.iter().find(|r| r.call_sid == c["sid"]).unwrap();
        let inbound = c["direction"] == "inbound";
        assert_eq!(row.direction, if inbound { "inbound" } else { "outbound" });
        assert_eq!(row.status, "completed");
        assert_eq!(row.from_number, c["from"].as_str().unwrap());
        assert_eq!(row.to_number, c["to"].as_str().unwrap());
        assert_eq!(row.from_to_number, external(c, &number));
        assert_eq!(row.started_at, Some(started(c)));
        assert_eq!(
            row.duration_secs.map(|d| d.to_string()),
            c["duration"].as_str().map(str::to_owned)
        );
        assert_eq!(
            row.phone_number_id.map(|p| p.to_string()),
            Some(phone_id.clone())
        );
        let phone = contact_phone::Entity::find()
            .filter(contact_phone::Column::OrganizationId.eq(h.org_id()))
            .filter(contact_phone::Column::Number.eq(external(c, &number)))
            .one(&h.app.app.db)
            .await
            .unwrap()
            .expect("a contact for every party");
        assert_eq!(row.contact_id, Some(phone.contact_id));
    }
    let contacts = contact::Entity::find()
        .filter(contact::Column::OrganizationId.eq(h.org_id()))
        .all(&h.app.app.db)
        .await
        .unwrap();
    assert_eq!(contacts.len(), by_party.len(), "one contact per party");
    for c in &contacts {
        if c.id == ahead {
            assert_eq!(c.last_contacted_at, Some(future), "never moved back");
        } else if c.id == behind {
            let latest = by_party[parties[1]].iter().map(|c| started(c)).max();
            assert_eq!(c.last_contacted_at, latest, "moved forward");
        } else {
            assert_eq!(c.source, "call_sync");
            assert!(c.name.is_none());
            let number = contact_phone::Entity::find()
                .filter(contact_phone::Column::ContactId.eq(c.id))
                .one(&h.app.app.db)
                .await
                .unwrap()
                .unwrap()
                .number;
            let latest = by_party[&number].iter().map(|c| started(c)).max();
            assert_eq!(c.last_contacted_at, latest);
        }
    }

    // Recordings: processed for the recorded calls, nothing for the others.
    let mut recorded = 0;
    for c in &truth {
        let sid = c["sid"].as_str().unwrap();
        let row = rows.iter().find(|r| r.call_sid == sid).unwrap().id;
        let row = call::Entity::find_by_id(row)
            .one(&h.app.app.db)
            .await
            .unwrap()
            .unwrap();
        let jobs = job::Entity::find()
            .filter(job::Column::CallId.eq(row.id))
            .all(&h.app.app.db)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1, "one job and no post-call steps: {jobs:?}");
        if h.is_recorded(sid).await {
            recorded += 1;
            assert_eq!(jobs[0].status, "done", "{:?}", jobs[0].last_error);
            assert_eq!(row.transcript_source.as_deref(), Some("recording"));
            assert!(row.recording_url.is_some() && row.recording_sid.is_some());
            assert!(row.transcription.is_some_and(|t| !t.is_empty()));
        } else {
            assert_eq!(jobs[0].status, "skipped");
            assert!(row.recording_url.is_none() && row.transcription.is_none());
        }
    }
    assert!(recorded > 0 && recorded < 24, "{recorded} recorded");

    // Read-only on Twilio: not one POST or DELETE, so every recording is still there.
    assert_eq!(h.mutating_requests().await, Vec::<Value>::new());

    // Again: nothing new, nothing queued, and Done at once.
    let jobs_before = job::Entity::find().all(&h.app.app.db).await.unwrap().len();
    let res = h.sync(&json!({"phone_number_id": phone_id})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let again: Value = res.json().await.unwrap();
    assert_eq!(
        (again["imported"].clone(), again["skipped"].clone()),
        (json!(0), json!(24))
    );
    let (events, _) = events_until_done(&h, &mut socket, &phone_id).await;
    assert_eq!(events.last().unwrap()["new_count"], 0);
    assert_eq!(
        job::Entity::find().all(&h.app.app.db).await.unwrap().len(),
        jobs_before
    );

    // The page's state comes from the API too.
    let syncs: Vec<Value> = h.owner.get_json(&h.app, "/api/twilio/call-syncs").await;
    assert_eq!(syncs.len(), 1);
    assert_eq!(syncs[0]["phase"], "Done");
    assert_eq!(syncs[0]["new_count"], 0);
}

#[tokio::test]
async fn since_pages_and_a_call_between_two_own_numbers() {
    // More than one page of 1,000 in a direction.
    let h = history(2, 2_300, 0.0, 42).await;
    let (first_id, first) = h.phone(0);
    let (second_id, second) = h.phone(1);
    // A call from one of the organization's numbers to the other.
    let res = reqwest::Client::new()
        .post(format!("{}/sandbox/live-calls", h.base()))
        .json(&json!({
            "account_sid": h.account.account_sid, "from": first, "to": second,
            "status": "completed", "direction": "outbound-api",
        }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let internal: Value = res.json().await.unwrap();

    let since = "2025-02-15";
    let day = DateTime::parse_from_rfc3339("2025-02-15T00:00:00Z").unwrap();
    let all = h.calls_of(&first).await;
    let want: BTreeSet<String> = all
        .iter()
        .filter(|c| c["status"] == "completed" && started(c) >= day)
        .map(|c| c["sid"].as_str().unwrap().to_owned())
        .collect();
    assert!(want.len() > 1_000, "{} calls since {since}", want.len());
    assert!(want.contains(internal["sid"].as_str().unwrap()));

    let res = h
        .sync(&json!({"phone_number_id": first_id, "since": since}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let result: Value = res.json().await.unwrap();
    assert_eq!(result["imported"], want.len());
    let got: BTreeSet<String> = calls_in_db(&h)
        .await
        .into_iter()
        .map(|c| c.call_sid)
        .collect();
    assert_eq!(got, want);

    // The other number's sync meets the internal call again and skips it.
    let res = h
        .sync(&json!({"phone_number_id": second_id, "since": since}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let result: Value = res.json().await.unwrap();
    assert_eq!(result["skipped"], 1);
    let copies = calls_in_db(&h)
        .await
        .into_iter()
        .filter(|c| c.call_sid == internal["sid"].as_str().unwrap())
        .count();
    assert_eq!(copies, 1);
}

#[tokio::test]
async fn twilio_faults_give_the_same_final_state_as_a_clean_run() {
    let h = history(1, 60, 0.5, 43).await;
    let (phone_id, number) = h.phone(0);
    let res = reqwest::Client::new()
        .post(format!("{}/sandbox/faults", h.base()))
        .json(&json!({"rate": 0.2, "statuses": [429, 500, 503], "seed": 7}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let mut socket = h.socket().await;
    let res = h.sync(&json!({"phone_number_id": phone_id})).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let (events, _) = events_until_done(&h, &mut socket, &phone_id).await;
    assert_eq!(events.last().unwrap()["phase"], "Done");
    reqwest::Client::new()
        .delete(format!("{}/sandbox/faults", h.base()))
        .send()
        .await
        .unwrap();

    let truth = h.calls_of(&number).await;
    let rows = calls_in_db(&h).await;
    assert_eq!(rows.len(), truth.len());
    for c in &truth {
        let row = rows
            .iter()
            .find(|r| r.call_sid == c["sid"])
            .expect("imported");
        let recorded = h.is_recorded(c["sid"].as_str().unwrap()).await;
        assert_eq!(
            row.transcript_source.is_some(),
            recorded,
            "{}",
            row.call_sid
        );
    }
}

#[tokio::test]
async fn bad_requests_are_refused_with_reasons() {
    let h = history(1, 3, 0.0, 44).await;
    let (phone_id, _) = h.phone(0);

    let res = h
        .sync(
            &json!({"phone_number_id": phone_id, "since": "15/02/2025", "recording_batch_size": 0}),
        )
        .await;
    let body: Value = {
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        res.json().await.unwrap()
    };
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["since", "recording_batch_size"]);

    // Another organization's number, or none at all.
    let other = h.app.owner("Globex").await;
    let res = other
        .post_json(
            &h.app,
            "/api/twilio/sync-call-history",
            &json!({"phone_number_id": phone_id}),
        )
        .await;
    api_error(res, StatusCode::NOT_FOUND).await;
    let res = h.sync(&json!({"phone_number_id": Uuid::now_v7()})).await;
    api_error(res, StatusCode::NOT_FOUND).await;

    // Without the permission.
    let viewer = h
        .app
        .member_with(&h.owner, &["Twilio:Collection:List"])
        .await;
    let res = viewer
        .post_json(
            &h.app,
            "/api/twilio/sync-call-history",
            &json!({"phone_number_id": phone_id}),
        )
        .await;
    api_error(res, StatusCode::FORBIDDEN).await;

    // One at a time per number.
    let now = Utc::now();
    loquent::entity::call_sync::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(h.org_id()),
        phone_number_id: Set(phone_id.parse().unwrap()),
        since: Set(None),
        recording_batch_size: Set(5),
        phase: Set("Inserting".to_owned()),
        fetched: Set(0),
        imported: Set(0),
        skipped: Set(0),
        recordings_total: Set(0),
        recordings_completed: Set(0),
        message: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
    }
    .insert(&h.app.app.db)
    .await
    .unwrap();
    let res = h.sync(&json!({"phone_number_id": phone_id})).await;
    let message = api_error(res, StatusCode::CONFLICT).await;
    assert!(message.contains("already running"), "{message}");
    // A browser that connects now starts from the phase the running sync is in.
    let mut socket = h.socket().await;
    let first = match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Value>(&text).unwrap(),
        other => panic!("no current state on connecting: {other:?}"),
    };
    assert_eq!(first["type"], "twilio.call_sync.progress");
    assert_eq!(first["payload"]["phase"], "Inserting");
    assert_eq!(first["payload"]["phone_number_id"], phone_id.as_str());
    loquent::entity::call_sync::Entity::delete_many()
        .exec(&h.app.app.db)
        .await
        .unwrap();

    // Twilio refuses the stored credentials: 502 with Twilio's words, and the sync says so.
    let sealed = h.app.app.secrets.seal("0123456789abcdef0123456789abcdef");
    loquent::entity::organization::Entity::update_many()
        .col_expr(
            loquent::entity::organization::Column::TwilioAuthToken,
            sea_orm::sea_query::Expr::value(sealed),
        )
        .filter(loquent::entity::organization::Column::Id.eq(h.org_id()))
        .exec(&h.app.app.db)
        .await
        .unwrap();
    let res = h.sync(&json!({"phone_number_id": phone_id})).await;
    let message = api_error(res, StatusCode::BAD_GATEWAY).await;
    assert!(message.contains("Twilio"), "{message}");
    let syncs: Vec<Value> = h.owner.get_json(&h.app, "/api/twilio/call-syncs").await;
    assert_eq!(syncs[0]["phase"], "Error");
    assert!(syncs[0]["message"].as_str().unwrap().contains("Twilio"));

    // Not connected at all.
    let res = h
        .owner
        .post_json(&h.app, "/api/twilio/disconnect", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = h.sync(&json!({"phone_number_id": phone_id})).await;
    let message = api_error(res, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("connect a Twilio account"), "{message}");
}

#[tokio::test]
async fn the_settings_page_syncs_without_javascript_and_shows_each_numbers_last_sync() {
    let h = history(2, 5, 0.0, 46).await;
    let (first_id, first) = h.phone(0);
    let html = h.owner.page(&h.app, "/settings/twilio").await;
    assert!(html.contains("Sync call history"), "{html}");
    assert_eq!(html.matches("Never synced").count(), 2);

    let res = h
        .owner
        .post_form(
            &h.app,
            &format!("/settings/twilio/numbers/{first_id}/sync-history"),
            &[("since", "")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    let html = h.owner.page(&h.app, &to).await;
    assert!(
        html.contains(&format!(
            "Imported 5 calls from the history of {first} (0 already here)"
        )),
        "{html}"
    );
    assert_eq!(html.matches("Never synced").count(), 1);
    assert!(html.contains("5 imported, 0 already here"), "{html}");

    // Its recordings' turn ends the sync (none here); until then the number is busy.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let syncs: Vec<Value> = h.owner.get_json(&h.app, "/api/twilio/call-syncs").await;
        if syncs[0]["phase"] == "Done" {
            break;
        }
        assert!(Instant::now() < deadline, "{syncs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A bad date is explained in the section; all numbers at once adds up.
    let res = h
        .owner
        .post_form(
            &h.app,
            "/settings/twilio/sync-history",
            &[("since", "soon")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("YYYY-MM-DD"), "{html}");
    let res = h
        .owner
        .post_form(&h.app, "/settings/twilio/sync-history", &[("since", "")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    let html = h.owner.page(&h.app, &to).await;
    assert!(
        html.contains("Imported 5 calls from the history of 2 numbers (5 already here)"),
        "{html}"
    );
}

#[tokio::test]
async fn the_sync_command_imports_a_numbers_history_and_returns_once_its_recordings_are_done() {
    let h = history(2, 6, 0.5, 47).await;
    let (first_id, first) = h.phone(0);
    let config = &h.app.app.config;
    let command = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_loquent"));
        cmd.arg("sync")
            .args(args)
            .current_dir(&config.data_dir)
            .env_remove("LOQUENT_CONFIG")
            .env("LOQUENT_DATA_DIR", &config.data_dir)
            .env("LOQUENT_DATABASE_URL", config.database.url.expose())
            .env("LOQUENT_TWILIO_API_BASE", h.base())
            .env("LOQUENT_OPENAI_BASE_URL", h.sandbox.openai_base_url())
            .env("LOQUENT_OPENAI_API_KEY", "sk-sandbox")
            .env("LOQUENT_LOG", "warn");
        cmd
    };

    // The sandbox serves on this test's runtime: the command waits on a thread of its own.
    let run = |mut cmd: std::process::Command| async move {
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    };
    let out = run(command(&[
        "--org",
        "Acme Plumbing",
        "--number",
        "+15550000000",
    ]))
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no number +15550000000") && stderr.contains(&first),
        "{stderr}"
    );

    let out = run(command(&["--org", "acme plumbing", "--number", &first])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{first}: 6 imported, 0 already here")),
        "{stdout}"
    );
    // It returned once the sync was over: every recording dealt with.
    let syncs: Vec<Value> = h.owner.get_json(&h.app, "/api/twilio/call-syncs").await;
    let synced = syncs
        .iter()
        .find(|s| s["phone_number_id"] == first_id.as_str())
        .unwrap();
    assert_eq!(synced["phase"], "Done", "{synced}");
    assert_eq!(synced["completed"], 6);
    assert_eq!(calls_in_db(&h).await.len(), 6);
}
