//! Editing, deactivating and reactivating locations, appointment types and practitioners:
//! a deactivated one is not offered or booked, while its appointments stay and show.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    appointments::{Clinic, clinic},
    helpers::{TestApp, expect_problem},
    intakes::call_ok,
    practitioners::location,
};

/// Wednesday and Thursday of the first week.
const FROM: &str = "2026-03-04";
const TO: &str = "2026-03-05";

impl Clinic {
    async fn patch(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.app
            .send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// The patient's new visit on Wednesday at 10:00; returns its id.
    async fn booked_visit(&self) -> String {
        let response = self
            .book(
                &self.patient,
                "first",
                self.booking(&self.new_visit, "2026-03-04T10:00:00Z"),
            )
            .await;
        assert_eq!(response.status(), 201);
        let booked: Value = response.json().await.unwrap();
        booked["id"].as_str().unwrap().to_owned()
    }

    /// The visit still shows, booked, to the patient and the front desk.
    async fn still_shows(&self, appointment: &str) {
        let path = format!("/api/v1/appointments/{appointment}");
        for token in [&self.patient, &self.staff] {
            let shown = call_ok(&self.app, Method::GET, &path, token, None).await;
            assert_eq!(shown["status"], "booked", "{shown}");
        }
    }

    /// A booking the patient tries on Thursday at 10:00.
    async fn try_thursday(&self, kind: &str) -> reqwest::Response {
        self.book(
            &self.patient,
            &uuid::Uuid::now_v7().to_string(),
            self.booking(kind, "2026-03-05T10:00:00Z"),
        )
        .await
    }
}

fn field_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["field"].as_str().unwrap().to_owned(),
                error["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_deactivated_location_offers_nothing_and_its_appointments_stay() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let visit = clinic.booked_visit().await;
    let path = format!("/api/v1/locations/{}", clinic.location);

    let changed = clinic
        .patch(
            &clinic.staff,
            &path,
            json!({"name": "  Old Town Clinic ", "active": false}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["name"], "Old Town Clinic");
    assert_eq!(changed["address"], "1 Main St", "what is not given stays");
    assert_eq!(changed["time_zone"], "Europe/London");
    assert_eq!(changed["active"], false);
    let listed = call_ok(
        &clinic.app,
        Method::GET,
        "/api/v1/locations",
        &clinic.patient,
        None,
    )
    .await;
    assert_eq!(listed[0]["active"], false, "still listed, as inactive");

    let slots = clinic
        .slots(&clinic.patient, &clinic.follow_up, FROM, TO)
        .await;
    assert!(slots.is_empty(), "nothing offered there: {slots:?}");
    let problem = expect_problem(
        clinic.try_thursday(&clinic.follow_up).await,
        422,
        "validation_failed",
    )
    .await
    .body;
    assert_eq!(
        field_codes(&problem),
        [("location_id".to_owned(), "location_inactive".to_owned())]
    );
    clinic.still_shows(&visit).await;

    let back = clinic
        .patch(&clinic.staff, &path, json!({"active": true}))
        .await;
    assert_eq!(back.status(), 200);
    assert!(
        !clinic
            .slots(&clinic.patient, &clinic.follow_up, FROM, TO)
            .await
            .is_empty(),
        "offered again"
    );
    // The zone is fixed once created.
    let zone = clinic
        .patch(&clinic.staff, &path, json!({"time_zone": "Europe/Paris"}))
        .await;
    assert!(zone.status().is_client_error(), "{}", zone.status());
    assert_eq!(zone.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn a_deactivated_appointment_type_is_not_offered_and_edits_are_validated() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let visit = clinic.booked_visit().await;
    let path = format!("/api/v1/appointment-types/{}", clinic.new_visit);

    // Off the 15-minute grid: refused as on create.
    let problem = expect_problem(
        clinic
            .patch(&clinic.staff, &path, json!({"duration_minutes": 50}))
            .await,
        422,
        "validation_failed",
    )
    .await
    .body;
    assert_eq!(field_codes(&problem)[0].0, "duration_minutes");
    expect_problem(
        clinic
            .patch(&clinic.staff, &path, json!({"name": "   "}))
            .await,
        422,
        "invalid_body",
    )
    .await;
    let out_of_range = clinic
        .patch(&clinic.staff, &path, json!({"buffer_after_minutes": -5}))
        .await;
    assert!(out_of_range.status().is_client_error());

    let admin = clinic.app.access_token(Role::Admin).await;
    let changed = clinic
        .patch(
            &admin,
            &path,
            json!({"name": "Long first visit", "duration_minutes": 60}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        (
            changed["name"].as_str(),
            changed["duration_minutes"].as_i64(),
            changed["buffer_after_minutes"].as_i64(),
            changed["discipline"].as_str(),
            changed["active"].as_bool(),
        ),
        (
            Some("Long first visit"),
            Some(60),
            Some(15),
            Some("chiropractic"),
            Some(true)
        )
    );

    let retired = clinic
        .patch(&clinic.staff, &path, json!({"active": false}))
        .await;
    assert_eq!(retired.status(), 200);
    let availability = clinic
        .app
        .send(
            Method::GET,
            &format!(
                "/api/v1/availability?appointment_type_id={}&from={FROM}&to={TO}",
                clinic.new_visit
            ),
            Some(&clinic.patient),
            None,
        )
        .await;
    let problem = expect_problem(availability, 422, "validation_failed")
        .await
        .body;
    assert_eq!(field_codes(&problem)[0].1, "inactive");
    let problem = expect_problem(
        clinic.try_thursday(&clinic.new_visit).await,
        422,
        "validation_failed",
    )
    .await
    .body;
    assert_eq!(field_codes(&problem)[0].1, "inactive");
    clinic.still_shows(&visit).await;
    let types = call_ok(
        &clinic.app,
        Method::GET,
        "/api/v1/appointment-types",
        &clinic.patient,
        None,
    )
    .await;
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|kind| kind["id"] == clinic.new_visit.as_str() && kind["active"] == false),
        "{types}"
    );
}

#[tokio::test]
async fn a_deactivated_practitioner_takes_no_bookings_and_keeps_their_appointments() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let visit = clinic.booked_visit().await;
    let path = format!("/api/v1/practitioners/{}", clinic.practitioner);

    let changed = clinic
        .patch(&clinic.staff, &path, json!({"active": false}))
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["active"], false);
    assert_eq!(changed["location_ids"], json!([clinic.location]));
    assert!(
        clinic
            .slots(&clinic.patient, &clinic.follow_up, FROM, TO)
            .await
            .is_empty()
    );
    let problem = expect_problem(
        clinic.try_thursday(&clinic.follow_up).await,
        422,
        "validation_failed",
    )
    .await
    .body;
    assert_eq!(
        field_codes(&problem),
        [(
            "practitioner_id".to_owned(),
            "practitioner_inactive".to_owned()
        )]
    );
    clinic.still_shows(&visit).await;
    let day = call_ok(
        &clinic.app,
        Method::GET,
        &format!(
            "/api/v1/appointments?location_id={}&date=2026-03-04",
            clinic.location
        ),
        &clinic.staff,
        None,
    )
    .await;
    assert!(
        day.to_string().contains(&visit),
        "the desk's day list: {day}"
    );

