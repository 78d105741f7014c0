//! A single-use token sent by email (table `account_tokens`), stored as its SHA-256 hash.

use sea_orm::entity::prelude::*;

/// What the token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Purpose {
    /// Confirms a self-registered patient's address.
    #[sea_orm(string_value = "verify_email")]
    VerifyEmail,
    /// Lets a patient the front desk registered set a password.
    #[sea_orm(string_value = "invitation")]
    Invitation,
    /// Opens one follow-up questionnaire, without logging in.
    #[sea_orm(string_value = "follow_up")]
    FollowUp,
    /// Confirms the new address a patient with a login asked to use.
    #[sea_orm(string_value = "change_email")]
    ChangeEmail,
    /// Lets an account's owner, who forgot their password, choose a new one.
    #[sea_orm(string_value = "password_reset")]
    PasswordReset,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub purpose: Purpose,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub user_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
