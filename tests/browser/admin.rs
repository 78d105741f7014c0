//! Admin journeys: an email the clinic's mail server refused for good is tried again from the
//! outbox; an account is made for a new member of the front desk; the audit trail is read.

use entity::user::Role;
use lumbar::{
    clock::Clock,
    notify::content::{EmailContent, MessageKind},
    store::outbox::{Enqueued, NewMessage},
};

use crate::{harness::Browser, helpers::TEST_PASSWORD, smtp_sink::Reply};

const ADMIN: &str = "admin@clinic.example";
const RECIPIENT: &str = "alex@example.org";

/// A "case waits for review" email to `RECIPIENT` that the mail server refused for good.
async fn a_dead_letter(b: &mut Browser) {
    let app = &b.app;
    let enqueued = app
        .state
        .outbox
        .enqueue(
            &app.db,
            app.clock.now(),
            NewMessage {
                recipient: RECIPIENT.into(),
                content: EmailContent::sample(MessageKind::ReviewNeeded),
                calendar: None,
                not_before: app.clock.now(),
                deadline: None,
                dedupe_key: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(enqueued, Enqueued::Created(_)));
    b.sink.script([Reply::Permanent]);
    let report = app.worker().run_once().await.unwrap();
    assert_eq!(report.dead, 1, "{report:?}");
}

/// An admin logs in, finds the failed email in the outbox and tries it again; it is queued and
/// then delivered. They create an account for the front desk (after a mistake), make it a
/// practitioner's, and read the audit trail.
async fn an_admin_tries_a_failed_email_again(b: &mut Browser) {
    a_dead_letter(b).await;
    b.app.add_user(ADMIN, Role::Admin).await;
    b.open("/login").await;
    b.fill("Email address", ADMIN).await;
    b.fill("Password", TEST_PASSWORD).await;
    b.press("Log in").await;
    b.follow("Emails").await;
    b.expect_heading("Emails").await;
    b.expect_text("A case waits for review").await;
    b.expect_text(RECIPIENT).await;
    b.expect_text("554").await;
    b.check_accessibility("admin-outbox").await;
    b.screenshot("admin-outbox").await;

    b.press("Try again: A case waits for review to alex@example.org")
        .await;
    b.expect_text("is queued again").await;
    b.expect_text("No emails have failed.").await;
    b.expect_text("Queued").await;
    b.check_accessibility("admin-outbox-retried").await;
    let report = b.app.worker().run_once().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(b.sink.received().len(), 1, "delivered this time");

    b.follow("Accounts").await;
    b.expect_heading("Accounts").await;
    b.check_accessibility("admin-users").await;
    b.press("Create the account").await;
    b.expect_text("There is a problem").await;
    b.check_accessibility("admin-users-errors").await;
    b.fill("Full name", "Jo Desk").await;
    b.fill("Email address", "jo@clinic.example").await;
    b.tick("role", "staff").await;
    b.fill("First password", TEST_PASSWORD).await;
    b.press("Create the account").await;
    b.expect_text("Jo Desk can now log in as front desk").await;
    b.screenshot("admin-users").await;
    // Jo moves from the desk to treating patients.
    b.choose("New role for Jo Desk", "Practitioner").await;
    b.press_for("Change role", "Jo Desk").await;
    b.expect_text("Jo Desk is now practitioner.").await;
    b.check_accessibility("admin-users-role-changed").await;

    b.follow("Audit trail").await;
    b.expect_heading("Audit trail").await;
    b.expect_text("login").await;
    b.check_accessibility("admin-audit").await;
    b.screenshot("admin-audit").await;
}
journey!(an_admin_tries_a_failed_email_again);
