//! The outbox table: enqueueing inside the caller's transaction, cancelling, the worker's claim
//! and completion under a lease, and the admin views.
//!
//! Every state change the worker makes after a claim is guarded by the claim's lease token, so a
//! worker whose lease ran out (and whose rows another worker has since claimed) changes nothing.

use chrono::{DateTime, Duration, Utc};
use entity::outbox_message::{self, Column, Entity, OutboxStatus};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect, UpdateMany,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Query},
};
use uuid::Uuid;

use crate::notify::{
    calendar::{CalendarInvite, CalendarMethod},
    content::EmailContent,
};

/// Longest dedupe key accepted (the column's width).
pub const MAX_DEDUPE_KEY_LEN: usize = 255;

/// An email to send, as the rest of the code asks for it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub recipient: String,
    pub content: EmailContent,
    pub calendar: Option<CalendarInvite>,
    /// Not sent before this instant (a reminder's send time); `now` for "as soon as possible".
    pub not_before: DateTime<Utc>,
    /// Never sent after this instant (a reminder after the visit is useless): marked `expired`.
    pub deadline: Option<DateTime<Utc>>,
    /// One logical message, e.g. `reminder:<appointment>:<sequence>`: enqueueing it twice keeps
    /// one row.
    pub dedupe_key: Option<String>,
}

impl NewMessage {
    /// An email to send as soon as possible, with no invite, deadline or dedupe key.
    pub fn immediate(recipient: String, content: EmailContent, now: DateTime<Utc>) -> Self {
        Self {
            recipient,
            content,
            calendar: None,
            not_before: now,
            deadline: None,
            dedupe_key: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Created(Uuid),
    /// A message with the same dedupe key exists already; nothing was added.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("the recipient `{0}` is not an email address")]
    InvalidRecipient(String),
    #[error("the dedupe key is empty or longer than {MAX_DEDUPE_KEY_LEN} characters")]
    InvalidDedupeKey,
    #[error("the deadline is before the earliest send time")]
    DeadlineBeforeNotBefore,
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// The outbox as the rest of the code sees it.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Right-hand side of every Message-ID, e.g. the clinic's public host.
    message_id_domain: String,
}

impl Outbox {
    pub fn new(message_id_domain: impl Into<String>) -> Self {
        Self {
            message_id_domain: message_id_domain.into(),
        }
    }

    /// Adds a message. Pass the caller's transaction as `db`, so the email exists exactly when
    /// the change that causes it is committed.
    #[tracing::instrument(name = "store.outbox.enqueue", skip_all)]
    pub async fn enqueue<C: ConnectionTrait>(
        &self,
        db: &C,
        now: DateTime<Utc>,
        message: NewMessage,
    ) -> Result<Enqueued, OutboxError> {
        let row = self.prepare(now, message)?;
        let id = row.id.try_as_ref().copied().unwrap_or_default();
        let inserted = Entity::insert(row)
            .on_conflict(Self::same_dedupe_key())
            .exec_without_returning(db)
            .await?;
        Ok(if inserted == 0 {
            Enqueued::Duplicate
        } else {
            Enqueued::Created(id)
        })
    }

    /// The checked row [`Outbox::enqueue`] inserts, for a caller that writes it together with
    /// other rows; insert it with [`Outbox::same_dedupe_key`] as the conflict clause.
    pub fn prepare(
        &self,
        now: DateTime<Utc>,
        message: NewMessage,
    ) -> Result<outbox_message::ActiveModel, OutboxError> {
        message
            .recipient
            .parse::<lettre::Address>()
            .map_err(|_| OutboxError::InvalidRecipient(message.recipient.clone()))?;
        if let Some(key) = &message.dedupe_key
            && (key.is_empty() || key.len() > MAX_DEDUPE_KEY_LEN)
        {
            return Err(OutboxError::InvalidDedupeKey);
        }
        if message
            .deadline
            .is_some_and(|deadline| deadline < message.not_before)
        {
            return Err(OutboxError::DeadlineBeforeNotBefore);
        }
        let id = Uuid::now_v7();
        let template_data = serde_json::to_string(&message.content)
            .map_err(|err| DbErr::Custom(format!("cannot serialise email content: {err}")))?;
        Ok(outbox_message::ActiveModel {
            id: Set(id),
            kind: Set(message.content.kind().as_str().to_owned()),
            recipient: Set(message.recipient),
            template_data: Set(template_data),
            calendar_ics: Set(message.calendar.as_ref().map(|invite| invite.ics.clone())),
            calendar_method: Set(message
                .calendar
                .as_ref()
                .map(|invite| invite.method.as_str().to_owned())),
            status: Set(OutboxStatus::Pending),
            attempts: Set(0),
            not_before: Set(message.not_before),
            deadline: Set(message.deadline),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            last_error: Set(None),
            message_id: Set(format!("<{id}@{}>", self.message_id_domain)),
            dedupe_key: Set(message.dedupe_key),
            created_at: Set(now),
            updated_at: Set(now),
            sent_at: Set(None),
        })
    }

    /// A message whose dedupe key exists already is not added again.
    pub fn same_dedupe_key() -> OnConflict {
        OnConflict::column(Column::DedupeKey)
            .do_nothing()
            .to_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    Cancelled,
    /// Already sent, being sent, or finished otherwise: too late to cancel.
    TooLate(OutboxStatus),
    NotFound,
}

/// Cancels the pending message with this dedupe key (a cancelled appointment's reminder).
#[tracing::instrument(name = "store.outbox.cancel_by_dedupe_key", skip_all)]
pub async fn cancel_by_dedupe_key<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    dedupe_key: &str,
) -> Result<Cancelled, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::Status, Expr::value(OutboxStatus::Cancelled))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::DedupeKey.eq(dedupe_key))
        .filter(Column::Status.eq(OutboxStatus::Pending))
        .exec(db)
        .await?;
    if result.rows_affected > 0 {
        return Ok(Cancelled::Cancelled);
    }
    let existing = Entity::find()
        .filter(Column::DedupeKey.eq(dedupe_key))
        .one(db)
        .await?;
    Ok(match existing {
        Some(row) => Cancelled::TooLate(row.status),
        None => Cancelled::NotFound,
    })
}

