//! Clinic settings journeys: an admin adds a location and an appointment type (after a
//! mistake) and opens the booking policies; the front desk adds time off over a booked visit,
//! sees the visit listed and keeps it.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{harness::Browser, helpers::TEST_PASSWORD};

async fn log_in(b: &mut Browser, email: &str) {
    b.open("/login").await;
    b.fill("Email address", email).await;
    b.fill("Password", TEST_PASSWORD).await;
    b.press("Log in").await;
}

/// An admin sets up a new location and appointment type through the settings pages.
async fn an_admin_adds_a_location_and_an_appointment_type(b: &mut Browser) {
    let admin = "admin@clinic.example";
    b.app.add_user(admin, Role::Admin).await;
    log_in(b, admin).await;
    b.follow("Clinic settings").await;
    b.expect_heading("Clinic settings").await;
    b.check_accessibility("setup").await;
    b.screenshot("setup").await;

    b.follow("Locations").await;
    b.expect_heading("Locations").await;
    b.fill("Time zone", "Mars/Olympus").await;
    b.press("Add the location").await;
    b.expect_text("There is a problem").await;
    b.expect_text("Name must not be empty.").await;
    b.check_accessibility("setup-locations-errors").await;
    b.fill("Name", "Harbour Clinic").await;
    b.fill("Address", "12 Quay Street").await;
    b.fill("Time zone", "Europe/London").await;
    b.press("Add the location").await;
    b.expect_text("The location is added.").await;
    b.expect_text("Harbour Clinic").await;
    b.check_accessibility("setup-locations").await;
    b.screenshot("setup-locations").await;

    b.follow("Clinic settings").await;
    b.follow("Appointment types").await;
    b.expect_heading("Appointment types").await;
    b.tick("discipline", "physiotherapy").await;
    b.fill("Name", "Sports massage").await;
    b.fill("Length (minutes)", "45").await;
    b.fill("Time kept free after it (minutes)", "15").await;
    b.press("Add the appointment type").await;
    b.expect_text("The appointment type is added.").await;
    b.expect_text("Sports massage").await;
    b.check_accessibility("setup-types").await;
    b.screenshot("setup-types").await;

    b.follow("Clinic settings").await;
    b.follow("Booking policies").await;
    b.expect_heading("Booking policies").await;
    b.check_accessibility("setup-policies").await;
    b.screenshot("setup-policies").await;

    b.follow("Clinic settings").await;
    b.follow("Practitioners, their hours and time off").await;
    b.expect_heading("Practitioners").await;
    b.check_accessibility("setup-practitioners").await;
}
journey!(an_admin_adds_a_location_and_an_appointment_type);

/// A chiropractor working weekdays at one location, with a patient booked on Wednesday
/// 4 March at 14:00 (by the desk, on the phone).
async fn a_booked_visit(b: &Browser) {
    let app = &b.app;
    let staff = app.access_token(Role::Staff).await;
    let call = |method: Method, path: &'static str, body: Value| {
        let staff = staff.clone();
        async move {
            let response = app.send(method, path, Some(&staff), Some(body)).await;
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.json::<Value>().await.unwrap()
        }
    };
    let location = call(
        Method::POST,
        "/api/v1/locations",
        json!({"name": "Harbour Clinic", "address": "12 Quay Street", "time_zone": "Europe/London"}),
    )
    .await["id"]
        .clone();
    let user = app
        .add_user("dr.lee@clinic.example", Role::Practitioner)
        .await;
    let practitioner = call(
        Method::POST,
        "/api/v1/practitioners",
        json!({"user_id": user, "discipline": "chiropractic", "location_ids": [location]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let intervals: Vec<Value> = ["monday", "tuesday", "wednesday", "thursday", "friday"]
        .iter()
        .map(|day| json!({"weekday": day, "start": "09:00", "end": "17:00"}))
        .collect();
    let hours = app
        .send(
            Method::PUT,
            &format!("/api/v1/practitioners/{practitioner}/working-hours"),
            Some(&staff),
            Some(json!({"locations": [{"location_id": location, "intervals": intervals}]})),
        )
        .await;
    assert!(hours.status().is_success(), "{}", hours.status());
    let kind = call(
        Method::POST,
        "/api/v1/appointment-types",
        json!({"name": "Chiropractic new patient visit", "discipline": "chiropractic",
               "duration_minutes": 30, "buffer_after_minutes": 0, "new_patient": true}),
    )
    .await["id"]
        .clone();
    let (_, patient) = app.add_patient("alex@example.org").await;
    let booked = app
        .client
        .post(app.url("/api/v1/appointments"))
        .bearer_auth(&staff)
        .header("Idempotency-Key", "phone")
        .json(&json!({
            "practitioner_id": practitioner,
            "location_id": location,
            "appointment_type_id": kind,
            "patient_id": patient,
            "start": "2026-03-04T14:00:00Z",
            "override_reason": "Booked by phone.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(booked.status(), 201, "{}", booked.text().await.unwrap());
    // The booking's confirmation email is another journey's concern.
    app.expect_unsent_mail();
}

/// The desk records a practitioner's training day over a booked visit: the visit is listed
/// with its patient, nothing is added until the desk keeps it, then the time off is added.
async fn the_desk_adds_time_off_over_a_booked_visit_and_keeps_it(b: &mut Browser) {
    a_booked_visit(b).await;
    let desk = "desk@clinic.example";
    b.app.add_user(desk, Role::Staff).await;
    log_in(b, desk).await;
    b.follow("Practitioners' hours").await;
    b.expect_heading("Practitioners").await;
    b.follow("Sam Taylor").await;
    b.expect_heading("Sam Taylor").await;
    b.expect_text("No time off to come.").await;
    b.check_accessibility("setup-practitioner").await;
    b.screenshot("setup-practitioner").await;

    b.fill("First day", "2026-03-04").await;
    b.fill("From (time)", "09:00").await;
    b.fill("Last day", "2026-03-04").await;
    b.fill("Until (time)", "17:00").await;
    b.fill("Reason", "Training day").await;
    b.press("Add the time off").await;
    b.expect_text("Booked appointments fall in this time off")
        .await;
    b.expect_text("Alex Morgan").await;
    b.expect_text("Wed 4 Mar 2026, 14:00").await;
    b.expect_text("No time off to come.").await;
    b.check_accessibility("setup-practitioner-clash").await;
    b.screenshot("setup-practitioner-clash").await;

    b.press("Keep these appointments and add the time off anyway")
        .await;
    b.expect_text("the appointments in it are kept").await;
    b.expect_text("Training day").await;
    b.check_accessibility("setup-practitioner-time-off").await;
    b.screenshot("setup-practitioner-time-off").await;
}
journey!(the_desk_adds_time_off_over_a_booked_visit_and_keeps_it);
