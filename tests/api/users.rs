//! Re-enabling a disabled account and changing a staff account's role: admins only, audited.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    appointments::clinic,
    helpers::{TEST_PASSWORD, TestApp, expect_problem},
    intakes::call_ok,
};

async fn log_in(app: &TestApp, email: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_re_enables_a_disabled_account_and_both_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.access_token(Role::Admin).await;
    let email = "kim.desk@clinic.example";
    let id = app.add_user(email, Role::Staff).await;
    let disable = format!("/api/v1/users/{id}/disable");
    let enable = format!("/api/v1/users/{id}/enable");

    let disabled = call_ok(&app, Method::POST, &disable, &admin, None).await;
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    expect_problem(log_in(&app, email).await, 401, "invalid_credentials").await;

    let enabled = call_ok(&app, Method::POST, &enable, &admin, None).await;
    assert_eq!(enabled["id"], id.to_string());
    assert!(enabled["disabled_at"].is_null(), "{enabled}");
    assert_eq!(log_in(&app, email).await.status(), 200, "signs in again");
    let again = call_ok(&app, Method::POST, &enable, &admin, None).await;
    assert!(again["disabled_at"].is_null(), "enabling twice is harmless");

    let audit = call_ok(&app, Method::GET, "/api/v1/admin/audit", &admin, None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["record_id"] == id.to_string() && entry["outcome"] == "allowed")
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert!(actions.contains(&"user.disable"), "{actions:?}");
    assert!(actions.contains(&"user.enable"), "{actions:?}");

    let unknown = format!("/api/v1/users/{}/enable", uuid::Uuid::now_v7());
    expect_problem(
        app.send(Method::POST, &unknown, Some(&admin), None).await,
        404,
        "not_found",
    )
    .await;
    let malformed = app
        .send(
            Method::POST,
            "/api/v1/users/not-an-id/enable",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(malformed.status(), 400);
}

#[tokio::test]
async fn only_admins_re_enable_accounts() {
    let app = TestApp::spawn().await;
    let admin = app.access_token(Role::Admin).await;
    let email = "lou.desk@clinic.example";
    let id = app.add_user(email, Role::Staff).await;
    call_ok(
        &app,
        Method::POST,
        &format!("/api/v1/users/{id}/disable"),
        &admin,
        None,
    )
    .await;
    let (_, _) = app.add_patient("alex@example.org").await;
    let patient: Value = app.login("alex@example.org").await;
    let patient = patient["access_token"].as_str().unwrap().to_owned();
    let staff = app.access_token(Role::Staff).await;
    let practitioner = app.access_token(Role::Practitioner).await;
    let enable = format!("/api/v1/users/{id}/enable");
    for token in [&patient, &staff, &practitioner] {
        expect_problem(
            app.send(Method::POST, &enable, Some(token), None).await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_eq!(
        app.send(Method::POST, &enable, None, None).await.status(),
        401
    );
    expect_problem(log_in(&app, email).await, 401, "invalid_credentials").await;
}

/// The account behind the clinic fixture's practitioner, and a refresh token of theirs.
async fn practitioner_account(app: &TestApp, practitioner: &str, staff: &str) -> (String, Value) {
    let path = format!("/api/v1/practitioners/{practitioner}");
    let shown = call_ok(app, Method::GET, "/api/v1/practitioners", staff, None).await;
    let row = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["id"] == practitioner)
        .unwrap_or_else(|| panic!("{path} listed: {shown}"));
    (row["user_id"].as_str().unwrap().to_owned(), row.clone())
}

#[tokio::test]
async fn a_practitioner_given_another_role_leaves_the_booking_list_and_signs_in_again() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let app = &clinic.app;
    let admin = app.access_token(Role::Admin).await;
    let (user_id, row) = practitioner_account(app, &clinic.practitioner, &clinic.staff).await;
    assert_eq!(row["active"], true, "{row}");
    // The fixture's practitioner account signs in with a known address, to hold a refresh token.
    let account = call_ok(app, Method::GET, "/api/v1/users", &admin, None).await;
    let fixture_email = account
        .as_array()
        .unwrap()
        .iter()
        .find(|account| account["id"] == user_id.as_str())
        .and_then(|account| account["email"].as_str())
        .unwrap()
        .to_owned();
    let before = app.login(&fixture_email).await;
    let role_path = format!("/api/v1/users/{user_id}/role");

    let changed = call_ok(
        app,
        Method::PUT,
        &role_path,
        &admin,
        Some(json!({"role": "staff"})),
    )
    .await;
    assert_eq!(changed["role"], "staff", "{changed}");
    assert_eq!(changed["id"], user_id.as_str());

    // Off the booking list, the visits stay for the desk to move.
    let (_, row) = practitioner_account(app, &clinic.practitioner, &clinic.staff).await;
    assert_eq!(row["active"], false, "{row}");
    expect_problem(
        app.send(
            Method::PATCH,
            &format!("/api/v1/practitioners/{}", clinic.practitioner),
            Some(&clinic.staff),
            Some(json!({"active": true})),
        )
        .await,
        409,
        "not_a_practitioner",
    )
    .await;

    // The old refresh token is spent; a new sign-in carries the new role.
    let refreshed = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": before["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 401);
    let after = app.login(&fixture_email).await;
    let me = call_ok(
        app,
        Method::GET,
        "/api/v1/auth/me",
        after["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(me["role"], "staff", "{me}");

    // The same role again changes nothing; back to practitioner, the desk reactivates them.
    let same = call_ok(
        app,
        Method::PUT,
        &role_path,
        &admin,
        Some(json!({"role": "staff"})),
    )
    .await;
    assert_eq!(same["role"], "staff");
    call_ok(
        app,
        Method::PUT,
        &role_path,
        &admin,
        Some(json!({"role": "practitioner"})),
    )
    .await;
    let back = call_ok(
        app,
        Method::PATCH,
        &format!("/api/v1/practitioners/{}", clinic.practitioner),
        &clinic.staff,
        Some(json!({"active": true})),
    )
    .await;
    assert_eq!(back["active"], true);

    let audit = call_ok(app, Method::GET, "/api/v1/admin/audit", &admin, None).await;
    let changes = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            entry["record_id"] == user_id.as_str()
                && entry["action"] == "user.role_change"
                && entry["outcome"] == "allowed"
        })
        .count();
    assert_eq!(changes, 2, "one entry per real change: {audit}");
}

