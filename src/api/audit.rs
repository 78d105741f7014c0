//! `/api/v1/admin/audit`: the audit trail for administrators, newest first, filtered by
//! patient, actor and time, paged with a cursor (`service::admin`).

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use crate::{
    api::{ApiTags, caller},
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    service::admin::{self, AuditQuery, Outcome},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "AuditOutcome", rename_all = "lowercase")]
pub enum AuditOutcome {
    Allowed,
    Denied,
}

/// One entry: who did what to which record, when, from where. Never the record's content.
#[derive(Debug, Object)]
pub struct AuditEntry {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// Absent for anonymous callers (a failed login for an unknown email, a registration).
    #[oai(skip_serializing_if_is_none)]
    pub actor_user_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub actor_role: Option<String>,
    /// For example `login`, `patient.read`, `access_denied`, `refresh_token.reuse`.
    pub action: String,
    #[oai(skip_serializing_if_is_none)]
    pub record_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub record_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub patient_id: Option<Uuid>,
    pub outcome: AuditOutcome,
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub source_address: Option<String>,
}

impl From<admin::AuditEntry> for AuditEntry {
    fn from(row: admin::AuditEntry) -> Self {
        Self {
            id: row.id,
            occurred_at: row.occurred_at,
            actor_user_id: row.actor_user_id,
            actor_role: row.actor_role,
            action: row.action,
            record_type: row.record_type,
            record_id: row.record_id,
            patient_id: row.patient_id,
            outcome: match row.outcome {
                Outcome::Allowed => AuditOutcome::Allowed,
                Outcome::Denied => AuditOutcome::Denied,
            },
            request_id: row.request_id,
            source_address: row.source_address,
        }
    }
}

/// A page of the audit trail.
#[derive(Debug, Object)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_before: Option<Uuid>,
}

impl From<admin::AuditPage> for AuditPage {
    fn from(page: admin::AuditPage) -> Self {
        Self {
            entries: page.entries.into_iter().map(AuditEntry::from).collect(),
            next_before: page.next_before,
        }
    }
}

pub struct AdminAuditApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminAuditApi {
    /// Pages through the audit trail, newest first.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEntries")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        /// Only entries about this patient.
        patient_id: Query<Option<Uuid>>,
        /// Only entries of this account's actions.
        actor_id: Query<Option<Uuid>>,
        /// Only entries at or after this time.
        from: Query<Option<DateTime<Utc>>>,
        /// Only entries before this time (a range that ends before it starts matches nothing).
        to: Query<Option<DateTime<Utc>>>,
        /// The `next_before` of the previous page.
        before: Query<Option<Uuid>>,
        /// At most this many entries (1–500, default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<AuditPage>> {
        let query = AuditQuery {
            patient_id: patient_id.0,
            actor_user_id: actor_id.0,
            from: from.0,
            to: to.0,
            before: before.0,
            limit: limit.0,
            ..AuditQuery::default()
        };
        let page = admin::audit_trail(&state, &caller(request, &auth), query).await?;
        Ok(Json(page.into()))
    }
}
