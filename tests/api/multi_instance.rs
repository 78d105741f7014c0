//! Lumbar as a deployment runs it (issue 14): three `lumbar serve` processes and separate
//! `lumbar worker` processes on one PostgreSQL database, sharing the token keys and the public
//! base URL. Whichever instance each request reaches, one slot is booked once, a token from one
//! instance is good at the others, the login throttle counts every instance's failures, and a
//! worker killed with SIGKILL in the middle of its batch costs at most its in-flight emails a
//! second delivery.
//!
//! These run the real binary, so the server's clock is the system's: waits are polls with
//! deadlines. PostgreSQL only: on SQLite the tests say so and return.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, Ipv4Addr},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, future::join_all, stream};
use mail_parser::MessageParser;
use reqwest::Method;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::time::Instant;

use crate::{
    cli::lumbar,
    helpers::{TestBackend, TestDatabase},
    smtp_sink::SmtpSink,
};

/// Every instance is told the same public base URL: it is the tokens' issuer.
const PUBLIC_BASE_URL: &str = "http://lumbar.test/";
const ADMIN_EMAIL: &str = "admin@clinic.example";
const PASSWORD: &str = "a long enough password";
const INSTANCES: usize = 3;

/// `false`, with a one-line notice, unless the tests run on PostgreSQL.
fn on_postgres(test: &str) -> bool {
    if TestBackend::from_env() == TestBackend::Postgres {
        return true;
    }
    eprintln!("multi_instance::{test} skipped: it needs PostgreSQL (LUMBAR_TEST_DB=postgres)");
    false
}

/// A `lumbar` process whose output (stdout and stderr, by line) is kept for the test to read.
/// Dropping it kills it, so a failing test leaves no process behind; when the test is failing,
/// the output is printed first.
struct Process {
    name: String,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    /// The threads reading its output; they end when it exits and its pipes close.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Process {
    fn spawn(name: &str, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        let readers = streams
            .into_iter()
            .map(|stream| {
                let output = output.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        output.lock().unwrap().push(line);
                    }
                })
            })
            .collect();
        Self {
            name: name.to_owned(),
            child,
            output,
            readers,
        }
    }

    fn lines_with(&self, needle: &str) -> Vec<String> {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(needle))
            .cloned()
            .collect()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The first line containing `needle`, once it is logged.
    async fn wait_for_line(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.lines_with(needle).into_iter().next() {
                return line;
            }
            assert!(
                self.is_running(),
                "{} exited before logging `{needle}`",
                self.name
            );
            assert!(
                Instant::now() < deadline,
                "{} did not log `{needle}` within {within:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown, no last words. Returns once everything it wrote has been read.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let output = self.output.lock().unwrap();
            let skipped = output.len().saturating_sub(300);
            eprintln!(
                "----- {} (pid {}): output{} -----",
                self.name,
                self.child.id(),
                if skipped > 0 {
                    format!(", last 300 of {} lines", output.len())
                } else {
                    String::new()
                }
            );
            for line in &output[skipped..] {
                eprintln!("{line}");
            }
        }
    }
}

