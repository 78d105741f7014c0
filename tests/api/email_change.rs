//! A patient's new email address is used only once a link sent to it is confirmed: until then
//! login and every email stay with the confirmed address (issue 14).

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    appointments::{PATIENT_EMAIL, clinic},
    helpers::{TEST_PASSWORD, TestApp, app_with_sink, expect_problem},
    intakes::call_ok,
    smtp_sink::{ReceivedMail, SmtpSink},
};

const NEW_EMAIL: &str = "alex.new@example.org";

/// Delivers what is due and returns, per recipient, what arrived since the last call.
async fn delivered(app: &TestApp, sink: &SmtpSink, seen: &mut usize) -> Vec<ReceivedMail> {
    app.worker().run_once().await.unwrap();
    let all = sink.received();
    let new = all[*seen..].to_vec();
    *seen = all.len();
    new
}

fn to(mail: &[ReceivedMail], recipient: &str) -> Vec<ReceivedMail> {
    mail.iter()
        .filter(|mail| mail.rcpt_to.iter().any(|to| to == recipient))
        .cloned()
        .collect()
}

async fn log_in(app: &TestApp, email: &str) -> reqwest::Response {
    app.send(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": TEST_PASSWORD})),
    )
    .await
}

async fn confirm(app: &TestApp, token: &str) -> reqwest::Response {
    app.send(
        Method::POST,
        "/api/v1/auth/confirm-email",
        None,
        Some(json!({"token": token})),
    )
    .await
}

#[tokio::test]
async fn a_new_address_is_used_only_after_its_link_is_confirmed() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let app = &clinic.app;
    let record_path = format!("/api/v1/patients/{}", clinic.patient_id);
    let mut seen = 0;
    delivered(app, &sink, &mut seen).await;

    let changed = call_ok(
        app,
        Method::PATCH,
        &record_path,
        &clinic.patient,
        Some(json!({"email": "Alex.New@Example.org"})),
    )
    .await;
    assert_eq!(changed["email"], PATIENT_EMAIL, "the old address stays");
    assert_eq!(changed["pending_email"], NEW_EMAIL);

    let mail = delivered(app, &sink, &mut seen).await;
    let confirmation = to(&mail, NEW_EMAIL);
    assert_eq!(confirmation.len(), 1, "a link to the new address");
    assert!(confirmation[0].text().contains("/confirm-email?token="));
    let notice = to(&mail, PATIENT_EMAIL);
    assert_eq!(notice.len(), 1, "the old address is told");
    assert!(
        !notice[0].text().contains("token="),
        "the notice carries no link that confirms"
    );
    let token = confirmation[0].link_token();

    // Until confirmed, mail goes to the old address and login needs it.
    let booked = clinic
        .book(
            &clinic.patient,
            "before-confirming",
            clinic.booking(&clinic.new_visit, "2026-03-04T09:00:00Z"),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let booked: Value = booked.json().await.unwrap();
    let mail = delivered(app, &sink, &mut seen).await;
    assert_eq!(to(&mail, PATIENT_EMAIL).len(), 1, "confirmation to the old");
    assert!(
        to(&mail, NEW_EMAIL).is_empty(),
        "nothing to the unconfirmed"
    );
    expect_problem(log_in(app, NEW_EMAIL).await, 401, "invalid_credentials").await;
    assert_eq!(log_in(app, PATIENT_EMAIL).await.status(), 200);

    assert_eq!(confirm(app, &token).await.status(), 204);
    expect_problem(confirm(app, &token).await, 400, "invalid_token").await;

    let record = call_ok(app, Method::GET, &record_path, &clinic.patient, None).await;
    assert_eq!(record["email"], NEW_EMAIL);
    assert!(record.get("pending_email").is_none(), "{record}");
    assert_eq!(log_in(app, NEW_EMAIL).await.status(), 200);
    expect_problem(log_in(app, PATIENT_EMAIL).await, 401, "invalid_credentials").await;

    // And the next email goes to the new address.
    let id = booked["id"].as_str().unwrap();
    let cancelled = clinic
        .post(
            &clinic.patient,
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(json!({"reason": "Feeling better"})),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let mail = delivered(app, &sink, &mut seen).await;
    assert_eq!(to(&mail, NEW_EMAIL).len(), 1, "cancellation to the new");
    assert!(to(&mail, PATIENT_EMAIL).is_empty());
}

#[tokio::test]
async fn an_address_is_kept_removed_or_changed_by_the_rules_of_its_record() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let desk = app.access_token(Role::Staff).await;
    let (_, patient_id) = app.add_patient("kim@example.org").await;
    let patient = app.login("kim@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/patients/{patient_id}");

    // A patient who logs in cannot be left without an address.
    let removed = app
        .send(
            Method::PATCH,
            &path,
            Some(&patient),
            Some(json!({"email": null})),
        )
        .await;
    let problem = expect_problem(removed, 422, "validation_failed").await;
    assert_eq!(problem.body["errors"][0]["field"], "email");
    assert_eq!(problem.body["errors"][0]["code"], "required_for_login");

    // The front desk's change of a login's address waits for the patient too.
    let mut seen = 0;
    let changed = call_ok(
        &app,
        Method::PATCH,
        &path,
        &desk,
        Some(json!({"email": "kim.typo@example.org"})),
    )
    .await;
    assert_eq!(changed["email"], "kim@example.org");
    assert_eq!(changed["pending_email"], "kim.typo@example.org");
    let mail = delivered(&app, &sink, &mut seen).await;
    let token = to(&mail, "kim.typo@example.org")[0].link_token();

    // Setting the address back withdraws the change and its link.
    let back = call_ok(
        &app,
        Method::PATCH,
        &path,
        &patient,
        Some(json!({"email": "kim@example.org"})),
    )
    .await;
    assert!(back.get("pending_email").is_none(), "{back}");
    expect_problem(confirm(&app, &token).await, 400, "invalid_token").await;
    assert_eq!(log_in(&app, "kim@example.org").await.status(), 200);

    // A record without a login takes a new address at once.
    let created = call_ok(
        &app,
        Method::POST,
        "/api/v1/patients",
        &desk,
        Some(json!({"given_name": "Lou", "family_name": "Park",
                    "date_of_birth": "1970-01-01", "email": "lou@example.org"})),
    )
    .await;
    let lou = format!("/api/v1/patients/{}", created["id"].as_str().unwrap());
    let lou = call_ok(
        &app,
        Method::PATCH,
        &lou,
        &desk,
        Some(json!({"email": "lou.park@example.org"})),
    )
    .await;
    assert_eq!(lou["email"], "lou.park@example.org");
    assert!(lou.get("pending_email").is_none(), "{lou}");
}

#[tokio::test]
async fn an_address_another_account_took_meanwhile_cannot_be_confirmed() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let (_, patient_id) = app.add_patient("ren@example.org").await;
    let patient = app.login("ren@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    call_ok(
        &app,
        Method::PATCH,
        &format!("/api/v1/patients/{patient_id}"),
        &patient,
        Some(json!({"email": "shared@example.org"})),
    )
    .await;
    let mut seen = 0;
    let mail = delivered(&app, &sink, &mut seen).await;
    let token = to(&mail, "shared@example.org")[0].link_token();
    app.add_user("shared@example.org", Role::Patient).await;

    expect_problem(confirm(&app, &token).await, 409, "email_taken").await;
    assert_eq!(log_in(&app, "ren@example.org").await.status(), 200);
    assert_eq!(
        log_in(&app, "shared@example.org").await.status(),
        200,
        "the other account is untouched"
    );
}
