use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, api_error};

#[tokio::test]
async fn owner_adds_a_member_with_a_role_and_the_member_gets_exactly_its_permissions() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let member = app.member_with(&owner, &["Member:Collection:List"]).await;

    assert_eq!(member.me["is_owner"], false);
    assert_eq!(
        member.me["organization"]["id"],
        owner.me["organization"]["id"]
    );
    assert_eq!(member.me["permissions"], json!(["Member:Collection:List"]));

    let list: Vec<Value> = member.get_json(&app, "/api/members").await;
    let emails: Vec<&str> = list.iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert!(emails.contains(&owner.email.as_str()));
    assert!(emails.contains(&member.email.as_str()));

    // Listing is allowed; creating roles or adding people is not.
    let res = member
        .post_json(
            &app,
            "/api/roles",
            &json!({"name": "sneaky", "permissions": ["Role:*:*"]}),
        )
        .await;
    let message = api_error(res, StatusCode::FORBIDDEN).await;
    assert!(message.contains("Role:Collection:Create"));
    let res = member
        .post_json(&app, "/api/invitations", &json!({"email": "x@example.com"}))
        .await;
    api_error(res, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn editing_roles_changes_permissions_at_once() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let member = app.member_with(&owner, &[]).await;
    let res = member
        .client
        .get(app.url("/api/roles"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::FORBIDDEN).await;

    let role: Value = owner
        .post_json(
            &app,
            "/api/roles",
            &json!({"name": "Viewer", "permissions": ["Role:Collection:List", "Call:*:*"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let member_id = member.me["user"]["id"].as_str().unwrap().to_owned();
    let members: Vec<Value> = owner.get_json(&app, "/api/members").await;
    let membership = members
        .iter()
        .find(|m| m["user_id"] == member_id.as_str())
        .unwrap();
    let res = owner
        .client
        .put(app.url(&format!(
            "/api/members/{}",
            membership["id"].as_str().unwrap()
        )))
        .json(&json!({"role_ids": [role["id"]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["roles"][0]["name"], "Viewer");

    let res = member
        .client
        .get(app.url("/api/roles"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn roles_reject_unknown_permissions_and_duplicate_names() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let res = owner
        .post_json(
            &app,
            "/api/roles",
            &json!({"name": "Typo", "permissions": ["Calls:Collection:List"]}),
        )
        .await;
    let message = api_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(message.contains("Calls:Collection:List"), "{message}");

    let ok = owner
        .post_json(
            &app,
            "/api/roles",
            &json!({"name": "Agent editors", "permissions": ["Agent:*:*"]}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let dup = owner
        .post_json(&app, "/api/roles", &json!({"name": "Agent editors"}))
        .await;
    api_error(dup, StatusCode::CONFLICT).await;

    let catalog: Vec<String> = owner.get_json(&app, "/api/permissions").await;
    assert!(catalog.contains(&"Twilio:Collection:Create".to_owned()));
    assert!(catalog.contains(&"Twilio:Instance:Update".to_owned()));
}

#[tokio::test]
async fn owner_cannot_be_removed_but_members_can() {
    let app = TestApp::new().await;
    let owner = app.owner("Acme").await;
    let member = app.member_with(&owner, &["Member:Collection:List"]).await;
    let members: Vec<Value> = owner.get_json(&app, "/api/members").await;
    let owner_row = members.iter().find(|m| m["is_owner"] == true).unwrap();
    let member_row = members.iter().find(|m| m["is_owner"] == false).unwrap();

    let res = owner
        .client
        .delete(app.url(&format!(
            "/api/members/{}",
            owner_row["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::CONFLICT).await;

    let res = owner
        .client
        .delete(app.url(&format!(
            "/api/members/{}",
            member_row["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Their session for this organization is gone with the membership.
    let res = member
        .client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    api_error(res, StatusCode::UNAUTHORIZED).await;
}
