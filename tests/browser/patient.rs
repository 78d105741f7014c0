//! The patient's clinical journeys: the intake section by section to its advice, booking and
//! cancelling, the emergency page the moment a red-flag answer is saved, a follow-up link
//! without logging in, and a forgotten password.

use chrono::{Datelike, Duration};
use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    harness::Browser,
    helpers::{TEST_PASSWORD, TestApp},
};

/// What a patient with ordinary back pain ticks for each question a page asks, by its linkId
/// (the questionnaires' contract). Every question not named here is a yes/no question about a
/// warning sign, answered "no".
fn routine_choice(link_id: &str) -> &'static str {
    match link_id {
        "sex" => "female",
        "pain_areas" => "lower_back",
        "onset_cause" => "no_clear_cause",
        "leg_symptoms" | "leg_weakness" => "none",
        "nsaid_relief_48h" => "not_tried",
        "sbt_9" => "slightly",
        "pain_now" | "pain_worst_week" => "4",
        "global_change" => "better",
        "consent_treatment" | "consent_privacy" => "true",
        odi if odi.starts_with("odi_") => "1",
        _ => "false",
    }
}

/// Answers every question the page shows as a patient with ordinary back pain would, except
/// those in `except` (the journey answers them itself).
async fn answer_routinely(b: &mut Browser, except: &[&str]) {
    for link_id in b.choice_names().await {
        if !except.contains(&link_id.as_str()) {
            b.tick(&link_id, routine_choice(&link_id)).await;
        }
    }
    // The one date a section asks that the record does not fill in.
    if b.has_id("pain_started_on").await {
        let started = b.app.clock.now().date_naive() - Duration::days(5);
        b.fill_id("pain_started_on", &started.day().to_string())
            .await;
        b.fill_id("pain_started_on-month", &started.month().to_string())
            .await;
        b.fill_id("pain_started_on-year", &started.year().to_string())
            .await;
    }
}

/// Logs `email` in through the login page.
async fn log_in(b: &mut Browser, email: &str, password: &str) {
    b.open("/login").await;
    b.fill("Email address", email).await;
    b.fill("Password", password).await;
    b.press("Log in").await;
}

/// A patient account made by the clinic, signed in.
async fn signed_in_patient(b: &mut Browser, email: &str) {
    b.app.add_patient(email).await;
    log_in(b, email, TEST_PASSWORD).await;
    b.expect_text("Welcome back").await;
}

/// Starts the questionnaire and answers its sections routinely until the page that sends it.
async fn complete_the_intake(b: &mut Browser) {
    b.follow("Your questionnaire").await;
    b.expect_heading("Your questionnaire").await;
    b.check_accessibility("intake-start").await;
    b.screenshot("intake-start").await;
    b.press("Start the questionnaire").await;
    b.expect_text("part 1 of").await;
    // The date of birth is already filled in from the record.
    assert_eq!(b.value_of("date_of_birth-year").await, "1986");
    b.check_accessibility("intake-first-section").await;
    b.screenshot("intake-first-section").await;

    let mut pages = 0;
    while !b.heading_is("Check and send your answers").await {
        pages += 1;
        assert!(pages < 12, "the questionnaire's sections come to an end");
        answer_routinely(b, &[]).await;
        if b.has_id("sbt_1").await {
            b.check_accessibility("intake-start-back").await;
            b.screenshot("intake-start-back").await;
        }
        b.press("Save and continue").await;
        b.expect_no_text("There is a problem").await;
    }
    b.expect_no_text("to answer").await;
    b.check_accessibility("intake-send").await;
    b.screenshot("intake-send").await;
}

/// The demo clinic's practitioners, locations and appointment types, to book with.
pub(crate) async fn open_the_demo_clinic(app: &TestApp) {
    let zone = app.state.config.time_zone;
    lumbar::demo::seed(&app.db, app.clock.now(), zone, &app.state.triage)
        .await
        .expect("seed the demo clinic");
}

