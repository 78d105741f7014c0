//! Login throttling: failed logins slow down further attempts and, past a limit, lock them for a
//! while, per account and per source address. Counters live in the database so every instance
//! sees them. A refused attempt never says which of the two is blocked.

use chrono::{DateTime, Duration, Utc};
use entity::login_throttle::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter,
};

/// When failures start to cost time, and when they lock.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before any delay.
    pub free_failures: i32,
    /// After that, each failure blocks for 1 s, 2 s, 4 s, … (doubling).
    pub first_delay: Duration,
    /// At this many failures the key is locked for `lock_for`.
    pub lock_after: i32,
    pub lock_for: Duration,
    /// Failures older than this no longer count.
    pub window: Duration,
}

/// An account: 3 free failures, then 1 s doubling, locked for 15 minutes at 10.
pub const ACCOUNT: Policy = Policy {
    free_failures: 3,
    first_delay: Duration::seconds(1),
    lock_after: 10,
    lock_for: Duration::minutes(15),
    window: Duration::minutes(15),
};

/// A source address, which many people may share behind one NAT: more room before it slows.
pub const ADDRESS: Policy = Policy {
    free_failures: 10,
    first_delay: Duration::seconds(1),
    lock_after: 50,
    lock_for: Duration::minutes(15),
    window: Duration::minutes(15),
};

impl Policy {
    fn blocked_until(&self, failures: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if failures >= self.lock_after {
            return Some(now + self.lock_for);
        }
        let over = failures - self.free_failures;
        (over > 0).then(|| now + self.first_delay * (1 << (over - 1).min(16)))
    }
}

pub fn account_key(email: &str) -> String {
    format!("account:{email}")
}

pub fn address_key(address: &str) -> String {
    format!("address:{address}")
}

/// The latest instant any of `keys` is blocked until, if that is still ahead.
#[tracing::instrument(name = "store.throttle.blocked_until", skip_all)]
pub async fn blocked_until<C: ConnectionTrait>(
    db: &C,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let rows = Entity::find()
        .filter(Column::ThrottleKey.is_in(keys.iter().cloned()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.blocked_until)
        .filter(|until| *until > now)
        .max())
}

/// Counts one failure against `key`.
#[tracing::instrument(name = "store.throttle.record_failure", skip_all)]
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    key: &str,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    match Entity::find_by_id(key.to_owned()).one(db).await? {
        None => {
            login_throttle::ActiveModel {
                throttle_key: Set(key.to_owned()),
                failures: Set(1),
                first_failure_at: Set(now),
                blocked_until: Set(policy.blocked_until(1, now)),
            }
            .insert(db)
            .await?;
        }
        Some(row) => {
            let stale = row.first_failure_at + policy.window <= now
                && row.blocked_until.is_none_or(|until| until <= now);
            let (failures, first_failure_at) = if stale {
                (1, now)
            } else {
                (row.failures + 1, row.first_failure_at)
            };
            let mut update = row.into_active_model();
            update.failures = Set(failures);
            update.first_failure_at = Set(first_failure_at);
            update.blocked_until = Set(policy.blocked_until(failures, now));
            update.update(db).await?;
        }
    }
    Ok(())
}

/// Forgets `key`'s failures (after a successful login to that account).
#[tracing::instrument(name = "store.throttle.clear", skip_all)]
pub async fn clear<C: ConnectionTrait>(db: &C, key: &str) -> Result<(), DbErr> {
    Entity::delete_by_id(key.to_owned()).exec(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_the_free_failures_then_lock() {
        let now: DateTime<Utc> = "2026-03-02T09:00:00Z".parse().unwrap();
        let delay = |failures| {
            ACCOUNT
                .blocked_until(failures, now)
                .map(|until| (until - now).num_seconds())
        };
        assert_eq!((delay(1), delay(3)), (None, None));
        assert_eq!(
            (delay(4), delay(5), delay(6), delay(9)),
            (Some(1), Some(2), Some(4), Some(32))
        );
        assert_eq!(delay(10), Some(15 * 60));
        assert_eq!(ADDRESS.blocked_until(10, now), None);
        assert!(ADDRESS.blocked_until(11, now).is_some());
    }
}
