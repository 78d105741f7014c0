//! Scheduling load benchmark (issue 6): the real server on PostgreSQL with a year of
//! appointments, measured over HTTP beside `pgbench` on the same machine in the same run.
//!
//!     cargo bench --bench booking_load
//!
//! Settings (environment):
//! * `LUMBAR_BENCH_POSTGRES_URL`: the server to use (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`); two databases are created on it and
//!   dropped at the end.
//! * `LUMBAR_BENCH_DB_MAX_CONNECTIONS` (default 10, the server's own default): the server's pool
//!   size.
//! * `LUMBAR_BENCH_CLIENTS` (default 32), `LUMBAR_BENCH_SECONDS` (default 20): booking clients
//!   and duration, used for pgbench as well.
//! * `LUMBAR_BENCH_REQUESTS` (default 500): sequential availability requests per query.
//! * `LUMBAR_BENCH_KEEP_DB=1`: keep the seeded database for a look afterwards (its name is
//!   printed); the pgbench database is dropped all the same.
//! * `LUMBAR_BENCH_PGBENCH`: the pgbench binary (default: `pgbench` on the PATH, else
//!   `/usr/lib/postgresql/*/bin/pgbench`).
//!
//! Steps: seed 100 practitioners at two locations with a year of appointments (six months back,
//! six ahead; 8 of the 20 half-hour slots of every working day) using set-based SQL; time
//! availability for one practitioner and for a whole location over 14 days; book distinct free
//! slots from 32 concurrent clients for a fixed time after a short warm-up; run pgbench's
//! default TPC-B-like script with the same number of clients before the server starts and
//! again after it stops; print the figures and the verdict against the targets (availability
//! p95 under 10 ms; bookings per second at least half of pgbench's TPS, the mean of its runs).
//! Beside the figures: the machine's CPU use during booking and pgbench (from /proc, per
//! operation), and a short sequential pass with sqlx's statement events counted (statements per
//! request and the time spent waiting on each), which is not part of the measured figures.
//! A benchmark prints figures; it asserts nothing about time.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    process::Command,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, ensure};
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use clap::Parser;
use entity::user::Role;
use lumbar::{
    Application,
    cli::Cli,
    clock::{Clock, SystemClock},
    store::users,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};
use uuid::Uuid;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const STAFF_EMAIL: &str = "desk@bench.example";
const STAFF_PASSWORD: &str = "a long enough bench password";

const PRACTITIONERS: u64 = 100;
/// Each practitioner's own patients: a patient only ever sees one practitioner, so a patient
/// never has two appointments at once when the practitioner does not.
const PATIENTS_PER_PRACTITIONER: u64 = 200;
/// Seeded days either side of today.
const DAYS_EACH_SIDE: i64 = 182;
/// Working hours 08:00–18:00 local: twenty half-hour slots a day.
const DAY_START_MINUTE: u32 = 8 * 60;
/// Seeded slots (0 = 08:00): every hour from 08:00 to 15:00, 8 appointments a day.
const SEEDED_SLOTS: [u32; 8] = [0, 2, 4, 6, 8, 10, 12, 14];
/// The other twelve half-hours are free for booking.
const FREE_SLOTS: [u32; 12] = [1, 3, 5, 7, 9, 11, 13, 15, 16, 17, 18, 19];
/// A week of leave, this many days ago, for every practitioner (no appointments then).
const TIME_OFF_DAYS_AGO: i64 = 60;
/// Bookings go to days from now + 2 up to this (inside the default 90-day horizon).
const LAST_BOOKING_DAY: i64 = 80;
const WARM_UP_REQUESTS: usize = 30;
/// Booking runs this long before its measured seconds start.
const BOOKING_WARM_UP: Duration = Duration::from_secs(3);

/// Seeded rows get ids `K0000000-0000-4000-8000-<index>`: the bench knows them without asking.
#[derive(Clone, Copy)]
enum Kind {
    Location = 1,
    PractitionerUser = 2,
    Practitioner = 3,
    Patient = 4,
    AppointmentType = 5,
}

fn seeded_id(kind: Kind, index: u64) -> Uuid {
    Uuid::from_u128((u128::from(kind as u8) << 124) | (0x4000_8000u128 << 48) | u128::from(index))
}

/// The same id computed in SQL from an integer expression.
fn seeded_id_sql(kind: Kind, index: &str) -> String {
    format!(
        "('{:x}0000000-0000-4000-8000-' || lpad(to_hex({index}), 12, '0'))::uuid",
        kind as u8
    )
}

/// Locations: 0 is London, 1 New York. Practitioner `i` works at `location_of(i)`.
const ZONES: [&str; 2] = ["Europe/London", "America/New_York"];

fn location_of(practitioner: u64) -> u64 {
    (practitioner / 2) % 2
}

/// Even practitioners are chiropractors, odd ones physiotherapists; type `i % 2` is theirs.
fn type_of(practitioner: u64) -> u64 {
    practitioner % 2
}

