//! The booking pages and "My appointments" over HTTP (issue 15): booking step by step to the
//! confirmation and its `.ics`, the emailed `/appointments/{id}` link, refusals (the intake
//! gate, a taken time with the next free ones), cancelling and moving within the policy, the
//! clinic's phone number outside it, CSRF, and whose appointment a page shows.

use chrono::{DateTime, Utc};
use lumbar::clock::Clock;
use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::{
    appointments::{Clinic, PATIENT_EMAIL, clinic},
    helpers::{TestApp, app_with_sink},
    intakes::{routine_answers, submit_intake},
    pages::{Browser, Page},
    smtp_sink::SmtpSink,
};

const OTHER_EMAIL: &str = "sam@example.org";
const PHONE: &str = "0161 496 0000";
/// Wednesday 4 March 2026 09:00 GMT: two days after the test clock's Monday morning.
const WEDNESDAY_NINE: &str = "2026-03-04T09:00:00Z";

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// The first link in the page whose address contains `needle`.
fn href_with(page: &Page, needle: &str) -> String {
    let text = page.text();
    text.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.contains(needle))
        .unwrap_or_else(|| panic!("no link with {needle:?} in:\n{}", page.html))
        .to_owned()
}

/// The fields of the confirm form, as a browser would post them.
fn confirm_fields(page: &Page) -> Vec<(String, String)> {
    page.fields(&[
        "type",
        "location",
        "practitioner",
        "with",
        "start",
        "idempotency_key",
    ])
}

/// The confirm step for `start` with the clinic's practitioner, as the time picker links it.
fn confirm_path(clinic: &Clinic, start: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("type", &clinic.new_visit)
        .append_pair("location", &clinic.location)
        .append_pair("practitioner", "any")
        .append_pair("with", &clinic.practitioner)
        .append_pair("start", start)
        .finish();
    format!("/book?{query}")
}

/// Books Wednesday 09:00 for the clinic's patient through the API; returns the id.
async fn booked_through_api(clinic: &Clinic) -> String {
    let response = clinic
        .book(
            &clinic.patient,
            "api-booking",
            clinic.booking(&clinic.new_visit, WEDNESDAY_NINE),
        )
        .await;
    assert_eq!(response.status(), 201);
    // These tests read pages; the emails are checked by the booking test and the API's.
    clinic.app.expect_unsent_mail();
    let booked: Value = response.json().await.unwrap();
    booked["id"].as_str().unwrap().to_owned()
}

