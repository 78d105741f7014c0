//! The clinic pages driven hard: the same button pressed many times at once, and every staff
//! page while the database is unreachable. Neither may ever answer 500.

use chrono::{DateTime, Utc};
use entity::user::Role;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};

use crate::{appointments::clinic, helpers::TestApp, intakes::call_ok, pages::Browser};

const DESK: &str = "desk@clinic.example";
const PRACTITIONER: &str = "dr.kay@clinic.example";
const ADMIN: &str = "admin@clinic.example";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// Eight tabs press "Check in" on the same visit at the same moment: one checks the patient in,
/// the others are told it was done already; the trail has one check-in.
#[tokio::test]
async fn check_in_pressed_in_eight_tabs_at_once_checks_in_once() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let booked = clinic
        .book(
            &clinic.patient,
            "stress",
            clinic.booking(&clinic.new_visit, "2026-03-04T09:00:00Z"),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let booked: serde_json::Value = booked.json().await.unwrap();
    let id = booked["id"].as_str().unwrap().to_owned();
    clinic.app.add_user(DESK, Role::Staff).await;
    clinic.app.clock.set(at("2026-03-04T08:50:00Z"));
    let mut desk = Browser::signed_in(&clinic.app, DESK).await;
    desk.get("/desk?date=2026-03-04").await;

    let path = format!("/desk/appointments/{id}/status");
    let presses = (0..8).map(|_| {
        let mut tab = desk.clone();
        let path = path.clone();
        async move {
            tab.submit(&path, &[("change", "check_in"), ("date", "2026-03-04")])
                .await
        }
    });
    let pages = join_all(presses).await;
    let statuses: Vec<StatusCode> = pages.iter().map(|page| page.status).collect();
    assert!(
        statuses
            .iter()
            .all(|status| [StatusCode::SEE_OTHER, StatusCode::CONFLICT].contains(status)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::SEE_OTHER), "{statuses:?}");
    for page in pages
        .iter()
        .filter(|page| page.status == StatusCode::CONFLICT)
    {
        page.assert_contains("There is a problem");
    }

    // The fixture's tokens were issued two days earlier and have run out.
    let staff = clinic.app.access_token(Role::Staff).await;
    let shown = call_ok(
        &clinic.app,
        Method::GET,
        &format!("/api/v1/appointments/{id}"),
        &staff,
        None,
    )
    .await;
    assert_eq!(shown["status"], "checked_in", "{shown}");
    let admin = clinic.app.access_token(Role::Admin).await;
    let audit = call_ok(
        &clinic.app,
        Method::GET,
        "/api/v1/admin/audit?limit=200",
        &admin,
        None,
    )
    .await;
    let check_ins = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            entry["action"] == "appointment.check_in"
                && entry["outcome"] == "allowed"
                && entry["record_id"] == id.as_str()
        })
        .count();
    assert_eq!(check_ins, 1, "{audit}");
}

