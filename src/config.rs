//! Typed settings. Every setting is a CLI flag and an environment variable; the defaults give the
//! embedded setup (SQLite and `.eml` files under `data/`), so `cargo run` needs nothing else.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::{Args, ValueEnum};
use lettre::message::Mailbox;
use url::Url;

/// Every setting of the service. Secrets (`DATABASE_URL`, `SMTP_URL`) are [`Secret`]s whose
/// `Debug` and `Display` hide credentials, so logging the whole config is safe.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port the HTTP server listens on.
    #[arg(
        long,
        env = "LUMBAR_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR",
        global = true
    )]
    pub listen: SocketAddr,

    /// Database URL: `postgres://…` or `sqlite://…`. Default: SQLite at `<data-dir>/lumbar.db`.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", value_parser = DatabaseUrl::parse, global = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "LUMBAR_DB_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000), value_name = "N", global = true)]
    pub db_max_connections: u32,

    /// Directory for the embedded database, `.eml` mail and generated keys.
    #[arg(
        long,
        env = "LUMBAR_DATA_DIR",
        default_value = "data",
        value_name = "DIR",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Public base URL used in links sent to patients. Default: `http://<listen>`.
    #[arg(long, env = "LUMBAR_PUBLIC_BASE_URL", value_name = "URL", value_parser = parse_base_url, global = true)]
    pub public_base_url: Option<Url>,

    /// The clinic's IANA time zone (for example `Europe/London`), used for local dates.
    #[arg(long, env = "LUMBAR_TIME_ZONE", default_value = "UTC", value_name = "ZONE", value_parser = parse_time_zone, global = true)]
    pub time_zone: chrono_tz::Tz,

    /// Log output format.
    #[arg(long, env = "LUMBAR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax, for example `info` or `lumbar=debug,sqlx=warn`.
    #[arg(long, env = "LUMBAR_LOG", default_value = "info", value_name = "FILTER", value_parser = parse_log_filter, global = true)]
    pub log: String,

    /// SMTP relay: `smtps://user:pass@host:465` (implicit TLS), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtp://host:25` (plain, local relay only). Unset: emails are written as
    /// `.eml` files under `<data-dir>/mail`.
    #[arg(long, env = "SMTP_URL", value_name = "URL", value_parser = SmtpUrl::parse, global = true)]
    pub smtp_url: Option<SmtpUrl>,

    /// Directory of questionnaire definitions (`*.json`, FHIR-shaped) that replace the embedded
    /// ones with the same id or add new ones.
    #[arg(
        long,
        env = "LUMBAR_QUESTIONNAIRE_DIR",
        value_name = "DIR",
        global = true
    )]
    pub questionnaire_dir: Option<PathBuf>,

    /// Red-flag rule file (TOML) used instead of the embedded rule set v1. A file that does not
    /// fit the questionnaire stops startup with a message naming the rule.
    #[arg(long, env = "LUMBAR_RULES_FILE", value_name = "FILE", global = true)]
    pub rules_file: Option<PathBuf>,

    /// Directory whose files replace the embedded email templates of the same name (branding).
    #[arg(long, env = "LUMBAR_TEMPLATE_DIR", value_name = "DIR", global = true)]
    pub template_dir: Option<PathBuf>,

    /// Run the email delivery worker inside `serve`. Turn off when separate `lumbar worker`
    /// processes deliver.
    #[arg(long, env = "LUMBAR_OUTBOX_WORKER", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", global = true)]
    pub outbox_worker: bool,

    /// Emails claimed per worker pass.
    #[arg(long, env = "LUMBAR_OUTBOX_BATCH_SIZE", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1000), value_name = "N", global = true)]
    pub outbox_batch_size: u32,

    /// Emails a worker sends at once.
    #[arg(long, env = "LUMBAR_OUTBOX_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=128), value_name = "N", global = true)]
    pub outbox_concurrency: u32,

    /// Seconds a claim is exclusive; a crashed worker's emails are retried after this.
    #[arg(long, env = "LUMBAR_OUTBOX_LEASE_SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u32).range(10..=3600), value_name = "SECONDS", global = true)]
    pub outbox_lease_seconds: u32,

    /// Attempts before a failing email becomes a dead letter.
    #[arg(long, env = "LUMBAR_OUTBOX_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100), value_name = "N", global = true)]
    pub outbox_max_attempts: u32,

    /// First retry delay in seconds; it doubles with each attempt.
    #[arg(long, env = "LUMBAR_OUTBOX_RETRY_BASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=86400), value_name = "SECONDS", global = true)]
    pub outbox_retry_base_seconds: u32,

    /// Longest retry delay in seconds.
    #[arg(long, env = "LUMBAR_OUTBOX_RETRY_MAX_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u32).range(1..=86400), value_name = "SECONDS", global = true)]
    pub outbox_retry_max_seconds: u32,

    /// Milliseconds between worker passes when the outbox was empty.
    #[arg(long, env = "LUMBAR_OUTBOX_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60000), value_name = "MS", global = true)]
    pub outbox_poll_ms: u64,

    /// Directory of Ed25519 PKCS#8 PEM keys for access tokens: all verify, the last by name signs.
    /// Default: `<data-dir>/keys`, where a first key is created on first start. Several instances
    /// must share the same keys.
    #[arg(long, env = "LUMBAR_JWT_KEYS_DIR", value_name = "DIR", global = true)]
    pub jwt_keys_dir: Option<PathBuf>,

    /// Sender of every email, as `Name <address>`.
    #[arg(long, env = "LUMBAR_MAIL_FROM", default_value = "Lumbar <no-reply@localhost>", value_name = "MAILBOX", value_parser = parse_mailbox, global = true)]
    pub mail_from: Mailbox,

    /// The emergency telephone number the pages tell a patient with an emergency to call (for
    /// example 999 or 911). Unset: they are told to call their local emergency number.
    #[arg(long, env = "LUMBAR_EMERGENCY_NUMBER", value_name = "NUMBER", value_parser = parse_phone, global = true)]
    pub emergency_number: Option<String>,

    /// The clinic's telephone number, shown to patients where they should call instead (for
    /// example to move a visit that is too close to change online).
    #[arg(long, env = "LUMBAR_CLINIC_PHONE", value_name = "NUMBER", value_parser = parse_phone, global = true)]
    pub clinic_phone: Option<String>,

    /// Seconds between the review queue page's checks for new cases (by its script, or by a
    /// reload when scripts are off).
    #[arg(long, env = "LUMBAR_QUEUE_REFRESH_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..=3600), value_name = "SECONDS", global = true)]
    pub queue_refresh_seconds: u32,

    /// Origins allowed to call the API from a browser, comma-separated (`*` for any). Empty: no
    /// cross-origin access.
    #[arg(long, env = "LUMBAR_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGINS", value_parser = parse_origin, global = true)]
    pub cors_origins: Vec<String>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "LUMBAR_MAX_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=64 * 1024 * 1024), value_name = "BYTES", global = true)]
    pub max_body_bytes: u64,

    /// Password hashes computed at once (each holds 19 MiB while it runs). Default: one per core.
    #[arg(long, env = "LUMBAR_PASSWORD_WORKERS", value_parser = clap::value_parser!(u32).range(1..=256), value_name = "N", global = true)]
    pub password_workers: Option<u32>,

    /// Password hashes that may wait for a worker; beyond that, logins and registrations answer
    /// 503 `busy` with `Retry-After`. Default: 16 per worker.
    #[arg(long, env = "LUMBAR_PASSWORD_QUEUE", value_parser = clap::value_parser!(u32).range(0..=100_000), value_name = "N", global = true)]
    pub password_queue: Option<u32>,

    /// Seconds that in-flight requests get to finish after SIGINT or SIGTERM.
    #[arg(long, env = "LUMBAR_SHUTDOWN_GRACE_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=600), value_name = "SECONDS", global = true)]
    pub shutdown_grace_seconds: u64,
}

