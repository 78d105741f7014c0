use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestBackend, expect_problem, test_epoch};

#[tokio::test]
async fn healthz_reports_ok_with_the_injected_clock() {
    let app = TestApp::spawn().await;

    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        body["time"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        test_epoch()
    );

    app.clock.advance(Duration::hours(36));
    let body: Value = app.get("/healthz").await.json().await.unwrap();
    let time: chrono::DateTime<chrono::Utc> = body["time"].as_str().unwrap().parse().unwrap();
    assert_eq!(time, test_epoch() + Duration::hours(36));
}

#[tokio::test]
async fn readyz_checks_the_database_in_use() {
    let app = TestApp::spawn().await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], TestBackend::from_env().name());
}

#[tokio::test]
async fn readyz_is_a_503_problem_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    // Closing the server's own pool makes every query fail, as an unreachable database would.
    app.db.close_by_ref().await.unwrap();

    let problem = expect_problem(app.get("/readyz").await, 503, "database_unavailable").await;
    assert_eq!(problem.body["instance"], "/readyz");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// With the database unreachable, a use case answers 503 `database_unavailable` (retry
/// later), not 500: for a signed-in caller, an anonymous one, a read and a write.
#[tokio::test]
async fn a_use_case_is_a_503_problem_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    let staff = app.access_token(entity::user::Role::Staff).await;
    app.db.close_by_ref().await.unwrap();

    let register = json!({
        "given_name": "Alex", "family_name": "Morgan", "email": "alex@example.org",
        "date_of_birth": "1980-05-17", "password": "a long enough password"
    });
    let patient = json!({"given_name": "Sam", "family_name": "Lee", "date_of_birth": "1990-01-01"});
    let calls = [
        (
            reqwest::Method::POST,
            "/api/v1/auth/register",
            None,
            Some(register),
        ),
        (
            reqwest::Method::GET,
            "/api/v1/patients",
            Some(staff.as_str()),
            None,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/patients",
            Some(staff.as_str()),
            Some(patient),
        ),
        (
            reqwest::Method::GET,
            "/api/v1/locations",
            Some(staff.as_str()),
            None,
        ),
    ];
    for (method, path, token, body) in calls {
        let response = app.send(method, path, token, body).await;
        expect_problem(response, 503, "database_unavailable").await;
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_reuses_a_sane_incoming_one() {
    let app = TestApp::spawn().await;

    let first = app.get("/healthz").await;
    let second = app.get("/healthz").await;
    let id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(!id(&first).is_empty());
    assert_ne!(id(&first), id(&second), "each request gets its own id");

    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "proxy-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(id(&echoed), "proxy-abc.123");

    let replaced = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    assert_ne!(id(&replaced), "<script>alert(1)</script>");
    assert!(!id(&replaced).is_empty());
}

#[tokio::test]
async fn shutdown_finishes_cleanly() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let address = app.address.clone();
    app.shutdown()
        .await
        .expect("the server stops without error");
    let after = reqwest::get(format!("{address}/healthz")).await;
    assert!(after.is_err(), "nothing listens after shutdown");
}
