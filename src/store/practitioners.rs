//! Practitioners, where they work, their weekly hours and their time off.

use chrono::{DateTime, Utc};
use entity::{
    practitioner::{self, Discipline},
    practitioner_location, time_off, working_hours,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

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

pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<practitioner::Model>, DbErr> {
    practitioner::Entity::find_by_id(id).one(db).await
}

pub async fn find_by_user<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Option<practitioner::Model>, DbErr> {
    practitioner::Entity::find()
        .filter(practitioner::Column::UserId.eq(user_id))
        .one(db)
        .await
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<practitioner::Model>, DbErr> {
    practitioner::Entity::find()
        .order_by_asc(practitioner::Column::DisplayName)
        .order_by_asc(practitioner::Column::Id)
        .all(db)
        .await
}

/// The locations a practitioner works at.
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
pub async fn all_location_ids<C: ConnectionTrait>(
    db: &C,
) -> Result<std::collections::HashMap<Uuid, Vec<Uuid>>, DbErr> {
    let mut by_practitioner: std::collections::HashMap<Uuid, Vec<Uuid>> = Default::default();
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

/// Replaces every weekly interval of the practitioner (call inside a transaction).
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

/// Time off that has not ended by `now`, soonest first.
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
