//! The intake pages over HTTP (issue 15): a section per page saved as a draft, questions that
//! an answer brings up shown without JavaScript, the emergency page the moment an emergency
//! answer is saved, sending with what is missing listed, and the result's advice.

use entity::user::Role;
use serde_json::{Map, Value};

use crate::{
    helpers::{TEST_PASSWORD, TestApp, test_epoch},
    intakes::{routine_answers, with},
    pages::{Browser, Page},
};

const EMAIL: &str = "alex@example.org";

/// A patient signed in on a fresh browser.
async fn signed_in(app: &TestApp) -> Browser<'_> {
    app.add_patient(EMAIL).await;
    let mut browser = Browser::new(app);
    browser.get("/login").await;
    let page = browser
        .submit("/login", &[("email", EMAIL), ("password", TEST_PASSWORD)])
        .await;
    assert_eq!(page.status, 303);
    browser
}

/// `answers` as the form fields a browser posts (dates in three parts).
pub fn fields(answers: &Map<String, Value>) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for (link_id, value) in answers {
        match value {
            Value::Bool(flag) => fields.push((link_id.clone(), flag.to_string())),
            Value::Number(number) => fields.push((link_id.clone(), number.to_string())),
            Value::Array(codes) => {
                for code in codes {
                    fields.push((link_id.clone(), code.as_str().unwrap().to_owned()));
                }
            }
            Value::String(text) if link_id.ends_with("_on") || link_id == "date_of_birth" => {
                let mut parts = text.split('-');
                let (year, month, day) = (parts.next(), parts.next(), parts.next());
                fields.push((format!("{link_id}__year"), year.unwrap().into()));
                fields.push((format!("{link_id}__month"), month.unwrap().into()));
                fields.push((format!("{link_id}__day"), day.unwrap().into()));
            }
            Value::String(text) => fields.push((link_id.clone(), text.clone())),
            other => panic!("no form field for {other}"),
        }
    }
    fields
}

async fn post_section(browser: &mut Browser<'_>, path: &str, answers: &Map<String, Value>) -> Page {
    browser.get(path).await;
    let fields = fields(answers);
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    browser.submit(path, &borrowed).await
}

/// Starts an intake from its start page; returns the first section's path.
async fn start(browser: &mut Browser<'_>) -> String {
    let page = browser.get("/intake").await;
    assert_eq!(page.status, 200);
    page.assert_contains("Start the questionnaire");
    let started = browser.submit("/intake", &[]).await;
    assert_eq!(started.status, 303);
    assert!(
        started.location().ends_with("/section/about_you"),
        "{}",
        started.location()
    );
    started.location().to_owned()
}

#[tokio::test]
async fn a_patient_fills_in_the_intake_page_by_page_and_reads_the_advice() {
    let app = TestApp::spawn().await;
    let mut browser = signed_in(&app).await;
    let mut path = start(&mut browser).await;
    let answers = routine_answers(test_epoch().date_naive());

    let first = browser.get(&path).await;
    first.assert_contains("part 1 of");
    first.assert_contains("What is your sex?");
    // The date of birth comes from the record.
    first.assert_contains("value=\"1986\"");

    let mut pages = 0;
    while path.contains("/section/") {
        let saved = post_section(&mut browser, &path, &answers).await;
        assert_eq!(saved.status, 303, "{path}: {}", saved.html);
        path = saved.location().to_owned();
        pages += 1;
        assert!(pages < 20, "the sections end");
    }
    assert!(path.ends_with("/send"), "{path}");

    // Resuming from the start page goes to the page that sends it.
    let resume = browser.get("/intake").await;
    resume.assert_contains(&path);

    let check = browser.get(&path).await;
    check.assert_contains("Check and send your answers");
    assert!(!check.text().contains("to answer"), "every section done");
    let sent = browser.submit(&path, &[]).await;
    assert_eq!(sent.status, 303);
    assert!(sent.location().ends_with("/result"));
    let result = browser.get(sent.location()).await;
    assert_eq!(result.status, 200);
    assert!(!result.text().contains("Get medical help now"));
    result.assert_contains("Thank you for your answers");
    result.assert_contains("<a class=\"button\" href=\"/book\">");

    // A sent intake's pages lead to its result.
    let again = browser
        .get(&path.replace("/send", "/section/about_you"))
        .await;
    assert_eq!(again.status, 303);
    assert!(again.location().ends_with("/result"));
}

