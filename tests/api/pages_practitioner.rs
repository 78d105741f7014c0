//! The practitioners' own pages over HTTP (issue 16): a patient's outcome chart (both series,
//! the meaningful-change marks, the summary and the table; an empty state; who may open it;
//! the read audited as the API's), and their schedule (only their own appointments, by name,
//! day by day) with the calendar feed link they create and revoke.

use chrono::{DateTime, Duration, Utc};
use entity::{
    appointment::{self, AppointmentStatus},
    user::Role,
};
use lumbar::clock::Clock;
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    appointments::{Clinic, clinic},
    helpers::{TestApp, app_with_sink, test_epoch},
    intakes::{call_ok, follow_up_answers},
    pages::{Browser, Page},
    practitioners::practitioner,
    smtp_sink::SmtpSink,
};

/// The clinic's practitioner (see `appointments::clinic`).
const PRACTITIONER: &str = "dr.lee@clinic.example";
const COLLEAGUE: &str = "dr.kim@clinic.example";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// Emails the patient a follow-up link, and a week later answers it with `pain` and the first
/// `odi_ones` Oswestry sections scored 1, the rest 0 (each 1 is 2 %).
async fn follow_up(clinic: &Clinic, sink: &SmtpSink, pain: u8, odi_ones: u8) {
    let app = &clinic.app;
    let staff = app.access_token(Role::Staff).await;
    call_ok(
        app,
        Method::POST,
        &format!("/api/v1/patients/{}/follow-ups", clinic.patient_id),
        &staff,
        None,
    )
    .await;
    app.worker().run_once().await.unwrap();
    let token = sink
        .received()
        .last()
        .expect("the follow-up email")
        .token_after("/follow-ups/");
    app.clock.advance(Duration::days(7));
    let mut answers = follow_up_answers(pain, false);
    for section in 1..=10 {
        answers[format!("odi_{section}")] = json!(u8::from(section <= odi_ones));
    }
    let sent = app
        .send(
            Method::POST,
            &format!("/api/v1/follow-ups/{token}"),
            None,
            Some(json!({ "answers": answers })),
        )
        .await;
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
}

/// The audit trail's entries of `action`, newest first.
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let admin = app.access_token(Role::Admin).await;
    let trail = call_ok(
        app,
        Method::GET,
        "/api/v1/admin/audit?limit=500",
        &admin,
        None,
    )
    .await;
    trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == action)
        .cloned()
        .collect()
}

fn outcomes_path(clinic: &Clinic) -> String {
    format!("/patients/{}/outcomes", clinic.patient_id)
}

