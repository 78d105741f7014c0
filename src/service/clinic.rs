//! Clinic setup: locations, appointment types and booking policies.
