//! A practitioner's decision on a flagged intake (table `review_decisions`).

use sea_orm::entity::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum Decision {
    /// Safe for chiropractic or physiotherapy care; lets an urgent patient book.
    #[sea_orm(string_value = "cleared_for_care")]
    ClearedForCare,
    #[sea_orm(string_value = "refer_to_gp")]
    ReferToGp,
    #[sea_orm(string_value = "refer_to_emergency")]
    ReferToEmergency,
    #[sea_orm(string_value = "contacted_patient")]
    ContactedPatient,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "review_decisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub intake_id: Uuid,
    pub decided_by: Uuid,
    pub decision: Decision,
    #[sea_orm(column_type = "Text")]
    pub note: String,
    pub decided_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
