//! Practitioners: who practises what where, their weekly working hours (local to each
//! location's zone), their time off, and their calendar feed. The front desk and admins keep
//! them; everyone signed in reads the practitioners and their hours; the clinic team reads time
//! off. A practitioner manages their own calendar feed token, the front desk and admins
//! anyone's; the token is the feed's only credential.

use chrono::{DateTime, Duration, Utc};
use entity::{practitioner, time_off, user::Role, working_hours};
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Record, Subject},
    error::{ApiError, ApiResult, ClashingAppointment},
    notify::calendar::{self, FeedEvent},
    scheduling::{
        self, Actor, Discipline, HeldVisit, LocationHoursInput, StoredInterval, TimeOffDecision,
        ValidationCode, ValidationError, ValidationErrors, Workplace,
    },
    service::{
        Caller, Work,
        access::{CLINIC_SETUP, EVERYONE, TEAM_AND_ADMINS},
        availability::{self, discipline_of, zone_of},
        clinic::stored_discipline,
    },
    store::{
        clinic,
        practitioners::{self, FeedAppointment},
        scope, users,
    },
};

/// How far back the calendar feed reaches, so today's finished appointments stay visible.
const FEED_LOOKBACK: Duration = Duration::days(1);

/// A bookable practitioner and the locations they work at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practitioner {
    pub id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub discipline: Discipline,
    pub location_ids: Vec<Uuid>,
    pub active: bool,
}

impl Practitioner {
    fn of(row: practitioner::Model, location_ids: Vec<Uuid>) -> Self {
        Self {
            location_ids,
            id: row.id,
            user_id: row.user_id,
            display_name: row.display_name,
            discipline: discipline_of(row.discipline),
            active: row.active,
        }
    }
}

/// Makes a practitioner account bookable.
#[derive(Debug, Clone)]
pub struct NewPractitioner {
    /// An active account with the practitioner role.
    pub user_id: Uuid,
    pub discipline: Discipline,
    /// Where they work.
    pub location_ids: Vec<Uuid>,
}

/// A 422 for one field.
fn one_problem(field: &str, code: ValidationCode, message: &str) -> ApiError {
    ValidationErrors::from(ValidationError::new(field, code, message)).into()
}

/// Makes a practitioner account bookable: its discipline and locations (front desk, admins).
#[tracing::instrument(name = "service.practitioners.create", skip_all)]
pub async fn create(
    state: &AppState,
    caller: &Caller,
    command: NewPractitioner,
) -> ApiResult<Practitioner> {
    caller.require(state, CLINIC_SETUP).await?;
    let account = users::find(&state.db, command.user_id)
        .await?
        .filter(|user| user.role == Role::Practitioner && user.disabled_at.is_none())
        .ok_or_else(|| {
            one_problem(
                "user_id",
                ValidationCode::Required,
                "Give the id of an active account with the practitioner role.",
            )
        })?;
    if practitioners::find_by_user(&state.db, account.id)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "practitioner_exists",
            detail: "This account is a practitioner already.".into(),
        });
    }
    known_locations(state, &command.location_ids).await?;
    let work = Work::begin(state, caller).await?;
    let created = practitioners::create(
        work.db(),
        work.now(),
        account.id,
        account.display_name,
        stored_discipline(command.discipline),
        &command.location_ids,
    )
    .await?;
    let location_ids = practitioners::location_ids(work.db(), created.id).await?;
    work.commit().await?;
    Ok(Practitioner::of(created, location_ids))
}

/// Changes to a practitioner; what is not given stays.
#[derive(Debug, Clone, Default)]
pub struct PractitionerUpdate {
    /// Where they work from now on (at least one). Their hours at a location left out go.
    pub location_ids: Option<Vec<Uuid>>,
    /// Whether they take new bookings. Deactivating keeps their appointments, which still
    /// show (for the front desk to move); nothing of theirs is offered any more.
    pub active: Option<bool>,
}

