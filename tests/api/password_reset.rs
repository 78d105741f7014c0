//! Forgot password -> emailed reset link -> new password, and changing one's password (issue 15):
//! the request never tells whether an address has an account, a link works once, for an hour,
//! and only the newest one; a new password ends every login of the account.

use chrono::Duration;
use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    helpers::{TEST_PASSWORD, TestApp, app_with_sink, expect_problem},
    smtp_sink::{ReceivedMail, SmtpSink},
};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.send(Method::POST, path, None, Some(body)).await
}

async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    post(app, "/api/v1/auth/forgot-password", json!({"email": email})).await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/reset-password",
        json!({"token": token, "password": password}),
    )
    .await
}

async fn change(app: &TestApp, access_token: &str, current: &str, new: &str) -> reqwest::Response {
    app.send(
        Method::POST,
        "/api/v1/auth/change-password",
        Some(access_token),
        Some(json!({"current_password": current, "new_password": new})),
    )
    .await
}

async fn log_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": refresh_token}),
    )
    .await
}

/// Delivers what is queued and returns every message the sink holds for `recipient`.
async fn mail_for(app: &TestApp, sink: &SmtpSink, recipient: &str) -> Vec<ReceivedMail> {
    app.worker().run_once().await.unwrap();
    sink.received()
        .into_iter()
        .filter(|mail| mail.rcpt_to.iter().any(|to| to == recipient))
        .collect()
}

/// Asks for a reset link for `email` and returns the token of the link it was sent.
async fn reset_token(app: &TestApp, sink: &SmtpSink, email: &str) -> String {
    let before = reset_mail(&mail_for(app, sink, email).await).len();
    assert_eq!(forgot(app, email).await.status(), 202);
    let mail = reset_mail(&mail_for(app, sink, email).await);
    assert_eq!(mail.len(), before + 1, "one new reset email");
    mail[before].link_token()
}

fn reset_mail(mail: &[ReceivedMail]) -> Vec<ReceivedMail> {
    mail.iter()
        .filter(|mail| mail.text().contains("/reset-password?token="))
        .cloned()
        .collect()
}

