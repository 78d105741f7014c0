//! The delivery worker: claims due outbox rows under a lease, sends them outside any database
//! transaction, and records each outcome with an update guarded by that lease.
//!
//! Delivery is at least once: a worker that dies after sending but before recording loses its
//! lease, and the row is sent again by whoever claims it next, with the same Message-ID.

use std::sync::Arc;

use chrono::Duration;
use entity::outbox_message;
use futures_util::{StreamExt, stream};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    Mailer,
    content::EmailContent,
    transport::{Envelope, SendError, build_message},
};
use crate::{
    clock::SharedClock,
    config::Config,
    store::outbox::{self, Failure},
};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Rows claimed per pass.
    pub batch_size: u64,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// How long a claim is exclusive; a crashed worker's rows are retried after it.
    pub lease: Duration,
    /// Attempts before a transiently failing message becomes a dead letter.
    pub max_attempts: u32,
    /// First retry delay; it doubles with every attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Pause between passes when there was nothing to do.
    pub poll_interval: std::time::Duration,
}

impl WorkerSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            batch_size: u64::from(config.outbox_batch_size),
            concurrency: config.outbox_concurrency as usize,
            lease: Duration::seconds(i64::from(config.outbox_lease_seconds)),
            max_attempts: config.outbox_max_attempts,
            retry_base: Duration::seconds(i64::from(config.outbox_retry_base_seconds)),
            retry_max: Duration::seconds(i64::from(config.outbox_retry_max_seconds)),
            poll_interval: std::time::Duration::from_millis(config.outbox_poll_ms),
        }
    }

    /// How much of the lease a send may need, with its outcome recorded: sends are not started
    /// later than this before the lease ends. Two SMTP timeouts (connecting, then the data),
    /// or half the lease when it is shorter than twice that.
    pub fn send_allowance(&self) -> Duration {
        let two_timeouts = Duration::seconds(60);
        if self.lease >= two_timeouts * 2 {
            two_timeouts
        } else {
            self.lease / 2
        }
    }

    /// Exponential backoff with "equal jitter": half the delay fixed, half random, so many
    /// messages failing together do not all come back at the same instant.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(20);
        let full = self
            .retry_base
            .checked_mul(1 << exponent)
            .unwrap_or(self.retry_max)
            .min(self.retry_max);
        let half_ms = full.num_milliseconds() / 2;
        Duration::milliseconds(half_ms + fastrand::i64(0..=half_ms))
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
    pub expired: usize,
    /// Given back unsent because shutdown began.
    pub released: usize,
    /// Outcomes not recorded because the lease had run out and another worker owns the row.
    pub lost_leases: usize,
}

enum Outcome {
    Sent,
    Failed(Failure),
    NotStarted,
}

/// What a pass counts of an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tally {
    Sent,
    Retried,
    Dead,
    Expired,
    Released,
}

impl Tally {
    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Sent => Self::Sent,
            Outcome::NotStarted => Self::Released,
            Outcome::Failed(Failure::Retry { .. }) => Self::Retried,
            Outcome::Failed(Failure::Dead { .. }) => Self::Dead,
            Outcome::Failed(Failure::Expired) => Self::Expired,
        }
    }
}

pub struct Worker {
    db: DatabaseConnection,
    mailer: Arc<Mailer>,
    clock: SharedClock,
    owner: String,
    settings: WorkerSettings,
}

