//! The role × endpoint matrix: every operation in the OpenAPI document, called by an anonymous
//! caller and by each role, answers exactly the intended status. A new endpoint fails this test
//! until its row is added, so nobody ships an endpoint without deciding who may call it.

use std::collections::BTreeSet;

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use lumbar::clock::Clock;

use crate::{
    helpers::{TEST_PASSWORD, TestApp},
    intakes::{follow_up_answers, routine_answers, with},
};

/// Who calls, in the order of the expected statuses in [`MATRIX`].
const CALLERS: [Option<Role>; 5] = [
    None,
    Some(Role::Patient),
    Some(Role::Staff),
    Some(Role::Practitioner),
    Some(Role::Admin),
];

/// (method, path as in the OpenAPI document, [anonymous, patient, staff, practitioner, admin]).
const MATRIX: &[(&str, &str, [u16; 5])] = &[
    ("get", "/healthz", [200, 200, 200, 200, 200]),
    ("get", "/readyz", [200, 200, 200, 200, 200]),
    ("get", "/.well-known/jwks.json", [200, 200, 200, 200, 200]),
    ("post", "/api/v1/auth/login", [200, 200, 200, 200, 200]),
    ("post", "/api/v1/auth/refresh", [200, 200, 200, 200, 200]),
    ("post", "/api/v1/auth/logout", [204, 204, 204, 204, 204]),
    ("post", "/api/v1/auth/register", [202, 202, 202, 202, 202]),
    // A token that was never issued: refused the same for everyone.
    (
        "post",
        "/api/v1/auth/verify-email",
        [400, 400, 400, 400, 400],
    ),
    (
        "post",
        "/api/v1/auth/confirm-email",
        [400, 400, 400, 400, 400],
    ),
    (
        "post",
        "/api/v1/auth/accept-invitation",
        [400, 400, 400, 400, 400],
    ),
    // The same answer for every address, whoever asks.
    (
        "post",
        "/api/v1/auth/forgot-password",
        [202, 202, 202, 202, 202],
    ),
    (
        "post",
        "/api/v1/auth/reset-password",
        [400, 400, 400, 400, 400],
    ),
    // Every signed-in role changes its own password.
    (
        "post",
        "/api/v1/auth/change-password",
        [401, 204, 204, 204, 204],
    ),
    ("get", "/api/v1/auth/me", [401, 200, 200, 200, 200]),
    ("post", "/api/v1/users", [401, 403, 403, 403, 201]),
    ("get", "/api/v1/users", [401, 403, 403, 403, 200]),
    (
        "post",
        "/api/v1/users/{id}/disable",
        [401, 403, 403, 403, 200],
    ),
    (
        "post",
        "/api/v1/users/{id}/enable",
        [401, 403, 403, 403, 200],
    ),
    ("put", "/api/v1/users/{id}/role", [401, 403, 403, 403, 200]),
    ("post", "/api/v1/patients", [401, 403, 201, 403, 403]),
    ("get", "/api/v1/patients", [401, 403, 200, 200, 403]),
    ("get", "/api/v1/patients/me", [401, 200, 403, 403, 403]),
    (
        "get",
        "/api/v1/patients/unreachable",
        [401, 403, 200, 403, 403],
    ),
    // Another patient's record: a patient may not know it exists.
    ("get", "/api/v1/patients/{id}", [401, 404, 200, 200, 403]),
    ("patch", "/api/v1/patients/{id}", [401, 404, 200, 403, 403]),
    (
        "post",
        "/api/v1/patients/{id}/invite",
        [401, 403, 202, 403, 403],
    ),
    ("get", "/api/v1/admin/outbox", [401, 403, 403, 403, 200]),
    (
        "get",
        "/api/v1/admin/outbox/counts",
        [401, 403, 403, 403, 200],
    ),
    // No such message: an admin gets past the role check to a 404.
    (
        "post",
        "/api/v1/admin/outbox/{id}/retry",
        [401, 403, 403, 403, 404],
    ),
    ("get", "/api/v1/admin/audit", [401, 403, 403, 403, 200]),
    ("get", "/api/v1/questionnaires", [200, 200, 200, 200, 200]),
    (
        "get",
        "/api/v1/questionnaires/{id}",
        [200, 200, 200, 200, 200],
    ),
    ("post", "/api/v1/triage/evaluate", [401, 403, 403, 200, 200]),
    // A patient starts their own intake, the front desk one for the other patient.
    ("post", "/api/v1/intakes", [401, 201, 201, 403, 403]),
    // The other patient's intake.
    ("get", "/api/v1/intakes/{id}", [401, 404, 200, 200, 403]),
    ("put", "/api/v1/intakes/{id}", [401, 404, 200, 403, 403]),
    (
        "post",
        "/api/v1/intakes/{id}/submit",
        [401, 404, 200, 403, 403],
    ),
    (
        "get",
        "/api/v1/patients/{id}/intakes",
        [401, 404, 200, 200, 403],
    ),
    ("get", "/api/v1/reviews", [401, 403, 403, 200, 403]),
    ("get", "/api/v1/reviews/{id}", [401, 403, 403, 200, 403]),
    (
        "post",
        "/api/v1/intakes/{id}/review",
        [401, 403, 403, 201, 403],
    ),
    (
        "post",
        "/api/v1/patients/{id}/follow-ups",
        [401, 403, 202, 202, 403],
    ),
    (
        "get",
        "/api/v1/patients/{id}/outcomes",
        [401, 403, 403, 200, 403],
    ),
    // The link's token is the credential: the same for everyone.
    (
        "get",
        "/api/v1/follow-ups/{token}",
        [200, 200, 200, 200, 200],
    ),
    (
        "post",
        "/api/v1/follow-ups/{token}",
        [200, 200, 200, 200, 200],
    ),
    ("post", "/api/v1/locations", [401, 403, 201, 403, 201]),
    ("get", "/api/v1/locations", [401, 200, 200, 200, 200]),
    ("patch", "/api/v1/locations/{id}", [401, 403, 200, 403, 200]),
    (
        "patch",
        "/api/v1/appointment-types/{id}",
        [401, 403, 200, 403, 200],
    ),
    (
        "patch",
        "/api/v1/practitioners/{id}",
        [401, 403, 200, 403, 200],
    ),
    (
        "post",
        "/api/v1/appointment-types",
        [401, 403, 201, 403, 201],
    ),
    (
        "get",
        "/api/v1/appointment-types",
        [401, 200, 200, 200, 200],
    ),
    ("get", "/api/v1/clinic/policies", [401, 200, 200, 200, 200]),
    ("put", "/api/v1/clinic/policies", [401, 403, 200, 403, 200]),
    ("post", "/api/v1/practitioners", [401, 403, 201, 403, 201]),
    ("get", "/api/v1/practitioners", [401, 200, 200, 200, 200]),
    (
        "put",
        "/api/v1/practitioners/{id}/working-hours",
        [401, 403, 200, 403, 200],
    ),
    (
        "get",
        "/api/v1/practitioners/{id}/working-hours",
        [401, 200, 200, 200, 200],
    ),
    (
        "post",
        "/api/v1/practitioners/{id}/time-off",
        [401, 403, 201, 403, 201],
    ),
    (
        "get",
        "/api/v1/practitioners/{id}/time-off",
        [401, 403, 200, 200, 200],
    ),
    (
        "delete",
        "/api/v1/practitioners/{id}/time-off/{time_off_id}",
        [401, 403, 204, 403, 204],
    ),
    // Not the calling practitioner's own record: as if it did not exist.
    (
        "post",
        "/api/v1/practitioners/{id}/calendar-token",
        [401, 403, 201, 404, 201],
    ),
    (
        "delete",
        "/api/v1/practitioners/{id}/calendar-token",
        [401, 403, 204, 404, 204],
    ),
    // The feed's token is the credential: the same for everyone.
    (
        "get",
        "/api/v1/practitioners/{id}/calendar.ics",
        [200, 200, 200, 200, 200],
    ),
    ("get", "/api/v1/availability", [401, 200, 200, 200, 200]),
    // Patients book for themselves, the front desk for anyone; practitioners and admins do not.
    ("post", "/api/v1/appointments", [401, 201, 201, 403, 403]),
    // The appointments below are the other patient's: a patient cannot know they exist.
    (
        "get",
        "/api/v1/appointments/{id}",
        [401, 404, 200, 200, 403],
    ),
    (
        "post",
        "/api/v1/appointments/{id}/reschedule",
        [401, 404, 200, 403, 403],
    ),
    (
        "post",
        "/api/v1/appointments/{id}/cancel",
        [401, 404, 200, 403, 403],
    ),
    (
        "post",
        "/api/v1/appointments/{id}/check-in",
        [401, 403, 200, 200, 403],
    ),
    (
        "post",
        "/api/v1/appointments/{id}/complete",
        [401, 403, 200, 200, 403],
    ),
    (
        "post",
        "/api/v1/appointments/{id}/no-show",
        [401, 403, 200, 200, 403],
    ),
    (
        "post",
        "/api/v1/appointments/{id}/undo-no-show",
        [401, 403, 200, 200, 403],
    ),
    ("get", "/api/v1/appointments", [401, 403, 200, 200, 403]),
    (
        "get",
        "/api/v1/patients/{id}/appointments",
        [401, 404, 200, 200, 403],
    ),
];

