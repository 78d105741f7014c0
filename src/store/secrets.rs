//! Secrets handed to a client once (refresh tokens, emailed links) and stored only as hashes.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::DbErr;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of a presented secret: what the database keeps and looks up by.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// 256 random bits, URL-safe, so the secret can travel in a link.
pub fn new_secret() -> Result<String, DbErr> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| DbErr::Custom(format!("no randomness: {err}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