#[tokio::test]
async fn an_emergency_answer_shows_the_emergency_page_the_moment_it_is_saved() {
    let app = TestApp::builder()
        .args(["--emergency-number", "999"])
        .spawn()
        .await;
    let mut browser = signed_in(&app).await;
    let first = start(&mut browser).await;
    let safety = first.replace("/section/about_you", "/section/safety");

    let answers = with(Map::new(), &[("saddle_numbness", Value::Bool(true))]);
    let saved = post_section(&mut browser, &safety, &answers).await;
    assert_eq!(saved.status, 303);
    assert!(
        saved.location().ends_with("/emergency"),
        "{}",
        saved.location()
    );
    let page = browser.get(saved.location()).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Get medical help now");
    page.assert_contains("href=\"tel:999\"");
    page.assert_contains("emergency department");
    assert!(!page.text().contains("/book"), "no booking from here");

    // The practitioners' queue has it at once, as an unsubmitted emergency.
    let practitioner = app.access_token(Role::Practitioner).await;
    let queue = crate::intakes::call_ok(
        &app,
        reqwest::Method::GET,
        "/api/v1/reviews?status=pending",
        &practitioner,
        None,
    )
    .await;
    let entries = queue.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{queue}");
    assert_eq!(entries[0]["unsubmitted"], true, "{queue}");
}

#[tokio::test]
async fn a_question_an_answer_brings_up_is_asked_on_the_same_page_without_javascript() {
    let app = TestApp::spawn().await;
    let mut browser = signed_in(&app).await;
    let first = start(&mut browser).await;
    let pain = first.replace("/section/about_you", "/section/your_pain");

    let before = browser.get(&pain).await;
    assert!(
        before.html.contains("data-when-question=\"leg_symptoms\""),
        "rendered hidden, for the script"
    );
    let answers = with(
        routine_answers(test_epoch().date_naive()),
        &[("leg_symptoms", Value::String("one_leg".into()))],
    );
    let answers: Map<String, Value> = answers
        .into_iter()
        .filter(|(link_id, _)| link_id != "leg_numbness")
        .collect();
    let saved = post_section(&mut browser, &pain, &answers).await;
    assert_eq!(saved.status, 303);
    assert_eq!(saved.location(), format!("{pain}?more=1"));
    let again = browser.get(saved.location()).await;
    again.assert_contains("a few more questions on this page");
    let numbness = again.html.find("leg_numbness").unwrap();
    let block_start = again.html[..numbness].rfind("<div class=\"field").unwrap();
    assert!(
        !again.html[block_start..numbness].contains("hidden"),
        "now shown"
    );
}

#[tokio::test]
async fn unreadable_and_missing_answers_are_listed_with_links_to_their_questions() {
    let app = TestApp::spawn().await;
    let mut browser = signed_in(&app).await;
    let first = start(&mut browser).await;
    let pain = first.replace("/section/about_you", "/section/your_pain");

    browser.get(&pain).await;
    let wrong = browser
        .submit(
            &pain,
            &[
                ("pain_now", "very"),
                ("pain_started_on__day", "31"),
                ("pain_started_on__month", "2"),
                ("pain_started_on__year", "2026"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    wrong.assert_contains("There is a problem");
    wrong.assert_contains("<a href=\"#pain_now\">");
    wrong.assert_contains("<a href=\"#pain_started_on\">");

    let send = first.replace("/section/about_you", "/send");
    browser.get(&send).await;
    let refused = browser.submit(&send, &[]).await;
    assert_eq!(refused.status, 422);
    refused.assert_contains("Some questions still need an answer");
    refused.assert_contains("/section/safety#saddle_numbness");
    refused.assert_contains("never taken as \"no\"");
}

#[tokio::test]
async fn intake_pages_are_for_the_signed_in_patient_only() {
    let app = TestApp::spawn().await;
    let mut anonymous = Browser::new(&app);
    let page = anonymous.get("/intake").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/login?next=%2Fintake");

    app.add_user("desk@clinic.example", Role::Staff).await;
    let mut desk = Browser::new(&app);
    desk.get("/login").await;
    desk.submit(
        "/login",
        &[
            ("email", "desk@clinic.example"),
            ("password", TEST_PASSWORD),
        ],
    )
    .await;
    let refused = desk.get("/intake").await;
    assert_eq!(refused.status, 403);
    refused.assert_contains("This page is for patients");

    // Someone else's intake is not found.
    let mut patient = signed_in(&app).await;
    let first = start(&mut patient).await;
    app.add_patient("other@example.org").await;
    let mut other = Browser::new(&app);
    other.get("/login").await;
    other
        .submit(
            "/login",
            &[("email", "other@example.org"), ("password", TEST_PASSWORD)],
        )
        .await;
    let theirs = other.get(&first).await;
    assert_eq!(theirs.status, 404);
    theirs.assert_contains("Page not found");
}