/// `(action, outcome)` of every audit entry, as an admin reads them.
async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let admin = app.access_token(Role::Admin).await;
    let response = app
        .send(
            Method::GET,
            "/api/v1/admin/audit?limit=200",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap().to_owned(),
                entry["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn count(entries: &[(String, String)], action: &str, outcome: &str) -> usize {
    entries
        .iter()
        .filter(|(a, o)| a == action && o == outcome)
        .count()
}

#[tokio::test]
async fn known_unknown_and_disabled_addresses_get_the_same_answer_and_only_a_live_account_mail() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let patient = "known.patient@example.org";
    app.add_patient(patient).await;
    let staff = "front.desk@clinic.example";
    app.add_user(staff, Role::Staff).await;
    let disabled = "gone@clinic.example";
    let disabled_id = app.add_user(disabled, Role::Practitioner).await;
    let admin = app.access_token(Role::Admin).await;
    let response = app
        .send(
            Method::POST,
            &format!("/api/v1/users/{disabled_id}/disable"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);

    let mut answers = Vec::new();
    for email in [
        patient,
        "Known.Patient@Example.org",
        "nobody@example.org",
        disabled,
        staff,
    ] {
        let response = forgot(&app, email).await;
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"].clone();
        answers.push((status, content_type, response.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 202);
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "one answer for every address: {answers:#?}"
    );

    app.worker().run_once().await.unwrap();
    let mut recipients: Vec<String> = sink
        .received()
        .iter()
        .flat_map(|mail| mail.rcpt_to.clone())
        .collect();
    recipients.sort();
    // The patient asked twice (the address in another case), and the front desk once.
    assert_eq!(recipients, [staff, patient, patient]);
    let mail = mail_for(&app, &sink, patient).await;
    let text = mail[0].text();
    assert!(text.contains("Hello Alex,"), "{text}");
    assert!(text.contains("/reset-password?token="), "{text}");
    assert!(text.contains("works for 1 hour"), "{text}");

    let entries = audit_actions(&app).await;
    assert_eq!(count(&entries, "password_reset.request", "allowed"), 3);
    assert_eq!(count(&entries, "password_reset.request", "denied"), 2);
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_login() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let email = "alex@example.org";
    app.add_patient(email).await;
    let tokens = app.login(email).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    let token = reset_token(&app, &sink, email).await;
    // Asking does not change anything yet.
    assert_eq!(log_in(&app, email, TEST_PASSWORD).await.status(), 200);

    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204);
    expect_problem(
        reset(&app, &token, "yet another passphrase").await,
        400,
        "invalid_token",
    )
    .await;

    expect_problem(
        log_in(&app, email, TEST_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(log_in(&app, email, NEW_PASSWORD).await.status(), 200);
    expect_problem(
        refresh(&app, refresh_token).await,
        401,
        "invalid_refresh_token",
    )
    .await;

    let entries = audit_actions(&app).await;
    assert_eq!(count(&entries, "password_reset", "allowed"), 1);
}

#[tokio::test]
async fn a_reset_link_works_for_an_hour() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let email = "sam@clinic.example";
    app.add_user(email, Role::Practitioner).await;

    let token = reset_token(&app, &sink, email).await;
    app.clock.advance(Duration::minutes(59));
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204);

    let token = reset_token(&app, &sink, email).await;
    app.clock.advance(Duration::hours(1));
    expect_problem(
        reset(&app, &token, "too late a passphrase").await,
        400,
        "invalid_token",
    )
    .await;
    assert_eq!(log_in(&app, email, NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn only_the_newest_link_works() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let email = "alex@example.org";
    app.add_patient(email).await;

    let older = reset_token(&app, &sink, email).await;
    let newer = reset_token(&app, &sink, email).await;
    assert_ne!(older, newer);
    expect_problem(
        reset(&app, &older, NEW_PASSWORD).await,
        400,
        "invalid_token",
    )
    .await;
    assert_eq!(reset(&app, &newer, NEW_PASSWORD).await.status(), 204);
    assert_eq!(log_in(&app, email, NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_weak_password_or_a_wrong_token_is_refused_and_the_link_keeps_working() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let email = "alex@example.org";
    app.add_patient(email).await;
    let token = reset_token(&app, &sink, email).await;

    let problem = expect_problem(reset(&app, &token, "short").await, 422, "invalid_body").await;
    assert_eq!(problem.body["errors"][0]["field"], "password");
    assert_eq!(problem.body["errors"][0]["code"], "too_short");

    let tampered = format!("{token}x");
    for wrong in ["never-issued", tampered.as_str()] {
        expect_problem(reset(&app, wrong, NEW_PASSWORD).await, 400, "invalid_token").await;
    }
    // A link of another kind is no reset link.
    let verification = lumbar::store::account_tokens::issue(
        &app.db,
        app.clock.now(),
        entity::account_token::Purpose::VerifyEmail,
        lumbar::store::account_tokens::Subject::User(
            lumbar::store::users::find_by_email(&app.db, email)
                .await
                .unwrap()
                .unwrap()
                .id,
        ),
        Duration::hours(24),
    )
    .await
    .unwrap();
    expect_problem(
        reset(&app, &verification, NEW_PASSWORD).await,
        400,
        "invalid_token",
    )
    .await;

    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204);
}

#[tokio::test]
async fn a_link_stops_working_when_its_account_is_disabled() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let email = "kim@clinic.example";
    let user = app.add_user(email, Role::Staff).await;
    let token = reset_token(&app, &sink, email).await;

    let admin = app.access_token(Role::Admin).await;
    let disabled = app
        .send(
            Method::POST,
            &format!("/api/v1/users/{user}/disable"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(disabled.status(), 200);
    expect_problem(
        reset(&app, &token, NEW_PASSWORD).await,
        400,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn a_reset_confirms_the_address_and_lifts_the_login_throttle() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;

    // Registered, never confirmed: the reset link proves the address as well.
    let email = "jordan@example.org";
    let registered = post(
        &app,
        "/api/v1/auth/register",
        json!({"given_name": "Jordan", "family_name": "Reyes", "email": email,
               "date_of_birth": "1979-03-14", "password": "my first passphrase"}),
    )
    .await;
    assert_eq!(registered.status(), 202);
    expect_problem(
        log_in(&app, email, "my first passphrase").await,
        403,
        "email_not_verified",
    )
    .await;
    let token = reset_token(&app, &sink, email).await;
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204);
    assert_eq!(log_in(&app, email, NEW_PASSWORD).await.status(), 200);

    // Locked out by wrong guesses: the owner who resets can log in at once.
    let email = "sam@clinic.example";
    app.add_user(email, Role::Staff).await;
    for _ in 0..4 {
        expect_problem(
            log_in(&app, email, "a wrong guess!").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    expect_problem(
        log_in(&app, email, TEST_PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    let token = reset_token(&app, &sink, email).await;
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204);
    assert_eq!(log_in(&app, email, NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn changing_a_password_needs_the_current_one_and_ends_every_login() {
    let app = TestApp::spawn().await;
    let email = "alex@example.org";
    app.add_patient(email).await;
    let tokens = app.login(email).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let other = app.login(email).await;

    let problem = expect_problem(
        change(&app, access_token, "not my password", NEW_PASSWORD).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.body["errors"][0]["field"], "current_password");
    assert_eq!(problem.body["errors"][0]["code"], "wrong_password");

    let problem = expect_problem(
        change(&app, access_token, TEST_PASSWORD, "short").await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(problem.body["errors"][0]["field"], "new_password");
    assert_eq!(problem.body["errors"][0]["code"], "too_short");

    let anonymous = post(
        &app,
        "/api/v1/auth/change-password",
        json!({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    expect_problem(anonymous, 401, "unauthorized").await;

    // Nothing was changed by the refusals.
    assert_eq!(log_in(&app, email, TEST_PASSWORD).await.status(), 200);

    let changed = change(&app, access_token, TEST_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), 204);

    // Every login ends: this one's refresh token and any other's.
    for refresh_token in [refresh_token, other["refresh_token"].as_str().unwrap()] {
        expect_problem(
            refresh(&app, refresh_token).await,
            401,
            "invalid_refresh_token",
        )
        .await;
    }
    // The access token in hand keeps working until it expires (15 minutes at most).
    let me = app
        .send(Method::GET, "/api/v1/auth/me", Some(access_token), None)
        .await;
    assert_eq!(me.status(), 200);

    expect_problem(
        log_in(&app, email, TEST_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(log_in(&app, email, NEW_PASSWORD).await.status(), 200);

    let entries = audit_actions(&app).await;
    assert_eq!(count(&entries, "password_change", "allowed"), 1);
    assert_eq!(count(&entries, "password_change", "denied"), 1);
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_logins() {
    let app = TestApp::spawn().await;
    let email = "kim@clinic.example";
    app.add_user(email, Role::Staff).await;
    let access_token = app.login(email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Three free failures, the fourth blocks the account for a second.
    for _ in 0..4 {
        expect_problem(
            change(&app, &access_token, "a wrong guess!", NEW_PASSWORD).await,
            422,
            "validation_failed",
        )
        .await;
    }
    expect_problem(
        change(&app, &access_token, TEST_PASSWORD, NEW_PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    expect_problem(
        log_in(&app, email, TEST_PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;

    app.clock.advance(Duration::seconds(2));
    let changed = change(&app, &access_token, TEST_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), 204);
    assert_eq!(log_in(&app, email, NEW_PASSWORD).await.status(), 200);
}
