//! Outbox delivery benchmark: messages through the real worker to the in-process SMTP sink.
//!
//!     cargo bench --bench outbox                               # SQLite
//!     LUMBAR_BENCH_DB=postgres cargo bench --bench outbox      # PostgreSQL on 127.0.0.1
//!     LUMBAR_BENCH_MESSAGES=5000 cargo bench --bench outbox
//!
//! Two phases:
//! 1. drain: N messages are queued, then the worker delivers them all; messages per second.
//! 2. steady: a producer enqueues N messages at a fixed rate while the worker runs; latency
//!    from enqueue to delivered (p50, p95, max), as a patient would wait for a confirmation.

#[path = "../tests/api/smtp_sink.rs"]
#[allow(dead_code)]
mod smtp_sink;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use entity::outbox_message::{self, OutboxStatus};
use lumbar::{
    cli::Cli,
    clock::{Clock, SystemClock},
    notify::{
        Mailer, Worker, WorkerSettings,
        content::{EmailContent, MessageKind},
    },
    store::{
        self,
        outbox::{NewMessage, Outbox},
    },
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter,
};
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful either.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let messages: usize = std::env::var("LUMBAR_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let rate: u64 = std::env::var("LUMBAR_BENCH_RATE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let postgres = std::env::var("LUMBAR_BENCH_DB").as_deref() == Ok("postgres");

    let sink = smtp_sink::SmtpSink::start().await;
    let dir = tempfile::tempdir()?;
    let (database_url, admin) = if postgres {
        let admin_url = "postgres://postgres@127.0.0.1:5432/postgres";
        let admin = Database::connect(admin_url).await?;
        admin
            .execute_unprepared("DROP DATABASE IF EXISTS lumbar_bench WITH (FORCE)")
            .await?;
        admin
            .execute_unprepared("CREATE DATABASE lumbar_bench")
            .await?;
        (
            "postgres://postgres@127.0.0.1:5432/lumbar_bench".to_owned(),
            Some(admin),
        )
    } else {
        (
            format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
            None,
        )
    };
    let cli = Cli::try_parse_from([
        "lumbar",
        "--database-url",
        &database_url,
        "--data-dir",
        &dir.path().display().to_string(),
        "--smtp-url",
        &sink.url(),
        "--outbox-poll-ms",
        "10",
    ])?;
    let config = cli.config;
    let db = store::connect(&config.database(), config.db_max_connections).await?;
    store::migrate(&db).await?;
    let mailer = Mailer::from_config(&config)?;
    let outbox = Outbox::new("bench.lumbar");
    let settings = WorkerSettings::from_config(&config);
    println!(
        "outbox benchmark: {} backend, {messages} messages, batch {}, concurrency {}",
        if postgres { "postgres" } else { "sqlite" },
        settings.batch_size,
        settings.concurrency
    );

    // Phase 1: drain a queue.
    for _ in 0..messages {
        enqueue(&outbox, &db).await?;
    }
    let started = Instant::now();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        Worker::new(
            db.clone(),
            mailer.clone(),
            Arc::new(SystemClock),
            settings.clone(),
        )
        .run(stop.clone()),
    );
    wait_until_sent(&db, messages).await?;
    let elapsed = started.elapsed();
    println!(
        "drain:  {messages} messages in {:.2} s = {:.0} messages/s",
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64()
    );

    // Phase 2: steady arrivals at `rate` per second while the worker runs.
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let steady_count = messages.min(rate as usize * 10);
    let steady_start = SystemClock.now();
    for _ in 0..steady_count {
        ticker.tick().await;
        enqueue(&outbox, &db).await?;
    }
    wait_until_sent(&db, messages + steady_count).await?;
    stop.cancel();
    worker.await?;

    let rows = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.eq(OutboxStatus::Sent))
        .all(&db)
        .await?;
    let mut latencies: Vec<f64> = rows
        .iter()
        .filter(|row| row.created_at >= steady_start)
        .filter_map(|row| {
            row.sent_at
                .map(|sent| (sent - row.created_at).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        })
        .collect();
    assert_eq!(latencies.len(), steady_count);
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(latencies.len() - 1)]
    };
    println!(
        "steady: {steady_count} messages at {rate}/s: enqueue-to-delivered p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        percentile(0.50),
        percentile(0.95),
        latencies.last().copied().unwrap_or_default()
    );
    assert_eq!(
        sink.received().len(),
        messages + steady_count,
        "every message reached the sink once"
    );

    db.close().await?;
    if let Some(admin) = admin {
        admin
            .execute_unprepared("DROP DATABASE IF EXISTS lumbar_bench WITH (FORCE)")
            .await?;
    }
    Ok(())
}

async fn enqueue(outbox: &Outbox, db: &DatabaseConnection) -> anyhow::Result<()> {
    let now = SystemClock.now();
    outbox
        .enqueue(
            db,
            now,
            NewMessage {
                recipient: "patient@example.org".into(),
                content: EmailContent::sample(MessageKind::AppointmentConfirmed),
                calendar: None,
                not_before: now,
                deadline: None,
                dedupe_key: None,
            },
        )
        .await?;
    Ok(())
}

async fn wait_until_sent(db: &DatabaseConnection, expected: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let sent = outbox_message::Entity::find()
            .filter(outbox_message::Column::Status.eq(OutboxStatus::Sent))
            .count(db)
            .await?;
        if sent as usize >= expected {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {sent} of {expected} messages were delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
