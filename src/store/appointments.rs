//! Appointments and what availability needs to load: working hours, time off and the
//! appointments that hold time, for many practitioners in one query each.

use chrono::{DateTime, Duration, Utc};
use entity::{
    appointment::{self, AppointmentStatus, Column, Entity},
    appointment_type, practitioner, time_off, working_hours,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, RuntimeErr,
    sea_query::{Alias, Expr, ExprTrait, Query, UnionType},
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
pub struct CalendarRows {
    pub working_hours: Vec<working_hours::Model>,
    pub time_off: Vec<HeldTime>,
    /// Appointments holding the practitioner's time.
    pub busy: Vec<HeldTime>,
}

/// A stretch of a practitioner's time that is taken: time off, or an appointment (blocked until
/// the end of its buffer; for time off, `blocked_until` is its end).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct HeldTime {
    pub id: Uuid,
    pub practitioner_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub blocked_until: DateTime<Utc>,
    kind: String,
}

const HELD_BY_TIME_OFF: &str = "time_off";
const HELD_BY_APPOINTMENT: &str = "appointment";

/// Loads hours, and time off and time-holding appointments overlapping `[from, to)`, for these
/// practitioners: two queries whatever their number.
pub async fn calendar_rows<C: ConnectionTrait>(
    db: &C,
    practitioner_ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<CalendarRows, DbErr> {
    if practitioner_ids.is_empty() {
        return Ok(CalendarRows {
            working_hours: Vec::new(),
            time_off: Vec::new(),
            busy: Vec::new(),
        });
    }
    let ids = practitioner_ids.iter().copied();
    let working_hours = working_hours::Entity::find()
        .filter(working_hours::Column::PractitionerId.is_in(ids.clone()))
        .order_by_asc(working_hours::Column::PractitionerId)
        .order_by_asc(working_hours::Column::LocationId)
        .order_by_asc(working_hours::Column::Weekday)
        .order_by_asc(working_hours::Column::StartMinute)
        .all(db)
        .await?;
    let mut time_off = Query::select();
    time_off
        .column(time_off::Column::Id)
        .column(time_off::Column::PractitionerId)
        .column(time_off::Column::StartsAt)
        .column(time_off::Column::EndsAt)
        .expr_as(
            Expr::col(time_off::Column::EndsAt),
            Alias::new("blocked_until"),
        )
        .expr_as(Expr::val(HELD_BY_TIME_OFF), Alias::new("kind"))
        .from(time_off::Entity)
        .and_where(Expr::col(time_off::Column::PractitionerId).is_in(ids.clone()))
        .and_where(Expr::col(time_off::Column::StartsAt).lt(to))
        .and_where(Expr::col(time_off::Column::EndsAt).gt(from));
    // No appointment holds more than the longest visit plus the longest buffer, so this lower
    // bound on the start lets the (practitioner, start) index skip the practitioner's history.
    let longest = Duration::minutes(
        AppointmentType::MAX_DURATION_MINUTES + AppointmentType::MAX_BUFFER_MINUTES,
    );
    let mut appointments = Query::select();
    appointments
        .column(Column::Id)
        .column(Column::PractitionerId)
        .column(Column::StartsAt)
        .column(Column::EndsAt)
        .column(Column::BlockedUntil)
        .expr_as(Expr::val(HELD_BY_APPOINTMENT), Alias::new("kind"))
        .from(Entity)
        .and_where(Expr::col(Column::PractitionerId).is_in(ids))
        .and_where(Expr::col(Column::Status).is_in(HOLDING_TIME))
        .and_where(Expr::col(Column::StartsAt).lt(to))
        .and_where(Expr::col(Column::StartsAt).gt(from - longest))
        .and_where(Expr::col(Column::BlockedUntil).gt(from));
    // One round trip for both kinds of taken time.
    time_off.union(UnionType::All, appointments);
    let held = HeldTime::find_by_statement(db.get_database_backend().build(&time_off))
        .all(db)
        .await?;
    let (time_off, busy) = held
        .into_iter()
        .partition(|row| row.kind == HELD_BY_TIME_OFF);
    Ok(CalendarRows {
        working_hours,
        time_off,
        busy,
    })
}

/// Active practitioners, optionally one.
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

pub async fn find_type<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<appointment_type::Model>, DbErr> {
    appointment_type::Entity::find_by_id(id).one(db).await
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<appointment::Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
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
    #[error(transparent)]
    Database(#[from] DbErr),
}

pub(crate) fn classify(err: DbErr) -> WriteError {
    let overlap = match &err {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            sqlx.as_database_error().is_some_and(|db| {
                db.code().as_deref() == Some("23P01")
                    || db.message().contains("appointment_overlap")
            })
        }
        _ => false,
    };
    if overlap {
        WriteError::Overlap
    } else {
        WriteError::Database(err)
    }
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

/// Saves a changed appointment (moved, cancelled, a status change).
pub async fn save<C: ConnectionTrait>(
    db: &C,
    changed: appointment::ActiveModel,
) -> Result<appointment::Model, WriteError> {
    changed.update(db).await.map_err(classify)
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
