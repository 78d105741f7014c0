//! An appointment's life after booking: reading it, moving it, cancelling it, check-in,
//! completion and no-show, the day lists, and the emails each change sends (queued in the
//! change's transaction). The rules are the pure `scheduling` lifecycle's.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{account_token::Purpose, appointment};
use sea_orm::{ConnectionTrait, IntoActiveModel, Set};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Record, Subject},
    error::{ApiError, ApiResult},
    notify::{
        appointments::{AppointmentMail, AppointmentParts, MailLinks, reminder_key},
        calendar::CalendarMethod,
        content::{AppointmentDetails, EmailContent},
    },
    scheduling::{
        self, AvailabilityQuery, ClinicPolicies, LifecycleError, Placement, StatusChange, Zone,
    },
    service::{
        Caller, Work,
        access::{BOOKERS, CLINIC_TEAM, PATIENT_RECORD_READERS},
        availability::{self, ForPatient, zone_of, zones},
    },
    store::{
        self,
        account_tokens::{self, Subject as TokenSubject},
        appointments::{self, Scope, WriteError, lifecycle_status, stored_status},
        clinic, patients, scope,
    },
};

/// An appointment as its people see it, on its location's clock. Also what a booking's
/// `Idempotency-Key` stores to replay, so its serialised form is stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The start on the location's clock, with its UTC offset (RFC 3339).
    pub local_start: String,
    pub time_zone: String,
    pub abbreviation: String,
    pub status: scheduling::AppointmentStatus,
    pub sequence: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    pub cancelled_late: bool,
    pub intake_check_overridden: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Appointment {
    /// The stored row on its location's clock (UTC for a location that is gone).
    pub fn of(row: appointment::Model, zones: &[(Uuid, Zone)]) -> Self {
        let zone = zones
            .iter()
            .find(|(id, _)| *id == row.location_id)
            .map_or(Zone::from_tz(chrono_tz::UTC), |(_, zone)| *zone);
        let clock = zone.wall_clock(row.starts_at);
        Self {
            id: row.id,
            patient_id: row.patient_id,
            practitioner_id: row.practitioner_id,
            location_id: row.location_id,
            appointment_type_id: row.appointment_type_id,
            start: row.starts_at,
            end: row.ends_at,
            local_start: clock.local.to_rfc3339(),
            time_zone: zone.name().to_owned(),
            abbreviation: clock.abbreviation,
            status: lifecycle_status(row.status),
            sequence: row.sequence,
            cancel_reason: row.cancel_reason,
            cancelled_late: row.cancelled_late,
            intake_check_overridden: row.override_reason.is_some(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Shows rows read in this request on their locations' clocks.
async fn shown(state: &AppState, rows: Vec<appointment::Model>) -> ApiResult<Vec<Appointment>> {
    let zones = zones(&state.db).await?;
    Ok(rows
        .into_iter()
        .map(|row| Appointment::of(row, &zones))
        .collect())
}

async fn shown_one(state: &AppState, row: appointment::Model) -> ApiResult<Appointment> {
    let mut shown = shown(state, vec![row]).await?;
    shown
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("an appointment went missing")))
}

/// Loads an appointment `caller` may act on as `action`: one of `allowed` roles, and for a
/// patient only their own (anything else is a 404, audited as denied).
async fn visible(
    state: &AppState,
    caller: &Caller,
    allowed: &[entity::user::Role],
    id: Uuid,
    action: Action,
) -> ApiResult<appointment::Model> {
    caller
        .require_visible(
            state,
            allowed,
            action,
            Record::Appointment(id),
            async |scope| scope::appointment(&state.db, scope, id).await,
        )
        .await
}

/// One appointment. Patients see only their own.
#[tracing::instrument(name = "service.appointments.get", skip_all)]
pub async fn get(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Appointment> {
    let row = visible(
        state,
        caller,
        PATIENT_RECORD_READERS,
        id,
        Action::AppointmentRead,
    )
    .await?;
    caller
        .audit(state)
        .allowed(&state.db, Action::AppointmentRead, &row)
        .await?;
    shown_one(state, row).await
}

/// Moves a booked appointment to another offered time (and practitioner or location).
#[derive(Debug, Clone)]
pub struct Reschedule {
    pub id: Uuid,
    pub start: DateTime<Utc>,
    pub practitioner_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
}

/// Patients may move their own until the cancellation window; the front desk always. A new
/// invite replaces the old one and the reminder moves with it.
#[tracing::instrument(name = "service.appointments.reschedule", skip_all)]
pub async fn reschedule(
    state: &AppState,
    caller: &Caller,
    command: Reschedule,
) -> ApiResult<Appointment> {
    let row = visible(
        state,
        caller,
        BOOKERS,
        command.id,
        Action::AppointmentReschedule,
    )
    .await?;
    let actor = caller.actor();
    let now = state.clock.now();
    let policies = availability::policies(&state.db).await?;
    check_reschedule(caller, &row, now, &policies)?;
    let kind = appointments::find_type(&state.db, row.appointment_type_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("appointment type missing")))?;
    let practitioner_id = command.practitioner_id.unwrap_or(row.practitioner_id);
    let location_id = command.location_id.unwrap_or(row.location_id);
    let location = clinic::locations(&state.db)
        .await?
        .into_iter()
        .find(|location| location.id == location_id)
        .ok_or_else(|| ApiError::unknown_field("location_id", "There is no such location."))?;
    let date = zone_of(&location)?.local_date(command.start);

    let work = Work::begin(state, caller).await?;
    // Re-read in the transaction: another request may have moved or cancelled it.
    let row = appointments::find_for_update(work.db(), row.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    check_reschedule(caller, &row, now, &policies)?;
    let requested = Placement {
        start: command.start,
        practitioner_id: practitioner_id.into(),
        location_id: location_id.into(),
    };
    if !scheduling::reschedule_moves(placement_of(&row), requested) {
        // Asking for where it already is (a resubmitted form, a double click): nothing to
        // change, announce or audit.
        work.rollback().await?;
        return shown_one(state, row).await;
    }
    let offered = availability::offered(
        state,
        work.db(),
        &policies,
        &kind,
        (date, date),
        actor,
        Some(practitioner_id),
        Some(location_id),
        Some(row.id),
    )
    .await?;
    let own_visits = ForPatient {
        patient_id: row.patient_id,
        moving: Some(row.id),
    };
    let checked = match scheduling::check_slot(
        &offered,
        practitioner_id.into(),
        location_id.into(),
        command.start,
    ) {
        Ok(slot) => {
            // The patient's other visits, with anyone: they cannot be in two at once.
            let window = AvailabilityQuery::load_window_around(slot.start);
            let busy = availability::patient_busy(work.db(), own_visits, window).await?;
            scheduling::check_patient_free(actor, &busy, slot.start, slot.end)
                .map(|()| slot.clone())
        }
        Err(refusal) => Err(refusal),
    };
    let slot = match checked {
        Ok(slot) => slot,
        Err(refusal) => {
            work.rollback().await?;
            let suggestions = availability::suggestions(
                state,
                &policies,
                &kind,
                actor,
                practitioner_id,
                command.start,
                Some(own_visits),
            )
            .await?;
            return Err(availability::refused(refusal, suggestions));
        }
    };
    let old_sequence = row.sequence;
    let mut changed = row.into_active_model();
    changed.practitioner_id = Set(slot.practitioner_id.uuid());
    changed.location_id = Set(slot.location_id.uuid());
    changed.starts_at = Set(slot.start);
    changed.ends_at = Set(slot.end);
    changed.blocked_until = Set(slot.blocked_until);
    changed.sequence = Set(old_sequence + 1);
    changed.updated_at = Set(now);
    let saved = match appointments::save(work.db(), changed).await {
        Ok(saved) => saved,
        Err(WriteError::Overlap | WriteError::Contended) => {
            work.rollback().await?;
            return Err(availability::slot_taken(
                state, &policies, &kind, actor, &slot, own_visits,
            )
            .await);
        }
        Err(WriteError::Database(err)) => return Err(err.into()),
    };
    let mail = mail(state, work.db(), &saved).await?;
    cancel_reminder(&work, saved.id, old_sequence).await?;
    send(
        state,
        &work,
        &mail,
        &saved,
        EmailContent::AppointmentRescheduled,
        Some(CalendarMethod::Request),
    )
    .await?;
    if let Some(reminder) = mail.reminder(now, &saved, &policies) {
        state.outbox.enqueue(work.db(), now, reminder).await?;
    }
    work.allowed(Action::AppointmentReschedule, &saved).await?;
    work.commit().await?;
    shown_one(state, saved).await
}

fn placement_of(row: &appointment::Model) -> Placement {
    Placement {
        start: row.starts_at,
        practitioner_id: row.practitioner_id.into(),
        location_id: row.location_id.into(),
    }
}

fn check_reschedule(
    caller: &Caller,
    row: &appointment::Model,
    now: DateTime<Utc>,
    policies: &ClinicPolicies,
) -> ApiResult<()> {
    scheduling::check_reschedule(
        caller.actor(),
        lifecycle_status(row.status),
        row.starts_at,
        now,
        policies,
    )
    .map_err(lifecycle_error)
}

/// Cancels a booked appointment with a reason; inside the cancellation window it is marked
/// late. The patient receives a cancellation that removes it from their calendar.
#[tracing::instrument(name = "service.appointments.cancel", skip_all)]
pub async fn cancel(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    reason: &str,
) -> ApiResult<Appointment> {
    let row = visible(state, caller, BOOKERS, id, Action::AppointmentCancel).await?;
    let policies = availability::policies(&state.db).await?;
    let work = Work::begin(state, caller).await?;
    let now = work.now();
    let row = appointments::find_for_update(work.db(), row.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let decided = scheduling::cancel(
        caller.actor(),
        lifecycle_status(row.status),
        row.starts_at,
        now,
        &policies,
        reason,
    )
    .map_err(lifecycle_error)?;
    let old_sequence = row.sequence;
    let mut changed = row.into_active_model();
    changed.status = Set(stored_status(decided.status));
    changed.cancel_reason = Set(Some(decided.reason));
    changed.cancelled_late = Set(decided.late);
    changed.sequence = Set(old_sequence + 1);
    changed.updated_at = Set(now);
    let saved = appointments::save(work.db(), changed)
        .await
        .map_err(write_error)?;
    cancel_reminder(&work, saved.id, old_sequence).await?;
    let mail = mail(state, work.db(), &saved).await?;
    send(
        state,
        &work,
        &mail,
        &saved,
        EmailContent::AppointmentCancelled,
        Some(CalendarMethod::Cancel),
    )
    .await?;
    work.allowed(Action::AppointmentCancel, &saved).await?;
    work.commit().await?;
    shown_one(state, saved).await
}

/// Check-in, completion, no-show or undoing a no-show, by the clinic team, around the visit's
/// time on its location's clock (`scheduling::desk_change`: `too_early` / `too_late`). A
/// completed visit queues the follow-up questionnaire; a no-show drops the pending reminder.
/// An undone no-show holds its time again, so a visit booked into that time meanwhile makes
/// it a 409 `slot_taken`.
#[tracing::instrument(name = "service.appointments.change_status", skip_all)]
pub async fn change_status(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    change: StatusChange,
) -> ApiResult<Appointment> {
    let action = match change {
        StatusChange::CheckIn => Action::AppointmentCheckIn,
        StatusChange::Complete => Action::AppointmentComplete,
        StatusChange::NoShow => Action::AppointmentNoShow,
        StatusChange::UndoNoShow => Action::AppointmentNoShowUndo,
        StatusChange::Cancel | StatusChange::Reschedule => {
            return Err(ApiError::internal(anyhow::anyhow!(
                "{change} is not a status change of the desk"
            )));
        }
    };
    let row = visible(state, caller, CLINIC_TEAM, id, action).await?;
    let zones = zones(&state.db).await?;
    let work = Work::begin(state, caller).await?;
    let now = work.now();
    let row = appointments::find_for_update(work.db(), row.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let zone = zone_at(state, &zones, row.location_id);
    let next = scheduling::desk_change(
        lifecycle_status(row.status),
        change,
        row.starts_at,
        row.ends_at,
        zone,
        now,
    )
    .map_err(lifecycle_error)?;
    let mut changed = row.into_active_model();
    changed.status = Set(stored_status(next));
    changed.updated_at = Set(now);
    let saved = appointments::save(work.db(), changed)
        .await
        .map_err(write_error)?;
    if change == StatusChange::NoShow {
        // The reminder may still be pending for an appointment marked before its start.
        cancel_reminder(&work, saved.id, saved.sequence).await?;
    }
    if change == StatusChange::Complete {
        let policies = availability::policies(&state.db).await?;
        schedule_follow_up(state, &work, &saved, &policies).await?;
    }
    work.allowed(action, &saved).await?;
    work.commit().await?;
    Ok(Appointment::of(saved, &zones))
}

/// The zone of a location, or the clinic's for one that is gone: the day an appointment
/// belongs to is read on its location's clock.
fn zone_at(state: &AppState, zones: &[(Uuid, Zone)], location_id: Uuid) -> Zone {
    zones
        .iter()
        .find(|(id, _)| *id == location_id)
        .map_or(Zone::from_tz(state.config.time_zone), |(_, zone)| *zone)
}

/// Whose day a list shows.
#[derive(Debug, Clone, Copy)]
pub enum DayOf {
    Practitioner(Uuid),
    Location(Uuid),
    /// Every practitioner at every location: the front desk's day.
    Clinic,
}

/// A day's appointments of one practitioner, at one location, or in the whole clinic (at
/// most 500, by start). The day is the location's local date (for the whole clinic, each
/// appointment's location's, so every location's list is part of it), or for a practitioner
/// the clinic's.
#[tracing::instrument(name = "service.appointments.day", skip_all)]
pub async fn day(
    state: &AppState,
    caller: &Caller,
    date: NaiveDate,
    of: DayOf,
) -> ApiResult<Vec<Appointment>> {
    caller.require(state, CLINIC_TEAM).await?;
    let zones = zones(&state.db).await?;
    let rows = match of {
        DayOf::Practitioner(id) => {
            let (from, to) = Zone::from_tz(state.config.time_zone).day_bounds(date);
            appointments::list(&state.db, Scope::Practitioner(id), Some(from), Some(to)).await?
        }
        DayOf::Location(id) => {
            let zone = zones
                .iter()
                .find(|(location, _)| *location == id)
                .map(|(_, zone)| *zone)
                .ok_or_else(|| {
                    ApiError::unknown_field("location_id", "There is no such location.")
                })?;
            let (from, to) = zone.day_bounds(date);
            appointments::list(&state.db, Scope::Location(id), Some(from), Some(to)).await?
        }
        DayOf::Clinic => {
            let days: Vec<_> = zones
                .iter()
                .map(|(location, zone)| {
                    let (from, to) = zone.day_bounds(date);
                    (*location, from, to)
                })
                .collect();
            appointments::list_clinic_day(&state.db, &days).await?
        }
    };
    caller
        .audit(state)
        .allowed(&state.db, Action::AppointmentList, Subject::NONE)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Appointment::of(row, &zones))
        .collect())
}

/// A patient's appointments, past and future (at most 500, by start). Patients see only
/// their own.
#[tracing::instrument(name = "service.appointments.of_patient", skip_all)]
pub async fn of_patient(
    state: &AppState,
    caller: &Caller,
    patient_id: Uuid,
) -> ApiResult<Vec<Appointment>> {
    let record = caller
        .require_visible(
            state,
            PATIENT_RECORD_READERS,
            Action::AppointmentList,
            Record::Patient(patient_id),
            async |scope| scope::patient(&state.db, scope, patient_id).await,
        )
        .await?;
    let rows = appointments::list(&state.db, Scope::Patient(record.id), None, None).await?;
    caller
        .audit(state)
        .allowed(&state.db, Action::AppointmentList, &record)
        .await?;
    shown(state, rows).await
}

pub(crate) fn lifecycle_error(error: LifecycleError) -> ApiError {
    match error {
        LifecycleError::Invalid(invalid) => {
            ApiError::from(crate::scheduling::ValidationErrors::from(invalid))
        }
        other => ApiError::Conflict {
            code: other.code(),
            detail: other.to_string(),
        },
    }
}

fn write_error(error: WriteError) -> ApiError {
    match error {
        WriteError::Overlap | WriteError::Contended => ApiError::Conflict {
            code: "slot_taken",
            detail: "That time overlaps another appointment.".into(),
        },
        WriteError::Database(err) => err.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Emails: composed by `notify::appointments`, queued in the transaction of the change
// ---------------------------------------------------------------------------------------------

/// The emails about `row`, from its rows as `db` holds them.
async fn mail<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    row: &appointment::Model,
) -> ApiResult<AppointmentMail> {
    let missing = |what: &str| ApiError::internal(anyhow::anyhow!("appointment's {what} missing"));
    let patient = patients::find(db, row.patient_id)
        .await?
        .ok_or_else(|| missing("patient"))?;
    let kind = appointments::find_type(db, row.appointment_type_id)
        .await?
        .ok_or_else(|| missing("type"))?;
    let practitioner = store::practitioners::find(db, row.practitioner_id)
        .await?
        .ok_or_else(|| missing("practitioner"))?;
    let location = clinic::locations(db)
        .await?
        .into_iter()
        .find(|location| location.id == row.location_id)
        .ok_or_else(|| missing("location"))?;
    let parts = AppointmentParts {
        patient: &patient,
        appointment_type: &kind,
        practitioner: &practitioner,
        location: &location,
        zone: zone_of(&location)?,
    };
    Ok(AppointmentMail::compose(
        row,
        parts,
        mail_links(state, row.id),
    ))
}

/// The page where the patient manages an appointment.
pub(crate) fn manage_url(state: &AppState, appointment_id: Uuid) -> String {
    state.page_url(&format!("appointments/{appointment_id}"))
}

/// Where an appointment's emails lead: its page, the booking page (a cancelled visit is
/// rebooked there, not on the page of the one that is gone), and the clinic's phone.
pub(crate) fn mail_links(state: &AppState, appointment_id: Uuid) -> MailLinks {
    MailLinks {
        manage_url: manage_url(state, appointment_id),
        book_url: state.page_url("book"),
        clinic_phone: state.config.clinic_phone.clone(),
    }
}

/// Queues an email about `row` to go now.
async fn send(
    state: &AppState,
    work: &Work,
    mail: &AppointmentMail,
    row: &appointment::Model,
    content: fn(AppointmentDetails) -> EmailContent,
    method: Option<CalendarMethod>,
) -> ApiResult<()> {
    if let Some(message) = mail.message(&state.config.mail_from, work.now(), row, content, method) {
        state.outbox.enqueue(work.db(), work.now(), message).await?;
    }
    Ok(())
}

async fn cancel_reminder(work: &Work, appointment_id: Uuid, sequence: i32) -> ApiResult<()> {
    store::outbox::cancel_by_dedupe_key(
        work.db(),
        work.now(),
        &reminder_key(appointment_id, sequence),
    )
    .await?;
    Ok(())
}

/// After a completed visit: the follow-up questionnaire link, sent at the clinic's follow-up
/// delay, valid for two weeks from then.
async fn schedule_follow_up(
    state: &AppState,
    work: &Work,
    row: &appointment::Model,
    policies: &ClinicPolicies,
) -> ApiResult<()> {
    let mail = mail(state, work.db(), row).await?;
    if !mail.has_recipient() {
        return Ok(());
    }
    let now = work.now();
    let send_at = scheduling::follow_up_at(now, policies);
    // Alongside: an earlier visit's link, maybe not even sent yet, must keep working.
    let secret = account_tokens::issue_alongside(
        work.db(),
        now,
        Purpose::FollowUp,
        TokenSubject::Patient(row.patient_id),
        (send_at - now) + crate::service::follow_ups::FOLLOW_UP_TTL,
    )
    .await?;
    let url = state.page_url(&format!("follow-ups/{secret}"));
    if let Some(message) = mail.follow_up(row, send_at, url) {
        state.outbox.enqueue(work.db(), now, message).await?;
    }
    Ok(())
}
