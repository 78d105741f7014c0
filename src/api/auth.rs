//! `/api/v1/auth`: register, verify an email address, accept an invitation, log in, refresh, log
//! out, who am I, forgot / reset / change a password; and the public keys at
//! `/.well-known/jwks.json`. The use cases are
//! `service::accounts`'s; the anonymous ones get the request's audit context.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Email};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags, caller,
        types::{Date, NonBlank, Text},
    },
    app::AppState,
    audit::AuditContext,
    auth::{BearerAuth, tokens::role_name},
    error::ApiResult,
    service::accounts::{self, Acceptance, Credentials, Tokens},
};

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    #[oai(validator(max_length = 320))]
    pub email: Text,
    #[oai(validator(max_length = 256))]
    pub password: Text,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshRequest {
    #[oai(validator(max_length = 128))]
    pub refresh_token: Text,
}

/// An access token for `Authorization: Bearer`, and the refresh token that renews it.
#[derive(Debug, Object)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub access_token_expires_at: DateTime<Utc>,
    /// Single use: every refresh returns a new one. Keep it secret.
    pub refresh_token: String,
}

impl From<Tokens> for TokenPair {
    fn from(tokens: Tokens) -> Self {
        Self {
            access_token: tokens.access_token,
            token_type: "Bearer".into(),
            expires_in: tokens.expires_in,
            access_token_expires_at: tokens.access_token_expires_at,
            refresh_token: tokens.refresh_token,
        }
    }
}

/// The caller's account.
#[derive(Debug, Object)]
pub struct Me {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    /// patient, staff, practitioner or admin.
    pub role: String,
    /// A patient's own record (`GET /api/v1/patients/{id}`).
    #[oai(skip_serializing_if_is_none)]
    pub patient_id: Option<Uuid>,
}

impl From<accounts::Me> for Me {
    fn from(me: accounts::Me) -> Self {
        Self {
            id: me.account.id,
            email: me.account.email,
            display_name: me.account.display_name,
            role: role_name(me.account.role).to_owned(),
            patient_id: me.patient_id,
        }
    }
}

/// A new patient's account. The password is 10 to 256 characters.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct Registration {
    pub given_name: NonBlank<100>,
    pub family_name: NonBlank<100>,
    #[oai(validator(max_length = 320))]
    pub email: Email,
    /// Not in the future, and at most 120 years ago.
    pub date_of_birth: Date,
    #[oai(validator(min_length = 10, max_length = 256))]
    pub password: Text,
}

impl From<Registration> for accounts::Registration {
    fn from(body: Registration) -> Self {
        Self {
            given_name: body.given_name.into_string(),
            family_name: body.family_name.into_string(),
            email: body.email.0,
            date_of_birth: body.date_of_birth.0,
            password: body.password.into_string(),
        }
    }
}

/// The same answer whatever happened, so registering never reveals whether an email is known.
#[derive(Debug, Object)]
pub struct RegistrationReceived {
    pub message: String,
}

#[derive(ApiResponse)]
pub enum Registered {
    #[oai(status = 202)]
    Received(Json<RegistrationReceived>),
}

/// The token from an emailed link.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EmailedToken {
    #[oai(validator(min_length = 1, max_length = 128))]
    pub token: Text,
}

/// An invitation's token and the password the patient chooses (10 to 256 characters).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct InvitationAcceptance {
    #[oai(validator(min_length = 1, max_length = 128))]
    pub token: Text,
    #[oai(validator(min_length = 10, max_length = 256))]
    pub password: Text,
}

impl From<InvitationAcceptance> for Acceptance {
    fn from(body: InvitationAcceptance) -> Self {
        Self {
            token: body.token.into_string(),
            password: body.password.into_string(),
        }
    }
}

/// An address that forgot its password.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ForgotPassword {
    #[oai(validator(max_length = 320))]
    pub email: Email,
}

/// The same answer whatever the address, so asking never reveals whether it has an account.
#[derive(Debug, Object)]
pub struct PasswordResetRequested {
    pub message: String,
}