/// A new patient registers, confirms the address from the email, fills in the questionnaire
/// section by section, reads the advice, books a first visit on the clinic's clock, finds it
/// in My appointments and cancels it.
async fn a_new_patient_completes_the_intake_books_and_cancels(b: &mut Browser) {
    let email = "rowan.ellis@example.org";
    open_the_demo_clinic(&b.app).await;

    b.open("/register").await;
    b.fill("First name", "Rowan").await;
    b.fill("Last name", "Ellis").await;
    b.fill("Email address", email).await;
    b.fill("Day", "2").await;
    b.fill("Month", "11").await;
    b.fill("Year", "1986").await;
    b.fill("Choose a password", "rowan's long password").await;
    b.press("Create my account").await;
    let link = b.emailed_link(email, "/verify-email?token=").await;
    b.open(&link).await;
    b.press("Confirm my email address").await;
    b.expect_heading("Your email address is confirmed").await;
    log_in(b, email, "rowan's long password").await;

    complete_the_intake(b).await;
    b.press("Send my answers").await;
    b.expect_text("Thank you for your answers").await;
    b.expect_no_text("Get medical help now").await;
    b.check_accessibility("intake-result").await;
    b.screenshot("intake-result").await;

    b.follow("Book an appointment").await;
    b.expect_heading("Book an appointment").await;
    b.check_accessibility("book-what").await;
    b.screenshot("book-what").await;
    b.follow_first("//a[starts-with(normalize-space(.), 'Chiropractic new patient visit')]")
        .await;
    b.check_accessibility("book-where").await;
    b.choose("Where", "Riverside Clinic").await;
    b.choose("With whom", "Anyone").await;
    b.press("Show free times").await;
    b.expect_text("Times are on the clinic's clock").await;
    b.follow_first("//ul[@class='day-list']//a").await;
    b.expect_text("Free times on").await;
    b.check_accessibility("book-when").await;
    b.screenshot("book-when").await;
    b.follow_first("//ul[@class='time-list']//a").await;
    b.expect_text("Step 4 of 4").await;
    b.check_accessibility("book-confirm").await;
    b.press("Book this appointment").await;
    b.expect_heading("Your appointment is booked").await;
    b.expect_text("Chiropractic new patient visit").await;
    b.expect_text("Riverside Clinic").await;
    assert_eq!(
        b.displayed("//a[normalize-space(.)='Add to my calendar (.ics file)' and contains(@href, '/calendar.ics')]")
            .await
            .len(),
        1,
        "the confirmation offers the calendar file"
    );
    b.check_accessibility("booked").await;
    b.screenshot("booked").await;
    b.emailed_link(email, "/appointments/").await;

    b.follow("All my appointments").await;
    b.expect_heading("My appointments").await;
    b.check_accessibility("my-appointments").await;
    b.screenshot("my-appointments").await;
    b.follow_first("//a[contains(@href, '/appointments/') and contains(., 'Chiropractic')]")
        .await;
    b.expect_heading("Your appointment").await;
    b.follow("Cancel this appointment").await;
    b.expect_heading("Cancel your appointment").await;
    b.check_accessibility("cancel").await;
    b.fill("Why are you cancelling?", "Feeling much better")
        .await;
    b.press("Cancel this appointment").await;
    b.expect_heading("Your appointment is cancelled").await;
    b.expect_text("Book another time").await;
    b.check_accessibility("cancelled").await;
    b.emailed_link(email, "/book").await;
}
journey!(a_new_patient_completes_the_intake_books_and_cancels);

