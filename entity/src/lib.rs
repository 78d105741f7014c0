//! sea-orm entities, one module per table. The schema itself is defined by the `migration` crate;
//! the API tests insert and read each entity to catch drift between the two.

pub mod account_token;
pub mod appointment;
pub mod appointment_type;
pub mod audit_event;
pub mod clinic_policy;
pub mod idempotency_key;
pub mod intake;
pub mod location;
pub mod login_throttle;
pub mod outbox_message;
pub mod patient;
pub mod practitioner;
pub mod practitioner_location;
pub mod refresh_token;
pub mod review_decision;
pub mod time_off;
pub mod user;
pub mod web_session;
pub mod working_hours;
