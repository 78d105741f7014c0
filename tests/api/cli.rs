//! The `lumbar` binary as an operator runs it.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDatabase};

pub fn lumbar() -> Command {
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
pub fn lumbar_on(database: &TestDatabase, command: &str) -> Command {
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

/// Instances sharing a PostgreSQL database must agree on the token issuer, so `serve` there
/// needs an explicit public base URL unless it listens on loopback only.
#[test]
fn serve_on_postgres_needs_a_public_base_url_off_loopback() {
    // Nothing listens on port 1: a start that passes the check fails later, connecting.
    let database = "postgres://lumbar@127.0.0.1:1/lumbar";
    let line = refused_setting(lumbar().args([
        "serve",
        "--database-url",
        database,
        "--listen",
        "0.0.0.0:8080",
    ]));
    assert!(line.contains("LUMBAR_PUBLIC_BASE_URL"), "{line}");
    assert!(line.contains("issuer"), "says why: {line}");

    for allowed in [
        vec!["--listen", "127.0.0.1:0"],
        vec![
            "--listen",
            "0.0.0.0:0",
            "--public-base-url",
            "https://clinic.example/",
        ],
    ] {
        let output = lumbar()
            .args(["serve", "--database-url", database, "--data-dir"])
            .arg(tempfile::tempdir().unwrap().path())
            .args(allowed)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("LUMBAR_PUBLIC_BASE_URL"), "{stderr}");
        assert!(
            stderr.contains("cannot connect to the database"),
            "{stderr}"
        );
    }
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

// ---------------------------------------------------------------------------------------------
// `lumbar triage evaluate`: answers on stdin, the evaluation (or the refusal) on stdout.
// ---------------------------------------------------------------------------------------------

/// The date every `triage evaluate` test evaluates on, unless it tests the date itself.
const AS_OF: &str = "2025-06-15";

/// A complete intake that fires no rule on [`AS_OF`]: a 40-year-old woman with 5 days of low
/// back pain.
fn routine_answers() -> serde_json::Map<String, Value> {
    let as_of = chrono::NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").expect("AS_OF is a date");
    crate::intakes::routine_answers(as_of)
}

/// The routine answers with some changed.
fn answers_with(changes: &[(&str, Value)]) -> String {
    let mut answers = routine_answers();
    for (key, value) in changes {
        answers.insert((*key).to_owned(), value.clone());
    }
    Value::Object(answers).to_string()
}

/// Runs `lumbar triage evaluate <args>` with `stdin` as its standard input.
fn triage_evaluate(args: &[&str], stdin: &str) -> std::process::Output {
    triage_evaluate_with(&mut lumbar(), args, stdin)
}

fn triage_evaluate_with(command: &mut Command, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .args(["triage", "evaluate"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Expects exit status 0 and returns the evaluation printed on stdout.
fn evaluation(output: &std::process::Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is the evaluation as JSON")
}

/// Expects exit status 1 with one line on stderr, nothing on stdout, and returns the line.
fn could_not_evaluate(output: &std::process::Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn fired_rules(evaluation: &Value) -> Vec<&str> {
    evaluation["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| finding["rule_id"].as_str().expect("rule_id"))
        .collect()
}

/// The embedded rule set v2 with `from` replaced by `to`, written into `dir`.
fn rules_file(dir: &tempfile::TempDir, name: &str, from: &str, to: &str) -> std::path::PathBuf {
    let embedded = include_str!("../../src/triage/content/rules-v2.toml");
    assert!(embedded.contains(from), "rules-v2.toml contains {from:?}");
    let path = dir.path().join(name);
    std::fs::write(&path, embedded.replacen(from, to, 1)).unwrap();
    path
}

fn path_arg(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn triage_evaluate_prints_the_full_evaluation_of_routine_answers() {
    let output = triage_evaluate(&["--as-of", AS_OF], &answers_with(&[]));
    let evaluation = evaluation(&output);
    assert_eq!(evaluation["disposition"], "routine");
    assert_eq!(evaluation["findings"], json!([]));
    assert_eq!(evaluation["questionnaire_id"], "intake");
    assert_eq!(evaluation["questionnaire_version"], "2");
    assert!(
        evaluation["rule_set_version"]
            .as_str()
            .is_some_and(|version| version.starts_with("v2+sha256:")),
        "{evaluation}"
    );
    assert!(
        evaluation.get("standing_facts").is_none(),
        "an intake has none"
    );
    assert_eq!(evaluation["as_of"], AS_OF);
    assert_eq!(evaluation["facts"]["age"], 40);
    assert_eq!(evaluation["facts"]["symptom_days"], 5);
    assert_eq!(evaluation["scores"]["odi"]["percent"], 20.0);
    assert_eq!(evaluation["scores"]["start_back"]["risk"], "low");
    assert_eq!(
        evaluation["advice"]["headline"],
        "You can book an appointment"
    );
    assert!(output.stderr.is_empty(), "nothing on stderr");
}

#[test]
fn triage_evaluate_sends_saddle_numbness_to_the_emergency_department() {
    let output = triage_evaluate(
        &["--as-of", AS_OF],
        &answers_with(&[("saddle_numbness", json!(true))]),
    );
    let evaluation = evaluation(&output);
    assert_eq!(evaluation["disposition"], "emergency");
    assert_eq!(fired_rules(&evaluation), ["CES_SADDLE"]);
    let finding = &evaluation["findings"][0];
    assert_eq!(finding["disposition"], "emergency");
    assert_eq!(finding["category"], "cauda equina");
    assert!(
        finding["rationale"]
            .as_str()
            .is_some_and(|text| text.contains("cauda equina")),
        "{finding}"
    );
    assert!(
        finding["source"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    assert!(
        evaluation["advice"]["headline"]
            .as_str()
            .is_some_and(|text| text.contains("emergency department"))
    );
}

#[test]
fn triage_evaluate_refuses_invalid_answers_with_every_problem_per_link_id() {
    let mut answers = routine_answers();
    answers.insert("pain_now".into(), json!(11));
    answers.remove("saddle_numbness");
    let output = triage_evaluate(&["--as-of", AS_OF], &Value::Object(answers).to_string());
    assert_eq!(
        output.status.code(),
        Some(2),
        "refused answers exit with status 2; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let refused: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let errors = refused["errors"].as_array().expect("an errors list");
    let code_of = |field: &str| {
        errors
            .iter()
            .find(|error| error["field"] == field)
            .unwrap_or_else(|| panic!("an error for {field}: {refused}"))["code"]
            .clone()
    };
    assert_eq!(code_of("pain_now"), "out_of_range");
    assert_eq!(code_of("saddle_numbness"), "required");
    for error in errors {
        let keys: Vec<&String> = error.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "field, code and message only: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn triage_evaluate_reports_unusable_input_on_one_line() {
    for (input, expected) in [
        ("{\"pain_now\": ", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("\"saddle_numbness\"", "must be a JSON object"),
        ("", "no answers"),
    ] {
        let line = could_not_evaluate(&triage_evaluate(&["--as-of", AS_OF], input));
        assert!(line.contains(expected), "{input:?}: {line}");
    }

    let line = could_not_evaluate(&triage_evaluate(
        &["--as-of", AS_OF, "--questionnaire", "knee"],
        &answers_with(&[]),
    ));
    assert!(line.contains("no questionnaire \"knee\""), "{line}");
    assert!(line.contains("intake"), "lists the loaded ones: {line}");

    let line = could_not_evaluate(&triage_evaluate(
        &["--rules", "/nonexistent/rules.toml"],
        &answers_with(&[]),
    ));
    assert!(line.contains("/nonexistent/rules.toml"), "{line}");
}

#[test]
fn triage_evaluate_names_the_rule_a_broken_rule_file_gets_wrong() {
    let dir = tempfile::tempdir().unwrap();
    // A rule reading a question the intake does not have.
    let unknown_link_id = rules_file(
        &dir,
        "unknown-link-id.toml",
        "when = \"saddle_numbness\"",
        "when = \"saddle_numbnes\"",
    );
    let line = could_not_evaluate(&triage_evaluate(
        &["--as-of", AS_OF, "--rules", path_arg(&unknown_link_id)],
        &answers_with(&[]),
    ));
    assert!(line.contains("CES_SADDLE"), "names the rule: {line}");
    assert!(line.contains("saddle_numbnes"), "and what is wrong: {line}");
    assert!(
        line.contains(path_arg(&unknown_link_id)),
        "and the file: {line}"
    );

    // Not TOML at all: placed by line instead of drawn over several lines.
    let not_toml = dir.path().join("not-toml.toml");
    std::fs::write(&not_toml, "name = \"v2\"\nrule = [\n").unwrap();
    let line = could_not_evaluate(&triage_evaluate(
        &["--rules", path_arg(&not_toml)],
        &answers_with(&[]),
    ));
    assert!(line.contains("line 2"), "{line}");
}

#[test]
fn triage_evaluate_tries_another_rule_file() {
    let dir = tempfile::tempdir().unwrap();
    // A clinic that wants severe pain with osteoporosis flagged from NRS 6 instead of 7.
    let lowered = rules_file(
        &dir,
        "lowered.toml",
        "pain_worst_week ≥ 7",
        "pain_worst_week ≥ 6",
    );
    let answers = answers_with(&[("osteoporosis", json!(true)), ("pain_worst_week", json!(6))]);

    let embedded = evaluation(&triage_evaluate(&["--as-of", AS_OF], &answers));
    assert_eq!(embedded["disposition"], "routine");

    let tried = evaluation(&triage_evaluate(
        &["--as-of", AS_OF, "--rules", path_arg(&lowered)],
        &answers,
    ));
    assert_eq!(tried["disposition"], "urgent");
    assert_eq!(fired_rules(&tried), ["OSTEO_SEVERE_PAIN"]);
    assert_ne!(
        tried["rule_set_version"], embedded["rule_set_version"],
        "the content hash tells the rule sets apart"
    );

    // `--rules` wins over LUMBAR_RULES_FILE, which is used without it.
    let broken = rules_file(
        &dir,
        "broken.toml",
        "when = \"fever_chills\"",
        "when = \"fever\"",
    );
    let line = could_not_evaluate(&triage_evaluate_with(
        lumbar().env("LUMBAR_RULES_FILE", &broken),
        &["--as-of", AS_OF],
        &answers,
    ));
    assert!(line.contains("FEVER"), "{line}");
    let overridden = evaluation(&triage_evaluate_with(
        lumbar().env("LUMBAR_RULES_FILE", &broken),
        &["--as-of", AS_OF, "--rules", path_arg(&lowered)],
        &answers,
    ));
    assert_eq!(overridden["disposition"], "urgent");
}

#[test]
fn triage_evaluate_counts_days_and_age_to_the_as_of_date() {
    // Major trauma on 1 June: an emergency for 7 days (TRAUMA_MAJOR_ACUTE, symptom_days ≤ 7),
    // urgent from the 8th day (TRAUMA_MAJOR).
    let trauma = answers_with(&[
        ("onset_cause", json!("major_trauma")),
        ("pain_started_on", json!("2025-06-01")),
    ]);
    let day_7 = evaluation(&triage_evaluate(&["--as-of", "2025-06-08"], &trauma));
    assert_eq!(day_7["facts"]["symptom_days"], 7);
    assert_eq!(day_7["disposition"], "emergency");
    assert_eq!(fired_rules(&day_7), ["TRAUMA_MAJOR_ACUTE"]);
    let day_8 = evaluation(&triage_evaluate(&["--as-of", "2025-06-09"], &trauma));
    assert_eq!(day_8["facts"]["symptom_days"], 8);
    assert_eq!(day_8["disposition"], "urgent");
    assert_eq!(fired_rules(&day_8), ["TRAUMA_MAJOR"]);

    // A first episode reviewed from the 60th birthday (AGE_FIRST_EPISODE, age ≥ 60).
    let first_episode = answers_with(&[
        ("date_of_birth", json!("1965-06-15")),
        ("first_episode", json!(true)),
    ]);
    let age_59 = evaluation(&triage_evaluate(&["--as-of", "2025-06-14"], &first_episode));
    assert_eq!(age_59["facts"]["age"], 59);
    assert_eq!(age_59["disposition"], "routine");
    let age_60 = evaluation(&triage_evaluate(&["--as-of", "2025-06-15"], &first_episode));
    assert_eq!(age_60["facts"]["age"], 60);
    assert_eq!(age_60["disposition"], "review");
    assert_eq!(fired_rules(&age_60), ["AGE_FIRST_EPISODE"]);

    // Not a date: refused as a bad setting, naming the flag.
    let line = refused_setting(
        lumbar()
            .args(["triage", "evaluate", "--as-of", "15/06/2025"])
            .stdin(Stdio::piped()),
    );
    assert!(line.contains("--as-of"), "{line}");
    assert!(line.contains("YYYY-MM-DD"), "{line}");
}

#[test]
fn triage_evaluate_defaults_to_today_in_the_clinic_time_zone() {
    use chrono::NaiveDate;
    // A pain that started in 2020 is in the past in every time zone, on every date.
    let answers = answers_with(&[("pain_started_on", json!("2020-01-01"))]);
    let as_of_in = |zone: &str| -> NaiveDate {
        let evaluated = evaluation(&triage_evaluate_with(
            lumbar().env("LUMBAR_TIME_ZONE", zone),
            &[],
            &answers,
        ));
        evaluated["as_of"].as_str().unwrap().parse().unwrap()
    };
    // UTC+14 and UTC-11 are 25 hours apart: always on different dates, at any moment.
    let east = as_of_in("Pacific/Kiritimati");
    let west = as_of_in("Pacific/Pago_Pago");
    let gap = (east - west).num_days();
    assert!((1..=2).contains(&gap), "{east} vs {west}");
    let utc_today = chrono::Utc::now().date_naive();
    assert!((east - utc_today).num_days().abs() <= 1, "{east}");
}

#[test]
fn triage_evaluate_is_documented_in_the_help() {
    let output = lumbar()
        .args(["triage", "evaluate", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "--rules",
        "--as-of",
        "--questionnaire",
        "--standing",
        "Standard input",
        "Follow-ups",
        "Exit status",
    ] {
        assert!(help.contains(expected), "help mentions {expected}: {help}");
    }
    let output = lumbar().arg("--help").output().unwrap();
    assert!(String::from_utf8(output.stdout).unwrap().contains("triage"));
}

#[test]
fn triage_evaluate_judges_with_rule_set_v2_by_default() {
    // v2: abdominal pain at 60 is urgent, smoker or not (v1 needed smoking).
    let answers = answers_with(&[
        ("abdominal_pain", json!(true)),
        ("smoker", json!(false)),
        ("date_of_birth", json!("1965-06-15")),
    ]);
    let evaluated = evaluation(&triage_evaluate(&["--as-of", AS_OF], &answers));
    assert_eq!(evaluated["disposition"], "urgent");
    assert_eq!(fired_rules(&evaluated), ["AAA_RISK", "ABDOMINAL_PAIN"]);

    // A recent infection asks whether it was a spinal procedure; that is urgent.
    let recent = [("recent_infection_or_procedure", json!(true))];
    let output = triage_evaluate(&["--as-of", AS_OF], &answers_with(&recent));
    assert_eq!(output.status.code(), Some(2));
    let refused: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(refused["errors"][0]["field"], "recent_spinal_procedure");
    let spinal = answers_with(&[recent[0].clone(), ("recent_spinal_procedure", json!(true))]);
    let evaluated = evaluation(&triage_evaluate(&["--as-of", AS_OF], &spinal));
    assert_eq!(evaluated["disposition"], "urgent");
    assert_eq!(
        fired_rules(&evaluated),
        ["INFECTION_RECENT_SPINAL", "INFECTION_RECENT"]
    );
}

/// Follow-up answers with leg weakness reported now.
fn weak_follow_up() -> String {
    let mut answers = crate::intakes::follow_up_answers(3, false);
    answers["leg_weakness"] = json!("stable");
    answers.to_string()
}

#[test]
fn triage_evaluate_takes_a_follow_ups_standing_facts_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let standing = dir.path().join("standing.json");
    std::fs::write(
        &standing,
        json!({"date_of_birth": "1960-02-29", "cancer_history": true, "sex": "female"}).to_string(),
    )
    .unwrap();
    let follow_up = ["--as-of", "2026-02-28", "--questionnaire", "follow-up"];

    // Leg weakness now, with a cancer history from the intake: MSCC, an emergency.
    let mut args = follow_up.to_vec();
    args.extend(["--standing", path_arg(&standing)]);
    let evaluated = evaluation(&triage_evaluate(&args, &weak_follow_up()));
    assert_eq!(evaluated["questionnaire_id"], "follow-up");
    assert_eq!(evaluated["questionnaire_version"], "2");
    assert_eq!(evaluated["disposition"], "emergency");
    assert_eq!(fired_rules(&evaluated), ["MSCC"]);
    assert_eq!(
        evaluated["facts"]["age"], 65,
        "born on 29 February: 66 on 1 March"
    );
    assert_eq!(evaluated["standing_facts"]["cancer_history"], true);
    let advice = evaluated["advice"].to_string();
    assert!(!advice.contains("first visit"), "{advice}");

    // The cancer history alone does not fire again at a follow-up.
    let calm = crate::intakes::follow_up_answers(3, false).to_string();
    let evaluated = evaluation(&triage_evaluate(&args, &calm));
    assert_eq!(evaluated["disposition"], "routine");

    // Without --standing every standing fact is unknown: no MSCC, and no age.
    let evaluated = evaluation(&triage_evaluate(&follow_up, &weak_follow_up()));
    assert_eq!(evaluated["disposition"], "routine");
    assert_eq!(evaluated["facts"]["age"], Value::Null);
    assert!(evaluated.get("standing_facts").is_none());

    // A whole intake's answers will do as the standing facts.
    let intake = dir.path().join("intake.json");
    std::fs::write(&intake, answers_with(&[("cancer_history", json!(true))])).unwrap();
    let mut args = follow_up.to_vec();
    args.extend(["--standing", path_arg(&intake)]);
    let evaluated = evaluation(&triage_evaluate(&args, &weak_follow_up()));
    assert_eq!(fired_rules(&evaluated), ["MSCC"]);
}

#[test]
fn triage_evaluate_refuses_unusable_standing_facts_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        (
            file("wrong.json", r#"{"sex": "robot", "cancer_histroy": true}"#),
            vec!["sex", "robot", "cancer_histroy", "wrong.json"],
        ),
        (
            file("array.json", "[]"),
            vec!["must be a JSON object", "array.json"],
        ),
        (
            file("broken.json", "{"),
            vec!["not valid JSON", "broken.json"],
        ),
        (
            dir.path().join("missing.json"),
            vec!["cannot read", "missing.json"],
        ),
    ];
    for (path, expected) in cases {
        let line = could_not_evaluate(&triage_evaluate(
            &[
                "--questionnaire",
                "follow-up",
                "--standing",
                path_arg(&path),
            ],
            &weak_follow_up(),
        ));
        for part in expected {
            assert!(line.contains(part), "{part}: {line}");
        }
    }
    // The intake asks the standing facts itself.
    let standing = file("standing.json", r#"{"cancer_history": true}"#);
    let line = could_not_evaluate(&triage_evaluate(
        &["--standing", path_arg(&standing)],
        &answers_with(&[]),
    ));
    assert!(line.contains("--questionnaire follow-up"), "{line}");
}
