//! Patient records: demographics kept by the front desk, and a patient's own.
