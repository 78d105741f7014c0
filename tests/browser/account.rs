//! Account journeys: register and confirm by email, log in and out, a form with mistakes, an
//! invitation, and an address that does not exist.

use entity::user::Role;
use reqwest::Method;
use serde_json::json;

use crate::harness::{Browser, Javascript};

const CLINIC_HOME: &str = "Welcome to Riverside Clinic";

/// A new patient finds the site, registers, opens the link from the email, confirms, logs in,
/// sees their details and logs out.
async fn a_new_patient_registers_confirms_logs_in_and_out(b: &mut Browser) {
    let email = "jordan.reyes@example.org";
    b.open("/").await;
    b.expect_heading(CLINIC_HOME).await;
    b.check_accessibility("start").await;
    b.screenshot("start").await;

    b.follow("Create an account").await;
    b.expect_heading("Create an account").await;
    b.check_accessibility("register").await;
    b.screenshot("register").await;
    b.fill("First name", "Jordan").await;
    b.fill("Last name", "Reyes").await;
    b.fill("Email address", email).await;
    b.fill("Day", "14").await;
    b.fill("Month", "3").await;
    b.fill("Year", "1979").await;
    b.fill("Choose a password", "my own long password").await;
    b.press("Create my account").await;
    b.expect_heading("Check your email").await;
    b.expect_text(email).await;
    b.check_accessibility("check-your-email").await;
    b.screenshot("check-your-email").await;

    let link = b.emailed_link(email, "/verify-email?token=").await;
    b.open(&link).await;
    b.expect_heading("Confirm your email address").await;
    b.check_accessibility("verify-email").await;
    b.screenshot("verify-email").await;
    b.press("Confirm my email address").await;
    b.expect_heading("Your email address is confirmed").await;
    b.check_accessibility("email-confirmed").await;
    b.screenshot("email-confirmed").await;

    // The page's own button, not the header's link: both read "Log in" and lead to /login.
    b.follow("Log in").await;
    b.expect_heading("Log in").await;
    b.check_accessibility("login").await;
    b.screenshot("login").await;
    b.fill("Email address", email).await;
    b.fill("Password", "my own long password").await;
    b.press("Log in").await;
    b.expect_heading(CLINIC_HOME).await;
    b.expect_text("Welcome back, Jordan Reyes").await;
    b.check_accessibility("start-signed-in").await;

    b.follow("My details").await;
    b.expect_heading("My details").await;
    b.expect_text(email).await;
    b.expect_text("14 March 1979").await;
    b.check_accessibility("my-details").await;
    b.screenshot("my-details").await;

    b.press("Log out").await;
    b.expect_heading(CLINIC_HOME).await;
    b.expect_no_text("Welcome back").await;
    // The session is over: My details asks to log in again.
    b.open("/account").await;
    b.expect_heading("Log in").await;
}
journey!(a_new_patient_registers_confirms_logs_in_and_out);