/// Another patient, with a routine intake when `with_intake`.
async fn other_patient(app: &TestApp, with_intake: bool) -> String {
    app.add_patient(OTHER_EMAIL).await;
    let token = app.login(OTHER_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    if with_intake {
        let today = app.clock.now().date_naive();
        submit_intake(app, &token, routine_answers(today)).await;
    }
    token
}

#[tokio::test]
async fn a_patient_books_step_by_step_and_the_emailed_link_opens_the_appointment() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;

    let home = browser.get("/").await;
    home.assert_contains("href=\"/book\"");
    home.assert_contains("href=\"/appointments\"");

    // Step 1: what.
    let page = browser.get("/book").await;
    assert_eq!(page.status, 200);
    page.assert_contains("Chiropractic new patient visit");
    let step2 = href_with(&page, &clinic.new_visit);

    // Step 2: where and with whom, a GET form.
    let page = browser.get(&step2).await;
    assert_eq!(page.status, 200);
    page.assert_contains("<label for=\"location\">Where</label>");
    page.assert_contains("<label for=\"practitioner\">With whom</label>");
    page.assert_contains("Clinic Europe/London");

    // Step 3: a week of days, then a day's times on the location's clock.
    let week = format!(
        "/book?type={}&location={}&practitioner=any",
        clinic.new_visit, clinic.location
    );
    let page = browser.get(&week).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Choose a day and a time");
    page.assert_contains("Europe/London");
    page.assert_contains("Next week");
    let wednesday = href_with(&page, "day=2026-03-04");
    let page = browser.get(&wednesday).await;
    assert_eq!(page.status, 200);
    page.assert_contains("09:00 GMT");
    let nine = href_with(&page, "start=2026-03-04T09%3A00%3A00%2B00%3A00");

    // Step 4: confirm; the form carries its own idempotency key.
    let confirm = browser.get(&nine).await;
    assert_eq!(confirm.status, 200);
    confirm.assert_contains("Wednesday 4 March 2026 at 09:00 GMT");
    confirm.assert_contains("Book this appointment");
    let fields = confirm_fields(&confirm);
    let booked = browser.submit_owned("/book", &fields).await;
    assert_eq!(booked.status, 303, "{}", booked.html);
    let location = booked.location().to_owned();
    assert!(location.starts_with("/appointments/"), "{location}");
    // A double submit of the same form books once: the same appointment answers.
    let again = browser.submit_owned("/book", &fields).await;
    assert_eq!(again.status, 303);
    assert_eq!(again.location(), location);

    let page = browser.get(&location).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Your appointment is booked");
    page.assert_contains("Chiropractic new patient visit");
    page.assert_contains("Wednesday 4 March 2026 at 09:00 GMT");
    page.assert_contains("Clinic Europe/London, 1 Main St");
    page.assert_contains("calendar.ics");
    let id = location
        .trim_start_matches("/appointments/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    let ics = browser
        .get(&format!("/appointments/{id}/calendar.ics"))
        .await;
    assert_eq!(ics.status, 200);
    assert!(
        ics.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/calendar"),
    );
    assert!(
        ics.html
            .contains("DTSTART;TZID=Europe/London:20260304T090000"),
        "{}",
        ics.html
    );
    assert!(ics.html.contains(&format!("appointment-{id}@lumbar")));

    // The confirmation email's link is this page.
    clinic.app.worker().run_once().await.unwrap();
    let mail = sink
        .received()
        .into_iter()
        .find(|mail| mail.rcpt_to.iter().any(|to| to == PATIENT_EMAIL))
        .expect("the confirmation");
    assert_eq!(mail.token_after("/appointments/"), id);
    let page = browser.get(&format!("/appointments/{id}")).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Wednesday 4 March 2026 at 09:00 GMT");

    let list = browser.get("/appointments").await;
    assert_eq!(list.status, 200);
    list.assert_contains(&format!("/appointments/{id}"));
    list.assert_contains("Coming up");
}

#[tokio::test]
async fn bad_choices_are_an_error_summary_not_a_failure() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let page = browser.get("/book?type=nonsense").await;
    assert_eq!(page.status, 422);
    page.assert_contains("There is a problem");
    page.assert_contains("Choose what you need from the list.");
    let page = browser
        .get(&format!(
            "/book?type={}&location={}&practitioner=any&week=someday",
            clinic.new_visit, clinic.location
        ))
        .await;
    assert_eq!(page.status, 422);
    page.assert_contains("There is a problem");
    page.assert_contains("Choose a day and a time");
    // A confirm form with its fields missing books nothing.
    browser.get("/book").await;
    let page = browser.submit("/book", &[("type", "x")]).await;
    assert_eq!(page.status, 422);
    page.assert_contains("nothing was booked");
    let page = browser.get("/appointments/not-an-id").await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn the_intake_gate_refuses_calmly_and_says_what_to_do() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    other_patient(&clinic.app, false).await;
    let mut browser = Browser::signed_in(&clinic.app, OTHER_EMAIL).await;
    // Told on the first page, before choosing anything, and on any step's address.
    for path in [
        "/book".to_owned(),
        confirm_path(&clinic, "2026-03-04T09:00:00+00:00"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        page.assert_contains("Fill in the questionnaire");
        page.assert_contains("href=\"/intake\"");
        assert!(!page.text().contains("Step 1 of 4"), "{path}");
    }
    // A confirm form posted anyway (one made for a patient who may book) is refused as well.
    let mut allowed = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let confirm = allowed
        .get(&confirm_path(&clinic, "2026-03-04T09:00:00+00:00"))
        .await;
    assert_eq!(confirm.status, 200);
    let refused = browser
        .submit_owned("/book", &confirm_fields(&confirm))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.assert_contains("We could not book this time");
    refused.assert_contains("Fill in the questionnaire");
    refused.assert_contains("href=\"/intake\"");
}

#[tokio::test]
async fn a_time_taken_meanwhile_offers_the_next_free_times() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let other = other_patient(&clinic.app, true).await;
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let confirm = browser
        .get(&confirm_path(&clinic, "2026-03-04T09:00:00+00:00"))
        .await;
    // Someone else books the time while the page is open.
    clinic.app.expect_unsent_mail();
    let taken = clinic
        .book(
            &other,
            "other-key",
            clinic.booking(&clinic.new_visit, WEDNESDAY_NINE),
        )
        .await;
    assert_eq!(taken.status(), 201);
    let refused = browser
        .submit_owned("/book", &confirm_fields(&confirm))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    refused.assert_contains("The next free times");
    let next = href_with(&refused, "start=");
    let page = browser.get(&next).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Book this appointment");
}

