//! Lumbar: clinic intake, red-flag triage and scheduling for chiropractic and physiotherapy
//! clinics. `main.rs` only calls [`cli::run`]; everything else lives here so tests can start the
//! real application in-process.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod body_check;
pub mod cli;
pub mod clinical;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod ids;
pub mod middleware;
pub mod notify;
pub mod request_text;
pub mod scheduling;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod triage;
pub mod web;

pub use app::{AppState, Application};
pub use config::Config;
