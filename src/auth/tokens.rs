//! Access tokens: EdDSA JWTs, 15 minutes, with `kid`, `iss`, `aud`, `sub`, `iat`, `nbf`, `exp`
//! and the role. Verification pins the algorithm, picks the key by `kid`, and checks the issuer,
//! the audience and the time claims against the service's (injected) clock.

use chrono::{DateTime, Duration, Utc};
use entity::user::Role;
use jsonwebtoken::{Algorithm, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{collections::HashMap, sync::Mutex};
use uuid::Uuid;

use super::keys::KeyRing;

pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(15);
/// Tolerated clock difference between the issuing and the verifying instance.
const LEEWAY_SECONDS: i64 = 30;
pub const AUDIENCE: &str = "lumbar-api";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed or signed with an algorithm other than EdDSA")]
    Malformed,
    #[error("the token's key is unknown")]
    UnknownKey,
    #[error("the token's signature, issuer or audience is wrong")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

pub struct TokenService {
    ring: KeyRing,
    issuer: String,
    /// Tokens whose signature and claims have been checked, by SHA-256 of the token. A client
    /// presents the same token on every request for 15 minutes, and an Ed25519 check costs
    /// ~90 µs here while a lookup costs ~2 µs. Times are still checked on every use; nothing
    /// else about a token can change, as access tokens are not revocable.
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

#[derive(Debug, Clone, Copy)]
struct Verified {
    principal: Principal,
    nbf: i64,
    exp: i64,
}

/// Bound on remembered tokens; the map is emptied when it fills (cheap, and rare).
const VERIFIED_CACHE_CAPACITY: usize = 50_000;

/// A verified caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
}

impl TokenService {
    pub fn new(ring: KeyRing, issuer: impl Into<String>) -> Self {
        Self {
            ring,
            issuer: issuer.into(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// A signed access token and when it expires.
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        let key = self.ring.signing();
        let expires_at = now + ACCESS_TOKEN_TTL;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_string(),
            role: role_name(role).to_owned(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let token = encode(&header, &claims, &key.encoding)?;
        Ok((token, expires_at))
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, TokenError> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self.remembered().get(&fingerprint).copied();
        let verified = match remembered {
            Some(verified) => verified,
            None => {
                let verified = self.check(token)?;
                let mut remembered = self.remembered();
                if remembered.len() >= VERIFIED_CACHE_CAPACITY {
                    remembered.clear();
                }
                remembered.insert(fingerprint, verified);
                verified
            }
        };
        let now = now.timestamp();
        if now >= verified.exp + LEEWAY_SECONDS {
            return Err(TokenError::Expired);
        }
        if verified.nbf > now + LEEWAY_SECONDS {
            return Err(TokenError::NotYetValid);
        }
        Ok(verified.principal)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Verified>> {
        // A poisoned map is still a valid cache.
        self.verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Signature, algorithm, key, issuer and audience: everything but the time.
    fn check(&self, token: &str) -> Result<Verified, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.ring.by_kid(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf", "iat"]);
        // Time is checked below against the injected clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        let user_id = claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        let role = parse_role(&claims.role).ok_or(TokenError::Invalid)?;
        Ok(Verified {
            principal: Principal { user_id, role },
            nbf: claims.nbf,
            exp: claims.exp,
        })
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Patient => "patient",
        Role::Staff => "staff",
        Role::Practitioner => "practitioner",
        Role::Admin => "admin",
    }
}

pub fn parse_role(name: &str) -> Option<Role> {
    match name {
        "patient" => Some(Role::Patient),
        "staff" => Some(Role::Staff),
        "practitioner" => Some(Role::Practitioner),
        "admin" => Some(Role::Admin),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;
    use crate::auth::keys::generate_pem;

    fn service() -> TokenService {
        TokenService::new(
            KeyRing::from_pems(&[&generate_pem().unwrap()]).unwrap(),
            "https://clinic.example/",
        )
    }

    fn now() -> DateTime<Utc> {
        "2026-03-02T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_issued_token_verifies_until_it_expires() {
        let tokens = service();
        let user = Uuid::now_v7();
        let (token, expires) = tokens.issue(user, Role::Staff, now()).unwrap();
        assert_eq!(expires, now() + Duration::minutes(15));
        let principal = tokens
            .verify(&token, now() + Duration::minutes(14))
            .unwrap();
        assert_eq!(
            principal,
            Principal {
                user_id: user,
                role: Role::Staff
            }
        );
        assert_eq!(
            tokens.verify(&token, now() + Duration::minutes(16)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            tokens.verify(&token, now() - Duration::minutes(5)),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn tokens_from_another_key_issuer_or_audience_are_refused() {
        let tokens = service();
        let (token, _) = tokens.issue(Uuid::now_v7(), Role::Admin, now()).unwrap();

        let other_key = service();
        assert_eq!(other_key.verify(&token, now()), Err(TokenError::UnknownKey));

        let pem = generate_pem().unwrap();
        let elsewhere = TokenService::new(
            KeyRing::from_pems(&[&pem]).unwrap(),
            "https://elsewhere.example/",
        );
        let here = TokenService::new(
            KeyRing::from_pems(&[&pem]).unwrap(),
            "https://clinic.example/",
        );
        let (foreign, _) = elsewhere.issue(Uuid::now_v7(), Role::Admin, now()).unwrap();
        assert_eq!(here.verify(&foreign, now()), Err(TokenError::Invalid));

        let key = here.ring().signing();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let claims = Claims {
            iss: "https://clinic.example/".into(),
            aud: "another-api".into(),
            sub: Uuid::now_v7().to_string(),
            role: "admin".into(),
            iat: now().timestamp(),
            nbf: now().timestamp(),
            exp: (now() + Duration::minutes(5)).timestamp(),
            jti: "j".into(),
        };
        let wrong_audience = encode(&header, &claims, &key.encoding).unwrap();
        assert_eq!(
            here.verify(&wrong_audience, now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_remembered_token_still_expires_and_its_tampered_copies_are_still_checked() {
        let tokens = service();
        let (token, _) = tokens.issue(Uuid::now_v7(), Role::Patient, now()).unwrap();
        assert!(tokens.verify(&token, now()).is_ok());
        assert!(
            tokens.verify(&token, now()).is_ok(),
            "the second check uses the cache"
        );
        assert_eq!(
            tokens.verify(&token, now() + Duration::minutes(16)),
            Err(TokenError::Expired)
        );
        let mut forged = token.clone();
        forged.push('A');
        assert_eq!(tokens.verify(&forged, now()), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_and_tampered_tokens_are_refused() {
        let tokens = service();
        let (token, _) = tokens.issue(Uuid::now_v7(), Role::Patient, now()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(tokens.verify(&unsigned, now()), Err(TokenError::Malformed));

        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = "admin".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        assert_eq!(tokens.verify(&forged, now()), Err(TokenError::Invalid));
        assert_eq!(tokens.verify("garbage", now()), Err(TokenError::Malformed));
    }
}
