//! `/api/calls` through the front door, on SQLite and PostgreSQL: the list's filters, transcript
//! search and keyset paging (stable while calls arrive), a call's details, re-running its
//! analyses (appended, announced over `/api/realtime`), and its recording served in byte ranges
//! with validators. Calls are inserted as rows: the pipeline that writes them is tested in
//! `recordings.rs`, `analyzers.rs` and `live_calls.rs`.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use crate::redact::Redactor;
use crate::support::{CallSeed, Member, TestApp, TwilioOwner, api_error, insert_call, segments};

/// A fixed day, so cursors and date filters are the same every run.
fn at(day: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, 10, minute, 0).unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn get(app: &TestApp, member: &Member, path: &str) -> reqwest::Response {
    member.client.get(app.url(path)).send().await.expect("GET")
}

async fn page(app: &TestApp, member: &Member, query: &str) -> Value {
    member.get_json(app, &format!("/api/calls?{query}")).await
}

async fn contact(app: &TestApp, org_id: Uuid, number: &str) -> Uuid {
    loquent::contacts::resolve::resolve_or_create(&app.app.db, org_id, number, "inbound_call")
        .await
        .expect("contact")
        .id
}

fn uuid_of(value: &Value) -> Uuid {
    value["id"].as_str().expect("an id").parse().unwrap()
}

/// Seven calls of Acme a minute apart on 1 December (the seventh on the 2nd), and one of Globex
/// that says the same words; returns Acme's call ids oldest first.
struct Calls {
    ids: Vec<String>,
    phones: Vec<Uuid>,
    contact: Uuid,
}

async fn seven_calls(app: &TestApp, owner: &Member, phones: &[Value]) -> Calls {
    let org: Uuid = owner.org_id().parse().unwrap();
    let phones: Vec<Uuid> = phones.iter().map(uuid_of).collect();
    let ada = contact(app, org, "+15557654321").await;
    let seeds = [
        CallSeed {
            phone_number_id: Some(phones[0]),
            contact_id: Some(ada),
            created_at: at(1, 0),
            transcript: Some(segments(&[
                (
                    "Caller",
                    "Hi, my kitchen tap has been leaking since Monday.",
                ),
                ("Agent", "Sorry to hear that. I can book a plumber."),
            ])),
            recording: Some(b"ID3 first".to_vec()),
            ..CallSeed::default()
        },
        CallSeed {
            phone_number_id: Some(phones[1]),
            direction: "outbound",
            status: "no-answer",
            from: "+15550100200",
            to: "+15559990000",
            duration_secs: None,
            created_at: at(1, 1),
            ..CallSeed::default()
        },
        CallSeed {
            phone_number_id: Some(phones[0]),
            status: "busy",
            created_at: at(1, 2),
            ..CallSeed::default()
        },
        CallSeed {
            phone_number_id: Some(phones[0]),
            created_at: at(1, 3),
            transcript: Some(segments(&[(
                "Caller",
                "The boiler needs a repair on Thursday.",
            )])),
            ..CallSeed::default()
        },
        CallSeed {
            phone_number_id: Some(phones[1]),
            contact_id: Some(ada),
            created_at: at(1, 4),
            recording: Some(b"ID3 fifth".to_vec()),
            ..CallSeed::default()
        },
        CallSeed {
            phone_number_id: Some(phones[0]),
            direction: "outbound",
            from: "+15550100200",
            to: "+15557654321",
            created_at: at(1, 5),
            transcript: Some(segments(&[(
                "Agent",
                "Your invoice from the Café is paid.",
            )])),
            ..CallSeed::default()
        },
        CallSeed {
            phone_number_id: Some(phones[1]),
            created_at: at(2, 0),
            ..CallSeed::default()
        },
    ];
    let mut ids = Vec::new();
    for seed in seeds {
        ids.push(insert_call(app, org, seed).await.id.to_string());
    }
    Calls {
        ids,
        phones,
        contact: ada,
    }
}

/// `ids` picked by index, newest first (the list's order).
fn newest_first(all: &[String], picks: &[usize]) -> Vec<String> {
    let mut picked: Vec<String> = picks.iter().map(|&i| all[i].clone()).collect();
    picked.reverse();
    picked
}

