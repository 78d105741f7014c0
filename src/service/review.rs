//! The practitioners' review queue and their decisions on flagged cases.
