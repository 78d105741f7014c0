//! `Idempotency-Key`: a request's effect and the response it produced are written in one
//! statement (or one transaction), together with the request's fingerprint, so a retry of the
//! same request replays that response and nothing happens twice. See [`crate::store::booking`]
//! for the write; this module builds the entry, and reads and ages what is stored.

use chrono::{DateTime, Duration, Utc};
use entity::idempotency_key::{self, Column, Entity};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

/// How long a stored response is replayed.
pub const KEY_TTL: Duration = Duration::hours(24);

/// What a key holds when a request arrives with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Nothing: the request may run (or, if it just failed to write its entry, another request
    /// with the key is being written at this moment).
    Absent,
    /// An entry past its lifetime, now removed: the request may run.
    Lapsed,
    /// The same request finished before: answer with this status and body again.
    Replay { status: u16, body: String },
    /// The key was used for a different request.
    Mismatch,
}

async fn lookup<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Stored, DbErr> {
    let Some(existing) = Entity::find_by_id((scope.to_owned(), key.to_owned()))
        .one(db)
        .await?
    else {
        return Ok(Stored::Absent);
    };
    let (Some(status), Some(body)) = (existing.response_status, existing.response_body) else {
        // No response: a claim from before responses were written with their effect.
        remove(db, scope, key, existing.created_at).await?;
        return Ok(Stored::Lapsed);
    };
    if existing.expires_at <= now {
        remove(db, scope, key, existing.created_at).await?;
        return Ok(Stored::Lapsed);
    }
    if existing.request_fingerprint != fingerprint {
        return Ok(Stored::Mismatch);
    }
    Ok(Stored::Replay {
        status: u16::try_from(status).unwrap_or(500),
        body,
    })
}

/// Deletes this entry only (a newer one with the same key is left alone).
async fn remove<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key: &str,
    created_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::Scope.eq(scope))
        .filter(Column::IdempotencyKey.eq(key))
        .filter(Column::CreatedAt.eq(created_at))
        .exec(db)
        .await?;
    Ok(())
}

/// A key and its request's identity, as a handler knows them before it does the work.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    /// Whose keys: keys are unique per caller.
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

impl KeyedRequest {
    /// The entry to write with the request's effect.
    pub fn completed(
        &self,
        now: DateTime<Utc>,
        status: u16,
        body: String,
    ) -> idempotency_key::ActiveModel {
        idempotency_key::ActiveModel {
            scope: Set(self.scope.clone()),
            idempotency_key: Set(self.key.clone()),
            request_fingerprint: Set(self.fingerprint.clone()),
            response_status: Set(Some(i16::try_from(status).unwrap_or(500))),
            response_body: Set(Some(body)),
            created_at: Set(now),
            completed_at: Set(Some(now)),
            expires_at: Set(now + KEY_TTL),
        }
    }

    /// What the key holds now for this request. An entry past its lifetime is deleted, so the
    /// key may name a new request.
    #[tracing::instrument(name = "store.idempotency.lookup", skip_all)]
    pub async fn lookup<C: ConnectionTrait>(
        &self,
        db: &C,
        now: DateTime<Utc>,
    ) -> Result<Stored, DbErr> {
        lookup(db, now, &self.scope, &self.key, &self.fingerprint).await
    }
}
