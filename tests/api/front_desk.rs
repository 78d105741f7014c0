//! The front desk's day (issue 16): check-in, completion and no-show only around the visit,
//! a no-show undone on its own day, and the whole clinic's day in one list.

use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    appointments::{Clinic, clinic, set_hours},
    helpers::{TestApp, expect_problem},
    intakes::call_ok,
    practitioners::{location, practitioner},
};

fn instant(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// Books `kind` at `start` with `practitioner` at `location` as the front desk (who needs no
/// notice), for `patient`; returns the appointment's id.
async fn book_with(
    clinic: &Clinic,
    patient: &str,
    practitioner: &str,
    location: &str,
    kind: &str,
    start: &str,
) -> String {
    let body = json!({
        "patient_id": patient,
        "practitioner_id": practitioner,
        "location_id": location,
        "appointment_type_id": kind,
        "start": start,
        // Needed only for a patient without an intake; harmless otherwise.
        "override_reason": "Booked by phone.",
    });
    let key = format!("{practitioner}-{start}");
    let response = clinic.book(&clinic.staff, &key, body).await;
    let status = response.status();
    let booked: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "booking {start}: {booked}");
    booked["id"].as_str().unwrap().to_owned()
}

/// Books `kind` at `start` with the clinic's own practitioner and location, for its patient.
async fn book(clinic: &Clinic, kind: &str, start: &str) -> String {
    book_with(
        clinic,
        &clinic.patient_id,
        &clinic.practitioner,
        &clinic.location,
        kind,
        start,
    )
    .await
}

/// Moves the clock and signs a front-desk account in at the new time (tokens live 15 minutes).
async fn desk_at(clinic: &Clinic, now: &str) -> String {
    clinic.app.clock.set(instant(now));
    clinic.app.access_token(Role::Staff).await
}

async fn step(clinic: &Clinic, token: &str, id: &str, step: &str) -> reqwest::Response {
    clinic
        .post(token, &format!("/api/v1/appointments/{id}/{step}"), None)
        .await
}

/// The step succeeds and leaves the appointment in `status`.
async fn step_ok(clinic: &Clinic, token: &str, id: &str, action: &str, status: &str) {
    let response = step(clinic, token, id, action).await;
    let code = response.status();
    let view: Value = response.json().await.unwrap();
    assert_eq!(code, 200, "{action} at {}: {view}", clinic.app.clock.now());
    assert_eq!(view["status"], status, "{action}");
}

/// The step is refused with 409 `code`, and its words say `when`.
async fn step_refused(
    clinic: &Clinic,
    token: &str,
    id: &str,
    action: &str,
    code: &str,
    when: &str,
) {
    let problem = expect_problem(step(clinic, token, id, action).await, 409, code).await;
    assert!(
        problem.detail().contains(when),
        "{action}: {:?} should say {when:?}",
        problem.detail()
    );
}

async fn status_of(clinic: &Clinic, token: &str, id: &str) -> Value {
    call_ok(
        &clinic.app,
        Method::GET,
        &format!("/api/v1/appointments/{id}"),
        token,
        None,
    )
    .await["status"]
        .clone()
}

#[tokio::test]
async fn check_in_completion_and_no_show_happen_only_around_the_visit() {
    // London in March is on GMT: local times read as UTC.
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks the desk's steps, not the emails they queue.
    clinic.app.expect_unsent_mail();
    // Tuesday 3 March: the first visit is a new-patient one, so the follow-ups may be booked.
    let at_1500 = book(&clinic, &clinic.new_visit, "2026-03-03T15:00:00Z").await;
    let at_1330 = book(&clinic, &clinic.follow_up, "2026-03-03T13:30:00Z").await;
    let at_1600 = book(&clinic, &clinic.follow_up, "2026-03-03T16:00:00Z").await;
    let at_1630 = book(&clinic, &clinic.follow_up, "2026-03-03T16:30:00Z").await;

    // The morning: at 10:45 the 13:30 visit is no no-show yet, and the 15:00 one
    // cannot be checked in (let alone completed).
    let desk = desk_at(&clinic, "2026-03-03T10:45:00Z").await;
    step_refused(
        &clinic,
        &desk,
        &at_1330,
        "no-show",
        "too_early",
        "Tue 3 Mar 2026 13:40 GMT",
    )
    .await;
    step_refused(
        &clinic,
        &desk,
        &at_1500,
        "check-in",
        "too_early",
        "Tue 3 Mar 2026 14:00 GMT",
    )
    .await;
    // The status rule comes first: a booked visit is not completed before it is checked in.
    expect_problem(
        step(&clinic, &desk, &at_1500, "complete").await,
        409,
        "illegal_transition",
    )
    .await;

    // Check-in opens an hour before the start; completion at the start.
    let desk = desk_at(&clinic, "2026-03-03T12:29:00Z").await;
    step_refused(
        &clinic,
        &desk,
        &at_1330,
        "check-in",
        "too_early",
        "12:30 GMT",
    )
    .await;
    let desk = desk_at(&clinic, "2026-03-03T12:30:00Z").await;
    step_ok(&clinic, &desk, &at_1330, "check-in", "checked_in").await;
    step_refused(
        &clinic,
        &desk,
        &at_1330,
        "complete",
        "too_early",
        "13:30 GMT",
    )
    .await;
    let desk = desk_at(&clinic, "2026-03-03T13:30:00Z").await;
    step_ok(&clinic, &desk, &at_1330, "complete", "completed").await;

    // A no-show ten minutes after the start, not before.
    let desk = desk_at(&clinic, "2026-03-03T15:09:00Z").await;
    step_refused(
        &clinic,
        &desk,
        &at_1500,
        "no-show",
        "too_early",
        "15:10 GMT",
    )
    .await;
    let desk = desk_at(&clinic, "2026-03-03T15:10:00Z").await;
    step_ok(&clinic, &desk, &at_1500, "no-show", "no_show").await;

    // A check-in forgotten until after the visit can still be made that day.
    let desk = desk_at(&clinic, "2026-03-03T23:59:00Z").await;
    step_ok(&clinic, &desk, &at_1600, "check-in", "checked_in").await;

    // From local midnight the day's record stands.
    let desk = desk_at(&clinic, "2026-03-04T00:00:00Z").await;
    let closed = "Wed 4 Mar 2026 00:00 GMT";
    step_refused(&clinic, &desk, &at_1600, "complete", "too_late", closed).await;
    step_refused(&clinic, &desk, &at_1600, "no-show", "too_late", closed).await;
    step_refused(&clinic, &desk, &at_1630, "check-in", "too_late", closed).await;
    step_refused(&clinic, &desk, &at_1630, "no-show", "too_late", closed).await;
    assert_eq!(status_of(&clinic, &desk, &at_1600).await, "checked_in");
    assert_eq!(status_of(&clinic, &desk, &at_1630).await, "booked");
}

