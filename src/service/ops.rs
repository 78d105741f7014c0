//! Operations: whether the service can do its work.

use crate::{
    app::AppState,
    error::{ApiError, ApiResult},
    store,
};

/// Ready when the database answers; a 503 `database_unavailable` otherwise.
pub async fn ready(state: &AppState) -> ApiResult<()> {
    match store::ping(&state.db).await {
        Ok(()) => {
            store::availability::reachable();
            Ok(())
        }
        Err(err) => {
            store::availability::lost(&err);
            Err(ApiError::Unavailable {
                code: "database_unavailable",
                detail: "The database is not reachable.".into(),
            })
        }
    }
}
