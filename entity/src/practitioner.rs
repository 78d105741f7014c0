//! A practitioner (table `practitioners`), linked to their login.

use sea_orm::entity::prelude::*;

/// What a practitioner practises and an appointment type is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Discipline {
    #[sea_orm(string_value = "chiropractic")]
    Chiropractic,
    #[sea_orm(string_value = "physiotherapy")]
    Physiotherapy,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practitioners")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub user_id: Uuid,
    pub display_name: String,
    pub discipline: Discipline,
    pub active: bool,
    /// SHA-256 of the calendar feed token.
    #[sea_orm(unique)]
    pub calendar_token_hash: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