#[tokio::test]
async fn a_patient_cancels_within_the_policy_and_can_book_another_time() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let id = booked_through_api(&clinic).await;
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let page = browser.get(&format!("/appointments/{id}")).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Move to another time");
    page.assert_contains("Cancel this appointment");

    let path = format!("/appointments/{id}/cancel");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200);
    page.assert_contains("<label for=\"reason\">");
    let blank = browser.submit(&path, &[("reason", "  ")]).await;
    assert_eq!(blank.status, 422);
    blank.assert_contains("There is a problem");
    blank.assert_contains("href=\"#reason\"");

    let done = browser.submit(&path, &[("reason", "Feeling better")]).await;
    assert_eq!(done.status, 303);
    let page = browser.get(done.location()).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Your appointment is cancelled");
    page.assert_contains("Book another time");
    page.assert_contains("href=\"/book\"");
    assert!(!page.text().contains("Cancel this appointment"));
    let list = browser.get("/appointments").await;
    list.assert_contains("cancelled");
}

#[tokio::test]
async fn outside_the_policy_the_page_gives_the_clinics_phone_number() {
    let app = TestApp::builder()
        .args(["--clinic-phone", PHONE])
        .spawn()
        .await;
    let clinic = clinic(app, "Europe/London").await;
    let id = booked_through_api(&clinic).await;

    // Inside the 24-hour window: no moving online, the number to call instead.
    clinic.app.clock.set(instant("2026-03-03T12:00:00Z"));
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let page = browser.get(&format!("/appointments/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.text().contains("Move to another time"));
    page.assert_contains(PHONE);
    let page = browser.get(&format!("/appointments/{id}/reschedule")).await;
    assert_eq!(page.status, 200);
    page.assert_contains("cannot be moved online");
    page.assert_contains(PHONE);

    // After the start: no cancelling online either.
    clinic.app.clock.set(instant("2026-03-04T09:30:00Z"));
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let page = browser.get(&format!("/appointments/{id}")).await;
    assert!(!page.text().contains("Cancel this appointment"));
    let path = format!("/appointments/{id}/cancel");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200);
    page.assert_contains("cannot be cancelled online");
    page.assert_contains(PHONE);
    let refused = browser.submit(&path, &[("reason", "Too late")]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    refused.assert_contains(PHONE);
}

#[tokio::test]
async fn a_patient_moves_an_appointment_to_another_free_time() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let id = booked_through_api(&clinic).await;
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let path = format!("/appointments/{id}/reschedule");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Choose a day and a time");
    let wednesday = href_with(&page, "day=2026-03-04");
    let page = browser.get(&wednesday).await;
    page.assert_contains("10:00 GMT");
    let ten = href_with(&page, "start=2026-03-04T10%3A00%3A00%2B00%3A00");
    let confirm = browser.get(&ten).await;
    assert_eq!(confirm.status, 200);
    confirm.assert_contains("Move my appointment");
    let moved = browser
        .submit(&path, &[("start", &confirm.field("start"))])
        .await;
    assert_eq!(moved.status, 303, "{}", moved.html);
    let page = browser.get(moved.location()).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Your appointment has moved");
    page.assert_contains("Wednesday 4 March 2026 at 10:00 GMT");
}

#[tokio::test]
async fn forms_without_their_token_change_nothing() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let id = booked_through_api(&clinic).await;
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let confirm = browser
        .get(&confirm_path(&clinic, "2026-03-04T11:00:00+00:00"))
        .await;
    let fields = confirm_fields(&confirm);
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let page = browser.post_form("/book", &borrowed).await;
    assert_eq!(page.status, 403);
    page.assert_contains("This form has expired");
    let page = browser
        .post_form(
            &format!("/appointments/{id}/cancel"),
            &[("reason", "No token")],
        )
        .await;
    assert_eq!(page.status, 403);
    let list = browser.get("/appointments").await;
    list.assert_contains("Nothing here yet.");
    assert!(!list.text().contains("11:00 GMT"), "{}", list.html);
}