#[tokio::test]
async fn role_changes_refused_for_patients_oneself_and_non_admins() {
    let app = TestApp::spawn().await;
    let admin_email = "ana.admin@clinic.example";
    let admin_id = app.add_user(admin_email, Role::Admin).await;
    let admin = app.login(admin_email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (patient_user, _) = app.add_patient("alex@example.org").await;
    let desk = app.add_user("lou.desk@clinic.example", Role::Staff).await;
    let to_admin = json!({"role": "admin"});

    for (id, code) in [
        (admin_id, "cannot_change_own_role"),
        (patient_user, "patient_account"),
    ] {
        expect_problem(
            app.send(
                Method::PUT,
                &format!("/api/v1/users/{id}/role"),
                Some(&admin),
                Some(to_admin.clone()),
            )
            .await,
            409,
            code,
        )
        .await;
    }
    expect_problem(
        app.send(
            Method::PUT,
            &format!("/api/v1/users/{}/role", uuid::Uuid::now_v7()),
            Some(&admin),
            Some(to_admin.clone()),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let desk_role = format!("/api/v1/users/{desk}/role");
    for body in [
        json!({"role": "patient"}),
        json!({}),
        json!({"role": "admin", "x": 1}),
    ] {
        let refused = app
            .send(Method::PUT, &desk_role, Some(&admin), Some(body.clone()))
            .await;
        assert!(
            refused.status().is_client_error(),
            "{body}: {}",
            refused.status()
        );
    }
    let staff = app.access_token(Role::Staff).await;
    let practitioner = app.access_token(Role::Practitioner).await;
    let patient = app.login("alex@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [&patient, &staff, &practitioner] {
        expect_problem(
            app.send(Method::PUT, &desk_role, Some(token), Some(to_admin.clone()))
                .await,
            403,
            "forbidden",
        )
        .await;
    }
    // Nothing changed: the desk account is still front desk.
    let accounts = call_ok(&app, Method::GET, "/api/v1/users", &admin, None).await;
    let desk_row = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|account| account["id"] == desk.to_string())
        .unwrap()
        .clone();
    assert_eq!(desk_row["role"], "staff", "{desk_row}");
}
