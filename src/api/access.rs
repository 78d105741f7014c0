//! Who may call what. Every handler that needs a signed-in caller takes [`BearerAuth`] and
//! states the roles it serves with [`require_role`]; a refusal is a 403 and an audit entry.
//! Record-level scoping (a patient sees only their own records) is done where records are
//! loaded, and answers 404 so that nobody learns what exists.

use entity::user::Role;
use poem::Request;

use crate::{
    app::AppState,
    audit::{self, Action, AuditContext, Entry},
    auth::{BearerAuth, tokens::role_name},
    error::{ApiError, ApiResult},
};

pub const ADMIN: &[Role] = &[Role::Admin];
/// Demographics: the front desk manages them, practitioners need them with clinical records.
pub const CLINIC_TEAM: &[Role] = &[Role::Staff, Role::Practitioner];
pub const FRONT_DESK: &[Role] = &[Role::Staff];
pub const PATIENT: &[Role] = &[Role::Patient];
/// Clinical records and decisions.
pub const PRACTITIONER: &[Role] = &[Role::Practitioner];

/// Lets the call through when the caller's role is one of `allowed`; otherwise records the
/// refusal on the audit trail and answers 403.
pub async fn require_role(
    state: &AppState,
    request: &Request,
    auth: &BearerAuth,
    allowed: &[Role],
) -> ApiResult<()> {
    if allowed.contains(&auth.0.role) {
        return Ok(());
    }
    audit::record(
        &state.db,
        state.clock.now(),
        &AuditContext::from_request(request, Some(&auth.0)),
        Entry::denied(Action::AccessDenied),
    )
    .await?;
    let roles: Vec<&str> = allowed.iter().map(|role| role_name(*role)).collect();
    Err(ApiError::Forbidden {
        code: "forbidden",
        detail: format!("This needs one of these roles: {}.", roles.join(", ")),
    })
}
