//! Login throttling: failed logins slow down further attempts and, past a limit, lock them for a
//! while, per account and per source address. Counters live in the database so every instance
//! sees them. A refused attempt never says which of the two is blocked.
//!
//! An attempt is reserved before its password is checked, in one upsert over all its keys: the
//! attempt counts as a failure until it is known to be one or is given back. When the attempt
//! would be past a key's free failures, the upsert also puts a hold on the key (a
//! `blocked_until` only this attempt knows), so no other attempt on that key is checked until
//! this one has its outcome, whatever the concurrency and on every instance.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::login_throttle::{Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{CaseStatement, Expr, OnConflict, Query},
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

/// How long a reserved attempt may hold a key before others may try again, should it never
/// report its outcome (its instance died). Longer than a password check waits in the queue.
const HOLD: Duration = Duration::seconds(60);

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

/// A key an attempt counts against, and its policy.
#[derive(Debug, Clone)]
pub struct Limit {
    pub key: String,
    pub policy: Policy,
}

/// A key's counter as the reservation left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    /// Failures in the window, this attempt included when it was counted.
    pub failures: i32,
    pub blocked_until: Option<DateTime<Utc>>,
}

/// One attempt's reservation on each of its keys.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// This attempt's mark: a key whose `blocked_until` is exactly this is held by it.
    hold: DateTime<Utc>,
    limits: Vec<Limit>,
    counters: Vec<Counter>,
}

impl Reservation {
    /// Whether the password may be checked: every key counted this attempt. A key that did not
    /// is blocked (by earlier failures, or held by an attempt still being checked).
    pub fn admitted(&self) -> bool {
        self.counters.iter().all(|counter| self.counted(counter))
    }

    fn counted(&self, counter: &Counter) -> bool {
        counter.blocked_until.is_none_or(|until| until == self.hold)
    }

    /// The keys this attempt counted on, with their policies.
    fn counted_limits(&self) -> impl Iterator<Item = (&Counter, &Limit)> {
        self.counters.iter().filter_map(|counter| {
            let limit = self.limits.iter().find(|limit| limit.key == counter.key)?;
            self.counted(counter).then_some((counter, limit))
        })
    }
}

/// An attempt's own hold mark: attempts of one instant (the tests' clock) get different ones.
/// In whole microseconds, as PostgreSQL stores it: the mark read back must equal this one, or
/// the attempt holding the key would take itself for blocked (a real clock has nanoseconds).
fn hold_mark(now: DateTime<Utc>) -> DateTime<Utc> {
    (now + HOLD + Duration::microseconds(fastrand::i64(0..10_000_000))).trunc_subsecs(6)
}

