//! The case page a practitioner reaches from the "a case waits for review" email, over HTTP:
//! answers in the questionnaire's words, the fired rules with rationale and source, how to
//! reach the patient, the decision form (mistakes listed, CSRF), and who may open it.

use entity::user::Role;
use serde_json::Value;

use crate::{
    helpers::{TestApp, app_with_sink, test_epoch},
    intakes::{routine_answers, submit_intake, with},
    pages::Browser,
    smtp_sink::SmtpSink,
};

const PATIENT: &str = "alex@example.org";
const PRACTITIONER: &str = "dr.kay@clinic.example";

/// A patient's intake with a cauda equina answer, sent; returns its case page's path.
async fn flagged_case(app: &TestApp) -> String {
    app.add_patient(PATIENT).await;
    let token = app.login(PATIENT).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answers = with(
        routine_answers(test_epoch().date_naive()),
        &[("saddle_numbness", Value::Bool(true))],
    );
    let intake = submit_intake(app, &token, answers).await;
    format!("/reviews/{}", intake["intake"]["id"].as_str().unwrap())
}

#[tokio::test]
async fn the_emailed_case_link_opens_the_case_for_a_practitioner_who_records_a_decision() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    app.add_user(PRACTITIONER, Role::Practitioner).await;
    let path = flagged_case(&app).await;

    // The alert email links to this page; opened signed out, it asks to log in first.
    app.worker().run_once().await.unwrap();
    let alert = sink
        .received()
        .into_iter()
        .find(|mail| mail.rcpt_to.iter().any(|to| to == PRACTITIONER))
        .expect("the practitioner is alerted");
    assert!(alert.text().contains(&path), "{}", alert.text());
    let mut anonymous = Browser::new(&app);
    let page = anonymous.get(&path).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location(),
        format!("/login?next={}", path.replace('/', "%2F"))
    );

    let mut browser = Browser::signed_in(&app, PRACTITIONER).await;
    let case = browser.get(&path).await;
    assert_eq!(case.status, 200, "{}", case.html);
    case.assert_contains("Alex");
    case.assert_contains("Emergency");
    case.assert_contains(PATIENT);
    // The rule that fired, with its source; the answer in the questionnaire's words.
    case.assert_contains("Rule ");
    case.assert_contains("Source: ");
    case.assert_contains("numbness");
    case.assert_contains("<dd>Yes</dd>");
    case.assert_contains("None yet.");

    // A decision without its choice or note lists both, keeping what was typed.
    let wrong = browser.submit(&path, &[("note", "  ")]).await;
    assert_eq!(wrong.status, 422);
    wrong.assert_contains("There is a problem");
    wrong.assert_contains("<a href=\"#decision\">Choose a decision.</a>");
    wrong.assert_contains("<a href=\"#note\">");
    // Without the form's token nothing is recorded.
    let forged = browser
        .post_form(
            &path,
            &[("decision", "cleared_for_care"), ("note", "no token")],
        )
        .await;
    assert_eq!(forged.status, 403);

    let done = browser
        .submit(
            &path,
            &[
                ("decision", "refer_to_emergency"),
                ("note", "Phoned; sent to A&E"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    let after = browser.get(done.location()).await;
    after.assert_contains("Your decision is recorded");
    after.assert_contains("Refer to emergency care");
    after.assert_contains("Phoned; sent to A");
    assert!(
        !after.text().contains("no token"),
        "the forged post recorded nothing"
    );
}

#[tokio::test]
async fn only_practitioners_open_a_case() {
    let app = TestApp::spawn().await;
    let path = flagged_case(&app).await;
    for (email, role) in [
        ("desk@clinic.example", Role::Staff),
        ("admin@clinic.example", Role::Admin),
    ] {
        app.add_user(email, role).await;
        let mut browser = Browser::signed_in(&app, email).await;
        let page = browser.get(&path).await;
        assert_eq!(page.status, 403, "{role:?}");
        assert!(
            !page.text().contains("Source: "),
            "{role:?} sees no reasons"
        );
        assert!(!page.text().contains("<dt>"), "{role:?} sees no answers");
    }
    // The patient themselves, and a made-up case: not found.
    let mut patient = Browser::signed_in(&app, PATIENT).await;
    let page = patient.get(&path).await;
    assert!(page.status == 403 || page.status == 404, "{}", page.status);
    assert!(!page.text().contains("Source: "));
    app.add_user(PRACTITIONER, Role::Practitioner).await;
    let mut practitioner = Browser::signed_in(&app, PRACTITIONER).await;
    let missing = practitioner
        .get("/reviews/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(practitioner.get("/reviews/not-an-id").await.status, 404);
}

#[tokio::test]
async fn the_queue_puts_emergencies_first_and_says_how_long_each_has_waited() {
    let app = TestApp::spawn().await;
    // The alerts are another test's subject.
    app.expect_unsent_mail();
    app.add_user(PRACTITIONER, Role::Practitioner).await;
    let mut browser = Browser::signed_in(&app, PRACTITIONER).await;
    let empty = browser.get("/reviews").await;
    assert_eq!(empty.status, 200);
    empty.assert_contains("No cases are waiting.");
    empty.assert_contains("Check for new cases");

    // An urgent case first (a history of cancer), then, 75 minutes later, an emergency.
    app.add_patient("sam@example.org").await;
    let sam = app.login("sam@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let urgent = with(
        routine_answers(test_epoch().date_naive()),
        &[("cancer_history", Value::Bool(true))],
    );
    let urgent = submit_intake(&app, &sam, urgent).await;
    let urgent = format!("/reviews/{}", urgent["intake"]["id"].as_str().unwrap());
    app.clock.advance(chrono::Duration::minutes(75));
    let emergency = flagged_case(&app).await;
    app.clock.advance(chrono::Duration::minutes(12));

    let queue = browser.get("/reviews").await;
    assert_eq!(queue.status, 200);
    queue.assert_contains("2 cases are waiting, 1 of them an emergency.");
    let text = queue.text();
    let first = text.find(&emergency).expect("the emergency is listed");
    let second = text.find(&urgent).expect("the urgent case is listed");
    assert!(first < second, "the emergency comes first");
    queue.assert_contains("waiting 12 min");
    queue.assert_contains("waiting 1 h 27 min");
    queue.assert_contains("Urgent");

    // Only practitioners see it; signed out, it asks to log in.
    for (email, role) in [
        ("desk@clinic.example", Role::Staff),
        ("admin@clinic.example", Role::Admin),
    ] {
        app.add_user(email, role).await;
        let mut other = Browser::signed_in(&app, email).await;
        let page = other.get("/reviews").await;
        assert_eq!(page.status, 403, "{role:?}");
        assert!(!page.text().contains(&urgent), "{role:?}");
    }
    let mut patient = Browser::signed_in(&app, PATIENT).await;
    assert_eq!(patient.get("/reviews").await.status, 403);
    let page = Browser::new(&app).get("/reviews").await;
    assert_eq!(page.status, 303);
}
