//! A practitioner's calendar feed: a revocable token, issued by the front desk, an admin or the
//! practitioner themselves, opens an iCalendar document of their upcoming appointments with
//! patients named by their initials only.

use chrono::{DateTime, Duration, Utc};
use entity::{
    appointment::{self, AppointmentStatus},
    user::Role,
};
use icalendar::Component;
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, expect_problem, header, test_epoch},
    practitioners::{location, practitioner},
};

const TYPE_NAME: &str = "Chiropractic new patient visit";

struct Clinic {
    staff: String,
    location: Uuid,
    kind: Uuid,
    /// The practitioner and the email they log in with.
    practitioner: Uuid,
    practitioner_email: String,
    /// A second practitioner at the same location.
    colleague: Uuid,
    colleague_email: String,
}

fn uuid(value: &str) -> Uuid {
    Uuid::parse_str(value).unwrap()
}

async fn clinic(app: &TestApp) -> Clinic {
    let staff = app.access_token(Role::Staff).await;
    let location = location(app, &staff, "America/New_York").await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/appointment-types",
            Some(&staff),
            Some(
                json!({"name": TYPE_NAME, "discipline": "chiropractic", "duration_minutes": 45,
                        "buffer_after_minutes": 0, "new_patient": true}),
            ),
        )
        .await;
    assert_eq!(created.status(), 201);
    let kind: Value = created.json().await.unwrap();
    let practitioner_email = "sam@clinic.example".to_owned();
    let colleague_email = "kim@clinic.example".to_owned();
    let practitioner_id = practitioner(
        app,
        &staff,
        &practitioner_email,
        "chiropractic",
        &[&location],
    )
    .await;
    let colleague = practitioner(app, &staff, &colleague_email, "chiropractic", &[&location]).await;
    Clinic {
        staff,
        location: uuid(&location),
        kind: uuid(kind["id"].as_str().unwrap()),
        practitioner: uuid(&practitioner_id),
        practitioner_email,
        colleague: uuid(&colleague),
        colleague_email,
    }
}

