//! Administration: the email outbox (dead letters, retry) and the audit trail.
