//! More patient pages over HTTP (issue 15): forgot password → emailed link → new password,
//! changing the password and the email address on My details, and the follow-up page behind
//! its emailed link (no login), with its result, the emergency page, and a spent link.

use reqwest::Method;
use serde_json::{Map, Value};

use crate::{
    appointments::{PATIENT_EMAIL, clinic},
    helpers::{TEST_PASSWORD, TestApp, app_with_sink},
    intakes::{call_ok, follow_up_answers},
    pages::Browser,
    pages_intake::fields,
    smtp_sink::SmtpSink,
};

async fn log_in(browser: &mut Browser<'_>, email: &str, password: &str) -> u16 {
    browser.get("/login").await;
    browser
        .submit("/login", &[("email", email), ("password", password)])
        .await
        .status
        .as_u16()
}

/// Delivers what is queued; the newest email to `recipient` with `marker` in it, and its token.
async fn token_in_mail(app: &TestApp, sink: &SmtpSink, recipient: &str, marker: &str) -> String {
    app.worker().run_once().await.unwrap();
    sink.received()
        .into_iter()
        .rev()
        .find(|mail| mail.rcpt_to.iter().any(|to| to == recipient) && mail.text().contains(marker))
        .unwrap_or_else(|| panic!("no email to {recipient} with {marker}"))
        .token_after(marker)
}

#[tokio::test]
async fn a_forgotten_password_is_replaced_through_the_emailed_link() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    app.add_patient("kim@example.org").await;
    let mut browser = Browser::new(&app);

    let form = browser.get("/forgot-password").await;
    assert_eq!(form.status, 200);
    let blank = browser.submit("/forgot-password", &[("email", "")]).await;
    assert_eq!(blank.status, 422);
    blank.assert_contains("<a href=\"#email\">");

    // Known and unknown addresses get the same page.
    let unknown = browser
        .submit("/forgot-password", &[("email", "nobody@example.org")])
        .await;
    let known = browser
        .submit("/forgot-password", &[("email", "kim@example.org")])
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(known.status, 200);
    unknown.assert_contains("Check your email");
    assert_eq!(
        unknown.text().replace("nobody@example.org", "X"),
        known.text().replace("kim@example.org", "X")
    );

    let token = token_in_mail(&app, &sink, "kim@example.org", "/reset-password?token=").await;
    let page = browser.get(&format!("/reset-password?token={token}")).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Choose a new password");
    let weak = browser
        .submit(
            "/reset-password",
            &[("token", &token), ("password", "short")],
        )
        .await;
    assert_eq!(weak.status, 422);
    weak.assert_contains("<a href=\"#password\">");
    let done = browser
        .submit(
            "/reset-password",
            &[("token", &token), ("password", "kim's brand new password")],
        )
        .await;
    assert_eq!(done.status, 200);
    done.assert_contains("Your password is changed");
    let spent = browser
        .submit(
            "/reset-password",
            &[("token", &token), ("password", "yet another password")],
        )
        .await;
    assert_eq!(spent.status, 400);
    spent.assert_contains("Ask for a new link");
    // Opening the spent link says so at once, before a password is typed; so does a made-up one.
    for link in [token.as_str(), "made-up"] {
        let reopened = browser.get(&format!("/reset-password?token={link}")).await;
        assert_eq!(reopened.status, 400, "{link}");
        reopened.assert_contains("This link has expired or was used already");
    }

    assert_eq!(
        log_in(&mut browser, "kim@example.org", TEST_PASSWORD).await,
        401
    );
    assert_eq!(
        log_in(&mut browser, "kim@example.org", "kim's brand new password").await,
        303
    );
}

