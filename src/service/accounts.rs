//! Accounts: a patient's registration and email verification, accepting the front desk's
//! invitation, logging in (throttled), refreshing (rotation, with reuse revoking the login),
//! logging out, resetting a forgotten password by an emailed link, changing one's password, the
//! caller's own account, and the keys that verify access tokens.
//!
//! Registering, verifying, logging in, refreshing, accepting an invitation and the password
//! reset are anonymous: they take the request's [`AuditContext`] instead of a caller, and their
//! audit entries name the account once it is known.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    account_token::Purpose,
    user::{self, Role},
};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Audit, AuditContext, Record, Subject},
    auth::{password, tokens::Principal},
    error::{ApiError, ApiResult, FieldError},
    notify::content::{AccountVerification, EmailContent, PasswordReset},
    service::{
        Caller,
        patients::{check_date_of_birth, stored_text},
    },
    store::{
        self,
        account_tokens::{self, PASSWORD_RESET_TTL, Subject as TokenSubject, VERIFY_EMAIL_TTL},
        outbox::NewMessage,
        patients::{self, NewPatient},
        refresh_tokens::{self, Rotation},
        throttle,
        users::{self, CreateUserError, NewUser},
        web_sessions,
    },
    text::Lines,
};

/// An account as its owner and administrators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// `None` while the account is active.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<user::Model> for Account {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            created_at: user.created_at,
            disabled_at: user.disabled_at,
        }
    }
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    /// Seconds from issue until the access token expires.
    pub expires_in: i64,
    /// Single use: every refresh hands out a new one.
    pub refresh_token: String,
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

fn account_gone() -> ApiError {
    ApiError::Unauthorized {
        code: "unauthorized",
        detail: "The account behind this token no longer exists or is disabled.".into(),
    }
}

fn invalid_refresh_token() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_refresh_token",
        detail: "The refresh token is not valid; log in again.".into(),
    }
}

/// The same request's audit trail, now known to be acting as `user`.
fn acting_as(audit: &Audit, user: &user::Model) -> Audit {
    Audit::new(
        audit.context.clone().acting_as(user.id, user.role),
        audit.now,
    )
}

/// An email address and password to log in with.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// Exchanges an email and password for tokens. Failures slow the account and the source
/// address down (see `store::throttle`); every attempt is on the audit trail.
#[tracing::instrument(name = "service.accounts.login", skip_all)]
pub async fn login(
    state: &AppState,
    context: AuditContext,
    credentials: Credentials,
) -> ApiResult<Tokens> {
    let (user, audit) = authenticate(state, context, credentials).await?;
    let now = audit.now;
    let txn = store::begin_write(&state.db).await?;
    let refresh_token = refresh_tokens::issue(&txn, now, user.id, Uuid::now_v7()).await?;
    audit
        .allowed(&txn, Action::Login, Record::User(user.id))
        .await?;
    txn.commit().await?;
    tokens(state, &user, refresh_token, now)
}

/// Checks an email and password for a page sign-in: the same throttling, checks and audit
/// trail as [`login`], without tokens (the page session is the browser's credential).
#[tracing::instrument(name = "service.accounts.sign_in", skip_all)]
pub async fn sign_in(
    state: &AppState,
    context: AuditContext,
    credentials: Credentials,
) -> ApiResult<Principal> {
    let (user, audit) = authenticate(state, context, credentials).await?;
    audit
        .allowed(&state.db, Action::Login, Record::User(user.id))
        .await?;
    Ok(Principal {
        user_id: user.id,
        role: user.role,
    })
}