/// Counts one attempt against every key of `limits` in one statement, unless a key is blocked.
/// See [`Reservation::admitted`] for the answer; the caller then reports the outcome with
/// [`failed`], [`succeeded`] or [`release`].
#[tracing::instrument(name = "store.throttle.reserve", skip_all)]
pub async fn reserve<C: ConnectionTrait>(
    db: &C,
    limits: Vec<Limit>,
    now: DateTime<Utc>,
) -> Result<Reservation, DbErr> {
    use sea_orm::sea_query::ExprTrait;
    let hold = hold_mark(now);
    let existing = |column: Column| Expr::col((Entity, column));
    let per_key = |value: &dyn Fn(&Policy) -> Expr| {
        let mut case = CaseStatement::new();
        for limit in &limits {
            case = case.case(
                existing(Column::ThrottleKey).eq(limit.key.clone()),
                value(&limit.policy),
            );
        }
        let case: Expr = case.into();
        case
    };
    let blocked = existing(Column::BlockedUntil).gt(now);
    let stale =
        existing(Column::FirstFailureAt).lte(per_key(&|policy| Expr::val(now - policy.window)));
    let counted = existing(Column::Failures).add(1);
    let past_free = counted
        .clone()
        .gt(per_key(&|policy| Expr::val(policy.free_failures)));
    let none: Option<DateTime<Utc>> = None;

    let mut insert = Query::insert();
    insert.into_table(Entity).columns([
        Column::ThrottleKey,
        Column::Failures,
        Column::FirstFailureAt,
        Column::BlockedUntil,
    ]);
    for limit in &limits {
        insert.values_panic([
            limit.key.clone().into(),
            1.into(),
            now.into(),
            // A first failure is never past the free ones.
            none.into(),
        ]);
    }
    insert
        .on_conflict(
            OnConflict::column(Column::ThrottleKey)
                .values([
                    (
                        Column::Failures,
                        Expr::case(blocked.clone(), existing(Column::Failures))
                            .case(stale.clone(), 1)
                            .finally(counted)
                            .into(),
                    ),
                    (
                        Column::FirstFailureAt,
                        Expr::case(blocked.clone(), existing(Column::FirstFailureAt))
                            .case(stale.clone(), now)
                            .finally(existing(Column::FirstFailureAt))
                            .into(),
                    ),
                    (
                        Column::BlockedUntil,
                        Expr::case(blocked, existing(Column::BlockedUntil))
                            .case(stale, none)
                            .case(past_free, hold)
                            .finally(none)
                            .into(),
                    ),
                ])
                .to_owned(),
        )
        .returning(Query::returning().columns([
            Column::ThrottleKey,
            Column::Failures,
            Column::BlockedUntil,
        ]));
    let rows = db
        .query_all_raw(db.get_database_backend().build(&insert))
        .await?;
    let counters = rows
        .iter()
        .map(|row| {
            Ok(Counter {
                key: row.try_get("", "throttle_key")?,
                failures: row.try_get("", "failures")?,
                blocked_until: row.try_get("", "blocked_until")?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    Ok(Reservation {
        hold,
        limits,
        counters,
    })
}

/// The attempt failed: it stays counted, and a key it held is blocked as its policy says.
#[tracing::instrument(name = "store.throttle.failed", skip_all)]
pub async fn failed<C: ConnectionTrait>(
    db: &C,
    reservation: &Reservation,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for (counter, limit) in reservation.counted_limits() {
        if counter.blocked_until == Some(reservation.hold) {
            Entity::update_many()
                .col_expr(
                    Column::BlockedUntil,
                    Expr::val(limit.policy.blocked_until(counter.failures, now)),
                )
                .filter(Column::ThrottleKey.eq(counter.key.clone()))
                .filter(Column::BlockedUntil.eq(reservation.hold))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// The attempt was not a failure after all (refused elsewhere, never checked, or the right
/// password): each key it counted on gets the attempt back, and its hold is lifted.
#[tracing::instrument(name = "store.throttle.release", skip_all)]
pub async fn release<C: ConnectionTrait>(db: &C, reservation: &Reservation) -> Result<(), DbErr> {
    use sea_orm::sea_query::ExprTrait;
    for (counter, _) in reservation.counted_limits() {
        Entity::update_many()
            .col_expr(
                Column::Failures,
                Expr::case(
                    Expr::col(Column::Failures).gt(0),
                    Expr::col(Column::Failures).sub(1),
                )
                .finally(0)
                .into(),
            )
            .col_expr(
                Column::BlockedUntil,
                Expr::case(
                    Expr::col(Column::BlockedUntil).eq(reservation.hold),
                    Expr::val(Option::<DateTime<Utc>>::None),
                )
                .finally(Expr::col(Column::BlockedUntil))
                .into(),
            )
            .filter(Column::ThrottleKey.eq(counter.key.clone()))
            .exec(db)
            .await?;
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

    #[test]
    fn a_hold_mark_survives_the_databases_microseconds() {
        let now: DateTime<Utc> = "2026-03-02T09:00:00.123456789Z".parse().unwrap();
        for _ in 0..100 {
            let hold = hold_mark(now);
            assert_eq!(hold, hold.trunc_subsecs(6));
            assert!(hold > now + HOLD - Duration::microseconds(1));
        }
    }

    fn reservation(counters: &[Option<&str>]) -> Reservation {
        let hold: DateTime<Utc> = "2026-03-02T09:01:00.123456Z".parse().unwrap();
        Reservation {
            hold,
            limits: Vec::new(),
            counters: counters
                .iter()
                .enumerate()
                .map(|(n, until)| Counter {
                    key: format!("k{n}"),
                    failures: 4,
                    blocked_until: until.map(|until| until.parse().unwrap()),
                })
                .collect(),
        }
    }

    #[test]
    fn an_attempt_is_admitted_when_every_key_counted_it() {
        let hold = Some("2026-03-02T09:01:00.123456Z");
        let other = Some("2026-03-02T09:01:00.654321Z");
        // Within the free failures, or holding the key itself.
        assert!(reservation(&[None, None]).admitted());
        assert!(reservation(&[hold, None]).admitted());
        // Blocked by earlier failures, or held by another attempt still being checked.
        assert!(!reservation(&[None, Some("2026-03-02T09:00:01Z")]).admitted());
        assert!(!reservation(&[other, None]).admitted());
    }
}
