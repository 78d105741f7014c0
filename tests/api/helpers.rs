//! `TestApp`: the real server on port 0 with a fresh database and a clock the test controls.
//!
//! `LUMBAR_TEST_DB=postgres` gives each test a new, randomly named database on the server at
//! `LUMBAR_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped
//! when the test ends; otherwise each test gets a SQLite file in a temporary directory.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use chrono::{DateTime, Utc};
use lumbar::{Application, cli::Cli, clock::ManualClock, config::DatabaseUrl};
use poem_openapi::OpenApi;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The instant every test starts at, unless it moves the clock.
pub fn test_epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .unwrap()
        .to_utc()
}

/// The date of birth on [`TestApp::add_patient`]'s records: 40 years before [`test_epoch`], the
/// date `intakes::routine_answers` gives for that day (an intake must match the record).
pub const PATIENT_DATE_OF_BIRTH: &str = "1986-03-02";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

impl TestBackend {
    pub fn from_env() -> Self {
        match std::env::var("LUMBAR_TEST_DB").as_deref() {
            Ok("postgres") => Self::Postgres,
            Ok("sqlite") | Ok("") | Err(_) => Self::Sqlite,
            Ok(other) => panic!("LUMBAR_TEST_DB must be `sqlite` or `postgres`, not `{other}`"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A database that exists for one test only.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    /// Holds the SQLite file (and a data dir) until the test ends.
    pub dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let backend = TestBackend::from_env();
        match backend {
            TestBackend::Sqlite => Self {
                url: DatabaseUrl::sqlite_file(&dir.path().join("lumbar-test.db")),
                dir,
                postgres: None,
            },
            TestBackend::Postgres => {
                let admin_url = std::env::var("LUMBAR_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
                let name = format!("lumbar_test_{}", uuid::Uuid::now_v7().simple());
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|err| {
                    panic!(
                        "LUMBAR_TEST_DB=postgres but the server at {admin_url} is not reachable \
                         ({err}); start PostgreSQL or set LUMBAR_TEST_POSTGRES_URL"
                    )
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create the test database");
                admin.close().await.ok();
                let mut url =
                    url::Url::parse(&admin_url).expect("LUMBAR_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                Self {
                    url: DatabaseUrl::parse(url.as_str()).expect("a valid test database URL"),
                    dir,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.url.expose())
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread
        // with its own runtime drops the database, ending the server's remaining connections.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                admin.close().await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database: {dropped:?}");
        }
    }
}

/// Builds a `TestApp` with optional settings and probe endpoints.
pub struct TestAppBuilder {
    args: Vec<String>,
    embedded_worker: bool,
}

impl TestAppBuilder {
    /// Adds command-line settings, exactly as an operator would pass them.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs the delivery worker inside the server, as production does. Off by default: tests
    /// drive delivery one pass at a time with `TestApp::worker`.
    pub fn embedded_worker(mut self) -> Self {
        self.embedded_worker = true;
        self
    }

    pub async fn spawn(self) -> TestApp {
        self.spawn_with(lumbar::app::NoExtraApi).await
    }

    /// Mounts `extra` operations in the real server, behind the real middleware.
    pub async fn spawn_with<A: OpenApi + 'static>(self, extra: A) -> TestApp {
        let database = TestDatabase::create().await;
        let data_dir = database.dir.path().join("data");
        let mut args = vec![
            "lumbar".to_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            path_arg(&data_dir),
            "--database-url".into(),
            database.url.expose().to_owned(),
            "--outbox-worker".into(),
            self.embedded_worker.to_string(),
        ];
        args.extend(self.args);
        let cli = <Cli as clap::Parser>::try_parse_from(&args).expect("valid test settings");

        let clock = ManualClock::new(test_epoch());
        let application = Application::build_with(cli.config, Arc::new(clock.clone()), extra)
            .await
            .expect("the application starts");
        let address = format!("http://{}", application.local_addr());
        let db = application.db().clone();
        let state = application.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until(async {
            let _ = stopped.await;
        }));

        TestApp {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("build the HTTP client"),
            clock,
            db,
            state,
            data_dir,
            stop: Some(stop),
            server: Some(server),
            // With the worker in the server, what is due may be mid-delivery when the test ends.
            unsent_mail_expected: AtomicBool::new(self.embedded_worker),
            dead_letters_expected: AtomicBool::new(false),
            _database: database,
        }
    }
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("temporary paths are UTF-8").to_owned()
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    /// The server's own pool.
    pub db: DatabaseConnection,
    /// The server's shared state: its outbox, settings and mailer.
    pub state: lumbar::AppState,
    /// `--data-dir` of the server (the `.eml` directory is `mail/` inside it).
    pub data_dir: std::path::PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// When the test ends, emails that are due but unsent, and dead letters, fail it unless the
    /// test said it expects them (see [`TestApp::expect_unsent_mail`]).
    unsent_mail_expected: AtomicBool,
    dead_letters_expected: AtomicBool,
    /// Kept until the test ends (declared last, so dropped after the server handle).
    _database: TestDatabase,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            args: Vec::new(),
            embedded_worker: false,
        }
    }

    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// On PostgreSQL: the name of this test's database.
    pub fn database_name(&self) -> Option<String> {
        self._database
            .postgres
            .as_ref()
            .map(|(_, name)| name.clone())
    }

    /// On PostgreSQL: the server's administrative URL, to do to the test's database what an
    /// operator could (cut it off, end its connections).
    pub fn postgres_admin_url(&self) -> Option<String> {
        self._database.postgres.as_ref().map(|(url, _)| url.clone())
    }

    /// A delivery worker on the server's database and clock; `run_once` is one pass.
    pub fn worker(&self) -> lumbar::notify::Worker {
        self.state.worker()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST request")
    }

    /// Stops the server as SIGTERM would, and waits for it to finish.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }
}

impl TestApp {
    /// This test leaves emails that are due but not delivered, on purpose (it checks what was
    /// queued, not what was sent). Without this, a test that ends with such an email fails: a
    /// use case that queues mail nobody expected is a bug the test should show.
    pub fn expect_unsent_mail(&self) {
        self.unsent_mail_expected.store(true, Ordering::Relaxed);
    }

