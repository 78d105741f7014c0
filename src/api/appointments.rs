//! `/api/v1/availability` and `/api/v1/appointments`: free times, booking (idempotent, checked
//! in the transaction, with the database constraint as the last word), the appointment's life
//! and its emails. The rules themselves live in the pure `scheduling` module; this layer loads
//! what they need, stores what they decide and tells the patient by email in the same
//! transaction.

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use entity::{
    account_token::Purpose,
    appointment::{self, AppointmentStatus as StoredStatus},
    appointment_type, location, patient, practitioner,
    user::Role,
};
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, IntoActiveModel, Set};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        access::require_role,
        clinic::setup_invalid,
        intakes::INTAKE_QUESTIONNAIRE,
        practitioners::{minutes_text, weekday_of},
        types::{Date, Text},
    },
    app::AppState,
    audit::{self, Action, AuditContext, Entry, Record},
    auth::BearerAuth,
    error::{ApiError, ApiResult, FieldError, SuggestedSlot},
    notify::{
        calendar::{AppointmentEvent, CalendarMethod, invite},
        content::{AppointmentDetails, EmailContent, FollowUpInvitation},
    },
    scheduling::{
        self, Actor, Availability, AvailabilityQuery, BookingRequest, Busy, ClinicPolicies,
        Discipline, IntakeDisposition, IntakeGate, IntakeSummary, Interval, LifecycleError,
        LocationHours, Minutes, PractitionerCalendar, RefusalKind, StatusChange, WeeklyHours,
        WorkingIntervalInput, Zone,
    },
    store::{
        account_tokens::{self, Subject},
        appointments::{self, CalendarRows, NewAppointment, Scope, WriteError},
        booking::{self, FactsQuery, LatestIntake, NewBooking, PatientKey, Written},
        clinic,
        idempotency::{KeyedRequest, Stored},
        outbox::NewMessage,
        patients,
    },
};

const BOOKERS: &[Role] = &[Role::Patient, Role::Staff];
const EVERYONE: &[Role] = &[Role::Patient, Role::Staff, Role::Practitioner, Role::Admin];
/// Appointment records name patients: the clinic team and the patients themselves.
const READERS: &[Role] = &[Role::Patient, Role::Staff, Role::Practitioner];
const DESK_AND_PRACTITIONERS: &[Role] = &[Role::Staff, Role::Practitioner];
/// How far the 409 for a lost slot looks for other free times.
const SUGGESTION_DAYS: i64 = 14;
const SUGGESTIONS: usize = 5;
/// How long the follow-up questionnaire link stays valid after it is sent.
const FOLLOW_UP_LINK_DAYS: i64 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatusView {
    Booked,
    CheckedIn,
    Completed,
    NoShow,
    Cancelled,
}

impl From<StoredStatus> for AppointmentStatusView {
    fn from(status: StoredStatus) -> Self {
        match status {
            StoredStatus::Booked => Self::Booked,
            StoredStatus::CheckedIn => Self::CheckedIn,
            StoredStatus::Completed => Self::Completed,
            StoredStatus::NoShow => Self::NoShow,
            StoredStatus::Cancelled => Self::Cancelled,
        }
    }
}

fn lifecycle_status(status: StoredStatus) -> scheduling::AppointmentStatus {
    match status {
        StoredStatus::Booked => scheduling::AppointmentStatus::Booked,
        StoredStatus::CheckedIn => scheduling::AppointmentStatus::CheckedIn,
        StoredStatus::Completed => scheduling::AppointmentStatus::Completed,
        StoredStatus::NoShow => scheduling::AppointmentStatus::NoShow,
        StoredStatus::Cancelled => scheduling::AppointmentStatus::Cancelled,
    }
}

fn stored_status(status: scheduling::AppointmentStatus) -> StoredStatus {
    match status {
        scheduling::AppointmentStatus::Booked => StoredStatus::Booked,
        scheduling::AppointmentStatus::CheckedIn => StoredStatus::CheckedIn,
        scheduling::AppointmentStatus::Completed => StoredStatus::Completed,
        scheduling::AppointmentStatus::NoShow => StoredStatus::NoShow,
        scheduling::AppointmentStatus::Cancelled => StoredStatus::Cancelled,
    }
}

fn discipline_of(stored: practitioner::Discipline) -> Discipline {
    match stored {
        practitioner::Discipline::Chiropractic => Discipline::Chiropractic,
        practitioner::Discipline::Physiotherapy => Discipline::Physiotherapy,
    }
}

/// One free start time.
#[derive(Debug, Object)]
#[oai(rename = "Slot")]
pub struct SlotView {
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The start on the location's clock, with its UTC offset (RFC 3339).
    pub local_start: String,
    pub time_zone: String,
    /// `EST`/`EDT`, `GMT`/`BST`: tells apart the two 01:30s of a night the clocks go back.
    pub abbreviation: String,
}

#[derive(Debug, Object)]
pub struct AvailabilityView {
    pub appointment_type_id: Uuid,
    pub slots: Vec<SlotView>,
}

/// A booking request. A patient books for themselves (leave `patient_id` out); the front desk
/// names the patient.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewAppointmentRequest {
    #[oai(nullable)]
    pub patient_id: Option<Uuid>,
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    pub appointment_type_id: Uuid,
    /// One of the `start` values `GET /availability` offers.
    pub start: DateTime<Utc>,
    /// Front desk only: book although the intake check refuses, for this reason (audited).
    #[oai(nullable, validator(max_length = 500))]
    pub override_reason: Option<Text>,
}