impl Config {
    /// The database to use: the configured URL or the embedded SQLite file.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::sqlite_file(&self.embedded_database_file()))
    }

    /// Where the embedded SQLite database lives (used when no `DATABASE_URL` is given).
    pub fn embedded_database_file(&self) -> PathBuf {
        self.data_dir.join("lumbar.db")
    }

    /// The clinic's name as patients read it: the display name of the sender address.
    pub fn clinic_name(&self) -> String {
        self.mail_from
            .name
            .clone()
            .unwrap_or_else(|| "Lumbar".to_owned())
    }

    /// The base of every link Lumbar puts in an email.
    pub fn public_base_url(&self) -> Url {
        self.public_base_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://{}/", self.listen))
                .expect("a socket address forms a valid URL")
        })
    }

    /// A `serve` on PostgreSQL is one of possibly several instances, which must agree on the
    /// public base URL: it is the access tokens' issuer, so an instance refuses tokens another
    /// issued under a different one. The default (the listen address) cannot be agreed on, so
    /// it must be set, except on loopback (one machine, a developer's or a test's).
    pub fn check_public_base_url(&self) -> Result<(), String> {
        let postgres = self
            .database_url
            .as_ref()
            .is_some_and(|url| url.backend() == Backend::Postgres);
        if postgres && self.public_base_url.is_none() && !self.listen.ip().is_loopback() {
            return Err(format!(
                "LUMBAR_PUBLIC_BASE_URL (--public-base-url) is required to serve on {} with \
                 PostgreSQL: it is the issuer of access tokens, and every instance sharing the \
                 database must use the same one (the address clients use, such as \
                 https://clinic.example/), or each refuses the others' tokens",
                self.listen
            ));
        }
        Ok(())
    }

    /// The bound on password hashing: workers, and how many may wait for one.
    pub fn password_hashing(&self) -> (usize, usize) {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = self.password_workers.map_or(cores, |n| n as usize);
        let queue = self.password_queue.map_or(workers * 16, |n| n as usize);
        (workers, queue)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }

    /// The domain of every Message-ID: the public host.
    pub fn message_id_domain(&self) -> String {
        self.public_base_url()
            .host_str()
            .unwrap_or("localhost")
            .to_owned()
    }

    pub fn jwt_keys_dir(&self) -> PathBuf {
        self.jwt_keys_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"))
    }

    /// Where `.eml` files go when no SMTP relay is configured.
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines for a terminal.
    Pretty,
    /// One JSON object per line for log collectors.
    Json,
}

