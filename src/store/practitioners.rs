//! Practitioners, where they work, their weekly hours, their time off and their calendar feed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    appointment::{self, AppointmentStatus},
    appointment_type, location, patient,
    practitioner::{self, Discipline},
    practitioner_location, time_off, working_hours,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use super::secrets::{hash, new_secret};
use crate::scheduling::{LocationHours, StoredInterval, weekday_from_iso};

#[tracing::instrument(name = "store.practitioners.create", skip_all)]
pub async fn create<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    user_id: Uuid,
    display_name: String,
    discipline: Discipline,
    location_ids: &[Uuid],
) -> Result<practitioner::Model, DbErr> {
    let created = practitioner::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        display_name: Set(display_name),
        discipline: Set(discipline),
        active: Set(true),
        calendar_token_hash: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    for location_id in location_ids {
        practitioner_location::ActiveModel {
            practitioner_id: Set(created.id),
            location_id: Set(*location_id),
        }
        .insert(db)
        .await?;
    }
    Ok(created)
}

#[tracing::instrument(name = "store.practitioners.find", skip_all)]
pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<practitioner::Model>, DbErr> {
    practitioner::Entity::find_by_id(id).one(db).await
}

#[tracing::instrument(name = "store.practitioners.find_by_user", skip_all)]
pub async fn find_by_user<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Option<practitioner::Model>, DbErr> {
    practitioner::Entity::find()
        .filter(practitioner::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// Takes the practitioner whose account is `user_id` (if the account is a practitioner's) off
/// the booking list: availability offers none of their times and a booking is refused. Their
/// appointments stay, for the front desk to move.
#[tracing::instrument(name = "store.practitioners.deactivate_for_user", skip_all)]
pub async fn deactivate_for_user<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    user_id: Uuid,
) -> Result<(), DbErr> {
    practitioner::Entity::update_many()
        .col_expr(practitioner::Column::Active, Expr::value(false))
        .col_expr(practitioner::Column::UpdatedAt, Expr::value(now))
        .filter(practitioner::Column::UserId.eq(user_id))
        .filter(practitioner::Column::Active.eq(true))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets whether the practitioner takes bookings, and (when given) where they work: hours at a
/// location they no longer work at go with it, so nothing is offered there; their booked
/// visits stay. `None` if there is no such practitioner.
#[tracing::instrument(name = "store.practitioners.update", skip_all)]
pub async fn update<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    active: Option<bool>,
    location_ids: Option<&[Uuid]>,
) -> Result<Option<practitioner::Model>, DbErr> {
    let Some(found) = practitioner::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    if let Some(location_ids) = location_ids {
        working_hours::Entity::delete_many()
            .filter(working_hours::Column::PractitionerId.eq(id))
            .filter(working_hours::Column::LocationId.is_not_in(location_ids.iter().copied()))
            .exec(db)
            .await?;
        practitioner_location::Entity::delete_many()
            .filter(practitioner_location::Column::PractitionerId.eq(id))
            .exec(db)
            .await?;
        for location_id in location_ids {
            practitioner_location::ActiveModel {
                practitioner_id: Set(id),
                location_id: Set(*location_id),
            }
            .insert(db)
            .await?;
        }
    }
    let mut row: practitioner::ActiveModel = found.into();
    if let Some(active) = active {
        row.active = Set(active);
    }
    row.updated_at = Set(now);
    Ok(Some(row.update(db).await?))
}

#[tracing::instrument(name = "store.practitioners.list", skip_all)]
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<practitioner::Model>, DbErr> {
    practitioner::Entity::find()
        .order_by_asc(practitioner::Column::DisplayName)
        .order_by_asc(practitioner::Column::Id)
        .all(db)
        .await
}

/// The locations a practitioner works at.
#[tracing::instrument(name = "store.practitioners.location_ids", skip_all)]
pub async fn location_ids<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    Ok(practitioner_location::Entity::find()
        .filter(practitioner_location::Column::PractitionerId.eq(practitioner_id))
        .order_by_asc(practitioner_location::Column::LocationId)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.location_id)
        .collect())
}

/// Every practitioner's locations, in one query.
#[tracing::instrument(name = "store.practitioners.all_location_ids", skip_all)]
pub async fn all_location_ids<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<Uuid, Vec<Uuid>>, DbErr> {
    let mut by_practitioner: HashMap<Uuid, Vec<Uuid>> = Default::default();
    for row in practitioner_location::Entity::find()
        .order_by_asc(practitioner_location::Column::LocationId)
        .all(db)
        .await?
    {
        by_practitioner
            .entry(row.practitioner_id)
            .or_default()
            .push(row.location_id);
    }
    Ok(by_practitioner)
}

