//! Wiring: builds the state, the routes and the middleware, and runs the server. `Application`
//! binds before it runs, so it knows its real port and tests can listen on port 0.

use std::{collections::HashMap, future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use poem::{
    Endpoint, EndpointExt, Request, Response, Route, Server,
    endpoint::BoxEndpoint,
    http::Method,
    listener::{Acceptor, TcpAcceptor},
    middleware::Cors,
};
use poem_openapi::{
    OpenApi, OpenApiService,
    registry::{MetaApi, Registry},
};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::{
    api::{
        admin::AdminOutboxApi, appointments::APPOINTMENTS_API, audit::AdminAuditApi, auth::AuthApi,
        clinic::ClinicApi, follow_ups::FollowUpsApi, intakes::IntakesApi, ops::OpsApi,
        patients::PatientsApi, practitioners::PractitionersApi, triage::TriageApi,
        types::close_request_schemas, users::UsersApi,
    },
    auth::{keys::KeyRing, password::Hasher, tokens::TokenService},
    body_check::BodySchemas,
    clinical,
    clock::SharedClock,
    config::{Backend, Config},
    middleware::{ProblemErrors, RequestEdge, RouteMethods},
    notify::{Mailer, Worker, WorkerSettings},
    store::{self, outbox::Outbox},
    triage::Triage,
    web::{self, Pages},
};

/// What every handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub clock: SharedClock,
    pub config: Arc<Config>,
    /// Enqueues emails inside the caller's transaction.
    pub outbox: Outbox,
    pub mailer: Arc<Mailer>,
    /// Issues and verifies access tokens.
    pub tokens: Arc<TokenService>,
    /// Questionnaires, scoring and the red-flag rule set.
    pub triage: Arc<Triage>,
    /// Bounds password hashing (memory and queueing) across all requests.
    pub hasher: Arc<Hasher>,
    /// The pages' templates and form key.
    pub pages: Arc<Pages>,
}

impl AppState {
    /// Today's date where the clinic is.
    pub fn local_today(&self) -> chrono::NaiveDate {
        self.clock
            .now()
            .with_timezone(&self.config.time_zone)
            .date_naive()
    }

    /// An instant on the clinic's clock, as staff pages show it: "Mon 2 Mar 2026, 09:15 GMT".
    pub fn local_time(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        at.with_timezone(&self.config.time_zone)
            .format("%a %-d %b %Y, %H:%M %Z")
            .to_string()
    }

    /// A page of the clinic's front end: `<public base URL>/<path>`.
    pub fn page_url(&self, path: &str) -> String {
        let mut url = self.config.public_base_url();
        let joined = format!("{}/{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url.into()
    }

    /// A link for an email: `<public base URL><page>?token=<secret>`.
    pub fn link(&self, page: &str, token: &str) -> String {
        let mut url = self.config.public_base_url();
        // `https://clinic.example/portal` and `…/portal/` both lead to `…/portal/<page>`.
        let path = format!("{}/{page}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut().append_pair("token", token);
        url.into()
    }

    /// A new delivery worker over this state's database, mailer and clock.
    pub fn worker(&self) -> Worker {
        Worker::new(
            self.db.clone(),
            self.mailer.clone(),
            self.clock.clone(),
            WorkerSettings::from_config(&self.config),
        )
    }
}

/// An API with no operations: what production passes where tests may add probe endpoints.
pub struct NoExtraApi;

impl OpenApi for NoExtraApi {
    fn meta() -> Vec<MetaApi> {
        Vec::new()
    }

    fn register(_registry: &mut Registry) {}

    fn add_routes(self, _route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
    }
}

const API_DESCRIPTION: &str = "Clinic intake, red-flag triage and scheduling for chiropractic and \
physiotherapy clinics.\n\nEvery error is an RFC 9457 problem document \
(`application/problem+json`) with a stable `code`; validation failures list every problem in \
`errors`. Every response carries an `x-request-id` header.";

/// The OpenAPI description of every operation, with `extra` merged in (tests mount probe
/// operations there; the service itself passes `NoExtraApi`). The areas are listed once, here,
/// in the order the documentation shows them.
pub fn api_service<A: OpenApi + 'static>(extra: A) -> OpenApiService<impl OpenApi + 'static, ()> {
    OpenApiService::new(
        (
            OpsApi,
            AuthApi,
            UsersApi,
            PatientsApi,
            (
                TriageApi,
                IntakesApi,
                FollowUpsApi,
                ClinicApi,
                PractitionersApi,
                APPOINTMENTS_API,
            ),
            AdminOutboxApi,
            AdminAuditApi,
            extra,
        ),
        "Lumbar",
        env!("CARGO_PKG_VERSION"),
    )
    .description(API_DESCRIPTION)
    .server("/")
}

/// The OpenAPI document as served at `/openapi.json` and printed by `lumbar openapi`.
pub fn openapi_json() -> String {
    close_request_schemas(&api_service(NoExtraApi).spec())
}

pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    endpoint: BoxEndpoint<'static>,
    state: AppState,
}

impl Application {
    /// Connects to the database, migrates it and binds the listener.
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        Self::build_with(config, clock, NoExtraApi).await
    }