struct Settings {
    admin_url: String,
    db_max_connections: u32,
    clients: usize,
    seconds: u64,
    requests: usize,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        fn number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
            match std::env::var(name) {
                Ok(raw) => raw
                    .parse()
                    .map_err(|_| anyhow!("{name} must be a number, not {raw:?}")),
                Err(_) => Ok(default),
            }
        }
        let settings = Self {
            admin_url: std::env::var("LUMBAR_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned()),
            db_max_connections: number("LUMBAR_BENCH_DB_MAX_CONNECTIONS", 10)?,
            clients: number("LUMBAR_BENCH_CLIENTS", 32)?,
            seconds: number("LUMBAR_BENCH_SECONDS", 20)?,
            requests: number("LUMBAR_BENCH_REQUESTS", 500)?,
        };
        ensure!(
            (1..=PRACTITIONERS as usize).contains(&settings.clients),
            "LUMBAR_BENCH_CLIENTS must be 1..={PRACTITIONERS} (each client books its own \
             practitioners)"
        );
        ensure!(
            settings.seconds > 0,
            "LUMBAR_BENCH_SECONDS must be positive"
        );
        ensure!(
            settings.requests > 0,
            "LUMBAR_BENCH_REQUESTS must be positive"
        );
        Ok(settings)
    }

    fn url_of(&self, database: &str) -> anyhow::Result<String> {
        let mut url = url::Url::parse(&self.admin_url).with_context(|| {
            format!("LUMBAR_BENCH_POSTGRES_URL is not a URL: {}", self.admin_url)
        })?;
        url.set_path(database);
        Ok(url.to_string())
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; there is nothing to parse.
    install_sql_profile();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let admin = Database::connect(&settings.admin_url)
        .await
        .with_context(|| {
            format!(
                "PostgreSQL at {} is not reachable; start it or set LUMBAR_BENCH_POSTGRES_URL",
                settings.admin_url
            )
        })?;
    let suffix = format!("{:016x}", fastrand::u64(..));
    let app_db = format!("lumbar_bench_{suffix}");
    let pgbench_db = format!("lumbar_bench_pgbench_{suffix}");
    let outcome = bench(&settings, &admin, &app_db, &pgbench_db).await;
    let keep = std::env::var("LUMBAR_BENCH_KEEP_DB").as_deref() == Ok("1");
    if keep {
        println!("LUMBAR_BENCH_KEEP_DB=1: kept {app_db}; drop it with DROP DATABASE \"{app_db}\"");
    }
    let drop = if keep {
        vec![&pgbench_db]
    } else {
        vec![&app_db, &pgbench_db]
    };
    for name in drop {
        if let Err(err) = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
        {
            eprintln!("warning: could not drop the bench database {name}: {err}");
        }
    }
    admin.close().await.ok();
    let report = outcome?;
    println!("{report}");
    Ok(())
}

/// Everything the summary prints.
struct Report {
    postgres_version: String,
    db_max_connections: u32,
    clients: usize,
    seconds: u64,
    seed: SeedReport,
    availability_one: Latencies,
    availability_one_slots: usize,
    availability_location: Latencies,
    availability_location_slots: usize,
    booking: BookingReport,
    profile: ProfileReport,
    /// Before and after the server's phases.
    pgbench: Result<Vec<PgbenchReport>, String>,
}

async fn bench(
    settings: &Settings,
    admin: &DatabaseConnection,
    app_db: &str,
    pgbench_db: &str,
) -> anyhow::Result<Report> {
    let postgres_version = scalar_text(admin, "SHOW server_version").await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{app_db}\""))
        .await
        .context("create the bench database")?;
    let app_url = settings.url_of(app_db)?;
    println!(
        "booking_load: PostgreSQL {postgres_version}, database {app_db}, {} cores",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    // pgbench on its own database, once before the server starts and once after it stopped:
    // this machine's speed drifts, and the mean of the two brackets the booking phase.
    let prepared = pgbench_prepare(settings, admin, pgbench_db).await;
    let before = match &prepared {
        Ok(prepared) => pgbench_run(settings, admin, prepared, "before").await,
        Err(reason) => Err(reason.clone()),
    };

    // The real server, in this process, on port 0; migrations run at build.
    let data_dir = tempfile::tempdir()?;
    let server = Server::start(&app_url, data_dir.path().to_path_buf(), settings).await?;
    let outcome = measure(settings, &server, &app_url).await;
    server.stop().await?;
    let (seed, availability, booking, profile) = outcome?;

    let after = match &prepared {
        Ok(prepared) => pgbench_run(settings, admin, prepared, "after").await,
        Err(reason) => Err(reason.clone()),
    };
    let pgbench = before.and_then(|before| after.map(|after| vec![before, after]));
    if let Err(reason) = &pgbench {
        eprintln!("pgbench: {reason}");
    }
    Ok(Report {
        postgres_version,
        db_max_connections: settings.db_max_connections,
        clients: settings.clients,
        seconds: settings.seconds,
        seed,
        availability_one: availability.one,
        availability_one_slots: availability.one_slots,
        availability_location: availability.location,
        availability_location_slots: availability.location_slots,
        booking,
        profile,
        pgbench,
    })
}

