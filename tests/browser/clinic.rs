//! Clinic journeys: a practitioner opens the case an alert email links to and decides it.

use entity::user::Role;
use serde_json::{Value, json};

use crate::{
    harness::Browser,
    helpers::{PATIENT_DATE_OF_BIRTH, TEST_PASSWORD},
};

/// A patient saves an emergency answer in the questionnaire (the case opens at once); the practitioner follows the alert email's
/// link, logs in, reads the case and records a decision with a note.
async fn a_practitioner_opens_an_alerted_case_and_decides_it(b: &mut Browser) {
    let practitioner = "dr.kay@clinic.example";
    b.app.add_user(practitioner, Role::Practitioner).await;
    let patient = "alex@example.org";
    b.app.add_patient(patient).await;
    let token = b.app.login(patient).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = b
        .app
        .send(
            reqwest::Method::POST,
            "/api/v1/intakes",
            Some(&token),
            Some(json!({})),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let id = started["id"].as_str().unwrap().to_owned();
    let mut answers = serde_json::Map::new();
    answers.insert("date_of_birth".into(), json!(PATIENT_DATE_OF_BIRTH));
    answers.insert("saddle_numbness".into(), json!(true));
    let saved = b
        .app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/intakes/{id}"),
            Some(&token),
            Some(json!({ "answers": answers })),
        )
        .await;
    assert!(saved.status().is_success(), "the emergency answer is saved");

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
