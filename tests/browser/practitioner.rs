//! Practitioner journeys: their own schedule and calendar link, and from it a patient's outcome
//! chart.

use chrono::Duration;
use entity::{appointment, appointment_type, intake, patient, user::Role};
use lumbar::clock::Clock;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::harness::Browser;

/// A demo practitioner opens their schedule, finds today's patient and follows the link to
/// the patient's outcome chart: pain and disability falling over three weekly follow-ups,
/// past the meaningful-change lines.
async fn a_practitioner_opens_an_outcome_chart_from_their_schedule(b: &mut Browser) {
    let db = b.app.db.clone();
    let epoch = b.app.clock.now();
    let zone = b.app.state.config.time_zone;
    let logins = lumbar::demo::seed(&db, epoch, zone, &b.app.state.triage)
        .await
        .expect("seed the demo clinic");
    let login = logins
        .with_role(Role::Practitioner)
        .expect("a demo practitioner")
        .clone();
    let user = lumbar::store::users::find_by_email(&db, &login.email)
        .await
        .unwrap()
        .expect("the practitioner's account");
    let me = lumbar::store::practitioners::find_by_user(&db, user.id)
        .await
        .unwrap()
        .expect("a bookable practitioner");
    let alex = patient::Entity::find()
        .filter(patient::Column::GivenName.eq("Alex"))
        .one(&db)
        .await
        .unwrap()
        .expect("the demo patient Alex");
    let baseline = intake::Entity::find()
        .filter(intake::Column::PatientId.eq(alex.id))
        .one(&db)
        .await
        .unwrap()
        .expect("Alex's intake");

    // Three weekly follow-ups, each better than the last (stored as a submission stores them).
    let start_pain = baseline.pain_now.unwrap_or(4);
    let start_odi = baseline.odi_hundredths.unwrap_or(2000);
    for week in 1..=3_i16 {
        let at = epoch + Duration::days(7 * i64::from(week));
        let mut follow_up = intake::ActiveModel::from(baseline.clone()).reset_all();
        follow_up.id = Set(Uuid::now_v7());
        follow_up.questionnaire_id = Set(lumbar::triage::FOLLOW_UP_QUESTIONNAIRE.into());
        follow_up.created_at = Set(at);
        follow_up.updated_at = Set(at);
        follow_up.submitted_at = Set(Some(at));
        follow_up.pain_now = Set(Some((start_pain - week).max(0)));
        follow_up.odi_hundredths = Set(Some((start_odi - 600 * i32::from(week)).max(0)));
        follow_up.insert(&db).await.unwrap();
    }
    // Today (the fourth week) Alex sees this practitioner at one of their locations.
    b.app.clock.advance(Duration::days(22));
    let now = b.app.clock.now();
    let location = lumbar::store::practitioners::location_ids(&db, me.id)
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("the practitioner works somewhere");
    let kind = appointment_type::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .expect("an appointment type");
    let starts_at = now + Duration::hours(1);
    let ends_at = starts_at + Duration::minutes(30);
    appointment::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(alex.id),
        practitioner_id: Set(me.id),
        location_id: Set(location),
        appointment_type_id: Set(kind.id),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        blocked_until: Set(ends_at),
        status: Set(appointment::AppointmentStatus::Booked),
        sequence: Set(1),
        cancel_reason: Set(None),
        cancelled_late: Set(false),
        override_reason: Set(None),
        created_by: Set(None),
        created_at: Set(epoch),
        updated_at: Set(epoch),
    }
    .insert(&db)
    .await
    .unwrap();

    b.open("/login").await;
    b.fill("Email address", &login.email).await;
    b.fill("Password", login.password.expose()).await;
    b.press("Log in").await;
    b.follow("My schedule").await;
    b.expect_text("1 appointment").await;
    b.expect_text("Alex Morgan").await;
    b.check_accessibility("schedule").await;
    b.screenshot("schedule").await;

    // The calendar link, shown once, then revoked.
    b.press("Create a calendar link").await;
    b.expect_text("it is shown only this once").await;
    assert!(
        b.value_of("feed-url")
            .await
            .contains("/calendar.ics?token="),
        "the feed's address is shown"
    );
    b.check_accessibility("schedule-calendar-link").await;
    b.press("Revoke the calendar link").await;
    b.expect_text("Your calendar link is revoked").await;

    b.follow("Outcomes of Alex Morgan").await;
    b.expect_heading("Alex Morgan").await;
    b.expect_text("a meaningful improvement").await;
    b.expect_text("Meaningfully better").await;
    b.expect_text("Every score").await;
    b.check_accessibility("outcome-chart").await;
    b.screenshot("outcome-chart").await;
}
journey!(a_practitioner_opens_an_outcome_chart_from_their_schedule);