#[tokio::test]
async fn the_outcome_chart_draws_pain_and_disability_against_the_meaningful_changes() {
    let sink = SmtpSink::start().await;
    // The intake: pain 4, every Oswestry section 1 (20 %).
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    // Pain 2 (2 lower: meaningful), Oswestry 10 % (10 lower: meaningful); then pain 3, 20 %.
    follow_up(&clinic, &sink, 2, 5).await;
    follow_up(&clinic, &sink, 3, 10).await;
    let path = outcomes_path(&clinic);

    let mut browser = Browser::signed_in(&clinic.app, PRACTITIONER).await;
    // The case page links here.
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    let intakes = call_ok(
        &clinic.app,
        Method::GET,
        &format!("/api/v1/patients/{}/intakes", clinic.patient_id),
        &practitioner,
        None,
    )
    .await;
    let intake = intakes
        .as_array()
        .unwrap()
        .iter()
        .find(|intake| intake["questionnaire_id"] == "intake")
        .expect("the intake");
    let case = browser
        .get(&format!("/reviews/{}", intake["id"].as_str().unwrap()))
        .await;
    assert_eq!(case.status, 200, "{}", case.html);
    case.assert_contains(&format!("<a href=\"{path}\">Pain and disability over time"));

    let before = audited(&clinic.app, "outcomes.read").await.len();
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    page.assert_contains("<h1>Alex Morgan</h1>");
    // Both series, drawn as SVG with a text alternative.
    assert_eq!(page.html.matches("<svg ").count(), 2, "{}", page.html);
    assert_eq!(page.html.matches("role=\"img\"").count(), 2);
    page.assert_contains("<title id=\"pain-title\">Pain (0–10) over time</title>");
    page.assert_contains(
        "<title id=\"odi-title\">Disability, Oswestry (0–100 %) over time</title>",
    );
    assert_eq!(
        page.html.matches("<circle ").count(),
        6,
        "three readings each"
    );
    assert_eq!(page.html.matches("<path d=\"M ").count(), 2);
    // The thresholds: the intake minus the meaningful change (2 NRS points, 10 ODI points).
    page.assert_contains("Meaningfully better: 2 or lower");
    page.assert_contains("Meaningfully better: 10 or lower");
    page.assert_contains("At intake: 4");
    page.assert_contains("At intake: 20");
    // In words, from the intake to the latest follow-up, judged as the API judges it.
    page.assert_contains(
        "Pain (0–10): 4 out of 10 at intake (2 Mar 2026), 3 out of 10 on 16 Mar 2026: \
         1 point lower, not a meaningful change (that takes 2 points).",
    );
    page.assert_contains(
        "Disability, Oswestry (0–100 %): 20 % at intake (2 Mar 2026), 20 % on 16 Mar 2026: \
         unchanged, not a meaningful change (that takes 10 points).",
    );
    // The table: every reading with its change, the baseline named.
    page.assert_contains("<table class=\"outcomes\">");
    page.assert_contains("(the baseline)");
    page.assert_contains("<td>−2 <span class=\"muted\">meaningfully better</span></td>");
    page.assert_contains("<td>−10 <span class=\"muted\">meaningfully better</span></td>");
    assert_eq!(page.html.matches("<td>Follow-up</td>").count(), 2);

    // The read is audited exactly as the API's: one more outcomes.read, allowed.
    let after = audited(&clinic.app, "outcomes.read").await;
    assert_eq!(after.len(), before + 1, "{after:?}");
    assert_eq!(after[0]["outcome"], "allowed");
}

#[tokio::test]
async fn a_patient_without_scores_gets_a_friendly_empty_state() {
    let app = TestApp::spawn().await;
    let (_, patient) = app.add_patient("blake@example.org").await;
    app.add_user(PRACTITIONER, Role::Practitioner).await;
    let mut browser = Browser::signed_in(&app, PRACTITIONER).await;
    let page = browser.get(&format!("/patients/{patient}/outcomes")).await;
    assert_eq!(page.status, 200, "{}", page.html);
    page.assert_contains("No scores yet.");
    assert!(!page.html.contains("<svg"), "nothing to draw");
    assert!(!page.html.contains("<table"));

    // An unknown patient, or no id at all: the not-found page, never a 500.
    for missing in [
        "/patients/00000000-0000-4000-8000-000000000000/outcomes",
        "/patients/not-an-id/outcomes",
    ] {
        let page = browser.get(missing).await;
        assert_eq!(page.status, 404, "{missing}");
        page.assert_contains("Page not found");
    }
}

#[tokio::test]
async fn only_practitioners_open_the_outcome_chart() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    follow_up(&clinic, &sink, 2, 5).await;
    let path = outcomes_path(&clinic);
    for (email, role) in [
        ("desk@clinic.example", Role::Staff),
        ("admin@clinic.example", Role::Admin),
    ] {
        clinic.app.add_user(email, role).await;
        let mut browser = Browser::signed_in(&clinic.app, email).await;
        let page = browser.get(&path).await;
        assert_eq!(page.status, 403, "{role:?}");
        page.assert_contains("You cannot open this page");
        assert!(!page.html.contains("<svg"), "{role:?} sees no scores");
        assert!(!page.html.contains("out of 10"), "{role:?} sees no scores");
        assert_eq!(browser.get("/schedule").await.status, 403, "{role:?}");
    }
    let mut patient = Browser::signed_in(&clinic.app, "alex@example.org").await;
    let page = patient.get(&path).await;
    assert_eq!(page.status, 403);
    assert!(!page.html.contains("out of 10"));
    assert_eq!(patient.get("/schedule").await.status, 403);
    // Signed out: to the login page, back here afterwards.
    for signed_out in [path.as_str(), "/schedule"] {
        let page = Browser::new(&clinic.app).get(signed_out).await;
        assert_eq!(page.status, 303);
        assert!(page.location().starts_with("/login?next="), "{signed_out}");
    }
    let refused = audited(&clinic.app, "access_denied").await;
    assert!(refused.len() >= 6, "every refusal is audited: {refused:?}");
}

