//! Free times: load the calendars, then ask the pure `scheduling` module. Booking and
//! rescheduling use the same computation, and so do the suggestions offered when a time is
//! not free.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{appointment_type, clinic_policy, location, practitioner};
use poem::http::StatusCode;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    app::AppState,
    error::{ApiError, ApiResult, SuggestedSlot},
    scheduling::{
        self, Actor, Availability, AvailabilityQuery, Busy, ClinicPolicies, Discipline, Interval,
        LocationHours, Minutes, PractitionerCalendar, Slot, StoredInterval, WeeklyHours, Zone,
    },
    service::{Caller, access::EVERYONE},
    store::{
        appointments::{self, CalendarRows, HeldTime},
        clinic, practitioners,
    },
};

/// How far the 409 for a lost slot looks for other free times.
const SUGGESTION_DAYS: i64 = 14;
const SUGGESTIONS: usize = 5;

/// `GET /availability`: free starts of a type over a range of each location's dates.
#[derive(Debug, Clone)]
pub struct FindSlots {
    pub appointment_type_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub practitioner_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
}

pub struct FreeSlots {
    pub appointment_type_id: Uuid,
    pub slots: Vec<Slot>,
}

/// Free start times for the caller: patients see times from the clinic's minimum notice on.
#[tracing::instrument(name = "service.availability.find", skip_all)]
pub async fn find(state: &AppState, caller: &Caller, query: FindSlots) -> ApiResult<FreeSlots> {
    caller.require(state, EVERYONE).await?;
    let kind = appointments::find_type(&state.db, query.appointment_type_id)
        .await?
        .ok_or_else(|| {
            ApiError::unknown_field("appointment_type_id", "There is no such appointment type.")
        })?;
    let policies = policies(&state.db).await?;
    let offered = offered(
        state,
        &state.db,
        &policies,
        &kind,
        (query.from, query.to),
        caller.actor(),
        query.practitioner_id,
        query.location_id,
        None,
    )
    .await?;
    Ok(FreeSlots {
        appointment_type_id: kind.id,
        slots: offered.into_slots(),
    })
}

/// The clinic's booking policies (the defaults until an admin saved some).
pub async fn policies<C: ConnectionTrait>(db: &C) -> ApiResult<ClinicPolicies> {
    policies_from(clinic::policies(db).await?)
}

/// The policies from their stored row, already loaded.
pub fn policies_of(stored: Option<clinic_policy::Model>) -> ApiResult<ClinicPolicies> {
    policies_from(clinic::policies_of(stored))
}

fn policies_from(input: scheduling::ClinicPoliciesInput) -> ApiResult<ClinicPolicies> {
    ClinicPolicies::new(input)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("stored clinic policies are invalid")))
}

/// The discipline as the pure module names it.
pub fn discipline_of(stored: practitioner::Discipline) -> Discipline {
    match stored {
        practitioner::Discipline::Chiropractic => Discipline::Chiropractic,
        practitioner::Discipline::Physiotherapy => Discipline::Physiotherapy,
    }
}

/// The stored type as the pure module checks it, or a 422 when it no longer fits the grid.
pub fn scheduling_type(
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
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "appointment_type_not_bookable",
        detail: "This appointment type no longer fits the clinic's slot grid; ask the clinic."
            .into(),
        next_slots: Vec::new(),
    })
}

/// A stored location's zone (checked when it was saved).
pub fn zone_of(location: &location::Model) -> ApiResult<Zone> {
    Zone::parse(&location.time_zone)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("a stored location has an unknown zone")))
}

/// Every location's zone, for showing appointments on their location's clock.
pub async fn zones<C: ConnectionTrait>(db: &C) -> ApiResult<Vec<(Uuid, Zone)>> {
    Ok(clinic::locations(db)
        .await?
        .iter()
        .filter_map(|location| Some((location.id, Zone::parse(&location.time_zone).ok()?)))
        .collect())
}

/// Offered slots of `kind` over the dates, computed from what `db` (the pool, or a change's
/// transaction) holds now. `ignoring` leaves one appointment out of the busy times: the one
/// being moved.
#[allow(clippy::too_many_arguments)]
pub async fn offered<C: ConnectionTrait>(
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
    let (from, to) = dates;
    let ids: Vec<Uuid> = of_kind(kind, &practitioners).map(|row| row.id).collect();
    let (window_from, window_to) = AvailabilityQuery::load_window_of(from, to);
    let mut rows = appointments::calendar_rows(db, &ids, window_from, window_to).await?;
    if let Some(ignored) = ignoring {
        rows.busy.retain(|row| row.id != ignored);
    }
    offered_from(
        state,
        policies,
        kind,
        dates,
        actor,
        Setup {
            practitioners: &practitioners,
            locations: &locations,
        },
        location_id,
        rows,
    )
}

/// The practitioners and locations a computation may use.
#[derive(Clone, Copy)]
pub struct Setup<'a> {
    pub practitioners: &'a [practitioner::Model],
    pub locations: &'a [location::Model],
}

/// The active practitioners of the type's discipline.
fn of_kind<'a>(
    kind: &'a appointment_type::Model,
    practitioners: &'a [practitioner::Model],
) -> impl Iterator<Item = &'a practitioner::Model> {
    practitioners
        .iter()
        .filter(|row| row.active && row.discipline == kind.discipline)
}

/// [`offered`] for calendars already loaded (rows covering the dates' load window); only the
/// active practitioners of the type's discipline are offered.
#[allow(clippy::too_many_arguments)]
pub fn offered_from(
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
    let calendars: Vec<PractitionerCalendar> = of_kind(kind, setup.practitioners)
        .map(|practitioner| calendar(practitioner, &rows, setup.locations, policies, location_id))
        .collect();
    scheduling::availability(&query, policies, &calendars).map_err(ApiError::from)
}

