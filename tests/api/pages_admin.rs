//! The administrators' pages over HTTP (issue 16): the outbox with its dead letters and trying
//! one again, the accounts (list, create with mistakes listed, disable, enable again, change a
//! role), the audit trail
//! (filtered, paged, never a record's content), CSRF, and who may open them.

use entity::user::Role;
use lumbar::{
    audit::{Action, AuditContext, Entry},
    clock::Clock,
    notify::content::{EmailContent, MessageKind},
    store::{
        audit,
        outbox::{Enqueued, NewMessage},
    },
};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    helpers::{TEST_PASSWORD, TestApp, app_with_sink, test_epoch},
    intakes::{routine_answers, submit_intake, with},
    pages::Browser,
    smtp_sink::{Reply, SmtpSink},
};

const ADMIN: &str = "admin@clinic.example";
const PATIENT: &str = "alex@example.org";

/// A "case waits for review" email to `PATIENT` that the SMTP server refused for good.
async fn dead_letter(app: &TestApp, sink: &SmtpSink) -> Uuid {
    let enqueued = app
        .state
        .outbox
        .enqueue(
            &app.db,
            app.clock.now(),
            NewMessage {
                recipient: PATIENT.into(),
                content: EmailContent::sample(MessageKind::ReviewNeeded),
                calendar: None,
                not_before: app.clock.now(),
                deadline: None,
                dedupe_key: None,
            },
        )
        .await
        .unwrap();
    let Enqueued::Created(id) = enqueued else {
        panic!("unexpected duplicate")
    };
    sink.script([Reply::Permanent]);
    let report = app.worker().run_once().await.unwrap();
    assert_eq!(report.dead, 1, "{report:?}");
    id
}

#[tokio::test]
async fn the_outbox_shows_a_dead_letter_and_an_admin_tries_it_again() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let id = dead_letter(&app, &sink).await;
    app.add_user(ADMIN, Role::Admin).await;
    let mut admin = Browser::signed_in(&app, ADMIN).await;

    let landing = admin.get("/admin").await;
    assert_eq!(landing.status, 303);
    assert_eq!(landing.location(), "/admin/outbox");
    let outbox = admin.get("/admin/outbox").await;
    assert_eq!(outbox.status, 200, "{}", outbox.html);
    outbox.assert_contains("<h1>Emails</h1>");
    outbox.assert_contains("<dt>Failed (dead letters)</dt><dd>1</dd>");
    outbox.assert_contains("A case waits for review");
    outbox.assert_contains(PATIENT);
    outbox.assert_contains("554");
    outbox.assert_contains(&format!("action=\"/admin/outbox/{id}/retry\""));
    outbox.assert_contains("Try again");
    outbox.assert_contains("No emails are waiting.");
    // The admin's menu leads to every admin page.
    for link in ["/admin/outbox", "/admin/users", "/admin/audit"] {
        outbox.assert_contains(&format!("href=\"{link}\""));
    }

    let retry = format!("/admin/outbox/{id}/retry");
    // Without the form's token nothing is retried.
    let forged = admin.post_form(&retry, &[]).await;
    assert_eq!(forged.status, 403);
    admin
        .get("/admin/outbox")
        .await
        .assert_contains("Try again");

    let retried = admin.submit(&retry, &[]).await;
    assert_eq!(retried.status, 303, "{}", retried.html);
    assert_eq!(retried.location(), format!("/admin/outbox?retried={id}"));
    let outbox = admin.get(retried.location()).await;
    assert_eq!(outbox.status, 200);
    outbox.assert_contains(&format!(
        "The email “A case waits for review” to {PATIENT} is queued again."
    ));
    outbox.assert_contains("No emails have failed.");
    outbox.assert_contains("<span class=\"badge\">Queued</span>");
    outbox.assert_contains("<dt>Waiting to be sent</dt><dd>1</dd>");

    // Only a dead letter can be tried again.
    let again = admin.submit(&retry, &[]).await;
    assert_eq!(again.status, 409);
    again.assert_contains("There is a problem");
    again.assert_contains("Only dead letters can be retried");
    let nowhere = admin
        .submit(&format!("/admin/outbox/{}/retry", Uuid::now_v7()), &[])
        .await;
    assert_eq!(nowhere.status, 404);

    // And the worker delivers it this time.
    let report = app.worker().run_once().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(sink.received().len(), 1);
}

fn disable_path(page_location: &str, prefix: &str) -> String {
    let id = page_location
        .strip_prefix(prefix)
        .expect("the account's id");
    format!("/admin/users/{id}/disable")
}

