//! Refresh tokens: opaque random strings given to the client once, stored only as SHA-256
//! hashes. Every refresh spends the presented token and issues a new one in the same family;
//! presenting a spent token again means it was stolen (or leaked), so the whole family is revoked.

use chrono::{DateTime, Duration, Utc};
use entity::refresh_token::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use super::secrets::{hash, new_secret};

pub const REFRESH_TOKEN_TTL: Duration = Duration::days(30);

/// Stores a new token in `family` and returns the secret to hand to the client.
#[tracing::instrument(name = "store.refresh_tokens.issue", skip_all)]
pub async fn issue<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    user_id: Uuid,
    family_id: Uuid,
) -> Result<String, DbErr> {
    let secret = new_secret()?;
    refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        family_id: Set(family_id),
        token_hash: Set(hash(&secret)),
        created_at: Set(now),
        expires_at: Set(now + REFRESH_TOKEN_TTL),
        used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(secret)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was good: here is its successor.
    Rotated {
        user_id: Uuid,
        refresh_token: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already spent: the family has been revoked.
    Reused { user_id: Uuid },
}

/// Spends `presented` and issues its successor, in one transaction.
#[tracing::instrument(name = "store.refresh_tokens.rotate", skip_all)]
pub async fn rotate(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    presented: &str,
) -> Result<Rotation, DbErr> {
    let txn = super::begin_write(db).await?;
    let Some(token) = Entity::find()
        .filter(Column::TokenHash.eq(hash(presented)))
        .one(&txn)
        .await?
    else {
        return Ok(Rotation::Invalid);
    };
    if token.revoked_at.is_some() || token.expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    // Spend it only if nobody has: two concurrent refreshes with one token are one theft.
    let spent = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Id.eq(token.id))
        .filter(Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected == 0 {
        revoke_family_in(&txn, now, token.family_id).await?;
        txn.commit().await?;
        return Ok(Rotation::Reused {
            user_id: token.user_id,
        });
    }
    let refresh_token = issue(&txn, now, token.user_id, token.family_id).await?;
    txn.commit().await?;
    Ok(Rotation::Rotated {
        user_id: token.user_id,
        refresh_token,
    })
}

/// Revokes the family of `presented` (logout). Unknown tokens are ignored.
#[tracing::instrument(name = "store.refresh_tokens.revoke_family_of", skip_all)]
pub async fn revoke_family_of<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    presented: &str,
) -> Result<(), DbErr> {
    if let Some(token) = Entity::find()
        .filter(Column::TokenHash.eq(hash(presented)))
        .one(db)
        .await?
    {
        revoke_family_in(db, now, token.family_id).await?;
    }
    Ok(())
}

async fn revoke_family_in<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    family_id: Uuid,
) -> Result<(), DbErr> {
    revoke_where(db, now, Column::FamilyId.eq(family_id)).await
}

/// Revokes every live token matching `which`.
async fn revoke_where<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    which: sea_orm::sea_query::SimpleExpr,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(which)
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every live refresh token of a user (their account was disabled).
#[tracing::instrument(name = "store.refresh_tokens.revoke_all_of_user", skip_all)]
pub async fn revoke_all_of_user<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    user_id: Uuid,
) -> Result<(), DbErr> {
    revoke_where(db, now, Column::UserId.eq(user_id)).await
}