/// A value that must never be printed in full.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is handed to the component that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Replaces the password of a URL with `***` for display.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have credentials, which this one has.
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A validated database URL. Shown with its password redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: Secret,
    backend: Backend,
    shown: String,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|err| format!("not a URL ({err})"))?;
        let backend = match url.scheme() {
            "postgres" | "postgresql" => Backend::Postgres,
            "sqlite" => Backend::Sqlite,
            other => {
                return Err(format!(
                    "unsupported scheme `{other}`: use postgres://… or sqlite://…"
                ));
            }
        };
        if backend == Backend::Postgres && url.host_str().unwrap_or_default().is_empty() {
            return Err("a postgres URL needs a host".into());
        }
        Ok(Self {
            shown: redacted(&url),
            url: Secret::new(raw),
            backend,
        })
    }

    /// SQLite in a file, created when missing.
    pub fn sqlite_file(path: &std::path::Path) -> Self {
        let raw = format!("sqlite://{}?mode=rwc", path.display());
        Self {
            shown: raw.clone(),
            url: Secret::new(raw),
            backend: Backend::Sqlite,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn expose(&self) -> &str {
        self.url.expose()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.shown)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// How the SMTP connection is secured, from the URL's scheme and `tls` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `smtp://…?tls=required`: STARTTLS, refusing to continue without it.
    StartTlsRequired,
    /// `smtp://…?tls=opportunistic`: STARTTLS when offered.
    StartTlsOpportunistic,
    /// `smtp://` without `tls`: plain text, for a relay on the same host or network.
    Plain,
}

/// A validated SMTP relay URL, in the form lettre's `from_url` understands. Shown redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    url: Secret,
    security: SmtpSecurity,
    shown: String,
}

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|err| format!("not a URL ({err})"))?;
        if url.host_str().unwrap_or_default().is_empty() {
            return Err("the SMTP URL needs a host".into());
        }
        let tls = url
            .query_pairs()
            .find(|(name, _)| name == "tls")
            .map(|(_, value)| value.into_owned());
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtps", None) => SmtpSecurity::ImplicitTls,
            ("smtp", Some("required")) => SmtpSecurity::StartTlsRequired,
            ("smtp", Some("opportunistic")) => SmtpSecurity::StartTlsOpportunistic,
            ("smtp", None) => SmtpSecurity::Plain,
            ("smtp", Some(other)) => {
                return Err(format!(
                    "unknown tls mode `{other}`: use tls=required or tls=opportunistic"
                ));
            }
            ("smtps", Some(_)) => {
                return Err("smtps:// is always TLS; drop the tls parameter".into());
            }
            (other, _) => {
                return Err(format!(
                    "unsupported scheme `{other}`: use smtp:// or smtps://"
                ));
            }
        };
        // The transport is built from this same URL later; refuse now what lettre would refuse.
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(raw)
            .map_err(|err| format!("not usable as an SMTP relay ({err})"))?;
        Ok(Self {
            shown: redacted(&url),
            url: Secret::new(raw),
            security,
        })
    }

    pub fn security(&self) -> SmtpSecurity {
        self.security
    }

    pub fn expose(&self) -> &str {
        self.url.expose()
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({})", self.shown)
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

fn parse_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|err| format!("not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the base URL cannot have a query or fragment".into());
    }
    Ok(url)
}

