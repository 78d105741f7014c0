//! Identity: password hashing, the token key ring, access tokens, and the bearer security scheme
//! handlers declare to say who may call them.

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::app::AppState;

pub mod keys;
pub mod password;
pub mod tokens;

pub use tokens::Principal;

/// A valid access token from `POST /api/v1/auth/login`, as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_access_token",
    rename = "BearerAuth"
)]
pub struct BearerAuth(pub Principal);

async fn check_access_token(req: &Request, bearer: Bearer) -> Option<Principal> {
    let state = req.data::<AppState>()?;
    match state.tokens.verify(&bearer.token, state.clock.now()) {
        Ok(principal) => Some(principal),
        Err(reason) => {
            tracing::info!(%reason, "access token refused");
            None
        }
    }
}
