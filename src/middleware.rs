//! The HTTP edge: request ids, a tracing span per request, the body size limit, panic catching and
//! the conversion of every error into problem+json.
//!
//! Two layers, because poem's CORS middleware renders inner errors itself:
//! `RequestEdge` (outermost) → `Cors` → `ProblemErrors` → routes.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError},
    http::{HeaderValue, Method, StatusCode, header},
};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    body_check::BodySchemas,
    error::{ApiError, FieldError, Problem},
    request_text,
};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the edge learned about a request, available to inner layers and handlers.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub method: Method,
    pub path: String,
    /// The buffered body, kept to tell malformed JSON (400) from a well-formed body of the wrong
    /// shape (422). `Bytes` clones share one allocation.
    body: Bytes,
}

impl RequestContext {
    /// The request's body as read (and bounded) at the edge.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// Outermost layer: request id, span, access log, body limit, panic catching.
pub struct RequestEdge {
    max_body_bytes: usize,
}

impl RequestEdge {
    pub fn new(max_body_bytes: usize) -> Self {
        Self { max_body_bytes }
    }
}

impl<E: Endpoint> Middleware<E> for RequestEdge {
    type Output = RequestEdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestEdgeEndpoint {
            inner,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

pub struct RequestEdgeEndpoint<E> {
    inner: E,
    max_body_bytes: usize,
}

impl<E: Endpoint> Endpoint for RequestEdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let request_id = accepted_request_id(&req).unwrap_or_else(|| Uuid::now_v7().to_string());
        // The query string is left out of spans and logs: it may carry tokens.
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = %loggable_path(&path),
            request_id = %request_id,
        );

        async move {
            let started = Instant::now();
            let mut context = RequestContext {
                request_id: request_id.clone(),
                method: req.method().clone(),
                path,
                body: Bytes::new(),
            };

            let mut response = match read_body(&mut req, self.max_body_bytes).await {
                Err(problem) => problem_response(problem, &context),
                Ok(body) => {
                    context.body = body;
                    req.extensions_mut().insert(context.clone());
                    match AssertUnwindSafe(self.inner.call(req)).catch_unwind().await {
                        Ok(Ok(output)) => output.into_response(),
                        Ok(Err(err)) => {
                            problem_response(problem_from_error(err, &context), &context)
                        }
                        Err(_panic) => {
                            // The panic hook (telemetry.rs) has logged the message and location.
                            tracing::error!("request handler panicked");
                            problem_response(
                                ApiError::internal(anyhow::anyhow!("panic")).to_problem(),
                                &context,
                            )
                        }
                    }
                }
            };

            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            let status = response.status().as_u16();
            let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
            // A 503 (database gone, hashing at capacity) is logged where it is detected, once.
            if status >= 500 && status != 503 {
                tracing::error!(status, latency_ms, "request failed");
            } else {
                tracing::info!(status, latency_ms, "request completed");
            }
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

/// Inner layer: turns every error from the routes into a problem response while CORS headers can
/// still be added to it. A 405 lists the methods the resource does support in `Allow`, as RFC
/// 9110 requires.
pub struct ProblemErrors {
    route_methods: Arc<RouteMethods>,
    body_schemas: Arc<BodySchemas>,
}

impl ProblemErrors {
    pub fn new(route_methods: RouteMethods, body_schemas: BodySchemas) -> Self {
        Self {
            route_methods: Arc::new(route_methods),
            body_schemas: Arc::new(body_schemas),
        }
    }
}

impl<E: Endpoint> Middleware<E> for ProblemErrors {
    type Output = ProblemErrorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ProblemErrorsEndpoint {
            inner,
            route_methods: self.route_methods.clone(),
            body_schemas: self.body_schemas.clone(),
        }
    }
}

pub struct ProblemErrorsEndpoint<E> {
    inner: E,
    route_methods: Arc<RouteMethods>,
    body_schemas: Arc<BodySchemas>,
}

/// Which methods each route answers, taken from the API description, for the `Allow` header.
#[derive(Debug, Clone, Default)]
pub struct RouteMethods {
    routes: Vec<(Vec<Segment>, Vec<Method>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

impl RouteMethods {
    /// Records that `template` (`/a/{id}` or `/a/:id`) answers `method`; GET implies HEAD.
    pub fn add(&mut self, template: &str, method: Method) {
        let segments: Vec<Segment> = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') || segment.starts_with(':') {
                    Segment::Parameter
                } else {
                    Segment::Literal(segment.to_owned())
                }
            })
            .collect();
        let index = match self.routes.iter().position(|(known, _)| *known == segments) {
            Some(index) => index,
            None => {
                self.routes.push((segments, Vec::new()));
                self.routes.len() - 1
            }
        };
        let methods = &mut self.routes[index].1;
        let implied = (method == Method::GET).then_some(Method::HEAD);
        for method in std::iter::once(method).chain(implied) {
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
    }

