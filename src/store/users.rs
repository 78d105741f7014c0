//! Accounts.

use chrono::{DateTime, Utc};
use entity::user::{self, Column, Entity, Role};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    SqlErr,
    sea_query::{Expr, Func},
};
use uuid::Uuid;

/// Emails are compared and stored in lower case.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("an account with this email exists already")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] DbErr),
}

pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub role: Role,
    /// Accounts made by an operator or an admin are trusted; patients verify by email.
    pub email_verified: bool,
}

#[tracing::instrument(name = "store.users.create", skip_all)]
pub async fn create<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    new: NewUser,
) -> Result<user::Model, CreateUserError> {
    let row = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(normalize_email(&new.email)),
        display_name: Set(new.display_name),
        password_hash: Set(new.password_hash),
        role: Set(new.role),
        email_verified_at: Set(new.email_verified.then_some(now)),
        created_at: Set(now),
        updated_at: Set(now),
        disabled_at: Set(None),
    };
    row.insert(db).await.map_err(|err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => CreateUserError::EmailTaken,
        _ => CreateUserError::Database(err),
    })
}

#[tracing::instrument(name = "store.users.find_by_email", skip_all)]
pub async fn find_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> Result<Option<user::Model>, DbErr> {
    Entity::find()
        .filter(Column::Email.eq(normalize_email(email)))
        .one(db)
        .await
}

#[tracing::instrument(name = "store.users.find", skip_all)]
pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// Every account, newest first.
#[tracing::instrument(name = "store.users.list", skip_all)]
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<user::Model>, DbErr> {
    Entity::find()
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(db)
        .await
}

/// Marks the account disabled (once; later calls keep the first time). `None` if it does not exist.
#[tracing::instrument(name = "store.users.disable", skip_all)]
pub async fn disable<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<Option<user::Model>, DbErr> {
    let Some(found) = Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    if found.disabled_at.is_some() {
        return Ok(Some(found));
    }
    let mut update = found.into_active_model();
    update.disabled_at = Set(Some(now));
    update.updated_at = Set(now);
    Ok(Some(update.update(db).await?))
}

/// Lets a disabled account sign in again (an enabled one is left as it is). `None` if it does
/// not exist.
#[tracing::instrument(name = "store.users.enable", skip_all)]
pub async fn enable<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<Option<user::Model>, DbErr> {
    let Some(found) = Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    if found.disabled_at.is_none() {
        return Ok(Some(found));
    }
    let mut update = found.into_active_model();
    update.disabled_at = Set(None);
    update.updated_at = Set(now);
    Ok(Some(update.update(db).await?))
}

/// Gives the account another role. `None` if it does not exist.
#[tracing::instrument(name = "store.users.set_role", skip_all)]
pub async fn set_role<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    role: Role,
) -> Result<Option<user::Model>, DbErr> {
    let Some(found) = Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let mut update = found.into_active_model();
    update.role = Set(role);
    update.updated_at = Set(now);
    Ok(Some(update.update(db).await?))
}

/// Records that the account's owner proved they read its email (once; later calls keep the
/// first time).
#[tracing::instrument(name = "store.users.mark_email_verified", skip_all)]
pub async fn mark_email_verified<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::EmailVerifiedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::EmailVerifiedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces the account's password hash.
#[tracing::instrument(name = "store.users.set_password_hash", skip_all)]
pub async fn set_password_hash<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    password_hash: String,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(password_hash))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves the account to the address its owner just proved they read (and counts it as
/// verified). `EmailTaken` when another account uses it.
#[tracing::instrument(name = "store.users.change_email", skip_all)]
pub async fn change_email<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    email: &str,
) -> Result<(), CreateUserError> {
    let changed = Entity::update_many()
        .col_expr(Column::Email, Expr::value(normalize_email(email)))
        .col_expr(
            Column::EmailVerifiedAt,
            Func::if_null(Expr::col(Column::EmailVerifiedAt), Expr::value(now)).into(),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await;
    match changed {
        Ok(_) => Ok(()),
        Err(err) => Err(match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => CreateUserError::EmailTaken,
            _ => CreateUserError::Database(err),
        }),
    }
}

/// Active accounts with `role`, by name (practitioners to alert, for example).
#[tracing::instrument(name = "store.users.active_with_role", skip_all)]
pub async fn active_with_role<C: ConnectionTrait>(
    db: &C,
    role: Role,
) -> Result<Vec<user::Model>, DbErr> {
    Entity::find()
        .filter(Column::Role.eq(role))
        .filter(Column::DisabledAt.is_null())
        .order_by_asc(Column::DisplayName)
        .all(db)
        .await
}
