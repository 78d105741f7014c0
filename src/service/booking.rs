//! Booking an appointment: idempotent, decided by the pure `scheduling` module from facts
//! read in one statement, written all or nothing with its emails, audit entries and stored
//! response, and with the database's overlap constraint as the last word on races.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Record, Subject},
    error::{ApiError, ApiResult},
    ids::{AppointmentTypeId, LocationId, PatientId, PractitionerId},
    notify::{
        appointments::{AppointmentMail, AppointmentParts},
        calendar::CalendarMethod,
        content::EmailContent,
    },
    scheduling::{self, AvailabilityQuery, BookingRequest, IntakeGate, RefusalKind},
    service::{
        Caller,
        access::BOOKERS,
        appointments::{Appointment, mail_links},
        availability::{self, ForPatient, Setup, discipline_of, zone_of},
        idempotency::{Idempotent, KeyState, key_in_flight, key_reused},
        review::gate_facts,
    },
    store::{
        appointments::{self as stored_appointments, NewAppointment, WriteError},
        booking::{self, BookingFacts, FactsQuery, NewBooking, PatientKey, Written},
        intakes, patients,
    },
};

/// A booking request. A patient books for themselves (no `patient_id`, or their own); the
/// front desk names the patient.
#[derive(Debug, Clone)]
pub struct BookAppointment {
    pub patient_id: Option<PatientId>,
    pub practitioner_id: PractitionerId,
    pub location_id: LocationId,
    pub appointment_type_id: AppointmentTypeId,
    pub start: DateTime<Utc>,
    /// Front desk only: book although the intake check refuses, for this reason (audited).
    pub override_reason: Option<String>,
    pub idempotency_key: String,
}

/// A booking that went through.
#[derive(Debug)]
pub struct Booked {
    pub appointment: Appointment,
    /// This answers a retry of a request that had booked already.
    pub replayed: bool,
}