async fn measure(
    settings: &Settings,
    server: &Server,
    app_url: &str,
) -> anyhow::Result<(SeedReport, AvailabilityReport, BookingReport, ProfileReport)> {
    let db = Database::connect(app_url)
        .await
        .context("connect to the bench database")?;
    let seed = seed(&db).await?;
    println!("{seed}");
    let staff_id = add_staff(server).await?;

    let token = server.login().await?;
    let availability = availability(settings, server, &token).await?;

    checkpoint(&db).await;
    let token = server.login().await?;
    let booking = booking(settings, server, &token).await?;
    let stored = scalar_i64(
        &db,
        &format!("SELECT COUNT(*) FROM appointments WHERE created_by = '{staff_id}'"),
    )
    .await?;
    let answered = booking.created + booking.warm_up_created;
    ensure!(
        stored == answered as i64,
        "{answered} bookings answered 201 but {stored} are stored"
    );
    db.close().await.ok();
    let profile = profile(server, &token, &availability.one_path, &booking.unused).await?;
    Ok((seed, availability, booking, profile))
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

struct Server {
    address: String,
    client: reqwest::Client,
    app: lumbar::AppState,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(url: &str, data_dir: PathBuf, settings: &Settings) -> anyhow::Result<Self> {
        let data_dir = data_dir
            .to_str()
            .context("the temporary directory's path is not UTF-8")?
            .to_owned();
        // No SMTP URL: emails would go to `.eml` files under the data dir; the delivery worker
        // is off, so they stay queued in the outbox and nothing is sent.
        let cli = Cli::try_parse_from([
            "lumbar".to_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir,
            "--database-url".into(),
            url.to_owned(),
            "--db-max-connections".into(),
            settings.db_max_connections.to_string(),
            "--outbox-worker".into(),
            "false".into(),
        ])
        .map_err(|err| anyhow!("bench settings refused: {err}"))?;
        let application = Application::build(cli.config, Arc::new(SystemClock))
            .await
            .context("the server did not start")?;
        let address = format!("http://{}", application.local_addr());
        let app = application.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(application.run_until(async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            address,
            client,
            app,
            stop,
            handle,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn login(&self) -> anyhow::Result<String> {
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": STAFF_EMAIL, "password": STAFF_PASSWORD}))
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status == 200, "login failed with {status}: {body}");
        let body: Value = serde_json::from_str(&body)?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("the login response has no access_token")
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.handle.await.context("the server task panicked")?
    }
}

async fn add_staff(server: &Server) -> anyhow::Result<Uuid> {
    let hash = lumbar::auth::password::hash(STAFF_PASSWORD.into()).await?;
    let user = users::create(
        &server.app.db,
        SystemClock.now(),
        users::NewUser {
            email: STAFF_EMAIL.into(),
            display_name: "Front Desk".into(),
            password_hash: Some(hash),
            role: Role::Staff,
            email_verified: true,
        },
    )
    .await
    .context("create the staff user")?;
    Ok(user.id)
}

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

struct SeedReport {
    elapsed: Duration,
    counts: Vec<(&'static str, i64)>,
    statuses: Vec<(String, i64)>,
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(table, n)| format!("{table} {n}"))
            .collect();
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        write!(
            f,
            "seeded in {:.1} s: {}; appointments by status: {}",
            self.elapsed.as_secs_f64(),
            counts.join(", "),
            statuses.join(", ")
        )
    }
}

async fn seed(db: &DatabaseConnection) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    let location = |index: &str| seeded_id_sql(Kind::Location, index);
    let practitioner = |index: &str| seeded_id_sql(Kind::Practitioner, index);
    let kind = |index: &str| seeded_id_sql(Kind::AppointmentType, index);
    let zone_of = "(CASE WHEN (i / 2) % 2 = 0 THEN 'Europe/London' ELSE 'America/New_York' END)";
    let last = PRACTITIONERS - 1;
    let patients = PRACTITIONERS * PATIENTS_PER_PRACTITIONER;
    let slots: Vec<String> = SEEDED_SLOTS.iter().map(u32::to_string).collect();
    let statements = [
        (
            "locations",
            format!(
                "INSERT INTO locations (id, name, address, time_zone, active, created_at, updated_at)
                 SELECT {}, 'Bench ' || z.name, z.n || ' Bench Street', z.zone, true, now(), now()
                 FROM (VALUES (0, 'London', '{}'), (1, 'New York', '{}')) AS z (n, name, zone)",
                location("z.n"),
                ZONES[0],
                ZONES[1]
            ),
        ),
        (
            "appointment types",
            format!(
                "INSERT INTO appointment_types (id, name, discipline, duration_minutes,
                     buffer_after_minutes, new_patient, active, created_at, updated_at)
                 SELECT {}, t.name, t.discipline, 30, 0, true, true, now(), now()
                 FROM (VALUES (0, 'Chiropractic new patient', 'chiropractic'),
                              (1, 'Physiotherapy new patient', 'physiotherapy'))
                      AS t (n, name, discipline)",
                kind("t.n")
            ),
        ),
        (
            "practitioner users",
            format!(
                "INSERT INTO users (id, email, display_name, password_hash, role,
                     email_verified_at, created_at, updated_at, disabled_at)
                 SELECT {}, 'practitioner' || i || '@bench.example', 'Practitioner ' || i, NULL,
                     'practitioner', now(), now(), now(), NULL
                 FROM generate_series(0, {last}) AS i",
                seeded_id_sql(Kind::PractitionerUser, "i")
            ),
        ),
        (
            "practitioners",
            format!(
                "INSERT INTO practitioners (id, user_id, display_name, discipline, active,
                     calendar_token_hash, created_at, updated_at)
                 SELECT {}, {}, 'Practitioner ' || i,
                     CASE WHEN i % 2 = 0 THEN 'chiropractic' ELSE 'physiotherapy' END,
                     true, NULL, now(), now()
                 FROM generate_series(0, {last}) AS i",
                practitioner("i"),
                seeded_id_sql(Kind::PractitionerUser, "i")
            ),
        ),
        (
            "practitioner locations",
            format!(
                "INSERT INTO practitioner_locations (practitioner_id, location_id)
                 SELECT {}, {} FROM generate_series(0, {last}) AS i",
                practitioner("i"),
                location("(i / 2) % 2")
            ),
        ),
        (
            "working hours",
            format!(
                "INSERT INTO working_hours (id, practitioner_id, location_id, weekday,
                     start_minute, end_minute)
                 SELECT gen_random_uuid(), {}, {}, d, {DAY_START_MINUTE}, {}
                 FROM generate_series(0, {last}) AS i, generate_series(1, 5) AS d",
                practitioner("i"),
                location("(i / 2) % 2"),
                DAY_START_MINUTE + 20 * 30
            ),
        ),
        (
            "time off",
            format!(
                "INSERT INTO time_off (id, practitioner_id, starts_at, ends_at, reason,
                     created_by, created_at)
                 SELECT gen_random_uuid(), {},
                     (current_date - {TIME_OFF_DAYS_AGO})::timestamp AT TIME ZONE {zone_of},
                     (current_date - {})::timestamp AT TIME ZONE {zone_of},
                     'Annual leave', NULL, now() - interval '90 days'
                 FROM generate_series(0, {last}) AS i",
                practitioner("i"),
                TIME_OFF_DAYS_AGO - 7
            ),
        ),
        (
            "patients",
            format!(
                "INSERT INTO patients (id, user_id, given_name, family_name, date_of_birth,
                     email, phone, created_at, updated_at, created_by)
                 SELECT {}, NULL, 'Patient', 'Bench ' || n, date '1950-01-01' + (n % 20000),
                     'patient' || n || '@bench.example', NULL, now() - interval '1 year',
                     now() - interval '1 year', NULL
                 FROM generate_series(0, {}) AS n",
                seeded_id_sql(Kind::Patient, "n"),
                patients - 1
            ),
        ),
        (
            "appointments",
            // Practitioner i's day d, slot k: patient i * 200 + (d * 8 + k) % 200, one of
            // their own. Weekdays of the location's calendar, none during the week of leave.
            format!(
                "WITH pr AS (
                     SELECT i, {practitioner_id} AS id, {location_id} AS location_id,
                         {zone_of} AS zone, {type_id} AS type_id
                     FROM generate_series(0, {last}) AS i
                 ), days AS (
                     SELECT (current_date + o)::date AS day, o + {DAYS_EACH_SIDE} AS n
                     FROM generate_series(-{DAYS_EACH_SIDE}, {DAYS_EACH_SIDE}) AS o
                     WHERE extract(isodow FROM current_date + o) < 6
                       AND o NOT BETWEEN -{TIME_OFF_DAYS_AGO} AND -{TIME_OFF_DAYS_AGO} + 6
                 ), slots AS (
                     SELECT k - 1 AS k, s FROM unnest(ARRAY[{slots}]) WITH ORDINALITY AS u (s, k)
                 ), planned AS (
                     SELECT pr.i, pr.id, pr.location_id, pr.type_id, days.n, slots.k,
                         (days.day + time '08:00' + slots.s * interval '30 minutes')
                             AT TIME ZONE pr.zone AS starts_at
                     FROM pr CROSS JOIN days CROSS JOIN slots
                 )
                 INSERT INTO appointments (id, patient_id, practitioner_id, location_id,
                     appointment_type_id, starts_at, ends_at, blocked_until, status, sequence,
                     cancel_reason, cancelled_late, override_reason, created_by, created_at,
                     updated_at)
                 SELECT gen_random_uuid(), {patient_id}, id, location_id, type_id, starts_at,
                     starts_at + interval '30 minutes', starts_at + interval '30 minutes',
                     CASE
                         WHEN starts_at + interval '30 minutes' <= now() THEN
                             CASE WHEN (n * 8 + k) % 25 = 0 THEN 'no_show' ELSE 'completed' END
                         WHEN starts_at <= now() THEN 'checked_in'
                         ELSE 'booked'
                     END,
                     0, NULL, false, NULL, NULL,
                     least(now(), starts_at - interval '14 days'),
                     least(now(), starts_at - interval '14 days')
                 FROM planned",
                practitioner_id = practitioner("i"),
                location_id = location("(i / 2) % 2"),
                type_id = kind("i % 2"),
                patient_id = seeded_id_sql(
                    Kind::Patient,
                    &format!(
                        "i * {PATIENTS_PER_PRACTITIONER} + (n * 8 + k) % {PATIENTS_PER_PRACTITIONER}"
                    )
                ),
                slots = slots.join(", "),
            ),
        ),
    ];
    for (what, sql) in statements {
        let step = Instant::now();
        let result = db
            .execute_unprepared(&sql)
            .await
            .with_context(|| format!("seeding {what} failed"))?;
        println!(
            "  seeded {what}: {} rows in {:.2} s",
            result.rows_affected(),
            step.elapsed().as_secs_f64()
        );
    }
    // Fresh statistics and visibility map, as a database in service would have.
    db.execute_unprepared("VACUUM ANALYZE")
        .await
        .context("VACUUM ANALYZE after seeding failed")?;
    let elapsed = started.elapsed();

    let mut counts = Vec::new();
    for table in [
        "locations",
        "practitioners",
        "working_hours",
        "time_off",
        "appointment_types",
        "patients",
        "appointments",
    ] {
        counts.push((
            table,
            scalar_i64(db, &format!("SELECT COUNT(*) FROM {table}")).await?,
        ));
    }
    let statuses = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT status, COUNT(*) AS n FROM appointments GROUP BY status ORDER BY status",
        ))
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "status")?,
                row.try_get::<i64>("", "n")?,
            ))
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    Ok(SeedReport {
        elapsed,
        counts,
        statuses,
    })
}

