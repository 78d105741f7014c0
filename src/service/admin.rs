//! Administration: the email outbox (dead letters first, counts by status, retrying a dead
//! letter) and the audit trail (newest first, filtered, paged with a cursor). Only the admin
//! role may use them.

use chrono::{DateTime, Utc};
use entity::outbox_message;
use sea_orm::ActiveEnum;
use uuid::Uuid;

pub use entity::{audit_event::Outcome, outbox_message::OutboxStatus};

use crate::{
    app::AppState,
    error::{ApiError, ApiResult},
    service::{Caller, access::ADMIN},
    store::{
        audit::{self, AuditFilter},
        outbox::{self, Retried},
    },
};

/// How many outbox messages a list shows when the caller does not say.
const DEFAULT_OUTBOX_PAGE: u32 = 50;
/// How many audit entries a page holds when the caller does not say.
const DEFAULT_AUDIT_PAGE: u32 = 100;

/// One outbox message, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: Uuid,
    /// The kind of email, e.g. `appointment_reminder`.
    pub kind: String,
    pub recipient: String,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub not_before: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub message_id: String,
    pub has_calendar_invite: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<outbox_message::Model> for OutboxMessage {
    fn from(row: outbox_message::Model) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            recipient: row.recipient,
            status: row.status,
            attempts: row.attempts,
            not_before: row.not_before,
            deadline: row.deadline,
            last_error: row.last_error,
            message_id: row.message_id,
            has_calendar_invite: row.calendar_ics.is_some(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            sent_at: row.sent_at,
        }
    }
}

/// Outbox messages, dead letters first, then newest first; only those in `status` if given.
#[tracing::instrument(name = "service.admin.outbox", skip_all)]
pub async fn outbox(
    state: &AppState,
    caller: &Caller,
    status: Option<OutboxStatus>,
    limit: Option<u32>,
) -> ApiResult<Vec<OutboxMessage>> {
    caller.require(state, ADMIN).await?;
    let limit = u64::from(limit.unwrap_or(DEFAULT_OUTBOX_PAGE));
    let rows = outbox::list(&state.db, status, limit).await?;
    Ok(rows.into_iter().map(OutboxMessage::from).collect())
}

/// How many messages are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub dead: i64,
    pub cancelled: i64,
    pub expired: i64,
}

/// Counts outbox messages by status.
#[tracing::instrument(name = "service.admin.outbox_counts", skip_all)]
pub async fn outbox_counts(state: &AppState, caller: &Caller) -> ApiResult<OutboxCounts> {
    caller.require(state, ADMIN).await?;
    let mut counts = OutboxCounts::default();
    for (status, count) in outbox::counts(&state.db).await? {
        let slot = match status {
            OutboxStatus::Pending => &mut counts.pending,
            OutboxStatus::Sending => &mut counts.sending,
            OutboxStatus::Sent => &mut counts.sent,
            OutboxStatus::Dead => &mut counts.dead,
            OutboxStatus::Cancelled => &mut counts.cancelled,
            OutboxStatus::Expired => &mut counts.expired,
        };
        *slot = count;
    }
    Ok(counts)
}

/// Puts a dead letter back in the queue for a fresh set of attempts, starting now.
#[tracing::instrument(name = "service.admin.retry_dead_letter", skip_all)]
pub async fn retry_dead_letter(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<OutboxMessage> {
    caller.require(state, ADMIN).await?;
    match outbox::retry_dead(&state.db, state.clock.now(), id).await? {
        Retried::Retried => {}
        Retried::NotFound => return Err(ApiError::NotFound),
        Retried::NotDead(status) => {
            return Err(ApiError::Conflict {
                code: "not_a_dead_letter",
                detail: format!(
                    "Only dead letters can be retried; this message is {}.",
                    status.to_value()
                ),
            });
        }
    }
    tracing::info!(message = %id, "dead letter put back in the queue");
    let row = outbox::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(row.into())
}

/// Which audit entries to show: all of the filters given, and a page of them.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries about this patient.
    pub patient_id: Option<Uuid>,
    /// Only entries of this account's actions.
    pub actor_user_id: Option<Uuid>,
    /// Only entries at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only entries of this action (`patient.read`, `login` …); the admin's audit page filters
    /// by it.
    pub action: Option<String>,
    /// Only entries older than this one (the previous page's cursor).
    pub before: Option<Uuid>,
    pub limit: Option<u32>,
}

/// One entry: who did what to which record, when, from where. Never the record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub action: String,
    pub record_type: Option<String>,
    pub record_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
}

impl From<entity::audit_event::Model> for AuditEntry {
    fn from(row: entity::audit_event::Model) -> Self {
        Self {
            id: row.id,
            occurred_at: row.occurred_at,
            actor_user_id: row.actor_user_id,
            actor_role: row.actor_role,
            action: row.action,
            record_type: row.record_type,
            record_id: row.record_id,
            patient_id: row.patient_id,
            outcome: row.outcome,
            request_id: row.request_id,
            source_address: row.source_address,
        }
    }
}

/// A page of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The cursor for the next (older) page; `None` on the last page.
    pub next_before: Option<Uuid>,
}

/// Pages through the audit trail, newest first.
#[tracing::instrument(name = "service.admin.audit_trail", skip_all)]
pub async fn audit_trail(
    state: &AppState,
    caller: &Caller,
    query: AuditQuery,
) -> ApiResult<AuditPage> {
    caller.require(state, ADMIN).await?;
    let filter = AuditFilter {
        patient_id: query.patient_id,
        actor_user_id: query.actor_user_id,
        from: query.from,
        to: query.to,
        action: query.action,
        before: query.before,
    };
    let limit = u64::from(query.limit.unwrap_or(DEFAULT_AUDIT_PAGE));
    let (rows, more) = audit::page(&state.db, &filter, limit).await?;
    let next_before = if more {
        rows.last().map(|row| row.id)
    } else {
        None
    };
    Ok(AuditPage {
        entries: rows.into_iter().map(AuditEntry::from).collect(),
        next_before,
    })
}
