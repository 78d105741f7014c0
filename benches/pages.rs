//! Page benchmark (issues 15 and 16): the real server on the embedded default (SQLite in a
//! temporary data dir), a signed-in patient, and the server time of each patient page measured
//! over HTTP on loopback, plus what the intake's pages weigh; then the front desk's day at a
//! location with 25 practitioners, 8 appointments each.
//!
//!     cargo bench --bench pages
//!
//! Settings (environment): `LUMBAR_BENCH_REQUESTS` (default 200) sequential requests per page.
//! Prints p50 / p95 / max per page, the bytes of each page, and the verdict against the targets
//! (server time under 20 ms p95 per page; an intake page with its stylesheet and script under
//! 100 KB; the desk's day under 50 ms p95). A benchmark prints figures; it asserts nothing
//! about time.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use anyhow::{Context, anyhow, ensure};
use clap::Parser;
use entity::user::Role;
use lumbar::{
    Application,
    cli::Cli,
    clock::{Clock, SystemClock},
    store::{patients, users},
};
use reqwest::{header, redirect::Policy};
use tokio::sync::oneshot;

const EMAIL: &str = "patient@bench.example";
const PASSWORD: &str = "a long bench password";
const BUDGET_MS: f64 = 20.0;
const DESK_EMAIL: &str = "desk@bench.example";
const DESK_BUDGET_MS: f64 = 50.0;
const DESK_PRACTITIONERS: usize = 25;
const DESK_VISITS_EACH: usize = 8;
const INTAKE_BUDGET_BYTES: usize = 100 * 1024;

/// A browser without JavaScript: its cookies and the form token of the last page it read.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    csrf: Option<String>,
}

struct Fetched {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> anyhow::Result<Fetched> {
        let cookie = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request.header(header::COOKIE, cookie).send().await?;
        for set in response.headers().get_all(header::SET_COOKIE) {
            let pair = set.to_str()?.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.insert(name.into(), value.into());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await?;
        let marker = "name=\"csrf_token\" value=\"";
        if let Some(start) = body.find(marker).map(|at| at + marker.len())
            && let Some(end) = body[start..].find('"')
        {
            self.csrf = Some(body[start..start + end].replace("&#x2f;", "/"));
        }
        Ok(Fetched {
            status,
            location,
            body,
        })
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<Fetched> {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Fetched> {
        let token = self.csrf.clone().context("no form token yet")?;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }
}

/// Times `requests` sequential loads of `path` (after one that must render): p50, p95, max in
/// milliseconds, and the page's bytes.
async fn measure(
    browser: &mut Browser,
    path: &str,
    requests: usize,
) -> anyhow::Result<(f64, f64, f64, usize)> {
    let first = browser.get(path).await?;
    ensure!(first.status == 200, "{path} answered {}", first.status);
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let page = browser.get(path).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        ensure!(page.status == 200, "{path} answered {}", page.status);
    }
    times.sort_by(f64::total_cmp);
    Ok((
        percentile(&times, 50.0),
        percentile(&times, 95.0),
        times.last().copied().unwrap_or_default(),
        first.body.len(),
    ))
}

/// A location with [`DESK_PRACTITIONERS`] practitioners, each with [`DESK_VISITS_EACH`]
/// appointments tomorrow, and a front-desk account; returns the day's page.
async fn seed_desk_day(
    db: &sea_orm::DatabaseConnection,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    use entity::practitioner::Discipline;
    use lumbar::store::{appointments, clinic, practitioners};
    use sea_orm::EntityTrait;

    let hash = lumbar::auth::password::hash(PASSWORD.into()).await?;
    let desk = users::create(
        db,
        now,
        users::NewUser {
            email: DESK_EMAIL.into(),
            display_name: "Bench Desk".into(),
            password_hash: Some(hash),
            role: Role::Staff,
            email_verified: true,
        },
    )
    .await?;
    let location = clinic::create_location(
        db,
        now,
        "Bench Clinic".into(),
        "1 Bench Street".into(),
        "Europe/London".into(),
    )
    .await?;
    let kind = clinic::create_appointment_type(
        db,
        now,
        clinic::NewAppointmentType {
            name: "Chiropractic follow-up".into(),
            discipline: Discipline::Chiropractic,
            duration_minutes: 30,
            buffer_after_minutes: 0,
            new_patient: false,
            active: true,
        },
    )
    .await?;
    let date = now.date_naive() + chrono::Duration::days(1);
    let nine = date.and_hms_opt(9, 0, 0).context("nine o'clock")?.and_utc();
    for index in 0..DESK_PRACTITIONERS {
        let account = users::create(
            db,
            now,
            users::NewUser {
                email: format!("practitioner{index}@bench.example"),
                display_name: format!("Practitioner {index:02}"),
                password_hash: None,
                role: Role::Practitioner,
                email_verified: true,
            },
        )
        .await?;
        let practitioner = practitioners::create(
            db,
            now,
            account.id,
            format!("Practitioner {index:02}"),
            Discipline::Chiropractic,
            &[location.id],
        )
        .await?;
        for visit in 0..DESK_VISITS_EACH {
            let patient = patients::create(
                db,
                now,
                patients::NewPatient {
                    user_id: None,
                    given_name: format!("Patient{visit}"),
                    family_name: format!("Of{index:02}"),
                    date_of_birth: "1975-01-01".parse()?,
                    email: None,
                    phone: None,
                    created_by: Some(desk.id),
                },
            )
            .await?;
            let starts_at = nine + chrono::Duration::minutes(45 * visit as i64);
            let ends_at = starts_at + chrono::Duration::minutes(30);
            let row = appointments::new_row(
                now,
                appointments::NewAppointment {
                    patient_id: patient.id,
                    practitioner_id: practitioner.id,
                    location_id: location.id,
                    appointment_type_id: kind.id,
                    starts_at,
                    ends_at,
                    blocked_until: ends_at,
                    override_reason: None,
                    created_by: desk.id,
                },
            );
            entity::appointment::Entity::insert(entity::appointment::ActiveModel::from(row))
                .exec(db)
                .await?;
        }
    }
    Ok(format!("/desk?date={date}&location={}", location.id))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests: usize = std::env::var("LUMBAR_BENCH_REQUESTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let data_dir = tempfile::tempdir()?;
    let cli = Cli::try_parse_from([
        "lumbar",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.path().to_str().context("a UTF-8 temp dir")?,
        "--outbox-worker",
        "false",
        "--log",
        "warn",
    ])
    .map_err(|err| anyhow!("bench settings refused: {err}"))?;
    let application = Application::build(cli.config, Arc::new(SystemClock))
        .await
        .context("the server did not start")?;
    let base = format!("http://{}", application.local_addr());
    let db = application.db().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));

