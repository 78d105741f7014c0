//! Page sessions, found by the hash of the cookie's value. A session of a disabled account or
//! past its expiry is not found; ending every session of an account is one statement.

use chrono::{DateTime, Utc};
use entity::{
    user,
    web_session::{self, Column, Entity},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{OnConflict, Query},
};
use uuid::Uuid;

use super::secrets::hash;

/// The live session whose cookie value is `presented`, if its account may still sign in.
#[tracing::instrument(name = "store.web_sessions.load", skip_all)]
pub async fn load<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    presented: &str,
) -> Result<Option<web_session::Model>, DbErr> {
    let active_users = Query::select()
        .column(user::Column::Id)
        .from(user::Entity)
        .and_where(user::Column::DisabledAt.is_null())
        .to_owned();
    Entity::find()
        .filter(Column::IdHash.eq(hash(presented)))
        .filter(Column::ExpiresAt.gt(now))
        .filter(Column::UserId.in_subquery(active_users))
        .limit(1)
        .one(db)
        .await
}

/// Stores the session `presented` names (new, or with new entries and expiry), and clears the
/// account's expired sessions while it is at it.
#[tracing::instrument(name = "store.web_sessions.save", skip_all)]
pub async fn save<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    presented: &str,
    user_id: Uuid,
    entries: String,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    let row = web_session::ActiveModel {
        id_hash: sea_orm::ActiveValue::Set(hash(presented)),
        user_id: sea_orm::ActiveValue::Set(user_id),
        entries: sea_orm::ActiveValue::Set(entries),
        created_at: sea_orm::ActiveValue::Set(now),
        expires_at: sea_orm::ActiveValue::Set(expires_at),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::IdHash)
                .update_columns([Column::Entries, Column::ExpiresAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Ends the session `presented` names (logout).
#[tracing::instrument(name = "store.web_sessions.remove", skip_all)]
pub async fn remove<C: ConnectionTrait>(db: &C, presented: &str) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::IdHash.eq(hash(presented)))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every page session of an account (a new password, a disabled account).
#[tracing::instrument(name = "store.web_sessions.end_all_of_user", skip_all)]
pub async fn end_all_of_user<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<u64, DbErr> {
    Ok(Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected)
}
