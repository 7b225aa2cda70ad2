//! `GET /api/openapi.json`, through the front door: it is served without a session, names every
//! route of the API in the route table (read from `src/router.rs`, as the tenancy test does), and
//! real answers (successes and errors) validate against the schema it declares for their path,
//! method and status. Schemas are checked closed: an answered field the document does not
//! declare fails too. A snapshot of the whole document shows any change of the API in review.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::support::{CallSeed, Member, TestApp, TwilioOwner, insert_call, segments};

/// The document as served, with the schema lookups the tests need.
struct Document(Value);

impl Document {
    async fn fetch(app: &TestApp) -> Self {
        // A fresh client: no session cookie.
        let res = TestApp::client()
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .expect("GET /api/openapi.json");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "application/json");
        Self(res.json().await.expect("a JSON document"))
    }

    /// `METHOD /api/path` of every operation in the document.
    fn operations(&self) -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        for (path, item) in self.0["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                all.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
        all
    }

    fn at(&self, reference: &str) -> &Value {
        let pointer = reference.strip_prefix('#').expect("a local $ref");
        self.0
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{reference} is not in the document"))
    }

    /// The JSON schema the document declares for the answer of `method route` with `status`,
    /// its `$ref`s resolved and its objects closed.
    fn answer_schema(&self, method: &Method, route: &str, status: StatusCode) -> Value {
        let operation = &self.0["paths"][route][method.as_str().to_lowercase()];
        assert!(operation.is_object(), "{method} {route} is not documented");
        let mut response = &operation["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {route} does not document the answer {status}"
        );
        if let Some(reference) = response["$ref"].as_str() {
            response = self.at(reference);
        }
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {route} {status} declares no JSON body"
        );
        self.resolved(schema, true)
    }

    /// `schema` with every `$ref` replaced by what it names, and, where `closed`, objects that
    /// refuse properties they do not declare (`unevaluatedProperties` over an `allOf`, which a
    /// flattened field makes, so the parts' properties count).
    fn resolved(&self, schema: &Value, closed: bool) -> Value {
        let Value::Object(fields) = schema else {
            return schema.clone();
        };
        if let Some(reference) = fields.get("$ref").and_then(Value::as_str) {
            return self.resolved(self.at(reference), closed);
        }
        let mut out = Map::new();
        for (key, value) in fields {
            let value = match key.as_str() {
                "properties" => Value::Object(
                    value
                        .as_object()
                        .expect("properties")
                        .iter()
                        .map(|(name, s)| (name.clone(), self.resolved(s, true)))
                        .collect(),
                ),
                "allOf" => self.each(value, false),
                "oneOf" | "anyOf" => self.each(value, closed),
                "items" | "additionalProperties" => self.resolved(value, true),
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
        if closed {
            if out.contains_key("allOf") {
                out.entry("unevaluatedProperties").or_insert(json!(false));
            } else if out.contains_key("properties") {
                out.entry("additionalProperties").or_insert(json!(false));
            }
        }
        Value::Object(out)
    }

    fn each(&self, schemas: &Value, closed: bool) -> Value {
        Value::Array(
            schemas
                .as_array()
                .expect("a list of schemas")
                .iter()
                .map(|s| self.resolved(s, closed))
                .collect(),
        )
    }

    /// Every way `body` breaks the schema of `method route status`; empty when it fits.
    fn problems(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        body: &Value,
    ) -> Vec<String> {
        let schema = self.answer_schema(method, route, status);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{method} {route} {status}: not a valid schema: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }
}

/// `METHOD /api/path` of every route under `/api` in `src/router.rs`: each `.route("...", ...)`
/// of the `api` router, with the methods its handlers are mounted on.
fn routes_in_the_table() -> BTreeSet<String> {
    let table = include_str!("../../src/router.rs");
    let start = table
        .find("let api = Router::new()")
        .expect("the api router");
    let end = start + table[start..].find(".fallback(").expect("its fallback");
    // And the routes that exist only while the built-in sandbox is served.
    let sandbox = table
        .find("let api = if state.sandbox.is_some()")
        .expect("the api router's sandbox routes");
    let sandbox_end = sandbox + table[sandbox..].find("} else {").expect("its end");
    let mut all = BTreeSet::new();
    let routes = table[start..end]
        .split(".route(")
        .skip(1)
        .chain(table[sandbox..sandbox_end].split(".route(").skip(1));
    for route in routes {
        let path = route.split('"').nth(1).expect("a route's path");
        let handlers = route.split_once(',').expect("a route's handlers").1;
        for method in ["get", "post", "put", "patch", "delete"] {
            let mounted = handlers
                .match_indices(&format!("{method}("))
                .any(|(at, _)| {
                    !handlers[..at]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
            if mounted {
                all.insert(format!("{} /api{path}", method.to_uppercase()));
            }
        }
    }
    all
}

#[tokio::test]
async fn every_route_of_the_api_is_in_the_document_and_nothing_else() {
    let app = TestApp::new().await;
    let document = Document::fetch(&app).await;
    let table = routes_in_the_table();
    assert!(table.len() > 50, "the route table was not read: {table:?}");
    assert!(table.contains("PUT /api/members/{id}"));
    assert!(table.contains("DELETE /api/members/{id}"));
    let documented = document.operations();
    let undocumented: Vec<&String> = table.difference(&documented).collect();
    let unrouted: Vec<&String> = documented.difference(&table).collect();
    assert!(
        undocumented.is_empty(),
        "add #[utoipa::path] to these routes' handlers and list them in api::openapi::ApiDoc: \
         {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "the document has operations the route table does not: {unrouted:?}"
    );
}

#[tokio::test]
async fn the_document_is_served_without_a_session_and_reads_as_the_snapshot() {
    let app = TestApp::new().await;
    let document = Document::fetch(&app).await;
    assert_eq!(document.0["openapi"], "3.1.0");
    let scheme = &document.0["components"]["securitySchemes"]["session"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "cookie");
    assert_eq!(scheme["name"], "loquent_session");
    // Signing up needs no session; reading calls does.
    assert_eq!(
        document.0["paths"]["/api/auth/signup"]["post"]["security"],
        json!([{}])
    );
    assert_eq!(document.0["security"], json!([{"session": []}]));
    let mut ids = BTreeSet::new();
    for item in document.0["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        }
    }
    insta::assert_json_snapshot!("openapi_document", document.0);
}

/// What a sample of requests answer, each checked against the document.
struct Checker<'a> {
    app: &'a TestApp,
    document: Document,
    checked: usize,
}

impl Checker<'_> {
    /// Sends `method path` (with `body` as JSON) as `member` (or without a session), expects
    /// `status`, and checks the answer against the schema of `route`; returns the answer.
    async fn check(
        &mut self,
        member: Option<&Member>,
        method: Method,
        path: &str,
        route: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let client = member.map_or_else(TestApp::client, |m| m.client.clone());
        let mut request = client.request(method.clone(), self.app.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let res = request.send().await.expect("request");
        assert_eq!(res.status(), status, "{method} {path}");
        let answer: Value = res.json().await.expect("a JSON answer");
        let problems = self.document.problems(&method, route, status, &answer);
        assert!(
            problems.is_empty(),
            "{method} {path} answered {status} with what {route} does not declare: \
             {problems:#?}\n{answer:#}"
        );
        self.checked += 1;
        answer
    }
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn real_answers_match_the_schemas_the_document_declares() {
    let app = TestApp::builder().with_sandbox().start().await;
    let TwilioOwner { owner, phones, .. } = app.owner_on_twilio("Acme", 2, 61).await;
    let org: Uuid = owner.org_id().parse().unwrap();
    let phone: Uuid = id_of(&phones[0]).parse().unwrap();
    let contact = loquent::contacts::resolve::resolve_or_create(
        &app.app.db,
        org,
        "+15557654321",
        "inbound_call",
    )
    .await
    .expect("contact")
    .id;
    let call = insert_call(
        &app,
        org,
        CallSeed {
            phone_number_id: Some(phone),
            contact_id: Some(contact),
            transcript: Some(segments(&[
                ("Caller", "My kitchen tap is leaking."),
                ("Agent", "I can book a plumber for tomorrow."),
            ])),
            recording: Some(b"ID3 recording".to_vec()),
            ..CallSeed::default()
        },
    )
    .await
    .id;
    let untranscribed = insert_call(&app, org, CallSeed::default()).await.id;
    let document = Document::fetch(&app).await;
    let mut c = Checker {
        app: &app,
        document,
        checked: 0,
    };
    let o = Some(&owner);
    use Method as M;
    use StatusCode as S;

    // Writes first, so the reads below have something to show.
    let analyzer = c
        .check(
            o,
            M::POST,
            "/api/analyzers",
            "/api/analyzers",
            Some(json!({"name": "Summary", "prompt": "Sum it up.", "phone_number_ids": [phone]})),
            S::CREATED,
        )
        .await;
    let analyzer_id: Uuid = id_of(&analyzer).parse().unwrap();
    loquent::entity::call_analysis::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org),
        call_id: Set(call),
        analyzer_id: Set(analyzer_id),
        analysis_text: Set("A leak; a plumber was offered.".into()),
        job_id: Set(None),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
    let todo = Uuid::now_v7();
    loquent::entity::todo::ActiveModel {
        id: Set(todo),
        organization_id: Set(org),
        call_id: Set(Some(call)),
        contact_id: Set(Some(contact)),
        title: Set("Book the plumber".into()),
        details: Set(Some("Tomorrow morning.".into())),
        done: Set(false),
        due_at: Set(None),
        completed_at: Set(None),
        status: Set("pending_review".into()),
        job_id: Set(None),
        created_at: Set(chrono::Utc::now()),
        updated_at: Set(chrono::Utc::now()),
    }
    .insert(&app.app.db)
    .await
    .unwrap();
    c.check(
        o,
        M::PUT,
        &format!("/api/contacts/{contact}"),
        "/api/contacts/{id}",
        Some(json!({"name": "Ada Lovelace", "company": "Analytical Engines"})),
        S::OK,
    )
    .await;
    let agent = c
        .check(
            o,
            M::POST,
            "/api/agents",
            "/api/agents",
            Some(json!({"name": "Front desk", "prompt": "Answer kindly."})),
            S::CREATED,
        )
        .await;
    c.check(
        o,
        M::PUT,
        &format!("/api/phones/{phone}"),
        "/api/phones/{id}",
        Some(json!({"agent_id": id_of(&agent)})),
        S::OK,
    )
    .await;
    c.check(
        o,
        M::POST,
        "/api/roles",
        "/api/roles",
        Some(json!({"name": "Viewer", "permissions": ["Call:Collection:List"]})),
        S::CREATED,
    )
    .await;
    c.check(
        o,
        M::POST,
        "/api/report-recipients",
        "/api/report-recipients",
        Some(json!({"email": "boss@example.com"})),
        S::CREATED,
    )
    .await;
    c.check(
        o,
        M::POST,
        &format!("/api/calls/{call}/rerun"),
        "/api/calls/{id}/rerun",
        None,
        S::ACCEPTED,
    )
    .await;
    c.check(
        o,
        M::POST,
        "/api/twilio/sync-call-history",
        "/api/twilio/sync-call-history",
        Some(json!({"phone_number_id": phone})),
        S::OK,
    )
    .await;

    // Reads.
    let calls = c
        .check(o, M::GET, "/api/calls", "/api/calls", None, S::OK)
        .await;
    assert_eq!(calls["items"].as_array().unwrap().len(), 2);
    let details = c
        .check(
            o,
            M::GET,
            &format!("/api/calls/{call}"),
            "/api/calls/{id}",
            None,
            S::OK,
        )
        .await;
    assert_eq!(
        details["analysis_groups"][0]["runs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(details["todos"][0]["title"], "Book the plumber");
    assert!(details["steps"].as_array().is_some_and(|s| !s.is_empty()));
    c.check(
        o,
        M::GET,
        "/api/contacts?q=ada",
        "/api/contacts",
        None,
        S::OK,
    )
    .await;
    c.check(
        o,
        M::GET,
        &format!("/api/contacts/{contact}"),
        "/api/contacts/{id}",
        None,
        S::OK,
    )
    .await;
    for (path, route) in [
        ("/api/analyzers", "/api/analyzers"),
        ("/api/todos", "/api/todos"),
        ("/api/auth/me", "/api/auth/me"),
        ("/api/auth/sign-ins", "/api/auth/sign-ins"),
        ("/api/auth/organizations", "/api/auth/organizations"),
        ("/api/members", "/api/members"),
        ("/api/invitations", "/api/invitations"),
        ("/api/roles", "/api/roles"),
        ("/api/permissions", "/api/permissions"),
        ("/api/phones", "/api/phones"),
        ("/api/agents", "/api/agents"),
        ("/api/settings", "/api/settings"),
        (
            "/api/twilio/telephony-settings",
            "/api/twilio/telephony-settings",
        ),
        (
            "/api/twilio/imported-numbers",
            "/api/twilio/imported-numbers",
        ),
        ("/api/twilio/call-syncs", "/api/twilio/call-syncs"),
        ("/api/report-recipients", "/api/report-recipients"),
        (&format!("/api/jobs?call_id={call}"), "/api/jobs"),
    ] {
        c.check(o, M::GET, path, route, None, S::OK).await;
    }
    c.check(
        o,
        M::POST,
        "/api/auth/switch-organization",
        "/api/auth/switch-organization",
        Some(json!({"organization_id": org})),
        S::OK,
    )
    .await;
    c.check(
        o,
        M::POST,
        &format!("/api/todos/{todo}/approve"),
        "/api/todos/{id}/approve",
        None,
        S::OK,
    )
    .await;

    // Errors, each in the shape the document declares for it.
    let nobody = Uuid::now_v7();
    let not_found = c
        .check(
            o,
            M::GET,
            &format!("/api/calls/{nobody}"),
            "/api/calls/{id}",
            None,
            S::NOT_FOUND,
        )
        .await;
    assert_eq!(not_found["error"]["code"], "not_found");
    c.check(
        o,
        M::GET,
        &format!("/api/contacts/{nobody}"),
        "/api/contacts/{id}",
        None,
        S::NOT_FOUND,
    )
    .await;
    c.check(
        None,
        M::GET,
        "/api/calls",
        "/api/calls",
        None,
        S::UNAUTHORIZED,
    )
    .await;
    let viewer = app.member_with(&owner, &["Call:Collection:List"]).await;
    c.check(
        Some(&viewer),
        M::GET,
        &format!("/api/calls/{call}"),
        "/api/calls/{id}",
        None,
        S::FORBIDDEN,
    )
    .await;
    c.check(
        o,
        M::GET,
        "/api/calls/not-an-id",
        "/api/calls/{id}",
        None,
        S::BAD_REQUEST,
    )
    .await;
    c.check(
        o,
        M::GET,
        "/api/calls?limit=1000",
        "/api/calls",
        None,
        S::BAD_REQUEST,
    )
    .await;
    let invalid = c
        .check(
            o,
            M::POST,
            "/api/analyzers",
            "/api/analyzers",
            Some(json!({"name": "", "prompt": ""})),
            S::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(
        invalid["error"]["fields"]
            .as_array()
            .is_some_and(|f| f.len() == 2)
    );
    c.check(
        o,
        M::POST,
        &format!("/api/calls/{untranscribed}/rerun"),
        "/api/calls/{id}/rerun",
        None,
        S::CONFLICT,
    )
    .await;
    let sent = c
        .check(
            o,
            M::POST,
            "/api/invitations",
            "/api/invitations",
            Some(json!({"email": "schema@example.com"})),
            S::CREATED,
        )
        .await;
    let token = crate::support::token_of_link(sent["link"].as_str().unwrap());
    c.check(
        None,
        M::POST,
        "/api/invitations/preview",
        "/api/invitations/preview",
        Some(json!({"token": token})),
        S::OK,
    )
    .await;
    c.check(
        None,
        M::POST,
        "/api/invitations/accept",
        "/api/invitations/accept",
        Some(json!({"token": token, "password": "schema password"})),
        S::CREATED,
    )
    .await;
    c.check(
        None,
        M::POST,
        "/api/invitations/accept",
        "/api/invitations/accept",
        Some(json!({"token": token, "password": "schema password"})),
        S::BAD_REQUEST,
    )
    .await;
    assert_eq!(c.checked, 43, "every answer above was checked");
}

#[tokio::test]
async fn an_answer_the_document_does_not_declare_fails_the_check() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let document = Document::fetch(&app).await;
    let me: Value = owner.get_json(&app, "/api/auth/me").await;
    let route = "/api/auth/me";
    assert!(
        document
            .problems(&Method::GET, route, StatusCode::OK, &me)
            .is_empty()
    );

    let mut unknown_field = me.clone();
    unknown_field["user"]["password_hash"] = json!("$argon2id$...");
    let mut missing_field = me.clone();
    missing_field["organization"]
        .as_object_mut()
        .unwrap()
        .remove("id");
    let mut wrong_type = me.clone();
    wrong_type["is_owner"] = json!("yes");
    let mut not_a_uuid = me.clone();
    not_a_uuid["user"]["id"] = json!("42");
    for (what, body) in [
        ("an undeclared field", unknown_field),
        ("a missing field", missing_field),
        ("a field of the wrong type", wrong_type),
        ("a malformed id", not_a_uuid),
    ] {
        assert!(
            !document
                .problems(&Method::GET, route, StatusCode::OK, &body)
                .is_empty(),
            "{what} passed"
        );
    }
    // An error body is not a success body, and the other way round.
    let error = json!({"error": {"code": "not_found", "message": "call not found"}});
    assert!(
        !document
            .problems(&Method::GET, route, StatusCode::OK, &error)
            .is_empty()
    );
    assert!(
        !document
            .problems(&Method::GET, "/api/calls/{id}", StatusCode::NOT_FOUND, &me)
            .is_empty()
    );
    assert!(
        document
            .problems(
                &Method::GET,
                "/api/calls/{id}",
                StatusCode::NOT_FOUND,
                &error
            )
            .is_empty()
    );
}