/// A blocking command run off the test's runtime; fails the test, showing its output, unless it
/// succeeds.
async fn run(what: &str, mut command: Command, stdin: Option<String>) -> Output {
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
        let mut input = child.stdin.take().expect("piped stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    })
    .await
    .unwrap()
}

struct Server {
    /// `127.0.0.1:<port>`, from the instance's own log.
    address: String,
    process: Process,
}

/// Three `serve` instances on one fresh database, with the keys and base URL they share, and
/// the workers the test adds. Fields drop in order: the processes are killed before the
/// database is dropped.
struct Cluster {
    servers: Vec<Server>,
    workers: Vec<Process>,
    client: reqwest::Client,
    smtp_url: String,
    keys: TempDir,
    database: TestDatabase,
}

impl Cluster {
    /// Migrates once, makes the first admin and starts the three instances, whose own workers
    /// are off: separate `lumbar worker` processes deliver, sending to `sink`.
    async fn start(sink: &SmtpSink) -> Self {
        let database = TestDatabase::create().await;
        // One signing key for every instance, provisioned before any starts, as an operator
        // mounts one secret into each.
        let keys = tempfile::tempdir().unwrap();
        std::fs::write(
            keys.path().join("ed25519-0001.pem"),
            lumbar::auth::keys::generate_pem().unwrap(),
        )
        .unwrap();
        let mut cluster = Self {
            servers: Vec::new(),
            workers: Vec::new(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            smtp_url: sink.url(),
            keys,
            database,
        };

        run(
            "lumbar migrate",
            cluster.command("migrate", "migrate"),
            None,
        )
        .await;
        let mut add_admin = cluster.command("user", "admin");
        add_admin.args([
            "add",
            "--role",
            "admin",
            "--email",
            ADMIN_EMAIL,
            "--password-stdin",
        ]);
        run("lumbar user add", add_admin, Some(format!("{PASSWORD}\n"))).await;

        let mut starting = Vec::new();
        for n in 1..=INSTANCES {
            let name = format!("serve-{n}");
            let mut command = cluster.command("serve", &name);
            // Small pools: three instances and the workers share one PostgreSQL with the other
            // tests running beside these.
            command.args([
                "--listen",
                "127.0.0.1:0",
                "--outbox-worker",
                "false",
                "--db-max-connections",
                "4",
            ]);
            starting.push(Process::spawn(&name, command));
        }
        for mut process in starting {
            let line = process
                .wait_for_line("lumbar is listening", Duration::from_secs(30))
                .await;
            let event: Value = serde_json::from_str(&line).expect("a JSON log line");
            let address = event["address"]
                .as_str()
                .expect("the address in the log")
                .to_owned();
            cluster.servers.push(Server { address, process });
        }
        cluster
    }

    /// `lumbar <subcommand>` with this cluster's shared settings and a data directory of its
    /// own named `name`.
    fn command(&self, subcommand: &str, name: &str) -> Command {
        let mut command = lumbar();
        command
            .arg(subcommand)
            .args(["--database-url", self.database.url.expose()])
            .arg("--data-dir")
            .arg(self.database.dir.path().join(name))
            .arg("--jwt-keys-dir")
            .arg(self.keys.path())
            .args(["--public-base-url", PUBLIC_BASE_URL])
            .args(["--smtp-url", &self.smtp_url])
            .args(["--mail-from", "Riverside Clinic <bookings@clinic.example>"])
            .args(["--log-format", "json"]);
        command
    }

    /// Starts a `lumbar worker` with `settings`; returns its index in `workers` once it runs.
    async fn add_worker(&mut self, settings: &[&str]) -> usize {
        let name = format!("worker-{}", self.workers.len() + 1);
        let mut command = self.command("worker", &name);
        command
            .args(["--db-max-connections", "2", "--outbox-poll-ms", "100"])
            .args(settings);
        let mut process = Process::spawn(&name, command);
        process
            .wait_for_line("outbox worker started", Duration::from_secs(30))
            .await;
        self.workers.push(process);
        self.workers.len() - 1
    }

    fn url(&self, instance: usize, path: &str) -> String {
        format!("http://{}{path}", self.servers[instance].address)
    }

    async fn send(
        &self,
        instance: usize,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(instance, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// A request that must succeed; its JSON body (`Null` when empty).
    async fn call_ok(
        &self,
        instance: usize,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let response = self
            .send(instance, method.clone(), path, Some(token), body)
            .await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_success(),
            "{method} {path} on instance {} answered {status}: {text}",
            instance + 1
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn login(&self, instance: usize, email: &str, password: &str) -> reqwest::Response {
        self.send(
            instance,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    async fn tokens(&self, instance: usize, email: &str) -> Value {
        let response = self.login(instance, email, PASSWORD).await;
        assert_eq!(response.status(), 200, "login as {email}");
        response.json().await.unwrap()
    }

    /// A new account with `role` made by the admin; its email and id.
    async fn add_account(&self, role: &str) -> (String, String) {
        let admin = self.tokens(0, ADMIN_EMAIL).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let email = format!("{role}-{}@clinic.example", uuid::Uuid::now_v7().simple());
        let created = self
            .call_ok(
                0,
                Method::POST,
                "/api/v1/users",
                &admin,
                Some(
                    json!({"email": email, "display_name": "Sam Taylor", "role": role,
                            "password": PASSWORD}),
                ),
            )
            .await;
        (email, created["id"].as_str().unwrap().to_owned())
    }

    /// A front-desk account's access token.
    async fn staff_token(&self) -> String {
        let (email, _) = self.add_account("staff").await;
        self.tokens(0, &email).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A patient record (no login) with `email`, made through `instance`; its id.
    async fn add_patient(&self, instance: usize, staff: &str, email: &str) -> String {
        let created = self
            .call_ok(
                instance,
                Method::POST,
                "/api/v1/patients",
                staff,
                Some(json!({"given_name": "Alex", "family_name": "Morgan",
                            "date_of_birth": "1986-03-02", "email": email})),
            )
            .await;
        created["id"].as_str().unwrap().to_owned()
    }

    /// Every instance is still up: none crashed along the way.
    fn assert_servers_running(&mut self) {
        for (n, server) in self.servers.iter_mut().enumerate() {
            assert!(server.process.is_running(), "instance {} exited", n + 1);
        }
    }

    async fn db(&self) -> DatabaseConnection {
        self.database.connect().await
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .expect("a row")
        .try_get::<i64>("", "n")
        .unwrap()
}

/// The recipients of the outbox rows that match `condition`.
async fn recipients_where(db: &DatabaseConnection, condition: &str) -> HashSet<String> {
    let sql = format!("SELECT recipient FROM outbox_messages WHERE {condition}");
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "recipient").unwrap())
        .collect()
}

/// `(status, problem code)` of a response, as `"409 slot_taken"`.
async fn outcome(response: reqwest::Response) -> String {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    format!("{status} {}", body["code"].as_str().unwrap_or_default())
}

/// Polls `check` until it holds, failing with `what` at the deadline.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Emails due now that no worker has delivered yet.
const UNDELIVERED: &str = "SELECT COUNT(*) AS n FROM outbox_messages \
     WHERE status IN ('pending', 'sending') AND not_before <= now()";

/// (a) Twelve bookings of one slot for twelve patients, four through each instance at once:
/// the database settles it, so one is booked and every other is a 409 saying the slot is not
/// free, and only the winner's confirmation is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slot_booked_through_three_instances_at_once_is_booked_once() {
    if !on_postgres("one_slot_booked_through_three_instances_at_once_is_booked_once") {
        return;
    }
    let sink = SmtpSink::start().await;
    let mut cluster = Cluster::start(&sink).await;
    cluster.add_worker(&[]).await;
    cluster.add_worker(&[]).await;
    let staff = cluster.staff_token().await;

    // The clinic is set up through different instances: each reads what the others wrote.
    let location = cluster
        .call_ok(
            0,
            Method::POST,
            "/api/v1/locations",
            &staff,
            Some(json!({"name": "Riverside Clinic", "address": "1 River St", "time_zone": "UTC"})),
        )
        .await["id"]
        .clone();
    let (_, user_id) = cluster.add_account("practitioner").await;
    let practitioner = cluster
        .call_ok(
            1,
            Method::POST,
            "/api/v1/practitioners",
            &staff,
            Some(json!({"user_id": user_id, "discipline": "chiropractic",
                        "location_ids": [location]})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let every_day = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let intervals: Vec<Value> = every_day
        .iter()
        .map(|day| json!({"weekday": day, "start": "09:00", "end": "17:00"}))
        .collect();
    cluster
        .call_ok(
            2,
            Method::PUT,
            &format!("/api/v1/practitioners/{practitioner}/working-hours"),
            &staff,
            Some(json!({"locations": [{"location_id": location, "intervals": intervals}]})),
        )
        .await;
    let kind = cluster
        .call_ok(
            0,
            Method::POST,
            "/api/v1/appointment-types",
            &staff,
            Some(
                json!({"name": "Chiropractic new patient visit", "discipline": "chiropractic",
                        "duration_minutes": 45, "buffer_after_minutes": 15,
                        "new_patient": true}),
            ),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Three days ahead: past any notice, and its reminder is not due yet.
    let day = Utc::now().date_naive() + chrono::Duration::days(3);
    let start: DateTime<Utc> = format!("{day}T10:00:00Z").parse().unwrap();
    let offered = cluster
        .call_ok(
            1,
            Method::GET,
            &format!(
                "/api/v1/availability?appointment_type_id={kind}&from={day}&to={day}\
                 &practitioner_id={practitioner}"
            ),
            &staff,
            None,
        )
        .await;
    assert!(
        offered["slots"].as_array().unwrap().iter().any(|slot| {
            slot["start"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap()
                == start
        }),
        "{start} is offered before the race: {offered}"
    );

    let mut patients = Vec::new();
    for n in 0..12 {
        let email = format!("patient{n}@example.org");
        let id = cluster.add_patient(n % INSTANCES, &staff, &email).await;
        patients.push((id, email));
    }
    let bookings = patients.iter().enumerate().map(|(n, (patient, _))| {
        let request = cluster
            .client
            .post(cluster.url(n % INSTANCES, "/api/v1/appointments"))
            .bearer_auth(&staff)
            .header("Idempotency-Key", format!("race-{n}"))
            .json(
                &json!({"patient_id": patient, "practitioner_id": practitioner,
                          "location_id": location, "appointment_type_id": kind,
                          "start": start, "override_reason": "Booked by phone."}),
            );
        async move { outcome(request.send().await.unwrap()).await }
    });
    let outcomes = join_all(bookings).await;
    eprintln!("multi_instance: the twelve bookings were answered {outcomes:?}");

    let winners: Vec<usize> = (0..outcomes.len())
        .filter(|n| outcomes[*n] == "201 ")
        .collect();
    assert_eq!(winners.len(), 1, "exactly one booked: {outcomes:?}");
    // A request that read the slot as free lost at the exclusion constraint (`slot_taken`); one
    // that read it after the winner committed found it no longer offered. Both are the 409
    // "this time is not free" with the next slots; anything else (a 500) fails.
    for (n, outcome) in outcomes.iter().enumerate() {
        assert!(
            n == winners[0] || outcome == "409 slot_taken" || outcome == "409 slot_not_offered",
            "booking {n} through instance {}: {outcome}; all: {outcomes:?}",
            n % INSTANCES + 1
        );
    }
    assert!(
        outcomes.iter().any(|outcome| outcome == "409 slot_taken"),
        "some bookings raced the winner to the database and lost there: {outcomes:?}"
    );
    let db = cluster.db().await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM appointments").await,
        1
    );
    let (winner_id, winner_email) = &patients[winners[0]];
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) AS n FROM appointments WHERE patient_id = '{winner_id}'")
        )
        .await,
        1
    );

    // The losers queued nothing; the winner's confirmation goes out once.
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT COUNT(*) AS n FROM outbox_messages WHERE recipient <> '{winner_email}'"
            )
        )
        .await,
        0
    );
    eventually(
        "the confirmation is delivered",
        Duration::from_secs(20),
        || async { count(&db, UNDELIVERED).await == 0 && !sink.received().is_empty() },
    )
    .await;
    let received = sink.received();
    assert_eq!(received.len(), 1, "one confirmation");
    assert_eq!(received[0].rcpt_to, vec![winner_email.clone()]);
    cluster.assert_servers_running();
    db.close().await.unwrap();
}

/// (b) A token pair issued by instance 1 works at instances 2 and 3: the access token verifies
/// everywhere (same keys, same issuer), and spending the refresh token at one instance is seen
/// by the others, down to reuse detection revoking the login everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_one_instance_are_accepted_by_the_others() {
    if !on_postgres("tokens_from_one_instance_are_accepted_by_the_others") {
        return;
    }
    let sink = SmtpSink::start().await;
    let mut cluster = Cluster::start(&sink).await;
    let (email, user_id) = cluster.add_account("staff").await;

    let me = |instance: usize, access: Value| {
        let cluster = &cluster;
        async move {
            let response = cluster
                .send(
                    instance,
                    Method::GET,
                    "/api/v1/auth/me",
                    Some(access.as_str().unwrap()),
                    None,
                )
                .await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or_default();
            (status, body["id"].clone())
        }
    };
    let first = cluster.tokens(0, &email).await;
    for instance in 0..INSTANCES {
        assert_eq!(
            me(instance, first["access_token"].clone()).await,
            (200, json!(user_id)),
            "instance {} accepts instance 1's access token",
            instance + 1
        );
    }

    let refresh = |instance: usize, pair: &Value| {
        cluster.send(
            instance,
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": pair["refresh_token"]})),
        )
    };
    let second = refresh(1, &first).await;
    assert_eq!(
        second.status(),
        200,
        "instance 2 refreshes instance 1's login"
    );
    let second: Value = second.json().await.unwrap();
    for instance in [2, 0] {
        assert_eq!(
            me(instance, second["access_token"].clone()).await,
            (200, json!(user_id)),
            "instance {} accepts instance 2's access token",
            instance + 1
        );
    }
    // Instance 3 knows the first refresh token was spent at instance 2: presenting it again is
    // theft, which revokes the login, so instance 1 refuses the second one too.
    assert_eq!(
        outcome(refresh(2, &first).await).await,
        "401 invalid_refresh_token"
    );
    assert_eq!(
        outcome(refresh(0, &second).await).await,
        "401 invalid_refresh_token"
    );

    // They verify with one key set, which each publishes.
    let mut key_sets = Vec::new();
    for instance in 0..INSTANCES {
        let jwks: Value = cluster
            .send(instance, Method::GET, "/.well-known/jwks.json", None, None)
            .await
            .json()
            .await
            .unwrap();
        key_sets.push(jwks);
    }
    assert!(
        key_sets.iter().all(|jwks| *jwks == key_sets[0]),
        "every instance publishes the same keys: {key_sets:?}"
    );
    cluster.assert_servers_running();
}

/// (c) Twelve wrong passwords for one account at once, four through each instance, from
/// twelve addresses: the account's 3 free failures (and the fourth, checked) are counted across
/// instances, so the other eight are refused. Each instance alone saw only four guesses, which
/// a count of its own would all have let through to the password check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_throttle_counts_failures_at_every_instance() {
    if !on_postgres("the_login_throttle_counts_failures_at_every_instance") {
        return;
    }
    let sink = SmtpSink::start().await;
    let mut cluster = Cluster::start(&sink).await;
    let (email, _) = cluster.add_account("staff").await;

    // Each guess from its own loopback address, so the per-address limit (10 free) is not what
    // refuses them; each client opens its connection first, so the guesses leave together.
    let guessers: Vec<(usize, reqwest::Client)> = (0..12u8)
        .map(|n| {
            let client = reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 20 + n)))
                .build()
                .unwrap();
            (usize::from(n) % INSTANCES, client)
        })
        .collect();
    join_all(guessers.iter().map(|(instance, client)| async {
        let response = client
            .get(cluster.url(*instance, "/healthz"))
            .send()
            .await
            .unwrap();
        // Read to the end, so the connection goes back to the client's pool.
        response.bytes().await.unwrap();
    }))
    .await;
    let guesses = guessers.iter().map(|(instance, client)| {
        let request = client
            .post(cluster.url(*instance, "/api/v1/auth/login"))
            .json(&json!({"email": email, "password": "not the password"}));
        async move { (*instance, outcome(request.send().await.unwrap()).await) }
    });
    let answered = join_all(guesses).await;

    let mut outcomes: Vec<&str> = answered
        .iter()
        .map(|(_, outcome)| outcome.as_str())
        .collect();
    outcomes.sort_unstable();
    let mut expected = vec!["401 invalid_credentials"; 4];
    expected.extend(vec!["429 too_many_attempts"; 8]);
    assert_eq!(outcomes, expected, "by instance: {answered:?}");
    let refusing: HashSet<usize> = answered
        .iter()
        .filter(|(_, outcome)| outcome.starts_with("429"))
        .map(|(instance, _)| *instance)
        .collect();
    assert!(
        refusing.len() >= 2,
        "guesses are refused at more than one instance: {answered:?}"
    );

    let db = cluster.db().await;
    let failures = format!(
        "SELECT COALESCE(SUM(failures), 0)::bigint AS n FROM login_throttles \
         WHERE throttle_key = 'account:{email}'"
    );
    assert_eq!(
        count(&db, &failures).await,
        4,
        "one counter for the account"
    );

    // The fourth failure blocks the account for a second everywhere; then the right password
    // works at another instance and clears the count for all of them.
    eventually(
        "the right password is accepted once the block ends",
        Duration::from_secs(15),
        || async {
            match cluster.login(2, &email, PASSWORD).await.status().as_u16() {
                200 => true,
                429 => false,
                other => panic!("the right password answered {other}"),
            }
        },
    )
    .await;
    assert_eq!(count(&db, &failures).await, 0);
    cluster.assert_servers_running();
    db.close().await.unwrap();
}

