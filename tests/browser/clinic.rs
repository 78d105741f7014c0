//! Clinic journeys: the review queue showing a new emergency by itself, the case an alert
//! email links to, decided, and the front desk booking a new patient by phone and checking them
//! in.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    harness::{Browser, Javascript},
    helpers::{PATIENT_DATE_OF_BIRTH, TEST_PASSWORD},
};

/// `patient` (an account made here) saves a cauda equina answer in their questionnaire: the
/// case opens at once, and the practitioners are emailed.
async fn emergency_answer_saved(b: &mut Browser, patient: &str) {
    b.app.add_patient(patient).await;
    let token = b.app.login(patient).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = b
        .app
        .send(
            Method::POST,
            "/api/v1/intakes",
            Some(&token),
            Some(json!({})),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let id = started["id"].as_str().unwrap().to_owned();
    let answers = json!({"date_of_birth": PATIENT_DATE_OF_BIRTH, "saddle_numbness": true});
    let saved = b
        .app
        .send(
            Method::PUT,
            &format!("/api/v1/intakes/{id}"),
            Some(&token),
            Some(json!({ "answers": answers })),
        )
        .await;
    assert!(saved.status().is_success(), "the emergency answer is saved");
}

/// A practitioner watching the review queue sees a new emergency arrive without reloading the
/// page (with JavaScript the list is swapped in place; without it the page reloads itself),
/// opens it and clears it with a note; the queue is then empty again.
async fn a_new_emergency_arrives_in_the_queue_and_is_cleared(b: &mut Browser) {
    let practitioner = "dr.kay@clinic.example";
    b.app.add_user(practitioner, Role::Practitioner).await;
    b.open("/login").await;
    b.fill("Email address", practitioner).await;
    b.fill("Password", TEST_PASSWORD).await;
    b.press("Log in").await;
    b.follow("Review queue").await;
    b.expect_heading("Review queue").await;
    b.expect_text("No cases are waiting.").await;
    b.check_accessibility("review-queue-empty").await;
    b.mark_page().await;

    emergency_answer_saved(b, "alex@example.org").await;
    let waiting = "1 case is waiting, 1 of them an emergency.";
    match b.javascript() {
        Javascript::Enabled => {
            b.expect_text("checks for new cases every 3 seconds").await;
            b.wait_for_text(waiting, std::time::Duration::from_secs(20))
                .await;
            assert!(
                b.still_the_marked_page().await,
                "the script updated the list in place, without a reload"
            );
        }
        // Nothing reloads a page by itself without a script (a timed reload fails WCAG
        // 2.2.1): the practitioner asks.
        Javascript::Disabled => {
            b.follow("Check for new cases").await;
            b.expect_text(waiting).await;
        }
    }
    b.expect_text("Alex Morgan").await;
    b.expect_text("just arrived").await;
    b.check_accessibility("review-queue").await;
    b.screenshot("review-queue").await;

    b.follow("Alex Morgan").await;
    b.expect_text("A case for review").await;
    // The alert email leads to this same page.
    let case = b.emailed_link("dr.kay@clinic.example", "/reviews/").await;
    assert!(b.here_is(&case).await, "the alert links to the case");
    b.tick("decision", "cleared_for_care").await;
    b.fill(
        "Note",
        "Phoned: the numbness was a tight belt, gone now. Safe to see the chiropractor.",
    )
    .await;
    b.press("Record my decision").await;
    b.expect_text("Your decision is recorded").await;
    b.follow("Review queue").await;
    b.expect_text("No cases are waiting.").await;
}
journey!(a_new_emergency_arrives_in_the_queue_and_is_cleared);

/// A practitioner follows the alert email's link, logs in, reads the case and records a
/// decision with a note.
async fn a_practitioner_opens_an_alerted_case_and_decides_it(b: &mut Browser) {
    let practitioner = "dr.kay@clinic.example";
    b.app.add_user(practitioner, Role::Practitioner).await;
    emergency_answer_saved(b, "alex@example.org").await;

    let link = b.emailed_link(practitioner, "/reviews/").await;
    b.open(&link).await;
    b.expect_heading("Log in").await;
    b.fill("Email address", practitioner).await;
    b.fill("Password", TEST_PASSWORD).await;
    b.press("Log in").await;
    b.expect_text("A case for review").await;
    b.expect_text("Not sent yet (emergency answers interrupted the questionnaire)")
        .await;
    b.expect_text("gave an emergency answer before sending")
        .await;
    b.check_accessibility("review-case").await;
    b.screenshot("review-case").await;

    b.press("Record my decision").await;
    b.expect_text("There is a problem").await;
    b.check_accessibility("review-case-errors").await;
    b.tick("decision", "refer_to_emergency").await;
    b.fill(
        "Note",
        "Phoned the patient and sent them to the emergency department.",
    )
    .await;
    b.press("Record my decision").await;
    b.expect_text("Your decision is recorded").await;
    b.expect_text("Phoned the patient").await;
}
journey!(a_practitioner_opens_an_alerted_case_and_decides_it);

/// The front desk takes a call from someone new: adds them as a patient, books their first
/// visit at the first free time (past the missing questionnaire, giving the reason), finds it
/// on the day and checks them in when they arrive.
async fn the_desk_books_a_new_patient_by_phone_and_checks_them_in(b: &mut Browser) {
    crate::patient::open_the_demo_clinic(&b.app).await;
    let desk = "frontdesk@clinic.example";
    b.app.add_user(desk, Role::Staff).await;
    b.open("/login").await;
    b.fill("Email address", desk).await;
    b.fill("Password", TEST_PASSWORD).await;
    b.press("Log in").await;
    b.follow("The day").await;
    b.expect_text("The day: Monday 2 March 2026").await;
    b.check_accessibility("desk-day-empty").await;

    b.follow("Patients").await;
    b.expect_heading("Patients").await;
    b.check_accessibility("desk-patients").await;
    b.fill("First name", "Chidi").await;
    b.fill("Last name", "Okoye").await;
    b.fill("Day", "9").await;
    b.fill("Month", "7").await;
    b.fill("Year", "1971").await;
    b.fill("Phone number (optional)", "0117 496 0123").await;
    b.press("Add the patient").await;
    b.expect_text("The patient is added.").await;
    b.expect_heading("Chidi Okoye").await;
    b.check_accessibility("desk-patient").await;
    let address = b.address().await;
    let patient_id = address
        .split("/desk/patients/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .expect("the patient's page names them")
        .to_owned();

    b.follow("Book an appointment").await;
    b.expect_heading("Book for Chidi Okoye").await;
    b.follow_first("//a[starts-with(normalize-space(.), 'Chiropractic new patient visit')]")
        .await;
    b.choose("Where", "Riverside Clinic").await;
    b.press("Show free times").await;
    b.follow_first("//ul[@class='day-list']//a").await;
    b.check_accessibility("desk-book-when").await;
    b.follow_first("//ul[@class='time-list']//a").await;
    b.press("Book this appointment").await;
    // No questionnaire yet: the desk books anyway, saying why.
    b.expect_text("Reason for booking without a current questionnaire")
        .await;
    b.check_accessibility("desk-book-override").await;
    b.fill(
        "Reason for booking without a current questionnaire",
        "New patient on the phone; will fill in the questionnaire at the clinic.",
    )
    .await;
    b.press("Book anyway").await;
    b.expect_text("Booked.").await;
    b.expect_text("Chidi Okoye").await;

    // The patient arrives a little before the time.
    let staff = b.app.access_token(Role::Staff).await;
    let day: Value = b
        .app
        .send(
            Method::GET,
            "/api/v1/appointments?date=2026-03-02",
            Some(&staff),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let start = day["appointments"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|appointment| appointment["patient_id"] == patient_id.as_str())
        })
        .and_then(|appointment| appointment["start"].as_str())
        .and_then(|start| chrono::DateTime::parse_from_rfc3339(start).ok())
        .expect("the booking is on today's list")
        .to_utc();
    b.app.clock.set(start - chrono::Duration::minutes(10));
    b.follow("The day").await;
    b.expect_text("Chidi Okoye").await;
    b.check_accessibility("desk-day").await;
    b.screenshot("desk-day").await;
    b.press_for("Check in", "Chidi Okoye").await;
    b.expect_text("Checked in.").await;
    b.expect_text("Checked in").await;
}
journey!(the_desk_books_a_new_patient_by_phone_and_checks_them_in);
