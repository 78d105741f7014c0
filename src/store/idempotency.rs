//! `Idempotency-Key`: the first request with a key claims it; the response it produced is
//! stored with the request's fingerprint in the same transaction as its effect, so a retry of
//! the same request replays that response and nothing happens twice.

use chrono::{DateTime, Duration, Utc};
use entity::idempotency_key::{self, Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, OnConflict},
};

/// How long a stored response is replayed.
pub const KEY_TTL: Duration = Duration::hours(24);
/// A claim whose request has not finished after this long is taken to have died with its
/// process, and the key may be claimed again.
pub const IN_FLIGHT_LIMIT: Duration = Duration::seconds(60);

/// What the caller should do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: do the work, then [`complete`] in the work's transaction.
    Claimed,
    /// The same request finished before: answer with this status and body again.
    Replay { status: u16, body: String },
    /// The key was used for a different request.
    Mismatch,
    /// The same key's first request is still running.
    InFlight,
}

/// Claims `key` within `scope` (the caller) for a request with this fingerprint. One statement
/// when the key is new, the usual case.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, DbErr> {
    if insert_claim(db, now, scope, key, fingerprint).await? {
        return Ok(Claim::Claimed);
    }
    let Some(existing) = Entity::find_by_id((scope.to_owned(), key.to_owned()))
        .one(db)
        .await?
    else {
        // Released between our insert and this read: try once more.
        return Ok(if insert_claim(db, now, scope, key, fingerprint).await? {
            Claim::Claimed
        } else {
            Claim::InFlight
        });
    };
    // A finished key past its lifetime, or a claim abandoned by a crashed request, is free.
    let abandoned = existing.completed_at.is_none() && existing.created_at <= now - IN_FLIGHT_LIMIT;
    if existing.expires_at <= now || abandoned {
        Entity::delete_many()
            .filter(Column::Scope.eq(scope))
            .filter(Column::IdempotencyKey.eq(key))
            .filter(Column::CreatedAt.eq(existing.created_at))
            .exec(db)
            .await?;
        return Ok(if insert_claim(db, now, scope, key, fingerprint).await? {
            Claim::Claimed
        } else {
            Claim::InFlight
        });
    }
    if existing.request_fingerprint != fingerprint {
        return Ok(Claim::Mismatch);
    }
    Ok(match (existing.response_status, existing.response_body) {
        (Some(status), Some(body)) => Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body,
        },
        _ => Claim::InFlight,
    })
}

/// Inserts the claim row; `false` when the key is taken.
async fn insert_claim<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<bool, DbErr> {
    let inserted = Entity::insert(idempotency_key::ActiveModel {
        scope: Set(scope.to_owned()),
        idempotency_key: Set(key.to_owned()),
        request_fingerprint: Set(fingerprint.to_owned()),
        response_status: Set(None),
        response_body: Set(None),
        created_at: Set(now),
        completed_at: Set(None),
        expires_at: Set(now + KEY_TTL),
    })
    .on_conflict(
        OnConflict::columns([Column::Scope, Column::IdempotencyKey])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted == 1)
}

/// Stores the response of a claimed key. Call in the transaction of the request's effect.
pub async fn complete<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    scope: &str,
    key: &str,
    status: u16,
    body: String,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::ResponseStatus, Expr::value(Some(status as i16)))
        .col_expr(Column::ResponseBody, Expr::value(Some(body)))
        .col_expr(Column::CompletedAt, Expr::value(Some(now)))
        .filter(Column::Scope.eq(scope))
        .filter(Column::IdempotencyKey.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives a claimed key back after the request failed, so a retry runs it afresh.
pub async fn release<C: ConnectionTrait>(db: &C, scope: &str, key: &str) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::Scope.eq(scope))
        .filter(Column::IdempotencyKey.eq(key))
        .filter(Column::CompletedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