/// The account `credentials` open, once the throttle admits the attempt, the password matches,
/// the account is enabled and its address confirmed; with the audit trail acting as it. Every
/// refusal is recorded.
async fn authenticate(
    state: &AppState,
    context: AuditContext,
    credentials: Credentials,
) -> ApiResult<(user::Model, Audit)> {
    let now = state.clock.now();
    let audit = Audit::new(context, now);
    let account = throttle::account_key(&users::normalize_email(&credentials.email));
    // Counted before the password is checked, so concurrent guesses cannot outrun the limit.
    let reservation =
        throttle::reserve(&state.db, attempt_limits(&audit, &credentials.email), now).await?;
    if !reservation.admitted() {
        throttle::release(&state.db, &reservation).await?;
        audit
            .denied(&state.db, Action::Login, Subject::NONE)
            .await?;
        // The same answer whether the account or the address is blocked.
        return Err(ApiError::TooManyRequests {
            code: "too_many_attempts",
            detail: "Too many failed logins. Please wait a little and try again.".into(),
        });
    }
    let checked = check_password(state, credentials).await;
    let (user, matches) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            // Not checked (busy, or the database failed): the attempt is given back.
            throttle::release(&state.db, &reservation).await.ok();
            return Err(err);
        }
    };
    let user = match user {
        Some(user) if matches && user.disabled_at.is_none() && user.password_hash.is_some() => user,
        known => {
            throttle::failed(&state.db, &reservation, state.clock.now()).await?;
            match &known {
                Some(user) => {
                    acting_as(&audit, user)
                        .denied(&state.db, Action::Login, Record::User(user.id))
                        .await?
                }
                None => {
                    audit
                        .denied(&state.db, Action::Login, Subject::NONE)
                        .await?
                }
            }
            return Err(invalid_credentials());
        }
    };
    // The right password: the account's count is cleared, and the address gets its attempt back.
    throttle::clear(&state.db, &account).await?;
    throttle::release(&state.db, &reservation).await?;
    let audit = acting_as(&audit, &user);
    if user.email_verified_at.is_none() {
        audit
            .denied(&state.db, Action::Login, Record::User(user.id))
            .await?;
        return Err(ApiError::Forbidden {
            code: "email_not_verified",
            detail: "Please confirm your email address first: use the link we emailed you. \
                     Registering again with the same address sends a new link."
                .into(),
        });
    }
    Ok((user, audit))
}

/// What a password attempt on `email`'s account counts against: the account, and the address
/// the request comes from.
fn attempt_limits(audit: &Audit, email: &str) -> Vec<throttle::Limit> {
    vec![
        throttle::Limit {
            key: throttle::account_key(&users::normalize_email(email)),
            policy: throttle::ACCOUNT,
        },
        throttle::Limit {
            key: throttle::address_key(audit.context.source_address.as_deref().unwrap_or_default()),
            policy: throttle::ADDRESS,
        },
    ]
}

/// The account of `credentials` and whether the password matches it.
async fn check_password(
    state: &AppState,
    credentials: Credentials,
) -> ApiResult<(Option<user::Model>, bool)> {
    let user = users::find_by_email(&state.db, &credentials.email).await?;
    // Unknown accounts cost a verification too, so timing does not reveal which emails exist.
    let stored = user
        .as_ref()
        .and_then(|user| user.password_hash.clone())
        .unwrap_or_else(|| password::decoy_hash().to_owned());
    let matches = state.hasher.verify(credentials.password, stored).await?;
    Ok((user, matches))
}

/// Spends a refresh token for new tokens. A token presented twice revokes every token of its
/// login (the second use means it was copied), and that is on the audit trail.
#[tracing::instrument(name = "service.accounts.refresh", skip_all)]
pub async fn refresh(
    state: &AppState,
    context: AuditContext,
    refresh_token: &str,
) -> ApiResult<Tokens> {
    let now = state.clock.now();
    match refresh_tokens::rotate(&state.db, now, refresh_token).await? {
        Rotation::Rotated {
            user_id,
            refresh_token,
        } => match users::find(&state.db, user_id).await? {
            Some(user) if user.disabled_at.is_none() => tokens(state, &user, refresh_token, now),
            _ => Err(invalid_refresh_token()),
        },
        Rotation::Reused { user_id } => {
            tracing::warn!(user = %user_id, "a spent refresh token was presented again; its login is revoked");
            let mut audit = Audit::new(context, now);
            if let Some(user) = users::find(&state.db, user_id).await? {
                audit = acting_as(&audit, &user);
            }
            audit
                .denied(&state.db, Action::RefreshTokenReuse, Record::User(user_id))
                .await?;
            Err(invalid_refresh_token())
        }
        Rotation::Invalid => Err(invalid_refresh_token()),
    }
}