/// Inserts an appointment row directly (the booking API is not what is tested here).
async fn appointment(
    app: &TestApp,
    clinic: &Clinic,
    practitioner: Uuid,
    patient: Uuid,
    starts_at: DateTime<Utc>,
    status: AppointmentStatus,
) -> Uuid {
    let ends_at = starts_at + Duration::minutes(45);
    appointment::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        practitioner_id: Set(practitioner),
        location_id: Set(clinic.location),
        appointment_type_id: Set(clinic.kind),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        blocked_until: Set(ends_at),
        status: Set(status),
        sequence: Set(2),
        cancel_reason: Set(None),
        cancelled_late: Set(false),
        override_reason: Set(None),
        created_by: Set(None),
        created_at: Set(test_epoch()),
        updated_at: Set(test_epoch()),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

fn token_path(practitioner: Uuid) -> String {
    format!("/api/v1/practitioners/{practitioner}/calendar-token")
}

fn feed_path(practitioner: Uuid, token: &str) -> String {
    format!("/api/v1/practitioners/{practitioner}/calendar.ics?token={token}")
}

/// Issues a token as `caller` and returns the response body.
async fn issue(app: &TestApp, caller: &str, practitioner: Uuid) -> Value {
    let issued = app
        .send(Method::POST, &token_path(practitioner), Some(caller), None)
        .await;
    assert_eq!(issued.status(), 201);
    assert_eq!(header(&issued, "cache-control"), "no-store");
    issued.json().await.unwrap()
}

/// The feed's text, after checking the response is a calendar that is not to be cached.
async fn fetch_feed(app: &TestApp, practitioner: Uuid, token: &str) -> String {
    let response = app.get(&feed_path(practitioner, token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/calendar; charset=utf-8"
    );
    assert_eq!(header(&response, "cache-control"), "no-store");
    // Long lines are folded (RFC 5545 §3.1); unfolded, every property is one line.
    response.text().await.unwrap().replace("\r\n ", "")
}

async fn expect_no_feed(app: &TestApp, practitioner: Uuid, token: &str) {
    expect_problem(
        app.get(&feed_path(practitioner, token)).await,
        404,
        "not_found",
    )
    .await;
}

fn uid(id: Uuid) -> String {
    format!("UID:appointment-{id}@lumbar\r\n")
}

#[tokio::test]
async fn the_feed_lists_upcoming_active_appointments_with_initials_only() {
    let app = TestApp::spawn().await;
    let clinic = clinic(&app).await;
    // Two patients (both named Alex Morgan), so two appointments may be near in time.
    let (_, alex) = app.add_patient("alex@example.org").await;
    let (_, blake) = app.add_patient("blake@example.org").await;
    let now = test_epoch();
    let dr = clinic.practitioner;

    // 2026-03-04 14:00 UTC is 09:00 in New York (EST, before the DST change on 8 March).
    let booked = appointment(
        &app,
        &clinic,
        dr,
        alex,
        now + Duration::days(2) + Duration::hours(5),
        AppointmentStatus::Booked,
    )
    .await;
    let checked_in = appointment(
        &app,
        &clinic,
        dr,
        blake,
        now - Duration::hours(3),
        AppointmentStatus::CheckedIn,
    )
    .await;
    let cancelled = appointment(
        &app,
        &clinic,
        dr,
        blake,
        now + Duration::days(3),
        AppointmentStatus::Cancelled,
    )
    .await;
    let completed = appointment(
        &app,
        &clinic,
        dr,
        alex,
        now - Duration::hours(6),
        AppointmentStatus::Completed,
    )
    .await;
    let long_ago = appointment(
        &app,
        &clinic,
        dr,
        alex,
        now - Duration::days(3),
        AppointmentStatus::Booked,
    )
    .await;
    // The default horizon is 90 days.
    let beyond_horizon = appointment(
        &app,
        &clinic,
        dr,
        alex,
        now + Duration::days(120),
        AppointmentStatus::Booked,
    )
    .await;
    let colleagues = appointment(
        &app,
        &clinic,
        clinic.colleague,
        blake,
        now + Duration::days(5),
        AppointmentStatus::Booked,
    )
    .await;

    let issued = issue(&app, &clinic.staff, dr).await;
    let token = issued["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "32 bytes, URL-safe base64 without padding");
    assert_eq!(
        issued["url"],
        app.url(&feed_path(dr, token)),
        "the URL is absolute and carries the token"
    );

    let ics = fetch_feed(&app, dr, token).await;
    let parsed: icalendar::Calendar = ics.parse().expect("the feed is valid iCalendar");
    let expected = format!("A.M. — {TYPE_NAME}");
    let summaries: Vec<Option<&str>> = parsed.events().map(|event| event.get_summary()).collect();
    // Both test patients are called Alex Morgan.
    assert_eq!(summaries, [Some(expected.as_str()); 2], "{ics}");
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    assert!(ics.trim_end().ends_with("END:VCALENDAR"), "{ics}");
    assert!(ics.contains("METHOD:PUBLISH\r\n"), "{ics}");
    assert!(ics.contains("X-WR-CALNAME:Sam Taylor\r\n"), "{ics}");
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2, "{ics}");
    // Ordered by start: the checked-in visit of three hours ago first.
    let first = ics.find(&uid(checked_in)).expect("the checked-in visit");
    let second = ics.find(&uid(booked)).expect("the booked visit");
    assert!(first < second, "{ics}");
    for absent in [cancelled, completed, long_ago, beyond_horizon, colleagues] {
        assert!(!ics.contains(&absent.to_string()), "{absent} in {ics}");
    }
    assert!(
        ics.contains(&format!("SUMMARY:A.M. — {TYPE_NAME}\r\n")),
        "{ics}"
    );
    assert!(ics.contains("SEQUENCE:2\r\n"), "{ics}");
    assert!(
        ics.contains("DTSTART;TZID=America/New_York:20260304T090000\r\n"),
        "{ics}"
    );
    assert!(
        ics.contains("DTEND;TZID=America/New_York:20260304T094500\r\n"),
        "{ics}"
    );
    assert!(
        ics.contains("LOCATION:Clinic America/New_York\r\n"),
        "{ics}"
    );
    for private in ["Morgan", "Alex", "alex@example.org"] {
        assert!(!ics.contains(private), "{private} in {ics}");
    }
}

#[tokio::test]
async fn a_new_token_replaces_the_old_one_and_revoking_ends_the_feed() {
    let app = TestApp::spawn().await;
    let clinic = clinic(&app).await;
    let dr = clinic.practitioner;
    let admin = app.access_token(Role::Admin).await;

    let old = issue(&app, &clinic.staff, dr).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    fetch_feed(&app, dr, &old).await;
    let new = issue(&app, &admin, dr).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(old, new);
    expect_no_feed(&app, dr, &old).await;
    let ics = fetch_feed(&app, dr, &new).await;
    assert!(!ics.contains("BEGIN:VEVENT"), "no appointments yet: {ics}");

    // The token opens only its own practitioner's feed; no token, no feed.
    expect_no_feed(&app, clinic.colleague, &new).await;
    expect_problem(
        app.get(&format!("/api/v1/practitioners/{dr}/calendar.ics"))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_no_feed(&app, dr, "").await;
    expect_no_feed(&app, Uuid::now_v7(), &new).await;

    let revoked = app
        .send(Method::DELETE, &token_path(dr), Some(&clinic.staff), None)
        .await;
    assert_eq!(revoked.status(), 204);
    expect_no_feed(&app, dr, &new).await;
    // Revoking again changes nothing and is not an error.
    let again = app
        .send(Method::DELETE, &token_path(dr), Some(&admin), None)
        .await;
    assert_eq!(again.status(), 204);

    let audit: Value = app
        .send(Method::GET, "/api/v1/admin/audit", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|action| **action == "calendar_token.issue")
            .count(),
        2,
        "{audit}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|action| **action == "calendar_token.revoke")
            .count(),
        2,
        "{audit}"
    );
}

#[tokio::test]
async fn practitioners_manage_only_their_own_token() {
    let app = TestApp::spawn().await;
    let clinic = clinic(&app).await;
    let sam = app.login(&clinic.practitioner_email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let kim = app.login(&clinic.colleague_email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another practitioner's record is as good as absent.
    for method in [Method::POST, Method::DELETE] {
        expect_problem(
            app.send(method, &token_path(clinic.colleague), Some(&sam), None)
                .await,
            404,
            "not_found",
        )
        .await;
    }
    let own = issue(&app, &sam, clinic.practitioner).await;
    fetch_feed(&app, clinic.practitioner, own["token"].as_str().unwrap()).await;
    let kims = issue(&app, &kim, clinic.colleague).await;
    fetch_feed(&app, clinic.colleague, kims["token"].as_str().unwrap()).await;
    let revoked = app
        .send(
            Method::DELETE,
            &token_path(clinic.colleague),
            Some(&kim),
            None,
        )
        .await;
    assert_eq!(revoked.status(), 204);

    // The front desk gets a 404 for a practitioner that does not exist.
    expect_problem(
        app.send(
            Method::POST,
            &token_path(Uuid::now_v7()),
            Some(&clinic.staff),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn patients_and_anonymous_callers_cannot_manage_tokens() {
    let app = TestApp::spawn().await;
    let clinic = clinic(&app).await;
    app.add_patient("alex@example.org").await;
    let patient = app.login("alex@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = token_path(clinic.practitioner);
    for method in [Method::POST, Method::DELETE] {
        expect_problem(
            app.send(method.clone(), &path, Some(&patient), None).await,
            403,
            "forbidden",
        )
        .await;
        expect_problem(
            app.send(method, &path, None, None).await,
            401,
            "unauthorized",
        )
        .await;
    }
}
