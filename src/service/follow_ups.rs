//! Follow-up questionnaires after visits, and a patient's outcome trend.