/// An appointment as the API shows it.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
#[oai(rename = "Appointment")]
pub struct AppointmentView {
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
    pub status: AppointmentStatusView,
    /// Raised by every change; the calendar invite's SEQUENCE.
    pub sequence: i32,
    #[oai(skip_serializing_if_is_none)]
    pub cancel_reason: Option<String>,
    /// Cancelled inside the clinic's cancellation window.
    pub cancelled_late: bool,
    /// Booked by the front desk although the intake check refused (the reason is audited).
    pub intake_check_overridden: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RescheduleRequest {
    /// One of the `start` values `GET /availability` offers.
    pub start: DateTime<Utc>,
    /// Another practitioner of the same discipline (default: the same one).
    #[oai(nullable)]
    pub practitioner_id: Option<Uuid>,
    /// Another location (default: the same one).
    #[oai(nullable)]
    pub location_id: Option<Uuid>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CancelRequest {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Text,
}

#[derive(Debug, Object)]
pub struct AppointmentList {
    pub appointments: Vec<AppointmentView>,
}

#[derive(ApiResponse)]
pub enum Booked {
    /// Booked; the confirmation email with its calendar invite is on its way.
    #[oai(status = 201)]
    Created(
        Json<AppointmentView>,
        /// `true` when this answers a retry of a request that had already booked.
        #[oai(header = "Idempotent-Replayed")]
        Option<String>,
    ),
}

pub struct AppointmentsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Scheduling")]
impl AppointmentsApi {
    /// Free start times for an appointment type over a range of dates (each location's own
    /// dates), optionally for one practitioner or at one location. Patients see times from the
    /// clinic's minimum notice on.
    #[oai(
        path = "/availability",
        method = "get",
        operation_id = "getAvailability"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn availability(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        appointment_type_id: Query<Uuid>,
        from: Query<Date>,
        to: Query<Date>,
        practitioner_id: Query<Option<Uuid>>,
        location_id: Query<Option<Uuid>>,
    ) -> ApiResult<Json<AvailabilityView>> {
        require_role(&state, request, &auth, EVERYONE).await?;
        let kind = appointments::find_type(&state.db, appointment_type_id.0)
            .await?
            .ok_or_else(|| unknown("appointment_type_id", "There is no such appointment type."))?;
        let actor = actor_of(auth.0.role);
        let policies = policies(&state.db).await?;
        let offered = offered(
            &state,
            &state.db,
            &policies,
            &kind,
            (from.0.0, to.0.0),
            actor,
            practitioner_id.0,
            location_id.0,
            None,
        )
        .await?;
        Ok(Json(AvailabilityView {
            appointment_type_id: kind.id,
            slots: offered.into_slots().into_iter().map(slot_view).collect(),
        }))
    }

    /// Books an appointment. Send a fresh `Idempotency-Key` with each new booking and the same
    /// one when retrying: a retry of a booking that went through answers with the same
    /// appointment; the same key with a different request is refused (422), and a retry while
    /// the first request still runs is a 409.
    #[oai(
        path = "/appointments",
        method = "post",
        operation_id = "bookAppointment"
    )]
    async fn book(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 200, pattern = r"^[\x21-\x7E]+$")
        )]
        idempotency_key: Header<String>,
        body: Json<NewAppointmentRequest>,
    ) -> ApiResult<Booked> {
        require_role(&state, request, &auth, BOOKERS).await?;
        let context = AuditContext::from_request(request, Some(&auth.0));
        book(&state, &auth, &context, &body.0, idempotency_key.0).await
    }

    /// One appointment. Patients see only their own.
    #[oai(
        path = "/appointments/:id",
        method = "get",
        operation_id = "getAppointment"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        let (row, context) = visible_appointment(
            &state,
            request,
            &auth,
            READERS,
            id.0,
            Action::AppointmentRead,
        )
        .await?;
        audit::record(
            &state.db,
            state.clock.now(),
            &context,
            Entry::allowed(Action::AppointmentRead)
                .on(Record::Appointment(row.id))
                .for_patient(row.patient_id),
        )
        .await?;
        let zones = zones(&state).await?;
        Ok(Json(view(row, &zones)))
    }

    /// Moves a booked appointment to another offered time. Patients may do so until the
    /// cancellation window; the front desk always. A new invite replaces the old one.
    #[oai(
        path = "/appointments/:id/reschedule",
        method = "post",
        operation_id = "rescheduleAppointment"
    )]
    async fn reschedule(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<RescheduleRequest>,
    ) -> ApiResult<Json<AppointmentView>> {
        let (row, context) = visible_appointment(
            &state,
            request,
            &auth,
            BOOKERS,
            id.0,
            Action::AppointmentReschedule,
        )
        .await?;
        let actor = actor_of(auth.0.role);
        let now = state.clock.now();
        let policies = policies(&state.db).await?;
        scheduling::check_reschedule(
            actor,
            lifecycle_status(row.status),
            row.starts_at,
            now,
            &policies,
        )
        .map_err(lifecycle_error)?;
        let kind = appointments::find_type(&state.db, row.appointment_type_id)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("appointment type missing")))?;
        let practitioner_id = body.practitioner_id.unwrap_or(row.practitioner_id);
        let location_id = body.location_id.unwrap_or(row.location_id);
        let location = clinic::locations(&state.db)
            .await?
            .into_iter()
            .find(|location| location.id == location_id)
            .ok_or_else(|| unknown("location_id", "There is no such location."))?;
        let zone = zone_of(&location)?;
        let date = zone.local_date(body.start);

        let txn = crate::store::begin_write(&state.db).await?;
        // Re-read in the transaction: another request may have moved or cancelled it.
        let row = appointments::find(&txn, row.id)
            .await?
            .ok_or(ApiError::NotFound)?;
        scheduling::check_reschedule(
            actor,
            lifecycle_status(row.status),
            row.starts_at,
            now,
            &policies,
        )
        .map_err(lifecycle_error)?;
        let offered = offered(
            &state,
            &txn,
            &policies,
            &kind,
            (date, date),
            actor,
            Some(practitioner_id),
            Some(location_id),
            Some(row.id),
        )
        .await?;
        let slot = match scheduling::check_slot(&offered, practitioner_id, location_id, body.start)
        {
            Ok(slot) => slot.clone(),
            Err(refusal) => {
                txn.rollback().await?;
                let suggestions =
                    suggestions(&state, &policies, &kind, actor, practitioner_id, body.start)
                        .await?;
                return Err(refused(refusal, suggestions));
            }
        };
        let old_sequence = row.sequence;
        let mut changed = row.into_active_model();
        changed.practitioner_id = Set(slot.practitioner_id);
        changed.location_id = Set(slot.location_id);
        changed.starts_at = Set(slot.start);
        changed.ends_at = Set(slot.end);
        changed.blocked_until = Set(slot.blocked_until);
        changed.sequence = Set(old_sequence + 1);
        changed.updated_at = Set(now);
        let saved = match appointments::save(&txn, changed).await {
            Ok(saved) => saved,
            Err(WriteError::Overlap) => {
                txn.rollback().await?;
                return Err(slot_taken(&state, &policies, &kind, actor, &slot).await);
            }
            Err(WriteError::Database(err)) => return Err(err.into()),
        };
        let mail = Mail::load(&state, &txn, &saved).await?;
        cancel_reminder(&txn, now, saved.id, old_sequence).await?;
        mail.send(
            &state,
            &txn,
            now,
            &saved,
            EmailContent::AppointmentRescheduled,
            Some(CalendarMethod::Request),
        )
        .await?;
        mail.schedule_reminder(&state, &txn, now, &saved, &policies)
            .await?;
        audit::record(
            &txn,
            now,
            &context,
            Entry::allowed(Action::AppointmentReschedule)
                .on(Record::Appointment(saved.id))
                .for_patient(saved.patient_id),
        )
        .await?;
        txn.commit().await?;
        let zones = zones(&state).await?;
        Ok(Json(view(saved, &zones)))
    }

    /// Cancels a booked appointment, with a reason. Inside the cancellation window it is
    /// marked late. The patient receives a cancellation that removes it from their calendar.
    #[oai(
        path = "/appointments/:id/cancel",
        method = "post",
        operation_id = "cancelAppointment"
    )]
    async fn cancel(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<CancelRequest>,
    ) -> ApiResult<Json<AppointmentView>> {
        let (row, context) = visible_appointment(
            &state,
            request,
            &auth,
            BOOKERS,
            id.0,
            Action::AppointmentCancel,
        )
        .await?;
        let actor = actor_of(auth.0.role);
        let now = state.clock.now();
        let policies = policies(&state.db).await?;
        let txn = crate::store::begin_write(&state.db).await?;
        let row = appointments::find(&txn, row.id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let decided = scheduling::cancel(
            actor,
            lifecycle_status(row.status),
            row.starts_at,
            now,
            &policies,
            body.reason.as_str(),
        )
        .map_err(lifecycle_error)?;
        let old_sequence = row.sequence;
        let mut changed = row.into_active_model();
        changed.status = Set(stored_status(decided.status));
        changed.cancel_reason = Set(Some(decided.reason));
        changed.cancelled_late = Set(decided.late);
        changed.sequence = Set(old_sequence + 1);
        changed.updated_at = Set(now);
        let saved = appointments::save(&txn, changed)
            .await
            .map_err(write_error)?;
        cancel_reminder(&txn, now, saved.id, old_sequence).await?;
        let mail = Mail::load(&state, &txn, &saved).await?;
        mail.send(
            &state,
            &txn,
            now,
            &saved,
            EmailContent::AppointmentCancelled,
            Some(CalendarMethod::Cancel),
        )
        .await?;
        audit::record(
            &txn,
            now,
            &context,
            Entry::allowed(Action::AppointmentCancel)
                .on(Record::Appointment(saved.id))
                .for_patient(saved.patient_id),
        )
        .await?;
        txn.commit().await?;
        let zones = zones(&state).await?;
        Ok(Json(view(saved, &zones)))
    }

    /// The patient has arrived.
    #[oai(
        path = "/appointments/:id/check-in",
        method = "post",
        operation_id = "checkInAppointment"
    )]
    async fn check_in(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        change_status(&state, request, &auth, id.0, StatusChange::CheckIn).await
    }

    /// The visit took place. The follow-up questionnaire link is emailed after the clinic's
    /// follow-up delay.
    #[oai(
        path = "/appointments/:id/complete",
        method = "post",
        operation_id = "completeAppointment"
    )]
    async fn complete(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        change_status(&state, request, &auth, id.0, StatusChange::Complete).await
    }

    /// The patient did not come.
    #[oai(
        path = "/appointments/:id/no-show",
        method = "post",
        operation_id = "markAppointmentNoShow"
    )]
    async fn no_show(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        change_status(&state, request, &auth, id.0, StatusChange::NoShow).await
    }

    /// A day's appointments of one practitioner or at one location (give exactly one). The
    /// day is the location's local date, or for a practitioner the clinic's.
    #[oai(
        path = "/appointments",
        method = "get",
        operation_id = "listAppointments"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        date: Query<Date>,
        practitioner_id: Query<Option<Uuid>>,
        location_id: Query<Option<Uuid>>,
    ) -> ApiResult<Json<AppointmentList>> {
        require_role(&state, request, &auth, DESK_AND_PRACTITIONERS).await?;
        let zones = zones(&state).await?;
        let (scope, zone) = match (practitioner_id.0, location_id.0) {
            (Some(id), None) => (
                Scope::Practitioner(id),
                Zone::from_tz(state.config.time_zone),
            ),
            (None, Some(id)) => {
                let zone = zones
                    .iter()
                    .find(|(location, _)| *location == id)
                    .map(|(_, zone)| *zone)
                    .ok_or_else(|| unknown("location_id", "There is no such location."))?;
                (Scope::Location(id), zone)
            }
            _ => {
                return Err(ApiError::Validation {
                    detail: "Give either practitioner_id or location_id.".into(),
                    errors: vec![FieldError {
                        field: "practitioner_id".into(),
                        code: "exactly_one_required".into(),
                        message: "Give exactly one of practitioner_id and location_id.".into(),
                    }],
                });
            }
        };
        let (from, to) = zone.day_bounds(date.0.0);
        let rows = appointments::list(&state.db, scope, Some(from), Some(to)).await?;
        audit::record(
            &state.db,
            state.clock.now(),
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::AppointmentList),
        )
        .await?;
        Ok(Json(AppointmentList {
            appointments: rows.into_iter().map(|row| view(row, &zones)).collect(),
        }))
    }

    /// A patient's appointments, past and future (at most 500, by start). Patients see only
    /// their own.
    #[oai(
        path = "/patients/:id/appointments",
        method = "get",
        operation_id = "listPatientAppointments"
    )]
    async fn patient_appointments(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentList>> {
        require_role(&state, request, &auth, READERS).await?;
        let context = AuditContext::from_request(request, Some(&auth.0));
        let record = patients::find(&state.db, id.0).await?;
        let Some(record) = record.filter(|record| crate::api::intakes::may_see(&auth, record))
        else {
            audit::record(
                &state.db,
                state.clock.now(),
                &context,
                Entry::denied(Action::AppointmentList).on(Record::Patient(id.0)),
            )
            .await?;
            return Err(ApiError::NotFound);
        };
        let rows = appointments::list(&state.db, Scope::Patient(record.id), None, None).await?;
        audit::record(
            &state.db,
            state.clock.now(),
            &context,
            Entry::allowed(Action::AppointmentList).on(Record::Patient(record.id)),
        )
        .await?;
        let zones = zones(&state).await?;
        Ok(Json(AppointmentList {
            appointments: rows.into_iter().map(|row| view(row, &zones)).collect(),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Booking
// ---------------------------------------------------------------------------------------------

/// The request's identity for `Idempotency-Key`: the same key must come with the same booking.
fn fingerprint(body: &NewAppointmentRequest, patient_id: Uuid) -> String {
    let canonical = serde_json::json!({
        "patient_id": patient_id,
        "practitioner_id": body.practitioner_id,
        "location_id": body.location_id,
        "appointment_type_id": body.appointment_type_id,
        "start": body.start,
        "override_reason": body.override_reason.as_ref().map(Text::as_str),
    });
    format!("{:x}", Sha256::digest(canonical.to_string().as_bytes()))
}

/// Whose appointment this is: a patient's own record, or the one the front desk names.
fn patient_key(auth: &BearerAuth, requested: Option<Uuid>) -> ApiResult<PatientKey> {
    if auth.0.role == Role::Patient {
        return Ok(PatientKey::Account(auth.0.user_id));
    }
    requested
        .map(PatientKey::Record)
        .ok_or_else(|| ApiError::Validation {
            detail: "Say whom the appointment is for.".into(),
            errors: vec![FieldError {
                field: "patient_id".into(),
                code: "required".into(),
                message: "The front desk books for a patient: give patient_id.".into(),
            }],
        })
}

/// The record [`patient_key`] found, if the caller may book for it: a patient only for their
/// own (anything else is a 404, audited as denied).
async fn booking_patient(
    state: &AppState,
    auth: &BearerAuth,
    context: &AuditContext,
    requested: Option<Uuid>,
    found: Option<patient::Model>,
) -> ApiResult<patient::Model> {
    if auth.0.role != Role::Patient {
        return found.ok_or_else(|| unknown("patient_id", "There is no such patient."));
    }
    match found {
        Some(own) if requested.is_none_or(|id| id == own.id) => Ok(own),
        _ => {
            let mut entry = Entry::denied(Action::AppointmentBook);
            if let Some(id) = requested {
                entry = entry.on(Record::Patient(id));
            }
            audit::record(&state.db, state.clock.now(), context, entry).await?;
            Err(ApiError::NotFound)
        }
    }
}

async fn book(
    state: &AppState,
    auth: &BearerAuth,
    context: &AuditContext,
    body: &NewAppointmentRequest,
    idempotency_key: String,
) -> ApiResult<Booked> {
    let actor = actor_of(auth.0.role);
    // The database keeps microseconds: the response shows what a later read will.
    let now = state.clock.now().trunc_subsecs(6);
    let patient = patient_key(auth, body.patient_id)?;
    // One statement reads everything the decision needs, on the pool and outside a transaction:
    // what decides a race is the write, where the database's overlap constraint has the last
    // word. The calendar is read before the location's zone is known.
    let calendar_window = AvailabilityQuery::load_window_around(body.start);
    let facts = booking::facts(
        &state.db,
        FactsQuery {
            patient,
            appointment_type_id: body.appointment_type_id,
            practitioner_id: body.practitioner_id,
            location_id: body.location_id,
            questionnaire_id: INTAKE_QUESTIONNAIRE,
            calendar_window,
        },
    )
    .await?;
    let record = booking_patient(state, auth, context, body.patient_id, facts.patient).await?;
    let keyed = KeyedRequest {
        scope: format!("appointments:{}", auth.0.user_id),
        key: idempotency_key,
        fingerprint: fingerprint(body, record.id),
    };
    let kind = facts
        .appointment_type
        .ok_or_else(|| unknown("appointment_type_id", "There is no such appointment type."))?;
    let practitioner = facts
        .practitioner
        .ok_or_else(|| unknown("practitioner_id", "There is no such practitioner."))?;
    let location = facts
        .location
        .ok_or_else(|| unknown("location_id", "There is no such location."))?;
    let zone = zone_of(&location)?;
    let date = zone.local_date(body.start);
    let policies = ClinicPolicies::new(clinic::policies_of(facts.policies))
        .map_err(|_| ApiError::internal(anyhow::anyhow!("stored clinic policies are invalid")))?;
    let override_reason = body
        .override_reason
        .as_ref()
        .map(|reason| reason.as_str().trim().to_owned());
    let offered = offered_from(
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
        facts.calendar,
    )?;
    let intake = facts.intake.as_ref().and_then(intake_summary);
    let known: Vec<Discipline> = facts
        .known_disciplines
        .into_iter()
        .map(discipline_of)
        .collect();
    let scheduling_type = scheduling_type(&kind, &policies)?;
    let decision = scheduling::check_booking(
        &BookingRequest {
            actor,
            appointment_type: &scheduling_type,
            practitioner_id: practitioner.id,
            practitioner_discipline: discipline_of(practitioner.discipline),
            location_id: location.id,
            start: body.start,
            known_disciplines: &known,
            intake: intake.as_ref(),
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
            match keyed.lookup(&state.db, now).await? {
                Stored::Replay { body, .. } => return replay(&body),
                Stored::Mismatch => return Err(key_reused()),
                Stored::Absent | Stored::Lapsed => {}
            }
            let suggestions = if refusal.kind == RefusalKind::SlotUnavailable {
                suggestions(state, &policies, &kind, actor, practitioner.id, body.start).await?
            } else {
                Vec::new()
            };
            if refusal.kind == RefusalKind::IntakeGate {
                audit::record(
                    &state.db,
                    now,
                    context,
                    Entry::denied(Action::AppointmentBook).on(Record::Patient(record.id)),
                )
                .await?;
            }
            return Err(refused(refusal, suggestions));
        }
    };
    let slot = approval.slot;
    let overridden = match &approval.intake {
        IntakeGate::Passed => None,
        IntakeGate::Overridden { reason, .. } => Some(reason.clone()),
    };
    let appointment = appointments::new_row(
        now,
        NewAppointment {
            patient_id: record.id,
            practitioner_id: slot.practitioner_id,
            location_id: slot.location_id,
            appointment_type_id: kind.id,
            starts_at: slot.start,
            ends_at: slot.end,
            blocked_until: slot.blocked_until,
            override_reason: overridden.clone(),
            created_by: auth.0.user_id,
        },
    );
    let mail = Mail::from_parts(
        state,
        &appointment,
        &record,
        &kind,
        &practitioner,
        &location,
    )?;
    let emails = [
        mail.message(
            state,
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
    let mut audit_rows = vec![crate::store::audit::row(
        now,
        context,
        Entry::allowed(Action::AppointmentBook)
            .on(Record::Appointment(appointment.id))
            .for_patient(appointment.patient_id),
    )];
    if overridden.is_some() {
        audit_rows.push(crate::store::audit::row(
            now,
            context,
            Entry::allowed(Action::IntakeCheckOverride)
                .on(Record::Appointment(appointment.id))
                .for_patient(appointment.patient_id),
        ));
    }
    let view = view(appointment.clone(), &[(location.id, zone)]);
    let stored = serde_json::to_string(&view).map_err(ApiError::internal)?;
    let new_booking = NewBooking {
        key: keyed.completed(now, 201, stored),
        appointment: appointment.into_active_model().reset_all(),
        emails,
        audit: audit_rows,
    };
    let mut written = booking::write(&state.db, &new_booking).await;
    if written.as_ref().is_ok_and(|w| *w == Written::KeyTaken)
        && keyed.lookup(&state.db, now).await? == Stored::Lapsed
    {
        // The key named a booking more than a day ago; its entry is gone now.
        written = booking::write(&state.db, &new_booking).await;
    }
    match written {
        Ok(Written::Booked) => Ok(Booked::Created(Json(view), None)),
        Ok(Written::KeyTaken) => match keyed.lookup(&state.db, now).await? {
            Stored::Replay { body, .. } => replay(&body),
            Stored::Mismatch => Err(key_reused()),
            Stored::Absent | Stored::Lapsed => Err(ApiError::Conflict {
                code: "idempotency_key_in_flight",
                detail: "A request with this Idempotency-Key is still being processed; retry \
                         in a moment."
                    .into(),
            }),
        },
        // Lost a race the database settled: someone booked this time a moment ago.
        Err(WriteError::Overlap) => Err(slot_taken(state, &policies, &kind, actor, &slot).await),
        Err(WriteError::Database(err)) => Err(err.into()),
    }
}

/// The stored response of an earlier request with the same key and body.
fn replay(body: &str) -> ApiResult<Booked> {
    let view: AppointmentView = serde_json::from_str(body).map_err(ApiError::internal)?;
    Ok(Booked::Created(Json(view), Some("true".into())))
}

fn key_reused() -> ApiError {
    ApiError::Refused {
        status: poem::http::StatusCode::UNPROCESSABLE_ENTITY,
        code: "idempotency_key_reused",
        detail: "This Idempotency-Key was used for a different booking. Use a new key for a new \
                 booking."
            .into(),
        next_slots: Vec::new(),
    }
}

/// The latest submitted intake as the booking rules see it.
fn intake_summary(latest: &LatestIntake) -> Option<IntakeSummary> {
    let (Some(submitted_at), Some(disposition)) = (latest.submitted_at, &latest.disposition) else {
        return None;
    };
    let disposition = match disposition.as_str() {
        "routine" => IntakeDisposition::Routine,
        "review" => IntakeDisposition::Review,
        "urgent" => IntakeDisposition::Urgent,
        _ => IntakeDisposition::Emergency,
    };
    Some(IntakeSummary {
        submitted_at,
        disposition,
        cleared_for_care: latest.cleared,
    })
}

fn refused(refusal: scheduling::BookingRefusal, next_slots: Vec<SuggestedSlot>) -> ApiError {
    use poem::http::StatusCode;
    let status = match refusal.kind {
        RefusalKind::SlotUnavailable => StatusCode::CONFLICT,
        RefusalKind::NotAllowed => StatusCode::UNPROCESSABLE_ENTITY,
        RefusalKind::IntakeGate => StatusCode::FORBIDDEN,
    };
    ApiError::Refused {
        status,
        code: refusal.code.as_str(),
        detail: refusal.message,
        next_slots,
    }
}

/// The 409 for a time someone else took first, with what is free instead.
async fn slot_taken(
    state: &AppState,
    policies: &ClinicPolicies,
    kind: &appointment_type::Model,
    actor: Actor,
    slot: &scheduling::Slot,
) -> ApiError {
    let next_slots = suggestions(
        state,
        policies,
        kind,
        actor,
        slot.practitioner_id,
        slot.start,
    )
    .await
    .unwrap_or_default();
    ApiError::Refused {
        status: poem::http::StatusCode::CONFLICT,
        code: "slot_taken",
        detail: "Someone booked that time a moment ago. Please choose another time.".into(),
        next_slots,
    }
}

/// The next free times with the same practitioner after `after`.
async fn suggestions(
    state: &AppState,
    policies: &ClinicPolicies,
    kind: &appointment_type::Model,
    actor: Actor,
    practitioner_id: Uuid,
    after: DateTime<Utc>,
) -> ApiResult<Vec<SuggestedSlot>> {
    let from = after.date_naive().pred_opt().unwrap_or(after.date_naive());
    let to = from + Duration::days(SUGGESTION_DAYS);
    let offered = offered(
        state,
        &state.db,
        policies,
        kind,
        (from, to),
        actor,
        Some(practitioner_id),
        None,
        None,
    )
    .await;
    // Suggestions are a courtesy: a type that cannot be offered any more simply has none.
    let Ok(offered) = offered else {
        return Ok(Vec::new());
    };
    Ok(offered
        .next_after(after, Some(practitioner_id), SUGGESTIONS)
        .into_iter()
        .map(|slot| SuggestedSlot {
            practitioner_id: slot.practitioner_id,
            location_id: slot.location_id,
            start: slot.start,
            local_start: slot.local_start.to_rfc3339(),
            abbreviation: slot.abbreviation.clone(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Availability: load, then ask the pure module
// ---------------------------------------------------------------------------------------------

/// Offered slots of `kind` over the dates, computed from what `db` (the pool, or the booking's
/// transaction) holds now. `ignoring` leaves one appointment out of the busy times: the one
/// being moved.
#[allow(clippy::too_many_arguments)]
async fn offered<C: sea_orm::ConnectionTrait>(
    state: &AppState,
    db: &C,
    policies: &ClinicPolicies,
    kind: &appointment_type::Model,
    dates: (NaiveDate, NaiveDate),
    actor: Actor,
    practitioner_id: Option<Uuid>,
    location_id: Option<Uuid>,
    ignoring: Option<Uuid>,
) -> ApiResult<Availability> {
    let practitioners = appointments::bookable_practitioners(db, practitioner_id).await?;
    let locations = clinic::locations(db).await?;
    let setup = Setup {
        practitioners: &practitioners,
        locations: &locations,
    };
    offered_with(
        state,
        db,
        policies,
        kind,
        dates,
        actor,
        setup,
        location_id,
        ignoring,
    )
    .await
}

/// The practitioners and locations a computation may use, when the caller has them already.
#[derive(Clone, Copy)]
struct Setup<'a> {
    practitioners: &'a [practitioner::Model],
    locations: &'a [location::Model],
}

/// [`offered`] for practitioners and locations already loaded: only the calendars are read.
#[allow(clippy::too_many_arguments)]
async fn offered_with<C: sea_orm::ConnectionTrait>(
    state: &AppState,
    db: &C,
    policies: &ClinicPolicies,
    kind: &appointment_type::Model,
    (from, to): (NaiveDate, NaiveDate),
    actor: Actor,
    setup: Setup<'_>,
    location_id: Option<Uuid>,
    ignoring: Option<Uuid>,
) -> ApiResult<Availability> {
    let ids: Vec<Uuid> = of_kind(kind, setup.practitioners)
        .iter()
        .map(|row| row.id)
        .collect();
    let (window_from, window_to) = AvailabilityQuery::load_window_of(from, to);
    let mut rows = appointments::calendar_rows(db, &ids, window_from, window_to).await?;
    if let Some(ignored) = ignoring {
        rows.busy.retain(|row| row.id != ignored);
    }
    offered_from(
        state,
        policies,
        kind,
        (from, to),
        actor,
        setup,
        location_id,
        rows,
    )
}

/// The active practitioners of the type's discipline.
fn of_kind(
    kind: &appointment_type::Model,
    practitioners: &[practitioner::Model],
) -> Vec<practitioner::Model> {
    practitioners
        .iter()
        .filter(|row| row.active && row.discipline == kind.discipline)
        .cloned()
        .collect()
}

/// [`offered_with`] for calendars already loaded (rows covering the dates' load window); only
/// the active practitioners of the type's discipline are offered.
#[allow(clippy::too_many_arguments)]
fn offered_from(
    state: &AppState,
    policies: &ClinicPolicies,
    kind: &appointment_type::Model,
    (from, to): (NaiveDate, NaiveDate),
    actor: Actor,
    setup: Setup<'_>,
    location_id: Option<Uuid>,
    rows: CalendarRows,
) -> ApiResult<Availability> {
    let scheduling_type = scheduling_type(kind, policies)?;
    let query = AvailabilityQuery {
        appointment_type: &scheduling_type,
        from,
        to,
        actor,
        now: state.clock.now(),
    };
    let practitioners = of_kind(kind, setup.practitioners);
    let calendars = calendars(&practitioners, rows, setup.locations, policies, location_id);
    scheduling::availability(&query, policies, &calendars).map_err(setup_invalid)
}

/// One calendar per practitioner from the loaded rows. Hours that no longer fit the slot grid
/// (the grid changed after they were set) are left out, and said so in the log.
fn calendars(
    practitioners: &[practitioner::Model],
    rows: CalendarRows,
    locations: &[location::Model],
    policies: &ClinicPolicies,
    only_location: Option<Uuid>,
) -> Vec<PractitionerCalendar> {
    practitioners
        .iter()
        .map(|practitioner| {
            let mut location_ids: Vec<Uuid> = rows
                .working_hours
                .iter()
                .filter(|row| row.practitioner_id == practitioner.id)
                .map(|row| row.location_id)
                .filter(|id| only_location.is_none_or(|only| only == *id))
                .collect();
            location_ids.dedup();
            let hours = location_ids
                .into_iter()
                .filter_map(|location_id| {
                    let location = locations.iter().find(|row| row.id == location_id)?;
                    let zone = Zone::parse(&location.time_zone).ok()?;
                    let inputs: Vec<WorkingIntervalInput> = rows
                        .working_hours
                        .iter()
                        .filter(|row| {
                            row.practitioner_id == practitioner.id && row.location_id == location_id
                        })
                        .map(|row| {
                            WorkingIntervalInput::new(
                                weekday_of(row.weekday),
                                &minutes_text(row.start_minute),
                                &minutes_text(row.end_minute),
                            )
                        })
                        .collect();
                    match WeeklyHours::new(&inputs, policies.slot_grid()) {
                        Ok(hours) => Some(LocationHours {
                            location_id,
                            zone,
                            hours,
                        }),
                        Err(_) => {
                            tracing::warn!(
                                practitioner_id = %practitioner.id,
                                %location_id,
                                "working hours do not fit the current slot grid; not offered"
                            );
                            None
                        }
                    }
                })
                .collect();
            let time_off = rows
                .time_off
                .iter()
                .filter(|row| row.practitioner_id == practitioner.id)
                .filter_map(|row| Interval::new(row.starts_at, row.ends_at).ok())
                .collect();
            let busy = rows
                .busy
                .iter()
                .filter(|row| row.practitioner_id == practitioner.id)
                .filter_map(|row| {
                    let buffer =
                        Minutes::new((row.blocked_until - row.ends_at).num_minutes()).ok()?;
                    Busy::new(row.starts_at, row.ends_at, buffer).ok()
                })
                .collect();
            PractitionerCalendar {
                practitioner_id: practitioner.id,
                discipline: discipline_of(practitioner.discipline),
                locations: hours,
                time_off,
                busy,
            }
        })
        .collect()
}

fn scheduling_type(
    kind: &appointment_type::Model,
    policies: &ClinicPolicies,
) -> ApiResult<scheduling::AppointmentType> {
    scheduling::AppointmentType::new(
        scheduling::AppointmentTypeInput {
            name: kind.name.clone(),
            discipline: discipline_of(kind.discipline),
            duration_minutes: i64::from(kind.duration_minutes),
            buffer_after_minutes: i64::from(kind.buffer_after_minutes),
            new_patient: kind.new_patient,
            active: kind.active,
        },
        policies.slot_grid(),
    )
    .map_err(|_| ApiError::Refused {
        status: poem::http::StatusCode::UNPROCESSABLE_ENTITY,
        code: "appointment_type_not_bookable",
        detail: "This appointment type no longer fits the clinic's slot grid; ask the clinic."
            .into(),
        next_slots: Vec::new(),
    })
}

async fn policies<C: sea_orm::ConnectionTrait>(db: &C) -> ApiResult<ClinicPolicies> {
    ClinicPolicies::new(clinic::policies(db).await?)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("stored clinic policies are invalid")))
}

fn actor_of(role: Role) -> Actor {
    if role == Role::Patient {
        Actor::Patient
    } else {
        Actor::Staff
    }
}

fn unknown(field: &str, message: &str) -> ApiError {
    ApiError::Validation {
        detail: message.into(),
        errors: vec![FieldError {
            field: field.into(),
            code: "unknown".into(),
            message: message.into(),
        }],
    }
}

fn zone_of(location: &location::Model) -> ApiResult<Zone> {
    Zone::parse(&location.time_zone)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("a stored location has an unknown zone")))
}

/// Every location's zone, for showing appointments on their location's clock.
async fn zones(state: &AppState) -> ApiResult<Vec<(Uuid, Zone)>> {
    Ok(clinic::locations(&state.db)
        .await?
        .iter()
        .filter_map(|location| Some((location.id, Zone::parse(&location.time_zone).ok()?)))
        .collect())
}

fn slot_view(slot: scheduling::Slot) -> SlotView {
    SlotView {
        practitioner_id: slot.practitioner_id,
        location_id: slot.location_id,
        start: slot.start,
        end: slot.end,
        local_start: slot.local_start.to_rfc3339(),
        time_zone: slot.time_zone.name().to_owned(),
        abbreviation: slot.abbreviation,
    }
}

fn view(row: appointment::Model, zones: &[(Uuid, Zone)]) -> AppointmentView {
    let zone = zones
        .iter()
        .find(|(id, _)| *id == row.location_id)
        .map_or(Zone::from_tz(chrono_tz::UTC), |(_, zone)| *zone);
    let clock = zone.wall_clock(row.starts_at);
    AppointmentView {
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
        status: row.status.into(),
        sequence: row.sequence,
        cancel_reason: row.cancel_reason,
        cancelled_late: row.cancelled_late,
        intake_check_overridden: row.override_reason.is_some(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

/// Loads an appointment the caller may act on: one of `allowed` roles, and for a patient only
/// their own. Anything else is a 404 with a denied audit entry.
async fn visible_appointment(
    state: &AppState,
    request: &Request,
    auth: &BearerAuth,
    allowed: &[Role],
    id: Uuid,
    action: Action,
) -> ApiResult<(appointment::Model, AuditContext)> {
    require_role(state, request, auth, allowed).await?;
    let context = AuditContext::from_request(request, Some(&auth.0));
    let row = appointments::find(&state.db, id).await?;
    let visible = match &row {
        Some(row) if auth.0.role == Role::Patient => patients::find(&state.db, row.patient_id)
            .await?
            .is_some_and(|record| crate::api::intakes::may_see(auth, &record)),
        Some(_) => true,
        None => false,
    };
    match row {
        Some(row) if visible => Ok((row, context)),
        _ => {
            let mut entry = Entry::denied(action).on(Record::Appointment(id));
            if let Some(row) = &row {
                entry = entry.for_patient(row.patient_id);
            }
            audit::record(&state.db, state.clock.now(), &context, entry).await?;
            Err(ApiError::NotFound)
        }
    }
}

async fn change_status(
    state: &AppState,
    request: &Request,
    auth: &BearerAuth,
    id: Uuid,
    change: StatusChange,
) -> ApiResult<Json<AppointmentView>> {
    let action = match change {
        StatusChange::CheckIn => Action::AppointmentCheckIn,
        StatusChange::Complete => Action::AppointmentComplete,
        _ => Action::AppointmentNoShow,
    };
    let (row, context) =
        visible_appointment(state, request, auth, DESK_AND_PRACTITIONERS, id, action).await?;
    let now = state.clock.now();
    let txn = crate::store::begin_write(&state.db).await?;
    let row = appointments::find(&txn, row.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let next = scheduling::transition(lifecycle_status(row.status), change)
        .map_err(|illegal| lifecycle_error(illegal.into()))?;
    let mut changed = row.into_active_model();
    changed.status = Set(stored_status(next));
    changed.updated_at = Set(now);
    let saved = appointments::save(&txn, changed)
        .await
        .map_err(write_error)?;
    if change == StatusChange::NoShow {
        // The reminder may still be pending for an appointment marked before its start.
        cancel_reminder(&txn, now, saved.id, saved.sequence).await?;
    }
    if change == StatusChange::Complete {
        let policies = policies(&state.db).await?;
        Mail::load(state, &txn, &saved)
            .await?
            .schedule_follow_up(state, &txn, now, &saved, &policies)
            .await?;
    }
    audit::record(
        &txn,
        now,
        &context,
        Entry::allowed(action)
            .on(Record::Appointment(saved.id))
            .for_patient(saved.patient_id),
    )
    .await?;
    txn.commit().await?;
    let zones = zones(state).await?;
    Ok(Json(view(saved, &zones)))
}

fn lifecycle_error(error: LifecycleError) -> ApiError {
    match error {
        LifecycleError::Invalid(invalid) => setup_invalid(invalid.into()),
        other => ApiError::Conflict {
            code: other.code(),
            detail: other.to_string(),
        },
    }
}

fn write_error(error: WriteError) -> ApiError {
    match error {
        WriteError::Overlap => ApiError::Conflict {
            code: "slot_taken",
            detail: "That time overlaps another appointment.".into(),
        },
        WriteError::Database(err) => err.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Emails: written in the transaction of the change they announce
// ---------------------------------------------------------------------------------------------

fn reminder_key(appointment_id: Uuid, sequence: i32) -> String {
    format!("reminder:{appointment_id}:{sequence}")
}

async fn cancel_reminder(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    appointment_id: Uuid,
    sequence: i32,
) -> ApiResult<()> {
    crate::store::outbox::cancel_by_dedupe_key(txn, now, &reminder_key(appointment_id, sequence))
        .await?;
    Ok(())
}

/// What the emails about one appointment say: names, times and places, nothing clinical.
struct Mail {
    recipient: Option<String>,
    details: AppointmentDetails,
    patient_name: String,
    patient_id: Uuid,
    zone: Zone,
    summary: String,
    location_name: String,
}

impl Mail {
    async fn load(
        state: &AppState,
        txn: &DatabaseTransaction,
        row: &appointment::Model,
    ) -> ApiResult<Self> {
        let missing =
            |what: &str| ApiError::internal(anyhow::anyhow!("appointment's {what} missing"));
        let record = patients::find(txn, row.patient_id)
            .await?
            .ok_or_else(|| missing("patient"))?;
        let kind = appointments::find_type(txn, row.appointment_type_id)
            .await?
            .ok_or_else(|| missing("type"))?;
        let practitioner = crate::store::practitioners::find(txn, row.practitioner_id)
            .await?
            .ok_or_else(|| missing("practitioner"))?;
        let location = clinic::locations(txn)
            .await?
            .into_iter()
            .find(|location| location.id == row.location_id)
            .ok_or_else(|| missing("location"))?;
        Self::from_parts(state, row, &record, &kind, &practitioner, &location)
    }

    /// The same, from records the caller has loaded already.
    fn from_parts(
        state: &AppState,
        row: &appointment::Model,
        record: &patient::Model,
        kind: &appointment_type::Model,
        practitioner: &practitioner::Model,
        location: &location::Model,
    ) -> ApiResult<Self> {
        let zone = zone_of(location)?;
        let patient_name = format!("{} {}", record.given_name, record.family_name);
        let summary = format!("{} with {}", kind.name, practitioner.display_name);
        let details = AppointmentDetails {
            patient_name: record.given_name.clone(),
            appointment_type: format!("{} ({} min)", kind.name, kind.duration_minutes),
            practitioner_name: practitioner.display_name.clone(),
            location_name: location.name.clone(),
            location_address: location.address.clone(),
            starts_at: zone.wall_clock(row.starts_at).to_string(),
            duration_minutes: u32::try_from(kind.duration_minutes).unwrap_or_default(),
            manage_url: state.page_url(&format!("appointments/{}", row.id)),
        };
        Ok(Self {
            recipient: record.email.clone(),
            details,
            patient_name,
            patient_id: record.id,
            zone,
            summary,
            location_name: location.name.clone(),
        })
    }

    fn invite(
        &self,
        state: &AppState,
        row: &appointment::Model,
        now: DateTime<Utc>,
        method: CalendarMethod,
        recipient: &str,
    ) -> crate::notify::calendar::CalendarInvite {
        let organizer_email = state.config.mail_from.email.to_string();
        let organizer_name = state
            .config
            .mail_from
            .name
            .clone()
            .unwrap_or_else(|| "Lumbar".into());
        invite(
            &AppointmentEvent {
                appointment_id: row.id,
                sequence: u32::try_from(row.sequence).unwrap_or_default(),
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                time_zone: self.zone.tz(),
                summary: &self.summary,
                location: &self.location_name,
                organizer_name: &organizer_name,
                organizer_email: &organizer_email,
                attendee_name: &self.patient_name,
                attendee_email: recipient,
                stamped_at: now,
            },
            method,
        )
    }

    /// An email about the appointment to send now; none for a patient without an address.
    fn message(
        &self,
        state: &AppState,
        now: DateTime<Utc>,
        row: &appointment::Model,
        content: fn(AppointmentDetails) -> EmailContent,
        method: Option<CalendarMethod>,
    ) -> Option<NewMessage> {
        let recipient = self.recipient.clone()?;
        let mut message =
            NewMessage::immediate(recipient.clone(), content(self.details.clone()), now);
        message.calendar = method.map(|method| self.invite(state, row, now, method, &recipient));
        Some(message)
    }

    /// Queues [`Mail::message`] in the change's transaction.
    async fn send(
        &self,
        state: &AppState,
        txn: &DatabaseTransaction,
        now: DateTime<Utc>,
        row: &appointment::Model,
        content: fn(AppointmentDetails) -> EmailContent,
        method: Option<CalendarMethod>,
    ) -> ApiResult<()> {
        if let Some(message) = self.message(state, now, row, content, method) {
            state.outbox.enqueue(txn, now, message).await?;
        }
        Ok(())
    }

    /// The reminder at the clinic's lead time before the start, dropped if it has not gone by
    /// the start; none when that moment has passed already.
    fn reminder(
        &self,
        now: DateTime<Utc>,
        row: &appointment::Model,
        policies: &ClinicPolicies,
    ) -> Option<NewMessage> {
        let recipient = self.recipient.clone()?;
        let reminder = scheduling::reminder(row.starts_at, now, policies)?;
        Some(NewMessage {
            recipient,
            content: EmailContent::AppointmentReminder(self.details.clone()),
            calendar: None,
            not_before: reminder.send_at,
            deadline: Some(reminder.deadline),
            dedupe_key: Some(reminder_key(row.id, row.sequence)),
        })
    }

    /// Queues [`Mail::reminder`] in the change's transaction.
    async fn schedule_reminder(
        &self,
        state: &AppState,
        txn: &DatabaseTransaction,
        now: DateTime<Utc>,
        row: &appointment::Model,
        policies: &ClinicPolicies,
    ) -> ApiResult<()> {
        if let Some(message) = self.reminder(now, row, policies) {
            state.outbox.enqueue(txn, now, message).await?;
        }
        Ok(())
    }

    /// After a completed visit: the follow-up questionnaire link, sent at the clinic's
    /// follow-up delay, valid for two weeks from then.
    async fn schedule_follow_up(
        &self,
        state: &AppState,
        txn: &DatabaseTransaction,
        now: DateTime<Utc>,
        row: &appointment::Model,
        policies: &ClinicPolicies,
    ) -> ApiResult<()> {
        let Some(recipient) = self.recipient.clone() else {
            return Ok(());
        };
        let send_at = scheduling::follow_up_at(now, policies);
        // Alongside: an earlier visit's link, maybe not even sent yet, must keep working.
        let secret = account_tokens::issue_alongside(
            txn,
            now,
            Purpose::FollowUp,
            Subject::Patient(self.patient_id),
            (send_at - now) + Duration::days(FOLLOW_UP_LINK_DAYS),
        )
        .await?;
        let message = NewMessage {
            recipient,
            content: EmailContent::FollowUpInvitation(FollowUpInvitation {
                patient_name: self.details.patient_name.clone(),
                questionnaire_url: state.page_url(&format!("follow-ups/{secret}")),
            }),
            calendar: None,
            not_before: send_at,
            deadline: None,
            dedupe_key: Some(format!("follow-up:{}", row.id)),
        };
        state.outbox.enqueue(txn, now, message).await?;
        Ok(())
    }
}
