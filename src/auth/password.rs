//! Password hashing with argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
//! Hashing is deliberately slow, so it runs on the blocking pool, never on a request thread.
//!
//! Each check holds 19 MiB while it runs, so the server bounds them with a [`Hasher`]: as many
//! at once as there are cores, a bounded queue behind them, and [`HashError::Busy`] beyond it.
//! The memory is returned to the system when a check ends (see [`return_freed_memory`]), and
//! what a burst of requests left in the heap when the hasher falls idle (see [`Hasher`]).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shortest and longest password accepted (long inputs would only cost hashing time).
pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password is refused.
pub fn check_strength(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LEN {
        return Err(format!("a password needs at least {MIN_LEN} characters"));
    }
    if length > MAX_LEN {
        return Err(format!("a password has at most {MAX_LEN} characters"));
    }
    Ok(())
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    return_freed_memory();
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("hashing the password failed: {err}"))
}

fn verify_now(password: &str, stored: &str) -> bool {
    return_freed_memory();
    PasswordHash::new(stored)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The PHC string to store. One at a time, for the command line and set-up code; the server
/// hashes through its [`Hasher`].
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

/// Whether `password` matches `stored`. A malformed stored hash never matches.
pub async fn verify(password: String, stored: String) -> anyhow::Result<bool> {
    Ok(tokio::task::spawn_blocking(move || verify_now(&password, &stored)).await?)
}

/// Why a hash or check through a [`Hasher`] did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the queue is full: try again shortly.
    #[error("password hashing is at capacity")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Bounds the server's password hashing: `workers` at once (each holds 19 MiB), at most `queue`
/// waiting for one, and [`HashError::Busy`] for the rest, so a storm of logins costs a fixed
/// amount of memory and a client is told to come back instead of waiting without end.
///
/// A storm of logins also leaves the heap fragmented by the requests around the hashing (their
/// connections, bodies and queries, on every thread's arena): glibc keeps those free pages. So
/// when the hasher falls idle it asks glibc to hand free pages back, once, shortly after
/// ([`TRIM_DELAY`]), whatever the number of requests that ended together.
#[derive(Debug)]
pub struct Hasher {
    workers: Arc<Semaphore>,
    worker_count: usize,
    waiting: AtomicUsize,
    queue: usize,
    trim_scheduled: Arc<AtomicBool>,
}

/// How long after the hasher falls idle free heap pages are handed back (a burst's stragglers
/// finish first; later requests are not slowed by it).
const TRIM_DELAY: Duration = Duration::from_secs(2);

impl Hasher {
    pub fn new(workers: usize, queue: usize) -> Self {
        let worker_count = workers.max(1);
        Self {
            workers: Arc::new(Semaphore::new(worker_count)),
            worker_count,
            waiting: AtomicUsize::new(0),
            queue,
            trim_scheduled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Schedules one heap trim if nothing is hashing or waiting now.
    fn trim_when_idle(&self) {
        let idle = self.workers.available_permits() == self.worker_count
            && self.waiting.load(Ordering::Acquire) == 0;
        if !idle || self.trim_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let scheduled = self.trim_scheduled.clone();
        tokio::spawn(async move {
            tokio::time::sleep(TRIM_DELAY).await;
            scheduled.store(false, Ordering::Release);
            let _ = tokio::task::spawn_blocking(release_free_heap).await;
        });
    }

    /// The PHC string to store.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let worker = self.worker().await?;
        let hashed = tokio::task::spawn_blocking(move || {
            // Held until the work is done, even if the request is dropped meanwhile.
            let _worker = worker;
            hash_now(&password)
        });
        let hashed = hashed.await.map_err(anyhow::Error::from);
        self.trim_when_idle();
        Ok(hashed??)
    }

    /// Whether `password` matches `stored`. A malformed stored hash never matches.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, HashError> {
        let worker = self.worker().await?;
        let checked = tokio::task::spawn_blocking(move || {
            let _worker = worker;
            verify_now(&password, &stored)
        });
        let checked = checked.await.map_err(anyhow::Error::from);
        self.trim_when_idle();
        Ok(checked?)
    }

    async fn worker(&self) -> Result<OwnedSemaphorePermit, HashError> {
        if let Ok(worker) = self.workers.clone().try_acquire_owned() {
            return Ok(worker);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        // Leaves the queue however the wait ends, a dropped request included.
        struct Queued<'a>(&'a AtomicUsize);
        impl Drop for Queued<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _queued = Queued(&self.waiting);
        self.workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Failed(anyhow::anyhow!("the password hasher was closed")))
    }
}

/// glibc's malloc serves a block above its mmap threshold with its own mapping and unmaps it on
/// free, but raises that threshold to the size of the last such block freed (up to 32 MiB). After
/// the first check, every 19 MiB argon2 block would come from a heap arena instead, and with an
/// arena per blocking thread, freed blocks stayed resident (2.4 GB after 200 concurrent logins).
/// A fixed threshold keeps large blocks mapped per use, so their memory goes back at once.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // Fixing it also stops glibc from raising it. 1 MiB: far below argon2's blocks,
            // far above the service's ordinary allocations.
            // SAFETY: mallopt only changes allocator tuning; any value is valid for this knob.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
            }
        });
    }
}

/// Hands the heap's free pages back to the system (glibc keeps them otherwise).
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free memory; it is safe to call at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// A hash of a random password, verified against when the email is unknown, so a login for a
/// missing account costs the same time as one for an existing account.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_now("decoy password that nobody has").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password_and_uses_argon2id() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            verify("correct horse battery".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify("correct horse battery!".into(), stored)
                .await
                .unwrap()
        );
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[tokio::test]
    async fn a_hasher_beyond_its_workers_and_queue_is_busy() {
        let hasher = std::sync::Arc::new(Hasher::new(1, 1));
        let stored = hash("correct horse battery".into()).await.unwrap();
        let checks: Vec<_> = (0..6)
            .map(|_| {
                let (hasher, stored) = (hasher.clone(), stored.clone());
                tokio::spawn(async move { hasher.verify("x".into(), stored).await })
            })
            .collect();
        let mut busy = 0;
        for check in checks {
            match check.await.unwrap() {
                Ok(matches) => assert!(!matches),
                Err(HashError::Busy) => busy += 1,
                Err(err) => panic!("{err}"),
            }
        }
        // One runs, one waits; the others come while both places are taken.
        assert!(busy >= 1, "{busy}");
        assert!(
            hasher
                .verify("correct horse battery".into(), stored)
                .await
                .unwrap()
        );
    }

    #[test]
    fn strength_has_bounds() {
        assert!(check_strength("short").is_err());
        assert!(check_strength(&"x".repeat(257)).is_err());
        assert!(check_strength("long enough pw").is_ok());
    }
}
