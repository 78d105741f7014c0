//! The application layer called directly, without HTTP, on the test database (SQLite, or
//! PostgreSQL with `LUMBAR_TEST_DB=postgres`): where a use case's outcome is clearer as a typed
//! value than as a response body. Setup that is not under test goes through the API helpers.

use chrono::{DateTime, Utc};
use entity::user::Role;
use lumbar::{
    audit::AuditContext,
    auth::tokens::Principal,
    clock::Clock,
    error::ApiError,
    service::{
        Caller,
        booking::{self, BookAppointment},
        intake::{self, ReviewStatus, StartIntake},
        review,
    },
    triage::{Answers, Disposition},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    appointments::{Clinic, PATIENT_EMAIL, clinic},
    helpers::TestApp,
    intakes::{routine_answers, with},
};

async fn caller(app: &TestApp, role: Role) -> Caller {
    let email = format!("{}@clinic.example", Uuid::now_v7().simple());
    let user_id = app.add_user(&email, role).await;
    Caller::new(Principal { user_id, role }, AuditContext::default())
}

/// The clinic's patient (the account the appointments helpers log in as).
async fn patient(clinic: &Clinic) -> Caller {
    let user = lumbar::store::users::find_by_email(&clinic.app.db, PATIENT_EMAIL)
        .await
        .unwrap()
        .expect("the clinic's patient");
    Caller::new(
        Principal {
            user_id: user.id,
            role: Role::Patient,
        },
        AuditContext::default(),
    )
}

fn object(value: Value) -> Answers {
    match value {
        Value::Object(answers) => answers,
        other => panic!("not an object: {other}"),
    }
}

async fn submitted(clinic: &Clinic, caller: &Caller, answers: Answers) -> intake::Submitted {
    let state = &clinic.app.state;
    let draft = intake::start(state, caller, StartIntake::default())
        .await
        .unwrap();
    intake::save_draft(state, caller, draft.id, answers)
        .await
        .unwrap();
    intake::submit(state, caller, draft.id).await.unwrap()
}

fn booking(clinic: &Clinic, patient_id: Option<Uuid>, start: &str, key: &str) -> BookAppointment {
    let id = |text: &str| text.parse::<Uuid>().unwrap();
    BookAppointment {
        patient_id: patient_id.map(Into::into),
        practitioner_id: id(&clinic.practitioner).into(),
        location_id: id(&clinic.location).into(),
        appointment_type_id: id(&clinic.new_visit).into(),
        start: start.parse::<DateTime<Utc>>().unwrap(),
        override_reason: None,
        idempotency_key: key.into(),
    }
}

fn refusal_code(result: Result<booking::Booked, ApiError>) -> &'static str {
    match result {
        Err(ApiError::Refused { code, .. }) => code,
        other => panic!("not a refusal: {other:?}"),
    }
}

#[tokio::test]
async fn an_open_flag_refuses_the_patient_and_the_front_desks_override_alike() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let state = &clinic.app.state;
    let today = clinic.app.clock.now().date_naive();
    let patient = patient(&clinic).await;
    let emergency = submitted(
        &clinic,
        &patient,
        with(
            routine_answers(today),
            &[("bowel_control_loss", json!(true))],
        ),
    )
    .await;
    assert_eq!(emergency.outcome.disposition, Disposition::Emergency);

    let refused = booking::book(
        state,
        &patient,
        booking(&clinic, None, "2026-03-05T09:00:00Z", "p"),
    )
    .await;
    assert_eq!(refusal_code(refused), "intake_emergency");

    let staff = caller(&clinic.app, Role::Staff).await;
    let mut phoned = booking(
        &clinic,
        Some(clinic.patient_id.parse().unwrap()),
        "2026-03-05T09:00:00Z",
        "s",
    );
    phoned.override_reason = Some("The patient says they feel fine.".into());
    assert_eq!(
        refusal_code(booking::book(state, &staff, phoned).await),
        "intake_emergency"
    );
}

#[tokio::test]
async fn a_correction_leaves_the_case_it_corrects_in_the_queue() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let state = &clinic.app.state;
    let today = clinic.app.clock.now().date_naive();
    let patient = patient(&clinic).await;
    let urgent = submitted(
        &clinic,
        &patient,
        with(routine_answers(today), &[("cancer_history", json!(true))]),
    )
    .await;
    let correction = intake::start(
        state,
        &patient,
        StartIntake {
            patient_id: None,
            corrects: Some(urgent.intake.id),
        },
    )
    .await
    .unwrap();
    intake::save_draft(state, &patient, correction.id, routine_answers(today))
        .await
        .unwrap();
    let corrected = intake::submit(state, &patient, correction.id)
        .await
        .unwrap();
    assert_eq!(corrected.outcome.disposition, Disposition::Routine);

    let practitioner = caller(&clinic.app, Role::Practitioner).await;
    let queue = review::queue(state, &practitioner, ReviewStatus::Pending)
        .await
        .unwrap();
    let flagged = queue
        .iter()
        .find(|entry| entry.intake_id == urgent.intake.id)
        .expect("the corrected case stays queued");
    assert_eq!(flagged.open_flag, Some(Disposition::Urgent));
    let correction = queue
        .iter()
        .find(|entry| entry.intake_id == corrected.intake.id)
        .expect("a submission under an open flag is queued");
    assert_eq!(correction.disposition, Disposition::Routine);
    assert_eq!(correction.open_flag, Some(Disposition::Urgent));
}

#[tokio::test]
async fn a_draft_is_interrupted_once_however_often_it_is_saved() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let state = &clinic.app.state;
    let patient = patient(&clinic).await;
    let draft = intake::start(state, &patient, StartIntake::default())
        .await
        .unwrap();
    let answers = object(json!({"urinary_retention": true}));
    let first = intake::save_draft(state, &patient, draft.id, answers.clone())
        .await
        .unwrap();
    assert!(first.safety_advice.is_some());
    let stored = |id| lumbar::store::intakes::find(&clinic.app.db, id);
    let interrupted_at = stored(draft.id)
        .await
        .unwrap()
        .unwrap()
        .safety_interrupted_at
        .expect("interrupted");
    clinic.app.clock.advance(chrono::Duration::minutes(5));
    let again = intake::save_draft(state, &patient, draft.id, answers)
        .await
        .unwrap();
    assert!(again.safety_advice.is_some(), "the advice is repeated");
    assert_eq!(
        stored(draft.id)
            .await
            .unwrap()
            .unwrap()
            .safety_interrupted_at,
        Some(interrupted_at),
        "the first interrupt stands"
    );
    // Without emergency answers a save says nothing of the kind.
    let quiet = intake::save_draft(state, &patient, draft.id, object(json!({"pain_now": 3})))
        .await
        .unwrap();
    assert_eq!(quiet.safety_advice, None);
}