#[tokio::test]
async fn a_no_show_is_undone_on_its_own_day_and_not_after() {
    // New York in March is on EST (UTC−5): the local day of Tuesday 3 March ends at 05:00 UTC
    // on Wednesday.
    let clinic = clinic(TestApp::spawn().await, "America/New_York").await;
    clinic.app.expect_unsent_mail();
    let at_10 = book(&clinic, &clinic.new_visit, "2026-03-03T15:00:00Z").await;
    let at_11 = book(&clinic, &clinic.follow_up, "2026-03-03T16:00:00Z").await;
    let at_13 = book(&clinic, &clinic.follow_up, "2026-03-03T18:00:00Z").await;

    // Marked too soon, taken back: the patient came late after all and is checked in.
    let desk = desk_at(&clinic, "2026-03-03T15:10:00Z").await;
    step_ok(&clinic, &desk, &at_10, "no-show", "no_show").await;
    step_ok(&clinic, &desk, &at_10, "undo-no-show", "booked").await;
    step_ok(&clinic, &desk, &at_10, "check-in", "checked_in").await;
    // Only a no-show can be undone.
    for id in [&at_10, &at_11] {
        expect_problem(
            step(&clinic, &desk, id, "undo-no-show").await,
            409,
            "illegal_transition",
        )
        .await;
    }

    // A no-show frees its time; once the desk has given it to another visit, the no-show
    // cannot take it back.
    let desk = desk_at(&clinic, "2026-03-03T18:10:00Z").await;
    step_ok(&clinic, &desk, &at_13, "no-show", "no_show").await;
    let mut rebooked = clinic.booking(&clinic.follow_up, "2026-03-03T18:15:00Z");
    rebooked["patient_id"] = json!(clinic.patient_id);
    assert_eq!(clinic.book(&desk, "rebooked", rebooked).await.status(), 201);
    expect_problem(
        step(&clinic, &desk, &at_13, "undo-no-show").await,
        409,
        "slot_taken",
    )
    .await;
    assert_eq!(status_of(&clinic, &desk, &at_13).await, "no_show");

    // At 23:59 EST it is Wednesday in UTC but still the visit's day: undo, and mark again.
    let desk = desk_at(&clinic, "2026-03-03T16:10:00Z").await;
    step_ok(&clinic, &desk, &at_11, "no-show", "no_show").await;
    let desk = desk_at(&clinic, "2026-03-04T04:59:00Z").await;
    step_ok(&clinic, &desk, &at_11, "undo-no-show", "booked").await;
    step_ok(&clinic, &desk, &at_11, "no-show", "no_show").await;

    // The next local day, the no-show stands.
    let desk = desk_at(&clinic, "2026-03-04T05:00:00Z").await;
    step_refused(
        &clinic,
        &desk,
        &at_11,
        "undo-no-show",
        "too_late",
        "Wed 4 Mar 2026 00:00 EST",
    )
    .await;
    assert_eq!(status_of(&clinic, &desk, &at_11).await, "no_show");

    // Each undo is on the audit trail, as the other steps are.
    let admin = clinic.app.access_token(Role::Admin).await;
    let audit = call_ok(
        &clinic.app,
        Method::GET,
        &format!("/api/v1/admin/audit?patient_id={}", clinic.patient_id),
        &admin,
        None,
    )
    .await;
    let entries = audit["entries"].as_array().unwrap();
    let count = |action: &str, id: &str| {
        entries
            .iter()
            .filter(|entry| {
                entry["action"] == action
                    && entry["record_id"] == id
                    && entry["outcome"] == "allowed"
            })
            .count()
    };
    assert_eq!(count("appointment.no_show_undo", &at_10), 1, "{entries:?}");
    assert_eq!(count("appointment.no_show_undo", &at_11), 1, "{entries:?}");
    assert_eq!(count("appointment.no_show", &at_11), 2, "{entries:?}");
}