    /// This test ends with dead letters on purpose (it tests delivery failures).
    pub fn expect_dead_letters(&self) {
        self.dead_letters_expected.store(true, Ordering::Relaxed);
    }

    /// The outbox's leftovers as the test ends: due but unsent emails (unless expected) and
    /// dead letters (unless expected), each as `kind to recipient`.
    fn outbox_leftovers(&self) -> Vec<String> {
        use entity::outbox_message::{Column, Entity, OutboxStatus};
        use lumbar::clock::Clock;
        use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

        let unsent = !self.unsent_mail_expected.load(Ordering::Relaxed);
        let dead = !self.dead_letters_expected.load(Ordering::Relaxed);
        if !unsent && !dead {
            return Vec::new();
        }
        let mut wanted = Condition::any();
        if unsent {
            wanted = wanted.add(
                Condition::all()
                    .add(Column::Status.is_in([OutboxStatus::Pending, OutboxStatus::Sending]))
                    .add(Column::NotBefore.lte(self.clock.now())),
            );
        }
        if dead {
            wanted = wanted.add(Column::Status.eq(OutboxStatus::Dead));
        }
        let url = self._database.url.expose().to_owned();
        // Drop runs inside the test's runtime, which cannot be blocked on: read from a thread
        // with a runtime and a connection of its own.
        let found = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let db = Database::connect(&url).await?;
                let rows = Entity::find().filter(wanted).all(&db).await?;
                db.close().await?;
                Ok::<_, anyhow::Error>(rows)
            })
        })
        .join();
        match found {
            Ok(Ok(rows)) => rows
                .into_iter()
                .map(|row| format!("{} to {} ({:?})", row.kind, row.recipient, row.status))
                .collect(),
            other => vec![format!("the outbox could not be read: {other:?}")],
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if std::thread::panicking() {
            return;
        }
        let leftovers = self.outbox_leftovers();
        assert!(
            leftovers.is_empty(),
            "the test ended with emails that were due but not delivered, or dead letters: \
             {leftovers:?}. Deliver them (`app.worker().run_once()`), or say the test expects \
             them (`app.expect_unsent_mail()`, `app.expect_dead_letters()`)."
        );
    }
}