#[tokio::test]
async fn another_patients_appointment_is_not_found_and_strangers_are_sent_to_log_in() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let id = booked_through_api(&clinic).await;
    other_patient(&clinic.app, false).await;
    let mut stranger = Browser::new(&clinic.app);
    for path in ["/book", "/appointments", &format!("/appointments/{id}")] {
        let page = stranger.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(page.location().starts_with("/login?next="), "{path}");
    }

    let mut browser = Browser::signed_in(&clinic.app, OTHER_EMAIL).await;
    for path in [
        format!("/appointments/{id}"),
        format!("/appointments/{id}/calendar.ics"),
        format!("/appointments/{id}/cancel"),
        format!("/appointments/{id}/reschedule"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
    }
    browser.get("/appointments").await;
    let page = browser
        .submit(
            &format!("/appointments/{id}/cancel"),
            &[("reason", "Not mine")],
        )
        .await;
    assert_eq!(page.status, 404);
    let list = browser.get("/appointments").await;
    assert!(!list.text().contains(&id));
}

#[tokio::test]
async fn the_time_picker_goes_a_week_at_a_time_from_today() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let page = browser
        .get(&format!(
            "/book?type={}&location={}&practitioner={}",
            clinic.new_visit, clinic.location, clinic.practitioner
        ))
        .await;
    assert_eq!(page.status, 200);
    page.assert_contains("Monday 2 March");
    // Nothing before today is offered, so there is no way back from this week.
    assert!(!page.text().contains("Previous week"));
    let next = href_with(&page, "week=2026-03-09");
    let page = browser.get(&next).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Monday 9 March");
    page.assert_contains("Previous week");
    // A week asked for in the past shows this week.
    let page = browser
        .get(&format!(
            "/book?type={}&location={}&practitioner=any&week=2020-01-06",
            clinic.new_visit, clinic.location
        ))
        .await;
    assert_eq!(page.status, 200);
    page.assert_contains("Monday 2 March");
}

#[tokio::test]
async fn moving_to_a_time_that_is_not_free_offers_the_next_free_times() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let id = booked_through_api(&clinic).await;
    let other = other_patient(&clinic.app, true).await;
    let taken = clinic
        .book(
            &other,
            "other-key",
            clinic.booking(&clinic.new_visit, "2026-03-04T10:00:00Z"),
        )
        .await;
    assert_eq!(taken.status(), 201);
    let mut browser = Browser::signed_in(&clinic.app, PATIENT_EMAIL).await;
    let path = format!("/appointments/{id}/reschedule");
    browser.get(&path).await;
    let refused = browser
        .submit(&path, &[("start", "2026-03-04T10:00:00+00:00")])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    refused.assert_contains("The next free times");
    let next = href_with(&refused, "/reschedule?start=");
    let confirm = browser.get(&next).await;
    assert_eq!(confirm.status, 200);
    confirm.assert_contains("Move my appointment");
    // Still where it was.
    let page = browser.get(&format!("/appointments/{id}")).await;
    page.assert_contains("Wednesday 4 March 2026 at 09:00 GMT");
}
