//! Appointments and what availability needs to load: working hours, time off and the
//! appointments that hold time, for many practitioners in one query each.

use chrono::{DateTime, Duration, Utc};
use entity::{
    appointment::{self, AppointmentStatus, Column, Entity},
    appointment_type, practitioner, time_off, working_hours,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    IdenStatic, QueryFilter, QueryOrder, QueryResult, QuerySelect, RuntimeErr, TransactionSession,
    TransactionTrait, TryGetError, TryGetable,
    sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query, SelectStatement, UnionType},
};
use uuid::Uuid;

use crate::scheduling::AppointmentType;

/// The statuses that hold the practitioner's and the patient's time (as the database
/// constraint counts them).
pub const HOLDING_TIME: [AppointmentStatus; 3] = [
    AppointmentStatus::Booked,
    AppointmentStatus::CheckedIn,
    AppointmentStatus::Completed,
];

/// Everything availability needs about a set of practitioners over a window of instants.
#[derive(Debug, Clone, Default)]
pub struct CalendarRows {
    pub working_hours: Vec<working_hours::Model>,
    pub time_off: Vec<HeldTime>,
    /// Appointments holding the practitioner's time.
    pub busy: Vec<HeldTime>,
}

/// A stretch of a practitioner's time that is taken: time off, or an appointment (blocked until
/// the end of its buffer; for time off, `blocked_until` is its end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldTime {
    pub id: Uuid,
    pub practitioner_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub blocked_until: DateTime<Utc>,
}

/// One row of the calendar query: weekly hours, time off or an appointment, told apart by
/// `kind`; the columns of the other kinds are null.
#[derive(Debug, FromQueryResult)]
struct CalendarRow {
    kind: String,
    id: Uuid,
    practitioner_id: Uuid,
    location_id: Option<Uuid>,
    weekday: Option<i16>,
    start_minute: Option<i16>,
    end_minute: Option<i16>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    blocked_until: Option<DateTime<Utc>>,
}

const WORKING_HOURS: &str = "hours";
const TIME_OFF: &str = "time_off";
const APPOINTMENT: &str = "appointment";

