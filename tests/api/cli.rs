//! The `lumbar` binary as an operator runs it.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use serde_json::Value;

use crate::helpers::{TestApp, TestDatabase};

fn lumbar() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lumbar"));
    // Settings come from the arguments each test passes, not from the developer's shell.
    for (name, _) in std::env::vars() {
        if name.starts_with("LUMBAR_") || name == "DATABASE_URL" || name == "SMTP_URL" {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null());
    command
}

/// `lumbar <command>` on a test database, with a data directory beside it.
fn lumbar_on(database: &TestDatabase, command: &str) -> Command {
    let mut lumbar = lumbar();
    lumbar
        .args([command, "--database-url", database.url.expose()])
        .arg("--data-dir")
        .arg(database.dir.path());
    lumbar
}

#[tokio::test]
async fn openapi_prints_the_spec_the_server_serves() {
    let output = lumbar().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("stdout is the JSON spec");

    let app = TestApp::spawn().await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(printed, served);
}

/// Runs `command`, expects it to refuse its settings, and returns the one line it printed.
fn refused_setting(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a bad setting exits with status 2"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn a_bad_setting_stops_startup_with_one_line_naming_it() {
    let line = refused_setting(lumbar().args(["serve", "--listen", "everywhere"]));
    assert!(line.contains("LUMBAR_LISTEN (--listen)"), "{line}");

    let line = refused_setting(lumbar().env("LUMBAR_TIME_ZONE", "Mars/Olympus_Mons"));
    assert!(line.contains("LUMBAR_TIME_ZONE"), "{line}");

    let line =
        refused_setting(lumbar().env("DATABASE_URL", "mysql://root:hunter2@localhost/lumbar"));
    assert!(line.contains("DATABASE_URL"), "{line}");
    assert!(!line.contains("hunter2"), "secrets are not echoed: {line}");
}

#[test]
fn help_describes_every_command() {
    let output = lumbar().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "serve",
        "migrate",
        "openapi",
        "LUMBAR_LISTEN",
        "DATABASE_URL",
        "SMTP_URL",
    ] {
        assert!(help.contains(expected), "--help mentions {expected}");
    }
}

#[tokio::test]
async fn migrate_applies_the_schema_and_exits() {
    let database = TestDatabase::create().await;
    let output = lumbar_on(&database, "migrate").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let db = database.connect().await;
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn serve_prints_its_address_and_stops_cleanly_on_sigterm() {
    let database = TestDatabase::create().await;
    let mut child = lumbar()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--database-url",
            database.url.expose(),
        ])
        .arg("--data-dir")
        .arg(database.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // The log announces the address; the rest of the log is kept to check the shutdown lines.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                let _ = lines_tx.send(event);
            }
        }
    });
    let address = loop {
        let event = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        if let Some(address) = event["address"].as_str() {
            break address.to_owned();
        }
    };

    let health = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "lumbar exits 0 on SIGTERM, got {exit}");

    let messages: Vec<String> = lines_rx
        .try_iter()
        .filter_map(|event| event["message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("shutdown signal received")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m == "lumbar stopped"),
        "{messages:?}"
    );
}

#[tokio::test]
async fn worker_refuses_a_database_that_is_not_migrated() {
    let database = TestDatabase::create().await;
    let output = lumbar_on(&database, "worker").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run `lumbar migrate` first"), "{stderr}");
}

#[tokio::test]
async fn worker_delivers_queued_email_and_stops_cleanly_on_sigterm() {
    use lumbar::{
        notify::content::{EmailContent, MessageKind},
        store::outbox::{NewMessage, Outbox},
    };

    let sink = crate::smtp_sink::SmtpSink::start().await;
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    lumbar::store::migrate(&db).await.unwrap();
    let now = chrono::Utc::now();
    Outbox::new("clinic.example")
        .enqueue(
            &db,
            now,
            NewMessage {
                recipient: "alex@example.org".into(),
                content: EmailContent::sample(MessageKind::ReviewNeeded),
                calendar: None,
                not_before: now,
                deadline: None,
                dedupe_key: None,
            },
        )
        .await
        .unwrap();

    let mut child = lumbar_on(&database, "worker")
        .args(["--smtp-url", &sink.url()])
        .args(["--outbox-poll-ms", "20"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let received = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(
        received.len(),
        1,
        "the worker process delivered the queued email"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        exit.success(),
        "lumbar worker exits 0 on SIGTERM, got {exit}"
    );
    db.close().await.unwrap();
}

fn add_user_with_password(
    database: &TestDatabase,
    email: &str,
    password: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = lumbar_on(database, "user")
        .args([
            "add",
            "--role",
            "admin",
            "--email",
            email,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn user_add_creates_an_account_that_can_log_in() {
    let database = TestDatabase::create().await;
    let created = add_user_with_password(
        &database,
        "Admin@Clinic.example",
        "correct horse battery staple",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8_lossy(&created.stdout);
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("created admin account ")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("correct horse"),
        "the password is never printed"
    );

    let again = add_user_with_password(&database, "admin@clinic.example", "another long password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    let weak = add_user_with_password(&database, "staff@clinic.example", "short");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 10 characters"));

    let db = database.connect().await;
    let user = lumbar::store::users::find_by_email(&db, "admin@clinic.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, entity::user::Role::Admin);
    let stored = user.password_hash.unwrap();
    assert!(
        lumbar::auth::password::verify("correct horse battery staple".into(), stored)
            .await
            .unwrap()
    );
    db.close().await.unwrap();
}
