//! Re-enabling a disabled account: admins only, audited with the disabling.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    helpers::{TEST_PASSWORD, TestApp, expect_problem},
    intakes::call_ok,
};

async fn log_in(app: &TestApp, email: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_re_enables_a_disabled_account_and_both_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.access_token(Role::Admin).await;
    let email = "kim.desk@clinic.example";
    let id = app.add_user(email, Role::Staff).await;
    let disable = format!("/api/v1/users/{id}/disable");
    let enable = format!("/api/v1/users/{id}/enable");

    let disabled = call_ok(&app, Method::POST, &disable, &admin, None).await;
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    expect_problem(log_in(&app, email).await, 401, "invalid_credentials").await;

    let enabled = call_ok(&app, Method::POST, &enable, &admin, None).await;
    assert_eq!(enabled["id"], id.to_string());
    assert!(enabled["disabled_at"].is_null(), "{enabled}");
    assert_eq!(log_in(&app, email).await.status(), 200, "signs in again");
    let again = call_ok(&app, Method::POST, &enable, &admin, None).await;
    assert!(again["disabled_at"].is_null(), "enabling twice is harmless");

    let audit = call_ok(&app, Method::GET, "/api/v1/admin/audit", &admin, None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["record_id"] == id.to_string() && entry["outcome"] == "allowed")
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert!(actions.contains(&"user.disable"), "{actions:?}");
    assert!(actions.contains(&"user.enable"), "{actions:?}");

    let unknown = format!("/api/v1/users/{}/enable", uuid::Uuid::now_v7());
    expect_problem(
        app.send(Method::POST, &unknown, Some(&admin), None).await,
        404,
        "not_found",
    )
    .await;
    let malformed = app
        .send(
            Method::POST,
            "/api/v1/users/not-an-id/enable",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(malformed.status(), 400);
}

#[tokio::test]
async fn only_admins_re_enable_accounts() {
    let app = TestApp::spawn().await;
    let admin = app.access_token(Role::Admin).await;
    let email = "lou.desk@clinic.example";
    let id = app.add_user(email, Role::Staff).await;
    call_ok(
        &app,
        Method::POST,
        &format!("/api/v1/users/{id}/disable"),
        &admin,
        None,
    )
    .await;
    let (_, _) = app.add_patient("alex@example.org").await;
    let patient: Value = app.login("alex@example.org").await;
    let patient = patient["access_token"].as_str().unwrap().to_owned();
    let staff = app.access_token(Role::Staff).await;
    let practitioner = app.access_token(Role::Practitioner).await;
    let enable = format!("/api/v1/users/{id}/enable");
    for token in [&patient, &staff, &practitioner] {
        expect_problem(
            app.send(Method::POST, &enable, Some(token), None).await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_eq!(
        app.send(Method::POST, &enable, None, None).await.status(),
        401
    );
    expect_problem(log_in(&app, email).await, 401, "invalid_credentials").await;
}