    /// The `Allow` value for a concrete request path, if a route matches it.
    pub fn allow_header(&self, path: &str) -> Option<String> {
        let requested: Vec<&str> = path.split('/').collect();
        let (_, methods) = self.routes.iter().find(|(segments, _)| {
            segments.len() == requested.len()
                && segments
                    .iter()
                    .zip(&requested)
                    .all(|(segment, part)| match segment {
                        Segment::Parameter => !part.is_empty(),
                        Segment::Literal(literal) => literal == part,
                    })
        })?;
        Some(
            methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

impl<E: Endpoint> Endpoint for ProblemErrorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let context = req.extensions().get::<RequestContext>().cloned();
        // Text no field may hold is refused before routing, so no endpoint can forget it.
        if let Some(context) = &context
            && let Some(problem) = request_text::problem(req.uri(), &context.body)
        {
            return Ok(problem_response(problem, context));
        }
        match self.inner.call(req).await {
            Ok(output) => Ok(output.into_response()),
            Err(err) => {
                let context = context.unwrap_or_else(|| RequestContext {
                    request_id: String::new(),
                    method: Method::GET,
                    path: String::new(),
                    body: Bytes::new(),
                });
                let allow = err
                    .is::<MethodNotAllowedError>()
                    .then(|| self.route_methods.allow_header(&context.path))
                    .flatten();
                let challenge = err.is::<AuthorizationError>();
                let mut problem = problem_from_error(err, &context);
                if problem.code == "invalid_body" {
                    problem = self.every_body_problem(problem, &context);
                }
                let mut response = problem_response(problem, &context);
                if let Some(value) = allow.and_then(|allow| HeaderValue::from_str(&allow).ok()) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                if challenge {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                Ok(response)
            }
        }
    }
}

impl<E> ProblemErrorsEndpoint<E> {
    /// A body of the wrong shape: every problem the operation's schema finds in it, by field,
    /// instead of the first one poem-openapi met.
    fn every_body_problem(&self, problem: Problem, context: &RequestContext) -> Problem {
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&context.body) else {
            return problem;
        };
        let errors = self
            .body_schemas
            .check(&context.method, &context.path, &body);
        if errors.is_empty() {
            return problem;
        }
        let listed: Vec<String> = errors
            .iter()
            .map(|error| format!("`{}` {}", error.field, error.message))
            .collect();
        Problem {
            detail: Some(format!(
                "The request body does not match the schema: {}.",
                listed.join("; ")
            )),
            errors,
            ..problem
        }
    }
}

/// An incoming `x-request-id` is kept when it is a sane token, so ids from a proxy correlate.
/// Paths whose last segment is a secret (an emailed follow-up link's token).
const SECRET_PATH_PREFIXES: &[&str] = &["/api/v1/follow-ups/"];

/// The path as logs may show it: secrets in the path replaced by `{token}`.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match SECRET_PATH_PREFIXES
        .iter()
        .find(|prefix| path.starts_with(*prefix) && path.len() > prefix.len())
    {
        Some(prefix) => format!("{prefix}{{token}}").into(),
        None => path.into(),
    }
}

fn accepted_request_id(req: &Request) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let sane = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    sane.then(|| value.to_owned())
}

/// Buffers the body up to the limit. Every endpoint takes small JSON bodies, so holding them in
/// memory is cheap, and a chunked upload without `Content-Length` is limited all the same.
async fn read_body(req: &mut Request, max_bytes: usize) -> Result<Bytes, Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
            Some(format!(
                "The request body is larger than the limit of {max_bytes} bytes."
            )),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    match req.take_body().into_bytes_limit(max_bytes).await {
        Ok(bytes) => {
            req.set_body(Body::from_bytes(bytes.clone()));
            Ok(bytes)
        }
        Err(ReadBodyError::PayloadTooLarge) => Err(too_large()),
        Err(err) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            "Bad Request",
            Some(format!("The request body could not be read: {err}.")),
        )),
    }
}

