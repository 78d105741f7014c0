//! The clinic's booking policies (table `clinic_policies`, a single row with id 1).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clinic_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i16,
    pub slot_grid_minutes: i32,
    pub min_notice_minutes: i32,
    pub horizon_days: i32,
    pub cancellation_window_minutes: i32,
    pub reminder_lead_minutes: i32,
    pub follow_up_delay_days: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
