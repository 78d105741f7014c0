//! Patient self-registration and email verification, front-desk patients and invitations,
//! record scoping (404 for records the caller may not see) and the audit trail.

use chrono::Duration;
use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    helpers::{PATIENT_DATE_OF_BIRTH, TEST_PASSWORD, TestApp, app_with_sink, expect_problem},
    smtp_sink::{ReceivedMail, SmtpSink},
};

fn registration(email: &str, password: &str) -> Value {
    json!({
        "given_name": "Jordan",
        "family_name": "Reyes",
        "email": email,
        "date_of_birth": "1979-03-14",
        "password": password,
    })
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.send(Method::POST, path, None, Some(body)).await
}

async fn log_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

/// Delivers what is queued and returns every message the sink holds for `recipient`.
async fn mail_for(app: &TestApp, sink: &SmtpSink, recipient: &str) -> Vec<ReceivedMail> {
    app.worker().run_once().await.unwrap();
    sink.received()
        .into_iter()
        .filter(|mail| mail.rcpt_to.iter().any(|to| to == recipient))
        .collect()
}

/// The audit trail as an admin sees it, with optional query string.
async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let token = app.access_token(Role::Admin).await;
    let response = app
        .send(
            Method::GET,
            &format!("/api/v1/admin/audit{query}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    page["entries"].as_array().unwrap().clone()
}

fn has_entry(entries: &[Value], action: &str, outcome: &str) -> bool {
    entries
        .iter()
        .any(|entry| entry["action"] == action && entry["outcome"] == outcome)
}

#[tokio::test]
async fn register_verify_login_refresh_reuse_and_logout() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let email = "jordan.reyes@example.org";
    let password = "my own long password";

    let response = post(&app, "/api/v1/auth/register", registration(email, password)).await;
    assert_eq!(response.status(), 202);

    // Not yet: the address is unconfirmed.
    expect_problem(
        log_in(&app, email, password).await,
        403,
        "email_not_verified",
    )
    .await;

    let mail = mail_for(&app, &sink, email).await;
    assert_eq!(mail.len(), 1, "one verification email");
    let text = mail[0].text();
    assert!(text.contains("Hello Jordan"), "{text}");
    assert!(text.contains("/verify-email?token="), "{text}");
    let token = mail[0].link_token();

    let verified = post(&app, "/api/v1/auth/verify-email", json!({"token": token})).await;
    assert_eq!(verified.status(), 204);
    // The link is single-use.
    expect_problem(
        post(&app, "/api/v1/auth/verify-email", json!({"token": token})).await,
        400,
        "invalid_token",
    )
    .await;

    let login = log_in(&app, email, password).await;
    assert_eq!(login.status(), 200);
    let pair: Value = login.json().await.unwrap();
    let access = pair["access_token"].as_str().unwrap();

    let me: Value = app
        .send(Method::GET, "/api/v1/auth/me", Some(access), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "patient");
    assert_eq!(me["display_name"], "Jordan Reyes");
    let patient_id = me["patient_id"].as_str().expect("a patient id").to_owned();

    let record: Value = app
        .send(Method::GET, "/api/v1/patients/me", Some(access), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["id"], patient_id.as_str());
    assert_eq!(record["date_of_birth"], "1979-03-14");
    assert_eq!(record["email"], email);
    assert_eq!(record["has_login"], true);

    // Refresh rotates; the spent token presented again revokes the whole login.
    let first_refresh = pair["refresh_token"].as_str().unwrap();
    let rotated = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": first_refresh}),
    )
    .await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let second_refresh = rotated["refresh_token"].as_str().unwrap();
    expect_problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": first_refresh}),
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;
    expect_problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": second_refresh}),
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;

    // A new login, then logout ends it.
    let again: Value = log_in(&app, email, password).await.json().await.unwrap();
    let refresh = again["refresh_token"].as_str().unwrap();
    let logout = post(
        &app,
        "/api/v1/auth/logout",
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(logout.status(), 204);
    expect_problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": refresh}),
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;

    let user_id = me["id"].as_str().unwrap();
    let entries = audit(&app, &format!("?actor_id={user_id}")).await;
    for (action, outcome) in [
        ("register", "allowed"),
        ("verify_email", "allowed"),
        ("login", "denied"),
        ("login", "allowed"),
        ("patient.read", "allowed"),
        ("refresh_token.reuse", "denied"),
    ] {
        assert!(
            has_entry(&entries, action, outcome),
            "no {action}/{outcome} entry in {entries:#?}"
        );
    }
}

