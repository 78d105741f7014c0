//! Page sessions: poem's server-side session over a database-backed store, so every instance
//! sees every session and any of them can end one. Only signed-in sessions are stored (nobody
//! else has anything to keep), and a session names its account and role and nothing more.

use std::{collections::BTreeMap, time::Duration};

use entity::user::Role;
use poem::{
    http::StatusCode,
    session::{CookieConfig, Session, SessionStorage},
    web::cookie::SameSite,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{app::AppState, auth::tokens::Principal, store::web_sessions};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "lumbar_session";

/// How long a sign-in lasts: a clinic's working day, and a patient's visit to the site.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

const USER_ID: &str = "user_id";
const ROLE: &str = "role";

/// The session cookie: HttpOnly, SameSite=Lax (an emailed link opened from a mail client still
/// finds the patient signed in; forms are protected by their CSRF token), Secure on https.
pub fn cookie_config(secure: bool) -> CookieConfig {
    CookieConfig::default()
        .name(COOKIE_NAME)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(SESSION_TTL)
}

/// Sessions in the `web_sessions` table.
pub struct DatabaseSessions {
    state: AppState,
}

impl DatabaseSessions {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn unavailable(err: sea_orm::DbErr) -> poem::Error {
    let api: crate::error::ApiError = err.into();
    poem::Error::new(api, StatusCode::SERVICE_UNAVAILABLE)
}

impl SessionStorage for DatabaseSessions {
    async fn load_session<'a>(
        &'a self,
        session_id: &'a str,
    ) -> poem::Result<Option<BTreeMap<String, Value>>> {
        let found = web_sessions::load(&self.state.db, self.state.clock.now(), session_id)
            .await
            .map_err(unavailable)?;
        Ok(found.and_then(|row| serde_json::from_str(&row.entries).ok()))
    }

    async fn update_session<'a>(
        &'a self,
        session_id: &'a str,
        entries: &'a BTreeMap<String, Value>,
        expires: Option<Duration>,
    ) -> poem::Result<()> {
        // Nothing to keep for someone who is not signed in.
        let Some(user_id) = entries
            .get(USER_ID)
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<Uuid>().ok())
        else {
            return Ok(());
        };
        let now = self.state.clock.now();
        let ttl = chrono::Duration::from_std(expires.unwrap_or(SESSION_TTL))
            .unwrap_or_else(|_| chrono::Duration::hours(12));
        let entries = serde_json::to_string(entries)
            .map_err(|err| poem::Error::new(err, StatusCode::INTERNAL_SERVER_ERROR))?;
        web_sessions::save(&self.state.db, now, session_id, user_id, entries, now + ttl)
            .await
            .map_err(unavailable)
    }

    async fn remove_session<'a>(&'a self, session_id: &'a str) -> poem::Result<()> {
        web_sessions::remove(&self.state.db, session_id)
            .await
            .map_err(unavailable)
    }
}

/// Who is signed in on this session, if anyone.
pub fn signed_in(session: &Session) -> Option<Principal> {
    let user_id = session.get::<Uuid>(USER_ID)?;
    let role = session.get::<String>(ROLE)?;
    let role = [Role::Patient, Role::Staff, Role::Practitioner, Role::Admin]
        .into_iter()
        .find(|candidate| crate::auth::tokens::role_name(*candidate) == role)?;
    Some(Principal { user_id, role })
}

/// Signs `principal` in on a new session id (the old one, if any, ends: no fixation).
pub fn sign_in(session: &Session, principal: Principal) {
    session.clear();
    session.set(USER_ID, principal.user_id);
    session.set(ROLE, crate::auth::tokens::role_name(principal.role));
    session.renew();
}

/// Ends the session, here and in the store.
pub fn sign_out(session: &Session) {
    session.purge();
}