/// Books the appointment, or refuses it with the rule that refused (a taken time with the
/// next free ones). A retry with the same key answers the first booking again.
#[tracing::instrument(name = "service.booking.book", skip_all)]
pub async fn book(
    state: &AppState,
    caller: &Caller,
    command: BookAppointment,
) -> ApiResult<Booked> {
    caller.require(state, BOOKERS).await?;
    let actor = caller.actor();
    // The database keeps microseconds: the response shows what a later read will.
    let now = state.clock.now().trunc_subsecs(6);
    let patient = patient_key(caller, command.patient_id)?;
    // One statement reads everything the decision needs, on the pool and outside a
    // transaction: what decides a race is the write, where the database's overlap constraint
    // has the last word. The calendar is read before the location's zone is known.
    let facts = booking::facts(
        &state.db,
        FactsQuery {
            patient,
            appointment_type_id: command.appointment_type_id,
            practitioner_id: command.practitioner_id,
            location_id: command.location_id,
            calendar_window: AvailabilityQuery::load_window_around(command.start),
        },
    )
    .await?;
    let BookingFacts {
        patient,
        appointment_type,
        practitioner,
        location,
        policies,
        cases,
        held_by_discipline,
        calendar,
        patient_time,
    } = facts;
    let record = booking_patient(state, caller, command.patient_id, patient).await?;
    let key = Idempotent::new(
        format!("appointments:{}", caller.user_id()),
        command.idempotency_key.clone(),
        &fingerprint(&command, record.id),
    );
    let kind = appointment_type.ok_or_else(|| {
        ApiError::unknown_field("appointment_type_id", "There is no such appointment type.")
    })?;
    let practitioner = practitioner.ok_or_else(|| {
        ApiError::unknown_field("practitioner_id", "There is no such practitioner.")
    })?;
    let location = location
        .ok_or_else(|| ApiError::unknown_field("location_id", "There is no such location."))?;
    let zone = zone_of(&location)?;
    let date = zone.local_date(command.start);
    let policies = availability::policies_of(policies)?;
    let override_reason = command
        .override_reason
        .as_deref()
        .map(|reason| reason.trim().to_owned());
    let offered = availability::offered_from(
        state,
        &policies,
        &kind,
        (date, date),
        actor,
        Setup {
            practitioners: std::slice::from_ref(&practitioner),
            locations: std::slice::from_ref(&location),
        },
        Some(location.id),
        calendar,
    )?;
    let held: Vec<_> = held_by_discipline
        .into_iter()
        .map(|(discipline, held)| (discipline_of(discipline), held))
        .collect();
    let scheduling_type = availability::scheduling_type(&kind, &policies)?;
    let patient_busy = availability::busy_intervals(&patient_time, None);
    let own_visits = ForPatient {
        patient_id: record.id,
        moving: None,
    };
    let decision = scheduling::check_booking(
        &BookingRequest {
            actor,
            appointment_type: &scheduling_type,
            practitioner_id: practitioner.id.into(),
            practitioner_active: practitioner.active,
            location_active: location.active,
            practitioner_discipline: discipline_of(practitioner.discipline),
            location_id: location.id.into(),
            start: command.start,
            held_by_discipline: &held,
            patient_busy: &patient_busy,
            intake: gate_facts(&cases, now),
            intake_override: override_reason.as_deref(),
            now,
        },
        &offered,
    );
    let approval = match decision {
        Ok(approval) => approval,
        Err(refusal) => {
            // A retry of a booking that went through finds its own appointment in the way:
            // the stored response answers it.
            match key.begin(&state.db, now).await? {
                KeyState::Replay { body, .. } => return replay(&body),
                KeyState::Mismatch => return Err(key_reused("booking")),
                KeyState::Proceed | KeyState::InFlight => {}
            }
            let suggestions = if refusal.kind == RefusalKind::SlotUnavailable {
                availability::suggestions(
                    state,
                    &policies,
                    &kind,
                    actor,
                    practitioner.id,
                    command.start,
                    Some(own_visits),
                )
                .await?
            } else {
                Vec::new()
            };
            if refusal.kind == RefusalKind::IntakeGate {
                caller
                    .audit(state)
                    .denied(&state.db, Action::AppointmentBook, &record)
                    .await?;
            }
            return Err(availability::refused(refusal, suggestions));
        }
    };
    let slot = approval.slot;
    let overridden = match &approval.intake {
        IntakeGate::Passed => None,
        IntakeGate::Overridden { reason, .. } => Some(reason.clone()),
    };
    let appointment = stored_appointments::new_row(
        now,
        NewAppointment {
            patient_id: record.id,
            practitioner_id: slot.practitioner_id.uuid(),
            location_id: slot.location_id.uuid(),
            appointment_type_id: kind.id,
            starts_at: slot.start,
            ends_at: slot.end,
            blocked_until: slot.blocked_until,
            override_reason: overridden.clone(),
            created_by: caller.user_id(),
        },
    );
    let mail = AppointmentMail::compose(
        &appointment,
        AppointmentParts {
            patient: &record,
            appointment_type: &kind,
            practitioner: &practitioner,
            location: &location,
            zone,
        },
        mail_links(state, appointment.id),
    );
    let emails = [
        mail.message(
            &state.config.mail_from,
            now,
            &appointment,
            EmailContent::AppointmentConfirmed,
            Some(CalendarMethod::Request),
        ),
        mail.reminder(now, &appointment, &policies),
    ]
    .into_iter()
    .flatten()
    .map(|message| state.outbox.prepare(now, message))
    .collect::<Result<Vec<_>, _>>()?;
    let mut audit = caller.audit(state);
    audit.now = now;
    let mut audit_rows = vec![audit.allowed_row(Action::AppointmentBook, &appointment)];
    if overridden.is_some() {
        audit_rows.push(audit.allowed_row(Action::IntakeCheckOverride, &appointment));
    }
    let shown = Appointment::of(appointment.clone(), &[(location.id, zone)]);
    let stored = serde_json::to_string(&shown).map_err(ApiError::internal)?;
    let new_booking = NewBooking {
        key: key.finish(now, 201, stored),
        appointment: appointment.into_active_model().reset_all(),
        emails,
        audit: audit_rows,
    };
    let mut written = booking::write(&state.db, &new_booking).await;
    if written.as_ref().is_ok_and(|w| *w == Written::KeyTaken)
        && key.settle(&state.db, now).await? == KeyState::Proceed
    {
        // The key named a booking more than a day ago; its entry is gone now.
        written = booking::write(&state.db, &new_booking).await;
    }
    match written {
        Ok(Written::Booked) => Ok(Booked {
            appointment: shown,
            replayed: false,
        }),
        Ok(Written::KeyTaken) => match key.settle(&state.db, now).await? {
            KeyState::Replay { body, .. } => replay(&body),
            KeyState::Mismatch => Err(key_reused("booking")),
            KeyState::Proceed | KeyState::InFlight => Err(key_in_flight()),
        },
        // Lost a race the database settled: someone booked this time a moment ago.
        // A collision that outlasted its retries is another booking of the same time winning.
        Err(WriteError::Overlap | WriteError::Contended) => {
            Err(availability::slot_taken(state, &policies, &kind, actor, &slot, own_visits).await)
        }
        Err(WriteError::Database(err)) => Err(err.into()),
    }
}

