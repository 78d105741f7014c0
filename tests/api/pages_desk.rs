//! The front desk's day over HTTP (issue 16): the clinic's day with names rather than ids,
//! moving between days and locations, check-in, completion, no-show and its undoing offered
//! only when the desk rule allows them (and refused when posted anyway), and who may see it.

use chrono::{DateTime, Utc};
use entity::user::Role;
use reqwest::StatusCode;

use crate::{
    appointments::{Clinic, clinic},
    helpers::TestApp,
    pages::{Browser, Page},
};

const DESK: &str = "desk@clinic.example";
/// Wednesday 4 March 2026, 09:00 in London.
const WEDNESDAY_NINE: &str = "2026-03-04T09:00:00Z";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
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
    let mut desk = Browser::signed_in(&clinic.app, DESK).await;

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
    let mut desk = Browser::signed_in(&clinic.app, DESK).await;
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
    let mut desk = Browser::signed_in(&clinic.app, DESK).await;
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
    let mut desk = Browser::signed_in(&clinic.app, DESK).await;
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
        let mut browser = Browser::signed_in(&clinic.app, email).await;
        let page = browser.get("/desk?date=2026-03-04").await;
        assert_eq!(page.status, 403, "{role:?}");
        assert!(!page.text().contains("Alex Morgan"), "{role:?}");
    }
    let mut patient = Browser::signed_in(&clinic.app, crate::appointments::PATIENT_EMAIL).await;
    assert_eq!(patient.get("/desk").await.status, 403);
    let anonymous = Browser::new(&clinic.app).get("/desk").await;
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location().starts_with("/login?next="));
}

fn confirm_fields(page: &Page) -> Vec<(String, String)> {
    page.fields(&[
        "patient",
        "type",
        "location",
        "practitioner",
        "with",
        "start",
        "idempotency_key",
    ])
}

