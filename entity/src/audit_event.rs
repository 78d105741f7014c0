//! One entry of the append-only audit trail (table `audit_events`): who touched which record,
//! when and with what outcome — never the record's content.

use sea_orm::entity::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum Outcome {
    #[sea_orm(string_value = "allowed")]
    Allowed,
    #[sea_orm(string_value = "denied")]
    Denied,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: DateTimeUtc,
    pub actor_user_id: Option<Uuid>,
    pub actor_role: Option<String>,
    /// What was done, e.g. `patient.read` or `login`.
    pub action: String,
    pub record_type: Option<String>,
    pub record_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