/// A patient who says yes to a cauda equina question sees the emergency page as soon as that
/// page of answers is saved, before the questionnaire is finished, with no way to book.
async fn a_red_flag_answer_shows_the_emergency_page_at_once(b: &mut Browser) {
    signed_in_patient(b, "kit.morales@example.org").await;
    b.follow("Your questionnaire").await;
    b.press("Start the questionnaire").await;
    while !b.has_id("saddle_numbness").await {
        answer_routinely(b, &[]).await;
        b.press("Save and continue").await;
        b.expect_no_text("There is a problem").await;
    }
    b.expect_text("Safety question").await;
    b.check_accessibility("intake-safety").await;
    b.screenshot("intake-safety").await;
    b.tick("saddle_numbness", "true").await;
    b.press("Save and continue").await;

    b.expect_heading("Get medical help now").await;
    b.expect_text("Call your local emergency number").await;
    b.expect_text("Please do not book a visit with us").await;
    assert!(
        b.displayed("//main//a[contains(@href, '/book')]")
            .await
            .is_empty(),
        "no way to book from the emergency page"
    );
    b.check_accessibility("emergency").await;
    b.screenshot("emergency").await;

    // Booking says at once that it is closed to them, and why, before anything is chosen.
    b.open("/book").await;
    b.expect_text("We can't book an appointment for you right now")
        .await;
    b.expect_no_text("Step 1 of 4").await;
    b.check_accessibility("book-refused").await;
}
journey!(a_red_flag_answer_shows_the_emergency_page_at_once);

/// The clinic sends a follow-up; the emailed link opens the questionnaire without logging in,
/// takes the answers once, and then says it was used.
async fn a_follow_up_link_works_once_without_logging_in(b: &mut Browser) {
    let email = "noor.haddad@example.org";
    let desk = b.app.access_token(Role::Staff).await;
    let created = b
        .app
        .send(
            Method::POST,
            "/api/v1/patients",
            Some(&desk),
            Some(json!({"given_name": "Noor", "family_name": "Haddad",
                        "date_of_birth": "1964-05-20", "email": email})),
        )
        .await;
    assert_eq!(created.status(), 201, "the desk adds the patient");
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = b
        .app
        .send(
            Method::POST,
            &format!("/api/v1/patients/{id}/follow-ups"),
            Some(&desk),
            None,
        )
        .await;
    assert!(sent.status().is_success(), "the desk sends a follow-up");

    let link = b.emailed_link(email, "/follow-ups/").await;
    b.open(&link).await;
    b.expect_text("Hello Noor").await;
    b.check_accessibility("follow-up").await;
    b.screenshot("follow-up").await;
    answer_routinely(b, &[]).await;
    b.press("Send my answers").await;
    b.expect_text("Your practitioner will see your answers")
        .await;
    b.check_accessibility("follow-up-result").await;
    b.screenshot("follow-up-result").await;

    b.open(&link).await;
    b.expect_heading("This link has expired or was used already")
        .await;
    b.check_accessibility("follow-up-used").await;
}
journey!(a_follow_up_link_works_once_without_logging_in);

/// A patient who forgot the password asks for a link, sets a new password from it, and logs
/// in with the new one; the link then no longer works.
async fn a_forgotten_password_is_replaced_from_the_emailed_link(b: &mut Browser) {
    let email = "ola.berg@example.org";
    b.app.add_patient(email).await;
    b.open("/login").await;
    b.follow("I forgot my password").await;
    b.expect_heading("Forgot your password?").await;
    b.check_accessibility("forgot-password").await;
    b.fill("Email address", email).await;
    b.press("Send me a link").await;
    b.expect_heading("Check your email").await;

    let link = b.emailed_link(email, "/reset-password?token=").await;
    b.open(&link).await;
    b.expect_heading("Choose a new password").await;
    b.check_accessibility("reset-password").await;
    b.screenshot("reset-password").await;
    b.fill("New password", "ola's brand new password").await;
    b.press("Save my new password").await;
    b.expect_heading("Your password is changed").await;

    log_in(b, email, TEST_PASSWORD).await;
    b.expect_text("There is a problem").await;
    log_in(b, email, "ola's brand new password").await;
    b.expect_text("Welcome back").await;
    b.open(&link).await;
    b.expect_heading("This link has expired or was used already")
        .await;
}
journey!(a_forgotten_password_is_replaced_from_the_emailed_link);
