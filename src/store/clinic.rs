//! Clinic setup: locations, appointment types and the booking policies (one row).

use chrono::{DateTime, Utc};
use entity::{appointment_type, clinic_policy, location, practitioner::Discipline};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryOrder, sea_query::OnConflict,
};
use uuid::Uuid;

use crate::scheduling::{ClinicPolicies, ClinicPoliciesInput};

#[tracing::instrument(name = "store.clinic.create_location", skip_all)]
pub async fn create_location<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    name: String,
    address: String,
    time_zone: String,
) -> Result<location::Model, DbErr> {
    location::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        address: Set(address),
        time_zone: Set(time_zone),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

#[tracing::instrument(name = "store.clinic.locations", skip_all)]
pub async fn locations<C: ConnectionTrait>(db: &C) -> Result<Vec<location::Model>, DbErr> {
    location::Entity::find()
        .order_by_asc(location::Column::Name)
        .order_by_asc(location::Column::Id)
        .all(db)
        .await
}

#[tracing::instrument(name = "store.clinic.find_location", skip_all)]
pub async fn find_location<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<location::Model>, DbErr> {
    location::Entity::find_by_id(id).one(db).await
}

/// What may change on a location (its zone may not: hours and visits are read in it).
#[derive(Debug, Clone, Default)]
pub struct LocationChanges {
    pub name: Option<String>,
    pub address: Option<String>,
    pub active: Option<bool>,
}

/// Applies `changes` to the location; `None` if there is no such location.
#[tracing::instrument(name = "store.clinic.update_location", skip_all)]
pub async fn update_location<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    changes: LocationChanges,
) -> Result<Option<location::Model>, DbErr> {
    let Some(found) = location::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let mut row = found.into_active_model();
    if let Some(name) = changes.name {
        row.name = Set(name);
    }
    if let Some(address) = changes.address {
        row.address = Set(address);
    }
    if let Some(active) = changes.active {
        row.active = Set(active);
    }
    row.updated_at = Set(now);
    Ok(Some(row.update(db).await?))
}

/// What may change on an appointment type (not its discipline: its visits were booked with
/// practitioners of that one).
#[derive(Debug, Clone, Default)]
pub struct AppointmentTypeChanges {
    pub name: Option<String>,
    pub duration_minutes: Option<i32>,
    pub buffer_after_minutes: Option<i32>,
    pub new_patient: Option<bool>,
    pub active: Option<bool>,
}

/// Applies `changes` to the type; `None` if there is no such type. Booked visits keep the
/// times they were booked with.
#[tracing::instrument(name = "store.clinic.update_appointment_type", skip_all)]
pub async fn update_appointment_type<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    changes: AppointmentTypeChanges,
) -> Result<Option<appointment_type::Model>, DbErr> {
    let Some(found) = appointment_type::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let mut row = found.into_active_model();
    if let Some(name) = changes.name {
        row.name = Set(name);
    }
    if let Some(minutes) = changes.duration_minutes {
        row.duration_minutes = Set(minutes);
    }
    if let Some(minutes) = changes.buffer_after_minutes {
        row.buffer_after_minutes = Set(minutes);
    }
    if let Some(new_patient) = changes.new_patient {
        row.new_patient = Set(new_patient);
    }
    if let Some(active) = changes.active {
        row.active = Set(active);
    }
    row.updated_at = Set(now);
    Ok(Some(row.update(db).await?))
}

pub struct NewAppointmentType {
    pub name: String,
    pub discipline: Discipline,
    pub duration_minutes: i32,
    pub buffer_after_minutes: i32,
    pub new_patient: bool,
    pub active: bool,
}

#[tracing::instrument(name = "store.clinic.create_appointment_type", skip_all)]
pub async fn create_appointment_type<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    new: NewAppointmentType,
) -> Result<appointment_type::Model, DbErr> {
    appointment_type::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(new.name),
        discipline: Set(new.discipline),
        duration_minutes: Set(new.duration_minutes),
        buffer_after_minutes: Set(new.buffer_after_minutes),
        new_patient: Set(new.new_patient),
        active: Set(new.active),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

#[tracing::instrument(name = "store.clinic.appointment_types", skip_all)]
pub async fn appointment_types<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<appointment_type::Model>, DbErr> {
    appointment_type::Entity::find()
        .order_by_asc(appointment_type::Column::Discipline)
        .order_by_asc(appointment_type::Column::Name)
        .order_by_asc(appointment_type::Column::Id)
        .all(db)
        .await
}

/// The clinic's policies as entered; the defaults until an admin sets them.
#[tracing::instrument(name = "store.clinic.policies", skip_all)]
pub async fn policies<C: ConnectionTrait>(db: &C) -> Result<ClinicPoliciesInput, DbErr> {
    Ok(policies_of(
        clinic_policy::Entity::find_by_id(1i16).one(db).await?,
    ))
}

/// The policies a stored row (or its absence: the defaults) stands for.
pub fn policies_of(row: Option<clinic_policy::Model>) -> ClinicPoliciesInput {
    match row {
        Some(row) => ClinicPoliciesInput {
            slot_grid_minutes: i64::from(row.slot_grid_minutes),
            min_notice_minutes: i64::from(row.min_notice_minutes),
            horizon_days: i64::from(row.horizon_days),
            cancellation_window_minutes: i64::from(row.cancellation_window_minutes),
            reminder_lead_minutes: i64::from(row.reminder_lead_minutes),
            follow_up_delay_days: i64::from(row.follow_up_delay_days),
        },
        None => ClinicPolicies::default().to_input(),
    }
}

/// Stores validated policies (the validation bounds keep every value well inside `i32`).
#[tracing::instrument(name = "store.clinic.save_policies", skip_all)]
pub async fn save_policies<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    input: ClinicPoliciesInput,
) -> Result<(), DbErr> {
    let narrow = |value: i64| i32::try_from(value).unwrap_or(i32::MAX);
    let row = clinic_policy::ActiveModel {
        id: Set(1),
        slot_grid_minutes: Set(narrow(input.slot_grid_minutes)),
        min_notice_minutes: Set(narrow(input.min_notice_minutes)),
        horizon_days: Set(narrow(input.horizon_days)),
        cancellation_window_minutes: Set(narrow(input.cancellation_window_minutes)),
        reminder_lead_minutes: Set(narrow(input.reminder_lead_minutes)),
        follow_up_delay_days: Set(narrow(input.follow_up_delay_days)),
        updated_at: Set(now),
    };
    clinic_policy::Entity::insert(row)
        .on_conflict(
            OnConflict::column(clinic_policy::Column::Id)
                .update_columns([
                    clinic_policy::Column::SlotGridMinutes,
                    clinic_policy::Column::MinNoticeMinutes,
                    clinic_policy::Column::HorizonDays,
                    clinic_policy::Column::CancellationWindowMinutes,
                    clinic_policy::Column::ReminderLeadMinutes,
                    clinic_policy::Column::FollowUpDelayDays,
                    clinic_policy::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
