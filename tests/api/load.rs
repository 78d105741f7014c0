//! Holding up under concurrency and faults (issue 14): login throttling that concurrent
//! guesses cannot outrun, password hashing that sheds load with 503 `busy` instead of growing
//! without bound, and a database outage answered with 503 `database_unavailable`.

use std::net::{IpAddr, Ipv4Addr};

use chrono::Duration;
use entity::user::Role;
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::json;

use crate::helpers::{TEST_PASSWORD, TestApp, TestBackend, expect_problem, header};

/// A client whose connections come from `127.0.0.<n>`, so the server sees its own address.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

async fn login_from(app: &TestApp, n: u8, email: &str, password: &str) -> reqwest::Response {
    client_from(n)
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Statuses and codes of `responses`, sorted, as `status code` strings.
async fn outcomes(responses: Vec<reqwest::Response>) -> Vec<String> {
    let mut outcomes = Vec::new();
    for response in responses {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        outcomes.push(format!("{status} {}", body["code"].as_str().unwrap_or("")));
    }
    outcomes.sort();
    outcomes
}

async fn failures_of(app: &TestApp, key: &str) -> Option<i32> {
    entity::login_throttle::Entity::find_by_id(key.to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .map(|row| row.failures)
}

/// Twelve wrong passwords at once, from twelve addresses: the promise of 3 free failures holds
/// (the fourth is checked, and its failure blocks), nothing is a 500, and every failure counts.
#[tokio::test]
async fn concurrent_wrong_passwords_check_no_more_than_the_free_failures_allow() {
    let app = TestApp::spawn().await;
    app.add_user("sam@clinic.example", Role::Staff).await;

    let guesses = (0..12u8).map(|n| login_from(&app, 10 + n, "sam@clinic.example", "wrong guess!"));
    let outcomes = outcomes(join_all(guesses).await).await;

    let mut expected = vec!["401 invalid_credentials".to_owned(); 4];
    expected.extend(vec!["429 too_many_attempts".to_owned(); 8]);
    assert_eq!(outcomes, expected);
    assert_eq!(
        failures_of(&app, "account:sam@clinic.example").await,
        Some(4)
    );
    // The refused guesses were given back: each address counted only a checked one.
    let mut counted = 0;
    for n in 0..12u8 {
        counted += failures_of(&app, &format!("address:127.0.0.{}", 10 + n))
            .await
            .unwrap_or(0);
    }
    assert_eq!(counted, 4);

    // The fourth failure blocks for a second, even the right password.
    expect_problem(
        login_from(&app, 30, "sam@clinic.example", TEST_PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    app.clock.advance(Duration::seconds(2));
    assert_eq!(
        login_from(&app, 30, "sam@clinic.example", TEST_PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(failures_of(&app, "account:sam@clinic.example").await, None);
}

/// Right passwords at once from one address do not count against it once they succeed.
#[tokio::test]
async fn concurrent_successful_logins_leave_no_failures_behind() {
    let app = TestApp::spawn().await;
    let emails: Vec<String> = (0..6).map(|n| format!("desk{n}@clinic.example")).collect();
    for email in &emails {
        app.add_user(email, Role::Staff).await;
    }
    let logins = emails
        .iter()
        .map(|email| login_from(&app, 40, email, TEST_PASSWORD));
    let outcomes = outcomes(join_all(logins).await).await;
    assert_eq!(outcomes, vec!["200 ".to_owned(); 6]);
    assert_eq!(failures_of(&app, "address:127.0.0.40").await, Some(0));
}

/// With every hashing worker busy and the queue full, a login is a 503 `busy` with
/// `Retry-After`, never a 500 and never an unbounded wait; the refused attempt is not counted.
#[tokio::test]
async fn logins_beyond_the_hashing_queue_are_503_busy_with_retry_after() {
    let app = TestApp::builder()
        .args(["--password-workers", "1", "--password-queue", "0"])
        .spawn()
        .await;

    let logins = (0..40u8).map(|n| {
        let email = format!("nobody{n}@clinic.example");
        let app = &app;
        async move {
            let response = login_from(app, 50 + n, &email, "wrong guess!").await;
            let retry_after = header(&response, "retry-after");
            (
                response.status().as_u16(),
                retry_after,
                response.text().await.unwrap(),
            )
        }
    });
    let results = join_all(logins).await;
    let busy: Vec<_> = results
        .iter()
        .filter(|(status, ..)| *status == 503)
        .collect();
    assert!(
        results
            .iter()
            .all(|(status, ..)| matches!(status, 401 | 503)),
        "{results:?}"
    );
    assert!(
        !busy.is_empty(),
        "one worker and no queue refuse some of 40"
    );
    assert!(results.iter().any(|(status, ..)| *status == 401));
    for (_, retry_after, body) in busy {
        assert_eq!(retry_after, "1", "{body}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], "busy");
    }
    // A shed attempt was never checked, so it does not count as a failure.
    for (n, (status, ..)) in results.iter().enumerate() {
        let key = format!("account:nobody{n}@clinic.example");
        let expected = if *status == 401 { Some(1) } else { Some(0) };
        assert_eq!(failures_of(&app, &key).await, expected, "{key}");
    }
}

/// PostgreSQL going away as it does when stopped: every open connection is terminated
/// (SQLSTATE 57P01) and new ones are refused. Registering, logging in, a write and a read each
/// answer 503 `database_unavailable` with `Retry-After`, and work again once it is back.
#[tokio::test]
async fn a_stopped_postgres_is_503_everywhere_and_service_resumes() {
    if TestBackend::from_env() != TestBackend::Postgres {
        return;
    }
    let app = TestApp::spawn().await;
    let staff = app.access_token(Role::Staff).await;
    let name = app.database_name().unwrap();
    let admin = sea_orm::Database::connect(app.postgres_admin_url().unwrap())
        .await
        .unwrap();
    let cut_off = |allow: bool| format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {allow}");
    admin.execute_unprepared(&cut_off(false)).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();

    let register = json!({
        "given_name": "Alex", "family_name": "Morgan", "email": "alex@example.org",
        "date_of_birth": "1980-05-17", "password": "a long enough password"
    });
    let patient = json!({"given_name": "Sam", "family_name": "Lee", "date_of_birth": "1990-01-01"});
    let login = json!({"email": "alex@example.org", "password": "a long enough password"});
    let calls = [
        ("/api/v1/auth/register", None, Some(register.clone())),
        ("/api/v1/auth/login", None, Some(login)),
        (
            "/api/v1/patients",
            Some(staff.as_str()),
            Some(patient.clone()),
        ),
        ("/api/v1/patients", Some(staff.as_str()), None),
    ];
    // Twice round: the first finds the terminated connections, the second no connection.
    for _ in 0..2 {
        for (path, token, body) in &calls {
            let method = if body.is_some() {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            let response = app.send(method, path, *token, body.clone()).await;
            let retry_after = header(&response, "retry-after");
            expect_problem(response, 503, "database_unavailable").await;
            assert_eq!(retry_after, "5", "{path}");
        }
    }

    admin.execute_unprepared(&cut_off(true)).await.unwrap();
    admin.close().await.unwrap();
    let response = app
        .send(
            reqwest::Method::POST,
            "/api/v1/auth/register",
            None,
            Some(register),
        )
        .await;
    assert_eq!(response.status(), 202);
    let response = app
        .send(
            reqwest::Method::POST,
            "/api/v1/patients",
            Some(&staff),
            Some(patient),
        )
        .await;
    assert_eq!(response.status(), 201);
    app.worker().run_once().await.unwrap();
}
