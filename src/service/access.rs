//! Who is calling, what their role lets them do, and which records they may load.
//!
//! Every use case takes a [`Caller`]. It states the roles it serves with [`Caller::require`] (a
//! refusal is a 403 and an audit entry), and loads patient records only through the scoped
//! finders of [`crate::store::scope`], whose answer goes through [`Caller::visible`]: a record
//! the caller may not see is a 404 with a denied audit entry, exactly as if it did not exist.
//! That is the one place the rule "a patient sees only their own records" is applied.

use entity::user::Role;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Audit, AuditContext, Record, Subject},
    auth::{Principal, tokens::role_name},
    error::{ApiError, ApiResult},
    scheduling::Actor,
    store::scope::{Found, PatientScope, PractitionerScope},
};

pub const ADMIN: &[Role] = &[Role::Admin];
/// Demographics: the front desk manages them, practitioners need them with clinical records.
pub const CLINIC_TEAM: &[Role] = &[Role::Staff, Role::Practitioner];
pub const FRONT_DESK: &[Role] = &[Role::Staff];
pub const PATIENT: &[Role] = &[Role::Patient];
/// Clinical records and decisions.
pub const PRACTITIONER: &[Role] = &[Role::Practitioner];
/// Who books, moves and cancels appointments: patients their own, the front desk anyone's.
pub const BOOKERS: &[Role] = &[Role::Patient, Role::Staff];
/// Records that name a patient: the clinic team and the patients themselves.
pub const PATIENT_RECORD_READERS: &[Role] = &[Role::Patient, Role::Staff, Role::Practitioner];
pub const EVERYONE: &[Role] = &[Role::Patient, Role::Staff, Role::Practitioner, Role::Admin];
/// Who sets the clinic up: locations, appointment types, policies, practitioners, their hours
/// and time off.
pub const CLINIC_SETUP: &[Role] = &[Role::Staff, Role::Admin];
/// The clinic team and admins: practitioners' time off and calendar feed tokens.
pub const TEAM_AND_ADMINS: &[Role] = &[Role::Staff, Role::Practitioner, Role::Admin];
/// Who fills in intakes: patients their own, the front desk for a patient.
pub const INTAKE_WRITERS: &[Role] = &[Role::Patient, Role::Staff];
/// Who tries answers against the rules: practitioners, and the admins who keep the rule files.
pub const RULE_TESTERS: &[Role] = &[Role::Practitioner, Role::Admin];
/// Patient records (demographics): the clinic team reads any, a patient their own. (The order
/// is the one the 403 names them in.)
pub const DEMOGRAPHICS_READERS: &[Role] = &[Role::Staff, Role::Practitioner, Role::Patient];
/// Who corrects demographics: the front desk any record, a patient their own.
pub const DEMOGRAPHICS_EDITORS: &[Role] = &[Role::Staff, Role::Patient];

/// The signed-in caller of a use case: who they are and where the request came from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub context: AuditContext,
}

impl Caller {
    pub fn new(principal: Principal, context: AuditContext) -> Self {
        Self { principal, context }
    }

    pub fn user_id(&self) -> Uuid {
        self.principal.user_id
    }

    pub fn role(&self) -> Role {
        self.principal.role
    }

    pub fn is_patient(&self) -> bool {
        self.principal.role == Role::Patient
    }

    /// Which patients' records this caller may load.
    pub fn scope(&self) -> PatientScope {
        if self.is_patient() {
            PatientScope::Account(self.principal.user_id)
        } else {
            PatientScope::AnyPatient
        }
    }

    /// Which practitioners' own settings this caller may manage: a practitioner only their own.
    pub fn practitioner_scope(&self) -> PractitionerScope {
        if self.principal.role == Role::Practitioner {
            PractitionerScope::Account(self.principal.user_id)
        } else {
            PractitionerScope::AnyPractitioner
        }
    }

    /// Who acts, as the booking rules see it.
    pub fn actor(&self) -> Actor {
        if self.is_patient() {
            Actor::Patient
        } else {
            Actor::Staff
        }
    }

    /// This request's audit trail, stamped now.
    pub fn audit(&self, state: &AppState) -> Audit {
        Audit::new(self.context.clone(), state.clock.now())
    }

    /// Lets the call through when the caller's role is one of `allowed`; otherwise records the
    /// refusal on the audit trail and answers 403.
    #[tracing::instrument(name = "access.require", skip_all)]
    pub async fn require(&self, state: &AppState, allowed: &[Role]) -> ApiResult<()> {
        if allowed.contains(&self.principal.role) {
            return Ok(());
        }
        self.audit(state)
            .denied(&state.db, Action::AccessDenied, Subject::NONE)
            .await?;
        let roles: Vec<&str> = allowed.iter().map(|role| role_name(*role)).collect();
        Err(ApiError::Forbidden {
            code: "forbidden",
            detail: format!("This needs one of these roles: {}.", roles.join(", ")),
        })
    }

    /// The record a scoped finder found, or a 404 and a denied audit entry for `action` on
    /// `record` when it does not exist or is not the caller's to see.
    pub async fn visible<T>(
        &self,
        state: &AppState,
        action: Action,
        record: Record,
        found: Found<T>,
    ) -> ApiResult<T> {
        match found {
            Found::Visible(row) => Ok(row),
            Found::Hidden { owner } => {
                let mut subject = Subject::record(record);
                if let Some(patient_id) = owner {
                    subject = subject.for_patient(patient_id);
                }
                self.audit(state).denied(&state.db, action, subject).await?;
                Err(ApiError::NotFound)
            }
        }
    }

    /// [`Caller::require`], then [`Caller::visible`].
    pub async fn require_visible<T>(
        &self,
        state: &AppState,
        allowed: &[Role],
        action: Action,
        record: Record,
        find: impl AsyncFnOnce(PatientScope) -> Result<Found<T>, sea_orm::DbErr>,
    ) -> ApiResult<T> {
        self.require(state, allowed).await?;
        let found = find(self.scope()).await?;
        self.visible(state, action, record, found).await
    }
}