#[derive(ApiResponse)]
pub enum ResetRequested {
    #[oai(status = 202)]
    Received(Json<PasswordResetRequested>),
}

/// The token from a password reset email and the new password (10 to 256 characters).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PasswordReset {
    #[oai(validator(min_length = 1, max_length = 128))]
    pub token: Text,
    #[oai(validator(min_length = 10, max_length = 256))]
    pub password: Text,
}

/// The caller's current password and the new one (10 to 256 characters).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PasswordChange {
    #[oai(validator(max_length = 256))]
    pub current_password: Text,
    #[oai(validator(min_length = 10, max_length = 256))]
    pub new_password: Text,
}

#[derive(ApiResponse)]
pub enum PasswordChanged {
    /// Changed. Every refresh token of the account is revoked; access tokens already issued
    /// (this one too) keep working until they expire.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done; the account can log in now.
    #[oai(status = 204)]
    NoContent,
}

/// One public key, as RFC 8037 describes Ed25519 keys.
#[derive(Debug, Object)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[oai(rename = "use")]
    pub key_use: String,
}

impl From<accounts::PublicKey> for PublicJwk {
    fn from(key: accounts::PublicKey) -> Self {
        Self {
            kty: key.kty.into(),
            crv: key.crv.into(),
            x: key.x,
            kid: key.kid,
            alg: key.alg.into(),
            key_use: key.key_use.into(),
        }
    }
}

#[derive(Debug, Object)]
pub struct JwkSet {
    pub keys: Vec<PublicJwk>,
}

#[derive(ApiResponse)]
pub enum LoggedOut {
    /// The refresh token and every token descended from the same login are revoked.
    #[oai(status = 204)]
    Done,
}