/// Inserts an appointment row directly (booking is not what is tested here).
async fn appointment(
    clinic: &Clinic,
    practitioner: &str,
    patient: Uuid,
    starts_at: DateTime<Utc>,
    status: AppointmentStatus,
) {
    let ends_at = starts_at + Duration::minutes(45);
    appointment::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        practitioner_id: Set(practitioner.parse().unwrap()),
        location_id: Set(clinic.location.parse().unwrap()),
        appointment_type_id: Set(clinic.new_visit.parse().unwrap()),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        blocked_until: Set(ends_at),
        status: Set(status),
        sequence: Set(1),
        cancel_reason: Set(None),
        cancelled_late: Set(false),
        override_reason: Set(None),
        created_by: Set(None),
        created_at: Set(test_epoch()),
        updated_at: Set(test_epoch()),
    }
    .insert(&clinic.app.db)
    .await
    .unwrap();
}

/// A second patient with a name of their own.
async fn another_patient(app: &TestApp) -> Uuid {
    lumbar::store::patients::create(
        &app.db,
        app.clock.now(),
        lumbar::store::patients::NewPatient {
            user_id: None,
            given_name: "Robin".into(),
            family_name: "Okafor".into(),
            date_of_birth: "1986-03-02".parse().unwrap(),
            email: None,
            phone: None,
            created_by: None,
        },
    )
    .await
    .unwrap()
    .id
}

fn visible(page: &Page) -> String {
    page.text()
}

#[tokio::test]
async fn the_schedule_lists_only_my_appointments_by_name_day_by_day() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let app = &clinic.app;
    let colleague = practitioner(
        app,
        &clinic.staff,
        COLLEAGUE,
        "chiropractic",
        &[&clinic.location],
    )
    .await;
    let alex: Uuid = clinic.patient_id.parse().unwrap();
    let robin = another_patient(app).await;
    // Wednesday 4 March: Alex with me at 09:00, Robin with my colleague at 11:00, and a
    // cancelled visit of mine at 14:00; Thursday: Robin with me at 10:00.
    appointment(
        &clinic,
        &clinic.practitioner,
        alex,
        at("2026-03-04T09:00:00Z"),
        AppointmentStatus::Booked,
    )
    .await;
    appointment(
        &clinic,
        &colleague,
        robin,
        at("2026-03-04T11:00:00Z"),
        AppointmentStatus::Booked,
    )
    .await;
    appointment(
        &clinic,
        &clinic.practitioner,
        robin,
        at("2026-03-04T14:00:00Z"),
        AppointmentStatus::Cancelled,
    )
    .await;
    appointment(
        &clinic,
        &clinic.practitioner,
        robin,
        at("2026-03-05T10:00:00Z"),
        AppointmentStatus::Booked,
    )
    .await;

    let mut browser = Browser::signed_in(app, PRACTITIONER).await;
    let home = browser.get("/").await;
    home.assert_contains("<a href=\"/schedule\">My schedule</a>");

    let day = browser.get("/schedule?date=2026-03-04").await;
    assert_eq!(day.status, 200, "{}", day.html);
    day.assert_contains("My schedule: Wednesday 4 March 2026");
    day.assert_contains("1 appointment ");
    day.assert_contains("09:00–09:45");
    day.assert_contains("Alex Morgan");
    day.assert_contains("Chiropractic new patient visit, Clinic Europe/London");
    day.assert_contains("Booked");
    day.assert_contains(&format!("href=\"/patients/{alex}/outcomes\""));
    let text = visible(&day);
    assert!(
        !text.contains("Robin Okafor"),
        "a colleague's and a cancelled visit are not mine"
    );
    assert!(!text.contains("11:00"));
    assert!(
        !text
            .replace(&format!("/patients/{alex}/outcomes"), "")
            .contains(&alex.to_string()),
        "the patient is shown by name, their id only in the chart's address"
    );
    day.assert_contains("href=\"/schedule?date=2026-03-03\"");
    day.assert_contains("href=\"/schedule?date=2026-03-05\"");

    let next = browser.get("/schedule?date=2026-03-05").await;
    next.assert_contains("My schedule: Thursday 5 March 2026");
    next.assert_contains("10:00–10:45");
    next.assert_contains("Robin Okafor");
    let today = browser.get("/schedule").await;
    today.assert_contains("My schedule: Monday 2 March 2026");
    today.assert_contains("No appointments.");

    // A bad date: a clear error beside the field, never a 500.
    let wrong = browser.get("/schedule?date=someday").await;
    assert_eq!(wrong.status, 422);
    wrong.assert_contains("There is a problem");
    wrong.assert_contains("<a href=\"#date\">Enter a date like 2026-03-04.</a>");
    assert_eq!(browser.get("/schedule?date=2026-02-30").await.status, 422);

    // A practitioner account nobody has made bookable yet: told so.
    app.add_user("new.dr@clinic.example", Role::Practitioner)
        .await;
    let mut newcomer = Browser::signed_in(app, "new.dr@clinic.example").await;
    let page = newcomer.get("/schedule").await;
    assert_eq!(page.status, 200);
    page.assert_contains("not set up to take appointments yet");
}