    let back = clinic
        .patch(&clinic.staff, &path, json!({"active": true}))
        .await;
    assert_eq!(back.status(), 200);
    assert!(
        !clinic
            .slots(&clinic.patient, &clinic.follow_up, FROM, TO)
            .await
            .is_empty()
    );

    // Moving them to another location takes their hours at the old one away.
    let elsewhere = location(&clinic.app, &clinic.staff, "Europe/Dublin").await;
    let unknown = uuid::Uuid::now_v7();
    let problem = expect_problem(
        clinic
            .patch(
                &clinic.staff,
                &path,
                json!({"location_ids": [elsewhere, unknown]}),
            )
            .await,
        422,
        "validation_failed",
    )
    .await
    .body;
    assert_eq!(field_codes(&problem)[0].0, "location_ids[1]");
    let moved = clinic
        .patch(&clinic.staff, &path, json!({"location_ids": [elsewhere]}))
        .await;
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(moved["location_ids"], json!([elsewhere]));
    let hours = call_ok(
        &clinic.app,
        Method::GET,
        &format!("{path}/working-hours"),
        &clinic.staff,
        None,
    )
    .await;
    assert_eq!(hours["locations"], json!([]));
    let empty = clinic
        .patch(&clinic.staff, &path, json!({"location_ids": []}))
        .await;
    assert!(empty.status().is_client_error());

    // A disabled account is not taken back onto the booking list.
    let user_id = moved["user_id"].as_str().unwrap();
    let admin = clinic.app.access_token(Role::Admin).await;
    call_ok(
        &clinic.app,
        Method::POST,
        &format!("/api/v1/users/{user_id}/disable"),
        &admin,
        None,
    )
    .await;
    expect_problem(
        clinic.patch(&admin, &path, json!({"active": true})).await,
        409,
        "account_disabled",
    )
    .await;
}

#[tokio::test]
async fn only_the_front_desk_and_admins_edit_the_clinic_setup() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    let paths = [
        format!("/api/v1/locations/{}", clinic.location),
        format!("/api/v1/appointment-types/{}", clinic.follow_up),
        format!("/api/v1/practitioners/{}", clinic.practitioner),
    ];
    for path in &paths {
        for token in [&clinic.patient, &practitioner] {
            expect_problem(
                clinic.patch(token, path, json!({"active": false})).await,
                403,
                "forbidden",
            )
            .await;
        }
        let anonymous = clinic
            .app
            .send(Method::PATCH, path, None, Some(json!({"active": false})))
            .await;
        assert_eq!(anonymous.status(), 401);
        let unknown =
            path.rsplit_once('/').unwrap().0.to_owned() + "/" + &uuid::Uuid::now_v7().to_string();
        expect_problem(
            clinic
                .patch(&clinic.staff, &unknown, json!({"active": false}))
                .await,
            404,
            "not_found",
        )
        .await;
        let odd = clinic
            .patch(&clinic.staff, path, json!({"colour": "blue"}))
            .await;
        assert!(odd.status().is_client_error(), "{path}: {}", odd.status());
    }
    // Nothing was changed by the refused calls.
    assert!(
        !clinic
            .slots(&clinic.patient, &clinic.follow_up, FROM, TO)
            .await
            .is_empty()
    );
}