#[tokio::test]
async fn my_details_change_the_password_and_ask_to_confirm_a_new_address() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    app.add_patient("ren@example.org").await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        log_in(&mut browser, "ren@example.org", TEST_PASSWORD).await,
        303
    );

    let details = browser.get("/account").await;
    details.assert_contains("Change your password");
    let wrong = browser
        .submit(
            "/account/password",
            &[
                ("current_password", "not it at all"),
                ("new_password", "a fine new password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    wrong.assert_contains("<a href=\"#current_password\">");

    let email = browser
        .submit("/account/email", &[("new_email", "not an address")])
        .await;
    assert_eq!(email.status, 422);
    email.assert_contains("<a href=\"#new_email\">");
    let asked = browser
        .submit("/account/email", &[("new_email", "ren.new@example.org")])
        .await;
    assert_eq!(asked.status, 303);
    let details = browser.get("/account").await;
    details.assert_contains("waiting for you to confirm it");
    token_in_mail(&app, &sink, "ren.new@example.org", "/confirm-email?token=").await;

    // A second browser signed in too is signed out by the change.
    let mut other = Browser::new(&app);
    assert_eq!(
        log_in(&mut other, "ren@example.org", TEST_PASSWORD).await,
        303
    );
    browser.get("/account").await;
    let changed = browser
        .submit(
            "/account/password",
            &[
                ("current_password", TEST_PASSWORD),
                ("new_password", "a fine new password"),
            ],
        )
        .await;
    assert_eq!(changed.status, 200);
    changed.assert_contains("Your password is changed");
    assert_eq!(other.get("/account").await.status, 303);
    assert_eq!(browser.get("/account").await.status, 303);
    assert_eq!(
        log_in(&mut browser, "ren@example.org", "a fine new password").await,
        303
    );
}

/// Sends the clinic's patient a follow-up link and returns its path.
async fn follow_up_link(app: &TestApp, sink: &SmtpSink, staff: &str, patient_id: &str) -> String {
    let send = format!("/api/v1/patients/{patient_id}/follow-ups");
    call_ok(app, Method::POST, &send, staff, None).await;
    let token = token_in_mail(app, sink, PATIENT_EMAIL, "/follow-ups/").await;
    format!("/follow-ups/{token}")
}

fn as_map(answers: Value) -> Map<String, Value> {
    answers.as_object().unwrap().clone()
}

#[tokio::test]
async fn a_follow_up_link_opens_its_form_without_logging_in_and_works_once() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let app = &clinic.app;
    let path = follow_up_link(app, &sink, &clinic.staff, &clinic.patient_id).await;

    let mut browser = Browser::new(app);
    let form = browser.get(&path).await;
    assert_eq!(form.status, 200);
    form.assert_contains("Hello Alex");
    form.assert_contains("Safety questions");

    // Missing answers are listed; nothing is spent.
    let incomplete = browser.submit(&path, &[("pain_now", "3")]).await;
    assert_eq!(incomplete.status, 422);
    incomplete.assert_contains("There is a problem");
    incomplete.assert_contains("<a href=\"#saddle_numbness\">");

    let answers = fields(&as_map(follow_up_answers(3, false)));
    let borrowed: Vec<(&str, &str)> = answers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let sent = browser.submit(&path, &borrowed).await;
    assert_eq!(sent.status, 200, "{}", sent.html);
    sent.assert_contains("Your practitioner will see your answers");

    let again = browser.get(&path).await;
    assert_eq!(again.status, 404);
    again.assert_contains("This link has expired or was used already");
    let unknown = browser.get("/follow-ups/not-a-token").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn an_emergency_answer_on_a_follow_up_shows_the_emergency_page() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(
        app_with_sink(&sink, &["--emergency-number", "911"]).await,
        "America/New_York",
    )
    .await;
    let app = &clinic.app;
    let path = follow_up_link(app, &sink, &clinic.staff, &clinic.patient_id).await;
    let mut browser = Browser::new(app);
    browser.get(&path).await;
    // Only the emergency answer: refused as incomplete, but its advice shows at once.
    let page = browser.submit(&path, &[("saddle_numbness", "true")]).await;
    assert_eq!(page.status, 200);
    page.assert_contains("Get medical help now");
    page.assert_contains("href=\"tel:911\"");
    // The practitioners are alerted at once.
    app.worker().run_once().await.unwrap();
    assert!(
        sink.received()
            .iter()
            .any(|mail| mail.rcpt_to.iter().any(|to| to == "dr.lee@clinic.example")),
        "the practitioner is told a case waits"
    );
}