impl Worker {
    pub fn new(
        db: DatabaseConnection,
        mailer: Arc<Mailer>,
        clock: SharedClock,
        settings: WorkerSettings,
    ) -> Self {
        let id = Uuid::now_v7().simple().to_string();
        Self {
            db,
            mailer,
            clock,
            // The random tail of a v7 id: unique per worker, short enough for the lease column.
            owner: format!("worker-{}-{}", std::process::id(), &id[20..]),
            settings,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// One pass at the worker clock's current time: the test hook, and the loop's step.
    pub async fn run_once(&self) -> anyhow::Result<PassReport> {
        self.pass(&CancellationToken::new()).await
    }

    /// Passes until `shutdown` is cancelled; sends under way then finish, unstarted ones are
    /// released for another worker.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(owner = %self.owner, transport = self.mailer.transport.describe(), "outbox worker started");
        while !shutdown.is_cancelled() {
            let pause = match self.pass(&shutdown).await {
                // A full batch suggests more is waiting: go again at once.
                Ok(report) if report.claimed as u64 >= self.settings.batch_size => continue,
                Ok(_) => self.settings.poll_interval,
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "outbox pass failed");
                    self.settings
                        .poll_interval
                        .max(std::time::Duration::from_secs(1))
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(owner = %self.owner, "outbox worker stopped");
    }

    async fn pass(&self, shutdown: &CancellationToken) -> anyhow::Result<PassReport> {
        let now = self.clock.now();
        let mut report = PassReport {
            expired: usize::try_from(outbox::expire_overdue(&self.db, now).await?)
                .unwrap_or(usize::MAX),
            ..PassReport::default()
        };
        let claim = outbox::claim(
            &self.db,
            now,
            &self.owner,
            self.settings.batch_size,
            self.settings.lease,
        )
        .await?;
        report.claimed = claim.rows.len();
        if claim.rows.is_empty() {
            return Ok(report);
        }

        // A send is started only while there is time left in the lease to finish it and
        // record its outcome: a batch never outlives its lease, so no other worker takes a
        // row while it is being sent.
        let start_by = now + self.settings.lease - self.settings.send_allowance();
        let token = claim.token.as_str();
        let recorded: Vec<(Tally, bool)> = stream::iter(claim.rows)
            .map(|row| async move {
                let outcome = if shutdown.is_cancelled() || self.clock.now() >= start_by {
                    Outcome::NotStarted
                } else {
                    self.deliver(&row).await
                };
                let tally = Tally::of(&outcome);
                // Recorded as soon as it is known: a crash or a database blip later in the
                // batch cannot make a delivered message look unsent.
                let kept = self.record(token, row.id, outcome).await;
                (tally, kept)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        for (tally, kept) in recorded {
            match tally {
                Tally::Sent => report.sent += 1,
                Tally::Retried => report.retried += 1,
                Tally::Dead => report.dead += 1,
                Tally::Expired => report.expired += 1,
                Tally::Released if kept => report.released += 1,
                Tally::Released => {}
            }
            if !kept && tally != Tally::Released {
                report.lost_leases += 1;
            }
        }
        if report.lost_leases > 0 {
            tracing::warn!(
                lost = report.lost_leases,
                "outcomes not recorded: the lease ran out or the database stayed away; those \
                 messages will be sent again by whoever claims them"
            );
        }
        Ok(report)
    }

    /// Records one outcome under the lease, trying again through a short database outage
    /// (a few attempts, pausing 0.2, 0.4, 0.8, 1.6 s). `false` when it could not be recorded:
    /// the lease had run out (another worker owns the row) or the database stayed away.
    async fn record(&self, token: &str, id: Uuid, outcome: Outcome) -> bool {
        const ATTEMPTS: u32 = 5;
        for attempt in 1..=ATTEMPTS {
            let now = self.clock.now();
            let written = match &outcome {
                Outcome::Sent => outbox::complete_sent(&self.db, now, token, &[id])
                    .await
                    .map(|rows| rows == 1),
                Outcome::NotStarted => outbox::release(&self.db, now, token, &[id])
                    .await
                    .map(|rows| rows == 1),
                Outcome::Failed(failure) => {
                    outbox::record_failure(&self.db, now, token, id, failure.clone()).await
                }
            };
            match written {
                Ok(kept) => return kept,
                Err(err) if attempt < ATTEMPTS => {
                    tracing::warn!(message = %id, attempt, error = %err, "recording an outcome failed; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
                Err(err) => {
                    tracing::warn!(message = %id, error = %err, "recording an outcome failed; giving up");
                }
            }
        }
        false
    }

    async fn deliver(&self, row: &outbox_message::Model) -> Outcome {
        let now = self.clock.now();
        if row.deadline.is_some_and(|deadline| deadline <= now) {
            return Outcome::Failed(Failure::Expired);
        }
        match self.send(row).await {
            Ok(()) => {
                tracing::debug!(message = %row.id, kind = %row.kind, attempt = row.attempts, "email sent");
                Outcome::Sent
            }
            Err(SendError::Permanent(error)) => {
                tracing::warn!(message = %row.id, kind = %row.kind, attempt = row.attempts, error = without_addresses(&error), "email refused permanently; now a dead letter");
                Outcome::Failed(Failure::Dead { error })
            }
            Err(SendError::Transient(error)) => {
                let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
                if attempts >= self.settings.max_attempts {
                    tracing::warn!(message = %row.id, kind = %row.kind, attempts, error = without_addresses(&error), "email failed too often; now a dead letter");
                    Outcome::Failed(Failure::Dead {
                        error: format!("gave up after {attempts} attempts: {error}"),
                    })
                } else {
                    let not_before = now + self.settings.retry_delay(attempts);
                    tracing::info!(message = %row.id, kind = %row.kind, attempt = attempts, error = without_addresses(&error), retry_at = %not_before, "email failed; will retry");
                    Outcome::Failed(Failure::Retry { not_before, error })
                }
            }
        }
    }

    async fn send(&self, row: &outbox_message::Model) -> Result<(), SendError> {
        let content: EmailContent = serde_json::from_str(&row.template_data)
            .map_err(|err| SendError::Permanent(format!("unreadable template data: {err}")))?;
        let rendered = self
            .mailer
            .templates
            .render(&content)
            .map_err(|err| SendError::Permanent(err.to_string()))?;
        let calendar = outbox::calendar_of(row);
        let message = build_message(&Envelope {
            from: &self.mailer.from,
            to: &row.recipient,
            message_id: &row.message_id,
            rendered: &rendered,
            calendar: calendar.as_ref(),
        })?;
        self.mailer.transport.send(message).await
    }
}

/// Relays quote the recipient in their replies ("550 <alex@example.org>: unknown"); logs get
/// the reply without any address in it. The outbox row keeps the full text for admins.
fn without_addresses(error: &str) -> String {
    error
        .split(' ')
        .map(|word| {
            if word.contains('@') {
                "<address>"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_errors_carry_no_address() {
        let logged = without_addresses(
            "permanent error (550): 5.1.1 <alex@example.org>: Recipient address rejected",
        );
        assert!(!logged.contains("alex"), "{logged}");
        assert!(
            logged.contains("550") && logged.contains("Recipient address rejected"),
            "{logged}"
        );
    }

    fn settings() -> WorkerSettings {
        WorkerSettings {
            batch_size: 10,
            concurrency: 2,
            lease: Duration::seconds(60),
            max_attempts: 5,
            retry_base: Duration::seconds(30),
            retry_max: Duration::seconds(3600),
            poll_interval: std::time::Duration::from_millis(100),
        }
    }

    #[test]
    fn sends_start_only_while_the_lease_leaves_time_to_finish_them() {
        let short = settings();
        assert_eq!(
            short.send_allowance(),
            Duration::seconds(30),
            "half a short lease"
        );
        let long = WorkerSettings {
            lease: Duration::seconds(300),
            ..settings()
        };
        assert_eq!(
            long.send_allowance(),
            Duration::seconds(60),
            "two SMTP timeouts"
        );
        for settings in [short, long] {
            assert!(settings.send_allowance() < settings.lease);
        }
    }

    #[test]
    fn retry_delays_double_with_jitter_and_are_capped() {
        let settings = settings();
        for _ in 0..200 {
            for (attempts, full) in [(1, 30), (2, 60), (3, 120), (4, 240)] {
                let delay = settings.retry_delay(attempts).num_milliseconds();
                assert!(
                    (full * 500..=full * 1000).contains(&delay),
                    "attempt {attempts}: {delay} ms"
                );
            }
            let capped = settings.retry_delay(30).num_milliseconds();
            assert!((1_800_000..=3_600_000).contains(&capped), "{capped} ms");
        }
    }

    #[test]
    fn retry_delays_are_not_all_equal() {
        let settings = settings();
        let delays: std::collections::HashSet<i64> = (0..50)
            .map(|_| settings.retry_delay(3).num_milliseconds())
            .collect();
        assert!(delays.len() > 1, "jitter spreads retries");
    }
}
