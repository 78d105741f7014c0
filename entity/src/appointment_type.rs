//! A kind of appointment (table `appointment_types`).

use sea_orm::entity::prelude::*;

use crate::practitioner::Discipline;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointment_types")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub discipline: Discipline,
    pub duration_minutes: i32,
    /// Time the practitioner needs after it (notes, cleaning the room).
    pub buffer_after_minutes: i32,
    /// For patients new to the discipline.
    pub new_patient: bool,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
