//! `/api/v1/users`: administrators create staff, practitioner and admin accounts, list them,
//! disable or re-enable any account, and give a staff account another staff role
//! (`service::users`).

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json, types::Email};
use uuid::Uuid;

use crate::{
    api::{ApiTags, caller, types::Text},
    app::AppState,
    auth::{BearerAuth, tokens::role_name},
    error::ApiResult,
    service::{accounts, users},
};

/// The roles an administrator gives; patients register themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "StaffRole", rename_all = "lowercase")]
pub enum StaffRole {
    Staff,
    Practitioner,
    Admin,
}

impl From<StaffRole> for users::StaffRole {
    fn from(role: StaffRole) -> Self {
        match role {
            StaffRole::Staff => Self::Staff,
            StaffRole::Practitioner => Self::Practitioner,
            StaffRole::Admin => Self::Admin,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewAccount {
    #[oai(validator(max_length = 320))]
    pub email: Email,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub display_name: Text,
    pub role: StaffRole,
    /// The first password (10 to 256 characters); the person should change it.
    #[oai(validator(min_length = 10, max_length = 256))]
    pub password: Text,
}

impl From<NewAccount> for users::NewAccount {
    fn from(body: NewAccount) -> Self {
        Self {
            email: body.email.0,
            display_name: body.display_name.into_string(),
            role: body.role.into(),
            password: body.password.into_string(),
        }
    }
}

#[derive(Debug, Object)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    /// Absent while the account is active.
    #[oai(skip_serializing_if_is_none)]
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<accounts::Account> for Account {
    fn from(user: accounts::Account) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: role_name(user.role).to_owned(),
            created_at: user.created_at,
            disabled_at: user.disabled_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RoleChange {
    pub role: StaffRole,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Account(Json<Account>),
}

pub struct UsersApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Admin")]
impl UsersApi {
    /// Creates a staff, practitioner or admin account.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<NewAccount>,
    ) -> ApiResult<Created> {
        // The schema (an email address, a password of 10 to 256 characters) is checked when the
        // body is parsed; anything that passes it is accepted.
        let created = users::create(&state, &caller(request, &auth), body.0.into()).await?;
        Ok(Created::Account(Json(created.into())))
    }

    /// Every account, newest first.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<Vec<Account>>> {
        let accounts = users::list(&state, &caller(request, &auth)).await?;
        Ok(Json(accounts.into_iter().map(Account::from).collect()))
    }

    /// Disables an account: it can no longer log in, and its refresh tokens are revoked.
    /// Access tokens already issued run out within 15 minutes.
    #[oai(
        path = "/users/:id/disable",
        method = "post",
        operation_id = "disableUser"
    )]
    async fn disable(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Account>> {
        let account = users::disable(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(account.into()))
    }

    /// Re-enables a disabled account: it can log in again with its password. A practitioner
    /// is not put back on the booking list by this: `PATCH /practitioners/{id}` does that.
    #[oai(
        path = "/users/:id/enable",
        method = "post",
        operation_id = "enableUser"
    )]
    async fn enable(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Account>> {
        let account = users::enable(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(account.into()))
    }

    /// Gives a staff, practitioner or admin account another of those roles. Its refresh tokens
    /// and page sessions end, so it signs in again with the new role. A practitioner who
    /// changes role leaves the booking list (their appointments stay). A patient's account and
    /// the caller's own are refused with 409.
    #[oai(
        path = "/users/:id/role",
        method = "put",
        operation_id = "changeUserRole"
    )]
    async fn change_role(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<RoleChange>,
    ) -> ApiResult<Json<Account>> {
        let account =
            users::change_role(&state, &caller(request, &auth), id.0, body.0.role.into()).await?;
        Ok(Json(account.into()))
    }
}