async fn scalar_i64(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .with_context(|| format!("no row from {sql}"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

async fn scalar_text(db: &DatabaseConnection, sql: &str) -> anyhow::Result<String> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .with_context(|| format!("no row from {sql}"))?;
    Ok(row.try_get_by_index::<String>(0)?)
}

/// Writes dirty pages out before a measured phase, so a checkpoint is less likely inside it.
async fn checkpoint(db: &DatabaseConnection) {
    if let Err(err) = db.execute_unprepared("CHECKPOINT").await {
        eprintln!("note: CHECKPOINT failed ({err}); continuing");
    }
}

// ---------------------------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------------------------

struct Latencies {
    count: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl Latencies {
    /// Nearest-rank percentiles of milliseconds.
    fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
            samples.get(index).copied().unwrap_or_default()
        };
        Self {
            count: samples.len(),
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
            self.p50, self.p95, self.p99, self.max, self.count
        )
    }
}

struct AvailabilityReport {
    one_path: String,
    one: Latencies,
    one_slots: usize,
    location: Latencies,
    location_slots: usize,
}

async fn availability(
    settings: &Settings,
    server: &Server,
    token: &str,
) -> anyhow::Result<AvailabilityReport> {
    let from = Utc::now().date_naive() + TimeDelta::days(1);
    let to = from + TimeDelta::days(13);
    let base = format!(
        "/api/v1/availability?appointment_type_id={}&from={from}&to={to}",
        seeded_id(Kind::AppointmentType, type_of(0))
    );
    let one = format!(
        "{base}&practitioner_id={}",
        seeded_id(Kind::Practitioner, 0)
    );
    let location = format!("{base}&location_id={}", seeded_id(Kind::Location, 0));

    let (one_latencies, one_slots) = time_requests(server, token, &one, settings.requests).await?;
    println!("availability, one practitioner, {from}..={to}: {one_slots} slots; {one_latencies}");
    let (location_latencies, location_slots) =
        time_requests(server, token, &location, settings.requests).await?;
    println!(
        "availability, location-wide (London, every chiropractor), {from}..={to}: \
         {location_slots} slots; {location_latencies}"
    );
    Ok(AvailabilityReport {
        one_path: one,
        one: one_latencies,
        one_slots,
        location: location_latencies,
        location_slots,
    })
}

/// Warms up, then sends `count` sequential GETs: latency of each until the body is read.
async fn time_requests(
    server: &Server,
    token: &str,
    path: &str,
    count: usize,
) -> anyhow::Result<(Latencies, usize)> {
    let url = server.url(path);
    let mut slots = 0;
    for _ in 0..WARM_UP_REQUESTS {
        slots = get_slots(server, token, &url).await?;
    }
    ensure!(
        slots > 0,
        "availability offered no slots for {path}: the seed left no free time?"
    );
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let response = server.client.get(&url).bearer_auth(token).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        ensure!(
            status == 200,
            "availability answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok((Latencies::of(samples), slots))
}

async fn get_slots(server: &Server, token: &str, url: &str) -> anyhow::Result<usize> {
    let response = server.client.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    let body = response.text().await?;
    ensure!(status == 200, "availability answered {status}: {body}");
    let body: Value = serde_json::from_str(&body)?;
    Ok(body["slots"].as_array().map_or(0, Vec::len))
}

// ---------------------------------------------------------------------------------------------
// Booking
// ---------------------------------------------------------------------------------------------

struct BookingReport {
    created: usize,
    /// Made during the warm-up, not counted in `created`.
    warm_up_created: usize,
    statuses: BTreeMap<u16, usize>,
    failures: Vec<String>,
    elapsed: Duration,
    latencies: Latencies,
    /// Slots planned per client (the smallest plan).
    planned_per_client: usize,
    cpu: Option<CpuUse>,
    /// Planned bookings the first client did not get to: free still, for the profile pass.
    unused: Vec<Value>,
}

impl BookingReport {
    fn per_second(&self) -> f64 {
        self.created as f64 / self.elapsed.as_secs_f64()
    }
}

/// Free half-hours of practitioner `index` from the day after tomorrow on: the slots the seed
/// left free, on the location's weekdays, in order of time.
fn free_slots(
    index: u64,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<DateTime<Utc>>> {
    let zone: Tz = ZONES[location_of(index) as usize]
        .parse()
        .map_err(|err| anyhow!("unknown zone: {err}"))?;
    let mut starts = Vec::new();
    for offset in 2..=LAST_BOOKING_DAY {
        let day = today + TimeDelta::days(offset);
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        for slot in FREE_SLOTS {
            let minute = DAY_START_MINUTE + slot * 30;
            let local = day
                .and_hms_opt(minute / 60, minute % 60, 0)
                .context("a valid local time")?;
            let start = zone
                .from_local_datetime(&local)
                .single()
                .context("working hours never fall in a clock change")?
                .with_timezone(&Utc);
            if start > now {
                starts.push(start);
            }
        }
    }
    Ok(starts)
}

/// Each client books only its own practitioners (index % clients), and each booking's patient
/// is one of that practitioner's own patients: no two requests can want the same time of the
/// same practitioner or patient.
fn plan(clients: usize, run: &str) -> anyhow::Result<Vec<Vec<Value>>> {
    let now = Utc::now();
    let today = now.date_naive();
    let mut plans = Vec::with_capacity(clients);
    for client in 0..clients {
        let mine: Vec<u64> = (0..PRACTITIONERS)
            .filter(|index| *index as usize % clients == client)
            .collect();
        let mut per_practitioner = Vec::new();
        for &index in &mine {
            per_practitioner.push((index, free_slots(index, today, now)?));
        }
        // Interleave: one slot of each practitioner in turn.
        let longest = per_practitioner
            .iter()
            .map(|(_, starts)| starts.len())
            .max()
            .unwrap_or(0);
        let mut planned = Vec::new();
        for position in 0..longest {
            for (index, starts) in &per_practitioner {
                let Some(start) = starts.get(position) else {
                    continue;
                };
                let patient =
                    index * PATIENTS_PER_PRACTITIONER + position as u64 % PATIENTS_PER_PRACTITIONER;
                planned.push(json!({
                        "patient_id": seeded_id(Kind::Patient, patient),
                        "practitioner_id": seeded_id(Kind::Practitioner, *index),
                        "location_id": seeded_id(Kind::Location, location_of(*index)),
                        "appointment_type_id": seeded_id(Kind::AppointmentType, type_of(*index)),
                        "start": start.to_rfc3339_opts(SecondsFormat::Secs, true),
                        "override_reason": format!("booking_load run {run}: intake taken on paper"),
                }));
            }
        }
        plans.push(planned);
    }
    Ok(plans)
}

struct ClientOutcome {
    statuses: BTreeMap<u16, usize>,
    failures: Vec<String>,
    latencies: Vec<f64>,
    exhausted: bool,
    warm_up_created: usize,
}

async fn booking(
    settings: &Settings,
    server: &Server,
    token: &str,
) -> anyhow::Result<BookingReport> {
    let run = format!("{:08x}", fastrand::u32(..));
    let plans = plan(settings.clients, &run)?;
    let planned_per_client = plans.iter().map(Vec::len).min().unwrap_or(0);
    println!(
        "booking: {} clients for {} s, at least {planned_per_client} planned free slots each",
        settings.clients, settings.seconds
    );
    // The first seconds open the pool's connections and prepare its statements (pgbench's
    // figure leaves out its connection time too): bookings then are made but not counted.
    let started = Instant::now();
    let measured_from = started + BOOKING_WARM_UP;
    let deadline = measured_from + Duration::from_secs(settings.seconds);
    let mut tasks = Vec::new();
    for (client, mut planned) in plans.into_iter().enumerate() {
        let http = server.client.clone();
        let url = server.url("/api/v1/appointments");
        let token = token.to_owned();
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcome = ClientOutcome {
                statuses: BTreeMap::new(),
                failures: Vec::new(),
                latencies: Vec::new(),
                exhausted: true,
                warm_up_created: 0,
            };
            let mut used = 0;
            for (number, booking) in planned.iter().enumerate() {
                if Instant::now() >= deadline {
                    outcome.exhausted = false;
                    break;
                }
                used = number + 1;
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("bench-{run}-{client}-{number}"))
                    .json(booking)
                    .send()
                    .await;
                let (status, body) = match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        (status, response.text().await.unwrap_or_default())
                    }
                    Err(err) => (0, err.to_string()),
                };
                if sent < measured_from {
                    outcome.warm_up_created += usize::from(status == 201);
                    continue;
                }
                outcome
                    .latencies
                    .push(sent.elapsed().as_secs_f64() * 1000.0);
                *outcome.statuses.entry(status).or_default() += 1;
                if status != 201 && outcome.failures.len() < 3 {
                    outcome.failures.push(format!("{status}: {body}"));
                }
            }
            planned.drain(..used);
            (outcome, planned)
        }));
    }
    tokio::time::sleep_until(measured_from.into()).await;
    let cpu_before = CpuSample::now();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut latencies = Vec::new();
    let mut exhausted = 0;
    let mut warm_up_created = 0;
    let mut unused = Vec::new();
    for task in tasks {
        let (outcome, rest) = task.await.context("a booking client panicked")?;
        if unused.is_empty() {
            unused = rest;
        }
        for (status, n) in outcome.statuses {
            *statuses.entry(status).or_default() += n;
        }
        failures.extend(outcome.failures);
        latencies.extend(outcome.latencies);
        exhausted += usize::from(outcome.exhausted);
        warm_up_created += outcome.warm_up_created;
    }
    let elapsed = measured_from.elapsed();
    let cpu = CpuUse::between(cpu_before, CpuSample::now());
    if exhausted > 0 {
        eprintln!("warning: {exhausted} clients ran out of planned slots before the deadline");
    }
    let report = BookingReport {
        created: statuses.get(&201).copied().unwrap_or(0),
        warm_up_created,
        statuses,
        failures,
        elapsed,
        latencies: Latencies::of(latencies),
        planned_per_client,
        cpu,
        unused,
    };
    println!(
        "booking: {} created in {:.2} s = {:.1} bookings/s (after {} in a {} s warm-up); \
         statuses {}; latency {}",
        report.created,
        report.elapsed.as_secs_f64(),
        report.per_second(),
        report.warm_up_created,
        BOOKING_WARM_UP.as_secs(),
        status_text(&report.statuses),
        report.latencies
    );
    for failure in report.failures.iter().take(5) {
        println!("  refused: {failure}");
    }
    if let Some(cpu) = &report.cpu {
        println!("booking: {}", cpu.describe(report.created, "booking"));
    }
    Ok(report)
}