/// Rows one claim took, all leased under `token` until `lease_expires_at`.
#[derive(Debug, Clone)]
pub struct Claim {
    pub token: String,
    pub rows: Vec<outbox_message::Model>,
}

/// Marks pending rows (and rows whose lease ran out) whose deadline has passed as `expired`.
#[tracing::instrument(name = "store.outbox.expire_overdue", skip_all)]
pub async fn expire_overdue<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let result = end_lease(Entity::update_many())
        .col_expr(Column::Status, Expr::value(OutboxStatus::Expired))
        .col_expr(
            Column::LastError,
            Expr::value("the deadline passed before the message could be sent"),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Deadline.lte(now))
        .filter(claimable(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Due rows: pending and past `not_before`, or leased by a worker whose lease has run out.
fn claimable(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(Column::Status.eq(OutboxStatus::Pending))
                .add(Column::NotBefore.lte(now)),
        )
        .add(
            Condition::all()
                .add(Column::Status.eq(OutboxStatus::Sending))
                .add(Column::LeaseExpiresAt.lte(now)),
        )
}

/// Leases up to `limit` due rows to `owner` in one statement. On Postgres the inner select skips
/// rows another worker is claiming right now (`FOR UPDATE SKIP LOCKED`); SQLite has one writer
/// at a time, so the single UPDATE is already exclusive.
#[tracing::instrument(name = "store.outbox.claim", skip_all)]
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    owner: &str,
    limit: u64,
    lease: Duration,
) -> Result<Claim, DbErr> {
    let token = format!("{owner}/{}", Uuid::now_v7().simple());
    let rows = claim_query(db.get_database_backend(), now, &token, limit, lease)
        .exec_with_returning(db)
        .await?;
    Ok(Claim { token, rows })
}