/// One interval to store: location, ISO weekday (1 = Monday), local minutes.
pub struct NewWorkingInterval {
    pub location_id: Uuid,
    pub weekday: i16,
    pub start_minute: i16,
    pub end_minute: i16,
}

/// The rows that store validated weekly hours, location by location, in input order.
pub fn working_interval_rows(locations: &[LocationHours]) -> Vec<NewWorkingInterval> {
    locations
        .iter()
        .flat_map(|location| {
            location
                .hours
                .intervals()
                .iter()
                .map(|interval| NewWorkingInterval {
                    location_id: location.location_id.uuid(),
                    // ISO weekday 1..=7 and minutes up to 1440 fit an i16.
                    weekday: interval.weekday.number_from_monday() as i16,
                    start_minute: interval.start.minutes() as i16,
                    end_minute: interval.end.minutes() as i16,
                })
        })
        .collect()
}

/// A stored interval as the pure `scheduling` module reads it: the weekday and the minutes,
/// never `HH:MM` text. `None` for a row outside what [`working_interval_rows`] writes.
pub fn stored_interval(row: &working_hours::Model) -> Option<StoredInterval> {
    Some(StoredInterval {
        weekday: weekday_from_iso(row.weekday)?,
        start_minute: u32::try_from(row.start_minute).ok()?,
        end_minute: u32::try_from(row.end_minute).ok()?,
    })
}

/// Replaces every weekly interval of the practitioner (call inside a transaction).
#[tracing::instrument(name = "store.practitioners.replace_working_hours", skip_all)]
pub async fn replace_working_hours<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Uuid,
    intervals: Vec<NewWorkingInterval>,
) -> Result<(), DbErr> {
    working_hours::Entity::delete_many()
        .filter(working_hours::Column::PractitionerId.eq(practitioner_id))
        .exec(db)
        .await?;
    for interval in intervals {
        working_hours::ActiveModel {
            id: Set(Uuid::now_v7()),
            practitioner_id: Set(practitioner_id),
            location_id: Set(interval.location_id),
            weekday: Set(interval.weekday),
            start_minute: Set(interval.start_minute),
            end_minute: Set(interval.end_minute),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

#[tracing::instrument(name = "store.practitioners.working_hours", skip_all)]
pub async fn working_hours<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Uuid,
) -> Result<Vec<working_hours::Model>, DbErr> {
    working_hours::Entity::find()
        .filter(working_hours::Column::PractitionerId.eq(practitioner_id))
        .order_by_asc(working_hours::Column::LocationId)
        .order_by_asc(working_hours::Column::Weekday)
        .order_by_asc(working_hours::Column::StartMinute)
        .all(db)
        .await
}

#[tracing::instrument(name = "store.practitioners.add_time_off", skip_all)]
pub async fn add_time_off<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    practitioner_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    reason: String,
    created_by: Uuid,
) -> Result<time_off::Model, DbErr> {
    time_off::ActiveModel {
        id: Set(Uuid::now_v7()),
        practitioner_id: Set(practitioner_id),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        reason: Set(reason),
        created_by: Set(Some(created_by)),
        created_at: Set(now),
    }
    .insert(db)
    .await
}

/// A visit that holds the practitioner's time, with the patient's name for the front desk.
#[derive(Debug, Clone)]
pub struct HeldVisitRow {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub patient_id: Uuid,
    pub patient_given_name: String,
    pub patient_family_name: String,
}

/// The practitioner's booked and checked-in visits overlapping `[from, to)`, by start. Two
/// queries: the visits, then their patients' names (names only, nothing clinical).
#[tracing::instrument(name = "store.practitioners.held_visits", skip_all)]
pub async fn held_visits<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<HeldVisitRow>, DbErr> {
    let visits = appointment::Entity::find()
        .filter(appointment::Column::PractitionerId.eq(practitioner_id))
        .filter(
            appointment::Column::Status
                .is_in([AppointmentStatus::Booked, AppointmentStatus::CheckedIn]),
        )
        .filter(appointment::Column::StartsAt.lt(to))
        .filter(appointment::Column::EndsAt.gt(from))
        .order_by_asc(appointment::Column::StartsAt)
        .order_by_asc(appointment::Column::Id)
        .all(db)
        .await?;
    if visits.is_empty() {
        return Ok(Vec::new());
    }
    let mut patient_ids: Vec<Uuid> = visits.iter().map(|row| row.patient_id).collect();
    patient_ids.sort_unstable();
    patient_ids.dedup();
    let names: HashMap<Uuid, (String, String)> = patient::Entity::find()
        .select_only()
        .column(patient::Column::Id)
        .column(patient::Column::GivenName)
        .column(patient::Column::FamilyName)
        .filter(patient::Column::Id.is_in(patient_ids))
        .into_tuple::<(Uuid, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, given, family)| (id, (given, family)))
        .collect();
    Ok(visits
        .into_iter()
        .filter_map(|row| {
            let (given, family) = names.get(&row.patient_id)?;
            Some(HeldVisitRow {
                id: row.id,
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                patient_id: row.patient_id,
                patient_given_name: given.clone(),
                patient_family_name: family.clone(),
            })
        })
        .collect())
}

