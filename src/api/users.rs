//! `/api/v1/users`: administrators create staff, practitioner and admin accounts, list them,
//! and disable any account.

use chrono::{DateTime, Utc};
use entity::user::{self, Role};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json, types::Email};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        access::{ADMIN, require_role},
        types::Text,
    },
    app::AppState,
    auth::{BearerAuth, password, tokens::role_name},
    error::{ApiError, ApiResult},
    store::{
        refresh_tokens,
        users::{self, CreateUserError, NewUser},
    },
};

/// The roles an administrator gives; patients register themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "StaffRole", rename_all = "lowercase")]
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

impl From<user::Model> for Account {
    fn from(user: user::Model) -> Self {
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
        require_role(&state, request, &auth, ADMIN).await?;
        // The schema (an email address, a password of 10 to 256 characters) is checked when the
        // body is parsed; anything that passes it is accepted here.
        let body = body.0;
        let email = users::normalize_email(&body.email.0);
        let password_hash = password::hash(body.password.into_string())
            .await
            .map_err(ApiError::internal)?;
        let created = users::create(
            &state.db,
            state.clock.now(),
            NewUser {
                email,
                display_name: body.display_name.into_string(),
                password_hash: Some(password_hash),
                role: body.role.into(),
                email_verified: true,
            },
        )
        .await
        .map_err(|err| match err {
            CreateUserError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                detail: "An account with this email exists already.".into(),
            },
            CreateUserError::Database(err) => ApiError::internal(err),
        })?;
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
        require_role(&state, request, &auth, ADMIN).await?;
        let accounts = users::list(&state.db).await.map_err(ApiError::internal)?;
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
        require_role(&state, request, &auth, ADMIN).await?;
        if id.0 == auth.0.user_id {
            return Err(ApiError::Conflict {
                code: "cannot_disable_self",
                detail: "An administrator cannot disable their own account.".into(),
            });
        }
        let now = state.clock.now();
        let account = users::disable(&state.db, now, id.0)
            .await
            .map_err(ApiError::internal)?
            .ok_or(ApiError::NotFound)?;
        refresh_tokens::revoke_all_of_user(&state.db, now, account.id)
            .await
            .map_err(ApiError::internal)?;
        Ok(Json(account.into()))
    }
}