    /// Like [`Application::build`], with more API operations mounted behind the same middleware.
    pub async fn build_with<A: OpenApi + 'static>(
        mut config: Config,
        clock: SharedClock,
        extra: A,
    ) -> anyhow::Result<Self> {
        // Templates, the transport and the signing keys are checked before anything else: a
        // broken template, an unusable SMTP_URL or a bad key stops startup here.
        let mailer = Mailer::from_config(&config)?;
        let ring = KeyRing::load_or_create(&config.jwt_keys_dir())?;
        let pages = Arc::new(Pages::load(&config.clinic_name(), &ring)?);
        let triage = Arc::new(clinical::load(
            config.questionnaire_dir.as_deref(),
            config.rules_file.as_deref(),
        )?);
        tracing::info!(
            rule_set = triage.rule_set().version(),
            "clinical content loaded"
        );
        let database = config.database();
        tracing::info!(database = %database, "connecting to the database");
        let db = store::connect(&database, config.db_max_connections).await?;
        store::migrate(&db).await?;

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (LUMBAR_LISTEN)", config.listen))?;
        let acceptor =
            TcpAcceptor::from_tokio(listener).context("cannot accept on the listener")?;
        let local_addr = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().copied())
            .context("the listener has no socket address")?;
        // Without a configured public URL, links and the token issuer name the real address
        // (which differs from LUMBAR_LISTEN when listening on port 0).
        if config.public_base_url.is_none() {
            config.listen = local_addr;
        }

        let tokens = Arc::new(TokenService::new(
            ring,
            config.public_base_url().to_string(),
        ));
        let (workers, queue) = config.password_hashing();
        let state = AppState {
            hasher: Arc::new(Hasher::new(workers, queue)),
            pages,
            db,
            backend: database.backend(),
            clock,
            outbox: Outbox::new(config.message_id_domain()),
            config: Arc::new(config),
            mailer,
            tokens,
            triage,
        };
        let endpoint = routes(&state, extra);
        Ok(Self {
            acceptor,
            local_addr,
            endpoint,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The pool the server uses; tests use it to inspect or break the database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// Shared state, as handlers see it.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish within the
    /// configured grace period, stops the embedded delivery worker (it finishes the sends under
    /// way and releases the rest) and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = self.state.config.shutdown_grace();
        let stop_worker = CancellationToken::new();
        let worker = self
            .state
            .config
            .outbox_worker
            .then(|| tokio::spawn(self.state.worker().run(stop_worker.clone())));
        let served = Server::new_with_acceptor(self.acceptor)
            .name("lumbar")
            .run_with_graceful_shutdown(self.endpoint, shutdown, Some(grace))
            .await
            .context("the HTTP server failed");
        stop_worker.cancel();
        if let Some(worker) = worker {
            worker.await.context("the delivery worker panicked")?;
        }
        served?;
        self.state
            .db
            .close_by_ref()
            .await
            .context("closing the database pool failed")?;
        Ok(())
    }
}

fn routes<A: OpenApi + 'static>(state: &AppState, extra: A) -> BoxEndpoint<'static> {
    let config = &state.config;
    let api = api_service(extra);
    let route_methods = route_methods(&api);
    let spec_json = close_request_schemas(&api.spec());
    let body_schemas = BodySchemas::from_spec(&spec_json);
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(spec_json.clone())
    });
    let docs = api.swagger_ui();
    let api_routes = Route::new()
        .at("/openapi.json", poem::get(spec))
        .nest("/docs", docs)
        .nest("/", api)
        .with(ProblemErrors::new(route_methods, body_schemas))
        .data(state.clone());
    let api_routes = match cors(&config.cors_origins) {
        Some(cors) => api_routes.with(cors).boxed(),
        None => api_routes.boxed(),
    };
    let max_body = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
    Split {
        api: api_routes,
        pages: web::routes(state),
    }
    .with(RequestEdge::new(max_body))
    .boxed()
}

/// Sends the JSON API's paths (`/api/…`, the docs, the spec, the ops endpoints) to the API and
/// its problem+json errors, and everything else to the pages and their HTML.
struct Split {
    api: BoxEndpoint<'static>,
    pages: BoxEndpoint<'static>,
}

impl Split {
    fn is_api(path: &str) -> bool {
        const EXACT: [&str; 4] = ["/openapi.json", "/healthz", "/readyz", "/docs"];
        const PREFIXES: [&str; 3] = ["/api/", "/docs/", "/.well-known/"];
        EXACT.contains(&path) || PREFIXES.iter().any(|prefix| path.starts_with(prefix))
    }
}

impl Endpoint for Split {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if Self::is_api(req.uri().path()) || req.uri().path() == "/api" {
            self.api.call(req).await
        } else {
            self.pages.call(req).await
        }
    }
}

/// Every route and its methods, from the same description the spec is generated from.
fn route_methods<T: OpenApi>(_service: &OpenApiService<T, ()>) -> RouteMethods {
    let mut methods = RouteMethods::default();
    methods.add("/openapi.json", Method::GET);
    for api in T::meta() {
        for path in api.paths {
            for operation in path.operations {
                methods.add(&path.path, operation.method);
            }
        }
    }
    methods
}

/// No CORS layer at all unless origins are configured: browsers then refuse cross-origin calls.
fn cors(origins: &[String]) -> Option<Cors> {
    if origins.is_empty() {
        return None;
    }
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let cors = Cors::new()
        .allow_methods(methods)
        .allow_headers([
            "authorization",
            "content-type",
            "idempotency-key",
            "x-request-id",
        ])
        .expose_header("x-request-id")
        .max_age(600);
    if origins.iter().any(|origin| origin == "*") {
        return Some(cors);
    }
    Some(
        origins
            .iter()
            .fold(cors, |cors, origin| cors.allow_origin(origin.as_str())),
    )
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: a SIGTERM that arrives once the service answers, but before
/// the server polls this, must stop it gracefully, not kill it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: std::io::Result<tokio::signal::unix::Signal>| async move {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "cannot listen for a shutdown signal");
                        std::future::pending::<()>().await;
                    }
                }
            };
            let (interrupt, terminate) = signals;
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}
