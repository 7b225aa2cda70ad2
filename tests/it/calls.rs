//! The call row's rules: Twilio's status callbacks through the front door (signed
//! `/twilio/call-status` posts), the end of a live stream, and the number → agent lookup with
//! the fail-closed recording switch.

use chrono::Utc;
use loquent::calls::end::{StreamEnd, end_stream};
use loquent::calls::status::{StatusOutcome, record_status};
use loquent::calls::transcript::Segment;
use loquent::entity::{agent, call, organization, organization_twilio_settings, phone_number};
use loquent::phone_numbers::answering::{find_answering, recording_enabled};
use loquent_twilio::CallSid;
use loquent_twilio::calls::CallStatus;
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use crate::support::{TestApp, set_recording};

const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";
const NUMBER: &str = "+15550100200";

/// An organization whose Twilio account signs the webhooks it sends us.
struct Account {
    org_id: Uuid,
    account_sid: String,
    token: String,
}

async fn account(app: &TestApp, name: &str, n: u8) -> Account {
    let owner = app.owner(name).await;
    let org_id: Uuid = owner.org_id().parse().unwrap();
    let account_sid = format!("AC{n:032x}");
    let token = format!("token-{n}");
    organization::Entity::update_many()
        .col_expr(
            organization::Column::TwilioAccountSid,
            Expr::value(account_sid.clone()),
        )
        .col_expr(
            organization::Column::TwilioAuthToken,
            Expr::value(app.app.secrets.seal(&token)),
        )
        .filter(organization::Column::Id.eq(org_id))
        .exec(&app.app.db)
        .await
        .unwrap();
    Account {
        org_id,
        account_sid,
        token,
    }
}