/// Accounts and records the calls need.
struct Fixture {
    tokens: Vec<Option<String>>,
    /// A patient record that belongs to none of the callers.
    other_patient: Uuid,
    /// A front-desk token, to prepare records.
    staff: String,
    /// A submitted urgent intake of the other patient, waiting for review.
    flagged_intake: String,
    /// A location in London and a chiropractor who works there.
    location: String,
    practitioner: String,
    /// A 30-minute chiropractic new-patient appointment type.
    appointment_type: String,
    /// How many appointment times have been handed out (each call books its own).
    booked: std::cell::Cell<u32>,
    /// How many appointments have been moved to earlier today.
    under_way: std::cell::Cell<u32>,
}

impl Fixture {
    /// A start no other call has used: Tuesday to Friday of the first week, 07:00–19:00.
    fn next_start(&self) -> String {
        let n = self.booked.get();
        self.booked.set(n + 1);
        let start = chrono::DateTime::parse_from_rfc3339("2026-03-03T07:00:00Z").unwrap()
            + chrono::Duration::days(i64::from(n / 24))
            + chrono::Duration::minutes(i64::from(n % 24) * 30);
        start
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// A booking request for the other patient at a fresh time, as the front desk sends it
    /// (with an override, which is not needed: the other patient's intake waits for review,
    /// which does not hold booking back).
    fn booking_for_other(&self) -> Value {
        json!({"patient_id": self.other_patient, "practitioner_id": self.practitioner,
               "location_id": self.location, "appointment_type_id": self.appointment_type,
               "start": self.next_start(), "override_reason": "Booked by phone."})
    }

    /// A new appointment of the other patient; returns its id.
    async fn appointment(&self, app: &TestApp) -> String {
        let response = book(app, &self.staff, self.booking_for_other()).await;
        assert_eq!(response.status(), 201);
        let booked: Value = response.json().await.unwrap();
        booked["id"].as_str().unwrap().to_owned()
    }

    /// A new appointment of the other patient that started earlier today, so that check-in,
    /// completion and no-show are inside their time windows now; returns its id. Nothing
    /// books a time that has passed, and moving the clock would expire the callers' tokens,
    /// so the booked row is moved in the database: 20-minute visits from midnight on, one
    /// after the other (the last well before the epoch's 09:00).
    async fn appointment_under_way(&self, app: &TestApp) -> String {
        use entity::appointment;
        use lumbar::clock::Clock;
        use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};

        let id = self.appointment(app).await;
        let n = self.under_way.get();
        self.under_way.set(n + 1);
        let midnight = app
            .clock
            .now()
            .date_naive()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        let start = midnight + chrono::Duration::minutes(i64::from(n) * 20);
        assert!(start + chrono::Duration::minutes(10) <= app.clock.now());
        let row = appointment::Entity::find_by_id(id.parse::<Uuid>().unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let mut moved = row.into_active_model();
        moved.starts_at = Set(start);
        moved.ends_at = Set(start + chrono::Duration::minutes(20));
        moved.blocked_until = Set(start + chrono::Duration::minutes(20));
        moved.update(&app.db).await.unwrap();
        id
    }
}

async fn book(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/appointments"))
        .bearer_auth(token)
        .header("Idempotency-Key", Uuid::now_v7().to_string())
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn unique_email(prefix: &str) -> String {
    format!("{prefix}.{}@example.org", Uuid::now_v7().simple())
}

async fn fixture(app: &TestApp) -> Fixture {
    let mut tokens = Vec::new();
    for caller in CALLERS {
        tokens.push(match caller {
            None => None,
            Some(Role::Patient) => {
                let email = unique_email("patient");
                app.add_patient(&email).await;
                Some(
                    app.login(&email).await["access_token"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            }
            Some(role) => Some(app.access_token(role).await),
        });
    }
    let (_, other_patient) = app.add_patient(&unique_email("other")).await;
    let staff = app.access_token(Role::Staff).await;
    // Non-mechanical pain: flagged for review, and no red flag that closes booking.
    let flagged = with(
        routine_answers(app.clock.now().date_naive()),
        &[
            ("night_pain_no_relief", json!(true)),
            ("constant_pain", json!(true)),
        ],
    );
    let flagged_intake = draft_for(app, &staff, other_patient, Some(flagged)).await;
    let submitted = app
        .send(
            Method::POST,
            &format!("/api/v1/intakes/{flagged_intake}/submit"),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(submitted.status(), 200);
    let location = crate::practitioners::location(app, &staff, "Europe/London").await;
    let practitioner = crate::practitioners::practitioner(
        app,
        &staff,
        &unique_email("chiro"),
        "chiropractic",
        &[&location],
    )
    .await;
    if let Some(Some(patient)) = tokens.get(1) {
        crate::intakes::submit_intake(app, patient, routine_answers(app.clock.now().date_naive()))
            .await;
    }
    crate::appointments::set_hours(
        app,
        &staff,
        &practitioner,
        &location,
        &["monday", "tuesday", "wednesday", "thursday", "friday"],
        &[("07:00", "19:00")],
    )
    .await;
    let appointment_type = crate::appointments::appointment_type(
        app,
        &staff,
        "Chiropractic first visit",
        "chiropractic",
        30,
        0,
        true,
    )
    .await;
    Fixture {
        tokens,
        other_patient,
        staff,
        flagged_intake,
        location,
        practitioner,
        appointment_type,
        booked: std::cell::Cell::new(0),
        under_way: std::cell::Cell::new(0),
    }
}

/// A new draft intake for `patient`, made by the front desk, optionally with answers.
async fn draft_for(
    app: &TestApp,
    staff: &str,
    patient: Uuid,
    answers: Option<serde_json::Map<String, Value>>,
) -> String {
    let created: Value = app
        .send(
            Method::POST,
            "/api/v1/intakes",
            Some(staff),
            Some(json!({"patient_id": patient})),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    if let Some(answers) = answers {
        let saved = app
            .send(
                Method::PUT,
                &format!("/api/v1/intakes/{id}"),
                Some(staff),
                Some(json!({"answers": answers})),
            )
            .await;
        assert_eq!(saved.status(), 200);
    }
    id
}

/// A live follow-up link's token for `patient`, issued as the emailed link would be.
async fn follow_up_token(app: &TestApp, patient: Uuid) -> String {
    lumbar::store::account_tokens::issue(
        &app.db,
        app.clock.now(),
        entity::account_token::Purpose::FollowUp,
        lumbar::store::account_tokens::Subject::Patient(patient),
        chrono::Duration::days(14),
    )
    .await
    .unwrap()
}

/// Makes the call for one matrix row, with fresh inputs where the call uses them up.
async fn call(
    app: &TestApp,
    fixture: &Fixture,
    method: &str,
    path: &str,
    caller: Option<Role>,
    token: Option<&str>,
) -> u16 {
    let other = fixture.other_patient;
    let flagged = &fixture.flagged_intake;
    let today = app.clock.now().date_naive();
    let (method, url, body): (Method, String, Option<Value>) = match (method, path) {
        ("post", "/api/v1/auth/login") => {
            let email = unique_email("login");
            app.add_user(&email, Role::Staff).await;
            (
                Method::POST,
                path.into(),
                Some(json!({"email": email, "password": TEST_PASSWORD})),
            )
        }
        ("post", "/api/v1/auth/refresh") | ("post", "/api/v1/auth/logout") => {
            let email = unique_email("refresh");
            app.add_user(&email, Role::Staff).await;
            let refresh_token = app.login(&email).await["refresh_token"].clone();
            (
                Method::POST,
                path.into(),
                Some(json!({"refresh_token": refresh_token})),
            )
        }
        ("post", "/api/v1/auth/register") => (
            Method::POST,
            path.into(),
            Some(json!({
                "given_name": "Robin", "family_name": "Hart", "email": unique_email("register"),
                "date_of_birth": "1985-02-03", "password": "a long password",
            })),
        ),
        ("post", "/api/v1/auth/verify-email" | "/api/v1/auth/confirm-email") => (
            Method::POST,
            path.into(),
            Some(json!({"token": "never-issued"})),
        ),
        ("post", "/api/v1/auth/accept-invitation" | "/api/v1/auth/reset-password") => (
            Method::POST,
            path.into(),
            Some(json!({"token": "never-issued", "password": "a long password"})),
        ),
        ("post", "/api/v1/auth/forgot-password") => {
            let email = unique_email("forgot");
            app.add_user(&email, Role::Staff).await;
            (Method::POST, path.into(), Some(json!({"email": email})))
        }
        // Each caller's own account, whose password is the test password.
        ("post", "/api/v1/auth/change-password") => (
            Method::POST,
            path.into(),
            Some(json!({"current_password": TEST_PASSWORD, "new_password": "a new long password"})),
        ),
        ("post", "/api/v1/users") => (
            Method::POST,
            path.into(),
            Some(json!({
                "email": unique_email("staff"), "display_name": "Kim Park",
                "role": "staff", "password": "a long password",
            })),
        ),
        ("post", "/api/v1/users/{id}/disable") => {
            let target = app.add_user(&unique_email("disable"), Role::Staff).await;
            (
                Method::POST,
                format!("/api/v1/users/{target}/disable"),
                None,
            )
        }
        ("post", "/api/v1/users/{id}/enable") => {
            let target = app.add_user(&unique_email("enable"), Role::Staff).await;
            (Method::POST, format!("/api/v1/users/{target}/enable"), None)
        }
        ("put", "/api/v1/users/{id}/role") => {
            let target = app.add_user(&unique_email("role"), Role::Staff).await;
            (
                Method::PUT,
                format!("/api/v1/users/{target}/role"),
                Some(json!({"role": "admin"})),
            )
        }
        ("post", "/api/v1/patients") => (
            Method::POST,
            path.into(),
            Some(json!({"given_name": "Lou", "family_name": "Ng", "date_of_birth": "1970-10-10"})),
        ),
        ("get", "/api/v1/patients/{id}") => {
            (Method::GET, format!("/api/v1/patients/{other}"), None)
        }
        ("patch", "/api/v1/patients/{id}") => (
            Method::PATCH,
            format!("/api/v1/patients/{other}"),
            Some(json!({"phone": "0117 496 0002"})),
        ),
        ("post", "/api/v1/patients/{id}/invite") => {
            let staff = app.access_token(Role::Staff).await;
            let created: Value = app
                .send(
                    Method::POST,
                    "/api/v1/patients",
                    Some(&staff),
                    Some(json!({"given_name": "Ana", "family_name": "Silva",
                                "date_of_birth": "1999-09-09", "email": unique_email("invite")})),
                )
                .await
                .json()
                .await
                .unwrap();
            let id = created["id"].as_str().unwrap().to_owned();
            (Method::POST, format!("/api/v1/patients/{id}/invite"), None)
        }
        ("get", "/api/v1/questionnaires/{id}") => {
            (Method::GET, "/api/v1/questionnaires/intake".into(), None)
        }
        ("post", "/api/v1/triage/evaluate") => (
            Method::POST,
            path.into(),
            Some(json!({"answers": routine_answers(today)})),
        ),
        ("post", "/api/v1/intakes") => {
            let body = match caller {
                Some(Role::Patient) => json!({}),
                _ => json!({"patient_id": other}),
            };
            (Method::POST, path.into(), Some(body))
        }
        ("get", "/api/v1/intakes/{id}") => {
            (Method::GET, format!("/api/v1/intakes/{flagged}"), None)
        }
        ("put", "/api/v1/intakes/{id}") => {
            let draft = draft_for(app, &fixture.staff, other, None).await;
            (
                Method::PUT,
                format!("/api/v1/intakes/{draft}"),
                Some(json!({"answers": {"pain_now": 3}})),
            )
        }
        ("post", "/api/v1/intakes/{id}/submit") => {
            let draft = draft_for(app, &fixture.staff, other, Some(routine_answers(today))).await;
            (
                Method::POST,
                format!("/api/v1/intakes/{draft}/submit"),
                None,
            )
        }
        ("get", "/api/v1/patients/{id}/intakes") => (
            Method::GET,
            format!("/api/v1/patients/{other}/intakes"),
            None,
        ),
        ("get", "/api/v1/reviews/{id}") => {
            (Method::GET, format!("/api/v1/reviews/{flagged}"), None)
        }
        ("post", "/api/v1/intakes/{id}/review") => (
            Method::POST,
            format!("/api/v1/intakes/{flagged}/review"),
            // Keeps the case open for the next caller.
            Some(json!({"decision": "contacted_patient", "note": "Left a message."})),
        ),
        ("post", "/api/v1/patients/{id}/follow-ups") => (
            Method::POST,
            format!("/api/v1/patients/{other}/follow-ups"),
            None,
        ),
        ("get", "/api/v1/patients/{id}/outcomes") => (
            Method::GET,
            format!("/api/v1/patients/{other}/outcomes"),
            None,
        ),
        ("get", "/api/v1/follow-ups/{token}") => {
            let link = follow_up_token(app, other).await;
            (Method::GET, format!("/api/v1/follow-ups/{link}"), None)
        }
        ("post", "/api/v1/follow-ups/{token}") => {
            let link = follow_up_token(app, other).await;
            (
                Method::POST,
                format!("/api/v1/follow-ups/{link}"),
                Some(json!({"answers": follow_up_answers(3, false)})),
            )
        }
        ("post", "/api/v1/locations") => (
            Method::POST,
            path.into(),
            Some(json!({"name": "Hill", "address": "2 Hill Rd", "time_zone": "Europe/London"})),
        ),
        ("post", "/api/v1/appointment-types") => (
            Method::POST,
            path.into(),
            Some(json!({"name": "Chiro visit", "discipline": "chiropractic",
                        "duration_minutes": 30, "buffer_after_minutes": 0, "new_patient": true})),
        ),
        // Changes that leave the fixture bookable for the rows after.
        ("patch", "/api/v1/locations/{id}") => (
            Method::PATCH,
            format!("/api/v1/locations/{}", fixture.location),
            Some(json!({"address": "3 Hill Rd", "active": true})),
        ),
        ("patch", "/api/v1/appointment-types/{id}") => (
            Method::PATCH,
            format!("/api/v1/appointment-types/{}", fixture.appointment_type),
            Some(json!({"name": "Chiropractic first visit", "active": true})),
        ),
        ("patch", "/api/v1/practitioners/{id}") => (
            Method::PATCH,
            format!("/api/v1/practitioners/{}", fixture.practitioner),
            Some(json!({"location_ids": [fixture.location], "active": true})),
        ),
        ("put", "/api/v1/clinic/policies") => (
            Method::PUT,
            path.into(),
            Some(
                json!({"slot_grid_minutes": 15, "min_notice_minutes": 120, "horizon_days": 90,
                        "cancellation_window_minutes": 1440, "reminder_lead_minutes": 1440,
                        "follow_up_delay_days": 14}),
            ),
        ),
        ("post", "/api/v1/practitioners") => {
            let user = app
                .add_user(&unique_email("physio"), Role::Practitioner)
                .await;
            (
                Method::POST,
                path.into(),
                Some(json!({"user_id": user, "discipline": "physiotherapy",
                            "location_ids": [fixture.location]})),
            )
        }
        ("put", "/api/v1/practitioners/{id}/working-hours") => (
            Method::PUT,
            format!(
                "/api/v1/practitioners/{}/working-hours",
                fixture.practitioner
            ),
            // The same hours the fixture set: the appointment rows below book inside them.
            Some(
                json!({"locations": [{"location_id": fixture.location, "intervals": [
                {"weekday": "monday", "start": "07:00", "end": "19:00"},
                {"weekday": "tuesday", "start": "07:00", "end": "19:00"},
                {"weekday": "wednesday", "start": "07:00", "end": "19:00"},
                {"weekday": "thursday", "start": "07:00", "end": "19:00"},
                {"weekday": "friday", "start": "07:00", "end": "19:00"}]}]}),
            ),
        ),
        ("get", "/api/v1/practitioners/{id}/working-hours") => (
            Method::GET,
            format!(
                "/api/v1/practitioners/{}/working-hours",
                fixture.practitioner
            ),
            None,
        ),
        ("post", "/api/v1/practitioners/{id}/time-off") => (
            Method::POST,
            format!("/api/v1/practitioners/{}/time-off", fixture.practitioner),
            Some(
                json!({"starts_at": "2027-01-04T09:00:00Z", "ends_at": "2027-01-04T12:00:00Z",
                        "reason": "Training"}),
            ),
        ),
        ("get", "/api/v1/practitioners/{id}/time-off") => (
            Method::GET,
            format!("/api/v1/practitioners/{}/time-off", fixture.practitioner),
            None,
        ),
        ("delete", "/api/v1/practitioners/{id}/time-off/{time_off_id}") => {
            let created: Value = app
                .send(
                    Method::POST,
                    &format!("/api/v1/practitioners/{}/time-off", fixture.practitioner),
                    Some(&fixture.staff),
                    Some(json!({"starts_at": "2027-02-01T09:00:00Z",
                                "ends_at": "2027-02-01T10:00:00Z", "reason": "Dentist"})),
                )
                .await
                .json()
                .await
                .unwrap();
            (
                Method::DELETE,
                format!(
                    "/api/v1/practitioners/{}/time-off/{}",
                    fixture.practitioner,
                    created["id"].as_str().unwrap()
                ),
                None,
            )
        }
        ("post", "/api/v1/practitioners/{id}/calendar-token") => (
            Method::POST,
            format!(
                "/api/v1/practitioners/{}/calendar-token",
                fixture.practitioner
            ),
            None,
        ),
        ("delete", "/api/v1/practitioners/{id}/calendar-token") => (
            Method::DELETE,
            format!(
                "/api/v1/practitioners/{}/calendar-token",
                fixture.practitioner
            ),
            None,
        ),
        ("get", "/api/v1/practitioners/{id}/calendar.ics") => {
            let issued: Value = app
                .send(
                    Method::POST,
                    &format!(
                        "/api/v1/practitioners/{}/calendar-token",
                        fixture.practitioner
                    ),
                    Some(&fixture.staff),
                    None,
                )
                .await
                .json()
                .await
                .unwrap();
            (
                Method::GET,
                format!(
                    "/api/v1/practitioners/{}/calendar.ics?token={}",
                    fixture.practitioner,
                    issued["token"].as_str().unwrap()
                ),
                None,
            )
        }
        ("get", "/api/v1/availability") => (
            Method::GET,
            format!(
                "/api/v1/availability?appointment_type_id={}&from=2026-03-03&to=2026-03-06",
                fixture.appointment_type
            ),
            None,
        ),
        ("post", "/api/v1/appointments") => {
            let body = match caller {
                Some(Role::Patient) => json!({"practitioner_id": fixture.practitioner,
                    "location_id": fixture.location,
                    "appointment_type_id": fixture.appointment_type,
                    "start": fixture.next_start()}),
                _ => fixture.booking_for_other(),
            };
            return match token {
                Some(token) => book(app, token, body).await.status().as_u16(),
                None => app
                    .client
                    .post(app.url(path))
                    .header("Idempotency-Key", "anonymous")
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            };
        }
        ("get", "/api/v1/appointments/{id}") => {
            let id = fixture.appointment(app).await;
            (Method::GET, format!("/api/v1/appointments/{id}"), None)
        }
        ("post", "/api/v1/appointments/{id}/reschedule") => {
            let id = fixture.appointment(app).await;
            (
                Method::POST,
                format!("/api/v1/appointments/{id}/reschedule"),
                Some(json!({"start": fixture.next_start()})),
            )
        }
        ("post", "/api/v1/appointments/{id}/cancel") => {
            let id = fixture.appointment(app).await;
            (
                Method::POST,
                format!("/api/v1/appointments/{id}/cancel"),
                Some(json!({"reason": "Unwell"})),
            )
        }
        ("post", "/api/v1/appointments/{id}/check-in")
        | ("post", "/api/v1/appointments/{id}/no-show") => {
            let id = fixture.appointment_under_way(app).await;
            (Method::POST, path.replace("{id}", &id), None)
        }
        ("post", "/api/v1/appointments/{id}/undo-no-show") => {
            let id = fixture.appointment_under_way(app).await;
            let marked = app
                .send(
                    Method::POST,
                    &format!("/api/v1/appointments/{id}/no-show"),
                    Some(&fixture.staff),
                    None,
                )
                .await;
            assert_eq!(marked.status(), 200);
            (Method::POST, path.replace("{id}", &id), None)
        }
        ("post", "/api/v1/appointments/{id}/complete") => {
            let id = fixture.appointment_under_way(app).await;
            let checked_in = app
                .send(
                    Method::POST,
                    &format!("/api/v1/appointments/{id}/check-in"),
                    Some(&fixture.staff),
                    None,
                )
                .await;
            assert_eq!(checked_in.status(), 200);
            (Method::POST, path.replace("{id}", &id), None)
        }
        ("get", "/api/v1/appointments") => (
            Method::GET,
            format!(
                "/api/v1/appointments?location_id={}&date=2026-03-03",
                fixture.location
            ),
            None,
        ),
        ("get", "/api/v1/patients/{id}/appointments") => (
            Method::GET,
            format!("/api/v1/patients/{other}/appointments"),
            None,
        ),
        ("post", "/api/v1/admin/outbox/{id}/retry") => (
            Method::POST,
            format!("/api/v1/admin/outbox/{}/retry", Uuid::now_v7()),
            None,
        ),
        ("get", _) => (Method::GET, path.into(), None),
        _ => panic!("no request is written for {method} {path}; add it to `call`"),
    };
    app.send(method, &url, token, body).await.status().as_u16()
}

#[tokio::test]
async fn every_endpoint_answers_each_role_exactly_as_intended() {
    let app = TestApp::spawn().await;
    // It checks what was queued, not what was delivered.
    app.expect_unsent_mail();

    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let covered: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(
        documented, covered,
        "the matrix must list exactly the documented operations"
    );

    let fixture = fixture(&app).await;
    let mut wrong = Vec::new();
    for (method, path, expected) in MATRIX {
        for (index, caller) in CALLERS.iter().enumerate() {
            let token = fixture.tokens[index].as_deref();
            let status = call(&app, &fixture, method, path, *caller, token).await;
            if status != expected[index] {
                wrong.push(format!(
                    "{method} {path} as {caller:?}: expected {}, got {status}",
                    expected[index]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
