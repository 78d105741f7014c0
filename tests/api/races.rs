//! Writes racing each other for the same times, as many clients at once would: every loser is
//! answered `409 slot_taken` (PostgreSQL's deadlocks between exclusion-constraint checks are
//! retried, never a 500), and no two appointments overlap.

use chrono::{Duration, NaiveDate};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    appointments::{Clinic, WEEKDAYS, appointment_type, clinic, set_hours},
    helpers::TestApp,
    practitioners::practitioner,
};

/// Patient records without accounts or email (phone bookings): no mail to deliver.
async fn records(clinic: &Clinic, count: usize) -> Vec<Uuid> {
    use lumbar::clock::Clock;
    let mut ids = Vec::new();
    for n in 0..count {
        let record = lumbar::store::patients::create(
            &clinic.app.db,
            clinic.app.clock.now(),
            lumbar::store::patients::NewPatient {
                user_id: None,
                given_name: format!("Patient{n}"),
                family_name: "Racer".into(),
                date_of_birth: NaiveDate::from_ymd_opt(1985, 1, 1).unwrap(),
                email: None,
                phone: None,
                created_by: None,
            },
        )
        .await
        .unwrap();
        ids.push(record.id);
    }
    ids
}

/// The front desk's booking of `kind` at `start` for `patient` with `practitioner`.
fn phone_booking(
    clinic: &Clinic,
    practitioner: &str,
    kind: &str,
    patient: Uuid,
    start: &str,
) -> Value {
    json!({"patient_id": patient, "practitioner_id": practitioner,
           "location_id": clinic.location, "appointment_type_id": kind, "start": start,
           "override_reason": "Booked by phone; intake to follow."})
}

/// The weekdays from 3 March 2026 on, as `YYYY-MM-DD`.
fn weekdays(count: usize) -> Vec<String> {
    use chrono::Datelike;
    let mut day = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
    let mut days = Vec::new();
    while days.len() < count {
        if day.weekday().number_from_monday() <= 5 {
            days.push(day.to_string());
        }
        day += Duration::days(1);
    }
    days
}

