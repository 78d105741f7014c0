//! The HTTP edge: one `#[OpenApi]` struct per area, request and response types, no SQL.

use poem::Request;
use poem_openapi::Tags;

use crate::{audit::AuditContext, auth::BearerAuth, service::Caller};

pub mod admin;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod clinic;
pub mod follow_ups;
pub mod intakes;
pub mod ops;
pub mod patients;
pub mod practitioners;
pub mod triage;
pub mod types;
pub mod users;

/// Base path of the versioned API.
pub const API_PREFIX: &str = "/api/v1";

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness probes for orchestrators and load balancers.
    Ops,
    /// Logging in and out, tokens and the caller's account.
    Auth,
    /// Patient records: demographics, found and kept by the front desk.
    Patients,
    /// Questionnaires, the clinicians' what-if triage, and follow-up links.
    Triage,
    /// Intake questionnaires: drafts, submission and triage; the practitioners' review queue.
    Intakes,
    /// Clinic setup: locations, appointment types and booking policies.
    Clinic,
    /// Free times, booking and the appointment's life: reschedule, cancel, check-in, complete.
    Scheduling,
    /// Administration: accounts, the email outbox and the audit trail.
    Admin,
}

/// The caller of a use case: who the bearer token names, and where the request came from.
pub fn caller(request: &Request, auth: &BearerAuth) -> Caller {
    Caller::new(auth.0, AuditContext::from_request(request, Some(&auth.0)))
}
