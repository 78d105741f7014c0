//! Time off over booked appointments: refused with the appointments listed, unless the front
//! desk keeps them (audited); only the front desk and admins record time off.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    appointments::{Clinic, clinic},
    helpers::{TestApp, expect_problem},
    intakes::call_ok,
};

fn time_off(starts_at: &str, ends_at: &str) -> Value {
    json!({"starts_at": starts_at, "ends_at": ends_at, "reason": "Training"})
}

impl Clinic {
    async fn add_time_off(&self, token: &str, body: Value) -> reqwest::Response {
        let path = format!("/api/v1/practitioners/{}/time-off", self.practitioner);
        self.app
            .send(Method::POST, &path, Some(token), Some(body))
            .await
    }

    async fn booked(&self, token: &str, key: &str, body: Value) -> Value {
        let response = self.book(token, key, body).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn time_off_over_booked_appointments_is_refused_listing_them() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    // Wednesday 4 March: the patient's visit 14:00–14:45 (and 15 minutes of buffer), and
    // another patient's 10:00 visit, booked by phone and then cancelled.
    let kept = clinic
        .booked(
            &clinic.patient,
            "a",
            clinic.booking(&clinic.new_visit, "2026-03-04T14:00:00Z"),
        )
        .await;
    let (_, other) = clinic.app.add_patient("robin@example.org").await;
    let mut by_phone = clinic.booking(&clinic.new_visit, "2026-03-04T10:00:00Z");
    by_phone["patient_id"] = json!(other);
    by_phone["override_reason"] = json!("Booked by phone.");
    let cancelled = clinic.booked(&clinic.staff, "b", by_phone).await;
    let cancel = format!(
        "/api/v1/appointments/{}/cancel",
        cancelled["id"].as_str().unwrap()
    );
    call_ok(
        &clinic.app,
        Method::POST,
        &cancel,
        &clinic.staff,
        Some(json!({"reason": "Unwell"})),
    )
    .await;

    let problem = expect_problem(
        clinic
            .add_time_off(
                &clinic.staff,
                time_off("2026-03-04T09:00:00Z", "2026-03-04T17:00:00Z"),
            )
            .await,
        409,
        "time_off_clashes",
    )
    .await
    .body;
    let clashing = problem["clashing_appointments"].as_array().unwrap();
    assert_eq!(
        clashing.len(),
        1,
        "a cancelled visit does not clash: {problem}"
    );
    assert_eq!(clashing[0]["id"], kept["id"]);
    assert_eq!(clashing[0]["starts_at"], "2026-03-04T14:00:00Z");
    assert_eq!(clashing[0]["ends_at"], "2026-03-04T14:45:00Z");
    assert_eq!(clashing[0]["patient_id"], clinic.patient_id.as_str());
    assert_eq!(clashing[0]["patient_name"], "Alex Morgan");
    let mut fields: Vec<&str> = clashing[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["ends_at", "id", "patient_id", "patient_name", "starts_at"],
        "when and whose, nothing clinical"
    );
    let path = format!("/api/v1/practitioners/{}/time-off", clinic.practitioner);
    let listed = call_ok(&clinic.app, Method::GET, &path, &clinic.staff, None).await;
    assert_eq!(listed, json!([]), "nothing was recorded");

    // Saying `false` is the same as saying nothing.
    let mut unconfirmed = time_off("2026-03-04T14:30:00Z", "2026-03-04T15:00:00Z");
    unconfirmed["keep_appointments"] = json!(false);
    expect_problem(
        clinic.add_time_off(&clinic.staff, unconfirmed).await,
        409,
        "time_off_clashes",
    )
    .await;

    // From the end of the visit on (its buffer is no visit) it is free.
    let after = clinic
        .add_time_off(
            &clinic.staff,
            time_off("2026-03-04T14:45:00Z", "2026-03-04T17:00:00Z"),
        )
        .await;
    assert_eq!(after.status(), 201);
    // The cancelled visit's time is free too.
    let morning = clinic
        .add_time_off(
            &clinic.staff,
            time_off("2026-03-04T09:00:00Z", "2026-03-04T12:00:00Z"),
        )
        .await;
    assert_eq!(morning.status(), 201);
}

#[tokio::test]
async fn the_desk_may_keep_the_appointments_and_that_is_audited() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let kept = clinic
        .booked(
            &clinic.patient,
            "a",
            clinic.booking(&clinic.new_visit, "2026-03-04T14:00:00Z"),
        )
        .await;
    let mut body = time_off("2026-03-04T13:00:00Z", "2026-03-04T15:00:00Z");
    body["keep_appointments"] = json!(true);
    let admin = clinic.app.access_token(Role::Admin).await;
    // Admins keep the clinic's setup too.
    let created = clinic.add_time_off(&admin, body).await;
    assert_eq!(created.status(), 201);

    let audit = call_ok(
        &clinic.app,
        Method::GET,
        &format!("/api/v1/admin/audit?patient_id={}", clinic.patient_id),
        &admin,
        None,
    )
    .await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|entry| entry["action"] == "time_off.keeps_appointment"
                && entry["record_id"] == kept["id"]
                && entry["outcome"] == "allowed"),
        "{entries:?}"
    );
    let appointment = format!("/api/v1/appointments/{}", kept["id"].as_str().unwrap());
    let still = call_ok(&clinic.app, Method::GET, &appointment, &clinic.staff, None).await;
    assert_eq!(still["status"], "booked", "the visit is kept");
}

#[tokio::test]
async fn only_the_front_desk_and_admins_record_time_off_and_bad_input_is_a_problem() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    for token in [&clinic.patient, &practitioner] {
        let mut body = time_off("2026-03-04T13:00:00Z", "2026-03-04T15:00:00Z");
        body["keep_appointments"] = json!(true);
        expect_problem(clinic.add_time_off(token, body).await, 403, "forbidden").await;
    }
    let mut body = time_off("2026-03-04T13:00:00Z", "2026-03-04T15:00:00Z");
    body["keep_appointments"] = json!("yes");
    let response = clinic.add_time_off(&clinic.staff, body).await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}