/// Loads weekly hours, and the time off and time-holding appointments overlapping `[from, to)`,
/// for these practitioners: one query (three parts, `UNION ALL`) whatever their number.
#[tracing::instrument(name = "store.appointments.calendar_rows", skip_all)]
pub async fn calendar_rows<C: ConnectionTrait>(
    db: &C,
    practitioner_ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<CalendarRows, DbErr> {
    if practitioner_ids.is_empty() {
        return Ok(CalendarRows::default());
    }
    let query = calendar_query(practitioner_ids, from, to);
    let loaded = CalendarRow::find_by_statement(db.get_database_backend().build(&query))
        .all(db)
        .await?;
    CalendarRows::from_rows(loaded)
}

/// Adds one practitioner's calendar to a one-row query as arrays (PostgreSQL only): a column
/// per field and part, aggregated in the database and decoded in binary, so a statement that
/// reads more than the calendar reads it in the same round trip.
/// [`CalendarRows::from_arrays`] reads it back.
pub(crate) fn join_calendar_arrays(
    select: &mut SelectStatement,
    practitioner_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) {
    let ids = [practitioner_id];
    let parts = [
        (
            hours_of(&ids),
            HOURS_ARRAYS,
            [
                working_hours::Column::Id,
                working_hours::Column::LocationId,
                working_hours::Column::Weekday,
                working_hours::Column::StartMinute,
                working_hours::Column::EndMinute,
            ]
            .map(|column| column.as_str())
            .to_vec(),
        ),
        (
            time_off_over(&ids, from, to),
            TIME_OFF_ARRAYS,
            [
                time_off::Column::Id,
                time_off::Column::StartsAt,
                time_off::Column::EndsAt,
            ]
            .map(|column| column.as_str())
            .to_vec(),
        ),
        (
            holding_time_over(&ids, from, to),
            BUSY_ARRAYS,
            [
                Column::Id,
                Column::StartsAt,
                Column::EndsAt,
                Column::BlockedUntil,
            ]
            .map(|column| column.as_str())
            .to_vec(),
        ),
    ];
    for (mut part, prefix, columns) in parts {
        let alias = Alias::new(prefix.trim_end_matches('_'));
        for column in columns {
            let name = Alias::new(format!("{prefix}{column}"));
            part.expr_as(
                Func::cust("array_agg").arg(Expr::col(Alias::new(column))),
                name.clone(),
            );
            select.column((alias.clone(), name));
        }
        // An aggregate without GROUP BY is always one row (its arrays null when empty).
        select.join_subquery(JoinType::LeftJoin, part, alias, Expr::cust("TRUE"));
    }
}

/// Column prefixes of [`join_calendar_arrays`].
const HOURS_ARRAYS: &str = "cal_hours_";
const TIME_OFF_ARRAYS: &str = "cal_off_";
const BUSY_ARRAYS: &str = "cal_busy_";

/// The three parts of the calendar, `UNION ALL`, in [`CalendarRow`]'s columns.
fn calendar_query(
    practitioner_ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SelectStatement {
    let no_uuid = || Expr::val(Option::<Uuid>::None);
    let no_minute = || Expr::val(Option::<i16>::None);
    let no_instant = || Expr::val(Option::<DateTime<Utc>>::None);
    let mut query = hours_of(practitioner_ids);
    query
        .expr_as(Expr::val(WORKING_HOURS), Alias::new("kind"))
        .expr_as(Expr::col(working_hours::Column::Id), Alias::new("id"))
        .expr_as(
            Expr::col(working_hours::Column::PractitionerId),
            Alias::new("practitioner_id"),
        )
        .expr_as(
            Expr::col(working_hours::Column::LocationId),
            Alias::new("location_id"),
        )
        .expr_as(
            Expr::col(working_hours::Column::Weekday),
            Alias::new("weekday"),
        )
        .expr_as(
            Expr::col(working_hours::Column::StartMinute),
            Alias::new("start_minute"),
        )
        .expr_as(
            Expr::col(working_hours::Column::EndMinute),
            Alias::new("end_minute"),
        )
        .expr_as(no_instant(), Alias::new("starts_at"))
        .expr_as(no_instant(), Alias::new("ends_at"))
        .expr_as(no_instant(), Alias::new("blocked_until"));
    let mut time_off = time_off_over(practitioner_ids, from, to);
    time_off
        .expr(Expr::val(TIME_OFF))
        .column(time_off::Column::Id)
        .column(time_off::Column::PractitionerId)
        .exprs([no_uuid(), no_minute(), no_minute(), no_minute()])
        .column(time_off::Column::StartsAt)
        .column(time_off::Column::EndsAt)
        .column(time_off::Column::EndsAt);
    let mut appointments = holding_time_over(practitioner_ids, from, to);
    appointments
        .expr(Expr::val(APPOINTMENT))
        .column(Column::Id)
        .column(Column::PractitionerId)
        .exprs([no_uuid(), no_minute(), no_minute(), no_minute()])
        .column(Column::StartsAt)
        .column(Column::EndsAt)
        .column(Column::BlockedUntil);
    query
        .union(UnionType::All, time_off)
        .union(UnionType::All, appointments);
    query
}

/// The practitioners' weekly hours (no columns chosen yet).
fn hours_of(practitioner_ids: &[Uuid]) -> SelectStatement {
    Query::select()
        .from(working_hours::Entity)
        .and_where(
            Expr::col(working_hours::Column::PractitionerId)
                .is_in(practitioner_ids.iter().copied()),
        )
        .to_owned()
}

/// The practitioners' time off overlapping `[from, to)` (no columns chosen yet).
fn time_off_over(
    practitioner_ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SelectStatement {
    Query::select()
        .from(time_off::Entity)
        .and_where(
            Expr::col(time_off::Column::PractitionerId).is_in(practitioner_ids.iter().copied()),
        )
        .and_where(Expr::col(time_off::Column::StartsAt).lt(to))
        .and_where(Expr::col(time_off::Column::EndsAt).gt(from))
        .to_owned()
}

/// A lower bound on the start of any appointment holding time at `from`: no appointment holds
/// more than the longest visit plus the longest buffer, so the (practitioner, start) index can
/// skip the practitioner's history.
pub(crate) fn holding_starts_after(from: DateTime<Utc>) -> DateTime<Utc> {
    from - Duration::minutes(
        AppointmentType::MAX_DURATION_MINUTES + AppointmentType::MAX_BUFFER_MINUTES,
    )
}

/// The practitioners' appointments holding time in `[from, to)` (no columns chosen yet).
fn holding_time_over(
    practitioner_ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SelectStatement {
    Query::select()
        .from(Entity)
        .and_where(Expr::col(Column::PractitionerId).is_in(practitioner_ids.iter().copied()))
        .and_where(Expr::col(Column::Status).is_in(HOLDING_TIME))
        .and_where(Expr::col(Column::StartsAt).lt(to))
        .and_where(Expr::col(Column::StartsAt).gt(holding_starts_after(from)))
        .and_where(Expr::col(Column::BlockedUntil).gt(from))
        .to_owned()
}

impl CalendarRows {
    /// The calendar of one practitioner from [`join_calendar_arrays`]' columns of `row`.
    pub(crate) fn from_arrays(row: &QueryResult, practitioner_id: Uuid) -> Result<Self, DbErr> {
        fn array<T>(
            row: &QueryResult,
            prefix: &str,
            column: impl IdenStatic,
        ) -> Result<Vec<T>, DbErr>
        where
            Vec<T>: TryGetable,
        {
            let name = format!("{prefix}{}", column.as_str());
            // Not `Option<Vec<T>>`: sea-orm reads a missing column as None, which would be an
            // empty calendar here rather than an error.
            match Vec::<T>::try_get(row, "", &name) {
                Ok(values) => Ok(values),
                Err(TryGetError::Null(_)) => Ok(Vec::new()),
                Err(TryGetError::DbErr(err)) => Err(err),
            }
        }
        let lengths_differ = || DbErr::Custom("calendar arrays of different lengths".into());
        let mut rows = Self::default();
        let ids: Vec<Uuid> = array(row, HOURS_ARRAYS, working_hours::Column::Id)?;
        let locations: Vec<Uuid> = array(row, HOURS_ARRAYS, working_hours::Column::LocationId)?;
        let weekdays: Vec<i16> = array(row, HOURS_ARRAYS, working_hours::Column::Weekday)?;
        let starts: Vec<i16> = array(row, HOURS_ARRAYS, working_hours::Column::StartMinute)?;
        let ends: Vec<i16> = array(row, HOURS_ARRAYS, working_hours::Column::EndMinute)?;
        if [locations.len(), weekdays.len(), starts.len(), ends.len()] != [ids.len(); 4] {
            return Err(lengths_differ());
        }
        for (n, id) in ids.into_iter().enumerate() {
            rows.working_hours.push(working_hours::Model {
                id,
                practitioner_id,
                location_id: locations[n],
                weekday: weekdays[n],
                start_minute: starts[n],
                end_minute: ends[n],
            });
        }
        let held = |prefix: &str, blocked_until: Option<Column>| -> Result<Vec<HeldTime>, DbErr> {
            let ids: Vec<Uuid> = array(row, prefix, Column::Id)?;
            let starts: Vec<DateTime<Utc>> = array(row, prefix, Column::StartsAt)?;
            let ends: Vec<DateTime<Utc>> = array(row, prefix, Column::EndsAt)?;
            let blocked: Vec<DateTime<Utc>> = match blocked_until {
                Some(column) => array(row, prefix, column)?,
                None => ends.clone(),
            };
            if [starts.len(), ends.len(), blocked.len()] != [ids.len(); 3] {
                return Err(lengths_differ());
            }
            Ok((0..ids.len())
                .map(|n| HeldTime {
                    id: ids[n],
                    practitioner_id,
                    starts_at: starts[n],
                    ends_at: ends[n],
                    blocked_until: blocked[n],
                })
                .collect())
        };
        // Time off's columns are named as the appointment's (id, starts_at, ends_at).
        rows.time_off = held(TIME_OFF_ARRAYS, None)?;
        rows.busy = held(BUSY_ARRAYS, Some(Column::BlockedUntil))?;
        rows.sort_hours();
        Ok(rows)
    }

    fn from_rows(loaded: Vec<CalendarRow>) -> Result<Self, DbErr> {
        let mut rows = Self::default();
        for row in loaded {
            let kind = row.kind.clone();
            match (kind.as_str(), row) {
                (
                    WORKING_HOURS,
                    CalendarRow {
                        id,
                        practitioner_id,
                        location_id: Some(location_id),
                        weekday: Some(weekday),
                        start_minute: Some(start_minute),
                        end_minute: Some(end_minute),
                        ..
                    },
                ) => rows.working_hours.push(working_hours::Model {
                    id,
                    practitioner_id,
                    location_id,
                    weekday,
                    start_minute,
                    end_minute,
                }),
                (
                    kind @ (TIME_OFF | APPOINTMENT),
                    CalendarRow {
                        id,
                        practitioner_id,
                        starts_at: Some(starts_at),
                        ends_at: Some(ends_at),
                        blocked_until: Some(blocked_until),
                        ..
                    },
                ) => {
                    let held = HeldTime {
                        id,
                        practitioner_id,
                        starts_at,
                        ends_at,
                        blocked_until,
                    };
                    if kind == TIME_OFF {
                        rows.time_off.push(held);
                    } else {
                        rows.busy.push(held);
                    }
                }
                (kind, row) => {
                    return Err(DbErr::Custom(format!(
                        "calendar row of kind {kind} with missing columns: {row:?}"
                    )));
                }
            }
        }
        rows.sort_hours();
        Ok(rows)
    }

    /// Intervals of one practitioner and location in weekday order, as the hours are entered.
    fn sort_hours(&mut self) {
        self.working_hours.sort_by_key(|row| {
            (
                row.practitioner_id,
                row.location_id,
                row.weekday,
                row.start_minute,
            )
        });
    }
}

/// Active practitioners, optionally one.
#[tracing::instrument(name = "store.appointments.bookable_practitioners", skip_all)]
pub async fn bookable_practitioners<C: ConnectionTrait>(
    db: &C,
    only: Option<Uuid>,
) -> Result<Vec<practitioner::Model>, DbErr> {
    let mut query = practitioner::Entity::find().filter(practitioner::Column::Active.eq(true));
    if let Some(id) = only {
        query = query.filter(practitioner::Column::Id.eq(id));
    }
    query.order_by_asc(practitioner::Column::Id).all(db).await
}

#[tracing::instrument(name = "store.appointments.find_type", skip_all)]
pub async fn find_type<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<appointment_type::Model>, DbErr> {
    appointment_type::Entity::find_by_id(id).one(db).await
}

#[tracing::instrument(name = "store.appointments.find", skip_all)]
pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<appointment::Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// The appointment, locked until the caller's transaction ends, for a change decided on what
/// it holds now: a concurrent change waits and then decides on this one's result, so two
/// desks checking in (or cancelling) the same visit at once change it once. (PostgreSQL
/// `FOR UPDATE`; SQLite already holds its write lock for the whole transaction.)
#[tracing::instrument(name = "store.appointments.find_for_update", skip_all)]
pub async fn find_for_update<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<appointment::Model>, DbErr> {
    Entity::find_by_id(id).lock_exclusive().one(db).await
}

/// A booking as stored.
pub struct NewAppointment {
    pub patient_id: Uuid,
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    pub appointment_type_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub blocked_until: DateTime<Utc>,
    pub override_reason: Option<String>,
    pub created_by: Uuid,
}

/// Why a write was refused by the database.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The exclusion constraint (Postgres) or trigger (SQLite): the time is taken.
    #[error("the time overlaps another appointment")]
    Overlap,
    /// A deadlock or serialization failure (PostgreSQL) that outlasted
    /// [`CONTENTION_RETRIES`]: writes to the same times kept colliding.
    #[error("concurrent writes to the same time kept colliding")]
    Contended,
    #[error(transparent)]
    Database(#[from] DbErr),
}

pub(crate) fn classify(err: DbErr) -> WriteError {
    let (code, message) = match &err {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            match sqlx.as_database_error() {
                Some(db) => (
                    db.code().map(|code| code.into_owned()),
                    db.message().to_owned(),
                ),
                None => (None, String::new()),
            }
        }
        _ => (None, String::new()),
    };
    match code.as_deref() {
        Some("23P01") => WriteError::Overlap,
        // Deadlock detected; serialization failure.
        Some("40P01" | "40001") => WriteError::Contended,
        _ if message.contains("appointment_overlap") => WriteError::Overlap,
        _ => WriteError::Database(err),
    }
}

/// How often a write that lost a deadlock or a serialization failure is tried again.
pub const CONTENTION_RETRIES: u32 = 3;

/// Runs `write` again when it loses a deadlock or a serialization failure, up to
/// [`CONTENTION_RETRIES`] times after a short, jittered pause. PostgreSQL aborts the losing
/// statement whole when exclusion constraints of overlapping bookings wait on each other; its
/// retry then finds what the winner wrote (an overlap, so `409 slot_taken`) or a free time.
pub(crate) async fn retry_contended<T, Fut>(mut write: impl FnMut() -> Fut) -> Result<T, WriteError>
where
    Fut: Future<Output = Result<T, WriteError>>,
{
    let mut retries = 0;
    loop {
        match write().await {
            Err(WriteError::Contended) if retries < CONTENTION_RETRIES => {
                retries += 1;
                tracing::debug!(retries, "a write lost a deadlock; trying again");
                tokio::time::sleep(contention_pause(retries)).await;
            }
            outcome => return outcome,
        }
    }
}

/// 5, 10, 20 ms and up to as much again at random, so the writers that collided do not
/// collide again in step.
fn contention_pause(retries: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = 5u64 << Ord::min(retries.saturating_sub(1), 6);
    let jitter = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % (base + 1);
    std::time::Duration::from_millis(base + jitter)
}

/// The row a new booking stores (written by `store::booking::write`).
pub fn new_row(now: DateTime<Utc>, new: NewAppointment) -> appointment::Model {
    appointment::Model {
        id: Uuid::now_v7(),
        patient_id: new.patient_id,
        practitioner_id: new.practitioner_id,
        location_id: new.location_id,
        appointment_type_id: new.appointment_type_id,
        starts_at: new.starts_at,
        ends_at: new.ends_at,
        blocked_until: new.blocked_until,
        status: AppointmentStatus::Booked,
        sequence: 0,
        cancel_reason: None,
        cancelled_late: false,
        override_reason: new.override_reason,
        created_by: Some(new.created_by),
        created_at: now,
        updated_at: now,
    }
}

/// Saves a changed appointment (moved, cancelled, a status change). Inside the caller's
/// transaction it runs in a savepoint, so a deadlock it loses is retried
/// ([`retry_contended`]) without aborting the rest of the unit of work.
#[tracing::instrument(name = "store.appointments.save", skip_all)]
pub async fn save<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    changed: appointment::ActiveModel,
) -> Result<appointment::Model, WriteError> {
    retry_contended(|| {
        let changed = changed.clone();
        async move {
            let savepoint = db.begin().await?;
            match changed.update(&savepoint).await {
                Ok(saved) => {
                    savepoint.commit().await?;
                    Ok(saved)
                }
                Err(err) => {
                    savepoint.rollback().await?;
                    Err(classify(err))
                }
            }
        }
    })
    .await
}

/// Which appointments a list shows.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Practitioner(Uuid),
    Location(Uuid),
    Patient(Uuid),
}

/// Appointments of one practitioner, location or patient starting in `[from, to)` (either
/// bound optional), by start, at most 500.
#[tracing::instrument(name = "store.appointments.list", skip_all)]
pub async fn list<C: ConnectionTrait>(
    db: &C,
    scope: Scope,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<appointment::Model>, DbErr> {
    let mut query = match scope {
        Scope::Practitioner(id) => Entity::find().filter(Column::PractitionerId.eq(id)),
        Scope::Location(id) => Entity::find().filter(Column::LocationId.eq(id)),
        Scope::Patient(id) => Entity::find().filter(Column::PatientId.eq(id)),
    };
    if let Some(from) = from {
        query = query.filter(Column::StartsAt.gte(from));
    }
    if let Some(to) = to {
        query = query.filter(Column::StartsAt.lt(to));
    }
    query
        .order_by_asc(Column::StartsAt)
        .order_by_asc(Column::Id)
        .limit(500)
        .all(db)
        .await
}

/// The whole clinic's appointments on one day, where "the day" is each location's own:
/// `days` names every location with the instants of that date on its clock, and an
/// appointment is listed when it starts inside its location's `[from, to)`. By start, then
/// practitioner, at most 500 (as every list).
#[tracing::instrument(name = "store.appointments.list_clinic_day", skip_all)]
pub async fn list_clinic_day<C: ConnectionTrait>(
    db: &C,
    days: &[(Uuid, DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<appointment::Model>, DbErr> {
    if days.is_empty() {
        return Ok(Vec::new());
    }
    // One statement for all locations, so the order and the limit apply to the whole day.
    let any_location = days
        .iter()
        .fold(Condition::any(), |any, (location, from, to)| {
            any.add(
                Condition::all()
                    .add(Column::LocationId.eq(*location))
                    .add(Column::StartsAt.gte(*from))
                    .add(Column::StartsAt.lt(*to)),
            )
        });
    Entity::find()
        .filter(any_location)
        .order_by_asc(Column::StartsAt)
        .order_by_asc(Column::PractitionerId)
        .order_by_asc(Column::Id)
        .limit(500)
        .all(db)
        .await
}

/// The lifecycle's statuses as stored: one table, read both ways.
const STATUSES: [(AppointmentStatus, crate::scheduling::AppointmentStatus); 5] = [
    (
        AppointmentStatus::Booked,
        crate::scheduling::AppointmentStatus::Booked,
    ),
    (
        AppointmentStatus::CheckedIn,
        crate::scheduling::AppointmentStatus::CheckedIn,
    ),
    (
        AppointmentStatus::Completed,
        crate::scheduling::AppointmentStatus::Completed,
    ),
    (
        AppointmentStatus::NoShow,
        crate::scheduling::AppointmentStatus::NoShow,
    ),
    (
        AppointmentStatus::Cancelled,
        crate::scheduling::AppointmentStatus::Cancelled,
    ),
];

/// A stored status as the lifecycle rules read it.
pub fn lifecycle_status(stored: AppointmentStatus) -> crate::scheduling::AppointmentStatus {
    STATUSES.iter().find(|(row, _)| *row == stored).map_or(
        crate::scheduling::AppointmentStatus::Cancelled,
        |(_, status)| *status,
    )
}

/// The stored form of a lifecycle status.
pub fn stored_status(status: crate::scheduling::AppointmentStatus) -> AppointmentStatus {
    STATUSES
        .iter()
        .find(|(_, lifecycle)| *lifecycle == status)
        .map_or(AppointmentStatus::Cancelled, |(row, _)| *row)
}

// ---------------------------------------------------------------------------------------------
// The patient's own time: a patient is in one place at a time, whoever they see
// ---------------------------------------------------------------------------------------------

/// One of the patient's appointments that holds their time.
#[derive(Debug, FromQueryResult)]
struct PatientTimeRow {
    id: Uuid,
    practitioner_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// The appointments of the patient(s) `patient` selects that hold time in `[from, to)`; an
/// appointment holds the patient until its end (the buffer is the practitioner's).
fn patient_time_over(
    patient: sea_orm::sea_query::SimpleExpr,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SelectStatement {
    Query::select()
        .from(Entity)
        .and_where(patient)
        .and_where(Expr::col(Column::Status).is_in(HOLDING_TIME))
        .and_where(Expr::col(Column::StartsAt).lt(to))
        .and_where(Expr::col(Column::StartsAt).gt(holding_starts_after(from)))
        .and_where(Expr::col(Column::EndsAt).gt(from))
        .to_owned()
}

const PATIENT_ARRAYS: &str = "pat_busy_";

/// The patient's appointments holding time in `[from, to)` (as [`HeldTime`], blocked until
/// their end).
#[tracing::instrument(name = "store.appointments.patient_time", skip_all)]
pub async fn patient_time<C: ConnectionTrait>(
    db: &C,
    patient_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<HeldTime>, DbErr> {
    let mut query = patient_time_over(Expr::col(Column::PatientId).eq(patient_id), from, to);
    query.columns([
        Column::Id,
        Column::PractitionerId,
        Column::StartsAt,
        Column::EndsAt,
    ]);
    let rows = PatientTimeRow::find_by_statement(db.get_database_backend().build(&query))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| HeldTime {
            id: row.id,
            practitioner_id: row.practitioner_id,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            blocked_until: row.ends_at,
        })
        .collect())
}

/// Adds the patient's time (as [`patient_time`] reads it) to a one-row query as arrays
/// (PostgreSQL only), so a booking reads it in the same statement as its other facts.
pub(crate) fn join_patient_arrays(
    select: &mut SelectStatement,
    patient: sea_orm::sea_query::SimpleExpr,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) {
    let mut part = patient_time_over(patient, from, to);
    let alias = Alias::new(PATIENT_ARRAYS.trim_end_matches('_'));
    for column in [
        Column::Id,
        Column::PractitionerId,
        Column::StartsAt,
        Column::EndsAt,
    ] {
        let name = Alias::new(format!("{PATIENT_ARRAYS}{}", column.as_str()));
        part.expr_as(Func::cust("array_agg").arg(Expr::col(column)), name.clone());
        select.column((alias.clone(), name));
    }
    select.join_subquery(JoinType::LeftJoin, part, alias, Expr::cust("TRUE"));
}

/// The patient's time from [`join_patient_arrays`]' columns of `row`.
pub(crate) fn patient_time_from_arrays(row: &QueryResult) -> Result<Vec<HeldTime>, DbErr> {
    fn array<T>(row: &QueryResult, column: Column) -> Result<Vec<T>, DbErr>
    where
        Vec<T>: TryGetable,
    {
        let name = format!("{PATIENT_ARRAYS}{}", column.as_str());
        match Vec::<T>::try_get(row, "", &name) {
            Ok(values) => Ok(values),
            Err(TryGetError::Null(_)) => Ok(Vec::new()),
            Err(TryGetError::DbErr(err)) => Err(err),
        }
    }
    let ids: Vec<Uuid> = array(row, Column::Id)?;
    let practitioners: Vec<Uuid> = array(row, Column::PractitionerId)?;
    let starts: Vec<DateTime<Utc>> = array(row, Column::StartsAt)?;
    let ends: Vec<DateTime<Utc>> = array(row, Column::EndsAt)?;
    if [practitioners.len(), starts.len(), ends.len()] != [ids.len(); 3] {
        return Err(DbErr::Custom(
            "patient time arrays of different lengths".into(),
        ));
    }
    Ok((0..ids.len())
        .map(|n| HeldTime {
            id: ids[n],
            practitioner_id: practitioners[n],
            starts_at: starts[n],
            ends_at: ends[n],
            blocked_until: ends[n],
        })
        .collect())
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn every_status_is_stored_and_read_back_as_itself() {
        for (stored, lifecycle) in STATUSES {
            assert_eq!(lifecycle_status(stored), lifecycle);
            assert_eq!(stored_status(lifecycle), stored);
        }
    }
}

#[cfg(test)]
mod contention_tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Losing a deadlock `losses` times, then writing.
    async fn attempts_until_written(losses: u32) -> (Result<&'static str, WriteError>, u32) {
        let attempts = AtomicU32::new(0);
        let outcome = retry_contended(|| {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                if attempt < losses {
                    Err(WriteError::Contended)
                } else {
                    Ok("written")
                }
            }
        })
        .await;
        (outcome, attempts.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_lost_deadlock_is_retried_a_bounded_number_of_times() {
        let (written, attempts) = attempts_until_written(CONTENTION_RETRIES).await;
        assert_eq!(written.ok(), Some("written"));
        assert_eq!(attempts, CONTENTION_RETRIES + 1);
        let (gave_up, attempts) = attempts_until_written(CONTENTION_RETRIES + 1).await;
        assert!(matches!(gave_up, Err(WriteError::Contended)));
        assert_eq!(attempts, CONTENTION_RETRIES + 1);
    }

    #[tokio::test]
    async fn an_overlap_is_not_retried() {
        let attempts = AtomicU32::new(0);
        let outcome: Result<(), WriteError> = retry_contended(|| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Err(WriteError::Overlap) }
        })
        .await;
        assert!(matches!(outcome, Err(WriteError::Overlap)));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn pauses_grow_and_stay_short() {
        for retries in 1..=CONTENTION_RETRIES {
            let pause = contention_pause(retries);
            let base = 5u64 << (retries - 1);
            assert!(pause.as_millis() >= u128::from(base), "{pause:?}");
            assert!(pause.as_millis() <= u128::from(2 * base), "{pause:?}");
        }
    }
}
