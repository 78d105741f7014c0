//! Real-browser tests (issue 15): the patient journeys in headless Chromium, driven through
//! WebDriver (chromedriver), against the real server in-process on a fresh database (SQLite by
//! default, PostgreSQL with `LUMBAR_TEST_DB=postgres`), with every email going to an in-process
//! SMTP sink. Each journey runs twice, as two tests: with JavaScript and with it turned off in
//! the browser's settings (checked at the start of each run). axe-core checks each page a
//! journey calls `check_accessibility` on, at 375 px and 1280 px; `screenshot` saves the page at
//! both widths in `target/screenshots/` (or `$LUMBAR_SCREENSHOT_DIR`).
//!
//! Needs Debian's `chromium` and `chromium-driver`, and axe-core from npm
//! (`npm ci --prefix tests/browser`). Without them a test prints one line and passes, unless
//! `CI=true` or `LUMBAR_BROWSER_TESTS=required` (then it fails; `LUMBAR_BROWSER_TESTS=auto`
//! skips even in CI). `LUMBAR_CHROMIUM`, `LUMBAR_CHROMEDRIVER` and `LUMBAR_AXE_CORE` (the path
//! of `axe.min.js`) point at other copies. Run: `cargo test --test browser`.
//!
//! Adding a journey: an `async fn name(b: &mut Browser)` in a module here, written in the
//! harness's verbs (`open`, `fill` by label, `fill_id`, `choose` in a drop-down, `tick` a choice,
//! `press` a button, `follow` a link or `follow_first` of a list,
//! `expect_heading`, `expect_text`, `emailed_link`, `check_accessibility`, `screenshot`), and
//! `journey!(name);` after it. `b.app` is the server (its clock, its database, `b.app.send` for
//! API calls that set the scene); `b.javascript()` says which of the two runs this is.
//!
//! The journeys: `account` (register and confirm, log in and out, mistakes in a form, an
//! invitation, a missing page) and `patient` (the intake to its advice, booking and cancelling,
//! the emergency page, a follow-up link, a forgotten password) and `clinic` (a practitioner
//! decides the case an alert email links to) and `practitioner` (from the schedule to a
//! patient's outcome chart).

// Shared with the api tests, of which this target uses only a part.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/smtp_sink.rs"]
mod smtp_sink;

/// Defines the two tests of the journey `async fn $name(b: &mut Browser)` in scope:
/// `$name::with_javascript` and `$name::without_javascript`.
macro_rules! journey {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn with_javascript() {
                $crate::harness::run(
                    stringify!($name),
                    $crate::harness::Javascript::Enabled,
                    |browser| Box::pin(super::$name(browser)),
                )
                .await;
            }

            #[tokio::test]
            async fn without_javascript() {
                $crate::harness::run(
                    stringify!($name),
                    $crate::harness::Javascript::Disabled,
                    |browser| Box::pin(super::$name(browser)),
                )
                .await;
            }
        }
    };
}

mod account;
mod admin;
mod clinic;
mod harness;
mod patient;
mod practitioner;
mod setup;