#[tokio::test]
async fn registering_a_known_email_looks_the_same_and_takes_nothing_over() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    app.add_user("front.desk@clinic.example", Role::Staff).await;

    let fresh = post(
        &app,
        "/api/v1/auth/register",
        registration("new.patient@example.org", "first password!"),
    )
    .await;
    let known = post(
        &app,
        "/api/v1/auth/register",
        registration("Front.Desk@clinic.example", "attacker password"),
    )
    .await;
    assert_eq!(fresh.status(), 202);
    assert_eq!(known.status(), 202);
    let fresh: Value = fresh.json().await.unwrap();
    let known: Value = known.json().await.unwrap();
    assert_eq!(fresh, known, "the same answer for a new and a known email");

    // The existing account gets no email and keeps its password.
    assert!(
        mail_for(&app, &sink, "front.desk@clinic.example")
            .await
            .is_empty()
    );
    assert_eq!(
        log_in(&app, "front.desk@clinic.example", TEST_PASSWORD)
            .await
            .status(),
        200
    );

    // Registering an unconfirmed address again sends a fresh link (the old one stops working)
    // but keeps the first password.
    let again = post(
        &app,
        "/api/v1/auth/register",
        registration("new.patient@example.org", "second password!"),
    )
    .await;
    assert_eq!(again.status(), 202);
    let mail = mail_for(&app, &sink, "new.patient@example.org").await;
    assert_eq!(mail.len(), 2);
    let (old, new) = (mail[0].link_token(), mail[1].link_token());
    assert_ne!(old, new);
    expect_problem(
        post(&app, "/api/v1/auth/verify-email", json!({"token": old})).await,
        400,
        "invalid_token",
    )
    .await;
    assert_eq!(
        post(&app, "/api/v1/auth/verify-email", json!({"token": new}))
            .await
            .status(),
        204
    );
    expect_problem(
        log_in(&app, "new.patient@example.org", "second password!").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        log_in(&app, "new.patient@example.org", "first password!")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn concurrent_registrations_all_succeed() {
    // Each registration reads the users table and then writes in one transaction. On SQLite a
    // transaction that reads before it writes fails with SQLITE_BUSY when another one commits in
    // between, so this is the race that used to answer 500.
    let app = TestApp::spawn().await;
    // It checks what was queued, not what was delivered.
    app.expect_unsent_mail();
    app.add_user("front.desk@clinic.example", Role::Staff).await;
    let requests = (0..24).map(|n| {
        let email = if n % 2 == 0 {
            "front.desk@clinic.example".to_owned()
        } else {
            format!("patient{n}@example.org")
        };
        let app = &app;
        async move {
            post(
                app,
                "/api/v1/auth/register",
                registration(&email, "a long password"),
            )
            .await
            .status()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|status| *status == 202),
        "every registration is accepted: {statuses:?}"
    );
}

#[tokio::test]
async fn a_verification_link_expires_after_24_hours() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let email = "late@example.org";
    post(
        &app,
        "/api/v1/auth/register",
        registration(email, "a long password"),
    )
    .await;
    let token = mail_for(&app, &sink, email).await[0].link_token();
    app.clock.advance(Duration::hours(24));
    expect_problem(
        post(&app, "/api/v1/auth/verify-email", json!({"token": token})).await,
        400,
        "invalid_token",
    )
    .await;
    expect_problem(
        log_in(&app, email, "a long password").await,
        403,
        "email_not_verified",
    )
    .await;
}

#[tokio::test]
async fn registration_refuses_impossible_birth_dates_and_weak_input() {
    let app = TestApp::spawn().await;
    let today = app.clock.now().date_naive();
    let mut future = registration("a@example.org", "long enough pw");
    future["date_of_birth"] = json!((today + Duration::days(1)).to_string());
    let problem = expect_problem(
        post(&app, "/api/v1/auth/register", future).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.body["errors"][0]["field"], "date_of_birth");
    assert_eq!(problem.body["errors"][0]["code"], "in_future");

    let mut ancient = registration("a@example.org", "long enough pw");
    ancient["date_of_birth"] = json!("1890-01-01");
    let problem = expect_problem(
        post(&app, "/api/v1/auth/register", ancient).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.body["errors"][0]["code"], "implausible");

    for body in [
        registration("a@example.org", "short"),
        registration("not an email", "long enough pw"),
        json!({"given_name": "   ", "family_name": "X", "email": "a@example.org",
               "date_of_birth": "1990-01-01", "password": "long enough pw"}),
        json!({"given_name": "A", "family_name": "B", "email": "a@example.org",
               "date_of_birth": "1990-01-01", "password": "long enough pw", "role": "admin"}),
    ] {
        expect_problem(
            post(&app, "/api/v1/auth/register", body).await,
            422,
            "invalid_body",
        )
        .await;
    }
    // Nothing was created by any of them.
    let users = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM users",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(users.try_get::<i64>("", "n").unwrap(), 0);
}

#[tokio::test]
async fn the_front_desk_registers_a_patient_who_accepts_an_invitation() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let staff = app.access_token(Role::Staff).await;

    let created = app
        .send(
            Method::POST,
            "/api/v1/patients",
            Some(&staff),
            Some(json!({
                "given_name": "  Priya ",
                "family_name": "Shah",
                "date_of_birth": "1991-11-02",
                "email": "Priya.Shah@Example.org",
                "phone": "+44 117 496 0000",
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let record: Value = created.json().await.unwrap();
    assert_eq!(record["given_name"], "Priya");
    assert_eq!(record["email"], "priya.shah@example.org");
    assert_eq!(record["has_login"], false);
    let id = record["id"].as_str().unwrap();

    let invited = app
        .send(
            Method::POST,
            &format!("/api/v1/patients/{id}/invite"),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(invited.status(), 202);
    let mail = mail_for(&app, &sink, "priya.shah@example.org").await;
    assert_eq!(mail.len(), 1);
    let text = mail[0].text();
    assert!(text.contains("Hello Priya"), "{text}");
    assert!(text.contains("/accept-invitation?token="), "{text}");
    let token = mail[0].link_token();

    let password = "priya's own password";
    let accepted = post(
        &app,
        "/api/v1/auth/accept-invitation",
        json!({"token": token, "password": password}),
    )
    .await;
    assert_eq!(accepted.status(), 204);
    expect_problem(
        post(
            &app,
            "/api/v1/auth/accept-invitation",
            json!({"token": token, "password": password}),
        )
        .await,
        400,
        "invalid_token",
    )
    .await;

    let pair: Value = log_in(&app, "priya.shah@example.org", password)
        .await
        .json()
        .await
        .unwrap();
    let access = pair["access_token"].as_str().unwrap();
    let own: Value = app
        .send(Method::GET, "/api/v1/patients/me", Some(access), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["id"], id);
    assert_eq!(own["has_login"], true);

    // Once they can log in there is nothing to invite them to.
    expect_problem(
        app.send(
            Method::POST,
            &format!("/api/v1/patients/{id}/invite"),
            Some(&staff),
            None,
        )
        .await,
        409,
        "patient_has_login",
    )
    .await;
}

#[tokio::test]
async fn a_patient_without_an_email_cannot_be_invited_until_one_is_added() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let staff = app.access_token(Role::Staff).await;
    let record: Value = app
        .send(
            Method::POST,
            "/api/v1/patients",
            Some(&staff),
            Some(json!({"given_name": "Sam", "family_name": "Lee", "date_of_birth": "1960-01-31"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = record["id"].as_str().unwrap();
    let invite = format!("/api/v1/patients/{id}/invite");
    expect_problem(
        app.send(Method::POST, &invite, Some(&staff), None).await,
        409,
        "patient_has_no_email",
    )
    .await;

    let updated = app
        .send(
            Method::PATCH,
            &format!("/api/v1/patients/{id}"),
            Some(&staff),
            Some(json!({"email": "sam.lee@example.org"})),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["email"], "sam.lee@example.org");
    assert_eq!(updated["family_name"], "Lee", "untouched fields stay");
    // `null` removes an optional field; a required one cannot be removed.
    let cleared: Value = app
        .send(
            Method::PATCH,
            &format!("/api/v1/patients/{id}"),
            Some(&staff),
            Some(json!({"phone": "0117 496 0003"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["phone"], "0117 496 0003");
    let cleared: Value = app
        .send(
            Method::PATCH,
            &format!("/api/v1/patients/{id}"),
            Some(&staff),
            Some(json!({"phone": null})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared.get("phone").is_none(), "{cleared}");
    let problem = expect_problem(
        app.send(
            Method::PATCH,
            &format!("/api/v1/patients/{id}"),
            Some(&staff),
            Some(json!({"given_name": null, "date_of_birth": "2999-01-01"})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let codes: Vec<(&str, &str)> = problem.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["field"].as_str().unwrap(),
                error["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("given_name", "null_not_allowed"),
            ("date_of_birth", "in_future")
        ]
    );
    assert_eq!(
        app.send(Method::POST, &invite, Some(&staff), None)
            .await
            .status(),
        202
    );
    // An invitation expires after 7 days.
    let token = mail_for(&app, &sink, "sam.lee@example.org").await[0].link_token();
    app.clock.advance(Duration::days(7));
    expect_problem(
        post(
            &app,
            "/api/v1/auth/accept-invitation",
            json!({"token": token, "password": "a long password"}),
        )
        .await,
        400,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn a_patient_sees_only_their_own_record_and_others_are_not_found() {
    let app = TestApp::spawn().await;
    let (alex_user, alex) = app.add_patient("alex@example.org").await;
    let (_, blake) = app.add_patient("blake@example.org").await;
    let alex_token = app.login("alex@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let own = app
        .send(
            Method::GET,
            &format!("/api/v1/patients/{alex}"),
            Some(&alex_token),
            None,
        )
        .await;
    assert_eq!(own.status(), 200);

    // Someone else's record, and one that does not exist, look exactly the same.
    let other = expect_problem(
        app.send(
            Method::GET,
            &format!("/api/v1/patients/{blake}"),
            Some(&alex_token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let missing = expect_problem(
        app.send(
            Method::GET,
            &format!("/api/v1/patients/{}", uuid::Uuid::now_v7()),
            Some(&alex_token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(other.detail(), missing.detail());
    expect_problem(
        app.send(
            Method::PATCH,
            &format!("/api/v1/patients/{blake}"),
            Some(&alex_token),
            Some(json!({"phone": "0117 496 0001"})),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    let entries = audit(&app, &format!("?patient_id={blake}")).await;
    let denied: Vec<&Value> = entries
        .iter()
        .filter(|entry| entry["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 2, "{entries:#?}");
    for entry in denied {
        assert_eq!(entry["actor_user_id"], alex_user.to_string());
        assert_eq!(entry["actor_role"], "patient");
        assert_eq!(entry["record_type"], "patient");
        assert_eq!(entry["record_id"], blake.to_string());
        assert!(
            entry["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
        assert_eq!(entry["source_address"], "127.0.0.1");
    }
    assert!(
        entries
            .iter()
            .any(|entry| entry["action"] == "patient.update"),
        "{entries:#?}"
    );
}

#[tokio::test]
async fn staff_and_practitioners_find_patients_and_every_read_is_audited() {
    let app = TestApp::spawn().await;
    let (_, alex) = app.add_patient("alex@example.org").await;
    let staff = app.access_token(Role::Staff).await;
    let practitioner = app.access_token(Role::Practitioner).await;
    let front_desk = app
        .send(
            Method::POST,
            "/api/v1/patients",
            Some(&staff),
            Some(json!({"given_name": "Casey", "family_name": "O'Neil_%", "date_of_birth": "2001-07-09"})),
        )
        .await;
    assert_eq!(front_desk.status(), 201);

    for token in [&staff, &practitioner] {
        let page: Value = app
            .send(Method::GET, "/api/v1/patients?q=MORG", Some(token), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["total"], 1);
        assert_eq!(page["patients"][0]["id"], alex.to_string());
        // LIKE wildcards in the search are literal.
        let page: Value = app
            .send(Method::GET, "/api/v1/patients?q=_%25", Some(token), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["total"], 1, "{page}");
        assert_eq!(page["patients"][0]["given_name"], "Casey");
        let page: Value = app
            .send(Method::GET, "/api/v1/patients?limit=1", Some(token), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                page["total"].as_u64(),
                page["patients"].as_array().unwrap().len()
            ),
            (Some(2), 1)
        );
        let read = app
            .send(
                Method::GET,
                &format!("/api/v1/patients/{alex}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(read.status(), 200);
    }

    let entries = audit(&app, &format!("?patient_id={alex}")).await;
    let reads: Vec<&Value> = entries
        .iter()
        .filter(|entry| entry["action"] == "patient.read" && entry["outcome"] == "allowed")
        .collect();
    let roles: Vec<&str> = reads
        .iter()
        .map(|entry| entry["actor_role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["practitioner", "staff"], "newest first");
    // Entries name records, never their content.
    let dump = serde_json::to_string(&entries).unwrap();
    assert!(
        !dump.contains("Morgan") && !dump.contains(PATIENT_DATE_OF_BIRTH),
        "{dump}"
    );
}

#[tokio::test]
async fn the_audit_trail_pages_filters_and_cannot_be_changed() {
    let app = TestApp::spawn().await;
    let (_, alex) = app.add_patient("alex@example.org").await;
    let staff_id = app.add_user("desk@clinic.example", Role::Staff).await;
    let staff = app.login("desk@clinic.example").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = app.clock.now();
    for _ in 0..5 {
        app.clock.advance(Duration::minutes(1));
        app.send(
            Method::GET,
            &format!("/api/v1/patients/{alex}"),
            Some(&staff),
            None,
        )
        .await;
    }

    let admin = app.access_token(Role::Admin).await;
    let get = |query: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let response = app
                .send(
                    Method::GET,
                    &format!("/api/v1/admin/audit{query}"),
                    Some(&admin),
                    None,
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };

    let first = get(format!("?actor_id={staff_id}&limit=2")).await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    let mut seen: Vec<Value> = first["entries"].as_array().unwrap().clone();
    let mut cursor = first["next_before"].as_str().map(str::to_owned);
    while let Some(before) = cursor {
        let page = get(format!("?actor_id={staff_id}&limit=2&before={before}")).await;
        seen.extend(page["entries"].as_array().unwrap().iter().cloned());
        cursor = page["next_before"].as_str().map(str::to_owned);
    }
    // The login and five reads, each once, newest first.
    assert_eq!(seen.len(), 6, "{seen:#?}");
    assert!(
        seen.iter()
            .all(|entry| entry["actor_user_id"] == staff_id.to_string())
    );
    let times: Vec<&str> = seen
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    let from = (start + Duration::minutes(2)).to_rfc3339();
    let to = (start + Duration::minutes(4)).to_rfc3339();
    let window = get(format!(
        "?patient_id={alex}&from={}&to={}",
        urlencode(&from),
        urlencode(&to)
    ))
    .await;
    assert_eq!(window["entries"].as_array().unwrap().len(), 2, "{window:#}");

    // Only admins read it.
    expect_problem(
        app.send(Method::GET, "/api/v1/admin/audit", Some(&staff), None)
            .await,
        403,
        "forbidden",
    )
    .await;

    // Append-only, enforced by the database.
    for statement in [
        "UPDATE audit_events SET outcome = 'allowed'",
        "DELETE FROM audit_events",
    ] {
        let result = app
            .db
            .execute_raw(Statement::from_string(
                app.db.get_database_backend(),
                statement,
            ))
            .await;
        assert!(result.is_err(), "{statement} must be refused");
    }
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