fn problem_response(mut problem: Problem, context: &RequestContext) -> Response {
    if !context.path.is_empty() {
        problem.instance = Some(context.path.clone());
    }
    if !context.request_id.is_empty() {
        problem.request_id = Some(context.request_id.clone());
    }
    problem.into_response()
}

/// Maps any error that reached the edge to its problem document.
pub(crate) fn problem_from_error(err: poem::Error, context: &RequestContext) -> Problem {
    if err.is::<ApiError>() {
        let api_error = match err.downcast::<ApiError>() {
            Ok(api_error) => api_error,
            Err(err) => return unexpected(err),
        };
        if let ApiError::Internal(cause) = &api_error {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        return api_error.to_problem();
    }
    if let Some(payload) = err.downcast_ref::<ParseRequestPayloadError>() {
        return payload_problem(payload, &context.body);
    }
    if let Some(param) = err.downcast_ref::<ParseParamError>() {
        return invalid_parameter(param.name, &param.reason);
    }
    if let Some(path) = err.downcast_ref::<ParsePathError>() {
        // poem-openapi names path parameters by position (`param0`), which means nothing to a
        // client; the segment's type is in the reason.
        return invalid_parameter("path", &path.reason);
    }
    if let Some(content_type) = err.downcast_ref::<ContentTypeError>() {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported Media Type",
            Some(format!(
                "{content_type}; send `Content-Type: application/json`."
            )),
        );
    }
    if err.is::<NotFoundError>() {
        return ApiError::NotFound.to_problem();
    }
    if err.is::<MethodNotAllowedError>() {
        return Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method Not Allowed",
            Some("This resource does not support the request method.".into()),
        );
    }
    if err.is::<AuthorizationError>() {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            Some("A valid bearer token is required.".into()),
        );
    }
    let status = err.status();
    if status.is_server_error() {
        return unexpected(err);
    }
    // Any other client error poem raises (bad query string, CORS refusal, …): keep its status and
    // message, name the code after the status.
    let title = crate::error::title_of(status);
    let code = title.to_ascii_lowercase().replace([' ', '-'], "_");
    Problem::new(status, &code, title, Some(err.to_string()))
}

fn unexpected(err: poem::Error) -> Problem {
    tracing::error!(error = %err, "unexpected error");
    ApiError::internal(anyhow::anyhow!("unexpected error")).to_problem()
}

fn invalid_parameter(name: &str, reason: &str) -> Problem {
    Problem {
        errors: vec![FieldError {
            field: name.to_owned(),
            code: "invalid".into(),
            message: reason.to_owned(),
        }],
        ..Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "Bad Request",
            Some(format!("The parameter `{name}` is invalid: {reason}")),
        )
    }
}