fn status_text(statuses: &BTreeMap<u16, usize>) -> String {
    let parts: Vec<String> = statuses
        .iter()
        .map(|(status, n)| {
            if *status == 0 {
                format!("transport error × {n}")
            } else {
                format!("{status} × {n}")
            }
        })
        .collect();
    parts.join(", ")
}

// ---------------------------------------------------------------------------------------------
// pgbench
// ---------------------------------------------------------------------------------------------

fn pgbench_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("LUMBAR_BENCH_PGBENCH") {
        return Some(PathBuf::from(path));
    }
    let works = |path: &std::path::Path| {
        Command::new(path)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
    };
    let on_path = PathBuf::from("pgbench");
    if works(&on_path) {
        return Some(on_path);
    }
    let mut installed: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin/pgbench"))
        .filter(|path| works(path))
        .collect();
    installed.sort();
    installed.pop()
}

/// pgbench's binary and its initialised database (scale 10).
struct Pgbench {
    binary: PathBuf,
    url: String,
}

/// Creates and initialises pgbench's database, or says why it cannot.
async fn pgbench_prepare(
    settings: &Settings,
    admin: &DatabaseConnection,
    database: &str,
) -> Result<Pgbench, String> {
    let Some(binary) = pgbench_binary() else {
        return Err(
            "pgbench is not installed (not on PATH, not in /usr/lib/postgresql/*/bin); set \
             LUMBAR_BENCH_PGBENCH to compare"
                .into(),
        );
    };
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{database}\""))
        .await
        .map_err(|err| format!("could not create the pgbench database: {err}"))?;
    let url = settings.url_of(database).map_err(|err| err.to_string())?;
    let init = {
        let (program, url) = (binary.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(&program)
                .args(["-i", "-s", "10", "-q", &url])
                .output()
        })
        .await
        .map_err(|err| format!("the pgbench task failed: {err}"))?
        .map_err(|err| format!("could not run {}: {err}", binary.display()))?
    };
    if !init.status.success() {
        return Err(format!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        ));
    }
    Ok(Pgbench { binary, url })
}