fn parse_time_zone(raw: &str) -> Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(raw)
        .map_err(|_| format!("`{raw}` is not an IANA time zone such as Europe/London"))
}

fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    raw.parse::<Mailbox>().map_err(|err| {
        format!("not an email sender such as `Clinic <no-reply@clinic.example>` ({err})")
    })
}

fn parse_phone(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let digits = trimmed.chars().filter(char::is_ascii_digit).count();
    let allowed = trimmed
        .chars()
        .enumerate()
        .all(|(at, c)| c.is_ascii_digit() || " ()-./".contains(c) || (at == 0 && c == '+'));
    if allowed && (2..=20).contains(&digits) && trimmed.len() <= 40 {
        Ok(trimmed.to_owned())
    } else {
        Err("not a telephone number such as `999` or `+44 20 7946 0000`".into())
    }
}

fn parse_log_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(raw)
        .map(|_| raw.to_owned())
        .map_err(|err| format!("not a log filter such as `info` or `lumbar=debug` ({err})"))
}

fn parse_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw == "*" {
        return Ok(raw.to_owned());
    }
    let url = Url::parse(raw).map_err(|err| format!("`{raw}` is not an origin ({err})"))?;
    let is_bare_origin = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.path() == "/"
        && url.query().is_none()
        && !raw.ends_with('/');
    if !is_bare_origin {
        return Err(format!(
            "`{raw}` is not an origin: use scheme://host[:port] with no path"
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_its_password() {
        let url = DatabaseUrl::parse("postgres://lumbar:hunter2@db.internal:5432/lumbar").unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!url.to_string().contains("hunter2"));
        assert!(url.to_string().contains("db.internal"));
        assert_eq!(
            url.expose(),
            "postgres://lumbar:hunter2@db.internal:5432/lumbar"
        );
    }

    #[test]
    fn database_url_refuses_other_engines() {
        let err = DatabaseUrl::parse("mysql://root@localhost/db").unwrap_err();
        assert!(err.contains("mysql"), "{err}");
        assert!(DatabaseUrl::parse("not a url").is_err());
        assert!(DatabaseUrl::parse("sqlite://data/x.db?mode=rwc").is_ok());
    }

    #[test]
    fn smtp_url_security_follows_scheme_and_tls() {
        let cases = [
            ("smtps://u:p@mail.example:465", SmtpSecurity::ImplicitTls),
            (
                "smtp://u:p@mail.example:587?tls=required",
                SmtpSecurity::StartTlsRequired,
            ),
            (
                "smtp://mail.example:587?tls=opportunistic",
                SmtpSecurity::StartTlsOpportunistic,
            ),
            ("smtp://localhost:25", SmtpSecurity::Plain),
        ];
        for (raw, expected) in cases {
            assert_eq!(SmtpUrl::parse(raw).unwrap().security(), expected, "{raw}");
        }
        assert!(SmtpUrl::parse("smtp://h?tls=maybe").is_err());
        assert!(SmtpUrl::parse("http://h").is_err());
        let secret = SmtpUrl::parse("smtps://user:s3cret@mail.example").unwrap();
        assert!(!format!("{secret:?}").contains("s3cret"));
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("abc")), "Secret(***)");
    }

    #[test]
    fn origins_must_be_bare() {
        assert!(parse_origin("https://clinic.example").is_ok());
        assert!(parse_origin("http://localhost:5173").is_ok());
        assert!(parse_origin("*").is_ok());
        assert!(parse_origin("https://clinic.example/").is_err());
        assert!(parse_origin("https://clinic.example/app").is_err());
        assert!(parse_origin("clinic.example").is_err());
    }

    #[test]
    fn time_zone_and_base_url_are_checked() {
        assert_eq!(
            parse_time_zone("Europe/London").unwrap(),
            chrono_tz::Europe::London
        );
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert!(parse_base_url("https://clinic.example/lumbar/").is_ok());
        assert!(parse_base_url("ftp://clinic.example").is_err());
        assert!(parse_base_url("https://clinic.example/?a=1").is_err());
    }
}
