//! Double-booking is impossible in the database itself, on both backends: the exclusion
//! constraints (Postgres) and triggers (SQLite) refuse overlapping active appointments of one
//! practitioner (including the buffer after) or of one patient, even for concurrent writers.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{
    appointment::{self, AppointmentStatus},
    appointment_type, location,
    practitioner::{self, Discipline},
    user::Role,
};
use lumbar::clock::Clock;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, DbErr, IntoActiveModel};
use uuid::Uuid;

use crate::helpers::TestApp;

struct Schedule {
    practitioners: [Uuid; 2],
    location: Uuid,
    kind: Uuid,
}

async fn schedule(app: &TestApp) -> Schedule {
    let now = app.clock.now();
    let location = location::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("Riverside".into()),
        address: Set("1 River Street".into()),
        time_zone: Set("Europe/London".into()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let kind = appointment_type::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("Chiropractic follow-up".into()),
        discipline: Set(Discipline::Chiropractic),
        duration_minutes: Set(30),
        buffer_after_minutes: Set(10),
        new_patient: Set(false),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let mut practitioners = [Uuid::nil(); 2];
    for (index, slot) in practitioners.iter_mut().enumerate() {
        let user = app
            .add_user(&format!("dr{index}@clinic.example"), Role::Practitioner)
            .await;
        *slot = practitioner::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            display_name: Set(format!("Dr {index}")),
            discipline: Set(Discipline::Chiropractic),
            active: Set(true),
            calendar_token_hash: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap()
        .id;
    }
    Schedule {
        practitioners,
        location: location.id,
        kind: kind.id,
    }
}

fn nine() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

async fn book(
    db: &DatabaseConnection,
    schedule: &Schedule,
    practitioner: Uuid,
    patient: Uuid,
    starts_at: DateTime<Utc>,
) -> Result<appointment::Model, DbErr> {
    let ends_at = starts_at + Duration::minutes(30);
    appointment::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        practitioner_id: Set(practitioner),
        location_id: Set(schedule.location),
        appointment_type_id: Set(schedule.kind),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        blocked_until: Set(ends_at + Duration::minutes(10)),
        status: Set(AppointmentStatus::Booked),
        sequence: Set(0),
        cancel_reason: Set(None),
        cancelled_late: Set(false),
        override_reason: Set(None),
        created_by: Set(None),
        created_at: Set(starts_at),
        updated_at: Set(starts_at),
    }
    .insert(db)
    .await
}

fn is_overlap(result: Result<appointment::Model, DbErr>) -> bool {
    matches!(result, Err(err) if err.to_string().contains("overlap"))
}

#[tokio::test]
async fn overlapping_appointments_are_refused_by_the_database() {
    let app = TestApp::spawn().await;
    let schedule = schedule(&app).await;
    let [dr_a, dr_b] = schedule.practitioners;
    let (_, alex) = app.add_patient("alex@example.org").await;
    let (_, blake) = app.add_patient("blake@example.org").await;

    let first = book(&app.db, &schedule, dr_a, alex, nine()).await.unwrap();
    // Inside the practitioner's 10-minute buffer after 09:30.
    assert!(is_overlap(
        book(
            &app.db,
            &schedule,
            dr_a,
            blake,
            nine() + Duration::minutes(35)
        )
        .await
    ));
    // The same patient with another practitioner at the same time.
    assert!(is_overlap(
        book(
            &app.db,
            &schedule,
            dr_b,
            alex,
            nine() + Duration::minutes(15)
        )
        .await
    ));
    // Half-open intervals: the buffer's end is free, and so is the patient at 09:30.
    book(
        &app.db,
        &schedule,
        dr_a,
        blake,
        nine() + Duration::minutes(40),
    )
    .await
    .unwrap();
    book(
        &app.db,
        &schedule,
        dr_b,
        alex,
        nine() + Duration::minutes(30),
    )
    .await
    .unwrap();

    // A cancelled appointment frees its time; moving one onto a busy time is refused too.
    let mut cancelled = first.clone().into_active_model();
    cancelled.status = Set(AppointmentStatus::Cancelled);
    cancelled.update(&app.db).await.unwrap();
    let replacement = book(&app.db, &schedule, dr_a, blake, nine()).await.unwrap();
    let mut moved = replacement.into_active_model();
    moved.starts_at = Set(nine() + Duration::minutes(45));
    moved.ends_at = Set(nine() + Duration::minutes(75));
    moved.blocked_until = Set(nine() + Duration::minutes(85));
    let moved = moved.update(&app.db).await;
    assert!(
        matches!(&moved, Err(err) if err.to_string().contains("overlap")),
        "{moved:?}"
    );
}

#[tokio::test]
async fn of_many_concurrent_bookings_of_one_slot_exactly_one_lands() {
    let app = TestApp::spawn().await;
    let schedule = schedule(&app).await;
    let mut patients = Vec::new();
    for index in 0..20 {
        patients.push(app.add_patient(&format!("p{index}@example.org")).await.1);
    }
    let schedule = std::sync::Arc::new(schedule);
    let tasks: Vec<_> = patients
        .into_iter()
        .map(|patient| {
            let db = app.db.clone();
            let schedule = schedule.clone();
            tokio::spawn(async move {
                book(&db, &schedule, schedule.practitioners[0], patient, nine()).await
            })
        })
        .collect();
    let mut landed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => landed += 1,
            Err(err) => assert!(err.to_string().contains("overlap"), "{err}"),
        }
    }
    assert_eq!(landed, 1);
}