/// The request's identity for its `Idempotency-Key`: the same key must come with the same
/// booking. (The shape is the one stored keys were made with; keep it.)
fn fingerprint(command: &BookAppointment, patient_id: Uuid) -> serde_json::Value {
    serde_json::json!({
        "patient_id": patient_id,
        "practitioner_id": command.practitioner_id,
        "location_id": command.location_id,
        "appointment_type_id": command.appointment_type_id,
        "start": command.start,
        "override_reason": command.override_reason,
    })
}

/// Whose appointment this is: a patient's own record, or the one the front desk names.
/// The intake gate as it stands now for the calling patient: `Err` with the refusal booking
/// would give (an open flag, no intake or an old one), so the booking pages can say so before
/// the patient picks a time. Only advice: [`book`] decides again when they book. Staff, and a
/// patient without a record (which [`book`] refuses in its own words), pass.
#[tracing::instrument(name = "service.booking.patient_gate", skip_all)]
pub async fn patient_gate(state: &AppState, caller: &Caller) -> ApiResult<()> {
    caller.require(state, BOOKERS).await?;
    if !caller.is_patient() {
        return Ok(());
    }
    let Some(record) = patients::find_by_user(&state.db, caller.user_id()).await? else {
        return Ok(());
    };
    let now = state.clock.now();
    let cases = intakes::cases(&state.db, &[record.id]).await?;
    scheduling::check_intake(caller.actor(), &gate_facts(&cases, now), None, now)
        .map(drop)
        .map_err(|refusal| availability::refused(refusal, Vec::new()))
}

fn patient_key(caller: &Caller, requested: Option<PatientId>) -> ApiResult<PatientKey> {
    if caller.is_patient() {
        return Ok(PatientKey::Account(caller.user_id()));
    }
    requested.map(PatientKey::Record).ok_or_else(|| {
        ApiError::required_field(
            "patient_id",
            "Say whom the appointment is for.",
            "The front desk books for a patient: give patient_id.",
        )
    })
}

/// The record [`patient_key`] found, if the caller may book for it: a patient only for their
/// own (anything else is a 404, audited as denied, as the scoped finders do).
async fn booking_patient(
    state: &AppState,
    caller: &Caller,
    requested: Option<PatientId>,
    found: Option<entity::patient::Model>,
) -> ApiResult<entity::patient::Model> {
    if !caller.is_patient() {
        return found
            .ok_or_else(|| ApiError::unknown_field("patient_id", "There is no such patient."));
    }
    match found {
        Some(own) if requested.is_none_or(|id| id.uuid() == own.id) => Ok(own),
        _ => {
            let subject = requested.map_or(Subject::NONE, |id| {
                Subject::record(Record::Patient(id.uuid()))
            });
            caller
                .audit(state)
                .denied(&state.db, Action::AppointmentBook, subject)
                .await?;
            Err(ApiError::NotFound)
        }
    }
}

/// The stored response of an earlier request with the same key and body.
fn replay(body: &str) -> ApiResult<Booked> {
    let appointment: Appointment = serde_json::from_str(body).map_err(ApiError::internal)?;
    Ok(Booked {
        appointment,
        replayed: true,
    })
}