/// The feed URL a schedule page shows once, as a path on the test server.
fn feed_path(page: &Page) -> String {
    let text = page.text();
    let start = text
        .find("/api/v1/practitioners/")
        .expect("the feed URL is shown");
    let rest = &text[start..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn a_practitioner_creates_replaces_and_revokes_their_calendar_link() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let app = &clinic.app;
    let alex: Uuid = clinic.patient_id.parse().unwrap();
    appointment(
        &clinic,
        &clinic.practitioner,
        alex,
        at("2026-03-04T09:00:00Z"),
        AppointmentStatus::Booked,
    )
    .await;
    let mut browser = Browser::signed_in(app, PRACTITIONER).await;
    let page = browser.get("/schedule").await;
    page.assert_contains("You have no calendar link.");
    page.assert_contains("Create a calendar link");
    assert!(!page.html.contains("Revoke the calendar link"));

    // Without the form's token nothing happens.
    let forged = browser.post_form("/schedule/calendar", &[]).await;
    assert_eq!(forged.status, 403);

    let created = browser.submit("/schedule/calendar", &[]).await;
    assert_eq!(created.status, 200, "{}", created.html);
    created.assert_contains("it is shown only this once");
    let first = feed_path(&created);
    assert!(
        first.contains(&clinic.practitioner) && first.contains("token="),
        "{first}"
    );
    let feed = app.get(&first).await;
    assert_eq!(feed.status(), 200);
    let ics = feed.text().await.unwrap();
    assert!(
        ics.contains("BEGIN:VCALENDAR") && ics.contains("A.M."),
        "{ics}"
    );

    // Shown once: the schedule only says a link exists.
    let later = browser.get("/schedule").await;
    later.assert_contains("You have a calendar link.");
    assert!(!later.text().contains(&first));
    // Replacing it stops the first one.
    let replaced = browser.submit("/schedule/calendar", &[]).await;
    let second = feed_path(&replaced);
    assert_ne!(first, second);
    assert_eq!(app.get(&first).await.status(), 404);
    assert_eq!(app.get(&second).await.status(), 200);

    let revoked = browser.submit("/schedule/calendar/revoke", &[]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.html);
    assert_eq!(revoked.location(), "/schedule?done=revoked");
    let after = browser.get(revoked.location()).await;
    after.assert_contains("Your calendar link is revoked");
    after.assert_contains("You have no calendar link.");
    assert_eq!(app.get(&second).await.status(), 404);
    assert_eq!(audited(app, "calendar_token.issue").await.len(), 2);
    assert_eq!(audited(app, "calendar_token.revoke").await.len(), 1);
}