fn assert_only_booked_or_taken(statuses: &[u16]) {
    for status in statuses {
        assert!(*status == 201 || *status == 409, "{statuses:?}");
    }
    assert!(statuses.contains(&201), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_bookings_of_different_lengths_are_booked_or_taken_never_500() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let app = &clinic.app;
    let staff = &clinic.staff;
    // 30 minutes; 45 and 15 of buffer; 60 minutes: all for new patients.
    let kinds = [
        appointment_type(app, staff, "Short first visit", "chiropractic", 30, 0, true).await,
        clinic.new_visit.clone(),
        appointment_type(app, staff, "Long first visit", "chiropractic", 60, 0, true).await,
    ];
    let patients = records(&clinic, 12).await;
    for (round, day) in weekdays(60).iter().enumerate() {
        let requests = patients.iter().enumerate().map(|(n, patient)| {
            let clinic = &clinic;
            let start = format!("{day}T{:02}:{:02}:00Z", 9 + n / 4, (n % 4) * 15);
            let body = phone_booking(
                clinic,
                &clinic.practitioner,
                &kinds[n % kinds.len()],
                *patient,
                &start,
            );
            async move {
                clinic
                    .book(&clinic.staff, &format!("lengths-{round}-{n}"), body)
                    .await
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(requests).await;
        assert_only_booked_or_taken(&statuses);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_patient_booked_with_two_practitioners_at_once_gets_one() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let app = &clinic.app;
    let second = practitioner(
        app,
        &clinic.staff,
        "dr.kim@clinic.example",
        "chiropractic",
        &[&clinic.location],
    )
    .await;
    set_hours(
        app,
        &clinic.staff,
        &second,
        &clinic.location,
        &WEEKDAYS,
        &[("09:00", "12:00"), ("13:00", "17:00")],
    )
    .await;
    let patients = records(&clinic, 1).await;
    for (round, day) in weekdays(10).iter().enumerate() {
        let start = format!("{day}T10:00:00Z");
        let requests = [&clinic.practitioner, &second].map(|with| {
            let clinic = &clinic;
            let body = phone_booking(clinic, with, &clinic.new_visit, patients[0], &start);
            async move {
                clinic
                    .book(&clinic.staff, &format!("both-{round}-{with}"), body)
                    .await
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(requests).await;
        assert_only_booked_or_taken(&statuses);
        assert_eq!(
            statuses.iter().filter(|status| **status == 201).count(),
            1,
            "{statuses:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_reschedules_into_one_slot_move_one() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let patients = records(&clinic, 2).await;
    for (round, day) in weekdays(10).iter().enumerate() {
        let mut ids = Vec::new();
        for (n, patient) in patients.iter().enumerate() {
            let start = format!("{day}T{:02}:00:00Z", 13 + n);
            let body = phone_booking(
                &clinic,
                &clinic.practitioner,
                &clinic.new_visit,
                *patient,
                &start,
            );
            let booked = clinic
                .book(&clinic.staff, &format!("move-{round}-{n}"), body)
                .await;
            assert_eq!(booked.status(), 201);
            let booked: Value = booked.json().await.unwrap();
            ids.push(booked["id"].as_str().unwrap().to_owned());
        }
        let target = format!("{day}T10:00:00Z");
        let moves = ids.iter().map(|id| {
            let clinic = &clinic;
            let target = target.clone();
            async move {
                clinic
                    .app
                    .send(
                        Method::POST,
                        &format!("/api/v1/appointments/{id}/reschedule"),
                        Some(&clinic.staff),
                        Some(json!({"start": target})),
                    )
                    .await
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(moves).await;
        for status in &statuses {
            assert!(*status == 200 || *status == 409, "{statuses:?}");
        }
        assert_eq!(
            statuses.iter().filter(|status| **status == 200).count(),
            1,
            "{statuses:?}"
        );
    }
    // The calendar holds what was answered: one appointment at 10:00 each day.
    use chrono::Timelike;
    use sea_orm::EntityTrait;
    let at_ten = entity::appointment::Entity::find()
        .all(&clinic.app.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|appointment| appointment.starts_at.hour() == 10)
        .count();
    assert_eq!(at_ten, 10);
}

/// Disabling a practitioner's account takes them off the booking list: they show inactive,
/// availability offers none of their times, and a booking naming them is refused; their
/// appointments stay for the front desk to move.
#[tokio::test]
async fn a_disabled_practitioner_is_not_bookable_and_keeps_their_appointments() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let app = &clinic.app;
    let booked = clinic
        .book(
            &clinic.patient,
            "before",
            clinic.booking(&clinic.new_visit, "2026-03-04T09:00:00Z"),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let booked: Value = booked.json().await.unwrap();

    let listed = crate::intakes::call_ok(
        app,
        Method::GET,
        "/api/v1/practitioners",
        &clinic.staff,
        None,
    )
    .await;
    let user_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == clinic.practitioner.as_str())
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = app.access_token(entity::user::Role::Admin).await;
    crate::intakes::call_ok(
        app,
        Method::POST,
        &format!("/api/v1/users/{user_id}/disable"),
        &admin,
        None,
    )
    .await;

    let listed = crate::intakes::call_ok(
        app,
        Method::GET,
        "/api/v1/practitioners",
        &clinic.staff,
        None,
    )
    .await;
    let shown = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == clinic.practitioner.as_str())
        .unwrap()
        .clone();
    assert_eq!(shown["active"], false);
    let slots = clinic
        .slots(&clinic.staff, &clinic.new_visit, "2026-03-05", "2026-03-06")
        .await;
    assert!(slots.is_empty(), "{slots:?}");
    let refused = crate::helpers::expect_problem(
        clinic
            .book(
                &clinic.patient,
                "after",
                clinic.booking(&clinic.new_visit, "2026-03-05T09:00:00Z"),
            )
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(refused.body["errors"][0]["field"], "practitioner_id");
    // The appointment made before stays, for the front desk to move.
    let kept = crate::intakes::call_ok(
        app,
        Method::GET,
        &format!("/api/v1/appointments/{}", booked["id"].as_str().unwrap()),
        &clinic.staff,
        None,
    )
    .await;
    assert_eq!(kept["status"], "booked");
}

/// Several desks press "cancel" or "check in" on the same visit at the same moment: the visit
/// changes once (one `200`, every other press `409`) and the trail records one change, on both
/// backends (PostgreSQL locks the row the change is decided on).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_visit_changed_from_several_desks_at_once_changes_once() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let patients = records(&clinic, 1).await;
    let days = weekdays(6);
    let mut booked = Vec::new();
    for (round, day) in days.iter().enumerate() {
        let start = format!("{day}T11:00:00Z");
        let body = phone_booking(
            &clinic,
            &clinic.practitioner,
            &clinic.new_visit,
            patients[0],
            &start,
        );
        let response = clinic
            .book(&clinic.staff, &format!("same-visit-{round}"), body)
            .await;
        assert_eq!(response.status(), 201);
        let response: Value = response.json().await.unwrap();
        booked.push((
            response["id"].as_str().unwrap().to_owned(),
            chrono::DateTime::parse_from_rfc3339(&start)
                .unwrap()
                .to_utc(),
        ));
    }
    for (round, (id, start)) in booked.iter().enumerate() {
        let change = if round % 2 == 0 { "cancel" } else { "check-in" };
        // On the day, a little before the visit; the desk signs in then.
        clinic.app.clock.set(*start - Duration::minutes(10));
        let staff = clinic.app.access_token(entity::user::Role::Staff).await;
        let body = (change == "cancel").then(|| json!({"reason": "Patient called"}));
        let presses = (0..6).map(|_| {
            let (app, staff, body) = (&clinic.app, &staff, body.clone());
            async move {
                app.send(
                    Method::POST,
                    &format!("/api/v1/appointments/{id}/{change}"),
                    Some(staff),
                    body,
                )
                .await
                .status()
                .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(presses).await;
        assert_eq!(
            statuses.iter().filter(|status| **status == 200).count(),
            1,
            "{change}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|status| [200, 409].contains(status)),
            "{change}: {statuses:?}"
        );
    }
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let changes = entity::audit_event::Entity::find()
        .filter(
            entity::audit_event::Column::Action
                .is_in(["appointment.cancel", "appointment.check_in"]),
        )
        .filter(entity::audit_event::Column::Outcome.eq(entity::audit_event::Outcome::Allowed))
        .all(&clinic.app.db)
        .await
        .unwrap();
    assert_eq!(changes.len(), booked.len(), "one entry per visit");
}
