//! Login storm (issue 14): a release `lumbar serve` on a new embedded database takes 500
//! concurrent failed logins, and its resident memory is sampled from /proc throughout.
//!
//!     cargo bench --bench login_storm
//!
//! Settings (environment): `LUMBAR_BENCH_LOGINS` (default 500), concurrent logins, each from
//! its own loopback address (127.0.x.y) so the per-address throttle does not refuse them before
//! their password is checked; `LUMBAR_BENCH_RETRY=0` to count a 503 `busy` as the answer
//! instead of retrying after its `Retry-After` (the default retries, as a client would).
//!
//! Prints the RSS after the first start (which seeds the demo clinic, hashing its passwords),
//! the peak during the storm, how long until it is back under 40 MiB (watched for a minute),
//! every status seen, and the verdict against the targets: peak under 200 MiB, under 40 MiB
//! within a minute, no 500. Linux only (it reads /proc).

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, TcpListener},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use futures_util::future::join_all;
use serde_json::json;

const MIB: u64 = 1024 * 1024;
const PEAK_TARGET: u64 = 200 * MIB;
const SETTLED_TARGET: u64 = 40 * MIB;

fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// The `n`th client's own loopback address, skipping 127.0.0.1 and broadcast-looking ends.
fn address(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        1 + (n / 250) as u8,
        2 + (n % 250) as u8,
    ))
}

async fn login(base: &str, n: usize, retry: bool) -> anyhow::Result<(u16, u32)> {
    let client = reqwest::Client::builder()
        .local_address(address(n))
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut shed = 0;
    loop {
        let response = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": format!("guess{n}@storm.example"), "password": "not the password"}))
            .send()
            .await?;
        let status = response.status().as_u16();
        if status == 503 && retry {
            shed += 1;
            let wait: u64 = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            // Spread the retries over the advertised second, as well-behaved clients do.
            let jitter = Duration::from_millis(fastrand::u64(0..1000));
            tokio::time::sleep(Duration::from_secs(wait) + jitter).await;
            continue;
        }
        return Ok((status, shed));
    }
}

fn main() -> anyhow::Result<()> {
    let logins: usize = std::env::var("LUMBAR_BENCH_LOGINS")
        .ok()
        .map(|raw| raw.parse())
        .transpose()
        .context("LUMBAR_BENCH_LOGINS must be a number")?
        .unwrap_or(500);
    let retry = std::env::var("LUMBAR_BENCH_RETRY").as_deref() != Ok("0");
    ensure!(
        (1..=60_000).contains(&logins),
        "LUMBAR_BENCH_LOGINS must be 1..=60000"
    );

    let data = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_lumbar"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LUMBAR_") || name == "DATABASE_URL" || name == "SMTP_URL" {
            server.env_remove(name);
        }
    }
    let mut server = server
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log",
            "warn",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start lumbar (cargo bench builds it in release)")?;
    let pid = server.id();
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let started = Instant::now();
        loop {
            if let Ok(response) = reqwest::get(format!("{base}/readyz")).await
                && response.status() == 200
            {
                break;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(60),
                "lumbar did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The demo seed runs after the listener is up: wait until its output settles.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after_start = rss(pid).context("read the server's RSS")?;

        let peak = Arc::new(AtomicU64::new(after_start));
        let storming = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (peak, storming) = (peak.clone(), storming.clone());
            std::thread::spawn(move || {
                while storming.load(Ordering::Relaxed) {
                    if let Some(now) = rss(pid) {
                        peak.fetch_max(now, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let storm_started = Instant::now();
        let results = join_all((0..logins).map(|n| login(&base, n, retry))).await;
        let storm = storm_started.elapsed();
        storming.store(false, Ordering::Relaxed);
        sampler.join().ok();
        let at_end = rss(pid).unwrap_or(0);

        let mut statuses = BTreeMap::new();
        let mut shed = 0;
        for result in results {
            let (status, retries) = result?;
            *statuses.entry(status).or_insert(0) += 1;
            shed += retries;
        }
        let settle_started = Instant::now();
        let mut settled = None;
        let mut samples = Vec::new();
        while settle_started.elapsed() < Duration::from_secs(60) {
            let now = rss(pid).unwrap_or(0);
            let second = settle_started.elapsed().as_secs();
            if samples.last().is_none_or(|(at, _)| *at != second) {
                samples.push((second, now));
            }
            if now < SETTLED_TARGET {
                settled = Some(settle_started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let peak = peak.load(Ordering::Relaxed);
        println!("login storm: {logins} concurrent failed logins, each from its own address");
        println!(
            "  RSS after the first start (demo seeded): {}",
            mib(after_start)
        );
        println!(
            "  storm took {:.1} s; 503 busy answers retried: {shed}",
            storm.as_secs_f64()
        );
        println!("  final statuses: {statuses:?}");
        println!(
            "  peak RSS during the storm: {} (target < 200 MiB)",
            mib(peak)
        );
        println!("  RSS when the last answer arrived: {}", mib(at_end));
        match settled {
            Some(after) => println!(
                "  back under 40 MiB {:.1} s after the storm",
                after.as_secs_f64()
            ),
            None => println!("  still at or above 40 MiB a minute after the storm: {samples:?}"),
        }
        let no_500 = statuses
            .keys()
            .all(|status| *status < 500 || *status == 503);
        let verdict = peak < PEAK_TARGET && settled.is_some() && no_500;
        println!("  verdict: {}", if verdict { "MET" } else { "NOT MET" });
        Ok(())
    });
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = server.wait();
    outcome
}
