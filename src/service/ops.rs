//! Operations: whether the service can do its work.

use crate::{
    app::AppState,
    error::{ApiError, ApiResult},
    store,
};

/// Ready when the database answers; a 503 `database_unavailable` otherwise.
pub async fn ready(state: &AppState) -> ApiResult<()> {
    store::ping(&state.db).await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check: database unreachable");
        ApiError::Unavailable {
            code: "database_unavailable",
            detail: "The database is not reachable.".into(),
        }
    })
}