/// Time off that has not ended by `now`, soonest first.
#[tracing::instrument(name = "store.practitioners.upcoming_time_off", skip_all)]
pub async fn upcoming_time_off<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<time_off::Model>, DbErr> {
    time_off::Entity::find()
        .filter(time_off::Column::PractitionerId.eq(practitioner_id))
        .filter(time_off::Column::EndsAt.gt(now))
        .order_by_asc(time_off::Column::StartsAt)
        .order_by_asc(time_off::Column::Id)
        .all(db)
        .await
}

/// Removes one period of time off; `false` if the practitioner has no such period.
#[tracing::instrument(name = "store.practitioners.remove_time_off", skip_all)]
pub async fn remove_time_off<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let removed = time_off::Entity::delete_many()
        .filter(time_off::Column::Id.eq(id))
        .filter(time_off::Column::PractitionerId.eq(practitioner_id))
        .exec(db)
        .await?;
    Ok(removed.rows_affected == 1)
}

/// Gives the practitioner a new calendar feed token and returns it; only its hash is kept, so
/// the previous token stops working. `None` if there is no such practitioner.
#[tracing::instrument(name = "store.practitioners.issue_calendar_token", skip_all)]
pub async fn issue_calendar_token<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    practitioner_id: Uuid,
) -> Result<Option<String>, DbErr> {
    let secret = new_secret()?;
    let updated = set_calendar_token_hash(db, now, practitioner_id, Some(hash(&secret))).await?;
    Ok(updated.then_some(secret))
}

/// Revokes the practitioner's calendar feed token; `false` if there is no such practitioner.
#[tracing::instrument(name = "store.practitioners.revoke_calendar_token", skip_all)]
pub async fn revoke_calendar_token<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    practitioner_id: Uuid,
) -> Result<bool, DbErr> {
    set_calendar_token_hash(db, now, practitioner_id, None).await
}

async fn set_calendar_token_hash<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    practitioner_id: Uuid,
    token_hash: Option<String>,
) -> Result<bool, DbErr> {
    let updated = practitioner::Entity::update_many()
        .col_expr(
            practitioner::Column::CalendarTokenHash,
            Expr::value(token_hash),
        )
        .col_expr(practitioner::Column::UpdatedAt, Expr::value(now))
        .filter(practitioner::Column::Id.eq(practitioner_id))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The practitioner, if `presented` is their live calendar feed token.
#[tracing::instrument(name = "store.practitioners.find_by_calendar_token", skip_all)]
pub async fn find_by_calendar_token<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Uuid,
    presented: &str,
) -> Result<Option<practitioner::Model>, DbErr> {
    practitioner::Entity::find()
        .filter(practitioner::Column::Id.eq(practitioner_id))
        .filter(practitioner::Column::CalendarTokenHash.eq(hash(presented)))
        .one(db)
        .await
}

/// One appointment of a calendar feed, with just what the feed shows.
#[derive(Debug, Clone)]
pub struct FeedAppointment {
    pub id: Uuid,
    pub sequence: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Read for the initials only.
    pub patient_given_name: String,
    pub patient_family_name: String,
    pub appointment_type: String,
    pub location: String,
    /// The location's IANA zone.
    pub time_zone: String,
}