/// (d) 200 invitations are emailed by two workers through a real SMTP server while one of them
/// is killed with SIGKILL in the middle of its batch. Each arrives, and only once, except those
/// the killed worker had in flight: sent, but with the outcome not yet recorded, they are sent
/// again (same Message-ID) by the survivor once the dead worker's lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_emails_arrive_once_though_a_worker_is_killed_mid_batch() {
    if !on_postgres("two_hundred_emails_arrive_once_though_a_worker_is_killed_mid_batch") {
        return;
    }
    const EMAILS: usize = 200;
    // Sends at once per worker: the most the killed worker can have in flight.
    const CONCURRENCY: usize = 4;
    let sink = SmtpSink::start().await;
    let mut cluster = Cluster::start(&sink).await;
    let staff = cluster.staff_token().await;

    // 200 patient records and an invitation for each, through all three instances.
    let recipients: Vec<String> = (0..EMAILS)
        .map(|n| format!("invitee{n:03}@example.org"))
        .collect();
    let invited: Vec<String> = stream::iter(recipients.iter().enumerate())
        .map(|(n, email)| {
            let (cluster, staff) = (&cluster, &staff);
            async move {
                let instance = n % INSTANCES;
                let patient = cluster.add_patient(instance, staff, email).await;
                let path = format!("/api/v1/patients/{patient}/invite");
                let invite = cluster
                    .send(instance, Method::POST, &path, Some(staff), None)
                    .await;
                outcome(invite).await
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    assert!(
        invited.iter().all(|outcome| outcome == "202 "),
        "{invited:?}"
    );
    let db = cluster.db().await;
    assert_eq!(count(&db, UNDELIVERED).await, EMAILS as i64);

    // A slow relay keeps each send in flight a while, and small batches with the shortest
    // lease (10 s) let the survivor take the dead worker's rows back soon.
    sink.delay_replies(Duration::from_millis(100));
    let concurrency = CONCURRENCY.to_string();
    let settings = [
        "--outbox-concurrency",
        concurrency.as_str(),
        "--outbox-batch-size",
        "40",
        "--outbox-lease-seconds",
        "10",
        // The worker logs each delivery at debug: how the test knows what the victim sent.
        "--log",
        "info,lumbar::notify::worker=debug",
    ];
    let victim = cluster.add_worker(&settings).await;
    let survivor = cluster.add_worker(&settings).await;

    // Killed once it has delivered some of its first batch of 40, with sends under way.
    let victim_pid = cluster.workers[victim].child.id();
    let delivered_by_victim = {
        let process = &mut cluster.workers[victim];
        let deadline = Instant::now() + Duration::from_secs(20);
        while process.lines_with("email sent").len() < 10 {
            assert!(Instant::now() < deadline, "the victim delivered 10 emails");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        process.kill();
        process.lines_with("email sent").len()
    };
    // What it had claimed and not recorded when it died: the rest of its batch, in flight or
    // not yet started. Nothing else may be sent twice.
    let unrecorded = recipients_where(
        &db,
        &format!("status = 'sending' AND lease_owner LIKE 'worker-{victim_pid}-%'"),
    )
    .await;
    assert!(
        !unrecorded.is_empty(),
        "the kill landed mid-batch: the victim still held claimed rows"
    );

    // Every email is recorded sent (the survivor takes the victim's rows after the lease):
    // from then on nothing is sending, so what the sink holds is final.
    eventually(
        "all 200 emails are recorded sent",
        Duration::from_secs(45),
        || async {
            count(
                &db,
                "SELECT COUNT(*) AS n FROM outbox_messages WHERE status = 'sent'",
            )
            .await
                == EMAILS as i64
        },
    )
    .await;
    assert!(
        cluster.workers[survivor].is_running(),
        "the survivor kept going"
    );

    let mut copies: HashMap<String, Vec<String>> = HashMap::new();
    for mail in sink.received() {
        let message_id = MessageParser::default()
            .parse(&mail.data)
            .and_then(|message| message.message_id().map(str::to_owned))
            .expect("a Message-ID");
        assert_eq!(mail.rcpt_to.len(), 1);
        copies
            .entry(mail.rcpt_to[0].clone())
            .or_default()
            .push(message_id);
    }
    let expected: HashSet<String> = recipients.into_iter().collect();
    let arrived: HashSet<String> = copies.keys().cloned().collect();
    assert_eq!(arrived, expected, "every invitation arrived, and no other");
    let twice: Vec<(&String, &Vec<String>)> =
        copies.iter().filter(|(_, ids)| ids.len() > 1).collect();
    for (recipient, ids) in &twice {
        assert_eq!(ids.len(), 2, "{recipient}: {ids:?}");
        assert_eq!(ids[0], ids[1], "a repeat keeps its Message-ID");
        assert!(
            unrecorded.contains(*recipient),
            "{recipient} was sent twice but was not in the killed worker's unrecorded batch"
        );
    }
    assert!(
        twice.len() <= CONCURRENCY,
        "at most the killed worker's in-flight sends ({CONCURRENCY}) went twice: {}",
        twice.len()
    );
    assert!(
        delivered_by_victim >= 10,
        "the killed worker had delivered {delivered_by_victim} before it died"
    );
    // Only rows the killed worker left unrecorded were claimed a second time. A few of them
    // may have been recorded after all: an update it had sent just before it died can still
    // commit in PostgreSQL after the process is gone (at most one per send in flight).
    let claimed_again = recipients_where(&db, "attempts > 1").await;
    assert!(
        claimed_again.is_subset(&unrecorded),
        "claimed again, though the killed worker had not held them: {:?}",
        claimed_again.difference(&unrecorded).collect::<Vec<_>>()
    );
    assert!(
        unrecorded.len() - claimed_again.len() <= CONCURRENCY,
        "{} of the killed worker's rows were recorded after it died",
        unrecorded.len() - claimed_again.len()
    );
    eprintln!(
        "multi_instance: the killed worker delivered {delivered_by_victim}, left {} claimed \
         unrecorded, {} of them delivered twice",
        unrecorded.len(),
        twice.len()
    );
    cluster.assert_servers_running();
    db.close().await.unwrap();
}