/// A live inbound call of the organization, as the media stream's start leaves it.
async fn live_call(app: &TestApp, org_id: Uuid, call_sid: &str) -> Uuid {
    let now = Utc::now();
    let id = Uuid::now_v7();
    call::ActiveModel {
        id: Set(id),
        organization_id: Set(org_id),
        phone_number_id: Set(None),
        call_sid: Set(call_sid.to_owned()),
        direction: Set("inbound".to_owned()),
        from_number: Set("+15557654321".to_owned()),
        to_number: Set(NUMBER.to_owned()),
        from_to_number: Set("+15557654321".to_owned()),
        contact_id: Set(None),
        status: Set("in-progress".to_owned()),
        started_at: Set(Some(now)),
        duration_secs: Set(None),
        recording_sid: Set(None),
        recording_url: Set(None),
        transcription: Set(None),
        transcript_segments: Set(None),
        transcript_source: Set(None),
        source: Set(Some("phone".to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
    id
}

async fn row(app: &TestApp, call_sid: &str) -> call::Model {
    call::Entity::find()
        .filter(call::Column::CallSid.eq(call_sid))
        .one(&app.app.db)
        .await
        .unwrap()
        .expect("call row")
}

/// Posts a status callback signed with the account's token, as Twilio would.
async fn post_status(app: &TestApp, account: &Account, form: &[(&str, &str)]) -> reqwest::Response {
    let url = app.url("/twilio/call-status");
    let mut fields = vec![("AccountSid", account.account_sid.as_str())];
    fields.extend_from_slice(form);
    let signature = loquent_twilio::signature::sign(&account.token, &url, fields.iter().copied());
    reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", signature)
        .form(&fields)
        .send()
        .await
        .unwrap()
}

async fn status(app: &TestApp, account: &Account, status: &str, duration: Option<&str>) {
    let mut form = vec![("CallSid", CALL_SID), ("CallStatus", status)];
    if let Some(duration) = duration {
        form.push(("CallDuration", duration));
    }
    let res = post_status(app, account, &form).await;
    assert_eq!(res.status(), StatusCode::OK, "{status}");
    assert_eq!(res.headers()["content-type"], "text/xml; charset=utf-8");
}

#[tokio::test]
async fn a_final_status_is_never_overwritten_by_a_retried_or_late_non_final_one() {
    let app = TestApp::new().await;
    let acme = account(&app, "Acme Plumbing", 1).await;
    live_call(&app, acme.org_id, CALL_SID).await;

    status(&app, &acme, "ringing", None).await;
    assert_eq!(row(&app, CALL_SID).await.status, "ringing");
    // Non-final after non-final: Twilio does not order its callbacks, the latest one wins.
    status(&app, &acme, "in-progress", None).await;
    assert_eq!(row(&app, CALL_SID).await.status, "in-progress");

    status(&app, &acme, "completed", Some("42")).await;
    let ended = row(&app, CALL_SID).await;
    assert_eq!(
        (ended.status.as_str(), ended.duration_secs),
        ("completed", Some(42))
    );

    // Twilio retries a callback it thinks failed: same answer, same row.
    status(&app, &acme, "completed", Some("42")).await;
    let ended = row(&app, CALL_SID).await;
    assert_eq!(
        (ended.status.as_str(), ended.duration_secs),
        ("completed", Some(42))
    );
    // A late `in-progress` and `ringing` (one even with a duration) change nothing.
    status(&app, &acme, "in-progress", None).await;
    status(&app, &acme, "ringing", Some("7")).await;
    let kept = row(&app, CALL_SID).await;
    assert_eq!(
        (kept.status.as_str(), kept.duration_secs),
        ("completed", Some(42))
    );
    assert_eq!(kept.updated_at, ended.updated_at);

    // A final status still replaces a final one: Twilio's word is the authority.
    status(&app, &acme, "failed", Some("43")).await;
    let replaced = row(&app, CALL_SID).await;
    assert_eq!(
        (replaced.status.as_str(), replaced.duration_secs),
        ("failed", Some(43))
    );
}

#[tokio::test]
async fn every_non_final_status_is_refused_after_every_final_one() {
    let app = TestApp::new().await;
    let acme = account(&app, "Acme Plumbing", 1).await;
    let db = &app.app.db;
    let finals = CallStatus::KNOWN.into_iter().filter(|s| s.is_terminal());
    for (n, last) in finals.enumerate() {
        let sid: CallSid = format!("CA{:032x}", n + 1).parse().unwrap();
        live_call(&app, acme.org_id, sid.as_str()).await;
        let recorded = record_status(db, acme.org_id, &sid, last, Some(5)).await;
        assert_eq!(recorded.unwrap(), StatusOutcome::Recorded);
        for late in CallStatus::KNOWN.into_iter().filter(|s| !s.is_terminal()) {
            let outcome = record_status(db, acme.org_id, &sid, late, Some(9)).await;
            assert_eq!(
                outcome.unwrap(),
                StatusOutcome::FinalKept,
                "{late} after {last}"
            );
        }
        let kept = row(&app, sid.as_str()).await;
        assert_eq!(
            (kept.status.as_str(), kept.duration_secs),
            (last.as_str(), Some(5))
        );
    }
}

#[tokio::test]
async fn a_status_for_another_organizations_call_or_an_unknown_one_changes_nothing() {
    let app = TestApp::new().await;
    let acme = account(&app, "Acme Plumbing", 1).await;
    let other = account(&app, "Other Co", 2).await;
    live_call(&app, acme.org_id, CALL_SID).await;

    status(&app, &other, "completed", Some("3")).await;
    let untouched = row(&app, CALL_SID).await;
    assert_eq!(
        (untouched.status.as_str(), untouched.duration_secs),
        ("in-progress", None)
    );
    let sid: CallSid = CALL_SID.parse().unwrap();
    let outcome = record_status(&app.app.db, other.org_id, &sid, CallStatus::Completed, None);
    assert_eq!(outcome.await.unwrap(), StatusOutcome::UnknownCall);

    let unknown = "CAffffffffffffffffffffffffffffffff";
    let res = post_status(
        &app,
        &acme,
        &[("CallSid", unknown), ("CallStatus", "completed")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rows = call::Entity::find().all(&app.app.db).await.unwrap();
    assert_eq!(rows.len(), 1, "a status never creates a call");
}

#[tokio::test]
async fn an_unknown_or_malformed_status_callback_is_a_400_that_says_why() {
    let app = TestApp::new().await;
    let acme = account(&app, "Acme Plumbing", 1).await;
    live_call(&app, acme.org_id, CALL_SID).await;

    let res = post_status(
        &app,
        &acme,
        &[("CallSid", CALL_SID), ("CallStatus", "answered")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("CallStatus") && body.contains("\"answered\""),
        "{body}"
    );

    let res = post_status(&app, &acme, &[("CallSid", CALL_SID)]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.text().await.unwrap(), "the form has no CallStatus");

    let res = post_status(
        &app,
        &acme,
        &[("CallSid", "CA1"), ("CallStatus", "completed")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().starts_with("CallSid: "));

    assert_eq!(row(&app, CALL_SID).await.status, "in-progress");
}

#[tokio::test]
async fn the_end_of_a_stream_fills_in_only_what_twilio_has_not_written() {
    let app = TestApp::new().await;
    let acme = account(&app, "Acme Plumbing", 1).await;
    let db = &app.app.db;

    // The stream ends first: the call is closed with the bridge's duration and transcript…
    let id = live_call(&app, acme.org_id, CALL_SID).await;
    let hello = said("Caller", "hello");
    let end = StreamEnd {
        call_id: id,
        duration_secs: 30,
        transcript: &hello,
    };
    end_stream(db, end.clone()).await.unwrap();
    let ended = row(&app, CALL_SID).await;
    assert_eq!(
        (
            ended.status.as_str(),
            ended.duration_secs,
            ended.transcription.as_deref()
        ),
        ("completed", Some(30), Some("Caller: hello"))
    );
    assert_eq!(ended.transcript_source.as_deref(), Some("live"));
    assert_eq!(
        ended.transcript_segments,
        Some(serde_json::to_value(&hello).unwrap())
    );
    // …then Twilio's final word replaces the status and duration.
    status(&app, &acme, "completed", Some("31")).await;
    assert_eq!(row(&app, CALL_SID).await.duration_secs, Some(31));
    // A second end (a retried write) changes nothing.
    end_stream(
        db,
        StreamEnd {
            transcript: &said("Agent", "other"),
            ..end
        },
    )
    .await
    .unwrap();
    let again = row(&app, CALL_SID).await;
    assert_eq!(
        (
            again.status.as_str(),
            again.duration_secs,
            again.transcription.as_deref()
        ),
        ("completed", Some(31), Some("Caller: hello"))
    );

    // Twilio's final status first: the end keeps it and its duration, and adds the transcript.
    let sid = "CA00000000000000000000000000000abc";
    let id = live_call(&app, acme.org_id, sid).await;
    let form = [
        ("CallSid", sid),
        ("CallStatus", "failed"),
        ("CallDuration", "2"),
    ];
    assert_eq!(
        post_status(&app, &acme, &form).await.status(),
        StatusCode::OK
    );
    let end = StreamEnd {
        call_id: id,
        duration_secs: 3,
        transcript: &said("Agent", "hi"),
    };
    end_stream(db, end).await.unwrap();
    let kept = row(&app, sid).await;
    assert_eq!(
        (
            kept.status.as_str(),
            kept.duration_secs,
            kept.transcription.as_deref()
        ),
        ("failed", Some(2), Some("Agent: hi"))
    );

    // Nothing said: the transcript stays empty for the recording's transcription.
    let sid = "CA00000000000000000000000000000def";
    let id = live_call(&app, acme.org_id, sid).await;
    end_stream(
        db,
        StreamEnd {
            call_id: id,
            duration_secs: 1,
            transcript: &[],
        },
    )
    .await
    .unwrap();
    assert_eq!(row(&app, sid).await.transcription, None);
}

async fn number(app: &TestApp, org_id: Uuid, number: &str, agent_id: Option<Uuid>) {
    let now = Utc::now();
    phone_number::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        number: Set(number.to_owned()),
        twilio_sid: Set(None),
        friendly_name: Set(number.to_owned()),
        agent_id: Set(agent_id),
        previous_voice_url: Set(Some(String::new())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
}

async fn agent(app: &TestApp, org_id: Uuid) -> Uuid {
    let now = Utc::now();
    agent::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org_id),
        name: Set("Front desk".to_owned()),
        prompt: Set("You answer the phone.".to_owned()),
        realtime_config: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.app.db)
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn a_number_is_answered_only_by_its_own_organizations_agent() {
    let app = TestApp::new().await;
    let acme = account(&app, "Acme Plumbing", 1).await;
    let other = account(&app, "Other Co", 2).await;
    let db = &app.app.db;

    let front_desk = agent(&app, acme.org_id).await;
    number(&app, acme.org_id, NUMBER, Some(front_desk)).await;
    number(&app, acme.org_id, "+15550100201", None).await;
    let elsewhere = agent(&app, other.org_id).await;
    number(&app, acme.org_id, "+15550100202", Some(elsewhere)).await;

    let found = find_answering(db, acme.org_id, NUMBER).await.unwrap();
    let found = found.expect("the number's agent answers");
    assert_eq!(
        (found.number.number.as_str(), found.agent.id),
        (NUMBER, front_desk)
    );
    for (org_id, n) in [
        (acme.org_id, "+15550100201"), // no agent
        (acme.org_id, "+15550100202"), // another organization's agent
        (acme.org_id, "+15550100299"), // not a number of ours
        (acme.org_id, "client:alice"), // not a number at all
        (other.org_id, NUMBER),        // another organization's number
    ] {
        let none = find_answering(db, org_id, n).await.unwrap();
        assert!(none.is_none(), "{n} answered for {org_id}");
    }

    // Nobody answers: the caller is told so, and nothing is recorded even with recording on.
    set_recording(&app, acme.org_id, true).await;
    for to in ["+15550100201", "client:alice"] {
        let url = app.url("/twilio/voice");
        let form = [
            ("AccountSid", acme.account_sid.as_str()),
            ("CallSid", CALL_SID),
            ("From", "+15557654321"),
            ("To", to),
            ("CallStatus", "ringing"),
        ];
        let signature = loquent_twilio::signature::sign(&acme.token, &url, form.iter().copied());
        let res = reqwest::Client::new()
            .post(&url)
            .header("x-twilio-signature", signature)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let twiml = res.text().await.unwrap();
        assert!(
            twiml.contains(loquent::telephony::voice::UNAVAILABLE),
            "{twiml}"
        );
        assert!(!twiml.contains("<Recording"), "{twiml}");
    }
    assert!(app.app.live.prewarmed.is_empty());
}

#[tokio::test]
async fn recording_is_on_only_when_the_switch_is_read_and_on() {
    let app = TestApp::new().await;
    let acme = account(&app, "Acme Plumbing", 1).await;
    let db = &app.app.db;

    organization_twilio_settings::Entity::delete_by_id(acme.org_id)
        .exec(db)
        .await
        .unwrap();
    assert!(!recording_enabled(db, acme.org_id).await, "no settings row");
    set_recording(&app, acme.org_id, false).await;
    assert!(!recording_enabled(db, acme.org_id).await, "switched off");
    set_recording(&app, acme.org_id, true).await;
    assert!(recording_enabled(db, acme.org_id).await, "switched on");
    assert!(
        !recording_enabled(db, Uuid::now_v7()).await,
        "another organization"
    );

    // A database that cannot answer (here: one without the table) means no recording.
    let broken = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
    assert!(!recording_enabled(&broken, acme.org_id).await, "unreadable");
}

/// One segment of a live transcript.
fn said(speaker: &str, text: &str) -> Vec<Segment> {
    vec![Segment {
        speaker: speaker.to_owned(),
        start: 0.5,
        end: 1.5,
        text: text.to_owned(),
    }]
}

/// Event Streams can announce a call before its media stream starts: the row is made as
/// `imported`, and the stream, which proves an agent answered, makes it the agent's (`phone`),
/// so the call counts as answered (the getting-started checklist, the calls list's source).
#[tokio::test]
async fn a_call_an_event_announced_first_becomes_the_agents_when_its_stream_starts() {
    use loquent::calls::external::{ExternalCall, ensure};
    use loquent::calls::start::{InboundCall, start_inbound};

    let app = TestApp::builder().start().await;
    let owner = app.owner("Acme").await;
    let org_id: Uuid = owner.org_id().parse().unwrap();
    let sid: CallSid = CALL_SID.parse().unwrap();
    let (row, created) = ensure(
        &app.app.db,
        org_id,
        &ExternalCall {
            call_sid: &sid,
            from: "+15557654321",
            to: NUMBER,
            direction_hint: Some("inbound"),
            status: CallStatus::InProgress,
            started_at: Some(Utc::now()),
            duration_secs: None,
        },
    )
    .await
    .unwrap();
    assert!(created);
    assert_eq!(row.source.as_deref(), Some("imported"));

    let answered = start_inbound(
        &app.app.db,
        InboundCall {
            org_id,
            phone_number_id: Uuid::now_v7(),
            contact_id: Uuid::now_v7(),
            call_sid: &sid,
            from: "+15557654321",
            to: NUMBER,
        },
    )
    .await
    .unwrap();
    assert_eq!(answered.id, row.id, "the same row");
    assert_eq!(answered.source.as_deref(), Some("phone"));
    let stored = call::Entity::find_by_id(row.id)
        .one(&app.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source.as_deref(), Some("phone"));
    let listed = owner
        .get_json::<serde_json::Value>(&app, "/api/calls")
        .await;
    assert_eq!(listed["items"][0]["source"], "phone");
}
