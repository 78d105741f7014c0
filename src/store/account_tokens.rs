//! Single-use tokens sent by email: verifying a new patient's address, inviting a patient the
//! front desk registered to set a password, resetting a forgotten password. Only the SHA-256
//! hash is stored.

use chrono::{DateTime, Duration, Utc};
use entity::account_token::{self, Column, Entity, Purpose};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use super::secrets::{hash, new_secret};

/// How long an emailed verification link works.
pub const VERIFY_EMAIL_TTL: Duration = Duration::hours(24);
/// How long a link confirming a patient's new address works.
pub const EMAIL_CHANGE_TTL: Duration = Duration::hours(24);
/// How long an invitation to set a password works.
pub const INVITATION_TTL: Duration = Duration::days(7);
/// How long a password reset link works: short, since it is as good as the password.
pub const PASSWORD_RESET_TTL: Duration = Duration::hours(1);

/// Who a token is for: an account (verification) or a patient record (invitation).
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    User(Uuid),
    Patient(Uuid),
}

/// Stores a new token and returns the secret for the link. Earlier unused tokens of the same
/// purpose and subject stop working: only the newest email's link counts.
#[tracing::instrument(name = "store.account_tokens.issue", skip_all)]
pub async fn issue<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    purpose: Purpose,
    subject: Subject,
    ttl: Duration,
) -> Result<String, DbErr> {
    let earlier = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null());
    let earlier = match subject {
        Subject::User(id) => earlier.filter(Column::UserId.eq(id)),
        Subject::Patient(id) => earlier.filter(Column::PatientId.eq(id)),
    };
    earlier.exec(db).await?;
    issue_alongside(db, now, purpose, subject, ttl).await
}

/// Stores a new token and leaves earlier ones alone: for links that each stand on their own,
/// such as the follow-up questionnaire after each visit, queued to go out days later.
#[tracing::instrument(name = "store.account_tokens.issue_alongside", skip_all)]
pub async fn issue_alongside<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    purpose: Purpose,
    subject: Subject,
    ttl: Duration,
) -> Result<String, DbErr> {
    let (user_id, patient_id) = match subject {
        Subject::User(id) => (Some(id), None),
        Subject::Patient(id) => (None, Some(id)),
    };
    let secret = new_secret()?;
    account_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        purpose: Set(purpose),
        token_hash: Set(hash(&secret)),
        user_id: Set(user_id),
        patient_id: Set(patient_id),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(secret)
}

/// The live token `presented`, without spending it (a link's page is shown before it is used).
#[tracing::instrument(name = "store.account_tokens.peek", skip_all)]
pub async fn peek<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    purpose: Purpose,
    presented: &str,
) -> Result<Option<account_token::Model>, DbErr> {
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(hash(presented)))
        .filter(Column::Purpose.eq(purpose))
        .one(db)
        .await?
        .filter(|token| token.used_at.is_none() && token.expires_at > now))
}

/// Spends `presented` if it is a live token of `purpose`, returning it; `None` when it is
/// unknown, expired or already used. Spending is one guarded update, so two concurrent uses
/// cannot both succeed.
#[tracing::instrument(name = "store.account_tokens.consume", skip_all)]
pub async fn consume<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    purpose: Purpose,
    presented: &str,
) -> Result<Option<account_token::Model>, DbErr> {
    let Some(token) = Entity::find()
        .filter(Column::TokenHash.eq(hash(presented)))
        .filter(Column::Purpose.eq(purpose))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if token.used_at.is_some() || token.expires_at <= now {
        return Ok(None);
    }
    let spent = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Id.eq(token.id))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok((spent.rows_affected == 1).then_some(token))
}
