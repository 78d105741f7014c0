//! One error type for the whole API, rendered as RFC 9457 problem details
//! (`application/problem+json`) with a stable machine-readable `code`.
//!
//! Handlers return [`ApiError`]; the edge middleware (see `middleware.rs`) also turns poem's and
//! poem-openapi's own failures (bad JSON, wrong types, unknown routes, panics) into the same
//! shape, so a client only ever has to understand one error format.

use poem::{
    Response,
    error::ResponseError,
    http::{StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem with one part of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct FieldError {
    /// Where the problem is: a body field, a parameter name or a questionnaire linkId.
    pub field: String,
    /// Stable machine-readable reason, such as `required` or `out_of_range`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// RFC 9457 problem details, as every error response carries them.
#[derive(Debug, Clone, Serialize, Object)]
pub struct Problem {
    /// URI naming the kind of problem: `urn:lumbar:problem:<code>`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem; the same for every occurrence of a code.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a person.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path this problem happened on.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Stable machine-readable code; clients branch on this, never on `title` or `detail`.
    pub code: String,
    /// The request id, also sent as the `x-request-id` header; quote it when reporting a problem.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For validation failures: every problem found, one entry per field.
    #[oai(default, skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// When a requested time was taken or is not offered: the next free times to offer instead.
    #[oai(default, skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_slots: Vec<SuggestedSlot>,
    /// When a form that is not complete (or not valid) yet already holds answers that call
    /// for emergency care: the advice to show at once (rule set v2's safety interrupt).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_advice: Option<Advice>,
    /// When time off would fall on booked visits (`time_off_clashes`): those visits, for the
    /// front desk to move or cancel first.
    #[oai(default, skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clashing_appointments: Vec<ClashingAppointment>,
}

/// A booked visit in the way of a change: when it is and whose it is, nothing clinical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct ClashingAppointment {
    pub id: uuid::Uuid,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
    pub patient_id: uuid::Uuid,
    /// The patient's given and family name, for the front desk to call them.
    pub patient_name: String,
}

/// What the patient reads: calm, clear next steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct Advice {
    pub headline: String,
    /// The disposition's general advice.
    pub paragraphs: Vec<String>,
    /// Why, in the patient's words; empty for routine. The patient and practitioners only:
    /// absent for the front desk, because the reasons restate the answers.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
}

/// A free appointment time suggested instead of one that was not available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct SuggestedSlot {
    pub practitioner_id: uuid::Uuid,
    pub location_id: uuid::Uuid,
    pub start: chrono::DateTime<chrono::Utc>,
    /// The start on the location's clock, with its UTC offset (RFC 3339).
    pub local_start: String,
    /// The zone's abbreviation at that time, such as `EST` or `BST`.
    pub abbreviation: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: Option<String>) -> Self {
        Self {
            problem_type: format!("urn:lumbar:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            instance: None,
            code: code.to_owned(),
            request_id: None,
            errors: Vec::new(),
            next_slots: Vec::new(),
            safety_advice: None,
            clashing_appointments: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| {
            br#"{"type":"urn:lumbar:problem:internal_error","title":"Internal server error","status":500,"code":"internal_error"}"#.to_vec()
        });
        let mut response = Response::builder()
            .status(self.status())
            .header(header::CONTENT_TYPE, PROBLEM_JSON);
        // A 503 is temporary by definition: say when to come back (RFC 9110 §10.2.3).
        if self.status == 503 {
            let seconds = if self.code == "busy" { 1 } else { 5 };
            response = response.header(header::RETRY_AFTER, seconds);
        }
        response.body(body)
    }
}

/// The problem title for a status: one per status, the same everywhere (RFC 9110's names).
pub fn title_of(status: StatusCode) -> &'static str {
    match status {
        // RFC 9110 renamed it; the http crate still says "Unprocessable Entity".
        StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
        other => other.canonical_reason().unwrap_or("Error"),
    }
}