/// One practitioner's calendar from the loaded rows. Hours that no longer fit the slot grid
/// (the grid changed after they were set) are left out, and said so in the log.
fn calendar(
    practitioner: &practitioner::Model,
    rows: &CalendarRows,
    locations: &[location::Model],
    policies: &ClinicPolicies,
    only_location: Option<Uuid>,
) -> PractitionerCalendar {
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
            // A deactivated location offers nothing; its history stays.
            let location = locations
                .iter()
                .find(|row| row.id == location_id && row.active)?;
            let zone = Zone::parse(&location.time_zone).ok()?;
            let stored: Vec<StoredInterval> = rows
                .working_hours
                .iter()
                .filter(|row| {
                    row.practitioner_id == practitioner.id && row.location_id == location_id
                })
                .filter_map(practitioners::stored_interval)
                .collect();
            match WeeklyHours::from_stored(&stored, policies.slot_grid()) {
                Ok(hours) => Some(LocationHours {
                    location_id: location_id.into(),
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
            let buffer = Minutes::new((row.blocked_until - row.ends_at).num_minutes()).ok()?;
            Busy::new(row.starts_at, row.ends_at, buffer).ok()
        })
        .collect();
    PractitionerCalendar {
        practitioner_id: practitioner.id.into(),
        discipline: discipline_of(practitioner.discipline),
        locations: hours,
        time_off,
        busy,
    }
}

/// Whose own visits suggested times must not clash with.
#[derive(Debug, Clone, Copy)]
pub struct ForPatient {
    pub patient_id: Uuid,
    /// The appointment being moved: its own time does not count against its new one.
    pub moving: Option<Uuid>,
}

/// The patient's own appointments holding their time over `[from, to)`, but the one being
/// moved, as intervals for `scheduling`.
pub async fn patient_busy<C: ConnectionTrait>(
    db: &C,
    patient: ForPatient,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> ApiResult<Vec<Interval>> {
    let rows = appointments::patient_time(db, patient.patient_id, from, to).await?;
    Ok(busy_intervals(&rows, patient.moving))
}

/// Held time as intervals, leaving out `moving`.
pub fn busy_intervals(rows: &[HeldTime], moving: Option<Uuid>) -> Vec<Interval> {
    rows.iter()
        .filter(|row| Some(row.id) != moving)
        .filter_map(|row| Interval::new(row.starts_at, row.ends_at).ok())
        .collect()
}

/// The next free times with the same practitioner after `after` (none that clashes with the
/// patient's own visits): a courtesy, so a type that cannot be offered any more simply has
/// none.
pub async fn suggestions(
    state: &AppState,
    policies: &ClinicPolicies,
    kind: &appointment_type::Model,
    actor: Actor,
    practitioner_id: Uuid,
    after: DateTime<Utc>,
    patient: Option<ForPatient>,
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
    let Ok(offered) = offered else {
        return Ok(Vec::new());
    };
    let busy = match patient {
        Some(patient) => {
            patient_busy(
                &state.db,
                patient,
                AvailabilityQuery::load_window_of(from, to),
            )
            .await?
        }
        None => Vec::new(),
    };
    Ok(offered
        .next_after(after, Some(practitioner_id.into()), usize::MAX)
        .into_iter()
        .filter(|slot| scheduling::patient_free(&busy, slot.start, slot.end))
        .take(SUGGESTIONS)
        .map(|slot| SuggestedSlot {
            practitioner_id: slot.practitioner_id.uuid(),
            location_id: slot.location_id.uuid(),
            start: slot.start,
            local_start: slot.local_start.to_rfc3339(),
            abbreviation: slot.abbreviation.clone(),
        })
        .collect())
}

/// A booking's refusal as the caller reads it, with the next free times for a slot that is not
/// free.
pub fn refused(refusal: scheduling::BookingRefusal, next_slots: Vec<SuggestedSlot>) -> ApiError {
    // The request names a practitioner or location that takes no bookings: a problem with that
    // field.
    let inactive_field = match refusal.code {
        scheduling::RefusalCode::PractitionerInactive => Some("practitioner_id"),
        scheduling::RefusalCode::LocationInactive => Some("location_id"),
        _ => None,
    };
    if let Some(field) = inactive_field {
        return ApiError::field(
            field,
            refusal.code.as_str(),
            &refusal.message,
            &refusal.message,
        );
    }
    let status = match refusal.kind {
        scheduling::RefusalKind::SlotUnavailable => StatusCode::CONFLICT,
        scheduling::RefusalKind::NotAllowed => StatusCode::UNPROCESSABLE_ENTITY,
        scheduling::RefusalKind::IntakeGate => StatusCode::FORBIDDEN,
    };
    ApiError::Refused {
        status,
        code: refusal.code.as_str(),
        detail: refusal.message,
        next_slots,
    }
}

/// The 409 for a time someone else took first, with what is free instead.
pub async fn slot_taken(
    state: &AppState,
    policies: &ClinicPolicies,
    kind: &appointment_type::Model,
    actor: Actor,
    slot: &Slot,
    patient: ForPatient,
) -> ApiError {
    let next_slots = suggestions(
        state,
        policies,
        kind,
        actor,
        slot.practitioner_id.uuid(),
        slot.start,
        Some(patient),
    )
    .await
    .unwrap_or_default();
    ApiError::Refused {
        status: StatusCode::CONFLICT,
        code: "slot_taken",
        detail: "Someone booked that time a moment ago. Please choose another time.".into(),
        next_slots,
    }
}