fn claim_query(
    backend: DatabaseBackend,
    now: DateTime<Utc>,
    token: &str,
    limit: u64,
    lease: Duration,
) -> UpdateMany<Entity> {
    let mut due = Query::select();
    due.column(Column::Id)
        .from(Entity)
        .cond_where(claimable(now))
        .cond_where(
            Condition::any()
                .add(Column::Deadline.is_null())
                .add(Column::Deadline.gt(now)),
        )
        .order_by(Column::NotBefore, Order::Asc)
        .limit(limit);
    if backend == DatabaseBackend::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(OutboxStatus::Sending))
        .col_expr(Column::LeaseOwner, Expr::value(token.to_owned()))
        .col_expr(Column::LeaseExpiresAt, Expr::value(now + lease))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.in_subquery(due))
}

/// Clears the lease: every outcome (sent, retry, dead, expired, released) ends it.
fn end_lease(update: UpdateMany<Entity>) -> UpdateMany<Entity> {
    update
        .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(
            Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

fn leased_by(token: &str) -> Condition {
    Condition::all()
        .add(Column::LeaseOwner.eq(token))
        .add(Column::Status.eq(OutboxStatus::Sending))
}

/// Marks delivered rows `sent`. Returns how many the lease still covered.
#[tracing::instrument(name = "store.outbox.complete_sent", skip_all)]
pub async fn complete_sent<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    token: &str,
    ids: &[Uuid],
) -> Result<u64, DbErr> {
    let sent = end_lease(Entity::update_many())
        .col_expr(Column::Status, Expr::value(OutboxStatus::Sent))
        .col_expr(Column::SentAt, Expr::value(now))
        .col_expr(Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    update_claimed(db, token, ids, sent).await
}

/// Applies `update` to those of `ids` that the lease `token` still covers; returns how many.
async fn update_claimed<C: ConnectionTrait>(
    db: &C,
    token: &str,
    ids: &[Uuid],
    update: UpdateMany<Entity>,
) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let result = update
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(leased_by(token))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// What to do with a row whose send failed.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Try again from `not_before`.
    Retry {
        not_before: DateTime<Utc>,
        error: String,
    },
    /// Give up: a dead letter for an admin to look at.
    Dead { error: String },
    /// Its deadline passed before it could go.
    Expired,
}

/// Records a failed send. Returns false when the lease no longer covered the row.
#[tracing::instrument(name = "store.outbox.record_failure", skip_all)]
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    token: &str,
    id: Uuid,
    failure: Failure,
) -> Result<bool, DbErr> {
    let (status, not_before, error) = match failure {
        Failure::Retry { not_before, error } => (OutboxStatus::Pending, Some(not_before), error),
        Failure::Dead { error } => (OutboxStatus::Dead, None, error),
        Failure::Expired => (
            OutboxStatus::Expired,
            None,
            "the deadline passed before the message could be sent".to_owned(),
        ),
    };
    let mut update = end_lease(Entity::update_many())
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::LastError, Expr::value(truncate(&error, 1000)))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if let Some(not_before) = not_before {
        update = update.col_expr(Column::NotBefore, Expr::value(not_before));
    }
    let result = update
        .filter(Column::Id.eq(id))
        .filter(leased_by(token))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives claimed but unsent rows back (on shutdown), without counting an attempt.
#[tracing::instrument(name = "store.outbox.release", skip_all)]
pub async fn release<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    token: &str,
    ids: &[Uuid],
) -> Result<u64, DbErr> {
    let released = end_lease(Entity::update_many())
        .col_expr(Column::Status, Expr::value(OutboxStatus::Pending))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).sub(1))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    update_claimed(db, token, ids, released).await
}

