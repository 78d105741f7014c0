//! `/api/v1/auth`: log in, refresh, log out, who am I; and the public keys at
//! `/.well-known/jwks.json`.

use chrono::{DateTime, Utc};
use entity::{
    account_token::Purpose,
    user::{self, Role},
};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Email};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        patients::{check_date_of_birth, invalid},
        types::{Date, NonBlank, Text},
    },
    app::AppState,
    audit::{self, Action, AuditContext, Entry, Record},
    auth::{BearerAuth, password, tokens::role_name},
    error::{ApiError, ApiResult},
    notify::content::{AccountVerification, EmailContent},
    store::{
        account_tokens::{self, Subject, VERIFY_EMAIL_TTL},
        outbox::NewMessage,
        patients::{self, NewPatient},
        refresh_tokens::{self, Rotation},
        throttle,
        users::{self, CreateUserError, NewUser},
    },
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

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_credentials",
        detail: "The email or password is not correct.".into(),
    }
}

fn invalid_link() -> ApiError {
    ApiError::BadRequest {
        code: "invalid_token",
        detail: "This link is not valid any more: it was used already or has expired.".into(),
    }
}

fn invalid_refresh_token() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_refresh_token",
        detail: "The refresh token is not valid; log in again.".into(),
    }
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
        let now = state.clock.now();
        let context = AuditContext::from_request(request, None);
        let account = throttle::account_key(&users::normalize_email(body.email.as_str()));
        let address = throttle::address_key(context.source_address.as_deref().unwrap_or_default());
        let keys = [account.clone(), address.clone()];
        let blocked = throttle::blocked_until(&state.db, &keys, now).await?;
        if blocked.is_some() {
            audit::record(&state.db, now, &context, Entry::denied(Action::Login)).await?;
            // The same answer whether the account or the address is blocked.
            return Err(ApiError::TooManyRequests {
                code: "too_many_attempts",
                detail: "Too many failed logins. Please wait a little and try again.".into(),
            });
        }
        let user = users::find_by_email(&state.db, body.email.as_str()).await?;
        // Unknown accounts cost a verification too, so timing does not reveal which emails exist.
        let stored = user
            .as_ref()
            .and_then(|user| user.password_hash.clone())
            .unwrap_or_else(|| password::decoy_hash().to_owned());
        let matches = password::verify(body.0.password.into_string(), stored)
            .await
            .map_err(ApiError::internal)?;
        let user = match user {
            Some(user) if matches && user.disabled_at.is_none() && user.password_hash.is_some() => {
                user
            }
            known => {
                throttle::record_failure(&state.db, &account, &throttle::ACCOUNT, now).await?;
                throttle::record_failure(&state.db, &address, &throttle::ADDRESS, now).await?;
                let context = match &known {
                    Some(user) => context.acting_as(user.id, user.role),
                    None => context,
                };
                let mut entry = Entry::denied(Action::Login);
                if let Some(user) = &known {
                    entry = entry.on(Record::User(user.id));
                }
                audit::record(&state.db, now, &context, entry).await?;
                return Err(invalid_credentials());
            }
        };
        throttle::clear(&state.db, &account).await?;
        let context = context.acting_as(user.id, user.role);
        if user.email_verified_at.is_none() {
            audit::record(
                &state.db,
                now,
                &context,
                Entry::denied(Action::Login).on(Record::User(user.id)),
            )
            .await?;
            return Err(ApiError::Forbidden {
                code: "email_not_verified",
                detail: "Please confirm your email address first: use the link we emailed you. \
                         Registering again with the same address sends a new link."
                    .into(),
            });
        }
        let txn = crate::store::begin_write(&state.db).await?;
        let refresh_token = refresh_tokens::issue(&txn, now, user.id, Uuid::now_v7()).await?;
        audit::record(
            &txn,
            now,
            &context,
            Entry::allowed(Action::Login).on(Record::User(user.id)),
        )
        .await?;
        txn.commit().await?;
        token_pair(&state, user.id, user.role, refresh_token, now)
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
        let now = state.clock.now();
        match refresh_tokens::rotate(&state.db, now, body.refresh_token.as_str()).await? {
            Rotation::Rotated {
                user_id,
                refresh_token,
            } => {
                let user = users::find(&state.db, user_id).await?;
                match user {
                    Some(user) if user.disabled_at.is_none() => {
                        token_pair(&state, user.id, user.role, refresh_token, now)
                    }
                    _ => Err(invalid_refresh_token()),
                }
            }
            Rotation::Reused { user_id } => {
                tracing::warn!(user = %user_id, "a spent refresh token was presented again; its login is revoked");
                let mut context = AuditContext::from_request(request, None);
                if let Some(user) = users::find(&state.db, user_id).await? {
                    context = context.acting_as(user.id, user.role);
                }
                audit::record(
                    &state.db,
                    now,
                    &context,
                    Entry::denied(Action::RefreshTokenReuse).on(Record::User(user_id)),
                )
                .await?;
                Err(invalid_refresh_token())
            }
            Rotation::Invalid => Err(invalid_refresh_token()),
        }
    }

    /// Revokes the refresh token and every token of the same login.
    #[oai(path = "/api/v1/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<LoggedOut> {
        refresh_tokens::revoke_family_of(&state.db, state.clock.now(), body.refresh_token.as_str())
            .await
            .map_err(ApiError::internal)?;
        Ok(LoggedOut::Done)
    }

    /// The account the access token belongs to.
    #[oai(path = "/api/v1/auth/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: BearerAuth, state: Data<&AppState>) -> ApiResult<Json<Me>> {
        let user = users::find(&state.db, auth.0.user_id)
            .await
            .map_err(ApiError::internal)?
            .filter(|user| user.disabled_at.is_none())
            .ok_or_else(|| ApiError::Unauthorized {
                code: "unauthorized",
                detail: "The account behind this token no longer exists or is disabled.".into(),
            })?;
        let patient_id = if user.role == Role::Patient {
            patients::find_by_user(&state.db, user.id)
                .await?
                .map(|record| record.id)
        } else {
            None
        };
        Ok(Json(Me {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: role_name(user.role).to_owned(),
            patient_id,
        }))
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
        let body = body.0;
        check_date_of_birth("date_of_birth", body.date_of_birth.0, state.local_today())
            .map_err(|error| invalid(vec![error]))?;
        // Hashed before anything is looked up, so a known email costs the same time.
        let password_hash = password::hash(body.password.into_string())
            .await
            .map_err(ApiError::internal)?;
        let email = users::normalize_email(&body.email.0);
        let now = state.clock.now();
        let context = AuditContext::from_request(request, None);
        let txn = crate::store::begin_write(&state.db).await?;
        let existing = users::find_by_email(&txn, &email).await?;
        match existing {
            None => {
                let given_name = body.given_name.as_str().trim().to_owned();
                let family_name = body.family_name.as_str().trim().to_owned();
                let created = users::create(
                    &txn,
                    now,
                    NewUser {
                        email: email.clone(),
                        display_name: format!("{given_name} {family_name}"),
                        password_hash: Some(password_hash),
                        role: Role::Patient,
                        email_verified: false,
                    },
                )
                .await;
                let user = match created {
                    Ok(user) => user,
                    // Registered by a concurrent request a moment ago: answer as for any known email.
                    Err(CreateUserError::EmailTaken) => return Ok(registration_received()),
                    Err(CreateUserError::Database(err)) => return Err(err.into()),
                };
                let record = patients::create(
                    &txn,
                    now,
                    NewPatient {
                        user_id: Some(user.id),
                        given_name,
                        family_name,
                        date_of_birth: body.date_of_birth.0,
                        email: Some(email),
                        phone: None,
                        created_by: None,
                    },
                )
                .await?;
                send_verification(&state, &txn, now, &user, &record.given_name).await?;
                audit::record(
                    &txn,
                    now,
                    &context.acting_as(user.id, user.role),
                    Entry::allowed(Action::Register).on(Record::Patient(record.id)),
                )
                .await?;
            }
            Some(user)
                if user.role == Role::Patient
                    && user.email_verified_at.is_none()
                    && user.disabled_at.is_none() =>
            {
                // The first registration's password stays: whoever registers second cannot take
                // over an account by having its owner click the link.
                let name = patients::find_by_user(&txn, user.id)
                    .await?
                    .map(|record| record.given_name)
                    .unwrap_or_else(|| user.display_name.clone());
                send_verification(&state, &txn, now, &user, &name).await?;
            }
            Some(user) => {
                audit::record(
                    &txn,
                    now,
                    &context,
                    Entry::denied(Action::Register).on(Record::User(user.id)),
                )
                .await?;
            }
        }
        txn.commit().await?;
        Ok(registration_received())
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
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let token = account_tokens::consume(&txn, now, Purpose::VerifyEmail, body.token.as_str())
            .await?
            .ok_or_else(invalid_link)?;
        let user = match token.user_id {
            Some(user_id) => users::find(&txn, user_id).await?,
            None => None,
        }
        .ok_or_else(invalid_link)?;
        users::mark_email_verified(&txn, now, user.id).await?;
        audit::record(
            &txn,
            now,
            &AuditContext::from_request(request, None).acting_as(user.id, user.role),
            Entry::allowed(Action::VerifyEmail).on(Record::User(user.id)),
        )
        .await?;
        txn.commit().await?;
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
        let body = body.0;
        let password_hash = password::hash(body.password.into_string())
            .await
            .map_err(ApiError::internal)?;
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let token = account_tokens::consume(&txn, now, Purpose::Invitation, body.token.as_str())
            .await?
            .ok_or_else(invalid_link)?;
        let record = match token.patient_id {
            Some(patient_id) => patients::find(&txn, patient_id).await?,
            None => None,
        }
        .filter(|record| record.user_id.is_none())
        .ok_or_else(invalid_link)?;
        let email = record.email.clone().ok_or_else(invalid_link)?;
        let user = users::create(
            &txn,
            now,
            NewUser {
                email,
                display_name: format!("{} {}", record.given_name, record.family_name),
                password_hash: Some(password_hash),
                role: Role::Patient,
                // The invitation reached this address.
                email_verified: true,
            },
        )
        .await
        .map_err(|err| match err {
            CreateUserError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                detail:
                    "An account with this email address exists already; please contact the clinic."
                        .into(),
            },
            CreateUserError::Database(err) => err.into(),
        })?;
        if !patients::link_user(&txn, now, record.id, user.id).await? {
            return Err(invalid_link());
        }
        audit::record(
            &txn,
            now,
            &AuditContext::from_request(request, None).acting_as(user.id, user.role),
            Entry::allowed(Action::AcceptInvitation).on(Record::Patient(record.id)),
        )
        .await?;
        txn.commit().await?;
        Ok(Done::NoContent)
    }

    /// The public keys that verify access tokens, selected by the token's `kid`.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&AppState>) -> ApiResult<Json<JwkSet>> {
        Ok(Json(JwkSet {
            keys: state
                .tokens
                .ring()
                .keys()
                .iter()
                .map(|key| PublicJwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x: key.public_x.clone(),
                    kid: key.kid.clone(),
                    alg: "EdDSA".into(),
                    key_use: "sig".into(),
                })
                .collect(),
        }))
    }
}