#[tokio::test]
async fn an_admin_creates_an_account_with_mistakes_listed_and_disables_one() {
    let app = TestApp::spawn().await;
    let admin_id = app.add_user(ADMIN, Role::Admin).await;
    app.add_patient(PATIENT).await;
    let mut admin = Browser::signed_in(&app, ADMIN).await;

    let users = admin.get("/admin/users").await;
    assert_eq!(users.status, 200, "{}", users.html);
    users.assert_contains("<h1>Accounts</h1>");
    users.assert_contains(ADMIN);
    users.assert_contains(PATIENT);
    users.assert_contains("Administrator");
    users.assert_contains("Active");
    users.assert_contains("(you)");
    assert!(
        !users
            .text()
            .contains(&format!("/admin/users/{admin_id}/disable")),
        "an admin is not offered to disable their own account"
    );
    let staff_only = admin.get("/admin/users?role=admin").await;
    staff_only.assert_contains(ADMIN);
    assert!(!staff_only.text().contains(PATIENT));

    // Nothing filled in: every field is listed, in the form's order.
    let empty = admin.submit("/admin/users", &[]).await;
    assert_eq!(empty.status, 422);
    empty.assert_contains("There is a problem");
    empty.assert_contains("<title>Error: Accounts");
    let text = empty.text();
    let order: Vec<usize> = ["#display_name", "#email", "#role", "#password"]
        .iter()
        .map(|anchor| {
            text.find(&format!("<a href=\"{anchor}\">"))
                .unwrap_or_else(|| panic!("{anchor} in the summary:\n{text}"))
        })
        .collect();
    assert!(order.is_sorted(), "{order:?}");
    empty.assert_contains("Enter the person's full name.");
    empty.assert_contains("Choose what they do at the clinic.");

    let wrong = admin
        .submit(
            "/admin/users",
            &[
                ("display_name", "Dr Kay Lee"),
                ("email", "not an address"),
                ("role", "practitioner"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    wrong.assert_contains("like name@example.org");
    wrong.assert_contains("10");
    // What was typed stays, but never the password.
    wrong.assert_contains("value=\"Dr Kay Lee\"");
    wrong.assert_contains("value=\"practitioner\" checked");
    assert!(!wrong.text().contains("value=\"short\""));

    let new_account = [
        ("display_name", "Dr Kay Lee"),
        ("email", "kay@clinic.example"),
        ("role", "practitioner"),
        ("password", TEST_PASSWORD),
    ];
    // A form without its token creates nothing.
    let forged = admin.post_form("/admin/users", &new_account).await;
    assert_eq!(forged.status, 403);
    let created = admin.submit("/admin/users", &new_account).await;
    assert_eq!(created.status, 303, "{}", created.html);
    assert!(created.location().starts_with("/admin/users?created="));
    let users = admin.get(created.location()).await;
    users.assert_contains("Dr Kay Lee can now log in as practitioner");
    users.assert_contains("kay@clinic.example");
    // The new practitioner logs in with the first password.
    app.login("kay@clinic.example").await;

    let taken = admin.submit("/admin/users", &new_account).await;
    assert_eq!(taken.status, 409);
    taken.assert_contains("An account with this email address exists already.");
    taken.assert_contains("<a href=\"#email\">");

    let disable = disable_path(created.location(), "/admin/users?created=");
    assert_eq!(admin.post_form(&disable, &[]).await.status, 403);
    let disabled = admin.submit(&disable, &[]).await;
    assert_eq!(disabled.status, 303, "{}", disabled.html);
    let users = admin.get(disabled.location()).await;
    users.assert_contains("Dr Kay Lee's account is disabled.");
    users.assert_contains("<span class=\"badge\">Disabled</span>");
    assert!(!users.text().contains(&disable), "no second disable button");
    let refused = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "kay@clinic.example", "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());

    // Posted anyway, an admin's own account is refused with the reason.
    let own = admin
        .submit(&format!("/admin/users/{admin_id}/disable"), &[])
        .await;
    assert_eq!(own.status, 409);
    own.assert_contains("cannot disable their own account");

    // Enabled again: the account logs in once more.
    let enable = disable.replace("/disable", "/enable");
    assert!(users.text().contains(&enable), "offered to enable it again");
    assert_eq!(admin.post_form(&enable, &[]).await.status, 403);
    admin.get("/admin/users").await;
    let enabled = admin.submit(&enable, &[]).await;
    assert_eq!(enabled.status, 303, "{}", enabled.html);
    let users = admin.get(enabled.location()).await;
    users.assert_contains("Dr Kay Lee's account is enabled again");
    assert!(users.text().contains(&disable), "can be disabled again");
    let login = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "kay@clinic.example", "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}

#[tokio::test]
async fn an_admin_gives_a_front_desk_account_the_practitioner_role() {
    let app = TestApp::spawn().await;
    let admin_id = app.add_user(ADMIN, Role::Admin).await;
    let (patient_user, _) = app.add_patient(PATIENT).await;
    let desk_email = "lou.desk@clinic.example";
    let desk = app.add_user(desk_email, Role::Staff).await;
    let mut admin = Browser::signed_in(&app, ADMIN).await;
    let mut desk_browser = Browser::signed_in(&app, desk_email).await;
    assert_eq!(desk_browser.get("/desk").await.status, 200);

    let users = admin.get("/admin/users").await;
    let change = format!("/admin/users/{desk}/role");
    users.assert_contains(&format!("action=\"{change}\""));
    for not_offered in [admin_id, patient_user] {
        assert!(
            !users
                .text()
                .contains(&format!("/admin/users/{not_offered}/role")),
            "no role change offered for {not_offered}"
        );
    }

    assert_eq!(
        admin.post_form(&change, &[("role", "admin")]).await.status,
        403,
        "a form without its token changes nothing"
    );
    admin.get("/admin/users").await;
    let bogus = admin.submit(&change, &[("role", "patient")]).await;
    assert_eq!(bogus.status, 422);
    bogus.assert_contains("Choose one of the roles offered.");
    let changed = admin.submit(&change, &[("role", "practitioner")]).await;
    assert_eq!(changed.status, 303, "{}", changed.html);
    let users = admin.get(changed.location()).await;
    users.assert_contains("Sam Taylor is now practitioner.");
    let accounts = app
        .send(
            reqwest::Method::GET,
            "/api/v1/users",
            Some(app.login(ADMIN).await["access_token"].as_str().unwrap()),
            None,
        )
        .await;
    let accounts: Value = accounts.json().await.unwrap();
    assert!(
        accounts
            .as_array()
            .unwrap()
            .iter()
            .any(|account| account["id"] == desk.to_string() && account["role"] == "practitioner"),
        "{accounts}"
    );
    // Their page session ended with the old role: the desk page sends them to log in.
    let ended = desk_browser.get("/desk").await;
    assert_eq!(ended.status, 303);
    assert!(
        ended.location().starts_with("/login"),
        "{}",
        ended.location()
    );

    // Posted anyway, the admin's own role and a patient's are refused with the reason.
    admin.get("/admin/users").await;
    let own = admin
        .submit(
            &format!("/admin/users/{admin_id}/role"),
            &[("role", "staff")],
        )
        .await;
    assert_eq!(own.status, 409);
    own.assert_contains("cannot change their own role");
    let patient = admin
        .submit(
            &format!("/admin/users/{patient_user}/role"),
            &[("role", "staff")],
        )
        .await;
    assert_eq!(patient.status, 409);
    patient.assert_contains("keeps the patient role");
}

#[tokio::test]
async fn the_audit_trail_is_filtered_and_paged_and_never_shows_clinical_details() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    app.expect_unsent_mail();
    let practitioner = "dr.kay@clinic.example";
    app.add_user(practitioner, Role::Practitioner).await;
    app.add_user(ADMIN, Role::Admin).await;
    // A patient sends an intake with a red flag; a practitioner reads it.
    app.add_patient(PATIENT).await;
    let token = app.login(PATIENT).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answers = with(
        routine_answers(test_epoch().date_naive()),
        &[("saddle_numbness", Value::Bool(true))],
    );
    let intake = submit_intake(&app, &token, answers).await;
    let case = format!("/reviews/{}", intake["intake"]["id"].as_str().unwrap());
    let mut doctor = Browser::signed_in(&app, practitioner).await;
    assert_eq!(doctor.get(&case).await.status, 200);

    let mut admin = Browser::signed_in(&app, ADMIN).await;
    let trail = admin.get("/admin/audit").await;
    assert_eq!(trail.status, 200, "{}", trail.html);
    trail.assert_contains("<h1>Audit trail</h1>");
    trail.assert_contains("intake submit");
    trail.assert_contains("intake read");
    trail.assert_contains(practitioner);
    trail.assert_contains("Entries about this patient");
    let text = trail.text().to_lowercase();
    for clinical in ["saddle", "numbness", "emergency", "bladder", "score"] {
        assert!(!text.contains(clinical), "the trail shows {clinical:?}");
    }

    // Only the practitioner's actions.
    let theirs = admin
        .get(&format!("/admin/audit?actor={practitioner}"))
        .await;
    assert_eq!(theirs.status, 200);
    theirs.assert_contains("intake read");
    assert!(!theirs.text().contains("intake submit"));
    assert!(!theirs.text().contains(PATIENT));

    // Only one action, from an entry's link.
    trail.assert_contains("href=\"/admin/audit?action=intake.read\"");
    let reads = admin.get("/admin/audit?action=intake.read").await;
    assert_eq!(reads.status, 200);
    reads.assert_contains("Showing only the entries of “intake read”");
    reads.assert_contains("<td data-label=\"What\">intake read</td>");
    assert!(!reads.text().contains("intake submit"));

    // Nothing on a day without activity; mistakes in the filters are listed.
    let tomorrow = (test_epoch() + chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let later = admin.get(&format!("/admin/audit?from={tomorrow}")).await;
    later.assert_contains("No entries match.");
    let today = test_epoch().date_naive().to_string();
    let same_day = admin
        .get(&format!("/admin/audit?from={today}&to={today}"))
        .await;
    same_day.assert_contains("intake read");
    let wrong = admin
        .get("/admin/audit?actor=nobody@example.org&from=soon&to=")
        .await;
    assert_eq!(wrong.status, 422);
    wrong.assert_contains("There is a problem");
    wrong.assert_contains("<a href=\"#actor\">No account has this email address.</a>");
    wrong.assert_contains("<a href=\"#from\">");

    // More than a page: 50 newest, then the rest behind "Older entries".
    let context = AuditContext::default();
    for _ in 0..60 {
        audit::append(
            &app.db,
            app.clock.now(),
            &context,
            Entry::allowed(Action::PatientSearch),
        )
        .await
        .unwrap();
    }
    let first = admin.get("/admin/audit").await;
    assert_eq!(
        first
            .text()
            .matches("patient.search\">patient search<")
            .count(),
        50
    );
    let older = first
        .text()
        .split("href=\"/admin/audit?before=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|cursor| format!("/admin/audit?before={cursor}"))
        .expect("a link to older entries");
    let second = admin.get(&older).await;
    assert_eq!(second.status, 200);
    assert_eq!(
        second
            .text()
            .matches("patient.search\">patient search<")
            .count(),
        10
    );
    second.assert_contains("Newest entries");
    second.assert_contains("intake submit");
}

#[tokio::test]
async fn only_admins_open_the_admin_pages_and_visitors_are_sent_to_log_in() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let id = dead_letter(&app, &sink).await;
    app.expect_dead_letters();
    app.add_patient(PATIENT).await;
    let desk = app.add_user("lou.desk@clinic.example", Role::Staff).await;
    let pages = ["/admin/outbox", "/admin/users", "/admin/audit"];
    for (email, role) in [
        (PATIENT, Role::Patient),
        ("desk@clinic.example", Role::Staff),
        ("dr.kay@clinic.example", Role::Practitioner),
    ] {
        if role != Role::Patient {
            app.add_user(email, role).await;
        }
        let mut browser = Browser::signed_in(&app, email).await;
        for page in pages {
            let refused = browser.get(page).await;
            assert_eq!(refused.status, 403, "{role:?} {page}");
            refused.assert_contains("You cannot open this page");
            assert!(!refused.text().contains(PATIENT), "{role:?} {page}");
        }
        browser.get("/").await;
        let retried = browser
            .submit(&format!("/admin/outbox/{id}/retry"), &[])
            .await;
        assert_eq!(retried.status, 403, "{role:?}");
        let created = browser
            .submit(
                "/admin/users",
                &[
                    ("display_name", "Mallory"),
                    ("email", "mallory@example.org"),
                    ("role", "admin"),
                    ("password", TEST_PASSWORD),
                ],
            )
            .await;
        assert_eq!(created.status, 403, "{role:?}");
        let promoted = browser
            .submit(&format!("/admin/users/{desk}/role"), &[("role", "admin")])
            .await;
        assert_eq!(promoted.status, 403, "{role:?}");
        let home = browser.get("/").await;
        assert!(!home.text().contains("/admin/"), "{role:?}");
    }
    for page in pages {
        let anonymous = Browser::new(&app).get(page).await;
        assert_eq!(anonymous.status, 303, "{page}");
        assert!(
            anonymous.location().starts_with("/login?next="),
            "{}",
            anonymous.location()
        );
    }
}
