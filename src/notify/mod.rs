//! Email: the outbox's delivery worker, transports, templates and calendar invites. Enqueueing
//! lives with the other database access in `store::outbox`.

use std::sync::Arc;

use lettre::message::Mailbox;

use crate::config::Config;

pub mod appointments;
pub mod calendar;
pub mod content;
pub mod templates;
pub mod transport;
pub mod worker;

pub use worker::{PassReport, Worker, WorkerSettings};

/// What every worker in a process shares: the checked templates, the transport (one SMTP pool)
/// and the sender.
pub struct Mailer {
    pub templates: templates::Templates,
    pub transport: transport::Transport,
    pub from: Mailbox,
}

impl Mailer {
    /// Loads and checks the templates and sets up the configured transport; an error here stops
    /// startup.
    pub fn from_config(config: &Config) -> anyhow::Result<Arc<Self>> {
        let clinic_name = config.clinic_name();
        let templates = templates::Templates::load(config.template_dir.as_deref(), &clinic_name)?;
        let transport = transport::Transport::from_config(config)?;
        Ok(Arc::new(Self {
            templates,
            transport,
            from: config.mail_from.clone(),
        }))
    }
}
