//! Cost of logging in and of checking an access token.
//!
//!     cargo bench --bench auth
//!
//! Login is dominated by argon2id (deliberately slow); verifying a token runs on every request
//! and must stay well under 50 µs.

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::user::Role;
use lumbar::auth::{
    keys::{KeyRing, generate_pem},
    password,
    tokens::TokenService,
};
use uuid::Uuid;

fn report(name: &str, iterations: u32, elapsed: Duration) {
    let per_op = elapsed / iterations;
    println!(
        "{name:<28} {iterations:>7} runs  {:>10.1} µs/op",
        per_op.as_secs_f64() * 1e6
    );
}

fn main() -> anyhow::Result<()> {
    let tokens = TokenService::new(
        KeyRing::from_pems(&[&generate_pem()?])?,
        "https://clinic.example/",
    );
    let user = Uuid::now_v7();
    let now = Utc::now();

    let iterations = 20_000;
    let started = Instant::now();
    let mut token = String::new();
    for _ in 0..iterations {
        token = tokens.issue(user, Role::Practitioner, now)?.0;
    }
    report("access token: issue", iterations, started.elapsed());

    // First sight of each token: the full check (signature, key, claims).
    let fresh: Vec<String> = (0..2_000)
        .map(|_| {
            tokens
                .issue(Uuid::now_v7(), Role::Staff, now)
                .map(|(token, _)| token)
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    for token in &fresh {
        std::hint::black_box(tokens.verify(token, now).map_err(anyhow::Error::from)?);
    }
    report(
        "access token: verify (new)",
        fresh.len() as u32,
        started.elapsed(),
    );

    // The same token again, as on every request of a session.
    let started = Instant::now();
    for _ in 0..iterations {
        let principal = tokens
            .verify(std::hint::black_box(&token), now)
            .map_err(anyhow::Error::from)?;
        std::hint::black_box(principal);
    }
    report("access token: verify (seen)", iterations, started.elapsed());

    // The signature check alone, with the public key already decoded, for comparison.
    {
        use ed25519_dalek::{Signer, SigningKey, Verifier};
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let verifying = signing.verifying_key();
        let message = token.as_bytes();
        let signature = signing.sign(message);
        let started = Instant::now();
        for _ in 0..iterations {
            verifying.verify(std::hint::black_box(message), &signature)?;
        }
        report("ed25519 verify (raw)", iterations, started.elapsed());
        let bytes = verifying.to_bytes();
        let started = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(ed25519_dalek::VerifyingKey::from_bytes(
                std::hint::black_box(&bytes),
            )?);
        }
        report("ed25519 public key decode", iterations, started.elapsed());
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let rounds = 20;
        let started = Instant::now();
        let mut stored = String::new();
        for _ in 0..rounds {
            stored = password::hash("correct horse battery staple".into()).await?;
        }
        report("password: argon2id hash", rounds, started.elapsed());
        let started = Instant::now();
        for _ in 0..rounds {
            assert!(password::verify("correct horse battery staple".into(), stored.clone()).await?);
        }
        report("password: argon2id verify", rounds, started.elapsed());
        Ok::<_, anyhow::Error>(())
    })
}
