//! All database access. One connection pool serves either backend; migrations run at startup.

pub mod account_tokens;
pub mod appointments;
pub mod audit;
pub mod availability;
pub mod booking;
pub mod clinic;
pub mod idempotency;
pub mod intakes;
pub mod outbox;
pub mod patients;
pub mod practitioners;
pub mod refresh_tokens;
pub mod scope;
pub mod secrets;
pub mod throttle;
pub mod users;
pub mod web_sessions;

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::config::{Backend, DatabaseUrl};

/// Opens the pool. For SQLite the file (and its directory) is created when missing, and the
/// connection is set up for a server: WAL, foreign keys, and waiting on a busy writer.
#[tracing::instrument(name = "store.db.connect", skip_all)]
pub async fn connect(
    url: &DatabaseUrl,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    if url.backend() == Backend::Sqlite {
        ensure_sqlite_directory(url.expose())?;
    }
    let mut options = ConnectOptions::new(url.expose().to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // A connection in use is known to work: ping only one that has been idle long enough
        // for the server or a firewall to have dropped it. (The default pings on every
        // checkout, a round trip more for every statement run outside a transaction.)
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        // Statements are logged at debug (text only, never bound values); slow ones at warn.
        .sqlx_logging(true)
        .sqlx_logging_level(log::LevelFilter::Debug)
        .sqlx_slow_statements_logging_settings(log::LevelFilter::Warn, Duration::from_secs(1))
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to the database at {url} (DATABASE_URL)"))
}

/// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later fails at once
/// with `SQLITE_BUSY` when another connection committed in between, and no busy timeout helps.
/// Taking the lock up front makes concurrent writers wait their turn instead. Postgres ignores it.
#[tracing::instrument(name = "store.db.begin_write", skip_all)]
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    availability::reachable();
    Ok(txn)
}

/// Applies every pending migration.
#[tracing::instrument(name = "store.db.migrate", skip_all)]
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("applying database migrations failed")
}

/// Whether the database answers a trivial query.
#[tracing::instrument(name = "store.db.ping", skip_all)]
pub async fn ping(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    db.ping().await
}

fn ensure_sqlite_directory(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).with_context(|| {
            format!("cannot create the database directory {}", parent.display())
        })?;
    }
    Ok(())
}