#[tokio::test]
async fn the_whole_clinics_day_lists_every_location_by_its_own_clock() {
    // London (GMT in March) and New York (EST, UTC−5), a practitioner at each.
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let staff = &clinic.staff;
    let new_york = location(&clinic.app, staff, "America/New_York").await;
    let dr_ortiz = practitioner(
        &clinic.app,
        staff,
        "dr.ortiz@clinic.example",
        "chiropractic",
        &[&new_york],
    )
    .await;
    // Evenings too, so a visit's local date and its UTC date differ.
    set_hours(
        &clinic.app,
        staff,
        &dr_ortiz,
        &new_york,
        &crate::appointments::WEEKDAYS,
        &[("09:00", "23:00")],
    )
    .await;
    let (_, second_patient) = clinic.app.add_patient("sam@example.org").await;
    let second_patient = second_patient.to_string();
    let lee = clinic.practitioner.clone();
    let london = clinic.location.clone();
    let (new_visit, follow_up) = (clinic.new_visit.clone(), clinic.follow_up.clone());
    let patient = clinic.patient_id.clone();
    let at = async |who: &str, practitioner: &str, location: &str, kind: &str, start: &str| {
        book_with(&clinic, who, practitioner, location, kind, start).await
    };

    // Tuesday 3 March, London 09:00 GMT.
    let london_morning = at(&patient, &lee, &london, &new_visit, "2026-03-03T09:00:00Z").await;
    // Tuesday 14:00 UTC, twice: London 14:00 GMT and New York 09:00 EST.
    let london_afternoon = at(
        &second_patient,
        &lee,
        &london,
        &new_visit,
        "2026-03-03T14:00:00Z",
    )
    .await;
    let new_york_morning = at(
        &patient,
        &dr_ortiz,
        &new_york,
        &follow_up,
        "2026-03-03T14:00:00Z",
    )
    .await;
    // Tuesday 20:00 EST: Wednesday in UTC, Tuesday in New York.
    let new_york_evening = at(
        &patient,
        &dr_ortiz,
        &new_york,
        &follow_up,
        "2026-03-04T01:00:00Z",
    )
    .await;
    // Monday 20:00 EST: Tuesday in UTC, Monday in New York.
    let monday_evening = at(
        &patient,
        &dr_ortiz,
        &new_york,
        &follow_up,
        "2026-03-03T01:00:00Z",
    )
    .await;
    // Wednesday in London.
    at(&patient, &lee, &london, &follow_up, "2026-03-04T09:00:00Z").await;

    let ids = |list: &Value| -> Vec<String> {
        list["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|appointment| appointment["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // At the same start, by practitioner.
    let mut same_start = [(&lee, &london_afternoon), (&dr_ortiz, &new_york_morning)];
    same_start.sort();
    let expected = vec![
        london_morning.clone(),
        same_start[0].1.clone(),
        same_start[1].1.clone(),
        new_york_evening.clone(),
    ];
    let practitioner_token = clinic.app.access_token(Role::Practitioner).await;
    for token in [staff, &practitioner_token] {
        let day = call_ok(
            &clinic.app,
            Method::GET,
            "/api/v1/appointments?date=2026-03-03",
            token,
            None,
        )
        .await;
        assert_eq!(ids(&day), expected);
    }
    let monday = call_ok(
        &clinic.app,
        Method::GET,
        "/api/v1/appointments?date=2026-03-02",
        staff,
        None,
    )
    .await;
    assert_eq!(ids(&monday), vec![monday_evening.clone()]);
    assert_eq!(
        monday["appointments"][0]["local_start"],
        "2026-03-02T20:00:00-05:00"
    );

    // Patients and admins do not see the clinic's day; one filter at most.
    let admin = clinic.app.access_token(Role::Admin).await;
    for token in [&clinic.patient, &admin] {
        expect_problem(
            clinic
                .app
                .send(
                    Method::GET,
                    "/api/v1/appointments?date=2026-03-03",
                    Some(token),
                    None,
                )
                .await,
            403,
            "forbidden",
        )
        .await;
    }
    let both = expect_problem(
        clinic
            .app
            .send(
                Method::GET,
                &format!(
                    "/api/v1/appointments?date=2026-03-03&location_id={london}&practitioner_id={lee}"
                ),
                Some(staff),
                None,
            )
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(both.body["errors"][0]["code"], "at_most_one_allowed");
}
