//! Appending to and paging through the audit trail.

use chrono::{DateTime, Utc};
use entity::audit_event::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::audit::{AuditContext, Entry};

#[tracing::instrument(name = "store.audit.append", skip_all)]
pub async fn append<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    context: &AuditContext,
    entry: Entry,
) -> Result<(), DbErr> {
    row(now, context, entry).insert(db).await?;
    Ok(())
}

/// The row [`append`] writes, for a caller that writes it with others in one statement.
pub fn row(now: DateTime<Utc>, context: &AuditContext, entry: Entry) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        occurred_at: Set(now),
        actor_user_id: Set(context.actor_user_id),
        actor_role: Set(context.actor_role_name().map(str::to_owned)),
        action: Set(entry.action.as_str().to_owned()),
        record_type: Set(entry.record.map(|record| record.type_name().to_owned())),
        record_id: Set(entry.record.map(|record| record.id())),
        patient_id: Set(entry.patient_id),
        outcome: Set(entry.outcome),
        request_id: Set(context.request_id.clone()),
        source_address: Set(context.source_address.clone()),
    }
}

/// Which entries an admin asked for.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub patient_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub action: Option<String>,
    /// Only entries older than this one (the cursor of the previous page).
    pub before: Option<Uuid>,
}

/// Newest first, `limit` entries, and whether more follow. Ids are UUID v7, so ordering by id is
/// ordering by creation and the last id of a page is the cursor for the next.
#[tracing::instrument(name = "store.audit.page", skip_all)]
pub async fn page<C: ConnectionTrait>(
    db: &C,
    filter: &AuditFilter,
    limit: u64,
) -> Result<(Vec<audit_event::Model>, bool), DbErr> {
    let mut query = Entity::find();
    if let Some(patient_id) = filter.patient_id {
        query = query.filter(Column::PatientId.eq(patient_id));
    }
    if let Some(actor) = filter.actor_user_id {
        query = query.filter(Column::ActorUserId.eq(actor));
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::OccurredAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::OccurredAt.lt(to));
    }
    if let Some(action) = &filter.action {
        query = query.filter(Column::Action.eq(action.as_str()));
    }
    if let Some(before) = filter.before {
        query = query.filter(Column::Id.lt(before));
    }
    let mut rows = query
        .order_by_desc(Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}
