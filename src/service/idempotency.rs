//! `Idempotency-Key` for any POST, as one straight protocol:
//!
//! 1. [`Idempotent::begin`]: what the key holds decides, before the work:
//!    [`KeyState::Proceed`], [`KeyState::Replay`] (the same request finished before: answer
//!    its stored response), or [`KeyState::Mismatch`] (the key named another request).
//! 2. The work is done, and [`Idempotent::finish`] gives the key's entry holding the response,
//!    written with the work's rows in the same transaction (or statement): both land or
//!    neither does.
//! 3. When that write finds the key taken, [`Idempotent::settle`] says why: a replay, a
//!    mismatch, [`KeyState::InFlight`] (another request with the key is being written right
//!    now), or `Proceed` when the entry had lapsed and is now removed (write again).
//!
//! A use case that wants to save a round trip in the common case may skip step 1 and rely on
//! step 3 (booking does: most requests carry a fresh key).

use chrono::{DateTime, Utc};
use entity::idempotency_key;
use poem::http::StatusCode;
use sea_orm::{ConnectionTrait, DbErr};
use sha2::{Digest, Sha256};

use crate::{
    error::ApiError,
    store::idempotency::{KeyedRequest, Stored},
};

/// What to do with a request, by what its key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// Nothing stands in the way: do the work.
    Proceed,
    /// The same request finished before: answer with this status and body again.
    Replay { status: u16, body: String },
    /// The key was used for a different request.
    Mismatch,
    /// A request with this key is being written at this moment.
    InFlight,
}

/// A request with its key.
#[derive(Debug, Clone)]
pub struct Idempotent {
    keyed: KeyedRequest,
}

impl Idempotent {
    /// `scope` keeps callers' keys apart (keys are unique per caller and operation); `request`
    /// is the request's identity: the same key must come with the same one.
    pub fn new(scope: String, key: String, request: &serde_json::Value) -> Self {
        Self {
            keyed: KeyedRequest {
                scope,
                key,
                fingerprint: format!("{:x}", Sha256::digest(request.to_string().as_bytes())),
            },
        }
    }

    /// Step 1: what the key holds before the work.
    pub async fn begin<C: ConnectionTrait>(
        &self,
        db: &C,
        now: DateTime<Utc>,
    ) -> Result<KeyState, DbErr> {
        Ok(match self.keyed.lookup(db, now).await? {
            Stored::Absent | Stored::Lapsed => KeyState::Proceed,
            Stored::Replay { status, body } => KeyState::Replay { status, body },
            Stored::Mismatch => KeyState::Mismatch,
        })
    }

    /// Step 2: the key's entry, holding the response, to write with the work.
    pub fn finish(
        &self,
        now: DateTime<Utc>,
        status: u16,
        body: String,
    ) -> idempotency_key::ActiveModel {
        self.keyed.completed(now, status, body)
    }

    /// Step 3: the write found the key taken; why.
    pub async fn settle<C: ConnectionTrait>(
        &self,
        db: &C,
        now: DateTime<Utc>,
    ) -> Result<KeyState, DbErr> {
        Ok(match self.keyed.lookup(db, now).await? {
            // The entry had lapsed and is gone now: the work may be written.
            Stored::Lapsed => KeyState::Proceed,
            // Taken, yet nothing to read: the other request has not committed yet.
            Stored::Absent => KeyState::InFlight,
            Stored::Replay { status, body } => KeyState::Replay { status, body },
            Stored::Mismatch => KeyState::Mismatch,
        })
    }
}

/// The 422 for a key reused with another request.
pub fn key_reused(what: &str) -> ApiError {
    ApiError::Refused {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "idempotency_key_reused",
        detail: format!(
            "This Idempotency-Key was used for a different {what}. Use a new key for a new {what}."
        ),
        next_slots: Vec::new(),
    }
}

/// The 409 for a retry that arrives while the first request is still being written.
pub fn key_in_flight() -> ApiError {
    ApiError::Conflict {
        code: "idempotency_key_in_flight",
        detail: "A request with this Idempotency-Key is still being processed; retry in a moment."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_the_requests_identity() {
        let a = Idempotent::new("s".into(), "k".into(), &serde_json::json!({"a": 1, "b": 2}));
        let same = Idempotent::new("s".into(), "k".into(), &serde_json::json!({"b": 2, "a": 1}));
        let other = Idempotent::new("s".into(), "k".into(), &serde_json::json!({"a": 2, "b": 2}));
        assert_eq!(a.keyed.fingerprint, same.keyed.fingerprint);
        assert_ne!(a.keyed.fingerprint, other.keyed.fingerprint);
    }

    #[test]
    fn a_reused_key_names_what_it_was_for() {
        let problem = key_reused("booking").to_problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.code, "idempotency_key_reused");
        assert_eq!(
            problem.detail.as_deref(),
            Some(
                "This Idempotency-Key was used for a different booking. Use a new key for a new \
                 booking."
            )
        );
    }
}