#[tokio::test]
async fn the_list_filters_and_pages_newest_first_and_stays_stable_while_calls_arrive() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 2, 51).await;
    let globex = app.owner("Globex").await;
    insert_call(
        &app,
        globex.org_id().parse().unwrap(),
        CallSeed {
            created_at: at(1, 30),
            transcript: Some(segments(&[("Caller", "My kitchen tap is leaking.")])),
            ..CallSeed::default()
        },
    )
    .await;
    let calls = seven_calls(&app, &owner, &phones).await;
    let all = &calls.ids;

    // Everything, newest first, one page; another organization's call never shows.
    let first = page(&app, &owner, "").await;
    assert_eq!(ids(&first), newest_first(all, &[0, 1, 2, 3, 4, 5, 6]));
    assert_eq!(first["next_cursor"], Value::Null);
    let oldest = &first["items"][6];
    assert_eq!(oldest["from_to_number"], "+15557654321 -> +15550100200");
    assert_eq!(oldest["has_recording"], true);
    assert_eq!(oldest["has_analysis"], false);
    assert_eq!(oldest["contact"]["id"], calls.contact.to_string());
    assert_eq!(oldest["phone_number"]["id"], calls.phones[0].to_string());
    assert_eq!(
        first["items"][5]["from_to_number"],
        "+15550100200 -> +15559990000"
    );

    // Pages of two; a call arriving between pages shows on a fresh first page only.
    let one = page(&app, &owner, "limit=2").await;
    assert_eq!(ids(&one), newest_first(all, &[5, 6]));
    let cursor = one["next_cursor"].as_str().expect("a next page").to_owned();
    let newer = insert_call(&app, owner.org_id().parse().unwrap(), CallSeed::default()).await;
    let two = page(&app, &owner, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&two), newest_first(all, &[3, 4]));
    let cursor = two["next_cursor"].as_str().unwrap();
    let three = page(&app, &owner, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&three), newest_first(all, &[1, 2]));
    let cursor = three["next_cursor"].as_str().unwrap();
    let four = page(&app, &owner, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&four), newest_first(all, &[0]));
    assert_eq!(four["next_cursor"], Value::Null);
    let fresh = page(&app, &owner, "limit=2").await;
    assert_eq!(ids(&fresh)[0], newer.id.to_string());

    // Filters, alone and together (the newest call is left out by a date range).
    let to = "to=2026-12-02";
    let cases: Vec<(String, Vec<usize>)> = vec![
        (
            format!("phone_number_id={}&{to}", calls.phones[0]),
            vec![0, 2, 3, 5],
        ),
        (format!("direction=outbound&{to}"), vec![1, 5]),
        (format!("status=completed&{to}"), vec![0, 3, 4, 5, 6]),
        (
            "from=2026-12-01&to=2026-12-01".into(),
            vec![0, 1, 2, 3, 4, 5],
        ),
        (
            "from=2026-12-01T10:02:00Z&to=2026-12-01T10:04:00Z".into(),
            vec![2, 3],
        ),
        (format!("contact_id={}", calls.contact), vec![0, 4]),
        (format!("has_recording=true&{to}"), vec![0, 4]),
        (format!("has_recording=false&{to}"), vec![1, 2, 3, 5, 6]),
        (
            format!(
                "phone_number_id={}&direction=inbound&status=completed&{to}",
                calls.phones[0]
            ),
            vec![0, 3],
        ),
        // Empty values are no filter, as an HTML form sends them.
        (
            format!("direction=&status=&q=&{to}"),
            vec![0, 1, 2, 3, 4, 5, 6],
        ),
    ];
    for (query, expected) in cases {
        let found = page(&app, &owner, &query).await;
        assert_eq!(ids(&found), newest_first(all, &expected), "?{query}");
    }

    // Bad values are 400s that say what to change.
    for (query, says) in [
        ("limit=0", "limit must be"),
        ("limit=201", "limit must be"),
        ("cursor=nonsense", "cursor"),
        ("direction=sideways", "direction `sideways`"),
        ("status=done", "status `done`"),
        ("from=yesterday", "from `yesterday`"),
        (
            "from=2026-12-02&to=2026-12-01",
            "from must be earlier than to",
        ),
        ("has_recording=yes", "has_recording `yes`"),
        ("phone_number_id=42", "phone_number_id `42`"),
        ("q=%21%21", "q has no word"),
        ("colour=red", "unknown field `colour`"),
    ] {
        let message = api_error(
            get(&app, &owner, &format!("/api/calls?{query}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(message.contains(says), "?{query}: {message}");
    }

    // Permissions: listing needs Call:Collection:List.
    let clerk = app.member_with(&owner, &["Contact:Collection:List"]).await;
    let res = get(&app, &clerk, "/api/calls").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn transcript_search_finds_the_same_calls_on_both_databases_and_follows_new_transcripts() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 2, 52).await;
    let globex = app.owner("Globex").await;
    insert_call(
        &app,
        globex.org_id().parse().unwrap(),
        CallSeed {
            transcript: Some(segments(&[("Caller", "My kitchen tap is leaking.")])),
            ..CallSeed::default()
        },
    )
    .await;
    let calls = seven_calls(&app, &owner, &phones).await;
    let all = &calls.ids;
    for (q, expected) in [
        ("leaking", vec![0]),
        ("KITCHEN tap", vec![0]),
        ("leak kitch", vec![0]),
        ("thurs", vec![3]),
        ("repair, boiler!", vec![3]),
        ("café", vec![5]),
        ("cafe", vec![]),
        ("tap boiler", vec![]),
        ("plumber OR boiler", vec![]),
        ("\"tap\"", vec![0]),
        ("tap*", vec![0]),
        ("NEAR(tap", vec![]),
        ("agent", vec![0, 5]),
    ] {
        let found = page(&app, &owner, &format!("q={}", urlencode(q))).await;
        assert_eq!(ids(&found), newest_first(all, &expected), "q={q}");
    }
    // Search combines with the other filters and with paging.
    let found = page(&app, &owner, "q=agent&direction=outbound").await;
    assert_eq!(ids(&found), newest_first(all, &[5]));
    let one = page(&app, &owner, "q=agent&limit=1").await;
    assert_eq!(ids(&one), newest_first(all, &[5]));
    let cursor = one["next_cursor"].as_str().unwrap();
    let two = page(&app, &owner, &format!("q=agent&limit=1&cursor={cursor}")).await;
    assert_eq!(ids(&two), newest_first(all, &[0]));
    assert_eq!(two["next_cursor"], Value::Null);

    // A transcript saved later (the recording's replaces the live one) is searchable at once,
    // and the words it replaced are not.
    let org: Uuid = owner.org_id().parse().unwrap();
    loquent::calls::recording::save_transcript(
        &app.app.db,
        org,
        all[3].parse().unwrap(),
        "Caller: The radiator rattles.",
        json!([]),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&page(&app, &owner, "q=radiator").await),
        vec![all[3].clone()]
    );
    assert!(ids(&page(&app, &owner, "q=boiler").await).is_empty());
    loquent::calls::recording::save_transcript(
        &app.app.db,
        org,
        all[2].parse().unwrap(),
        "Agent: The radiator is fixed.",
        json!([]),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&page(&app, &owner, "q=radiator").await),
        newest_first(all, &[2, 3])
    );

    // Words are split at punctuation, ASCII or not, and compared without case, accents kept.
    loquent::calls::recording::save_transcript(
        &app.app.db,
        org,
        all[1].parse().unwrap(),
        "Agent: L’ÉCOLE — naïve? Write to bob@x.com, re: the e-mail (5€).",
        json!([]),
    )
    .await
    .unwrap();
    for (q, found) in [
        ("école", true),
        ("ecole", false),
        ("l école", true),
        ("NAÏVE", true),
        ("bob x com", true),
        ("bob@x.com", true),
        ("mail", true),
        ("e-mail", true),
        ("5", true),
        ("5€", true),
        ("€", false),
    ] {
        let expected = if found { vec![all[1].clone()] } else { vec![] };
        if q == "€" {
            let res = get(&app, &owner, "/api/calls?q=%E2%82%AC").await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no word in q={q}");
            continue;
        }
        let res = page(&app, &owner, &format!("q={}", urlencode(q))).await;
        assert_eq!(ids(&res), expected, "q={q}");
    }
}

