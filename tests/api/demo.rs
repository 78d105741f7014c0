//! The demo clinic: `lumbar seed-demo`, and the embedded default seeding it on its first start.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, mpsc},
    time::Duration,
};

use lumbar::{Application, cli::Cli, clock::SystemClock};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    cli::{lumbar, lumbar_on},
    helpers::TestDatabase,
};

const DEMO_DOMAIN: &str = "@demo.lumbar.invalid";
const REFUSAL: &str = "the database already has users; seed-demo only fills an empty database";

#[derive(Debug, Clone)]
struct Login {
    role: String,
    name: String,
    email: String,
    password: String,
}

/// The logins in printed output: every line of the table naming a demo address.
fn parse_logins(text: &str) -> Vec<Login> {
    text.lines()
        .filter(|line| line.contains(DEMO_DOMAIN) && !line.trim_start().starts_with('{'))
        .map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            assert!(columns.len() >= 4, "a login line: {line}");
            let count = columns.len();
            Login {
                role: columns[0].to_owned(),
                name: columns[1..count - 2].join(" "),
                email: columns[count - 2].to_owned(),
                password: columns[count - 1].to_owned(),
            }
        })
        .collect()
}

fn only<'a>(logins: &'a [Login], role: &str) -> Vec<&'a Login> {
    logins.iter().filter(|login| login.role == role).collect()
}

/// Nine accounts, one per person of the demo clinic, each with its own random password.
fn assert_demo_logins(logins: &[Login]) {
    let roles: BTreeMap<&str, usize> = logins.iter().fold(BTreeMap::new(), |mut roles, login| {
        *roles.entry(login.role.as_str()).or_default() += 1;
        roles
    });
    assert_eq!(
        roles,
        BTreeMap::from([
            ("admin", 1),
            ("patient", 3),
            ("practitioner", 4),
            ("staff", 1)
        ]),
        "{logins:?}"
    );
    let mut passwords: Vec<&str> = logins.iter().map(|login| login.password.as_str()).collect();
    passwords.sort_unstable();
    passwords.dedup();
    assert_eq!(passwords.len(), logins.len(), "one password per account");
    for login in logins {
        assert!(login.email.ends_with(DEMO_DOMAIN), "{login:?}");
        assert!(login.password.chars().count() >= 10, "{login:?}");
        assert!(!login.name.is_empty(), "{login:?}");
    }
}

/// The real server on a database the test prepared, as `lumbar serve` would run it.
struct Server {
    address: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    async fn start(database: &TestDatabase) -> Self {
        let args = [
            "lumbar",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database.url.expose(),
            "--data-dir",
            database.dir.path().to_str().unwrap(),
            "--outbox-worker",
            "false",
        ];
        let cli = <Cli as clap::Parser>::try_parse_from(args).unwrap();
        let application = Application::build(cli.config, Arc::new(SystemClock))
            .await
            .unwrap();
        let address = format!("http://{}", application.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(application.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            address,
            client: reqwest::Client::new(),
            stop: Some(stop),
            running: Some(running),
        }
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.unwrap().unwrap();
        }
    }
}