/// Edits, deactivates or reactivates a practitioner (front desk, admins); a 404 if there is
/// none. One whose account is disabled cannot be reactivated (they could not sign in to see
/// their schedule): enable the account first.
#[tracing::instrument(name = "service.practitioners.update", skip_all)]
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    command: PractitionerUpdate,
) -> ApiResult<Practitioner> {
    caller.require(state, CLINIC_SETUP).await?;
    let practitioner = existing(state, id).await?;
    if command.active == Some(true) {
        let account = users::find(&state.db, practitioner.user_id).await?;
        if account
            .as_ref()
            .is_some_and(|user| user.role != Role::Practitioner)
        {
            return Err(ApiError::Conflict {
                code: "not_a_practitioner",
                detail: "This account no longer has the practitioner role; an administrator \
                         gives it back before they take bookings again."
                    .into(),
            });
        }
        if account.is_none_or(|user| user.disabled_at.is_some()) {
            return Err(ApiError::Conflict {
                code: "account_disabled",
                detail: "This practitioner's account is disabled; enable it before they take \
                         bookings again."
                    .into(),
            });
        }
    }
    if let Some(location_ids) = &command.location_ids {
        known_locations(state, location_ids).await?;
    }
    let work = Work::begin(state, caller).await?;
    let updated = practitioners::update(
        work.db(),
        work.now(),
        practitioner.id,
        command.active,
        command.location_ids.as_deref(),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    let location_ids = practitioners::location_ids(work.db(), updated.id).await?;
    work.commit().await?;
    Ok(Practitioner::of(updated, location_ids))
}

/// A 422 naming the first id that is no location.
async fn known_locations(state: &AppState, location_ids: &[Uuid]) -> ApiResult<()> {
    let known: Vec<Uuid> = clinic::locations(&state.db)
        .await?
        .into_iter()
        .map(|location| location.id)
        .collect();
    match location_ids.iter().position(|id| !known.contains(id)) {
        Some(index) => Err(one_problem(
            &format!("location_ids[{index}]"),
            ValidationCode::Required,
            "No location has this id.",
        )),
        None => Ok(()),
    }
}

/// The practitioners, by name.
#[tracing::instrument(name = "service.practitioners.list", skip_all)]
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<Practitioner>> {
    caller.require(state, EVERYONE).await?;
    let mut locations = practitioners::all_location_ids(&state.db).await?;
    Ok(practitioners::list(&state.db)
        .await?
        .into_iter()
        .map(|row| {
            let location_ids = locations.remove(&row.id).unwrap_or_default();
            Practitioner::of(row, location_ids)
        })
        .collect())
}

/// An account that could be made bookable: the practitioner role, enabled, not yet a
/// practitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
}

/// The accounts [`create`] would accept (front desk, admins), by name: the clinic
/// settings offer them rather than asking for an account id.
#[tracing::instrument(name = "service.practitioners.candidates", skip_all)]
pub async fn candidates(state: &AppState, caller: &Caller) -> ApiResult<Vec<Candidate>> {
    caller.require(state, CLINIC_SETUP).await?;
    let taken: Vec<Uuid> = practitioners::list(&state.db)
        .await?
        .into_iter()
        .map(|row| row.user_id)
        .collect();
    Ok(users::active_with_role(&state.db, Role::Practitioner)
        .await?
        .into_iter()
        .filter(|user| !taken.contains(&user.id))
        .map(|user| Candidate {
            user_id: user.id,
            display_name: user.display_name,
            email: user.email,
        })
        .collect())
}

/// What the clinic settings show of one practitioner: who they are, the locations they may
/// work at, their weekly hours and their time off still to come.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub practitioner: Practitioner,
    pub locations: Vec<crate::service::clinic::Location>,
    pub hours: Vec<LocationWeek>,
    pub time_off: Vec<TimeOff>,
}