fn registration_received() -> Registered {
    Registered::Received(Json(RegistrationReceived {
        message: "Thank you. If this address can be registered, we have emailed it a link to \
                  confirm it; the link works for 24 hours."
            .into(),
    }))
}

/// Emails `user` a fresh link to confirm their address, in the caller's transaction.
async fn send_verification(
    state: &AppState,
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    user: &user::Model,
    name: &str,
) -> ApiResult<()> {
    let secret = account_tokens::issue(
        txn,
        now,
        Purpose::VerifyEmail,
        Subject::User(user.id),
        VERIFY_EMAIL_TTL,
    )
    .await?;
    state
        .outbox
        .enqueue(
            txn,
            now,
            NewMessage::immediate(
                user.email.clone(),
                EmailContent::AccountVerification(AccountVerification {
                    recipient_name: name.to_owned(),
                    verify_url: state.link("verify-email", &secret),
                    expires_in_hours: VERIFY_EMAIL_TTL.num_hours() as u32,
                }),
                now,
            ),
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

fn token_pair(
    state: &AppState,
    user_id: Uuid,
    role: entity::user::Role,
    refresh_token: String,
    now: DateTime<Utc>,
) -> ApiResult<Json<TokenPair>> {
    let (access_token, expires_at) = state
        .tokens
        .issue(user_id, role, now)
        .map_err(ApiError::internal)?;
    Ok(Json(TokenPair {
        access_token,
        token_type: "Bearer".into(),
        expires_in: (expires_at - now).num_seconds(),
        access_token_expires_at: expires_at,
        refresh_token,
    }))
}
