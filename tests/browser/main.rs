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
//! harness's verbs (`open`, `fill` by label, `fill_id`, `press` a button, `follow` a link,
//! `expect_heading`, `expect_text`, `emailed_link`, `check_accessibility`, `screenshot`), and
//! `journey!(name);` after it. `b.app` is the server (its clock, its database, `b.app.send` for
//! API calls that set the scene); `b.javascript()` says which of the two runs this is.
//!
//! TODO, journeys the issue names whose pages are not built yet:
//! - intake: a new patient registers, verifies, completes the intake section by section (saved
//!   as a draft, resumed), and sees the result page's advice;
//! - a patient who gives a red-flag answer sees the emergency page the moment the answer is
//!   saved (before the intake is finished): the emergency number, no booking button;
//! - booking: choose the appointment type, place, practitioner, day and time on the location's
//!   clock, confirm, get the `.ics`; then cancel it from My appointments (and a refused booking
//!   shows the gate's message);
//! - follow-up: the emailed link opens the questionnaire without logging in, and a used or
//!   expired link says so;
//! - forgot password: the emailed reset link sets a new password;
//! - every page above checked with axe and photographed at both widths.

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
mod harness;