/// Malformed JSON is a 400; JSON of the wrong shape (unknown field, wrong type, missing field)
/// is a 422, because the syntax was fine and only the content is wrong.
fn payload_problem(err: &ParseRequestPayloadError, body: &Bytes) -> Problem {
    if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "Bad Request",
            Some(if body.is_empty() {
                "The request body is empty; a JSON document is required.".into()
            } else {
                format!("The request body is not valid JSON: {syntax}.")
            }),
        );
    }
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "Unprocessable Content",
        Some(format!(
            "The request body does not match the schema: {}",
            err.reason
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(body: &'static [u8]) -> RequestContext {
        RequestContext {
            request_id: "r1".into(),
            method: Method::POST,
            path: "/p".into(),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_are_422() {
        let err = ParseRequestPayloadError { reason: "x".into() };
        assert_eq!(
            payload_problem(&err, &Bytes::from_static(b"{\"a\":")).status,
            400
        );
        assert_eq!(payload_problem(&err, &Bytes::from_static(b"")).status, 400);
        let shape = payload_problem(&err, &Bytes::from_static(b"{\"a\":1}"));
        assert_eq!((shape.status, shape.code.as_str()), (422, "invalid_body"));
    }

    #[test]
    fn known_poem_errors_map_to_stable_codes() {
        let ctx = context(b"");
        let not_found = problem_from_error(NotFoundError.into(), &ctx);
        assert_eq!(
            (not_found.status, not_found.code.as_str()),
            (404, "not_found")
        );
        let method = problem_from_error(MethodNotAllowedError.into(), &ctx);
        assert_eq!(
            (method.status, method.code.as_str()),
            (405, "method_not_allowed")
        );
        let param = problem_from_error(
            ParseParamError {
                name: "limit",
                reason: "not a number".into(),
            }
            .into(),
            &ctx,
        );
        assert_eq!(
            (param.status, param.code.as_str()),
            (400, "invalid_parameter")
        );
        assert_eq!(param.errors[0].field, "limit");
    }

    #[test]
    fn unknown_server_errors_hide_their_message() {
        let err = poem::Error::from_string("db password is hunter2", StatusCode::BAD_GATEWAY);
        let problem = problem_from_error(err, &context(b""));
        assert_eq!(problem.status, 500);
        assert!(!serde_json::to_string(&problem).unwrap().contains("hunter2"));
    }

    #[test]
    fn allow_lists_the_methods_of_the_matching_route() {
        let mut routes = RouteMethods::default();
        routes.add("/healthz", Method::GET);
        routes.add("/api/v1/intakes/{id}", Method::GET);
        routes.add("/api/v1/intakes/{id}", Method::PUT);
        routes.add("/api/v1/intakes/{id}/submit", Method::POST);
        assert_eq!(
            routes.allow_header("/healthz").as_deref(),
            Some("GET, HEAD")
        );
        assert_eq!(
            routes.allow_header("/api/v1/intakes/0190").as_deref(),
            Some("GET, HEAD, PUT")
        );
        assert_eq!(
            routes
                .allow_header("/api/v1/intakes/0190/submit")
                .as_deref(),
            Some("POST")
        );
        assert_eq!(routes.allow_header("/api/v1/intakes/"), None);
        assert_eq!(routes.allow_header("/nothing"), None);
    }

    #[test]
    fn secrets_in_paths_stay_out_of_logs() {
        assert_eq!(
            loggable_path("/api/v1/follow-ups/s3cr3t-t0ken"),
            "/api/v1/follow-ups/{token}"
        );
        assert_eq!(loggable_path("/api/v1/follow-ups/"), "/api/v1/follow-ups/");
        assert_eq!(loggable_path("/api/v1/patients/42"), "/api/v1/patients/42");
    }

    #[test]
    fn only_sane_request_ids_are_reused() {
        let with = |value: &str| {
            let req = Request::builder().header(REQUEST_ID_HEADER, value).finish();
            accepted_request_id(&req)
        };
        assert_eq!(with("abc-123_x.y").as_deref(), Some("abc-123_x.y"));
        assert_eq!(with(""), None);
        assert_eq!(with("has space"), None);
        assert_eq!(with(&"a".repeat(65)), None);
    }
}