pub struct AuthApi;

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Exchanges an email and password for an access token (15 minutes) and a refresh token
    /// (30 days, single use).
    #[oai(path = "/api/v1/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<LoginRequest>,
    ) -> ApiResult<Json<TokenPair>> {
        let credentials = Credentials {
            email: body.0.email.into_string(),
            password: body.0.password.into_string(),
        };
        let context = AuditContext::from_request(request, None);
        let tokens = accounts::login(&state, context, credentials).await?;
        Ok(Json(tokens.into()))
    }

    /// Spends a refresh token for a new pair. A token presented twice revokes every token of
    /// its login: the second use means it was copied.
    #[oai(
        path = "/api/v1/auth/refresh",
        method = "post",
        operation_id = "refresh"
    )]
    async fn refresh(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<Json<TokenPair>> {
        let context = AuditContext::from_request(request, None);
        let tokens = accounts::refresh(&state, context, body.refresh_token.as_str()).await?;
        Ok(Json(tokens.into()))
    }

    /// Revokes the refresh token and every token of the same login.
    #[oai(path = "/api/v1/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<LoggedOut> {
        accounts::logout(&state, body.refresh_token.as_str()).await?;
        Ok(LoggedOut::Done)
    }

    /// The account the access token belongs to.
    #[oai(path = "/api/v1/auth/me", method = "get", operation_id = "me")]
    async fn me(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<Me>> {
        let me = accounts::me(&state, &caller(request, &auth)).await?;
        Ok(Json(me.into()))
    }

    /// Creates a patient account and emails a link (valid 24 hours) to confirm the address; the
    /// account can log in once it is confirmed. The answer is the same whether or not the email
    /// is registered already: an unconfirmed account gets a fresh link, a confirmed one nothing.
    #[oai(
        path = "/api/v1/auth/register",
        method = "post",
        operation_id = "register"
    )]
    async fn register(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<Registration>,
    ) -> ApiResult<Registered> {
        let context = AuditContext::from_request(request, None);
        accounts::register(&state, context, body.0.into()).await?;
        Ok(Registered::Received(Json(RegistrationReceived {
            message: "Thank you. If this address can be registered, we have emailed it a link to \
                      confirm it; the link works for 24 hours."
                .into(),
        })))
    }

    /// Confirms a new account's email address with the token from the emailed link.
    #[oai(
        path = "/api/v1/auth/verify-email",
        method = "post",
        operation_id = "verifyEmail"
    )]
    async fn verify_email(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<EmailedToken>,
    ) -> ApiResult<Done> {
        let context = AuditContext::from_request(request, None);
        accounts::verify_email(&state, context, body.token.as_str()).await?;
        Ok(Done::NoContent)
    }

    /// Confirms the new email address a patient asked for, with the token from the link sent to
    /// it. From then on they log in with it and every email goes there.
    #[oai(
        path = "/api/v1/auth/confirm-email",
        method = "post",
        operation_id = "confirmEmailChange"
    )]
    async fn confirm_email_change(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<EmailedToken>,
    ) -> ApiResult<Done> {
        let context = AuditContext::from_request(request, None);
        accounts::confirm_email_change(&state, context, body.token.as_str()).await?;
        Ok(Done::NoContent)
    }

    /// Gives a patient the front desk registered a login: the token from the invitation email
    /// and the password they choose. They log in with their email address afterwards.
    #[oai(
        path = "/api/v1/auth/accept-invitation",
        method = "post",
        operation_id = "acceptInvitation"
    )]
    async fn accept_invitation(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<InvitationAcceptance>,
    ) -> ApiResult<Done> {
        let context = AuditContext::from_request(request, None);
        accounts::accept_invitation(&state, context, body.0.into()).await?;
        Ok(Done::NoContent)
    }

    /// Emails the account with this address a link to choose a new password
    /// (`<public base URL>/reset-password?token=…`, single use, 1 hour; only the newest link
    /// works). The answer is the same whether or not the address has an account, and a
    /// disabled account gets no email.
    #[oai(
        path = "/api/v1/auth/forgot-password",
        method = "post",
        operation_id = "forgotPassword"
    )]
    async fn forgot_password(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<ForgotPassword>,
    ) -> ApiResult<ResetRequested> {
        let context = AuditContext::from_request(request, None);
        accounts::request_password_reset(&state, context, &body.0.email.0).await?;
        Ok(ResetRequested::Received(Json(PasswordResetRequested {
            message: "Thank you. If this address belongs to an account, we have emailed it a \
                      link to choose a new password; the link works for 1 hour."
                .into(),
        })))
    }

    /// Sets a new password with the token from the reset email. The link works once; every
    /// login of the account ends (its refresh tokens are revoked), and the account can log in
    /// with the new password at once.
    #[oai(
        path = "/api/v1/auth/reset-password",
        method = "post",
        operation_id = "resetPassword"
    )]
    async fn reset_password(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<PasswordReset>,
    ) -> ApiResult<Done> {
        let context = AuditContext::from_request(request, None);
        let PasswordReset { token, password } = body.0;
        accounts::reset_password(&state, context, token.as_str(), password.into_string()).await?;
        Ok(Done::NoContent)
    }

    /// Changes the caller's password. A wrong current password is `422` (`current_password`,
    /// `wrong_password`) and counts as a failed login. Every refresh token of the account is
    /// revoked; access tokens already issued keep working until they expire.
    #[oai(
        path = "/api/v1/auth/change-password",
        method = "post",
        operation_id = "changePassword"
    )]
    async fn change_password(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<PasswordChange>,
    ) -> ApiResult<PasswordChanged> {
        let PasswordChange {
            current_password,
            new_password,
        } = body.0;
        accounts::change_password(
            &state,
            &caller(request, &auth),
            current_password.into_string(),
            new_password.into_string(),
        )
        .await?;
        Ok(PasswordChanged::NoContent)
    }

    /// The public keys that verify access tokens, selected by the token's `kid`.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&AppState>) -> ApiResult<Json<JwkSet>> {
        let keys = accounts::public_keys(&state);
        Ok(Json(JwkSet {
            keys: keys.into_iter().map(PublicJwk::from).collect(),
        }))
    }
}