/// With the database unreachable, every staff page and form answers the "try again in a
/// moment" page with 503, never a 500 or a half-written change.
#[tokio::test]
async fn staff_pages_ask_to_try_again_while_the_database_is_gone() {
    let app = TestApp::spawn().await;
    let (_, patient_id) = app.add_patient("alex@example.org").await;
    for (email, role) in [
        (DESK, Role::Staff),
        (PRACTITIONER, Role::Practitioner),
        (ADMIN, Role::Admin),
    ] {
        app.add_user(email, role).await;
    }
    let mut desk = Browser::signed_in(&app, DESK).await;
    let mut practitioner = Browser::signed_in(&app, PRACTITIONER).await;
    let mut admin = Browser::signed_in(&app, ADMIN).await;
    for browser in [&mut desk, &mut practitioner, &mut admin] {
        assert_eq!(browser.get("/").await.status, 200);
    }

    app.db.close_by_ref().await.unwrap();

    let pages: [(&mut Browser<'_>, &[&str]); 3] = [
        (
            &mut desk,
            &[
                "/desk",
                "/desk?date=2026-03-04",
                "/desk/patients?q=Morgan",
                &format!("/desk/patients/{patient_id}"),
                &format!("/desk/book?patient={patient_id}"),
            ],
        ),
        (
            &mut practitioner,
            &[
                "/reviews",
                "/schedule",
                &format!("/patients/{patient_id}/outcomes"),
            ],
        ),
        (
            &mut admin,
            &[
                "/admin/outbox",
                "/admin/users",
                "/admin/audit",
                "/setup",
                "/setup/locations",
                "/setup/appointment-types",
                "/setup/practitioners",
                "/setup/policies",
            ],
        ),
    ];
    for (browser, paths) in pages {
        for path in paths {
            let page = browser.get(path).await;
            assert_eq!(
                page.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{path}: {}",
                page.html
            );
            page.assert_contains("Please try again in a moment");
        }
    }
    let added = desk
        .submit(
            "/desk/patients",
            &[
                ("given_name", "Chidi"),
                ("family_name", "Okoye"),
                ("birth_day", "9"),
                ("birth_month", "7"),
                ("birth_year", "1971"),
            ],
        )
        .await;
    assert_eq!(
        added.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        added.html
    );
    added.assert_contains("Please try again in a moment");
    let location = admin
        .submit(
            "/setup/locations",
            &[
                ("name", "Harbour Clinic"),
                ("address", "1 Quay St"),
                ("time_zone", "Europe/London"),
            ],
        )
        .await;
    assert_eq!(
        location.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        location.html
    );
}

/// Every field name the clinic pages' forms use, so each hostile value reaches every parser.
const FORM_FIELDS: &[&str] = &[
    "name",
    "address",
    "time_zone",
    "duration_minutes",
    "buffer_after_minutes",
    "discipline",
    "new_patient",
    "active",
    "user_id",
    "location_ids",
    "start_date",
    "start_time",
    "end_date",
    "end_time",
    "reason",
    "keep_appointments",
    "slot_grid_minutes",
    "min_notice_minutes",
    "horizon_days",
    "cancellation_window_minutes",
    "reminder_lead_minutes",
    "follow_up_delay_days",
    "role",
    "display_name",
    "email",
    "password",
    "change",
    "date",
    "given_name",
    "family_name",
    "birth_day",
    "birth_month",
    "birth_year",
    "phone",
    "decision",
    "note",
    "patient",
    "type",
    "location",
    "practitioner",
    "with",
    "start",
    "idempotency_key",
    "override_reason",
    "hours-0-monday",
    "hours-0-sunday",
];

/// What a careless or hostile sender types.
fn hostile_values() -> Vec<String> {
    [
        "",
        " ",
        "\0",
        "a\0b",
        "\u{202e}evil",
        "🙂🙂🙂",
        "-1",
        "0",
        "99999999999999999999999",
        "1e309",
        "NaN",
        "25:61-99:99",
        "09:00-08:00, 10:00-",
        "00:00-24:00",
        "2026-02-30",
        "0000-01-01",
        "+275760-09-13",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(["x".repeat(20_000), "é".repeat(5_000)])
    .collect()
}

/// Hostile values in every field of every clinic form, and in the pages' query strings, as
/// the role each page is for: a clear page every time, never a 500.
#[tokio::test]
async fn hostile_input_to_the_clinic_pages_never_answers_500() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let app = &clinic.app;
    app.expect_unsent_mail();
    let booked = clinic
        .book(
            &clinic.patient,
            "hostile",
            clinic.booking(&clinic.new_visit, "2026-03-04T09:00:00Z"),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let booked: serde_json::Value = booked.json().await.unwrap();
    let appointment = booked["id"].as_str().unwrap().to_owned();
    let time_off = call_ok(
        app,
        Method::POST,
        &format!("/api/v1/practitioners/{}/time-off", clinic.practitioner),
        &clinic.staff,
        Some(serde_json::json!({
            "starts_at": "2026-03-06T09:00:00Z", "ends_at": "2026-03-06T12:00:00Z",
            "reason": "Training"
        })),
    )
    .await;
    let time_off = time_off["id"].as_str().unwrap().to_owned();
    let staff_user = app.add_user("lou.desk@clinic.example", Role::Staff).await;
    for (email, role) in [
        (DESK, Role::Staff),
        (PRACTITIONER, Role::Practitioner),
        (ADMIN, Role::Admin),
    ] {
        app.add_user(email, role).await;
    }
    let mut desk = Browser::signed_in(app, DESK).await;
    let mut practitioner = Browser::signed_in(app, PRACTITIONER).await;
    let mut admin = Browser::signed_in(app, ADMIN).await;
    for browser in [&mut desk, &mut practitioner, &mut admin] {
        browser.get("/").await;
    }
    let (location, kind, who, patient) = (
        &clinic.location,
        &clinic.new_visit,
        &clinic.practitioner,
        &clinic.patient_id,
    );
    let desk_forms = [
        format!("/desk/appointments/{appointment}/status"),
        "/desk/patients".to_owned(),
        format!("/desk/patients/{patient}"),
        format!("/desk/patients/{patient}/invite"),
        "/desk/book".to_owned(),
        format!("/setup/practitioners/{who}/hours"),
        format!("/setup/practitioners/{who}/time-off"),
        format!("/setup/practitioners/{who}/time-off/{time_off}/remove"),
    ];
    let admin_forms = [
        "/admin/users".to_owned(),
        format!("/admin/users/{staff_user}/role"),
        "/setup/locations".to_owned(),
        format!("/setup/locations/{location}"),
        format!("/setup/locations/{location}/active"),
        "/setup/appointment-types".to_owned(),
        format!("/setup/appointment-types/{kind}"),
        format!("/setup/appointment-types/{kind}/active"),
        "/setup/practitioners".to_owned(),
        format!("/setup/practitioners/{who}"),
        format!("/setup/practitioners/{who}/active"),
        "/setup/policies".to_owned(),
    ];
    let practitioner_forms = ["/schedule/calendar".to_owned()];
    let mut patient = Browser::signed_in(app, crate::appointments::PATIENT_EMAIL).await;
    patient.get("/").await;
    let patient_forms = [
        "/intake".to_owned(),
        "/book".to_owned(),
        format!("/appointments/{appointment}/reschedule"),
        "/account/email".to_owned(),
        "/account/password".to_owned(),
        format!("/appointments/{appointment}/cancel"),
    ];
    let values = hostile_values();
    let mut answers: std::collections::BTreeMap<u16, usize> = Default::default();
    for (browser, forms) in [
        (&mut desk, &desk_forms[..]),
        (&mut admin, &admin_forms[..]),
        (&mut practitioner, &practitioner_forms[..]),
        (&mut patient, &patient_forms[..]),
    ] {
        for path in forms {
            for value in &values {
                let fields: Vec<(&str, &str)> = FORM_FIELDS
                    .iter()
                    .map(|name| (*name, value.as_str()))
                    .collect();
                let page = browser.submit(path, &fields).await;
                assert!(
                    page.status.as_u16() < 500,
                    "{path} with {:?}: {}\n{}",
                    value.chars().take(40).collect::<String>(),
                    page.status,
                    page.html
                );
                // Buttons that send no fields of their own do not read the body.
                let reads_fields = !(path.ends_with("/invite")
                    || path.ends_with("/remove")
                    || path == "/schedule/calendar"
                    || path == "/intake");
                if value.contains('\0') && reads_fields {
                    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
                    page.assert_contains("We could not read this form");
                }
                *answers.entry(page.status.as_u16()).or_default() += 1;
            }
        }
    }
    eprintln!("answers to hostile forms, by status: {answers:?}");
    // Past the CSRF check and into the forms' own validation: refused with the reasons.
    assert!(answers.get(&422).is_some_and(|n| *n > 50), "{answers:?}");
    assert!(
        !answers.contains_key(&403),
        "a hostile value is not a refusal: {answers:?}"
    );

    const DESK_TAB: usize = 0;
    const PRACTITIONER_TAB: usize = 1;
    const ADMIN_TAB: usize = 2;
    let mut tabs = [desk, practitioner, admin];
    // Addresses stay short enough for the client to build (the long values went in bodies).
    for value in values.iter().filter(|value| value.len() < 1_000) {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("v", value)
            .finish();
        let value = &query[2..];
        let gets = [
            (DESK_TAB, format!("/desk?date={value}&location={value}")),
            (DESK_TAB, format!("/desk/patients?q={value}")),
            (DESK_TAB, format!("/desk/book?patient={value}&type={value}")),
            (DESK_TAB, format!("/setup/practitioners/{value}")),
            (PRACTITIONER_TAB, format!("/schedule?date={value}")),
            (PRACTITIONER_TAB, format!("/patients/{value}/outcomes")),
            (PRACTITIONER_TAB, format!("/reviews/{value}")),
            (
                ADMIN_TAB,
                format!(
                    "/admin/audit?actor={value}&patient={value}&from={value}&to={value}&before={value}"
                ),
            ),
            (ADMIN_TAB, format!("/admin/users?role={value}")),
            (
                ADMIN_TAB,
                format!("/setup/locations?edit={value}&done={value}"),
            ),
        ];
        for (tab, path) in gets {
            let page = tabs[tab].get(&path).await;
            if value.contains("%00") {
                assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
                page.assert_contains("We could not read this address");
            }
            assert!(
                page.status.as_u16() < 500,
                "GET {}: {}\n{}",
                path.chars().take(120).collect::<String>(),
                page.status,
                page.html
            );
        }
    }
}
