//! `/api/v1/admin/outbox`: the email outbox for administrators — dead letters first, retrying
//! them, and counts by status.
//!
//! Only the admin role may call them (`service::admin`).

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use crate::{
    api::{ApiTags, caller},
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    service::admin::{self, OutboxCounts, OutboxMessage, OutboxStatus},
};

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "OutboxStatus", rename_all = "lowercase")]
pub enum Status {
    Pending,
    Sending,
    Sent,
    Dead,
    Cancelled,
    Expired,
}

impl From<OutboxStatus> for Status {
    fn from(status: OutboxStatus) -> Self {
        match status {
            OutboxStatus::Pending => Self::Pending,
            OutboxStatus::Sending => Self::Sending,
            OutboxStatus::Sent => Self::Sent,
            OutboxStatus::Dead => Self::Dead,
            OutboxStatus::Cancelled => Self::Cancelled,
            OutboxStatus::Expired => Self::Expired,
        }
    }
}

impl From<Status> for OutboxStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Pending => Self::Pending,
            Status::Sending => Self::Sending,
            Status::Sent => Self::Sent,
            Status::Dead => Self::Dead,
            Status::Cancelled => Self::Cancelled,
            Status::Expired => Self::Expired,
        }
    }
}

/// One outbox message, without its content.
#[derive(Debug, Object)]
#[oai(rename = "OutboxMessage")]
pub struct MessageView {
    pub id: Uuid,
    /// The kind of email, e.g. `appointment_reminder`.
    pub kind: String,
    pub recipient: String,
    pub status: Status,
    pub attempts: i32,
    /// Not sent before this time.
    pub not_before: DateTime<Utc>,
    /// Never sent after this time.
    #[oai(skip_serializing_if_is_none)]
    pub deadline: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
    pub message_id: String,
    pub has_calendar_invite: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<OutboxMessage> for MessageView {
    fn from(row: OutboxMessage) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            recipient: row.recipient,
            status: row.status.into(),
            attempts: row.attempts,
            not_before: row.not_before,
            deadline: row.deadline,
            last_error: row.last_error,
            message_id: row.message_id,
            has_calendar_invite: row.has_calendar_invite,
            created_at: row.created_at,
            updated_at: row.updated_at,
            sent_at: row.sent_at,
        }
    }
}

/// How many messages are in each status.
#[derive(Debug, Default, Object)]
#[oai(rename = "OutboxCounts")]
pub struct Counts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub dead: i64,
    pub cancelled: i64,
    pub expired: i64,
}

impl From<OutboxCounts> for Counts {
    fn from(counts: OutboxCounts) -> Self {
        Self {
            pending: counts.pending,
            sending: counts.sending,
            sent: counts.sent,
            dead: counts.dead,
            cancelled: counts.cancelled,
            expired: counts.expired,
        }
    }
}

pub struct AdminOutboxApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminOutboxApi {
    /// Lists outbox messages, dead letters first, then newest first.
    #[oai(path = "/outbox", method = "get", operation_id = "listOutboxMessages")]
    async fn list(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        /// Only messages in this status.
        status: Query<Option<Status>>,
        /// At most this many messages (1–200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<Vec<MessageView>>> {
        let caller = caller(request, &auth);
        let rows = admin::outbox(&state, &caller, status.0.map(Into::into), limit.0).await?;
        Ok(Json(rows.into_iter().map(MessageView::from).collect()))
    }

    /// Counts outbox messages by status.
    #[oai(
        path = "/outbox/counts",
        method = "get",
        operation_id = "countOutboxMessages"
    )]
    async fn counts(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<Counts>> {
        let counts = admin::outbox_counts(&state, &caller(request, &auth)).await?;
        Ok(Json(counts.into()))
    }

    /// Puts a dead letter back in the queue for a fresh set of attempts, starting now.
    #[oai(
        path = "/outbox/:id/retry",
        method = "post",
        operation_id = "retryOutboxMessage"
    )]
    async fn retry(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<MessageView>> {
        let row = admin::retry_dead_letter(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(row.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_both_ways() {
        for status in [
            Status::Pending,
            Status::Sending,
            Status::Sent,
            Status::Dead,
            Status::Cancelled,
            Status::Expired,
        ] {
            assert_eq!(Status::from(OutboxStatus::from(status)), status);
        }
    }
}
