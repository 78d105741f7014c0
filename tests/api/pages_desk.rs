//! The front desk's day over HTTP (issue 16): the clinic's day with names rather than ids,
//! moving between days and locations, check-in, completion, no-show and its undoing offered
//! only when the desk rule allows them (and refused when posted anyway), and who may see it.

use chrono::{DateTime, Utc};
use entity::user::Role;
use reqwest::StatusCode;

use crate::{
    appointments::{Clinic, clinic},
    helpers::{TEST_PASSWORD, TestApp},
    pages::{Browser, Page},
};

const DESK: &str = "desk@clinic.example";
/// Wednesday 4 March 2026, 09:00 in London.
const WEDNESDAY_NINE: &str = "2026-03-04T09:00:00Z";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

async fn signed_in<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    browser.get("/login").await;
    let page = browser
        .submit("/login", &[("email", email), ("password", TEST_PASSWORD)])
        .await;
    assert_eq!(page.status, 303, "{}", page.html);
    browser
}

/// The clinic with one booked first visit on Wednesday at 09:00; returns its id.
async fn with_a_booking(clinic: &Clinic) -> String {
    let booked = clinic
        .book(
            &clinic.patient,
            "desk-day",
            clinic.booking(&clinic.new_visit, WEDNESDAY_NINE),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let booked: serde_json::Value = booked.json().await.unwrap();
    booked["id"].as_str().unwrap().to_owned()
}

fn buttons(page: &Page) -> Vec<String> {
    let text = page.text();
    text.split("<button type=\"submit\" class=\"secondary small\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_desk_sees_the_day_by_name_and_moves_between_days() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let id = with_a_booking(&clinic).await;
    clinic.app.add_user(DESK, Role::Staff).await;
    let mut desk = signed_in(&clinic.app, DESK).await;

    let day = desk.get("/desk?date=2026-03-04").await;
    assert_eq!(day.status, 200, "{}", day.html);
    day.assert_contains("The day: Wednesday 4 March 2026");
    day.assert_contains("Clinic Europe/London");
    day.assert_contains("Sam Taylor");
    day.assert_contains("09:00–09:45");
    day.assert_contains("Alex Morgan");
    day.assert_contains("Chiropractic new patient visit");
    day.assert_contains("Booked");
    assert!(
        !day.text()
            .replace(&format!("/desk/appointments/{id}/status"), "")
            .contains(&id),
        "the appointment is shown by name, its id only in the form's address"
    );
    // Two days ahead nothing may be marked yet.
    assert!(buttons(&day).is_empty(), "{:?}", buttons(&day));
    day.assert_contains("href=\"/desk?date=2026-03-03\"");
    day.assert_contains("href=\"/desk?date=2026-03-05\"");

    // One location only, and the whole clinic (the default) on the clinic's today.
    let one = desk
        .get(&format!(
            "/desk?date=2026-03-04&location={}",
            clinic.location
        ))
        .await;
    assert_eq!(one.status, 200);
    one.assert_contains("Alex Morgan");
    let today = desk.get("/desk").await;
    today.assert_contains("The day: Monday 2 March 2026");
    today.assert_contains("No appointments.");

    let wrong = desk.get("/desk?date=someday&location=nowhere").await;
    assert_eq!(wrong.status, 422);
    wrong.assert_contains("There is a problem");
    wrong.assert_contains("<a href=\"#date\">");
    wrong.assert_contains("<a href=\"#location\">");
}

#[tokio::test]
async fn check_in_complete_and_no_show_are_offered_only_when_they_may_be_done() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let id = with_a_booking(&clinic).await;
    clinic.app.add_user(DESK, Role::Staff).await;
    let status_path = format!("/desk/appointments/{id}/status");

    // 08:30: check-in is open; no-show is not. (A page session lasts 12 hours, so
    // the desk signs in on the day.)
    clinic.app.clock.set(at("2026-03-04T08:30:00Z"));
    let mut desk = signed_in(&clinic.app, DESK).await;
    let day = desk.get("/desk?date=2026-03-04").await;
    assert_eq!(day.status, 200);
    assert_eq!(buttons(&day), ["Check in"]);
    // Posted anyway, the service refuses it with its reason.
    let early = desk
        .submit(
            &status_path,
            &[("change", "no_show"), ("date", "2026-03-04")],
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    early.assert_contains("There is a problem");
    early.assert_contains("too early");

    let checked_in = desk
        .submit(
            &status_path,
            &[("change", "check_in"), ("date", "2026-03-04")],
        )
        .await;
    assert_eq!(checked_in.status, 303, "{}", checked_in.html);
    assert_eq!(checked_in.location(), "/desk?date=2026-03-04&done=check_in");
    let day = desk.get(checked_in.location()).await;
    day.assert_contains("Checked in.");
    // Not started yet: nothing to complete.
    assert!(buttons(&day).is_empty(), "{:?}", buttons(&day));

    clinic.app.clock.set(at("2026-03-04T09:40:00Z"));
    let day = desk.get("/desk?date=2026-03-04").await;
    // (The lifecycle lets a checked-in patient who left unseen be marked as not attended.)
    assert_eq!(buttons(&day), ["Complete", "Did not attend"]);
    let done = desk
        .submit(
            &status_path,
            &[("change", "complete"), ("date", "2026-03-04")],
        )
        .await;
    assert_eq!(done.status, 303);
    let day = desk.get(done.location()).await;
    day.assert_contains("Completed.");
    assert!(buttons(&day).is_empty());

    // A form without its token changes nothing.
    let forged = desk
        .post_form(&status_path, &[("change", "check_in")])
        .await;
    assert_eq!(forged.status, 403);
}

#[tokio::test]
async fn a_no_show_is_marked_after_the_start_and_undone_the_same_day() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let id = with_a_booking(&clinic).await;
    clinic.app.add_user(DESK, Role::Staff).await;
    let status_path = format!("/desk/appointments/{id}/status");

    clinic.app.clock.set(at("2026-03-04T09:20:00Z"));
    let mut desk = signed_in(&clinic.app, DESK).await;
    let day = desk.get("/desk?date=2026-03-04").await;
    assert_eq!(buttons(&day), ["Check in", "Did not attend"]);
    let marked = desk
        .submit(
            &status_path,
            &[("change", "no_show"), ("date", "2026-03-04")],
        )
        .await;
    assert_eq!(marked.status, 303);
    let day = desk.get(marked.location()).await;
    day.assert_contains("Marked as did not attend.");
    day.assert_contains("Did not attend");
    assert_eq!(buttons(&day), ["Undo did not attend"]);
    let undone = desk
        .submit(
            &status_path,
            &[("change", "undo_no_show"), ("date", "2026-03-04")],
        )
        .await;
    assert_eq!(undone.status, 303);
    let day = desk.get(undone.location()).await;
    day.assert_contains("booked again");

    // The next day the record stands: nothing is offered.
    desk.submit(
        &status_path,
        &[("change", "no_show"), ("date", "2026-03-04")],
    )
    .await;
    clinic.app.clock.set(at("2026-03-05T08:00:00Z"));
    let mut desk = signed_in(&clinic.app, DESK).await;
    let day = desk.get("/desk?date=2026-03-04").await;
    assert_eq!(day.status, 200);
    day.assert_contains("Did not attend");
    assert!(buttons(&day).is_empty(), "{:?}", buttons(&day));
}

#[tokio::test]
async fn only_the_front_desk_sees_the_day() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    with_a_booking(&clinic).await;
    for (email, role) in [
        ("dr.kay@clinic.example", Role::Practitioner),
        ("admin@clinic.example", Role::Admin),
    ] {
        clinic.app.add_user(email, role).await;
        let mut browser = signed_in(&clinic.app, email).await;
        let page = browser.get("/desk?date=2026-03-04").await;
        assert_eq!(page.status, 403, "{role:?}");
        assert!(!page.text().contains("Alex Morgan"), "{role:?}");
    }
    let mut patient = signed_in(&clinic.app, crate::appointments::PATIENT_EMAIL).await;
    assert_eq!(patient.get("/desk").await.status, 403);
    let anonymous = Browser::new(&clinic.app).get("/desk").await;
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location().starts_with("/login?next="));
}