/// A register form with mistakes: the error summary lists each one, its links take keyboard
/// focus to the field, what was typed stays, and the corrected form goes through.
async fn a_register_form_with_mistakes_lists_them_and_links_to_each_field(b: &mut Browser) {
    b.open("/register").await;
    b.fill("Last name", "Reyes").await;
    b.fill("Email address", "not an address").await;
    b.fill("Day", "31").await;
    b.fill("Month", "2").await;
    b.fill("Year", "1979").await;
    b.fill("Choose a password", "short").await;
    b.press("Create my account").await;
    b.expect_heading("Create an account").await;
    b.expect_text("There is a problem").await;

    // lumbar.js moves focus to the summary so that it is read out first; with JavaScript off
    // nothing moves it, which also shows the setting really is off for the server's pages.
    let summary_focused = b
        .focused()
        .await
        .attr("data-error-summary")
        .await
        .expect("read the focused element")
        .is_some();
    match b.javascript() {
        Javascript::Enabled => assert!(summary_focused, "the error summary has focus"),
        Javascript::Disabled => assert!(!summary_focused, "no script moved focus"),
    }
    b.check_accessibility("register-errors").await;
    b.screenshot("register-errors").await;

    let links = b.displayed("//*[@data-error-summary]//a").await;
    let mut fields = Vec::new();
    for link in &links {
        let href = link.attr("href").await.unwrap().unwrap_or_default();
        let text = link.text().await.unwrap();
        let field = href
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("the summary's link {text:?} leads to {href:?}"))
            .to_owned();
        b.click_link(&text).await;
        b.expect_focus_on(&field).await;
        let invalid = b.focused().await.attr("aria-invalid").await.unwrap();
        assert_eq!(
            invalid.as_deref(),
            Some("true"),
            "#{field} is marked invalid"
        );
        fields.push(field);
    }
    assert_eq!(
        fields,
        ["given_name", "email", "date_of_birth", "password"],
        "one link per mistake, in the order of the form"
    );
    assert_eq!(
        b.value_of("family_name").await,
        "Reyes",
        "what was right stays"
    );
    assert_eq!(
        b.value_of("password").await,
        "",
        "a password is never sent back"
    );

    b.fill("First name", "Jordan").await;
    b.fill("Email address", "jordan@example.org").await;
    b.fill_id("date_of_birth", "28").await;
    b.fill("Choose a password", "my own long password").await;
    b.press("Create my account").await;
    b.expect_heading("Check your email").await;
    b.emailed_link("jordan@example.org", "/verify-email?token=")
        .await;
}
journey!(a_register_form_with_mistakes_lists_them_and_links_to_each_field);

/// A patient the front desk invited sets a password from the emailed link, then logs in.
async fn an_invited_patient_sets_a_password_and_logs_in(b: &mut Browser) {
    let email = "lou.park@example.org";
    let desk = b.app.access_token(Role::Staff).await;
    let created = b
        .app
        .send(
            Method::POST,
            "/api/v1/patients",
            Some(&desk),
            Some(json!({"given_name": "Lou", "family_name": "Park",
                        "date_of_birth": "1970-01-01", "email": email})),
        )
        .await;
    assert_eq!(created.status(), 201, "the desk adds the patient");
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invited = b
        .app
        .send(
            Method::POST,
            &format!("/api/v1/patients/{id}/invite"),
            Some(&desk),
            None,
        )
        .await;
    assert_eq!(invited.status(), 202, "the desk invites them");

    let link = b.emailed_link(email, "/accept-invitation?token=").await;
    b.open(&link).await;
    b.expect_heading("Set your password").await;
    b.check_accessibility("accept-invitation").await;
    b.screenshot("accept-invitation").await;
    b.fill("Choose a password", "short").await;
    b.press("Set my password").await;
    b.expect_text("There is a problem").await;
    b.check_accessibility("accept-invitation-errors").await;
    b.fill("Choose a password", "lou's long password").await;
    b.press("Set my password").await;
    b.expect_heading("Your password is set").await;
    b.check_accessibility("password-set").await;
    b.screenshot("password-set").await;

    b.follow("Log in").await;
    b.fill("Email address", email).await;
    b.fill("Password", "lou's long password").await;
    b.press("Log in").await;
    b.expect_text("Welcome back, Lou Park").await;
}
journey!(an_invited_patient_sets_a_password_and_logs_in);

/// An address that does not exist gets a page that says so and leads back to the start.
async fn an_unknown_address_shows_the_not_found_page(b: &mut Browser) {
    b.open("/no-such-page").await;
    b.expect_heading("Page not found").await;
    b.check_accessibility("not-found").await;
    b.screenshot("not-found").await;
    b.follow("Go to the start page").await;
    b.expect_heading(CLINIC_HOME).await;
}
journey!(an_unknown_address_shows_the_not_found_page);
