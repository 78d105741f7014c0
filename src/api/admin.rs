//! `/api/v1/admin/outbox`: the email outbox for administrators — dead letters first, retrying
//! them, and counts by status.
//!
//! Only the admin role may call them.

use chrono::{DateTime, Utc};
use entity::outbox_message::{self, OutboxStatus};
use poem::{Request, web::Data};
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        access::{ADMIN, require_role},
    },
    app::AppState,
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    store::outbox::{self, Retried},
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

impl From<outbox_message::Model> for MessageView {
    fn from(row: outbox_message::Model) -> Self {
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
            has_calendar_invite: row.calendar_ics.is_some(),
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
        require_role(&state, request, &auth, ADMIN).await?;
        let rows = outbox::list(
            &state.db,
            status.0.map(Into::into),
            u64::from(limit.0.unwrap_or(50)),
        )
        .await
        .map_err(ApiError::internal)?;
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
        require_role(&state, request, &auth, ADMIN).await?;
        let mut counts = Counts::default();
        for (status, count) in outbox::counts(&state.db)
            .await
            .map_err(ApiError::internal)?
        {
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
        Ok(Json(counts))
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
        require_role(&state, request, &auth, ADMIN).await?;
        let now = state.clock.now();
        match outbox::retry_dead(&state.db, now, id.0)
            .await
            .map_err(ApiError::internal)?
        {
            Retried::Retried => {}
            Retried::NotFound => return Err(ApiError::NotFound),
            Retried::NotDead(status) => {
                return Err(ApiError::Conflict {
                    code: "not_a_dead_letter",
                    detail: format!(
                        "Only dead letters can be retried; this message is {}.",
                        Status::from(status).to_str()
                    ),
                });
            }
        }
        tracing::info!(message = %id.0, "dead letter put back in the queue");
        let row = outbox::find(&state.db, id.0)
            .await
            .map_err(ApiError::internal)?
            .ok_or(ApiError::NotFound)?;
        Ok(Json(row.into()))
    }
}

impl Status {
    fn to_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
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