/// Logs in over HTTP at `address` and returns the access token.
async fn login(address: &str, login: &Login) -> String {
    let response = reqwest::Client::new()
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"email": login.email, "password": login.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login as {}", login.email);
    let tokens: Value = response.json().await.unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn seed_demo_prints_logins_that_work_and_refuses_a_database_with_users() {
    let database = TestDatabase::create().await;
    let output = lumbar_on(&database, "seed-demo").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    let logins = parse_logins(&stdout);
    assert_demo_logins(&logins);
    assert!(stdout.contains("cargo run --release"), "{stdout}");
    assert!(stdout.contains("/docs"), "{stdout}");
    assert!(stdout.contains("demo accounts"), "{stdout}");
    for login in &logins {
        // Printed once, in the table: never in a log line.
        assert_eq!(stdout.matches(&login.password).count(), 1, "{stdout}");
        assert!(!stderr.contains(&login.password), "{stderr}");
    }

    let server = Server::start(&database).await;
    let staff = login(&server.address, only(&logins, "staff")[0]).await;
    let patient_login = only(&logins, "patient")[0];
    let patient = login(&server.address, patient_login).await;

    // The clinic as the front desk sees it.
    let locations = server.get("/api/v1/locations", &staff).await;
    let zones: BTreeMap<&str, &str> = locations
        .as_array()
        .unwrap()
        .iter()
        .map(|location| {
            (
                location["name"].as_str().unwrap(),
                location["time_zone"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        zones,
        BTreeMap::from([
            ("Harbor Street Clinic", "America/New_York"),
            ("Riverside Clinic", "Europe/London"),
        ])
    );
    let types = server.get("/api/v1/appointment-types", &staff).await;
    let types: BTreeMap<&str, (i64, bool)> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| {
            (
                kind["name"].as_str().unwrap(),
                (
                    kind["duration_minutes"].as_i64().unwrap(),
                    kind["new_patient"].as_bool().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        types,
        BTreeMap::from([
            ("Chiropractic follow-up", (30, false)),
            ("Chiropractic new patient visit", (45, true)),
            ("Physiotherapy follow-up", (45, false)),
            ("Physiotherapy initial assessment", (60, true)),
        ])
    );

    let practitioners = server.get("/api/v1/practitioners", &staff).await;
    let practitioners = practitioners.as_array().unwrap();
    let mut names: Vec<&str> = practitioners
        .iter()
        .map(|practitioner| practitioner["display_name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut printed: Vec<&str> = only(&logins, "practitioner")
        .iter()
        .map(|login| login.name.as_str())
        .collect();
    printed.sort_unstable();
    assert_eq!(
        names, printed,
        "the printed practitioners are the bookable ones"
    );
    let disciplines: Vec<&str> = practitioners
        .iter()
        .map(|practitioner| practitioner["discipline"].as_str().unwrap())
        .collect();
    assert_eq!(
        disciplines.iter().filter(|d| **d == "chiropractic").count(),
        2
    );
    assert_eq!(
        disciplines
            .iter()
            .filter(|d| **d == "physiotherapy")
            .count(),
        2
    );
    assert!(
        practitioners
            .iter()
            .any(|practitioner| practitioner["location_ids"].as_array().unwrap().len() == 2),
        "one practitioner works at both locations"
    );
    for practitioner in practitioners {
        let id = practitioner["id"].as_str().unwrap();
        // Patients read the hours too: they need them to book.
        let hours = server
            .get(
                &format!("/api/v1/practitioners/{id}/working-hours"),
                &patient,
            )
            .await;
        let intervals: Vec<&Value> = hours["locations"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|location| location["intervals"].as_array().unwrap())
            .collect();
        assert_eq!(intervals.len(), 10, "Monday to Friday, two spans a day");
        let days: std::collections::BTreeSet<&str> = intervals
            .iter()
            .map(|interval| interval["weekday"].as_str().unwrap())
            .collect();
        assert_eq!(days.len(), 5, "{hours}");
        assert!(!days.contains("saturday") && !days.contains("sunday"));
        assert!(
            intervals
                .iter()
                .any(|interval| interval["start"] == "09:00" && interval["end"] == "12:30"),
            "{hours}"
        );
    }

    // A demo patient has a verified login, a linked record and a routine intake: they can book.
    let me = server.get("/api/v1/patients/me", &patient).await;
    assert_eq!(me["email"], patient_login.email.as_str());
    assert_eq!(me["has_login"], true);
    let id = me["id"].as_str().unwrap();
    let intakes = server
        .get(&format!("/api/v1/patients/{id}/intakes"), &patient)
        .await;
    let intakes = intakes.as_array().unwrap();
    assert_eq!(intakes.len(), 1, "{intakes:?}");
    assert_eq!(intakes[0]["status"], "submitted");
    assert_eq!(intakes[0]["disposition"], "routine");
    assert_eq!(intakes[0]["advice"]["reasons"], json!([]));
    server.stop().await;

    let again = lumbar_on(&database, "seed-demo").output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert!(stderr.contains(REFUSAL), "{stderr}");
    let stdout = String::from_utf8(again.stdout).unwrap();
    assert!(parse_logins(&stdout).is_empty(), "{stdout}");
}

#[tokio::test]
async fn seed_demo_refuses_a_database_with_an_operators_account() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    lumbar::store::migrate(&db).await.unwrap();
    lumbar::store::users::create(
        &db,
        chrono::Utc::now(),
        lumbar::store::users::NewUser {
            email: "admin@clinic.example".into(),
            display_name: "Admin".into(),
            password_hash: None,
            role: entity::user::Role::Admin,
            email_verified: true,
        },
    )
    .await
    .unwrap();

    let output = lumbar_on(&database, "seed-demo").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(REFUSAL), "{stderr}");
    let users = lumbar::store::users::list(&db).await.unwrap();
    assert_eq!(users.len(), 1, "nothing was added");
    let locations = lumbar::store::clinic::locations(&db).await.unwrap();
    assert!(locations.is_empty(), "nothing was added");
    db.close().await.unwrap();
}

/// `lumbar serve` (on the embedded default, which is SQLite whatever `LUMBAR_TEST_DB` says),
/// run until it logs its address. Returns the process, the address and what it printed outside
/// the JSON log before that.
fn serve_embedded(data_dir: &std::path::Path) -> (Child, String, Vec<String>, Vec<Value>) {
    let mut child = lumbar()
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--outbox-worker", "false"])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let mut events = Vec::new();
    let address = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server logs its address");
        match serde_json::from_str::<Value>(&line) {
            Ok(event) => {
                let address = event["address"].as_str().map(str::to_owned);
                events.push(event);
                if let Some(address) = address {
                    break address;
                }
            }
            Err(_) => printed.push(line),
        }
    };
    (child, format!("http://{address}"), printed, events)
}

async fn terminate(child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = child;
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "lumbar exits 0 on SIGTERM, got {exit}");
}

#[tokio::test]
async fn the_embedded_default_seeds_the_demo_on_the_start_that_creates_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    let (first, address, printed, events) = serve_embedded(&data_dir);
    let printed = printed.join("\n");
    let logins = parse_logins(&printed);
    assert_demo_logins(&logins);
    assert!(printed.contains("demo accounts"), "{printed}");
    assert!(
        printed.contains(&format!("{address}/docs")),
        "the real address: {printed}"
    );
    let log = events
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for login in &logins {
        assert!(!log.contains(&login.password), "no password in the log");
    }
    let admin = only(&logins, "admin")[0].clone();
    login(&address, &admin).await;
    terminate(first).await;

    // The file exists now: a restart serves the same clinic and prints no logins.
    let (second, address, printed, _) = serve_embedded(&data_dir);
    assert!(parse_logins(&printed.join("\n")).is_empty(), "{printed:?}");
    login(&address, &admin).await;
    terminate(second).await;
}
