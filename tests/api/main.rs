//! Black-box API tests: the real server over HTTP against a real database (SQLite by default,
//! PostgreSQL with `LUMBAR_TEST_DB=postgres`).

mod access;
mod appointments;
mod appointments_db;
mod auth;
mod calendar_feed;
mod cli;
mod clinic;
mod database;
mod date_of_birth;
mod demo;
mod docs;
mod email_change;
mod errors;
mod gate;
mod health;
mod helpers;
mod input_hygiene;
mod intakes;
mod load;
mod minimum_necessary;
mod multi_instance;
mod outbox;
mod pages;
mod pages_account;
mod pages_booking;
mod pages_intake;
mod pages_review;
mod password_reset;
mod patients;
mod practitioners;
mod probe;
mod races;
mod service;
mod smtp_sink;
mod time_off;
