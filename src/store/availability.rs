//! Whether the database was last seen reachable. Losing it is logged at WARN once, when it goes,
//! and at INFO when it is back: not at every request that finds it gone (they answer 503).

use std::sync::atomic::{AtomicBool, Ordering};

static LOST: AtomicBool = AtomicBool::new(false);

/// A request found the database unreachable.
pub fn lost(err: &dyn std::fmt::Display) {
    if LOST.swap(true, Ordering::AcqRel) {
        tracing::debug!(error = %err, "database still unreachable");
    } else {
        tracing::warn!(
            error = %err,
            "the database is unreachable; requests that need it answer 503 database_unavailable \
             until it is back"
        );
    }
}

/// The database answered (a transaction began, or the readiness check passed).
pub fn reachable() {
    if LOST.swap(false, Ordering::AcqRel) {
        tracing::info!("the database is reachable again");
    }
}
