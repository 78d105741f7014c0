//! The front desk sees which patients the clinic's emails could not reach (dead letters): who,
//! the address, when and what kind of email, never its content; nobody else reads it here.

use entity::user::Role;
use lumbar::{
    clock::Clock,
    notify::content::{EmailContent, MessageKind},
    store::outbox::NewMessage,
};
use reqwest::Method;
use serde_json::Value;

use crate::{
    appointments::{PATIENT_EMAIL, clinic},
    helpers::{TestApp, app_with_sink, expect_problem},
    intakes::call_ok,
    smtp_sink::{Reply, SmtpSink},
};

const PATH: &str = "/api/v1/patients/unreachable";

async fn unreachable(app: &TestApp, token: &str) -> Vec<Value> {
    call_ok(app, Method::GET, PATH, token, None)
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_desk_sees_patients_whose_email_bounced_without_its_content() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let app = &clinic.app;
    app.expect_dead_letters();
    assert!(unreachable(app, &clinic.staff).await.is_empty());

    // The booking's confirmation is refused for good; so is an alert to a practitioner, which
    // is no patient's.
    let booked = clinic
        .book(
            &clinic.patient,
            "a",
            clinic.booking(&clinic.new_visit, "2026-03-04T10:00:00Z"),
        )
        .await;
    assert_eq!(booked.status(), 201);
    app.state
        .outbox
        .enqueue(
            &app.db,
            app.clock.now(),
            NewMessage::immediate(
                "dr.lee@clinic.example".into(),
                EmailContent::sample(MessageKind::ReviewNeeded),
                app.clock.now(),
            ),
        )
        .await
        .unwrap();
    sink.always(Reply::Permanent);
    let report = app.worker().run_once().await.unwrap();
    assert_eq!(report.dead, 2, "{report:?}");

    let listed = unreachable(app, &clinic.staff).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let entry = &listed[0];
    assert_eq!(entry["patient_id"], clinic.patient_id.as_str());
    assert_eq!(
        (
            entry["given_name"].as_str(),
            entry["family_name"].as_str(),
            entry["address"].as_str(),
            entry["kind"].as_str(),
        ),
        (
            Some("Alex"),
            Some("Morgan"),
            Some(PATIENT_EMAIL),
            Some("appointment_confirmed")
        )
    );
    let failed_at = chrono::DateTime::parse_from_rfc3339(entry["failed_at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    assert_eq!(failed_at, app.clock.now(), "when the worker gave up");
    let mut fields: Vec<&str> = entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "address",
            "email_id",
            "failed_at",
            "family_name",
            "given_name",
            "kind",
            "patient_id"
        ],
        "who, where, when and what kind: no content, no error text"
    );

    let admin = app.access_token(Role::Admin).await;
    let audit = call_ok(app, Method::GET, "/api/v1/admin/audit", &admin, None).await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["action"] == "patient.unreachable_list"),
        "{audit}"
    );

    // Once an admin retries it and it goes, the patient is reachable again.
    sink.always(Reply::Accept);
    let retry = format!(
        "/api/v1/admin/outbox/{}/retry",
        entry["email_id"].as_str().unwrap()
    );
    call_ok(app, Method::POST, &retry, &admin, None).await;
    app.worker().run_once().await.unwrap();
    assert!(unreachable(app, &clinic.staff).await.is_empty());
}

#[tokio::test]
async fn only_the_front_desk_reads_unreachable_patients() {
    let app = TestApp::spawn().await;
    let (_, _) = app.add_patient("alex@example.org").await;
    let patient = app.login("alex@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [
        patient,
        app.access_token(Role::Practitioner).await,
        app.access_token(Role::Admin).await,
    ] {
        expect_problem(
            app.send(Method::GET, PATH, Some(&token), None).await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_eq!(app.send(Method::GET, PATH, None, None).await.status(), 401);
    let staff = app.access_token(Role::Staff).await;
    for bad in ["?limit=0", "?limit=201", "?limit=many"] {
        let response = app
            .send(Method::GET, &format!("{PATH}{bad}"), Some(&staff), None)
            .await;
        assert!(
            response.status().is_client_error(),
            "{bad}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}

#[tokio::test]
async fn a_corrected_address_takes_the_patient_off_the_list() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    app.expect_dead_letters();
    let staff = app.access_token(Role::Staff).await;
    // A patient registered by the desk, without a login: a new address applies at once.
    let created = call_ok(
        &app,
        Method::POST,
        "/api/v1/patients",
        &staff,
        Some(
            serde_json::json!({"given_name": "Robin", "family_name": "Hart",
                                "date_of_birth": "1970-10-10", "email": "robin@exmaple.org"}),
        ),
    )
    .await;
    app.state
        .outbox
        .enqueue(
            &app.db,
            app.clock.now(),
            NewMessage::immediate(
                // As typed somewhere else: the address matches whatever its case.
                "Robin@Exmaple.org".into(),
                EmailContent::sample(MessageKind::AppointmentReminder),
                app.clock.now(),
            ),
        )
        .await
        .unwrap();
    sink.always(Reply::Permanent);
    app.worker().run_once().await.unwrap();
    let listed = unreachable(&app, &staff).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["patient_id"], created["id"]);
    assert_eq!(listed[0]["kind"], "appointment_reminder");

    let patient = format!("/api/v1/patients/{}", created["id"].as_str().unwrap());
    call_ok(
        &app,
        Method::PATCH,
        &patient,
        &staff,
        Some(serde_json::json!({"email": "robin@example.org"})),
    )
    .await;
    assert!(unreachable(&app, &staff).await.is_empty());
}