/// A practitioner's schedule for those who keep it (front desk, admins); a 404 if there is
/// none.
#[tracing::instrument(name = "service.practitioners.schedule", skip_all)]
pub async fn schedule(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Schedule> {
    caller.require(state, CLINIC_SETUP).await?;
    let row = existing(state, id).await?;
    let location_ids = practitioners::location_ids(&state.db, row.id).await?;
    let hours = weeks(practitioners::working_hours(&state.db, row.id).await?);
    let time_off = practitioners::upcoming_time_off(&state.db, row.id, state.clock.now())
        .await?
        .into_iter()
        .map(TimeOff::from)
        .collect();
    let locations = clinic::locations(&state.db)
        .await?
        .into_iter()
        .map(crate::service::clinic::Location::from)
        .collect();
    Ok(Schedule {
        practitioner: Practitioner::of(row, location_ids),
        locations,
        hours,
        time_off,
    })
}

/// A practitioner by id, or a 404.
async fn existing(state: &AppState, id: Uuid) -> ApiResult<practitioner::Model> {
    practitioners::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// One location's weekly intervals as stored: weekdays and minutes on the location's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationWeek {
    pub location_id: Uuid,
    pub intervals: Vec<StoredInterval>,
}

/// Replaces the practitioner's weekly hours at every location (front desk, admins). Each
/// location must be one they work at; the intervals are checked by `scheduling`, every problem
/// listed at once. Answers the week as stored.
#[tracing::instrument(name = "service.practitioners.set_hours", skip_all)]
pub async fn set_hours(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    week: Vec<LocationHoursInput>,
) -> ApiResult<Vec<LocationWeek>> {
    caller.require(state, CLINIC_SETUP).await?;
    let practitioner = existing(state, id).await?;
    let policies = availability::policies(&state.db).await?;
    let works_at = practitioners::location_ids(&state.db, practitioner.id).await?;
    let workplaces = clinic::locations(&state.db)
        .await?
        .iter()
        .filter(|location| works_at.contains(&location.id))
        .map(|location| {
            Ok(Workplace {
                location_id: location.id.into(),
                zone: zone_of(location)?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let checked = scheduling::check_weekly_schedule(
        &week,
        &workplaces,
        policies.slot_grid(),
        state.local_today(),
    )?;
    let work = Work::begin(state, caller).await?;
    let rows = practitioners::working_interval_rows(&checked);
    practitioners::replace_working_hours(work.db(), practitioner.id, rows).await?;
    let stored = practitioners::working_hours(work.db(), practitioner.id).await?;
    work.commit().await?;
    Ok(weeks(stored))
}

/// The practitioner's weekly hours, per location (everyone signed in).
#[tracing::instrument(name = "service.practitioners.hours", skip_all)]
pub async fn hours(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Vec<LocationWeek>> {
    caller.require(state, EVERYONE).await?;
    let practitioner = existing(state, id).await?;
    let stored = practitioners::working_hours(&state.db, practitioner.id).await?;
    Ok(weeks(stored))
}

/// Stored rows (ordered by location) grouped per location.
fn weeks(rows: Vec<working_hours::Model>) -> Vec<LocationWeek> {
    let mut weeks: Vec<LocationWeek> = Vec::new();
    for row in rows {
        let Some(interval) = practitioners::stored_interval(&row) else {
            tracing::warn!(working_hours_id = %row.id, "unreadable stored working hours; left out");
            continue;
        };
        match weeks.last_mut() {
            Some(last) if last.location_id == row.location_id => last.intervals.push(interval),
            _ => weeks.push(LocationWeek {
                location_id: row.location_id,
                intervals: vec![interval],
            }),
        }
    }
    weeks
}

/// A period a practitioner is away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOff {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// For colleagues; never shown to patients.
    pub reason: String,
}

impl From<time_off::Model> for TimeOff {
    fn from(row: time_off::Model) -> Self {
        Self {
            id: row.id,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            reason: row.reason,
        }
    }
}

/// Time off to record: absolute instants, the end after the start, and a reason.
#[derive(Debug, Clone)]
pub struct NewTimeOff {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    /// The desk knows visits are booked in the period and keeps them (each kept one audited).
    pub keep_appointments: bool,
}

/// Records time off (front desk, admins). Time off over the practitioner's booked visits is
/// refused with those visits listed (409 `time_off_clashes`) unless the command keeps them.
#[tracing::instrument(name = "service.practitioners.add_time_off", skip_all)]
pub async fn add_time_off(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    command: NewTimeOff,
) -> ApiResult<TimeOff> {
    caller.require(state, CLINIC_SETUP).await?;
    let practitioner = existing(state, id).await?;
    let period = scheduling::TimeOff::new(command.starts_at, command.ends_at, &command.reason)
        .map_err(|errors| {
            // The pure module names the interval's ends; the command names them as stored.
            errors
                .into_iter()
                .map(|error| match error.field.as_str() {
                    "end" => error.for_field("ends_at"),
                    "start" => error.for_field("starts_at"),
                    _ => error,
                })
                .collect::<ValidationErrors>()
        })?;
    // Read inside the write so a visit booked a moment ago is seen (SQLite serialises writers).
    let work = Work::begin(state, caller).await?;
    let held = practitioners::held_visits(
        work.db(),
        practitioner.id,
        command.starts_at,
        command.ends_at,
    )
    .await?;
    let visits: Vec<HeldVisit<usize>> = held
        .iter()
        .enumerate()
        .filter_map(|(index, row)| {
            Some(HeldVisit {
                id: index,
                interval: scheduling::Interval::new(row.starts_at, row.ends_at).ok()?,
            })
        })
        .collect();
    match scheduling::check_time_off(&period, &visits, command.keep_appointments) {
        TimeOffDecision::Clear => {}
        TimeOffDecision::KeepsVisits(kept) => {
            for row in kept.into_iter().filter_map(|index| held.get(index)) {
                let subject =
                    Subject::record(Record::Appointment(row.id)).for_patient(row.patient_id);
                work.allowed(Action::TimeOffKeepsAppointment, subject)
                    .await?;
            }
        }
        TimeOffDecision::Clashes(clashing) => {
            let appointments: Vec<ClashingAppointment> = clashing
                .into_iter()
                .filter_map(|index| held.get(index))
                .map(|row| ClashingAppointment {
                    id: row.id,
                    starts_at: row.starts_at,
                    ends_at: row.ends_at,
                    patient_id: row.patient_id,
                    patient_name: format!("{} {}", row.patient_given_name, row.patient_family_name),
                })
                .collect();
            work.rollback().await?;
            return Err(ApiError::TimeOffClashes {
                detail: format!(
                    "{} booked appointment(s) fall in this time off. Move or cancel them first, \
                     or send `keep_appointments: true` to keep them.",
                    appointments.len()
                ),
                appointments,
            });
        }
    }
    let created = practitioners::add_time_off(
        work.db(),
        work.now(),
        practitioner.id,
        command.starts_at,
        command.ends_at,
        command.reason.trim().to_owned(),
        caller.user_id(),
    )
    .await?;
    work.commit().await?;
    Ok(created.into())
}

/// Time off that has not ended yet, soonest first (the clinic team and admins).
#[tracing::instrument(name = "service.practitioners.time_off", skip_all)]
pub async fn time_off(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Vec<TimeOff>> {
    caller.require(state, TEAM_AND_ADMINS).await?;
    let practitioner = existing(state, id).await?;
    let rows =
        practitioners::upcoming_time_off(&state.db, practitioner.id, state.clock.now()).await?;
    Ok(rows.into_iter().map(TimeOff::from).collect())
}

/// Removes a period of time off (front desk, admins); a 404 if the practitioner has no such
/// period.
#[tracing::instrument(name = "service.practitioners.remove_time_off", skip_all)]
pub async fn remove_time_off(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    time_off_id: Uuid,
) -> ApiResult<()> {
    caller.require(state, CLINIC_SETUP).await?;
    let work = Work::begin(state, caller).await?;
    let removed = practitioners::remove_time_off(work.db(), id, time_off_id).await?;
    work.commit().await?;
    if removed {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// A new calendar feed token, shown once (only its hash is stored), and the feed's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarToken {
    pub token: String,
    /// The feed's address, token included, to subscribe to in a calendar app.
    pub url: String,
}

/// The practitioner whose calendar token the caller may manage: the clinic team and admins
/// only, and a practitioner only their own. Another's is a 404, as if it did not exist, and is
/// not audited (the feed token is no patient record).
async fn manageable(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<practitioner::Model> {
    caller.require(state, TEAM_AND_ADMINS).await?;
    scope::practitioner(&state.db, caller.practitioner_scope(), id)
        .await?
        .visible()
        .ok_or(ApiError::NotFound)
}

/// Issues a new calendar feed token for the practitioner (the previous one stops working).
#[tracing::instrument(name = "service.practitioners.issue_calendar_token", skip_all)]
pub async fn issue_calendar_token(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<CalendarToken> {
    let practitioner = manageable(state, caller, id).await?;
    let work = Work::begin(state, caller).await?;
    let token = practitioners::issue_calendar_token(work.db(), work.now(), practitioner.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    work.allowed(
        Action::CalendarTokenIssue,
        Record::User(practitioner.user_id),
    )
    .await?;
    work.commit().await?;
    let url = state.link(
        &format!("api/v1/practitioners/{}/calendar.ics", practitioner.id),
        &token,
    );
    Ok(CalendarToken { token, url })
}

/// Revokes the practitioner's calendar feed token: subscriptions stop updating. Revoking
/// when there is none is not an error.
#[tracing::instrument(name = "service.practitioners.revoke_calendar_token", skip_all)]
pub async fn revoke_calendar_token(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<()> {
    let practitioner = manageable(state, caller, id).await?;
    let work = Work::begin(state, caller).await?;
    if !practitioners::revoke_calendar_token(work.db(), work.now(), practitioner.id).await? {
        return Err(ApiError::NotFound);
    }
    work.allowed(
        Action::CalendarTokenRevoke,
        Record::User(practitioner.user_id),
    )
    .await?;
    work.commit().await
}

/// The practitioner's calendar feed (iCalendar): booked and checked-in appointments from a day
/// ago to the booking horizon, patients by their initials. No caller: the `token` is the
/// credential, and a missing, wrong or revoked one is a 404.
#[tracing::instrument(name = "service.practitioners.calendar_feed", skip_all)]
pub async fn calendar_feed(state: &AppState, id: Uuid, token: Option<&str>) -> ApiResult<String> {
    let Some(presented) = token.filter(|token| !token.is_empty()) else {
        return Err(ApiError::NotFound);
    };
    let practitioner = practitioners::find_by_calendar_token(&state.db, id, presented)
        .await?
        .ok_or(ApiError::NotFound)?;
    let policies = availability::policies(&state.db).await?;
    let now = state.clock.now();
    // As far ahead as anyone may book, and a day back so today stays visible.
    let horizon = policies.booking_window(Actor::Staff, now).latest;
    let since = now.checked_sub_signed(FEED_LOOKBACK).unwrap_or(now);
    let rows = practitioners::calendar_feed(&state.db, practitioner.id, since, horizon).await?;
    let events = rows.iter().map(feed_event).collect::<ApiResult<Vec<_>>>()?;
    Ok(calendar::feed(&practitioner.display_name, &events, now))
}

/// One loaded appointment as the feed shows it, on its location's clock.
fn feed_event(row: &FeedAppointment) -> ApiResult<FeedEvent<'_>> {
    let time_zone = row.time_zone.parse().map_err(|_| {
        ApiError::internal(anyhow::anyhow!(
            "a stored location has an unknown time zone"
        ))
    })?;
    Ok(FeedEvent {
        appointment_id: row.id,
        sequence: u32::try_from(row.sequence).unwrap_or_default(),
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        time_zone,
        patient_given_name: &row.patient_given_name,
        patient_family_name: &row.patient_family_name,
        appointment_type: &row.appointment_type,
        location: &row.location,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Weekday;

    use super::*;

    fn row(
        location_id: Uuid,
        weekday: i16,
        start_minute: i16,
        end_minute: i16,
    ) -> working_hours::Model {
        working_hours::Model {
            id: Uuid::now_v7(),
            practitioner_id: Uuid::nil(),
            location_id,
            weekday,
            start_minute,
            end_minute,
        }
    }

    #[test]
    fn stored_hours_are_grouped_per_location_in_their_order() {
        let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let grouped = weeks(vec![
            row(first, 1, 540, 720),
            row(first, 1, 780, 1020),
            row(second, 7, 0, 1440),
            row(second, 9, 0, 60),
        ]);
        let interval = |weekday, start_minute, end_minute| StoredInterval {
            weekday,
            start_minute,
            end_minute,
        };
        assert_eq!(
            grouped,
            [
                LocationWeek {
                    location_id: first,
                    intervals: vec![
                        interval(Weekday::Mon, 540, 720),
                        interval(Weekday::Mon, 780, 1020),
                    ],
                },
                LocationWeek {
                    location_id: second,
                    intervals: vec![interval(Weekday::Sun, 0, 1440)],
                },
            ],
            "a weekday no code writes is left out"
        );
        assert!(weeks(Vec::new()).is_empty());
    }
}
