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