/// One run of pgbench's default TPC-B-like script with the booking phase's clients and
/// duration: its TPS without the initial connection time, or why there is none.
async fn pgbench_run(
    settings: &Settings,
    admin: &DatabaseConnection,
    pgbench: &Pgbench,
    when: &str,
) -> Result<PgbenchReport, String> {
    let binary = pgbench.binary.clone();
    let url = pgbench.url.clone();
    let clients = settings.clients.to_string();
    let seconds = settings.seconds.to_string();
    checkpoint(admin).await;
    println!("pgbench ({when}): -c {clients} -j 2 -T {seconds} (TPC-B-like, scale 10)");
    let before = CpuSample::now();
    let run = {
        let program = binary.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(&program)
                .args(["-c", &clients, "-j", "2", "-T", &seconds, &url])
                .output()
        })
        .await
        .map_err(|err| format!("the pgbench task failed: {err}"))?
        .map_err(|err| format!("could not run {}: {err}", binary.display()))?
    };
    let cpu = CpuUse::between(before, CpuSample::now());
    let output = String::from_utf8_lossy(&run.stdout).into_owned();
    if !run.status.success() {
        return Err(format!(
            "pgbench failed: {}{output}",
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    let transactions = output
        .lines()
        .find_map(|line| line.strip_prefix("number of transactions actually processed: "))
        .and_then(|number| number.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let tps = output
        .lines()
        .find(|line| line.starts_with("tps = ") && line.contains("without initial connection"))
        .and_then(|line| line.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|number| number.parse::<f64>().ok())
        .ok_or_else(|| {
            format!("no `tps = … (without initial connection time)` line in:\n{output}")
        })?;
    println!(
        "pgbench: tps = {tps:.1} (without initial connection time), {transactions} transactions"
    );
    if let Some(cpu) = &cpu {
        println!(
            "pgbench: CPU {:.0}% of {} cores busy; per transaction {:.2} ms CPU (pgbench and \
             PostgreSQL)",
            cpu.busy * 100.0,
            cpu.cores,
            cpu.per_op(cpu.busy, transactions)
        );
    }
    Ok(PgbenchReport {
        when: when.to_owned(),
        tps,
        transactions,
        cpu,
    })
}

struct PgbenchReport {
    when: String,
    tps: f64,
    transactions: usize,
    cpu: Option<CpuUse>,
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let appointments = self
            .seed
            .counts
            .iter()
            .find(|(table, _)| *table == "appointments")
            .map_or(0, |(_, n)| *n);
        let patients = self
            .seed
            .counts
            .iter()
            .find(|(table, _)| *table == "patients")
            .map_or(0, |(_, n)| *n);
        let statuses: Vec<String> = self
            .seed
            .statuses
            .iter()
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        writeln!(f)?;
        writeln!(f, "==== booking_load summary (issue 6) ====")?;
        writeln!(
            f,
            "machine: {cores} cores; PostgreSQL {} on 127.0.0.1; the Lumbar server and the HTTP \
             load generator share one process (tokio, {cores} worker threads); pgbench is a \
             separate process on the same cores, run before the server started and after it \
             stopped",
            self.postgres_version
        )?;
        writeln!(
            f,
            "server: release build, db_max_connections = {}, outbox worker off (emails stay \
             queued), system clock, default clinic policies (15-min grid, 90-day horizon)",
            self.db_max_connections
        )?;
        writeln!(
            f,
            "seed: 2 locations (Europe/London, America/New_York), 100 practitioners (50 \
             chiropractic, 50 physiotherapy), Mon-Fri 08:00-18:00 local, {patients} patients, \
             {appointments} appointments over +/-{DAYS_EACH_SIDE} days, 8 of 20 half-hours a \
             day ({}); {:.1} s",
            statuses.join(", "),
            self.seed.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "availability, 1 practitioner, 14 days from tomorrow ({} slots): {}",
            self.availability_one_slots, self.availability_one
        )?;
        writeln!(
            f,
            "availability, location-wide, 50 chiropractors loaded, 25 at the location ({} \
             slots; informative): {}",
            self.availability_location_slots, self.availability_location
        )?;
        writeln!(
            f,
            "booking, {} concurrent clients, {} s after a {} s warm-up, distinct free slots \
             (staff, patient_id, override_reason): {} created = {:.1} bookings/s; statuses {}; \
             latency {}",
            self.clients,
            self.seconds,
            BOOKING_WARM_UP.as_secs(),
            self.booking.created,
            self.booking.per_second(),
            status_text(&self.booking.statuses),
            self.booking.latencies
        )?;
        if let Some(cpu) = &self.booking.cpu {
            writeln!(
                f,
                "booking, {}",
                cpu.describe(self.booking.created, "booking")
            )?;
        }
        let availability_ok = self.availability_one.p95 < 10.0;
        match &self.pgbench {
            Ok(runs) => {
                for run in runs {
                    writeln!(
                        f,
                        "pgbench TPC-B-like ({}; scale 10, -c {} -j 2 -T {}): {:.1} tps \
                         (without initial connection time)",
                        run.when, self.clients, self.seconds, run.tps
                    )?;
                    if let Some(cpu) = &run.cpu {
                        writeln!(
                            f,
                            "pgbench ({}), CPU {:.0}% of {} cores busy; per transaction {:.2} \
                             ms CPU (pgbench and PostgreSQL)",
                            run.when,
                            cpu.busy * 100.0,
                            cpu.cores,
                            cpu.per_op(cpu.busy, run.transactions)
                        )?;
                    }
                }
                let tps = runs.iter().map(|run| run.tps).sum::<f64>() / runs.len().max(1) as f64;
                let ratio = self.booking.per_second() / tps;
                writeln!(
                    f,
                    "verdict: availability p95 {:.2} ms < 10 ms: {}; booking {:.1}/s >= 0.5 x \
                     pgbench {tps:.1} tps (mean of before and after; ratio {ratio:.2}): {}",
                    self.availability_one.p95,
                    pass(availability_ok),
                    self.booking.per_second(),
                    pass(ratio >= 0.5)
                )?;
            }
            Err(reason) => {
                writeln!(f, "pgbench: not measured: {reason}")?;
                writeln!(
                    f,
                    "verdict: availability p95 {:.2} ms < 10 ms: {}; booking target not \
                     judged (no pgbench figure)",
                    self.availability_one.p95,
                    pass(availability_ok)
                )?;
            }
        }
        writeln!(
            f,
            "profile (statement logging on, sequential, not part of the figures above): \
             availability {}",
            self.profile.availability.headline()
        )?;
        if let Some(booking) = &self.profile.booking {
            writeln!(f, "profile: booking {}", booking.headline())?;
        }
        if self.booking.created == 0 || self.booking.statuses.len() > 1 {
            writeln!(
                f,
                "WARNING: not every booking answered 201: {}",
                status_text(&self.booking.statuses)
            )?;
        }
        if self.booking.planned_per_client == 0 {
            writeln!(f, "WARNING: a client had no free slots planned")?;
        }
        write!(f, "========================================")
    }
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

// ---------------------------------------------------------------------------------------------
// Where the time goes: CPU use during a phase, and the statements behind one request
// ---------------------------------------------------------------------------------------------

/// Jiffies from /proc: the whole machine's (busy and total) and this process's.
#[derive(Clone, Copy)]
struct CpuSample {
    busy: u64,
    total: u64,
    process: u64,
    at: Instant,
}

impl CpuSample {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // cpu user nice system idle iowait irq softirq steal (guest time is inside user).
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|field| field.parse().ok())
            .collect();
        let total: u64 = fields.iter().sum();
        let idle = fields.get(3)? + fields.get(4)?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // After "pid (comm)": field 3 is the state, utime and stime are fields 14 and 15.
        let rest: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
        let process = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
        Some(Self {
            busy: total - idle,
            total,
            process,
            at: Instant::now(),
        })
    }
}

/// CPU use over a phase, as fractions of all cores.
struct CpuUse {
    busy: f64,
    process: f64,
    cores: f64,
    seconds: f64,
}

impl CpuUse {
    fn between(before: Option<CpuSample>, after: Option<CpuSample>) -> Option<Self> {
        let (before, after) = (before?, after?);
        let total = after.total.checked_sub(before.total)?.max(1) as f64;
        Some(Self {
            busy: after.busy.checked_sub(before.busy)? as f64 / total,
            process: after.process.checked_sub(before.process)? as f64 / total,
            cores: std::thread::available_parallelism().map_or(1, usize::from) as f64,
            seconds: (after.at - before.at).as_secs_f64(),
        })
    }

    /// Milliseconds of CPU per operation for a fraction of the machine.
    fn per_op(&self, fraction: f64, operations: usize) -> f64 {
        fraction * self.cores * self.seconds * 1000.0 / operations.max(1) as f64
    }

    fn describe(&self, operations: usize, what: &str) -> String {
        format!(
            "CPU {:.0}% of {} cores busy (this process, server and HTTP clients: {:.0}%; \
             the rest, mostly PostgreSQL: {:.0}%); per {what}: {:.2} ms CPU in this process \
             + {:.2} ms elsewhere = {:.2} ms",
            self.busy * 100.0,
            self.cores,
            self.process * 100.0,
            (self.busy - self.process) * 100.0,
            self.per_op(self.process, operations),
            self.per_op(self.busy - self.process, operations),
            self.per_op(self.busy, operations)
        )
    }
}

/// Counts sqlx's statement events while switched on; off, the statement logger stays as cheap
/// as without a subscriber (its callsite is asked, and says no).
struct SqlProfile {
    on: AtomicBool,
    statements: Mutex<HashMap<String, (u64, f64)>>,
}

static SQL_PROFILE: LazyLock<SqlProfile> = LazyLock::new(|| SqlProfile {
    on: AtomicBool::new(false),
    statements: Mutex::new(HashMap::new()),
});

impl SqlProfile {
    fn start(&self) {
        self.lock().clear();
        self.on.store(true, Ordering::SeqCst);
    }

    fn stop(&self) -> HashMap<String, (u64, f64)> {
        self.on.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, f64)>> {
        self.statements
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct SqlProfileLayer;

const SQLX_QUERY: &str = "sqlx::query";

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SqlProfileLayer {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.target() == SQLX_QUERY {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        metadata.target() == SQLX_QUERY && SQL_PROFILE.on.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Fields {
            summary: String,
            statement: String,
            seconds: f64,
        }
        impl tracing::field::Visit for Fields {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "summary" => self.summary = value.to_owned(),
                    "db.statement" => self.statement = value.to_owned(),
                    _ => {}
                }
            }
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "elapsed_secs" {
                    self.seconds = value;
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let text = if fields.statement.trim().is_empty() {
            fields.summary
        } else {
            fields.statement
        };
        let key: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut statements = SQL_PROFILE.lock();
        let entry = statements.entry(key).or_default();
        entry.0 += 1;
        entry.1 += fields.seconds;
    }
}

fn install_sql_profile() {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(SqlProfileLayer);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("note: a tracing subscriber exists already; no statement profile");
    }
}

/// One kind of request, sent sequentially with statement counting on.
struct OpProfile {
    requests: usize,
    wall_ms: f64,
    statements: f64,
    db_ms: f64,
    /// Statement text, executions per request, milliseconds per request.
    top: Vec<(String, f64, f64)>,
}

impl OpProfile {
    fn of(requests: usize, wall: Duration, statements: HashMap<String, (u64, f64)>) -> Self {
        let per = requests.max(1) as f64;
        let mut top: Vec<(String, f64, f64)> = statements
            .into_iter()
            .map(|(text, (count, seconds))| (text, count as f64 / per, seconds * 1000.0 / per))
            .collect();
        top.sort_by(|a, b| b.2.total_cmp(&a.2));
        Self {
            requests,
            wall_ms: wall.as_secs_f64() * 1000.0 / per,
            statements: top.iter().map(|(_, count, _)| count).sum(),
            db_ms: top.iter().map(|(_, _, ms)| ms).sum(),
            top,
        }
    }

    fn headline(&self) -> String {
        format!(
            "{:.1} statements, {:.2} ms waiting on them, of {:.2} ms per request (sequential, \
             n = {})",
            self.statements, self.db_ms, self.wall_ms, self.requests
        )
    }

    fn print(&self, what: &str) {
        println!("profile, {what}: {}", self.headline());
        for (text, count, ms) in &self.top {
            let shown: String = text.chars().take(150).collect();
            println!("  {count:>5.2} × {ms:>6.3} ms  {shown}");
        }
    }
}

struct ProfileReport {
    availability: OpProfile,
    booking: Option<OpProfile>,
}

/// Sends a few requests one at a time with the statement profile on: how many statements a
/// request runs and how long it waits on them. Not part of the measured figures.
async fn profile(
    server: &Server,
    token: &str,
    availability_path: &str,
    bookings: &[Value],
) -> anyhow::Result<ProfileReport> {
    const REQUESTS: usize = 50;
    let url = server.url(availability_path);
    SQL_PROFILE.start();
    let started = Instant::now();
    for _ in 0..REQUESTS {
        get_slots(server, token, &url).await?;
    }
    let availability = OpProfile::of(REQUESTS, started.elapsed(), SQL_PROFILE.stop());
    availability.print("availability, one practitioner");

    let run = format!("{:08x}", fastrand::u32(..));
    let chosen: Vec<&Value> = bookings.iter().rev().take(REQUESTS).collect();
    let booking = if chosen.is_empty() {
        None
    } else {
        let url = server.url("/api/v1/appointments");
        SQL_PROFILE.start();
        let started = Instant::now();
        for (number, body) in chosen.iter().enumerate() {
            let response = server
                .client
                .post(&url)
                .bearer_auth(token)
                .header("Idempotency-Key", format!("profile-{run}-{number}"))
                .json(body)
                .send()
                .await?;
            let status = response.status();
            let text = response.text().await?;
            ensure!(status == 201, "profile booking answered {status}: {text}");
        }
        let booking = OpProfile::of(chosen.len(), started.elapsed(), SQL_PROFILE.stop());
        booking.print("booking");
        Some(booking)
    };
    Ok(ProfileReport {
        availability,
        booking,
    })
}
