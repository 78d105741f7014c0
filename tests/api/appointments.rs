//! Availability, booking (idempotency, the intake gate, the rules, the race the database
//! settles), the appointment's life and its emails, through the HTTP API on both backends.

use chrono::{DateTime, Duration, Utc};
use entity::user::Role;
use icalendar::Component;
use lumbar::clock::Clock;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, app_with_sink, expect_problem, header},
    intakes::{call_ok, routine_answers, submit_intake, with},
    practitioners::{location, practitioner},
    smtp_sink::{ReceivedMail, SmtpSink},
};

/// A small clinic: one location in `zone`, one chiropractor working weekdays 09:00–12:00 and
/// 13:00–17:00 local, a new-patient and a follow-up type, and a patient with a routine intake.
pub struct Clinic {
    pub app: TestApp,
    pub staff: String,
    pub location: String,
    pub practitioner: String,
    /// Chiropractic new patient visit: 45 minutes and 15 of buffer.
    pub new_visit: String,
    /// Chiropractic follow-up: 30 minutes.
    pub follow_up: String,
    pub patient: String,
    pub patient_id: String,
}

pub const PATIENT_EMAIL: &str = "alex@example.org";

pub async fn appointment_type(
    app: &TestApp,
    staff: &str,
    name: &str,
    discipline: &str,
    minutes: u32,
    buffer: u32,
    new_patient: bool,
) -> String {
    call_ok(
        app,
        Method::POST,
        "/api/v1/appointment-types",
        staff,
        Some(
            json!({"name": name, "discipline": discipline, "duration_minutes": minutes,
                    "buffer_after_minutes": buffer, "new_patient": new_patient}),
        ),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sets weekly hours for every day in `days` at `location`.
pub async fn set_hours(
    app: &TestApp,
    staff: &str,
    practitioner: &str,
    location: &str,
    days: &[&str],
    intervals: &[(&str, &str)],
) {
    let intervals: Vec<Value> = days
        .iter()
        .flat_map(|day| {
            intervals
                .iter()
                .map(move |(start, end)| json!({"weekday": day, "start": start, "end": end}))
        })
        .collect();
    call_ok(
        app,
        Method::PUT,
        &format!("/api/v1/practitioners/{practitioner}/working-hours"),
        staff,
        Some(json!({"locations": [{"location_id": location, "intervals": intervals}]})),
    )
    .await;
}

pub const WEEKDAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];

pub async fn clinic(app: TestApp, zone: &str) -> Clinic {
    let staff = app.access_token(Role::Staff).await;
    let location = location(&app, &staff, zone).await;
    let practitioner = practitioner(
        &app,
        &staff,
        "dr.lee@clinic.example",
        "chiropractic",
        &[&location],
    )
    .await;
    set_hours(
        &app,
        &staff,
        &practitioner,
        &location,
        &WEEKDAYS,
        &[("09:00", "12:00"), ("13:00", "17:00")],
    )
    .await;
    let new_visit = appointment_type(
        &app,
        &staff,
        "Chiropractic new patient visit",
        "chiropractic",
        45,
        15,
        true,
    )
    .await;
    let follow_up = appointment_type(
        &app,
        &staff,
        "Chiropractic follow-up",
        "chiropractic",
        30,
        0,
        false,
    )
    .await;
    let (_, patient_id) = app.add_patient(PATIENT_EMAIL).await;
    let patient = app.login(PATIENT_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let today = app.clock.now().date_naive();
    submit_intake(&app, &patient, routine_answers(today)).await;
    Clinic {
        app,
        staff,
        location,
        practitioner,
        new_visit,
        follow_up,
        patient,
        patient_id: patient_id.to_string(),
    }
}

impl Clinic {
    pub async fn slots(&self, token: &str, kind: &str, from: &str, to: &str) -> Vec<Value> {
        let path = format!(
            "/api/v1/availability?appointment_type_id={kind}&from={from}&to={to}&practitioner_id={}",
            self.practitioner
        );
        call_ok(&self.app, Method::GET, &path, token, None).await["slots"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn booking(&self, kind: &str, start: &str) -> Value {
        json!({
            "practitioner_id": self.practitioner,
            "location_id": self.location,
            "appointment_type_id": kind,
            "start": start,
        })
    }

    pub async fn book(&self, token: &str, key: &str, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/api/v1/appointments"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, token: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        self.app.send(Method::POST, path, Some(token), body).await
    }

    async fn appointment_count(&self) -> i64 {
        let row = self
            .app
            .db
            .query_one_raw(Statement::from_string(
                self.app.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM appointments",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// Delivers what is due now and returns what the patient received since `seen`.
    async fn mail(&self, sink: &SmtpSink) -> Vec<ReceivedMail> {
        self.app.worker().run_once().await.unwrap();
        sink.received()
            .into_iter()
            .filter(|mail| mail.rcpt_to.iter().any(|to| to == PATIENT_EMAIL))
            .collect()
    }
}

fn start_of(slot: &Value) -> DateTime<Utc> {
    instant_of(&slot["start"])
}

fn instant_of(value: &Value) -> DateTime<Utc> {
    instant(value.as_str().expect("an RFC 3339 instant"))
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// The one event of an invite, parsed.
fn parsed_event(ics: &str) -> icalendar::Event {
    let calendar: icalendar::Calendar = ics.parse().expect("a parsable invite");
    calendar
        .components
        .iter()
        .find_map(|component| component.as_event().cloned())
        .expect("an event")
}

#[tokio::test]
async fn a_patient_books_an_offered_time_and_receives_a_confirmation_with_an_invite() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    // Monday 2 March 2026 09:00 UTC; Wednesday's first slot is 09:00 GMT.
    let slots = clinic
        .slots(
            &clinic.patient,
            &clinic.new_visit,
            "2026-03-04",
            "2026-03-04",
        )
        .await;
    assert_eq!(start_of(&slots[0]), instant("2026-03-04T09:00:00Z"));
    assert_eq!(slots[0]["local_start"], "2026-03-04T09:00:00+00:00");
    assert_eq!(slots[0]["abbreviation"], "GMT");
    // The visit and its 15-minute buffer fit before 12:00 and 17:00: 09:00 … 11:00, 13:00 … 16:00.
    assert_eq!(slots.len(), 9 + 13);

    let response = clinic
        .book(
            &clinic.patient,
            "key-1",
            clinic.booking(&clinic.new_visit, "2026-03-04T09:00:00Z"),
        )
        .await;
    assert_eq!(response.status(), 201);
    let booked: Value = response.json().await.unwrap();
    assert_eq!(booked["status"], "booked");
    assert_eq!(booked["patient_id"], clinic.patient_id.as_str());
    assert_eq!(instant_of(&booked["end"]), instant("2026-03-04T09:45:00Z"));
    assert_eq!(booked["sequence"], 0);

    // The visit and its buffer are no longer offered: the next start is 10:00.
    let after = clinic
        .slots(
            &clinic.patient,
            &clinic.new_visit,
            "2026-03-04",
            "2026-03-04",
        )
        .await;
    assert_eq!(start_of(&after[0]), instant("2026-03-04T10:00:00Z"));
    assert_eq!(after.len(), slots.len() - 4);

    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), 1, "only the confirmation is due now");
    let text = mail[0].text();
    assert!(text.contains("Wed 4 Mar 2026 09:00 GMT"), "{text}");
    assert!(!text.contains("routine"), "no clinical details: {text}");
    let (method, ics) = mail[0].invite().expect("an invite is attached");
    assert_eq!(method, "REQUEST");
    let event = parsed_event(&ics);
    let id = booked["id"].as_str().unwrap();
    assert_eq!(
        event.get_uid(),
        Some(format!("appointment-{id}@lumbar").as_str())
    );
    assert_eq!(event.property_value("SEQUENCE"), Some("0"));
    assert!(
        ics.contains("DTSTART;TZID=Europe/London:20260304T090000"),
        "{ics}"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_replays_and_a_different_body_is_refused() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let body = clinic.booking(&clinic.new_visit, "2026-03-03T09:00:00Z");
    let first = clinic.book(&clinic.patient, "retry-me", body.clone()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();

    let again = clinic.book(&clinic.patient, "retry-me", body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(header(&again, "idempotent-replayed"), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the stored response is replayed");
    assert_eq!(clinic.appointment_count().await, 1);

    let other = clinic.booking(&clinic.new_visit, "2026-03-03T10:00:00Z");
    expect_problem(
        clinic.book(&clinic.patient, "retry-me", other).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(clinic.appointment_count().await, 1);

    // A day later the key is forgotten and may name a new booking.
    clinic.app.clock.advance(Duration::hours(25));
    let patient = clinic.app.login(PATIENT_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = clinic.booking(&clinic.follow_up, "2026-03-10T10:00:00Z");
    assert_eq!(clinic.book(&patient, "retry-me", later).await.status(), 201);
    assert_eq!(clinic.appointment_count().await, 2);

    // The header is required.
    let missing = clinic
        .app
        .send(
            Method::POST,
            "/api/v1/appointments",
            Some(&patient),
            Some(clinic.booking(&clinic.new_visit, "2026-03-03T10:00:00Z")),
        )
        .await;
    assert_eq!(missing.status(), 400);
}

/// Time off and other appointments are loaded together; each takes its time out of what is
/// offered, and a booking of such a time is refused.
#[tokio::test]
async fn time_off_and_appointments_take_their_time_out_of_availability() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let starts = |slots: &[Value]| -> Vec<DateTime<Utc>> {
        slots
            .iter()
            .map(|slot| instant_of(&slot["start"]))
            .collect()
    };
    let day = "2026-03-04";
    let before = starts(
        &clinic
            .slots(&clinic.patient, &clinic.follow_up, day, day)
            .await,
    );
    for time in ["09:00", "10:00", "13:00", "14:00"] {
        assert!(
            before.contains(&instant(&format!("{day}T{time}:00Z"))),
            "{time} is offered: {before:?}"
        );
    }

    call_ok(
        &clinic.app,
        Method::POST,
        &format!("/api/v1/practitioners/{}/time-off", clinic.practitioner),
        &clinic.staff,
        Some(json!({"starts_at": format!("{day}T09:00:00Z"),
                    "ends_at": format!("{day}T11:00:00Z"), "reason": "Training"})),
    )
    .await;
    // A new patient's visit: 45 minutes and 15 of buffer, 14:00 to 15:00.
    let mut other = clinic.booking(&clinic.new_visit, &format!("{day}T14:00:00Z"));
    other["patient_id"] = json!(clinic.app.add_patient("other@example.org").await.1);
    other["override_reason"] = json!("phone booking");
    assert_eq!(
        clinic.book(&clinic.staff, "other", other).await.status(),
        201
    );

    let after = starts(
        &clinic
            .slots(&clinic.patient, &clinic.follow_up, day, day)
            .await,
    );
    let nine = instant(&format!("{day}T09:00:00Z"));
    let two = instant(&format!("{day}T14:00:00Z"));
    for start in &after {
        assert!(
            *start >= nine + Duration::hours(2),
            "inside the time off: {start}"
        );
        assert!(
            *start + Duration::minutes(30) <= two || *start >= two + Duration::hours(1),
            "overlaps the other booking: {start}"
        );
    }
    assert!(after.contains(&instant(&format!("{day}T11:00:00Z"))));
    assert!(after.contains(&instant(&format!("{day}T13:00:00Z"))));
    expect_problem(
        clinic
            .book(
                &clinic.patient,
                "in-time-off",
                clinic.booking(&clinic.new_visit, &format!("{day}T10:00:00Z")),
            )
            .await,
        409,
        "slot_not_offered",
    )
    .await;
}

/// Each named thing is looked up with the others in one query; each missing one is still
/// refused by name, and a patient cannot book for someone else's record.
#[tokio::test]
async fn a_booking_naming_what_does_not_exist_is_refused_field_by_field() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let nobody = uuid::Uuid::now_v7().to_string();
    let good = || {
        let mut body = clinic.booking(&clinic.new_visit, "2026-03-03T09:00:00Z");
        body["patient_id"] = json!(clinic.patient_id);
        body["override_reason"] = json!("phone booking");
        body
    };
    let cases = [
        ("patient_id", json!(nobody), "unknown"),
        ("patient_id", Value::Null, "required"),
        ("appointment_type_id", json!(nobody), "unknown"),
        ("practitioner_id", json!(nobody), "unknown"),
        ("location_id", json!(nobody), "unknown"),
    ];
    for (n, (field, value, code)) in cases.into_iter().enumerate() {
        let mut body = good();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        let problem = expect_problem(
            clinic.book(&clinic.staff, &format!("bad-{n}"), body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem.body["errors"][0]["field"], field);
        assert_eq!(problem.body["errors"][0]["code"], code);
    }
    // A practitioner who no longer works here is not bookable either (no endpoint retires one
    // yet: the row is changed directly).
    let retired = practitioner(
        &clinic.app,
        &clinic.staff,
        "retired@example.org",
        "chiropractic",
        &[clinic.location.as_str()],
    )
    .await;
    {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        entity::practitioner::ActiveModel {
            id: Set(retired.parse().unwrap()),
            active: Set(false),
            ..Default::default()
        }
        .update(&clinic.app.db)
        .await
        .unwrap();
    }
    let mut body = good();
    body["practitioner_id"] = json!(retired);
    let problem = expect_problem(
        clinic.book(&clinic.staff, "retired", body).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.body["errors"][0]["field"], "practitioner_id");

    // A patient naming another record gets a 404, as if it did not exist.
    let (_, other) = clinic.app.add_patient("other@example.org").await;
    let mut body = clinic.booking(&clinic.new_visit, "2026-03-03T09:00:00Z");
    body["patient_id"] = json!(other);
    expect_problem(
        clinic.book(&clinic.patient, "not-mine", body).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(clinic.appointment_count().await, 0);

    // The good request books.
    assert_eq!(
        clinic.book(&clinic.staff, "good", good()).await.status(),
        201
    );
}

/// A duplicate that arrives while the first request's write is held up: on PostgreSQL a 409
/// (`idempotency_key_in_flight`), on SQLite, where writers take turns, it waits and replays.
/// Either way one appointment, and a later retry replays it.
#[tokio::test]
async fn a_duplicate_while_the_first_is_being_written_is_in_flight_or_waits() {
    use lumbar::store::appointments::{NewAppointment, new_row};
    use sea_orm::{ActiveModelTrait, DatabaseBackend, IntoActiveModel};

    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let start = "2026-03-04T10:00:00Z";
    let body = clinic.booking(&clinic.new_visit, start);
    let backend = clinic.app.db.get_database_backend();

    // Someone else's booking of the same time, written but not committed: the first request's
    // write waits for it (Postgres: on the overlap constraint; SQLite: on the write lock).
    let (other_user, other) = clinic.app.add_patient("other@example.org").await;
    let blocker = lumbar::store::begin_write(&clinic.app.db).await.unwrap();
    let at = instant(start);
    new_row(
        clinic.app.clock.now(),
        NewAppointment {
            patient_id: other,
            practitioner_id: clinic.practitioner.parse().unwrap(),
            location_id: clinic.location.parse().unwrap(),
            appointment_type_id: clinic.new_visit.parse().unwrap(),
            starts_at: at,
            ends_at: at + Duration::minutes(45),
            blocked_until: at + Duration::minutes(60),
            override_reason: None,
            created_by: other_user,
        },
    )
    .into_active_model()
    .reset_all()
    .insert(&blocker)
    .await
    .unwrap();

    let first = clinic.book(&clinic.patient, "held-up", body.clone());
    let duplicate = async {
        if backend == DatabaseBackend::Postgres {
            wait_for_a_lock_wait(&clinic.app.db).await;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let duplicate = clinic.book(&clinic.patient, "held-up", body.clone());
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            blocker.rollback().await.unwrap();
        };
        tokio::join!(duplicate, release).0
    };
    let (first, duplicate) = tokio::join!(first, duplicate);

    assert_eq!(first.status(), 201);
    let first_replayed = header(&first, "idempotent-replayed");
    let first: Value = first.json().await.unwrap();
    if backend == DatabaseBackend::Postgres {
        assert_eq!(first_replayed, "");
        expect_problem(duplicate, 409, "idempotency_key_in_flight").await;
    } else {
        // Whichever got the write lock first booked; the other replays its answer.
        assert_eq!(duplicate.status(), 201);
        let replayed = [first_replayed, header(&duplicate, "idempotent-replayed")];
        assert!(
            replayed == ["", "true"] || replayed == ["true", ""],
            "{replayed:?}"
        );
        assert_eq!(duplicate.json::<Value>().await.unwrap(), first);
    }
    assert_eq!(clinic.appointment_count().await, 1);

    let retry = clinic.book(&clinic.patient, "held-up", body).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(header(&retry, "idempotent-replayed"), "true");
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
}

/// Until some backend of this database waits on a lock (a write held up by another's).
async fn wait_for_a_lock_wait(db: &sea_orm::DatabaseConnection) {
    for _ in 0..500 {
        let waiting = db
            .query_one_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT count(*) AS waiting FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "waiting")
            .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the first booking never waited on the held-up write");
}

#[tokio::test]
async fn fifty_concurrent_requests_for_one_slot_book_it_exactly_once() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let mut patients = Vec::new();
    for n in 0..50 {
        let record = lumbar::store::patients::create(
            &clinic.app.db,
            clinic.app.clock.now(),
            lumbar::store::patients::NewPatient {
                user_id: None,
                given_name: format!("Patient{n}"),
                family_name: "Racer".into(),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(1985, 1, 1).unwrap(),
                email: None,
                phone: None,
                created_by: None,
            },
        )
        .await
        .unwrap();
        patients.push(record.id);
    }
    let requests = patients.iter().enumerate().map(|(n, patient)| {
        let clinic = &clinic;
        let mut body = clinic.booking(&clinic.new_visit, "2026-03-04T14:00:00Z");
        body["patient_id"] = json!(patient);
        body["override_reason"] = json!("Booked by phone; intake to follow.");
        async move {
            clinic
                .book(&clinic.staff, &format!("race-{n}"), body)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let created = statuses.iter().filter(|status| **status == 201).count();
    let conflicts = statuses.iter().filter(|status| **status == 409).count();
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");
    assert_eq!(clinic.appointment_count().await, 1);
}

#[tokio::test]
async fn a_lost_slot_is_a_409_with_the_next_free_times() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let taken = clinic
        .book(
            &clinic.staff,
            "first",
            json!({"patient_id": clinic.app.add_patient("other@example.org").await.1,
                   "practitioner_id": clinic.practitioner, "location_id": clinic.location,
                   "appointment_type_id": clinic.new_visit, "start": "2026-03-03T09:00:00Z",
                   "override_reason": "phone booking"}),
        )
        .await;
    assert_eq!(taken.status(), 201);
    let problem = expect_problem(
        clinic
            .book(
                &clinic.patient,
                "second",
                clinic.booking(&clinic.new_visit, "2026-03-03T09:00:00Z"),
            )
            .await,
        409,
        "slot_not_offered",
    )
    .await;
    let next = problem.body["next_slots"].as_array().unwrap();
    assert_eq!(
        instant_of(&next[0]["start"]),
        instant("2026-03-03T10:00:00Z")
    );
    assert_eq!(next.len(), 5);
    // A time that is not on the grid or outside hours is not offered either.
    expect_problem(
        clinic
            .book(
                &clinic.patient,
                "third",
                clinic.booking(&clinic.new_visit, "2026-03-03T12:30:00Z"),
            )
            .await,
        409,
        "slot_not_offered",
    )
    .await;
}

#[tokio::test]
async fn the_intake_gate_refuses_kindly_and_the_front_desk_can_override_with_a_reason() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let today = clinic.app.clock.now().date_naive();
    let start = "2026-03-05T09:00:00Z";

    // No intake at all.
    clinic.app.add_patient("newcomer@example.org").await;
    let newcomer_token = clinic.app.login("newcomer@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_problem(
        clinic
            .book(
                &newcomer_token,
                "a",
                clinic.booking(&clinic.new_visit, start),
            )
            .await,
        403,
        "intake_required",
    )
    .await;

    // Urgent (cancer history) until a practitioner clears it.
    let urgent = submit_intake(
        &clinic.app,
        &newcomer_token,
        with(routine_answers(today), &[("cancer_history", json!(true))]),
    )
    .await;
    assert_eq!(urgent["outcome"]["disposition"], "urgent");
    let refused = expect_problem(
        clinic
            .book(
                &newcomer_token,
                "b",
                clinic.booking(&clinic.new_visit, start),
            )
            .await,
        403,
        "intake_urgent_not_cleared",
    )
    .await;
    assert!(!refused.detail().is_empty());
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    let intake_id = urgent["intake"]["id"].as_str().unwrap();
    call_ok(
        &clinic.app,
        Method::POST,
        &format!("/api/v1/intakes/{intake_id}/review"),
        &practitioner,
        Some(json!({"decision": "cleared_for_care", "note": "Discussed; fine for care."})),
    )
    .await;
    assert_eq!(
        clinic
            .book(
                &newcomer_token,
                "c",
                clinic.booking(&clinic.new_visit, start)
            )
            .await
            .status(),
        201
    );

    // Emergency: the patient is told to get help now, and no override passes it.
    submit_intake(
        &clinic.app,
        &clinic.patient,
        with(
            routine_answers(today),
            &[
                ("saddle_numbness", json!(true)),
                ("bladder_change", json!(true)),
            ],
        ),
    )
    .await;
    let refused = expect_problem(
        clinic
            .book(
                &clinic.patient,
                "d",
                clinic.booking(&clinic.new_visit, "2026-03-05T10:00:00Z"),
            )
            .await,
        403,
        "intake_emergency",
    )
    .await;
    assert!(
        refused.detail().to_lowercase().contains("emergency"),
        "{}",
        refused.detail()
    );
    // A patient cannot override.
    let mut body = clinic.booking(&clinic.new_visit, "2026-03-05T10:00:00Z");
    body["override_reason"] = json!("I feel fine");
    expect_problem(
        clinic.book(&clinic.patient, "e", body.clone()).await,
        422,
        "override_not_allowed",
    )
    .await;
    // Nor can the front desk, past an open flag.
    body["patient_id"] = json!(clinic.patient_id);
    body["override_reason"] = json!("Seen in A&E yesterday, discharged; GP letter on file.");
    expect_problem(
        clinic.book(&clinic.staff, "f", body).await,
        403,
        "intake_emergency",
    )
    .await;

    // A phone booking past a missing intake is the override's job, audited.
    let (_, caller_id) = clinic.app.add_patient("caller@example.org").await;
    let mut body = clinic.booking(&clinic.new_visit, "2026-03-05T10:00:00Z");
    body["patient_id"] = json!(caller_id);
    body["override_reason"] = json!("Booked by phone; intake to follow.");
    let booked = clinic.book(&clinic.staff, "g", body).await;
    assert_eq!(booked.status(), 201);
    let booked: Value = booked.json().await.unwrap();
    assert_eq!(booked["intake_check_overridden"], true);
    let admin = clinic.app.access_token(Role::Admin).await;
    let audit = call_ok(
        &clinic.app,
        Method::GET,
        &format!("/api/v1/admin/audit?patient_id={caller_id}"),
        &admin,
        None,
    )
    .await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|entry| entry["action"] == "intake_check.override"
                && entry["record_id"] == booked["id"]),
        "{entries:?}"
    );
}

#[tokio::test]
async fn new_patients_book_a_new_patient_type_with_a_practitioner_of_its_discipline() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let start = "2026-03-03T13:00:00Z";
    expect_problem(
        clinic
            .book(
                &clinic.patient,
                "a",
                clinic.booking(&clinic.follow_up, start),
            )
            .await,
        422,
        "new_patient_type_required",
    )
    .await;
    let physio = appointment_type(
        &clinic.app,
        &clinic.staff,
        "Physiotherapy initial assessment",
        "physiotherapy",
        60,
        0,
        true,
    )
    .await;
    expect_problem(
        clinic
            .book(&clinic.patient, "b", clinic.booking(&physio, start))
            .await,
        422,
        "discipline_mismatch",
    )
    .await;
    // After a first visit, a follow-up is fine.
    assert_eq!(
        clinic
            .book(
                &clinic.patient,
                "c",
                clinic.booking(&clinic.new_visit, start)
            )
            .await
            .status(),
        201
    );
    assert_eq!(
        clinic
            .book(
                &clinic.patient,
                "d",
                clinic.booking(&clinic.follow_up, "2026-03-10T13:00:00Z")
            )
            .await
            .status(),
        201
    );
    // Unknown ids are named.
    let problem = expect_problem(
        clinic
            .book(
                &clinic.patient,
                "e",
                clinic.booking(&uuid::Uuid::now_v7().to_string(), start),
            )
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.body["errors"][0]["field"], "appointment_type_id");
}

#[tokio::test]
async fn reschedule_cancel_and_the_emails_that_follow_the_appointment() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let booked: Value = clinic
        .book(
            &clinic.patient,
            "k1",
            clinic.booking(&clinic.new_visit, "2026-03-04T09:00:00Z"),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(clinic.mail(&sink).await.len(), 1, "the confirmation");

    // Moved by the patient, outside the 24-hour window.
    let moved = clinic
        .post(
            &clinic.patient,
            &format!("/api/v1/appointments/{id}/reschedule"),
            Some(json!({"start": "2026-03-04T10:00:00Z"})),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(instant_of(&moved["start"]), instant("2026-03-04T10:00:00Z"));
    assert_eq!(moved["sequence"], 1);
    // Moving to a time that is not offered is a 409.
    expect_problem(
        clinic
            .post(
                &clinic.patient,
                &format!("/api/v1/appointments/{id}/reschedule"),
                Some(json!({"start": "2026-03-04T12:00:00Z"})),
            )
            .await,
        409,
        "slot_not_offered",
    )
    .await;

    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), 2, "confirmation and the change");
    let (method, ics) = mail[1].invite().unwrap();
    assert_eq!(method, "REQUEST");
    let event = parsed_event(&ics);
    assert_eq!(
        event.get_uid(),
        Some(format!("appointment-{id}@lumbar").as_str())
    );
    assert_eq!(event.property_value("SEQUENCE"), Some("1"));
    assert!(mail[1].text().contains("Wed 4 Mar 2026 10:00 GMT"));

    // Inside the window the patient can no longer move it; the front desk can.
    clinic.app.clock.set(instant("2026-03-03T12:00:00Z"));
    let patient = clinic.app.login(PATIENT_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_problem(
        clinic
            .post(
                &patient,
                &format!("/api/v1/appointments/{id}/reschedule"),
                Some(json!({"start": "2026-03-04T11:00:00Z"})),
            )
            .await,
        409,
        "inside_cancellation_window",
    )
    .await;

    // Cancelled late by the patient: the invite is withdrawn and the reminder never goes.
    let cancelled = clinic
        .post(
            &patient,
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(json!({"reason": "Feeling better"})),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled_late"], true);
    assert_eq!(cancelled["sequence"], 2);
    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), 3);
    let (method, ics) = mail[2].invite().unwrap();
    assert_eq!(method, "CANCEL");
    let event = parsed_event(&ics);
    assert_eq!(event.property_value("SEQUENCE"), Some("2"));
    assert_eq!(event.property_value("STATUS"), Some("CANCELLED"));

    // Past the old reminder time and the start: nothing more arrives.
    clinic.app.clock.set(instant("2026-03-04T11:00:00Z"));
    assert_eq!(clinic.mail(&sink).await.len(), 3);
    let staff = clinic.app.access_token(Role::Staff).await;

    // A cancelled appointment cannot be checked in or cancelled again.
    expect_problem(
        clinic
            .post(&staff, &format!("/api/v1/appointments/{id}/check-in"), None)
            .await,
        409,
        "illegal_transition",
    )
    .await;
    expect_problem(
        clinic
            .post(
                &staff,
                &format!("/api/v1/appointments/{id}/cancel"),
                Some(json!({"reason": "again"})),
            )
            .await,
        409,
        "illegal_transition",
    )
    .await;
}

#[tokio::test]
async fn a_reminder_goes_before_online_changes_close_and_a_follow_up_link_after_the_visit() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let booked: Value = clinic
        .book(
            &clinic.patient,
            "k1",
            clinic.booking(&clinic.new_visit, "2026-03-05T09:00:00Z"),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(clinic.mail(&sink).await.len(), 1);

    // The 24-hour lead time is when online changes close (24-hour window): the reminder goes
    // a day before that. One minute before: not yet; at it: the reminder.
    clinic.app.clock.set(instant("2026-03-03T08:59:00Z"));
    assert_eq!(clinic.mail(&sink).await.len(), 1);
    clinic.app.clock.set(instant("2026-03-03T09:00:00Z"));
    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), 2);
    assert!(mail[1].text().contains("Thu 5 Mar 2026 09:00 GMT"));

    // The visit: checked in, completed; the follow-up link goes after the 14-day delay.
    clinic.app.clock.set(instant("2026-03-05T09:50:00Z"));
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    for (step, status) in [("check-in", "checked_in"), ("complete", "completed")] {
        let response = clinic
            .post(
                &practitioner,
                &format!("/api/v1/appointments/{id}/{step}"),
                None,
            )
            .await;
        assert_eq!(response.status(), 200, "{step}");
        let view: Value = response.json().await.unwrap();
        assert_eq!(view["status"], status);
    }
    expect_problem(
        clinic
            .post(
                &practitioner,
                &format!("/api/v1/appointments/{id}/no-show"),
                None,
            )
            .await,
        409,
        "illegal_transition",
    )
    .await;
    clinic
        .app
        .clock
        .set(instant("2026-03-05T09:50:00Z") + Duration::days(14) - Duration::minutes(1));
    assert_eq!(clinic.mail(&sink).await.len(), 2);
    clinic.app.clock.advance(Duration::minutes(1));
    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), 3);
    let token = mail[2].token_after("/follow-ups/");
    let form = clinic.app.get(&format!("/api/v1/follow-ups/{token}")).await;
    assert_eq!(form.status(), 200, "the emailed follow-up link works");
}

#[tokio::test]
async fn each_completed_visit_sends_its_own_follow_up_link_and_both_work() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let mut ids = Vec::new();
    for (key, kind, start) in [
        ("first", &clinic.new_visit, "2026-03-03T09:00:00Z"),
        ("second", &clinic.follow_up, "2026-03-05T09:00:00Z"),
    ] {
        let booked: Value = clinic
            .book(&clinic.patient, key, clinic.booking(kind, start))
            .await
            .json()
            .await
            .unwrap();
        ids.push(booked["id"].as_str().unwrap().to_owned());
    }
    for (id, done) in ids
        .iter()
        .zip(["2026-03-03T09:40:00Z", "2026-03-05T09:40:00Z"])
    {
        clinic.app.clock.set(instant(done));
        let staff = clinic.app.access_token(Role::Staff).await;
        for step in ["check-in", "complete"] {
            let response = clinic
                .post(&staff, &format!("/api/v1/appointments/{id}/{step}"), None)
                .await;
            assert_eq!(response.status(), 200, "{step}");
        }
    }
    // Both follow-ups are due 14 days after their visits; the second link did not void the first.
    clinic.app.clock.set(instant("2026-03-19T09:40:00Z"));
    let links: Vec<String> = clinic
        .mail(&sink)
        .await
        .iter()
        .filter(|mail| mail.text().contains("/follow-ups/"))
        .map(|mail| mail.token_after("/follow-ups/"))
        .collect();
    assert_eq!(links.len(), 2);
    for link in links {
        let form = clinic.app.get(&format!("/api/v1/follow-ups/{link}")).await;
        assert_eq!(form.status(), 200);
    }
}

#[tokio::test]
async fn lists_by_practitioner_location_and_patient_show_only_what_the_caller_may_see() {
    let clinic = clinic(TestApp::spawn().await, "America/New_York").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    // 09:00 EST is 14:00 UTC.
    let booked: Value = clinic
        .book(
            &clinic.patient,
            "k1",
            clinic.booking(&clinic.new_visit, "2026-03-03T14:00:00Z"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(booked["local_start"], "2026-03-03T09:00:00-05:00");
    assert_eq!(booked["abbreviation"], "EST");
    let id = booked["id"].as_str().unwrap();

    let day = call_ok(
        &clinic.app,
        Method::GET,
        &format!(
            "/api/v1/appointments?location_id={}&date=2026-03-03",
            clinic.location
        ),
        &clinic.staff,
        None,
    )
    .await;
    assert_eq!(day["appointments"][0]["id"], id);
    let other_day = call_ok(
        &clinic.app,
        Method::GET,
        &format!(
            "/api/v1/appointments?location_id={}&date=2026-03-04",
            clinic.location
        ),
        &clinic.staff,
        None,
    )
    .await;
    assert_eq!(other_day["appointments"].as_array().unwrap().len(), 0);
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    let by_practitioner = call_ok(
        &clinic.app,
        Method::GET,
        &format!(
            "/api/v1/appointments?practitioner_id={}&date=2026-03-03",
            clinic.practitioner
        ),
        &practitioner,
        None,
    )
    .await;
    assert_eq!(by_practitioner["appointments"][0]["id"], id);
    // With neither, the whole clinic's day (front_desk.rs tests it across locations).
    let whole_clinic = call_ok(
        &clinic.app,
        Method::GET,
        "/api/v1/appointments?date=2026-03-03",
        &clinic.staff,
        None,
    )
    .await;
    assert_eq!(whole_clinic["appointments"][0]["id"], id);
    expect_problem(
        clinic
            .app
            .send(
                Method::GET,
                &format!(
                    "/api/v1/appointments?date=2026-03-03&location_id={}&practitioner_id={}",
                    clinic.location, clinic.practitioner
                ),
                Some(&clinic.staff),
                None,
            )
            .await,
        422,
        "validation_failed",
    )
    .await;

    let own = call_ok(
        &clinic.app,
        Method::GET,
        &format!("/api/v1/patients/{}/appointments", clinic.patient_id),
        &clinic.patient,
        None,
    )
    .await;
    assert_eq!(own["appointments"][0]["id"], id);

    // Another patient sees neither the list nor the appointment.
    clinic.app.add_patient("stranger@example.org").await;
    let stranger = clinic.app.login("stranger@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/api/v1/patients/{}/appointments", clinic.patient_id),
        format!("/api/v1/appointments/{id}"),
    ] {
        expect_problem(
            clinic
                .app
                .send(Method::GET, &path, Some(&stranger), None)
                .await,
            404,
            "not_found",
        )
        .await;
    }
    expect_problem(
        clinic
            .post(
                &stranger,
                &format!("/api/v1/appointments/{id}/cancel"),
                Some(json!({"reason": "not mine"})),
            )
            .await,
        404,
        "not_found",
    )
    .await;
}

/// Hours around the small hours, every day, so the DST nights are inside working time.
async fn night_clinic(zone: &str, now: &str) -> Clinic {
    let clinic = clinic(TestApp::spawn().await, zone).await;
    clinic.app.clock.set(instant(now));
    set_hours(
        &clinic.app,
        &clinic.app.access_token(Role::Staff).await,
        &clinic.practitioner,
        &clinic.location,
        &[
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ],
        &[("00:00", "04:00")],
    )
    .await;
    clinic
}

fn local_starts(slots: &[Value], date: &str) -> Vec<String> {
    slots
        .iter()
        .map(|slot| slot["local_start"].as_str().unwrap().to_owned())
        .filter(|local| local.starts_with(date))
        .collect()
}

#[tokio::test]
async fn a_spring_forward_week_in_new_york_offers_no_time_that_does_not_exist() {
    let clinic = night_clinic("America/New_York", "2026-03-02T09:00:00Z").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let staff = clinic.app.access_token(Role::Staff).await;
    let hour = appointment_type(
        &clinic.app,
        &staff,
        "Chiropractic long visit",
        "chiropractic",
        60,
        0,
        true,
    )
    .await;
    let slots = clinic
        .slots(&staff, &hour, "2026-03-06", "2026-03-12")
        .await;
    // 8 March: 00:00–04:00 local is three real hours; 02:xx does not exist.
    let sunday = local_starts(&slots, "2026-03-08");
    assert!(
        sunday.iter().all(|local| !local.contains("T02:")),
        "{sunday:?}"
    );
    assert_eq!(sunday.first().unwrap(), "2026-03-08T00:00:00-05:00");
    assert_eq!(sunday.last().unwrap(), "2026-03-08T03:00:00-04:00");
    // A 60-minute visit from 01:00 EST ends at 03:00 EDT: one real hour later.
    let one_am = slots
        .iter()
        .find(|slot| slot["local_start"] == "2026-03-08T01:00:00-05:00")
        .unwrap();
    assert_eq!(instant_of(&one_am["end"]), instant("2026-03-08T07:00:00Z"));
    assert_eq!(one_am["abbreviation"], "EST");
    // Ordinary days before and after keep their wall-clock hours at different UTC offsets.
    assert!(local_starts(&slots, "2026-03-07").contains(&"2026-03-07T00:00:00-05:00".into()));
    assert!(local_starts(&slots, "2026-03-09").contains(&"2026-03-09T00:00:00-04:00".into()));
    // Every start is offered once.
    let mut starts: Vec<DateTime<Utc>> = slots.iter().map(start_of).collect();
    starts.dedup();
    assert_eq!(starts.len(), slots.len());

    let mut body = clinic.booking(&hour, "2026-03-08T06:00:00Z");
    body["patient_id"] = json!(clinic.patient_id);
    let booked = clinic.book(&staff, "dst", body).await;
    assert_eq!(booked.status(), 201);
    let booked: Value = booked.json().await.unwrap();
    assert_eq!(booked["local_start"], "2026-03-08T01:00:00-05:00");
}

#[tokio::test]
async fn a_fall_back_week_in_london_offers_both_one_oclocks_once_each() {
    let clinic = night_clinic("Europe/London", "2026-10-20T12:00:00Z").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let staff = clinic.app.access_token(Role::Staff).await;
    let half_hour = appointment_type(
        &clinic.app,
        &staff,
        "Chiropractic short visit",
        "chiropractic",
        30,
        0,
        true,
    )
    .await;
    let slots = clinic
        .slots(&staff, &half_hour, "2026-10-22", "2026-10-28")
        .await;
    let sunday = local_starts(&slots, "2026-10-25");
    // 00:00–04:00 local is five real hours: 01:00 … 01:45 happen twice.
    // On the 15-minute grid, 30-minute visits start 00:00 … 03:30: 19 starts in 5 hours.
    assert_eq!(sunday.len(), 19, "{sunday:?}");
    assert!(sunday.contains(&"2026-10-25T01:00:00+01:00".into()));
    assert!(sunday.contains(&"2026-10-25T01:00:00+00:00".into()));
    let abbreviations: Vec<&str> = slots
        .iter()
        .filter(|slot| {
            slot["local_start"]
                .as_str()
                .unwrap()
                .starts_with("2026-10-25T01:")
        })
        .map(|slot| slot["abbreviation"].as_str().unwrap())
        .collect();
    assert_eq!(
        abbreviations,
        ["BST", "BST", "BST", "BST", "GMT", "GMT", "GMT", "GMT"]
    );
    let saturday = local_starts(&slots, "2026-10-24");
    assert_eq!(saturday.len(), 15, "four ordinary hours");

    // Booking the second 01:00 (GMT) leaves the first (BST) free. (The intake of March has
    // expired by now, so the front desk books with a reason.)
    let mut body = clinic.booking(&half_hour, "2026-10-25T01:00:00Z");
    body["patient_id"] = json!(clinic.patient_id);
    body["override_reason"] = json!("Intake update booked for the visit itself.");
    assert_eq!(clinic.book(&staff, "gmt", body).await.status(), 201);
    let after = clinic
        .slots(&staff, &half_hour, "2026-10-25", "2026-10-25")
        .await;
    let starts: Vec<DateTime<Utc>> = after.iter().map(start_of).collect();
    assert!(
        starts.contains(&instant("2026-10-25T00:00:00Z")),
        "{starts:?}"
    );
    assert!(
        !starts.contains(&instant("2026-10-25T01:00:00Z")),
        "{starts:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// What a patient met (issue 15): the reminder's timing and words, a reschedule that moves
// nothing, a clash with their own visit, and where a cancellation sends them
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_reminder_comes_while_the_visit_can_still_be_moved_online_and_says_until_when() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &["--clinic-phone", "0117 496 0000"]).await;
    let clinic = clinic(app, "Europe/London").await;
    // Thursday 09:00; online changes close Wednesday 09:00 (24-hour window).
    let booked: Value = clinic
        .book(
            &clinic.patient,
            "k1",
            clinic.booking(&clinic.new_visit, "2026-03-05T09:00:00Z"),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(clinic.mail(&sink).await.len(), 1, "the confirmation");

    // A day before the window closes, not when it closes.
    clinic.app.clock.set(instant("2026-03-03T08:59:00Z"));
    assert_eq!(clinic.mail(&sink).await.len(), 1);
    clinic.app.clock.set(instant("2026-03-03T09:00:00Z"));
    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), 2, "the reminder");
    let text = mail[1].text();
    assert!(text.contains("Thu 5 Mar 2026 09:00 GMT"), "{text}");
    assert!(
        text.contains("move or cancel it online until Wed 4 Mar 2026 09:00 GMT"),
        "{text}"
    );
    assert!(text.contains(&format!("/appointments/{id}")), "{text}");
    assert!(text.contains("call the clinic on 0117 496 0000"), "{text}");
    // What it offers is true: the patient can still move it.
    clinic.app.clock.set(instant("2026-03-03T12:00:00Z"));
    let patient = clinic.app.login(PATIENT_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = clinic
        .post(
            &patient,
            &format!("/api/v1/appointments/{id}/reschedule"),
            Some(json!({"start": "2026-03-05T10:00:00Z"})),
        )
        .await;
    assert_eq!(moved.status(), 200);

    // Booked too late for that (28 hours ahead): at the lead time, inside the window, and it
    // says to call rather than offering a move that would be refused.
    let late: Value = clinic
        .book(
            &patient,
            "k2",
            clinic.booking(&clinic.follow_up, "2026-03-04T16:00:00Z"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(late["status"], "booked");
    let before = clinic.mail(&sink).await.len();
    clinic.app.clock.set(instant("2026-03-03T15:59:00Z"));
    assert_eq!(clinic.mail(&sink).await.len(), before);
    clinic.app.clock.set(instant("2026-03-03T16:00:00Z"));
    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), before + 1, "the late booking's reminder");
    let text = mail[before].text();
    assert!(text.contains("Wed 4 Mar 2026 16:00 GMT"), "{text}");
    assert!(!text.contains("move or cancel it online"), "{text}");
    assert!(
        text.contains("To change it, please call the clinic on 0117 496 0000."),
        "{text}"
    );
    assert!(text.contains("you can still cancel it here"), "{text}");
}

#[tokio::test]
async fn rescheduling_to_where_it_already_is_changes_nothing_and_sends_nothing() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let booked: Value = clinic
        .book(
            &clinic.patient,
            "k1",
            clinic.booking(&clinic.new_visit, "2026-03-05T09:00:00Z"),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(clinic.mail(&sink).await.len(), 1, "the confirmation");

    clinic.app.clock.advance(Duration::minutes(5));
    let path = format!("/api/v1/appointments/{id}/reschedule");
    for (token, body) in [
        (&clinic.patient, json!({"start": "2026-03-05T09:00:00Z"})),
        (
            &clinic.staff,
            json!({"start": "2026-03-05T09:00:00Z", "practitioner_id": clinic.practitioner,
                   "location_id": clinic.location}),
        ),
    ] {
        let same = clinic.post(token, &path, Some(body)).await;
        assert_eq!(same.status(), 200);
        let same: Value = same.json().await.unwrap();
        assert_eq!(same["sequence"], 0, "no new version");
        assert_eq!(same["updated_at"], booked["updated_at"]);
        assert_eq!(instant_of(&same["start"]), instant_of(&booked["start"]));
    }
    assert_eq!(clinic.mail(&sink).await.len(), 1, "no \"has moved\" email");

    // The reminder is still the first one, due once.
    clinic.app.clock.set(instant("2026-03-03T09:00:00Z"));
    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), 2);
    assert!(mail[1].text().contains("This is a reminder"));
    clinic.app.clock.set(instant("2026-03-04T12:00:00Z"));
    assert_eq!(clinic.mail(&sink).await.len(), 2);
}

#[tokio::test]
async fn booking_over_ones_own_visit_with_another_practitioner_says_so() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let other = practitioner(
        &clinic.app,
        &clinic.staff,
        "dr.kim@clinic.example",
        "chiropractic",
        &[&clinic.location],
    )
    .await;
    set_hours(
        &clinic.app,
        &clinic.staff,
        &other,
        &clinic.location,
        &WEEKDAYS,
        &[("09:00", "12:00"), ("13:00", "17:00")],
    )
    .await;
    // 09:00–09:45 with Dr Lee.
    let first = clinic
        .book(
            &clinic.patient,
            "a",
            clinic.booking(&clinic.new_visit, "2026-03-04T09:00:00Z"),
        )
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let with_other = |start: &str| {
        json!({"practitioner_id": other, "location_id": clinic.location,
               "appointment_type_id": clinic.follow_up, "start": start})
    };
    let before = clinic.appointment_count().await;
    let problem = expect_problem(
        clinic
            .book(&clinic.patient, "b", with_other("2026-03-04T09:15:00Z"))
            .await,
        409,
        "patient_busy",
    )
    .await;
    assert!(
        problem.body["detail"]
            .as_str()
            .unwrap()
            .contains("You already have an appointment at that time"),
        "{}",
        problem.body
    );
    assert_eq!(clinic.appointment_count().await, before);
    // The times it suggests are free for the patient too: none before their visit ends.
    let next = problem.body["next_slots"].as_array().unwrap();
    assert!(!next.is_empty());
    assert_eq!(
        instant_of(&next[0]["start"]),
        instant("2026-03-04T09:45:00Z")
    );
    for slot in next {
        assert_eq!(slot["practitioner_id"], other.as_str());
    }
    // The front desk is told it is the patient's own visit too.
    let problem = expect_problem(
        clinic
            .book(
                &clinic.staff,
                "c",
                json!({"patient_id": clinic.patient_id, "practitioner_id": other,
                       "location_id": clinic.location, "appointment_type_id": clinic.follow_up,
                       "start": "2026-03-04T09:30:00Z"}),
            )
            .await,
        409,
        "patient_busy",
    )
    .await;
    assert!(
        problem.body["detail"]
            .as_str()
            .unwrap()
            .contains("The patient already has an appointment at that time")
    );

    // 10:00–10:30 with Dr Kim; moving the 09:00 with Dr Lee onto it is refused the same way.
    let second = clinic
        .book(&clinic.patient, "d", with_other("2026-03-04T10:00:00Z"))
        .await;
    assert_eq!(second.status(), 201);
    let problem = expect_problem(
        clinic
            .post(
                &clinic.patient,
                &format!(
                    "/api/v1/appointments/{}/reschedule",
                    first["id"].as_str().unwrap()
                ),
                Some(json!({"start": "2026-03-04T10:15:00Z"})),
            )
            .await,
        409,
        "patient_busy",
    )
    .await;
    // Dr Lee's next times after 10:15 that leave the patient free: 10:30 onwards.
    let next = problem.body["next_slots"].as_array().unwrap();
    assert_eq!(
        instant_of(&next[0]["start"]),
        instant("2026-03-04T10:30:00Z")
    );

    // A time someone else took suggests only times the patient is free for as well.
    let taken = clinic
        .book(
            &clinic.staff,
            "e",
            json!({"patient_id": clinic.app.add_patient("other@example.org").await.1,
                   "practitioner_id": other, "location_id": clinic.location,
                   "appointment_type_id": clinic.new_visit, "start": "2026-03-04T13:00:00Z",
                   "override_reason": "phone booking"}),
        )
        .await;
    assert_eq!(taken.status(), 201);
    // The patient's own 14:00–14:30 with Dr Lee.
    assert_eq!(
        clinic
            .book(
                &clinic.patient,
                "f",
                clinic.booking(&clinic.follow_up, "2026-03-04T14:00:00Z"),
            )
            .await
            .status(),
        201
    );
    let problem = expect_problem(
        clinic
            .book(&clinic.patient, "g", with_other("2026-03-04T13:00:00Z"))
            .await,
        409,
        "slot_not_offered",
    )
    .await;
    let starts: Vec<DateTime<Utc>> = problem.body["next_slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| instant_of(&slot["start"]))
        .collect();
    // Dr Kim is free from 14:00 (13:00 + 45 + 15); the patient from 14:30.
    assert_eq!(starts[0], instant("2026-03-04T14:30:00Z"), "{starts:?}");
}

#[tokio::test]
async fn the_cancellation_email_leads_to_booking_another_time() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let booked: Value = clinic
        .book(
            &clinic.patient,
            "k1",
            clinic.booking(&clinic.new_visit, "2026-03-05T09:00:00Z"),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(clinic.mail(&sink).await.len(), 1, "the confirmation");
    let cancelled = clinic
        .post(
            &clinic.patient,
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(json!({"reason": "Feeling better"})),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let mail = clinic.mail(&sink).await;
    assert_eq!(mail.len(), 2);
    let text = mail[1].text();
    assert!(text.contains("To book another time"), "{text}");
    let link = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("http"))
        .expect("a link");
    assert!(link.ends_with("/book"), "{link}");
    assert!(!text.contains(&format!("/appointments/{id}")), "{text}");
}