/// The practitioner's booked and checked-in appointments starting in `[from, to]`, by start.
/// Four queries whatever the number of appointments: the appointments, then their patients'
/// names, types and locations in one batch each.
#[tracing::instrument(name = "store.practitioners.calendar_feed", skip_all)]
pub async fn calendar_feed<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<FeedAppointment>, DbErr> {
    let appointments = appointment::Entity::find()
        .filter(appointment::Column::PractitionerId.eq(practitioner_id))
        .filter(
            appointment::Column::Status
                .is_in([AppointmentStatus::Booked, AppointmentStatus::CheckedIn]),
        )
        .filter(appointment::Column::StartsAt.gte(from))
        .filter(appointment::Column::StartsAt.lte(to))
        .order_by_asc(appointment::Column::StartsAt)
        .order_by_asc(appointment::Column::Id)
        .all(db)
        .await?;
    if appointments.is_empty() {
        return Ok(Vec::new());
    }
    let ids = |pick: fn(&appointment::Model) -> Uuid| {
        let mut ids: Vec<Uuid> = appointments.iter().map(pick).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    // Names only: the feed never needs the rest of the patient's record.
    let names: HashMap<Uuid, (String, String)> = patient::Entity::find()
        .select_only()
        .column(patient::Column::Id)
        .column(patient::Column::GivenName)
        .column(patient::Column::FamilyName)
        .filter(patient::Column::Id.is_in(ids(|row| row.patient_id)))
        .into_tuple::<(Uuid, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, given, family)| (id, (given, family)))
        .collect();
    let types: HashMap<Uuid, String> = appointment_type::Entity::find()
        .filter(appointment_type::Column::Id.is_in(ids(|row| row.appointment_type_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.id, row.name))
        .collect();
    let locations: HashMap<Uuid, location::Model> = location::Entity::find()
        .filter(location::Column::Id.is_in(ids(|row| row.location_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect();
    // The foreign keys guarantee every lookup; a missing row would drop that entry, not the feed.
    Ok(appointments
        .into_iter()
        .filter_map(|row| {
            let (given, family) = names.get(&row.patient_id)?;
            let kind = types.get(&row.appointment_type_id)?;
            let place = locations.get(&row.location_id)?;
            Some(FeedAppointment {
                id: row.id,
                sequence: row.sequence,
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                patient_given_name: given.clone(),
                patient_family_name: family.clone(),
                appointment_type: kind.clone(),
                location: place.name.clone(),
                time_zone: place.time_zone.clone(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::Weekday;

    use super::*;
    use crate::scheduling::{SlotGrid, WeeklyHours, WorkingIntervalInput, Zone};

    #[test]
    fn validated_hours_are_stored_as_iso_weekdays_and_minutes_and_read_back() {
        let location_id = Uuid::now_v7();
        let hours = WeeklyHours::new(
            &[
                WorkingIntervalInput::new(Weekday::Sun, "13:00", "24:00"),
                WorkingIntervalInput::new(Weekday::Mon, "09:00", "12:00"),
            ],
            SlotGrid::default(),
        )
        .unwrap();
        let rows = working_interval_rows(&[LocationHours {
            location_id: location_id.into(),
            zone: Zone::parse("Europe/London").unwrap(),
            hours,
        }]);
        let stored: Vec<(Uuid, i16, i16, i16)> = rows
            .iter()
            .map(|row| {
                (
                    row.location_id,
                    row.weekday,
                    row.start_minute,
                    row.end_minute,
                )
            })
            .collect();
        assert_eq!(
            stored,
            [(location_id, 7, 780, 1440), (location_id, 1, 540, 720)],
            "in input order"
        );

        let read = |row: &NewWorkingInterval| {
            stored_interval(&working_hours::Model {
                id: Uuid::now_v7(),
                practitioner_id: Uuid::now_v7(),
                location_id: row.location_id,
                weekday: row.weekday,
                start_minute: row.start_minute,
                end_minute: row.end_minute,
            })
        };
        assert_eq!(
            read(&rows[0]),
            Some(StoredInterval {
                weekday: Weekday::Sun,
                start_minute: 780,
                end_minute: 1440,
            })
        );
        for (weekday, start_minute) in [(0, 0), (8, 0), (1, -1)] {
            let odd = NewWorkingInterval {
                location_id,
                weekday,
                start_minute,
                end_minute: 60,
            };
            assert_eq!(read(&odd), None, "{weekday} {start_minute}");
        }
    }
}
