//! Staff accounts, for administrators: creating staff, practitioner and admin accounts,
//! listing every account, disabling and re-enabling one, and changing a staff account's role
//! (all audited).

use entity::user::Role;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Record},
    error::{ApiError, ApiResult},
    service::{Caller, Work, access::ADMIN, accounts::Account},
    store::{
        practitioners, refresh_tokens,
        users::{self, CreateUserError, NewUser},
        web_sessions,
    },
};

/// The roles an administrator gives; patients register themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    Staff,
    Practitioner,
    Admin,
}

impl From<StaffRole> for Role {
    fn from(role: StaffRole) -> Self {
        match role {
            StaffRole::Staff => Role::Staff,
            StaffRole::Practitioner => Role::Practitioner,
            StaffRole::Admin => Role::Admin,
        }
    }
}

/// A staff account to create, with its first password.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub display_name: String,
    pub role: StaffRole,
    pub password: String,
}

/// Creates a staff, practitioner or admin account. Its email counts as verified: an
/// administrator vouches for it.
#[tracing::instrument(name = "service.users.create", skip_all)]
pub async fn create(state: &AppState, caller: &Caller, command: NewAccount) -> ApiResult<Account> {
    caller.require(state, ADMIN).await?;
    let password_hash = state.hasher.hash(command.password).await?;
    let created = users::create(
        &state.db,
        state.clock.now(),
        NewUser {
            email: users::normalize_email(&command.email),
            display_name: command.display_name,
            password_hash: Some(password_hash),
            role: command.role.into(),
            email_verified: true,
        },
    )
    .await
    .map_err(|err| match err {
        CreateUserError::EmailTaken => ApiError::Conflict {
            code: "email_taken",
            detail: "An account with this email exists already.".into(),
        },
        CreateUserError::Database(err) => err.into(),
    })?;
    Ok(created.into())
}

/// Every account, newest first.
#[tracing::instrument(name = "service.users.list", skip_all)]
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<Account>> {
    caller.require(state, ADMIN).await?;
    let accounts = users::list(&state.db).await?;
    Ok(accounts.into_iter().map(Account::from).collect())
}

/// Disables an account and revokes its refresh tokens and page sessions, together; a practitioner's account takes
/// the practitioner off the booking list with it (their appointments stay, for the front desk
/// to move). An administrator cannot disable their own (nobody might be left to undo it).
#[tracing::instrument(name = "service.users.disable", skip_all)]
pub async fn disable(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Account> {
    caller.require(state, ADMIN).await?;
    if id == caller.user_id() {
        return Err(ApiError::Conflict {
            code: "cannot_disable_self",
            detail: "An administrator cannot disable their own account.".into(),
        });
    }
    let work = Work::begin(state, caller).await?;
    let account = users::disable(work.db(), work.now(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    refresh_tokens::revoke_all_of_user(work.db(), work.now(), account.id).await?;
    web_sessions::end_all_of_user(work.db(), account.id).await?;
    practitioners::deactivate_for_user(work.db(), work.now(), account.id).await?;
    work.allowed(Action::UserDisable, Record::User(account.id))
        .await?;
    work.commit().await?;
    Ok(account.into())
}

/// Re-enables a disabled account: it can sign in again (with its old password; its sessions
/// stay revoked). A practitioner's account does not put them back on the booking list: the
/// front desk does that (`PATCH /practitioners/{id}`), once their hours are right.
/// Enabling an enabled account changes nothing.
#[tracing::instrument(name = "service.users.enable", skip_all)]
pub async fn enable(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Account> {
    caller.require(state, ADMIN).await?;
    let work = Work::begin(state, caller).await?;
    let account = users::enable(work.db(), work.now(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    work.allowed(Action::UserEnable, Record::User(account.id))
        .await?;
    work.commit().await?;
    Ok(account.into())
}

/// Gives a staff, practitioner or admin account another of those roles. The account's refresh
/// tokens and page sessions end with it, so its next sign-in carries the new role (access
/// tokens already issued run out within 15 minutes). A practitioner who becomes front desk or
/// admin leaves the booking list, their appointments staying for the front desk to move; one
/// who becomes a practitioner is put on it by the front desk (`POST /practitioners`). A
/// patient's account keeps its role (its patient record hangs on it), and an administrator
/// cannot change their own (nobody might be left to undo it). Giving the role it has changes
/// nothing.
#[tracing::instrument(name = "service.users.change_role", skip_all)]
pub async fn change_role(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    role: StaffRole,
) -> ApiResult<Account> {
    caller.require(state, ADMIN).await?;
    if id == caller.user_id() {
        return Err(ApiError::Conflict {
            code: "cannot_change_own_role",
            detail: "An administrator cannot change their own role.".into(),
        });
    }
    let account = users::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if account.role == Role::Patient {
        return Err(ApiError::Conflict {
            code: "patient_account",
            detail: "A patient's account keeps the patient role; create a staff account instead."
                .into(),
        });
    }
    let role = Role::from(role);
    if account.role == role {
        return Ok(account.into());
    }
    let work = Work::begin(state, caller).await?;
    let changed = users::set_role(work.db(), work.now(), id, role)
        .await?
        .ok_or(ApiError::NotFound)?;
    refresh_tokens::revoke_all_of_user(work.db(), work.now(), id).await?;
    web_sessions::end_all_of_user(work.db(), id).await?;
    if account.role == Role::Practitioner {
        practitioners::deactivate_for_user(work.db(), work.now(), id).await?;
    }
    work.allowed(Action::UserRoleChange, Record::User(id))
        .await?;
    work.commit().await?;
    Ok(changed.into())
}