/// Messages for the admin view: dead letters first, then newest first.
#[tracing::instrument(name = "store.outbox.list", skip_all)]
pub async fn list<C: ConnectionTrait>(
    db: &C,
    status: Option<OutboxStatus>,
    limit: u64,
) -> Result<Vec<outbox_message::Model>, DbErr> {
    let mut query = Entity::find();
    if let Some(status) = status {
        query = query.filter(Column::Status.eq(status));
    }
    let dead_first: Expr = Expr::case(Column::Status.eq(OutboxStatus::Dead), 0)
        .finally(1)
        .into();
    query
        .order_by(dead_first, Order::Asc)
        .order_by(Column::CreatedAt, Order::Desc)
        .order_by(Column::Id, Order::Desc)
        .limit(limit)
        .all(db)
        .await
}

/// A dead letter as the front desk may know it: to whom, what kind, when it failed. Never the
/// content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: Uuid,
    pub kind: String,
    pub recipient: String,
    /// When it became a dead letter (its last change).
    pub failed_at: DateTime<Utc>,
}

/// The newest `limit` dead letters, newest failure first; only the columns of [`DeadLetter`]
/// are read.
#[tracing::instrument(name = "store.outbox.dead_letters", skip_all)]
pub async fn dead_letters<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<DeadLetter>, DbErr> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::Kind)
        .column(Column::Recipient)
        .column(Column::UpdatedAt)
        .filter(Column::Status.eq(OutboxStatus::Dead))
        .order_by(Column::UpdatedAt, Order::Desc)
        .order_by(Column::Id, Order::Desc)
        .limit(limit)
        .into_tuple::<(Uuid, String, String, DateTime<Utc>)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, kind, recipient, failed_at)| DeadLetter {
            id,
            kind,
            recipient,
            failed_at,
        })
        .collect())
}

#[tracing::instrument(name = "store.outbox.find", skip_all)]
pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<outbox_message::Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// How many messages are in each status.
#[tracing::instrument(name = "store.outbox.counts", skip_all)]
pub async fn counts<C: ConnectionTrait>(db: &C) -> Result<Vec<(OutboxStatus, i64)>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::Status)
        .column_as(Column::Id.count(), "count")
        .group_by(Column::Status)
        .into_tuple::<(OutboxStatus, i64)>()
        .all(db)
        .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    Retried,
    NotDead(OutboxStatus),
    NotFound,
}

/// Puts a dead letter back in the queue for a fresh set of attempts.
#[tracing::instrument(name = "store.outbox.retry_dead", skip_all)]
pub async fn retry_dead<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<Retried, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::Status, Expr::value(OutboxStatus::Pending))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NotBefore, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(OutboxStatus::Dead))
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        return Ok(Retried::Retried);
    }
    Ok(match Entity::find_by_id(id).one(db).await? {
        Some(row) => Retried::NotDead(row.status),
        None => Retried::NotFound,
    })
}

/// The stored calendar invite of a row, if it has a usable one.
pub fn calendar_of(row: &outbox_message::Model) -> Option<CalendarInvite> {
    let method = CalendarMethod::parse(row.calendar_method.as_deref()?)?;
    Some(CalendarInvite {
        method,
        ics: row.calendar_ics.clone()?,
    })
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use sea_orm::QueryTrait;

    use super::*;

    fn claim_sql(backend: DatabaseBackend) -> String {
        let now = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
            .unwrap()
            .to_utc();
        claim_query(backend, now, "w/1", 25, Duration::seconds(60))
            .build(backend)
            .to_string()
    }

    #[test]
    fn postgres_claims_skip_rows_other_workers_hold() {
        let sql = claim_sql(DatabaseBackend::Postgres);
        assert!(sql.contains("FOR UPDATE SKIP LOCKED"), "{sql}");
        assert!(sql.contains("LIMIT 25"), "{sql}");
    }

    #[test]
    fn sqlite_claims_are_one_plain_update() {
        let sql = claim_sql(DatabaseBackend::Sqlite);
        assert!(sql.starts_with("UPDATE"), "{sql}");
        assert!(!sql.contains("FOR UPDATE"), "{sql}");
    }
}