/// Revokes the refresh token and every token of the same login. An unknown token is ignored.
#[tracing::instrument(name = "service.accounts.logout", skip_all)]
pub async fn logout(state: &AppState, refresh_token: &str) -> ApiResult<()> {
    refresh_tokens::revoke_family_of(&state.db, state.clock.now(), refresh_token).await?;
    Ok(())
}

/// The caller's account, and for a patient their record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub account: Account,
    pub patient_id: Option<Uuid>,
}

/// The account the caller's access token belongs to, while it is active.
#[tracing::instrument(name = "service.accounts.me", skip_all)]
pub async fn me(state: &AppState, caller: &Caller) -> ApiResult<Me> {
    let user = users::find(&state.db, caller.user_id())
        .await?
        .filter(|user| user.disabled_at.is_none())
        .ok_or_else(account_gone)?;
    let patient_id = if user.role == Role::Patient {
        patients::find_by_user(&state.db, user.id)
            .await?
            .map(|record| record.id)
    } else {
        None
    };
    Ok(Me {
        account: user.into(),
        patient_id,
    })
}

/// A new patient's account.
#[derive(Debug, Clone)]
pub struct Registration {
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub date_of_birth: NaiveDate,
    pub password: String,
}

/// Every problem with a registration as a person typed it. The API's edge types hold the same
/// rules; the pages send what was typed, so the use case checks them itself.
pub fn registration_problems(registration: &Registration, today: NaiveDate) -> Vec<FieldError> {
    let mut problems: Vec<FieldError> = [
        name_problem("given_name", "first name", &registration.given_name),
        name_problem("family_name", "last name", &registration.family_name),
        email_problem("email", &registration.email),
        check_date_of_birth("date_of_birth", registration.date_of_birth, today).err(),
        password_problem("password", &registration.password),
    ]
    .into_iter()
    .flatten()
    .collect();
    problems.dedup_by(|a, b| a.field == b.field);
    problems
}

/// What is wrong with a name (`label` names it for a person): required, one line, 100 characters.
pub fn name_problem(field: &str, label: &str, name: &str) -> Option<FieldError> {
    let name = name.trim();
    let problem = |code: &str, message: String| {
        Some(FieldError {
            field: field.into(),
            code: code.into(),
            message,
        })
    };
    if name.is_empty() {
        return problem("required", format!("Enter your {label}."));
    }
    if name.chars().count() > 100 {
        return problem(
            "too_long",
            format!("Your {label} can have at most 100 characters."),
        );
    }
    if Lines::Single.refused(name).is_some() {
        return problem(
            "invalid_character",
            format!("Your {label} can only be one line of ordinary text."),
        );
    }
    None
}

/// What is wrong with an email address: required, well-formed, at most 320 characters.
pub fn email_problem(field: &str, email: &str) -> Option<FieldError> {
    let email = email.trim();
    let (code, message) = if email.is_empty() {
        ("required", "Enter your email address.")
    } else if email.chars().count() > 320 || !email_address::EmailAddress::is_valid(email) {
        (
            "invalid_email",
            "Enter an email address in the right form, like name@example.org.",
        )
    } else {
        return None;
    };
    Some(FieldError {
        field: field.into(),
        code: code.into(),
        message: message.into(),
    })
}

