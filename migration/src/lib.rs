//! Lumbar's schema, one migration per change, applied in order at startup and by
//! `lumbar migrate`. Postgres-only DDL is guarded by a backend check inside the migration.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_idempotency_keys;
mod m20261122_000002_create_outbox_messages;
mod m20261122_000003_create_users_and_refresh_tokens;
mod m20261122_000004_create_login_throttles;
mod m20261122_000005_create_patients_account_tokens_audit;
mod m20261122_000006_create_intakes_and_reviews;
mod m20261122_000007_create_scheduling;
mod m20261202_000008_intake_safety_interrupt;
mod m20261202_000009_patient_pending_email;
mod m20261202_000010_create_web_sessions;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_idempotency_keys::Migration),
            Box::new(m20261122_000002_create_outbox_messages::Migration),
            Box::new(m20261122_000003_create_users_and_refresh_tokens::Migration),
            Box::new(m20261122_000004_create_login_throttles::Migration),
            Box::new(m20261122_000005_create_patients_account_tokens_audit::Migration),
            Box::new(m20261122_000006_create_intakes_and_reviews::Migration),
            Box::new(m20261122_000007_create_scheduling::Migration),
            Box::new(m20261202_000008_intake_safety_interrupt::Migration),
            Box::new(m20261202_000009_patient_pending_email::Migration),
            Box::new(m20261202_000010_create_web_sessions::Migration),
        ]
    }
}