    let now = SystemClock.now();
    let hash = lumbar::auth::password::hash(PASSWORD.into()).await?;
    let user = users::create(
        &db,
        now,
        users::NewUser {
            email: EMAIL.into(),
            display_name: "Bench Patient".into(),
            password_hash: Some(hash),
            role: Role::Patient,
            email_verified: true,
        },
    )
    .await?;
    patients::create(
        &db,
        now,
        patients::NewPatient {
            user_id: Some(user.id),
            given_name: "Bench".into(),
            family_name: "Patient".into(),
            date_of_birth: "1980-05-17".parse()?,
            email: Some(EMAIL.into()),
            phone: None,
            created_by: None,
        },
    )
    .await?;

    let mut browser = Browser {
        base,
        client: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()?,
        cookies: BTreeMap::new(),
        csrf: None,
    };
    browser.get("/login").await?;
    let login = browser
        .submit("/login", &[("email", EMAIL), ("password", PASSWORD)])
        .await?;
    ensure!(login.status == 303, "login answered {}", login.status);
    browser.get("/intake").await?;
    let started = browser.submit("/intake", &[]).await?;
    let first = started.location.context("starting the intake redirects")?;
    let intake = first
        .rsplit_once("/section/")
        .map(|(intake, _)| intake.to_owned())
        .context("a section path")?;
    let sections = [
        "about_you",
        "your_pain",
        "safety",
        "inflammatory",
        "start_back",
        "oswestry",
        "anything_else",
        "consent",
    ];
    let mut pages: Vec<(String, String)> = vec![
        ("start page".into(), "/".into()),
        ("my details".into(), "/account".into()),
        ("intake start".into(), "/intake".into()),
        ("send page".into(), format!("{intake}/send")),
    ];
    for section in sections {
        pages.push((
            format!("intake: {section}"),
            format!("{intake}/section/{section}"),
        ));
    }
    let css = browser.get("/assets/lumbar.css").await?.body.len();
    let js = browser.get("/assets/lumbar.js").await?.body.len();

    println!(
        "page server time over loopback, {requests} sequential requests each (release build, \
         embedded SQLite)"
    );
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p95 ms", "max ms", "bytes"
    );
    let mut worst_p95: f64 = 0.0;
    let mut heaviest_intake = 0;
    for (name, path) in &pages {
        let (p50, p95, max, bytes) = measure(&mut browser, path, requests).await?;
        worst_p95 = worst_p95.max(p95);
        if name.starts_with("intake") {
            heaviest_intake = heaviest_intake.max(bytes);
        }
        println!("{name:<22} {p50:>9.2} {p95:>9.2} {max:>9.2} {bytes:>9}");
    }
    let intake_total = heaviest_intake + css + js;
    println!("stylesheet {css} bytes, script {js} bytes");
    println!(
        "verdict: worst page p95 {worst_p95:.2} ms (target < {BUDGET_MS} ms): {}; heaviest intake \
         page with its stylesheet and script {intake_total} bytes (target < {INTAKE_BUDGET_BYTES}): {}",
        if worst_p95 < BUDGET_MS {
            "met"
        } else {
            "NOT met"
        },
        if intake_total < INTAKE_BUDGET_BYTES {
            "met"
        } else {
            "NOT met"
        },
    );

    // The front desk's day at a busy location.
    let desk_path = seed_desk_day(&db, now).await?;
    let mut desk = Browser {
        base: browser.base.clone(),
        client: browser.client.clone(),
        cookies: BTreeMap::new(),
        csrf: None,
    };
    desk.get("/login").await?;
    let login = desk
        .submit("/login", &[("email", DESK_EMAIL), ("password", PASSWORD)])
        .await?;
    ensure!(
        login.status == 303,
        "the desk's login answered {}",
        login.status
    );
    let (p50, p95, max, bytes) = measure(&mut desk, &desk_path, requests).await?;
    println!(
        "desk day, {DESK_PRACTITIONERS} practitioners x {DESK_VISITS_EACH} visits: p50 {p50:.2} ms, \
         p95 {p95:.2} ms, max {max:.2} ms, {bytes} bytes; target p95 < {DESK_BUDGET_MS} ms: {}",
        if p95 < DESK_BUDGET_MS {
            "met"
        } else {
            "NOT met"
        }
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}