/// Everything a handler can fail with. Each variant has a stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed in a way no field list describes.
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },

    /// The request is well-formed but its content is invalid; every problem is listed.
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },

    /// A validation failure of a form whose answers already call for emergency care: the
    /// problem carries the emergency advice as well (`validation_failed` all the same).
    #[error("{detail}")]
    ValidationWithSafetyAdvice {
        detail: String,
        errors: Vec<FieldError>,
        advice: Advice,
    },

    /// Missing, wrong or expired credentials. The detail never says which.
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },

    /// Signed in, but the role may not do this (`forbidden`), or the account may not yet
    /// (`email_not_verified`).
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },

    /// Too many attempts; try again later.
    #[error("{detail}")]
    TooManyRequests { code: &'static str, detail: String },

    /// The record does not exist, or the caller may not know that it exists.
    #[error("not found")]
    NotFound,

    /// The request conflicts with the current state (double booking, illegal transition).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },

    /// A dependency (the database) is not reachable right now.
    #[error("{detail}")]
    Unavailable { code: &'static str, detail: String },

    /// A booking rule refused the request: 409 for a time that is not free (with the next free
    /// times), 422 for a rule retrying will not fix, 403 for the intake gate.
    #[error("{detail}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        detail: String,
        next_slots: Vec<SuggestedSlot>,
    },

    /// Time off would fall on booked visits (409 `time_off_clashes`), listed for the desk.
    #[error("{detail}")]
    TimeOffClashes {
        detail: String,
        appointments: Vec<ClashingAppointment>,
    },

    /// A bug or an unexpected failure. The cause is logged, never sent to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// A 422 for one field: `code` says what is wrong with it, `message` how to fix it.
    pub fn field(field: &str, code: &str, detail: &str, message: &str) -> Self {
        Self::Validation {
            detail: detail.into(),
            errors: vec![FieldError {
                field: field.into(),
                code: code.into(),
                message: message.into(),
            }],
        }
    }

    /// This error with `advice` attached when it is a validation failure (the safety
    /// interrupt: a form refused as incomplete still tells the patient to get help now).
    /// Any other error is kept as it is.
    pub fn with_safety_advice(self, advice: Advice) -> Self {
        match self {
            Self::Validation { detail, errors } => Self::ValidationWithSafetyAdvice {
                detail,
                errors,
                advice,
            },
            other => other,
        }
    }

    /// A 422: the field names a record that does not exist.
    pub fn unknown_field(field: &str, message: &str) -> Self {
        Self::field(field, "unknown", message, message)
    }

    /// A 422: the field is needed here.
    pub fn required_field(field: &str, detail: &str, message: &str) -> Self {
        Self::field(field, "required", detail, message)
    }

    /// The database cannot be reached (down, restarting, or the pool exhausted): a 503 that
    /// says to try again, never a 500.
    pub fn database_unavailable() -> Self {
        Self::Unavailable {
            code: "database_unavailable",
            detail: "The service cannot reach its database right now; please try again shortly."
                .into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Validation { .. } | Self::ValidationWithSafetyAdvice { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict { .. } | Self::TimeOffClashes { .. } => StatusCode::CONFLICT,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Refused { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::TooManyRequests { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unavailable { code, .. }
            | Self::Refused { code, .. } => code,
            Self::Validation { .. } | Self::ValidationWithSafetyAdvice { .. } => {
                "validation_failed"
            }
            Self::NotFound => "not_found",
            Self::TimeOffClashes { .. } => "time_off_clashes",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The problem document for this error. Internal causes stay out of it.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let title = title_of(status);
        match self {
            Self::Internal(_) => Problem::new(
                status,
                self.code(),
                title,
                Some(
                    "Something went wrong on our side. It has been logged; please try again."
                        .into(),
                ),
            ),
            Self::NotFound => Problem::new(
                status,
                self.code(),
                title,
                Some("The requested resource does not exist.".into()),
            ),
            Self::Validation { detail, errors } => Problem {
                errors: errors.clone(),
                ..Problem::new(status, self.code(), title, Some(detail.clone()))
            },
            Self::ValidationWithSafetyAdvice {
                detail,
                errors,
                advice,
            } => Problem {
                errors: errors.clone(),
                safety_advice: Some(advice.clone()),
                ..Problem::new(status, self.code(), title, Some(detail.clone()))
            },
            Self::Refused {
                detail, next_slots, ..
            } => Problem {
                next_slots: next_slots.clone(),
                ..Problem::new(status, self.code(), title, Some(detail.clone()))
            },
            Self::TimeOffClashes {
                detail,
                appointments,
            } => Problem {
                clashing_appointments: appointments.clone(),
                ..Problem::new(status, self.code(), title, Some(detail.clone()))
            },
            Self::BadRequest { detail, .. }
            | Self::Unauthorized { detail, .. }
            | Self::Forbidden { detail, .. }
            | Self::TooManyRequests { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::Unavailable { detail, .. } => {
                Problem::new(status, self.code(), title, Some(detail.clone()))
            }
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_connection_error(&err) {
            crate::store::availability::lost(&err);
            return Self::database_unavailable();
        }
        Self::Internal(in_operation(err.into()))
    }
}

/// The error with the name of the operation it happened in (the innermost instrumented
/// service or store function), so the log says which use case failed.
fn in_operation(err: anyhow::Error) -> anyhow::Error {
    match tracing::Span::current().metadata() {
        Some(operation) => err.context(format!("in {}", operation.name())),
        None => err,
    }
}

/// Whether a database error means "cannot reach the database" rather than a bad statement.
fn is_connection_error(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx::Error as Sqlx};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            match sqlx.as_ref() {
                Sqlx::Io(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed
                | Sqlx::Tls(_)
                | Sqlx::Protocol(_) => true,
                Sqlx::Database(db) => db.code().is_some_and(|code| server_unavailable(&code)),
                _ => false,
            }
        }
        _ => false,
    }
}

/// SQLSTATEs of a server that is going away or cannot serve: a connection exception (class 08),
/// shutdown or restart (57P01–57P03, what every open connection gets when PostgreSQL stops),
/// too many connections (53300); SQLite's "cannot open" and I/O errors (the file is gone).
fn server_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        || code
            .parse::<i32>()
            .is_ok_and(|sqlite| matches!(sqlite & 0xff, 10 | 14))
}

/// The scheduling module's problems as the problem document's per-field errors.
impl From<crate::scheduling::ValidationErrors> for ApiError {
    fn from(errors: crate::scheduling::ValidationErrors) -> Self {
        Self::Validation {
            detail: "Some values are not valid; every problem is listed in `errors`.".into(),
            errors: errors
                .into_iter()
                .map(|error| FieldError {
                    field: error.field,
                    code: error.code.as_str().to_owned(),
                    message: error.message,
                })
                .collect(),
        }
    }
}

/// One answer's problem, named by its questionnaire linkId.
impl From<crate::triage::AnswerError> for FieldError {
    fn from(error: crate::triage::AnswerError) -> Self {
        Self {
            field: error.link_id,
            code: error.code.as_str().to_owned(),
            message: error.message,
        }
    }
}

/// Answers the triage module refused: every problem per linkId (422), or an unknown
/// questionnaire (404).
impl From<crate::triage::EvaluateError> for ApiError {
    fn from(error: crate::triage::EvaluateError) -> Self {
        match error {
            crate::triage::EvaluateError::UnknownQuestionnaire(_) => Self::NotFound,
            crate::triage::EvaluateError::InvalidAnswers(errors) => Self::Validation {
                detail: "Some answers are missing or not valid; every problem is listed in \
                         `errors`."
                    .into(),
                errors: errors.into_iter().map(FieldError::from).collect(),
            },
        }
    }
}

/// A message the code itself built was refused by the outbox: a bug, not the caller's fault.
impl From<crate::store::outbox::OutboxError> for ApiError {
    fn from(err: crate::store::outbox::OutboxError) -> Self {
        match err {
            // A lost database while queueing is an outage like any other.
            crate::store::outbox::OutboxError::Database(err) => err.into(),
            err => Self::Internal(in_operation(err.into())),
        }
    }
}

/// Password hashing at capacity is a 503 `busy` (come back in a moment), never a wait without end.
impl From<crate::auth::password::HashError> for ApiError {
    fn from(err: crate::auth::password::HashError) -> Self {
        match err {
            crate::auth::password::HashError::Busy => Self::Unavailable {
                code: "busy",
                detail: "The service is handling many sign-ins right now; please try again in a \
                         moment."
                    .into(),
            },
            crate::auth::password::HashError::Failed(err) => Self::Internal(err),
        }
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        self.to_problem().into_response()
    }
}

/// Every operation documents that it may answer with a problem: any 4XX or 5XX status, always
/// `application/problem+json`. This keeps the spec truthful for clients and for schemathesis.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let problem = || {
            vec![MetaMediaType {
                content_type: PROBLEM_JSON,
                schema: Problem::schema_ref(),
            }]
        };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "The request was refused; see `code` and `errors`.",
                    status: None,
                    status_range: Some("4XX".into()),
                    content: problem(),
                    headers: vec![],
                },
                MetaResponse {
                    description: "The service failed or a dependency is unavailable.",
                    status: None,
                    status_range: Some("5XX".into()),
                    content: problem(),
                    headers: vec![],
                },
            ],
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!("password authentication failed for user x"));
        let problem = err.to_problem();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.code, "internal_error");
        let body = serde_json::to_string(&problem).unwrap();
        assert!(!body.contains("password"), "{body}");
    }

    #[test]
    fn codes_and_statuses_are_stable() {
        let cases = [
            (ApiError::NotFound, 404, "not_found"),
            (
                ApiError::Validation {
                    detail: "bad".into(),
                    errors: vec![],
                },
                422,
                "validation_failed",
            ),
            (
                ApiError::Conflict {
                    code: "slot_taken",
                    detail: "x".into(),
                },
                409,
                "slot_taken",
            ),
            (
                ApiError::BadRequest {
                    code: "malformed_json",
                    detail: "x".into(),
                },
                400,
                "malformed_json",
            ),
            (
                ApiError::Unavailable {
                    code: "database_unavailable",
                    detail: "x".into(),
                },
                503,
                "database_unavailable",
            ),
        ];
        for (err, status, code) in cases {
            let problem = err.to_problem();
            assert_eq!((problem.status, problem.code.as_str()), (status, code));
            assert_eq!(problem.problem_type, format!("urn:lumbar:problem:{code}"));
        }
    }

    #[test]
    fn validation_problem_lists_every_field() {
        let err = ApiError::Validation {
            detail: "2 answers are invalid".into(),
            errors: vec![
                FieldError {
                    field: "a".into(),
                    code: "required".into(),
                    message: "m".into(),
                },
                FieldError {
                    field: "b".into(),
                    code: "out_of_range".into(),
                    message: "m".into(),
                },
            ],
        };
        let json = serde_json::to_value(err.to_problem()).unwrap();
        assert_eq!(json["errors"].as_array().unwrap().len(), 2);
        assert_eq!(json["errors"][1]["field"], "b");
    }
}