/// A word in more transcripts than `search::FEW` is read by walking the organization's
/// documents newest first (a rarer one by collecting its matches): both readings give the same
/// order as the plain list, ties on the time broken by id, through every page and with filters,
/// and neither shows another organization's calls.
#[tokio::test]
async fn a_common_word_pages_through_every_match_in_order() {
    use loquent::entity::call;
    use sea_orm::EntityTrait;

    let app = TestApp::builder().start().await;
    let acme = app.owner("Acme").await;
    let globex = app.owner("Globex").await;
    let acme_org: Uuid = acme.org_id().parse().unwrap();
    let globex_org: Uuid = globex.org_id().parse().unwrap();
    let common = usize::try_from(loquent::calls::search::FEW).unwrap() + 150;
    // Acme: `common` calls about the gutter, pairs sharing a time; one in seven outbound, one
    // in ten also about a ladder. Globex: the same words in 300 calls of its own.
    let mut rows = Vec::new();
    struct Seeded {
        at: DateTime<Utc>,
        id: Uuid,
        outbound: bool,
        ladder: bool,
    }
    let mut expected: Vec<Seeded> = Vec::new();
    for i in 0..common + 300 {
        let org = if i < common { acme_org } else { globex_org };
        let created_at = at(1, 0) + chrono::Duration::seconds(i64::try_from(i / 2).unwrap());
        let id = Uuid::now_v7();
        let outbound = i % 7 == 0;
        let ladder = i % 10 == 0;
        let text = if ladder {
            "Caller: The gutter needs a ladder."
        } else {
            "Caller: The gutter overflows."
        };
        if org == acme_org {
            expected.push(Seeded {
                at: created_at,
                id,
                outbound,
                ladder,
            });
        }
        rows.push(call::ActiveModel {
            id: Set(id),
            organization_id: Set(org),
            phone_number_id: Set(None),
            call_sid: Set(format!("CA{}", Uuid::new_v4().simple())),
            direction: Set(if outbound { "outbound" } else { "inbound" }.to_owned()),
            from_number: Set("+15557654321".to_owned()),
            to_number: Set("+15550100200".to_owned()),
            from_to_number: Set("+15557654321".to_owned()),
            contact_id: Set(None),
            status: Set("completed".to_owned()),
            started_at: Set(Some(created_at)),
            duration_secs: Set(Some(30)),
            recording_sid: Set(None),
            recording_url: Set(None),
            transcription: Set(Some(text.to_owned())),
            transcript_segments: Set(None),
            transcript_source: Set(Some("recording".to_owned())),
            source: Set(Some("phone".to_owned())),
            created_at: Set(created_at),
            updated_at: Set(created_at),
        });
    }
    for chunk in rows.chunks(200) {
        call::Entity::insert_many(chunk.to_vec())
            .exec(&app.app.db)
            .await
            .unwrap();
    }
    expected.sort_by_key(|c| std::cmp::Reverse((c.at, c.id)));
    let ids = |keep: &dyn Fn(&Seeded) -> bool| -> Vec<String> {
        expected
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.id.to_string())
            .collect()
    };

    // The walk: every match, newest first, each once.
    assert_eq!(ids_all(&app, &acme, "q=gutter").await, ids(&|_| true));
    assert_eq!(
        ids_all(&app, &acme, "q=gutter%20caller").await,
        ids(&|_| true)
    );
    assert_eq!(
        ids_all(&app, &acme, "q=gutter&direction=outbound").await,
        ids(&|c| c.outbound)
    );
    // The collected reading (a few hundred matches) agrees.
    assert_eq!(ids_all(&app, &acme, "q=ladder").await, ids(&|c| c.ladder));
    assert_eq!(
        ids_all(&app, &acme, "q=ladder&direction=outbound").await,
        ids(&|c| c.outbound && c.ladder)
    );
    // The other organization sees only its own.
    assert_eq!(ids_all(&app, &globex, "q=gutter").await.len(), 300);
}