#[tokio::test]
async fn the_desk_adds_a_patient_on_the_phone_and_books_past_the_missing_questionnaire() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    clinic.app.add_user(DESK, Role::Staff).await;
    let mut desk = Browser::signed_in(&clinic.app, DESK).await;

    // Found by part of a name.
    let found = desk.get("/desk/patients?q=morg").await;
    assert_eq!(found.status, 200);
    found.assert_contains("1 patient matches");
    found.assert_contains("Alex Morgan");

    // A form with mistakes lists them in the form's order and keeps what was typed.
    let wrong = desk
        .submit(
            "/desk/patients",
            &[
                ("family_name", "Okoye"),
                ("birth_day", "31"),
                ("birth_month", "2"),
                ("birth_year", "1970"),
                ("email", "not an address"),
                ("phone", "call me"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    let summary: Vec<&str> = wrong
        .html
        .split("<li><a href=\"#")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(summary, ["given_name", "date_of_birth", "email", "phone"]);
    wrong.assert_contains("value=\"Okoye\"");

    let added = desk
        .submit(
            "/desk/patients",
            &[
                ("given_name", "Chidi"),
                ("family_name", "Okoye"),
                ("birth_day", "9"),
                ("birth_month", "7"),
                ("birth_year", "1971"),
                ("phone", "0117 496 0123"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.html);
    let patient_path = added.location().split('?').next().unwrap().to_owned();
    let page = desk.get(added.location()).await;
    page.assert_contains("The patient is added.");
    page.assert_contains("Chidi Okoye");
    page.assert_contains("9 July 1971");
    // No email address: nothing to invite with.
    assert!(!page.text().contains("Email an invitation"));
    let patient_id = patient_path.rsplit('/').next().unwrap().to_owned();

    // The booking steps, for this patient.
    let first = desk.get(&format!("/desk/book?patient={patient_id}")).await;
    assert_eq!(first.status, 200, "{}", first.html);
    first.assert_contains("Book for Chidi Okoye");
    first.assert_contains(&format!("/desk/book?patient={patient_id}&type="));
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("patient", &patient_id)
        .append_pair("type", &clinic.new_visit)
        .append_pair("location", &clinic.location)
        .append_pair("practitioner", "any")
        .append_pair("with", &clinic.practitioner)
        .append_pair("start", "2026-03-04T09:00:00+00:00")
        .finish();
    let confirm = desk.get(&format!("/desk/book?{query}")).await;
    assert_eq!(confirm.status, 200, "{}", confirm.html);
    confirm.assert_contains("Step 4 of 4");
    let fields = confirm_fields(&confirm);
    assert_eq!(fields[0].1, patient_id);

    // No questionnaire yet: refused, with the form to book anyway.
    let refused = desk.submit_owned("/desk/book", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    refused.assert_contains("Reason for booking without a current questionnaire");
    refused.assert_contains("Book anyway");
    // A blank reason is refused with the gate's words at the field.
    let mut blank = fields.clone();
    blank.push(("override_reason".into(), "  ".into()));
    let again = desk.submit_owned("/desk/book", &blank).await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        again.html
    );
    again.assert_contains("<a href=\"#override_reason\">");

    let mut with_reason = fields.clone();
    with_reason.push((
        "override_reason".into(),
        "Booked by phone; will fill in the questionnaire at the clinic".into(),
    ));
    let booked = desk.submit_owned("/desk/book", &with_reason).await;
    assert_eq!(booked.status, 303, "{}", booked.html);
    assert_eq!(
        booked.location(),
        format!(
            "/desk?date=2026-03-04&location={}&done=booked",
            clinic.location
        )
    );
    let day = desk.get(booked.location()).await;
    day.assert_contains("Booked.");
    day.assert_contains("Chidi Okoye");
    let page = desk.get(&patient_path).await;
    page.assert_contains("Wed 4 Mar 2026, 09:00 GMT");
}

#[tokio::test]
async fn the_desk_invites_a_patient_with_an_address_and_other_roles_cannot_book_for_one() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    clinic.app.add_user(DESK, Role::Staff).await;
    let mut desk = Browser::signed_in(&clinic.app, DESK).await;
    let added = desk
        .submit(
            "/desk/patients",
            &[
                ("given_name", "Ines"),
                ("family_name", "Duarte"),
                ("birth_day", "1"),
                ("birth_month", "12"),
                ("birth_year", "1990"),
                ("email", "ines@example.org"),
            ],
        )
        .await;
    assert_eq!(added.status, 303);
    let patient_path = added.location().split('?').next().unwrap().to_owned();
    let page = desk.get(&patient_path).await;
    page.assert_contains("Email an invitation to log in");
    let invited = desk.submit(&format!("{patient_path}/invite"), &[]).await;
    assert_eq!(invited.status, 303);
    desk.get(invited.location())
        .await
        .assert_contains("The invitation is on its way.");
    let forged = desk.post_form(&format!("{patient_path}/invite"), &[]).await;
    assert_eq!(forged.status, 403);

    let patient_id = patient_path.rsplit('/').next().unwrap();
    clinic
        .app
        .add_user("dr.kay@clinic.example", Role::Practitioner)
        .await;
    let mut practitioner = Browser::signed_in(&clinic.app, "dr.kay@clinic.example").await;
    let page = practitioner
        .get(&format!("/desk/book?patient={patient_id}"))
        .await;
    assert_eq!(page.status, 403);
    assert!(!page.text().contains("Ines"));
    let mut patient = Browser::signed_in(&clinic.app, crate::appointments::PATIENT_EMAIL).await;
    assert_eq!(patient.get("/desk/patients").await.status, 403);
    assert_eq!(patient.get(&patient_path).await.status, 403);
}

#[tokio::test]
async fn the_desk_sees_which_patients_the_emails_could_not_reach() {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let clinic = clinic(
        crate::helpers::app_with_sink(&sink, &[]).await,
        "Europe/London",
    )
    .await;
    clinic.app.expect_dead_letters();
    clinic.app.add_user(DESK, Role::Staff).await;
    let mut desk = Browser::signed_in(&clinic.app, DESK).await;
    let before = desk.get("/desk/patients").await;
    assert!(!before.text().contains("We could not reach"));

    // The booking's confirmation is refused for good by the patient's mail server.
    with_a_booking(&clinic).await;
    sink.always(crate::smtp_sink::Reply::Permanent);
    clinic.app.worker().run_once().await.unwrap();

    let page = desk.get("/desk/patients").await;
    assert_eq!(page.status, 200);
    page.assert_contains("We could not reach these patients by email");
    page.assert_contains(crate::appointments::PATIENT_EMAIL);
    page.assert_contains("Appointment booked");
    page.assert_contains(&format!("/desk/patients/{}", clinic.patient_id));
}
