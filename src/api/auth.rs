//! `/api/v1/auth`: log in, refresh, log out, who am I; and the public keys at
//! `/.well-known/jwks.json`.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use crate::{
    api::{ApiTags, types::Text},
    app::AppState,
    auth::{BearerAuth, password, tokens::role_name},
    error::{ApiError, ApiResult},
    store::{
        refresh_tokens::{self, Rotation},
        throttle, users,
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
        let account = throttle::account_key(&users::normalize_email(body.email.as_str()));
        let source = request
            .remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip().to_string())
            .unwrap_or_default();
        let address = throttle::address_key(&source);
        let keys = [account.clone(), address.clone()];
        let blocked = throttle::blocked_until(&state.db, &keys, now)
            .await
            .map_err(ApiError::internal)?;
        if blocked.is_some() {
            // The same answer whether the account or the address is blocked.
            return Err(ApiError::TooManyRequests {
                code: "too_many_attempts",
                detail: "Too many failed logins. Please wait a little and try again.".into(),
            });
        }
        let user = users::find_by_email(&state.db, body.email.as_str())
            .await
            .map_err(ApiError::internal)?;
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
            _ => {
                throttle::record_failure(&state.db, &account, &throttle::ACCOUNT, now)
                    .await
                    .map_err(ApiError::internal)?;
                throttle::record_failure(&state.db, &address, &throttle::ADDRESS, now)
                    .await
                    .map_err(ApiError::internal)?;
                return Err(invalid_credentials());
            }
        };
        throttle::clear(&state.db, &account)
            .await
            .map_err(ApiError::internal)?;
        let refresh_token = refresh_tokens::issue(&state.db, now, user.id, Uuid::now_v7())
            .await
            .map_err(ApiError::internal)?;
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
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<Json<TokenPair>> {
        let now = state.clock.now();
        match refresh_tokens::rotate(&state.db, now, body.refresh_token.as_str())
            .await
            .map_err(ApiError::internal)?
        {
            Rotation::Rotated {
                user_id,
                refresh_token,
            } => {
                let user = users::find(&state.db, user_id)
                    .await
                    .map_err(ApiError::internal)?;
                match user {
                    Some(user) if user.disabled_at.is_none() => {
                        token_pair(&state, user.id, user.role, refresh_token, now)
                    }
                    _ => Err(invalid_refresh_token()),
                }
            }
            Rotation::Reused { user_id } => {
                tracing::warn!(user = %user_id, "a spent refresh token was presented again; its login is revoked");
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
        Ok(Json(Me {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: role_name(user.role).to_owned(),
        }))
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
