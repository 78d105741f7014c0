//! One weekly working interval (table `working_hours`), in the location's local time.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "working_hours")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    /// ISO weekday, 1 = Monday.
    pub weekday: i16,
    /// Local minutes after midnight.
    pub start_minute: i16,
    pub end_minute: i16,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