async fn ids_all(app: &TestApp, member: &Member, query: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("{query}&limit=200");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = page(app, member, &q).await;
        found.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return found,
        }
    }
}

/// The `search_doc` migration undone and applied again, with transcripts written under the
/// schema before it: every transcript is found after the upgrade, in the right organization and
/// order, and a moved call date reorders the results.
#[tokio::test]
async fn transcripts_written_before_the_search_documents_are_found_after_the_upgrade() {
    use loquent::migration::Migrator;
    use sea_orm_migration::MigratorTrait;

    let app = TestApp::builder().start().await;
    let acme = app.owner("Acme").await;
    let globex = app.owner("Globex").await;
    let acme_org: Uuid = acme.org_id().parse().unwrap();
    let globex_org: Uuid = globex.org_id().parse().unwrap();
    let call = |org, minute, text: &'static str| {
        let app = &app;
        async move {
            insert_call(
                app,
                org,
                CallSeed {
                    created_at: at(3, minute),
                    transcript: Some(segments(&[("Caller", text)])),
                    // Calls written while the schema is older than `call.source`.
                    source: None,
                    ..CallSeed::default()
                },
            )
            .await
            .id
            .to_string()
        }
    };
    let first = call(acme_org, 1, "The gutter overflows.").await;
    // Back to the schema before the search documents (and every migration after them).
    let migrations: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let search_doc = migrations
        .iter()
        .position(|name| name.contains("search_doc"))
        .unwrap();
    let steps = u32::try_from(migrations.len() - search_doc).unwrap();
    Migrator::down(&app.app.db, Some(steps)).await.unwrap();
    let second = call(acme_org, 2, "Another gutter question.").await;
    call(globex_org, 3, "Our gutter too.").await;
    let untouched = call(acme_org, 4, "Nothing about drains.").await;
    Migrator::up(&app.app.db, None).await.unwrap();

    assert_eq!(
        ids(&page(&app, &acme, "q=gutter").await),
        vec![second.clone(), first.clone()]
    );
    assert_eq!(ids(&page(&app, &acme, "q=drains").await), vec![untouched]);
    assert_eq!(ids(&page(&app, &globex, "q=gutter").await).len(), 1);

    // A call whose time is corrected moves in the results as in the list.
    use sea_orm::EntityTrait;
    let model = loquent::entity::call::Entity::find_by_id(first.parse::<Uuid>().unwrap())
        .one(&app.app.db)
        .await
        .unwrap()
        .unwrap();
    let mut moved: loquent::entity::call::ActiveModel = model.into();
    moved.created_at = Set(at(3, 30));
    moved.update(&app.app.db).await.unwrap();
    assert_eq!(
        ids(&page(&app, &acme, "q=gutter").await),
        vec![first, second]
    );
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An analyzer run stored as the `analyzer.run` job stores it.
async fn stored_run(
    app: &TestApp,
    org: Uuid,
    call: Uuid,
    analyzer: Uuid,
    text: &str,
    at: DateTime<Utc>,
) {
    loquent::entity::call_analysis::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org),
        call_id: Set(call),
        analyzer_id: Set(analyzer),
        analysis_text: Set(text.to_owned()),
        job_id: Set(None),
        created_at: Set(at),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_calls_details_hold_its_transcript_analyses_todos_contact_and_steps() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 2, 53).await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let calls = seven_calls(&app, &owner, &phones).await;
    let call: Uuid = calls.ids[0].parse().unwrap();
    let mut analyzers = Vec::new();
    for name in ["Summary", "Satisfaction"] {
        let res = owner
            .post_json(
                &app,
                "/api/analyzers",
                &json!({"name": name, "prompt": "Say it."}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        analyzers.push(uuid_of(&res.json::<Value>().await.unwrap()));
    }
    stored_run(
        &app,
        org,
        call,
        analyzers[0],
        "Leaking tap, plumber offered.",
        at(1, 10),
    )
    .await;
    stored_run(&app, org, call, analyzers[1], "Satisfied.", at(1, 11)).await;
    stored_run(
        &app,
        org,
        call,
        analyzers[0],
        "A leak; a plumber was offered.",
        at(1, 12),
    )
    .await;
    loquent::entity::todo::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org),
        call_id: Set(Some(call)),
        contact_id: Set(Some(calls.contact)),
        title: Set("Book the plumber".into()),
        details: Set(None),
        done: Set(false),
        due_at: Set(None),
        completed_at: Set(None),
        status: Set("pending_review".into()),
        job_id: Set(None),
        created_at: Set(at(1, 13)),
        updated_at: Set(at(1, 13)),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
    let failed = loquent::jobs::enqueue(
        &app.app.db,
        loquent::jobs::NewJob {
            kind: "contact.enrich".into(),
            organization_id: Some(org),
            call_id: Some(call),
            payload: json!({}),
            dedupe_key: None,
            run_at: Utc::now() + chrono::Duration::days(1),
            max_attempts: 5,
        },
    )
    .await
    .unwrap();
    let res = owner
        .client
        .put(app.url(&format!("/api/contacts/{}", calls.contact)))
        .json(&json!({"name": "Ada Lovelace", "company": "Analytical Engines"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let details: Value = owner.get_json(&app, &format!("/api/calls/{call}")).await;
    assert_eq!(details["id"], call.to_string());
    assert_eq!(details["from_to_number"], "+15557654321 -> +15550100200");
    assert_eq!(details["has_analysis"], true);
    assert_eq!(
        details["transcription"],
        "Caller: Hi, my kitchen tap has been leaking since Monday.\nAgent: Sorry to hear that. I can book a plumber."
    );
    assert_eq!(details["transcript_segments"][1]["speaker"], "Agent");
    assert_eq!(details["transcript_segments"][1]["start"], 1.5);
    let groups = details["analysis_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["analyzer_name"], "Satisfaction");
    assert_eq!(groups[1]["analyzer_name"], "Summary");
    let texts: Vec<&str> = groups[1]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["analysis_text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "A leak; a plumber was offered.",
            "Leaking tap, plumber offered."
        ]
    );
    assert_eq!(details["todos"][0]["title"], "Book the plumber");
    assert_eq!(details["contact"]["name"], "Ada Lovelace");
    assert_eq!(
        details["contact_details"]["numbers"],
        json!(["+15557654321"])
    );
    assert_eq!(details["contact_details"]["source_label"], "Inbound call");
    assert_eq!(details["steps"][0]["id"], failed.id.to_string());
    assert_eq!(details["steps"][0]["label"], "Contact details");
    assert_eq!(details["steps"][0]["status"], "queued");

    // The list row says it has analyses now; its snapshot and the details' are the API's shape.
    let list = page(&app, &owner, "limit=2&has_recording=true").await;
    assert_eq!(list["items"][1]["has_analysis"], true);
    let mut r = Redactor::new();
    insta::assert_json_snapshot!("calls_list_page", r.json(&without_call_sids(list)));
    insta::assert_json_snapshot!("call_details", r.json(&without_call_sids(details)));

    // Reading needs Call:Instance:Read; another organization's call (tenancy.rs) and an unknown
    // one are 404.
    let lister = app.member_with(&owner, &["Call:Collection:List"]).await;
    let res = get(&app, &lister, &format!("/api/calls/{call}")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = get(&app, &owner, &format!("/api/calls/{}", Uuid::now_v7())).await;
    assert_eq!(
        api_error(res, StatusCode::NOT_FOUND).await,
        "call not found"
    );
}

/// `value` with every `call_sid` (a fresh `CA` + 32 hex digits per run, which the redactor's hex
/// rule cannot tell from the hex letters before it) replaced by `CA[hex]`.
fn without_call_sids(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if key == "call_sid" {
                        let sid = v.as_str().expect("a call SID");
                        assert!(sid.starts_with("CA") && sid.len() == 34, "{sid}");
                        *v = json!("CA[hex]");
                    } else {
                        walk(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

async fn session_cookie(app: &TestApp, member: &Member) -> String {
    let res = TestApp::client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": member.email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next event of type `kind`, skipping others.
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["type"] == kind {
                    return event["payload"].clone();
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no {kind} event: {other:?}"),
        }
    }
}

async fn script_answer(app: &TestApp, text: &str) {
    let res = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/openai/chat-answers",
            app.sandbox().twilio_api_base()
        ))
        .json(&json!({"schema": "call_analysis", "answer": {"analysis": text}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_rerun_appends_a_new_run_and_the_browser_hears_of_it() {
    let sandbox = crate::support::start_sandbox().await;
    let openai = sandbox.openai_base_url();
    let app = TestApp::builder()
        .with_existing_sandbox(sandbox)
        .with_settings(&[
            ("LOQUENT_OPENAI_BASE_URL", openai.as_str()),
            ("LOQUENT_OPENAI_API_KEY", "sk-sandbox"),
        ])
        .start()
        .await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 2, 54).await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let res = owner
        .post_json(
            &app,
            "/api/analyzers",
            &json!({"name": "Satisfaction", "prompt": "Was the caller satisfied?", "phone_number_ids": [phones[0]["id"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let transcript = segments(&[("Caller", "Thanks, that was quick!")]);
    let call = insert_call(
        &app,
        org,
        CallSeed {
            phone_number_id: Some(uuid_of(&phones[0])),
            transcript: Some(transcript.clone()),
            ..CallSeed::default()
        },
    )
    .await;
    let mut request = app.ws_url("/api/realtime").into_client_request().unwrap();
    request.headers_mut().insert(
        "cookie",
        session_cookie(&app, &owner).await.parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let rerun = format!("/api/calls/{}/rerun", call.id);

    for (round, text) in ["Satisfied.", "Very satisfied."].into_iter().enumerate() {
        script_answer(&app, text).await;
        let res = owner.post_json(&app, &rerun, &json!({})).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let queued: Value = res.json().await.unwrap();
        assert_eq!(queued["job_ids"].as_array().unwrap().len(), 1);
        let event = next_of(&mut socket, "call.analysis.queued").await;
        assert_eq!(event["job_ids"], queued["job_ids"]);
        let event = next_of(&mut socket, "call.analysis.completed").await;
        assert_eq!(event["call_id"], call.id.to_string());
        assert_eq!(event["job_id"], queued["job_ids"][0]);
        assert_eq!(event["analyzer_name"], "Satisfaction");
        // The runner tells of the step's new state too, as it does for every step of a call.
        let step = next_of(&mut socket, "call.step").await;
        assert_eq!(step["job_id"], queued["job_ids"][0]);
        assert_eq!(step["kind"], "analyzer.run");
        assert_eq!(step["status"], "done");
        let details: Value = owner
            .get_json(&app, &format!("/api/calls/{}", call.id))
            .await;
        let runs: Vec<&str> = details["analysis_groups"][0]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["analysis_text"].as_str().unwrap())
            .collect();
        let expected = ["Very satisfied.", "Satisfied."];
        assert_eq!(
            runs,
            expected[1 - round..],
            "runs are appended, newest first"
        );
    }

    // Nothing to analyze: 409s that say why. And re-running needs Call:Instance:Update.
    let silent = insert_call(
        &app,
        org,
        CallSeed {
            phone_number_id: Some(uuid_of(&phones[0])),
            ..CallSeed::default()
        },
    )
    .await;
    let res = owner
        .post_json(&app, &format!("/api/calls/{}/rerun", silent.id), &json!({}))
        .await;
    let message = api_error(res, StatusCode::CONFLICT).await;
    assert!(message.contains("no transcript"), "{message}");
    let unanalyzed = insert_call(
        &app,
        org,
        CallSeed {
            phone_number_id: Some(uuid_of(&phones[1])),
            transcript: Some(transcript),
            ..CallSeed::default()
        },
    )
    .await;
    let res = owner
        .post_json(
            &app,
            &format!("/api/calls/{}/rerun", unanalyzed.id),
            &json!({}),
        )
        .await;
    let message = api_error(res, StatusCode::CONFLICT).await;
    assert!(message.contains("no active analyzer"), "{message}");
    let reader = app.member_with(&owner, &["Call:Instance:Read"]).await;
    let res = reader.post_json(&app, &rerun, &json!({})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn recording(
    app: &TestApp,
    member: &Member,
    id: Uuid,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = member
        .client
        .get(app.url(&format!("/api/calls/{id}/recording")));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_recording_is_streamed_in_byte_ranges_with_validators() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let audio: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let call = insert_call(
        &app,
        org,
        CallSeed {
            recording: Some(audio.clone()),
            ..CallSeed::default()
        },
    )
    .await;

    let res = recording(&app, &owner, call.id, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    assert_eq!(header(&headers, header::CONTENT_TYPE), "audio/mpeg");
    assert_eq!(header(&headers, header::ACCEPT_RANGES), "bytes");
    assert_eq!(header(&headers, header::CONTENT_LENGTH), "100000");
    let etag = header(&headers, header::ETAG).to_owned();
    let last_modified = header(&headers, header::LAST_MODIFIED).to_owned();
    assert!(
        etag.starts_with('"') && last_modified.ends_with(" GMT"),
        "{etag} {last_modified}"
    );
    assert_eq!(res.bytes().await.unwrap(), audio);

    for (range, start, end) in [
        ("bytes=0-0", 0, 0),
        ("bytes=0-1023", 0, 1023),
        ("bytes=50000-50999", 50_000, 50_999),
        ("bytes=99000-", 99_000, 99_999),
        ("bytes=99990-200000", 99_990, 99_999),
        ("bytes=-500", 99_500, 99_999),
    ] {
        let res = recording(&app, &owner, call.id, &[("range", range)]).await;
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let headers = res.headers().clone();
        assert_eq!(
            header(&headers, header::CONTENT_RANGE),
            format!("bytes {start}-{end}/100000"),
            "{range}"
        );
        assert_eq!(
            header(&headers, header::CONTENT_LENGTH),
            (end - start + 1).to_string()
        );
        assert_eq!(header(&headers, header::CONTENT_TYPE), "audio/mpeg");
        assert_eq!(header(&headers, header::ETAG), etag);
        assert_eq!(res.bytes().await.unwrap(), audio[start..=end], "{range}");
    }
    for range in [
        "bytes=100000-",
        "bytes=500-100",
        "bytes=-0",
        "bytes=abc-",
        "bytes=1",
    ] {
        let res = recording(&app, &owner, call.id, &[("range", range)]).await;
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            header(res.headers(), header::CONTENT_RANGE),
            "bytes */100000"
        );
    }
    // Several ranges, or another unit: the whole recording.
    for range in ["bytes=0-1,5-6", "seconds=1-2"] {
        let res = recording(&app, &owner, call.id, &[("range", range)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{range}");
        assert_eq!(res.bytes().await.unwrap().len(), audio.len());
    }

    // Validators: a current copy is not sent again; a stale If-Range gets the whole file.
    let res = recording(&app, &owner, call.id, &[("if-none-match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(res.headers(), header::ETAG), etag);
    assert!(res.bytes().await.unwrap().is_empty());
    let res = recording(
        &app,
        &owner,
        call.id,
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = recording(&app, &owner, call.id, &[("if-none-match", "\"old\"")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = recording(
        &app,
        &owner,
        call.id,
        &[("range", "bytes=0-9"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    let res = recording(
        &app,
        &owner,
        call.id,
        &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    // No recording (yet, or no longer in storage): 404.
    let silent = insert_call(&app, org, CallSeed::default()).await;
    let res = recording(&app, &owner, silent.id, &[]).await;
    assert_eq!(
        api_error(res, StatusCode::NOT_FOUND).await,
        "recording not found"
    );
    app.app
        .storage
        .delete(call.recording_url.as_deref().unwrap())
        .await
        .unwrap();
    let res = recording(&app, &owner, call.id, &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failing_rerun_step_reaches_the_browser_with_its_error() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 1, 55).await;
    let res = owner
        .post_json(
            &app,
            "/api/analyzers",
            &json!({"name": "Summary", "prompt": "Summarize.", "phone_number_ids": [phones[0]["id"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let call = insert_call(
        &app,
        owner.org_id().parse().unwrap(),
        CallSeed {
            phone_number_id: Some(uuid_of(&phones[0])),
            transcript: Some(segments(&[("Caller", "Hello?")])),
            ..CallSeed::default()
        },
    )
    .await;
    let mut request = app.ws_url("/api/realtime").into_client_request().unwrap();
    request.headers_mut().insert(
        "cookie",
        session_cookie(&app, &owner).await.parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let res = owner
        .post_json(&app, &format!("/api/calls/{}/rerun", call.id), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // No OpenAI key: the attempt fails, the step goes back in the queue with the reason.
    let step = next_of(&mut socket, "call.step").await;
    assert_eq!(step["call_id"], call.id.to_string());
    assert_eq!(step["status"], "queued");
    assert_eq!(step["attempts"], 1);
    let error = step["last_error"].as_str().unwrap();
    assert!(error.contains("no OpenAI API key"), "{error}");
}
