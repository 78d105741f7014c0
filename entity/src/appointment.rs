//! An appointment (table `appointments`). The database refuses overlapping active appointments
//! of one practitioner (with the buffer after) or one patient.

use sea_orm::entity::prelude::*;

/// `booked -> checked_in -> completed | no_show`, `booked -> cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AppointmentStatus {
    #[sea_orm(string_value = "booked")]
    Booked,
    #[sea_orm(string_value = "checked_in")]
    CheckedIn,
    #[sea_orm(string_value = "completed")]
    Completed,
    #[sea_orm(string_value = "no_show")]
    NoShow,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    pub appointment_type_id: Uuid,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    /// `ends_at` plus the type's buffer.
    pub blocked_until: DateTimeUtc,
    pub status: AppointmentStatus,
    /// The calendar invite's SEQUENCE.
    pub sequence: i32,
    pub cancel_reason: Option<String>,
    pub cancelled_late: bool,
    pub override_reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