/// What is wrong with a new password: 10 to 256 characters.
pub fn password_problem(field: &str, new_password: &str) -> Option<FieldError> {
    password::check_strength(new_password)
        .err()
        .map(|reason| FieldError {
            field: field.into(),
            code: if new_password.chars().count() < password::MIN_LEN {
                "too_short"
            } else {
                "too_long"
            }
            .into(),
            message: format!("{}{}.", reason[..1].to_uppercase(), &reason[1..]),
        })
}

pub(crate) fn invalid_fields(errors: Vec<FieldError>) -> ApiResult<()> {
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::Validation {
        detail: "Some fields are not valid.".into(),
        errors,
    })
}

/// Creates a patient account and its record, and emails a link to confirm the address. Whether
/// the email was known is never told: an unconfirmed account gets a fresh link, a confirmed
/// one nothing (an audited refusal).
#[tracing::instrument(name = "service.accounts.register", skip_all)]
pub async fn register(
    state: &AppState,
    context: AuditContext,
    registration: Registration,
) -> ApiResult<()> {
    invalid_fields(registration_problems(&registration, state.local_today()))?;
    // Hashed before anything is looked up, so a known email costs the same time.
    let password_hash = state.hasher.hash(registration.password).await?;
    let email = users::normalize_email(&registration.email);
    let audit = Audit::new(context, state.clock.now());
    let now = audit.now;
    let txn = store::begin_write(&state.db).await?;
    match users::find_by_email(&txn, &email).await? {
        None => {
            let given_name = stored_text(&registration.given_name);
            let family_name = stored_text(&registration.family_name);
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
                Err(CreateUserError::EmailTaken) => return Ok(()),
                Err(CreateUserError::Database(err)) => return Err(err.into()),
            };
            let record = patients::create(
                &txn,
                now,
                NewPatient {
                    user_id: Some(user.id),
                    given_name,
                    family_name,
                    date_of_birth: registration.date_of_birth,
                    email: Some(email),
                    phone: None,
                    created_by: None,
                },
            )
            .await?;
            send_verification(state, &txn, now, &user, &record.given_name).await?;
            acting_as(&audit, &user)
                .allowed(&txn, Action::Register, &record)
                .await?;
        }
        Some(user)
            if user.role == Role::Patient
                && user.email_verified_at.is_none()
                && user.disabled_at.is_none() =>
        {
            // The first registration's password stays: whoever registers second cannot take
            // over an account by having its owner click the link.
            let name = greeting_name(&txn, &user).await?;
            send_verification(state, &txn, now, &user, &name).await?;
        }
        Some(user) => {
            audit
                .denied(&txn, Action::Register, Record::User(user.id))
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// How an email greets `user`: a patient by their given name, anyone else by their display name.
async fn greeting_name(txn: &DatabaseTransaction, user: &user::Model) -> ApiResult<String> {
    Ok(patients::find_by_user(txn, user.id)
        .await?
        .map(|record| record.given_name)
        .unwrap_or_else(|| user.display_name.clone()))
}

/// Emails `user` a fresh link to confirm their address, in the caller's transaction.
async fn send_verification(
    state: &AppState,
    txn: &sea_orm::DatabaseTransaction,
    now: DateTime<Utc>,
    user: &user::Model,
    name: &str,
) -> ApiResult<()> {
    let secret = account_tokens::issue(
        txn,
        now,
        Purpose::VerifyEmail,
        TokenSubject::User(user.id),
        VERIFY_EMAIL_TTL,
    )
    .await?;
    let content = EmailContent::AccountVerification(AccountVerification {
        recipient_name: name.to_owned(),
        verify_url: state.link("verify-email", &secret),
        expires_in_hours: VERIFY_EMAIL_TTL.num_hours() as u32,
    });
    state
        .outbox
        .enqueue(
            txn,
            now,
            NewMessage::immediate(user.email.clone(), content, now),
        )
        .await?;
    Ok(())
}

/// Confirms a new account's email address with the token from the emailed link.
#[tracing::instrument(name = "service.accounts.verify_email", skip_all)]
pub async fn verify_email(state: &AppState, context: AuditContext, token: &str) -> ApiResult<()> {
    let audit = Audit::new(context, state.clock.now());
    let txn = store::begin_write(&state.db).await?;
    let token = account_tokens::consume(&txn, audit.now, Purpose::VerifyEmail, token)
        .await?
        .ok_or_else(invalid_link)?;
    let user = match token.user_id {
        Some(user_id) => users::find(&txn, user_id).await?,
        None => None,
    }
    .ok_or_else(invalid_link)?;
    users::mark_email_verified(&txn, audit.now, user.id).await?;
    acting_as(&audit, &user)
        .allowed(&txn, Action::VerifyEmail, Record::User(user.id))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Makes the new address a patient asked for their address, for login and for mail, with the
/// token from the link sent to it.
#[tracing::instrument(name = "service.accounts.confirm_email_change", skip_all)]
pub async fn confirm_email_change(
    state: &AppState,
    context: AuditContext,
    token: &str,
) -> ApiResult<()> {
    let audit = Audit::new(context, state.clock.now());
    let txn = store::begin_write(&state.db).await?;
    let token = account_tokens::consume(&txn, audit.now, Purpose::ChangeEmail, token)
        .await?
        .ok_or_else(invalid_link)?;
    let record = match token.patient_id {
        Some(patient_id) => patients::find(&txn, patient_id).await?,
        None => None,
    }
    .ok_or_else(invalid_link)?;
    let (Some(user_id), Some(new_email)) = (record.user_id, record.pending_email.clone()) else {
        return Err(invalid_link());
    };
    let user = users::find(&txn, user_id).await?.ok_or_else(invalid_link)?;
    users::change_email(&txn, audit.now, user.id, &new_email)
        .await
        .map_err(|err| match err {
            CreateUserError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                detail: "Another account uses this email address; please contact the clinic."
                    .into(),
            },
            CreateUserError::Database(err) => err.into(),
        })?;
    if !patients::confirm_pending_email(&txn, audit.now, record.id, &new_email).await? {
        return Err(invalid_link());
    }
    acting_as(&audit, &user)
        .allowed(&txn, Action::ConfirmEmailChange, &record)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// An invitation's token and the password the patient chooses.
#[derive(Debug, Clone)]
pub struct Acceptance {
    pub token: String,
    pub password: String,
}

/// Gives a patient the front desk registered a login with the password they choose; the
/// invitation reaching their address verifies it.
#[tracing::instrument(name = "service.accounts.accept_invitation", skip_all)]
pub async fn accept_invitation(
    state: &AppState,
    context: AuditContext,
    acceptance: Acceptance,
) -> ApiResult<()> {
    acceptable_password("password", &acceptance.password)?;
    let password_hash = state.hasher.hash(acceptance.password).await?;
    let audit = Audit::new(context, state.clock.now());
    let now = audit.now;
    let txn = store::begin_write(&state.db).await?;
    let token = account_tokens::consume(&txn, now, Purpose::Invitation, &acceptance.token)
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
            detail: "An account with this email address exists already; please contact the clinic."
                .into(),
        },
        CreateUserError::Database(err) => err.into(),
    })?;
    if !patients::link_user(&txn, now, record.id, user.id).await? {
        return Err(invalid_link());
    }
    acting_as(&audit, &user)
        .allowed(&txn, Action::AcceptInvitation, &record)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Emails the account at `email`, if there is an active one (any role), a link to choose a new
/// password: single use, for [`PASSWORD_RESET_TTL`], and only the newest link works. The caller
/// learns nothing from the answer: an unknown or disabled address gets the same one and no
/// email. Both ways write one transaction and neither hashes nor sends anything in the request
/// (the email goes through the outbox), so the times differ only by a few small statements.
#[tracing::instrument(name = "service.accounts.request_password_reset", skip_all)]
pub async fn request_password_reset(
    state: &AppState,
    context: AuditContext,
    email: &str,
) -> ApiResult<()> {
    let audit = Audit::new(context, state.clock.now());
    let now = audit.now;
    let txn = store::begin_write(&state.db).await?;
    // Whoever asks is not known to be the account's owner, so the entries name the account as
    // their record, not as their actor.
    match users::find_by_email(&txn, email).await? {
        Some(user) if user.disabled_at.is_none() => {
            let secret = account_tokens::issue(
                &txn,
                now,
                Purpose::PasswordReset,
                TokenSubject::User(user.id),
                PASSWORD_RESET_TTL,
            )
            .await?;
            let content = EmailContent::PasswordReset(PasswordReset {
                recipient_name: greeting_name(&txn, &user).await?,
                reset_url: state.link("reset-password", &secret),
                expires_in_hours: PASSWORD_RESET_TTL.num_hours() as u32,
            });
            state
                .outbox
                .enqueue(
                    &txn,
                    now,
                    NewMessage::immediate(user.email.clone(), content, now),
                )
                .await?;
            audit
                .allowed(&txn, Action::PasswordResetRequest, Record::User(user.id))
                .await?;
        }
        Some(user) => {
            audit
                .denied(&txn, Action::PasswordResetRequest, Record::User(user.id))
                .await?;
        }
        None => {
            audit
                .denied(&txn, Action::PasswordResetRequest, Subject::NONE)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Whether a password reset link still works (not used, not expired), so its page can say so
/// at once instead of after the patient has typed a new password. Spends nothing.
#[tracing::instrument(name = "service.accounts.password_reset_link_works", skip_all)]
pub async fn password_reset_link_works(state: &AppState, token: &str) -> ApiResult<bool> {
    let found =
        account_tokens::peek(&state.db, state.clock.now(), Purpose::PasswordReset, token).await?;
    Ok(found.is_some())
}

/// Sets a new password with the token from a reset link. The link is spent and the password set
/// together or not at all; the account's address counts as verified (its owner read the link),
/// every login of the account ends, and its failed logins are forgotten so the owner can log
/// in at once.
#[tracing::instrument(name = "service.accounts.reset_password", skip_all)]
pub async fn reset_password(
    state: &AppState,
    context: AuditContext,
    token: &str,
    new_password: String,
) -> ApiResult<()> {
    acceptable_password("password", &new_password)?;
    // A link that cannot work is refused before a hash is spent on it; spending it below
    // checks again.
    account_tokens::peek(&state.db, state.clock.now(), Purpose::PasswordReset, token)
        .await?
        .ok_or_else(invalid_link)?;
    let password_hash = state.hasher.hash(new_password).await?;
    let audit = Audit::new(context, state.clock.now());
    let now = audit.now;
    let txn = store::begin_write(&state.db).await?;
    let token = account_tokens::consume(&txn, now, Purpose::PasswordReset, token)
        .await?
        .ok_or_else(invalid_link)?;
    let user = match token.user_id {
        Some(user_id) => users::find(&txn, user_id).await?,
        None => None,
    }
    .filter(|user| user.disabled_at.is_none())
    .ok_or_else(invalid_link)?;
    users::set_password_hash(&txn, now, user.id, password_hash).await?;
    users::mark_email_verified(&txn, now, user.id).await?;
    revoke_sessions(&txn, now, user.id).await?;
    throttle::clear(&txn, &throttle::account_key(&user.email)).await?;
    acting_as(&audit, &user)
        .allowed(&txn, Action::PasswordReset, Record::User(user.id))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Changes the caller's password, given the current one. A wrong current password counts as a
/// failed login (the same throttle), so this cannot be used to guess it faster. Every refresh
/// token of the account is revoked; access tokens already issued, the caller's own included,
/// keep working until they expire (at most 15 minutes).
#[tracing::instrument(name = "service.accounts.change_password", skip_all)]
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    current_password: String,
    new_password: String,
) -> ApiResult<()> {
    caller
        .require(
            state,
            &[Role::Patient, Role::Staff, Role::Practitioner, Role::Admin],
        )
        .await?;
    acceptable_password("new_password", &new_password)?;
    let user = users::find(&state.db, caller.user_id())
        .await?
        .filter(|user| user.disabled_at.is_none())
        .ok_or_else(account_gone)?;
    let audit = caller.audit(state);
    let reservation =
        throttle::reserve(&state.db, attempt_limits(&audit, &user.email), audit.now).await?;
    if !reservation.admitted() {
        throttle::release(&state.db, &reservation).await?;
        audit
            .denied(&state.db, Action::PasswordChange, Record::User(user.id))
            .await?;
        return Err(ApiError::TooManyRequests {
            code: "too_many_attempts",
            detail: "Too many wrong passwords. Please wait a little and try again.".into(),
        });
    }
    let stored = user
        .password_hash
        .clone()
        .unwrap_or_else(|| password::decoy_hash().to_owned());
    let matches = match state.hasher.verify(current_password, stored).await {
        Ok(matches) => matches && user.password_hash.is_some(),
        Err(err) => {
            // Not checked (busy): the attempt is given back.
            throttle::release(&state.db, &reservation).await.ok();
            return Err(err.into());
        }
    };
    if !matches {
        throttle::failed(&state.db, &reservation, state.clock.now()).await?;
        audit
            .denied(&state.db, Action::PasswordChange, Record::User(user.id))
            .await?;
        return Err(ApiError::field(
            "current_password",
            "wrong_password",
            "The current password is not correct.",
            "is not the account's current password",
        ));
    }
    // The right password, as after a successful login.
    throttle::clear(&state.db, &throttle::account_key(&user.email)).await?;
    throttle::release(&state.db, &reservation).await?;
    let password_hash = state.hasher.hash(new_password).await?;
    let txn = store::begin_write(&state.db).await?;
    users::set_password_hash(&txn, audit.now, user.id, password_hash).await?;
    revoke_sessions(&txn, audit.now, user.id).await?;
    audit
        .allowed(&txn, Action::PasswordChange, Record::User(user.id))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// A new password the rules accept, or a 422 naming `field`.
fn acceptable_password(field: &str, password: &str) -> ApiResult<()> {
    invalid_fields(password_problem(field, password).into_iter().collect())
}

/// Ends every login of `user_id`, in the caller's transaction: once the password changes, no
/// session started with the old one may go on.
async fn revoke_sessions(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    user_id: Uuid,
) -> ApiResult<()> {
    refresh_tokens::revoke_all_of_user(txn, now, user_id).await?;
    web_sessions::end_all_of_user(txn, user_id).await?;
    Ok(())
}

/// A public key that verifies access tokens, as RFC 8037 describes Ed25519 keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kty: &'static str,
    pub crv: &'static str,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    pub alg: &'static str,
    pub key_use: &'static str,
}

/// The public keys that verify access tokens, selected by the token's `kid`.
#[tracing::instrument(name = "service.accounts.public_keys", skip_all)]
pub fn public_keys(state: &AppState) -> Vec<PublicKey> {
    state
        .tokens
        .ring()
        .keys()
        .iter()
        .map(|key| PublicKey {
            kty: "OKP",
            crv: "Ed25519",
            x: key.public_x.clone(),
            kid: key.kid.clone(),
            alg: "EdDSA",
            key_use: "sig",
        })
        .collect()
}

/// An access token for `user` and the refresh token issued with it.
fn tokens(
    state: &AppState,
    user: &user::Model,
    refresh_token: String,
    now: DateTime<Utc>,
) -> ApiResult<Tokens> {
    let (access_token, expires_at) = state
        .tokens
        .issue(user.id, user.role, now)
        .map_err(ApiError::internal)?;
    Ok(Tokens {
        access_token,
        access_token_expires_at: expires_at,
        expires_in: (expires_at - now).num_seconds(),
        refresh_token,
    })
}