/// A problem+json response, checked for the shape every error must have.
pub struct ProblemResponse {
    pub body: Value,
}

impl ProblemResponse {
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }
}

/// A response header as text; empty when absent.
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts the RFC 9457 shape and returns the parts tests look at.
pub async fn expect_problem(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> ProblemResponse {
    let actual_status = response.status().as_u16();
    let content_type = header(&response, "content-type");
    let request_id = header(&response, "x-request-id");
    let text = response.text().await.expect("read the body");
    assert_eq!(actual_status, status, "unexpected status; body: {text}");
    assert_eq!(content_type, "application/problem+json", "body: {text}");
    let body: Value = serde_json::from_str(&text).expect("the problem body is JSON");
    assert_eq!(body["code"], code, "body: {text}");
    assert_eq!(body["status"], status, "body: {text}");
    assert_eq!(
        body["type"],
        format!("urn:lumbar:problem:{code}"),
        "body: {text}"
    );
    assert!(
        body["title"]
            .as_str()
            .is_some_and(|title| !title.is_empty()),
        "body: {text}"
    );
    assert!(
        !request_id.is_empty(),
        "every response carries x-request-id"
    );
    assert_eq!(body["request_id"], request_id.as_str(), "body: {text}");
    ProblemResponse { body }
}

/// The password of every account `TestApp::add_user` makes.
pub const TEST_PASSWORD: &str = "a long enough password";

impl TestApp {
    /// Creates an account directly in the database.
    pub async fn add_user(&self, email: &str, role: entity::user::Role) -> uuid::Uuid {
        use lumbar::{clock::Clock, store::users};
        let hash = lumbar::auth::password::hash(TEST_PASSWORD.into())
            .await
            .unwrap();
        users::create(
            &self.db,
            self.clock.now(),
            users::NewUser {
                email: email.into(),
                display_name: "Sam Taylor".into(),
                password_hash: Some(hash),
                role,
                email_verified: true,
            },
        )
        .await
        .unwrap()
        .id
    }

    /// Logs in over HTTP and returns the token pair.
    pub async fn login(&self, email: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": TEST_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login as {email}");
        response.json().await.unwrap()
    }

    /// A new account with `role`, logged in: its access token.
    pub async fn access_token(&self, role: entity::user::Role) -> String {
        let email = format!("{}@clinic.example", uuid::Uuid::now_v7().simple());
        self.add_user(&email, role).await;
        self.login(&email).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A patient who can log in: an account and its linked record. Returns (user id, patient id).
    pub async fn add_patient(&self, email: &str) -> (uuid::Uuid, uuid::Uuid) {
        use lumbar::{clock::Clock, store::patients};
        let user_id = self.add_user(email, entity::user::Role::Patient).await;
        let record = patients::create(
            &self.db,
            self.clock.now(),
            patients::NewPatient {
                user_id: Some(user_id),
                given_name: "Alex".into(),
                family_name: "Morgan".into(),
                date_of_birth: PATIENT_DATE_OF_BIRTH.parse().unwrap(),
                email: Some(email.into()),
                phone: None,
                created_by: None,
            },
        )
        .await
        .unwrap();
        (user_id, record.id)
    }

    /// Sends an authorised JSON request and returns the response.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

/// A test app whose emails go to `sink` over real SMTP.
pub async fn app_with_sink(sink: &crate::smtp_sink::SmtpSink, extra: &[&str]) -> TestApp {
    TestApp::builder()
        .args([
            "--smtp-url",
            &sink.url(),
            "--mail-from",
            "Riverside Clinic <bookings@clinic.example>",
        ])
        .args(extra.iter().copied())
        .spawn()
        .await
}
