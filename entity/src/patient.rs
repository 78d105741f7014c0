//! A patient's record (table `patients`): demographics only; clinical records refer to it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's own login, once they have one.
    #[sea_orm(unique)]
    pub user_id: Option<Uuid>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: Date,
    /// Contact address, lower case.
    pub email: Option<String>,
    /// A new address waiting for its owner to confirm the link sent to it (patients with a
    /// login); mail goes to `email` until then.
    pub pending_email: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The staff member who made the record; absent when the patient registered.
    pub created_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
