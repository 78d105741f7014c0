//! The harness: the real server, chromedriver and headless Chromium for one journey, and the
//! few verbs a journey is written in (see `main.rs` for how to add one).

use std::{
    future::Future,
    io::{BufRead, BufReader, Write},
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    pin::Pin,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{
    helpers::{TestApp, app_with_sink},
    smtp_sink::SmtpSink,
};

/// The widths every page is checked and photographed at: a small phone and a laptop.
pub const WIDTHS: [u32; 2] = [375, 1280];
/// The window a journey runs in between checks.
const WINDOW: (u32, u32) = (1280, 900);
/// Full-page screenshots stop growing here.
const MAX_SCREENSHOT_HEIGHT: u32 = 6000;
/// A journey that takes longer has hung (a whole journey takes a few seconds).
const JOURNEY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a press or a link may take to bring the next page.
const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Javascript {
    Enabled,
    Disabled,
}

impl Javascript {
    fn describe(self) -> &'static str {
        match self {
            Self::Enabled => "JavaScript on",
            Self::Disabled => "JavaScript off",
        }
    }
}

/// Runs `journey` in a fresh server and browser, or prints why it is skipped. Called by
/// `journey!`; a panic in the journey saves a screenshot of where it stopped.
pub async fn run<F>(name: &'static str, javascript: Javascript, journey: F)
where
    F: for<'a> FnOnce(&'a mut Browser) -> Pin<Box<dyn Future<Output = ()> + 'a>>,
{
    let Some(mut browser) = Browser::start(name, javascript).await else {
        return;
    };
    let outcome = tokio::time::timeout(
        JOURNEY_TIMEOUT,
        AssertUnwindSafe(journey(&mut browser)).catch_unwind(),
    )
    .await;
    match outcome {
        Ok(Ok(())) => browser.close().await,
        Ok(Err(panic)) => {
            browser.save_failure().await;
            std::panic::resume_unwind(panic);
        }
        Err(_) => {
            browser.save_failure().await;
            panic!(
                "{name} ({}) did not finish within {JOURNEY_TIMEOUT:?}",
                javascript.describe()
            );
        }
    }
}

/// What the tests need from the machine, found once per test binary.
struct Tools {
    chromedriver: PathBuf,
    chromium: PathBuf,
    axe_source: String,
}

fn tools() -> &'static Result<Tools, Vec<String>> {
    static TOOLS: OnceLock<Result<Tools, Vec<String>>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let chromedriver = program("LUMBAR_CHROMEDRIVER", &["chromedriver"]);
        let chromium = program(
            "LUMBAR_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let axe_path = std::env::var_os("LUMBAR_AXE_CORE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/browser/node_modules/axe-core/axe.min.js")
            });
        let axe = std::fs::read_to_string(&axe_path).map_err(|err| {
            format!(
                "axe-core not readable at {} ({err}; `npm ci --prefix tests/browser`)",
                axe_path.display()
            )
        });
        match (chromedriver, chromium, axe) {
            (Ok(chromedriver), Ok(chromium), Ok(axe_source)) => Ok(Tools {
                chromedriver,
                chromium,
                axe_source,
            }),
            (chromedriver, chromium, axe) => Err([chromedriver.err(), chromium.err(), axe.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    })
}

/// The program `env` names, or the first of `names` on the PATH.
fn program(env: &str, names: &[&str]) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{env}={} does not exist", path.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("{} not found on PATH (or set {env})", names.join(" / ")))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Whether a missing browser skips the tests (a developer's machine) or fails them (CI).
fn browser_required() -> bool {
    match std::env::var("LUMBAR_BROWSER_TESTS").as_deref() {
        Ok("required") => true,
        Ok("auto") => false,
        Ok("") | Err(_) => std::env::var("CI").is_ok_and(|ci| ci == "true"),
        Ok(other) => panic!("LUMBAR_BROWSER_TESTS must be `required` or `auto`, not `{other}`"),
    }
}

/// chromedriver on a port of its own choosing, in a process group of its own, so that it and
/// every Chromium process it started end together even when a test panics.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    /// Starts chromedriver with `scratch` as its and Chromium's temporary directory.
    async fn start(program: &Path, scratch: &Path) -> Self {
        let mut command = Command::new(program);
        command
            .arg("--port=0")
            .env("TMPDIR", scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("start {}: {err}", program.display()));

        // It prints the port it bound ("... started successfully on port 41235."); the rest of
        // its output is read and dropped so that a full pipe never blocks it.
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, port) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((_, rest)) = line.split_once("successfully on port ") {
                    let port: Option<u16> = rest.trim_end_matches('.').trim().parse().ok();
                    if let (Some(found), Some(port)) = (found.take(), port) {
                        let _ = found.send(port);
                    }
                }
            }
        });
        let port = tokio::time::timeout(Duration::from_secs(20), port).await;
        // Made before the port is checked, so that a failure still ends the process.
        let mut driver = Self {
            child,
            url: String::new(),
        };
        match port {
            Ok(Ok(port)) => {
                driver.url = format!("http://127.0.0.1:{port}");
                driver
            }
            _ => panic!(
                "{} did not say which port it listens on within 20 s",
                program.display()
            ),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Ok(group) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group: the one this
            // ChromeDriver made for its own child, which has not been reaped yet.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One journey's server and browser tab. Fields drop in order: the browser first, then the
/// server (whose drop checks the outbox), then Chromium's directories.
pub struct Browser {
    client: Option<Client>,
    _driver: ChromeDriver,
    /// The server under test, with every email going to `sink`.
    pub app: TestApp,
    pub sink: SmtpSink,
    _scratch: TempDir,
    name: &'static str,
    javascript: Javascript,
    axe_source: &'static str,
    /// The address of the page shown, as of the last navigation, for messages.
    at: String,
}

impl Browser {
    async fn start(name: &'static str, javascript: Javascript) -> Option<Self> {
        let tools = match tools() {
            Ok(tools) => tools,
            Err(missing) if !browser_required() => {
                // Straight to stderr: the test harness hides `eprintln!` of a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped browser test {name} ({}): {} (see README, Browser tests)",
                    javascript.describe(),
                    missing.join("; ")
                );
                return None;
            }
            Err(missing) => panic!(
                "the browser tests are required here (CI=true or LUMBAR_BROWSER_TESTS=required) \
                 but {} (see README, Browser tests)",
                missing.join("; ")
            ),
        };

        // Chromium's profile and the files it leaves in TMPDIR, removed when the test ends.
        let scratch = tempfile::tempdir().expect("a temporary directory for Chromium");
        let (profile, temporary) = (scratch.path().join("profile"), scratch.path().join("tmp"));
        std::fs::create_dir_all(&temporary).expect("create Chromium's TMPDIR");
        // Chromium starts while the server migrates its database: both take a second or so.
        let server = async {
            let sink = SmtpSink::start().await;
            // The review queue looks for new cases often, so a journey need not wait long.
            let app = app_with_sink(&sink, &["--queue-refresh-seconds", "3"]).await;
            (sink, app)
        };
        let browser = async {
            let driver = ChromeDriver::start(&tools.chromedriver, &temporary).await;
            let client =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities(&tools.chromium, &profile, javascript))
                    .connect(&driver.url)
                    .await
                    .unwrap_or_else(|err| {
                        panic!(
                            "chromedriver could not start {}: {err}",
                            tools.chromium.display()
                        )
                    });
            client
                .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                    Some(Duration::from_secs(30)),
                    Some(Duration::from_secs(30)),
                    Some(Duration::ZERO),
                ))
                .await
                .expect("set the WebDriver timeouts");
            (driver, client)
        };
        let ((sink, app), (driver, client)) = tokio::join!(server, browser);

        let mut browser = Self {
            client: Some(client),
            _driver: driver,
            app,
            sink,
            _scratch: scratch,
            name,
            javascript,
            axe_source: &tools.axe_source,
            at: "about:blank".into(),
        };
        browser.resize(WINDOW.0, WINDOW.1).await;
        browser.check_javascript_setting().await;
        Some(browser)
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is open")
    }

    pub fn javascript(&self) -> Javascript {
        self.javascript
    }

    /// Ends the browser session (Chromium quits) before the server stops.
    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }

    /// A test that thinks JavaScript is off while it is on (or the reverse) proves nothing, so
    /// every journey first checks that the tab runs page scripts exactly when it should.
    async fn check_javascript_setting(&mut self) {
        self.client()
            .goto("about:blank")
            .await
            .expect("open a blank page");
        // WebDriver's own scripts run either way; a <script> element only when the page may.
        let ran = self
            .script(
                "const probe = document.createElement('script');
                 probe.textContent = 'document.documentElement.dataset.probe = \"ran\"';
                 document.head.appendChild(probe);
                 return document.documentElement.dataset.probe === 'ran';",
                vec![],
            )
            .await;
        assert_eq!(
            ran,
            json!(self.javascript == Javascript::Enabled),
            "this browser was meant to run with {}, but a page's own script {}",
            self.javascript.describe(),
            if ran == json!(true) {
                "ran"
            } else {
                "did not run"
            }
        );
    }

    async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|err| panic!("a WebDriver script failed on {}: {err}", self.here()))
    }

    /// The address of the page the browser shows, for messages.
    fn here(&self) -> &str {
        &self.at
    }

    async fn current_url(&self) -> String {
        self.client()
            .current_url()
            .await
            .map(|url| url.to_string())
            .unwrap_or_else(|err| format!("(unknown: {err})"))
    }

    async fn resize(&self, width: u32, height: u32) {
        self.client()
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|err| panic!("resize the window to {width}x{height}: {err}"));
    }

    // --- what a journey does -------------------------------------------------------------

    /// Opens a page of the server under test, as typing its address would.
    pub async fn open(&mut self, path: &str) {
        let url = self.app.url(path);
        self.client()
            .goto(&url)
            .await
            .unwrap_or_else(|err| panic!("open {url}: {err}"));
        self.at = self.current_url().await;
    }

    /// Types `value` into the form control that the label reading exactly `label` is for.
    pub async fn fill(&mut self, label: &str, value: &str) {
        let control = self.control_labelled(label).await;
        type_into(&control, value, label).await;
    }

    /// The form control that the label reading exactly `label` is for.
    async fn control_labelled(&self, label: &str) -> Element {
        let label_element = self
            .only(
                &format!("//label[normalize-space(.)={}]", xpath_literal(label)),
                &format!("the label {label:?}"),
            )
            .await;
        match label_element.attr("for").await.ok().flatten() {
            Some(id) => self
                .client()
                .find(Locator::Id(&id))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "the label {label:?} is for #{id}, which is not on {}",
                        self.here()
                    )
                }),
            None => label_element
                .find(Locator::Css("input, select, textarea"))
                .await
                .unwrap_or_else(|_| {
                    panic!("the label {label:?} has neither `for` nor a control inside it")
                }),
        }
    }

    /// Chooses, in the drop-down labelled `label`, the option whose text starts with `option`.
    pub async fn choose(&mut self, label: &str, option: &str) {
        let select = self.control_labelled(label).await;
        let choice = select
            .find(Locator::XPath(&format!(
                ".//option[starts-with(normalize-space(.), {})]",
                xpath_literal(option)
            )))
            .await
            .unwrap_or_else(|_| panic!("{label:?} has no option {option:?} on {}", self.here()));
        choice
            .click()
            .await
            .unwrap_or_else(|err| panic!("choose {option:?} in {label:?}: {err}"));
    }

    /// Ticks the radio button or checkbox `name` whose value is `value`, by clicking its label
    /// as a person would.
    pub async fn tick(&mut self, name: &str, value: &str) {
        let input = self
            .only(
                &format!(
                    "//input[@name={} and @value={}]",
                    xpath_literal(name),
                    xpath_literal(value)
                ),
                &format!("the choice {name}={value}"),
            )
            .await;
        let id = input
            .attr("id")
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("the choice {name}={value} has no id for its label"));
        let label = self
            .only(
                &format!("//label[@for={}]", xpath_literal(&id)),
                &format!("the label of {name}={value}"),
            )
            .await;
        label
            .click()
            .await
            .unwrap_or_else(|err| panic!("tick {name}={value} on {}: {err}", self.here()));
        assert!(
            input.is_selected().await.unwrap_or(false),
            "clicking the label of {name}={value} ticked it"
        );
    }

    /// The names of the radio buttons and checkboxes shown, in page order, each once.
    pub async fn choice_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for input in self
            .displayed("//input[@type='radio' or @type='checkbox']")
            .await
        {
            let name = input.attr("name").await.ok().flatten().unwrap_or_default();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Follows the first displayed link that `xpath` matches (a list of days or times).
    pub async fn follow_first(&mut self, xpath: &str) {
        let link = self
            .displayed(xpath)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no link {xpath} on {}", self.here()));
        let from = self.current_url().await;
        let old_page = self.document().await;
        link.click()
            .await
            .unwrap_or_else(|err| panic!("follow {xpath} on {from}: {err}"));
        self.wait_for_next_page(old_page, &format!("following {xpath} on {from}"))
            .await;
    }

    /// Whether the page shows an element with this id.
    pub async fn has_id(&self, id: &str) -> bool {
        !self
            .displayed(&format!("//*[@id={}]", xpath_literal(id)))
            .await
            .is_empty()
    }

    /// Whether the page's heading reads `text`.
    pub async fn heading_is(&self, text: &str) -> bool {
        let mut found = Vec::new();
        for heading in self.displayed("//h1").await {
            found.push(normalise(&heading.text().await.unwrap_or_default()));
        }
        found == [normalise(text)]
    }

    /// Types `value` into the control with this id (for a control whose label is shared).
    pub async fn fill_id(&mut self, id: &str, value: &str) {
        let control = self
            .only(
                &format!("//*[@id={}]", xpath_literal(id)),
                &format!("#{id}"),
            )
            .await;
        type_into(&control, value, id).await;
    }

    /// Presses the button reading `text` and waits for the page it leads to.
    pub async fn press(&mut self, text: &str) {
        let literal = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space(.)={literal}] | \
             //input[(@type='submit' or @type='button') and @value={literal}]"
        );
        self.press_matching(&xpath, text).await;
    }

    /// Presses the one button whose text starts with `label` and names `subject` (a list's
    /// buttons say whose they are to a screen reader: "Check in: Alex Morgan, 09:00").
    pub async fn press_for(&mut self, label: &str, subject: &str) {
        let xpath = format!(
            "//button[starts-with(normalize-space(.), {}) and contains(., {})]",
            xpath_literal(label),
            xpath_literal(subject)
        );
        self.press_matching(&xpath, &format!("{label} … {subject}"))
            .await;
    }

    async fn press_matching(&mut self, xpath: &str, text: &str) {
        let button = self.only(xpath, &format!("the button {text:?}")).await;
        let from = self.current_url().await;
        let old_page = self.document().await;
        button
            .click()
            .await
            .unwrap_or_else(|err| panic!("press {text:?} on {from}: {err}"));
        self.wait_for_next_page(old_page, &format!("pressing {text:?} on {from}"))
            .await;
    }

    /// Follows the link reading `text` to another page. Links with the same text must lead to
    /// the same place (the header's "Log in" and the page's may both be there).
    pub async fn follow(&mut self, text: &str) {
        let link = self.link(text).await;
        let from = self.current_url().await;
        let old_page = self.document().await;
        link.click()
            .await
            .unwrap_or_else(|err| panic!("follow {text:?} on {from}: {err}"));
        self.wait_for_next_page(old_page, &format!("following {text:?} on {from}"))
            .await;
    }

    /// Clicks a link that stays on this page (such as the error summary's).
    pub async fn click_link(&mut self, text: &str) {
        let link = self.link(text).await;
        link.click()
            .await
            .unwrap_or_else(|err| panic!("click {text:?} on {}: {err}", self.here()));
    }

    async fn link(&self, text: &str) -> Element {
        let links = self
            .displayed(&format!("//a[normalize-space(.)={}]", xpath_literal(text)))
            .await;
        let mut targets = Vec::new();
        for link in &links {
            targets.push(link.attr("href").await.ok().flatten().unwrap_or_default());
        }
        targets.dedup();
        match (links.into_iter().next(), targets.len()) {
            (Some(link), 1) => link,
            (None, _) => panic!("no link {text:?} on {}", self.here()),
            (Some(_), _) => panic!(
                "links reading {text:?} lead to different places on {}: {targets:?}",
                self.here()
            ),
        }
    }

    /// The value typed into or kept in the control with this id.
    pub async fn value_of(&self, id: &str) -> String {
        let control = self
            .client()
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|_| panic!("no #{id} on {}", self.here()));
        control
            .prop("value")
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// The page's one `h1` reads `text`.
    pub async fn expect_heading(&self, text: &str) {
        let headings = self.displayed("//h1").await;
        let mut found = Vec::new();
        for heading in &headings {
            found.push(normalise(&heading.text().await.unwrap_or_default()));
        }
        assert!(
            found == [normalise(text)],
            "expected the one heading {text:?} on {}, found {found:?}",
            self.here()
        );
    }

    /// The page shows `text` (whitespace-insensitive; hidden text does not count).
    pub async fn expect_text(&self, text: &str) {
        let shown = self.visible_text().await;
        assert!(
            shown.contains(&normalise(text)),
            "expected {text:?} on {}; the page reads:\n{shown}",
            self.here()
        );
    }

    /// Waits, without touching the page, until it shows `text`: something the page does by
    /// itself (a script's update, or a reload it asks for) brings it.
    pub async fn wait_for_text(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let wanted = normalise(text);
        loop {
            // A page that is reloading has no body for a moment: that is not yet.
            let shown = match self.client().find(Locator::Css("body")).await {
                Ok(body) => normalise(&body.text().await.unwrap_or_default()),
                Err(_) => String::new(),
            };
            if shown.contains(&wanted) {
                self.at = self.current_url().await;
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{text:?} did not appear on {} within {within:?}; the page reads:\n{shown}",
                    self.here()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The address of the page shown.
    pub async fn address(&self) -> String {
        self.current_url().await
    }

    /// Whether the browser shows the page at `path` (path and query of this server).
    pub async fn here_is(&self, path: &str) -> bool {
        self.current_url().await == self.app.url(path)
    }

    /// Marks the page shown (WebDriver's own script, so with JavaScript off too), for
    /// [`Browser::still_the_marked_page`] to tell whether it was reloaded or left since.
    pub async fn mark_page(&self) {
        self.script(
            "document.documentElement.dataset.journeyMark = 'kept'; return true;",
            vec![],
        )
        .await;
    }

    /// Whether the page shown is the one [`Browser::mark_page`] marked.
    pub async fn still_the_marked_page(&self) -> bool {
        self.script(
            "return document.documentElement.dataset.journeyMark === 'kept';",
            vec![],
        )
        .await
            == json!(true)
    }

    /// The page does not show `text`.
    pub async fn expect_no_text(&self, text: &str) {
        let shown = self.visible_text().await;
        assert!(
            !shown.contains(&normalise(text)),
            "did not expect {text:?} on {}; the page reads:\n{shown}",
            self.here()
        );
    }

    async fn visible_text(&self) -> String {
        let body = self
            .client()
            .find(Locator::Css("body"))
            .await
            .expect("a page has a body");
        normalise(&body.text().await.unwrap_or_default())
    }

    /// The element that has keyboard focus (the body when none has).
    pub async fn focused(&self) -> Element {
        self.client()
            .active_element()
            .await
            .expect("WebDriver knows the focused element")
    }

    /// Keyboard focus is on the element with this id (waiting a moment: focus may follow a
    /// click by a task).
    pub async fn expect_focus_on(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let focused = self.focused().await;
            let focused_id = focused.attr("id").await.ok().flatten();
            if focused_id.as_deref() == Some(id) {
                return;
            }
            if Instant::now() >= deadline {
                let tag = focused.tag_name().await.unwrap_or_default();
                panic!(
                    "expected focus on #{id} on {}; it is on <{tag}> {}",
                    self.here(),
                    focused_id.map(|id| format!("#{id}")).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The elements matching `xpath` that are displayed.
    pub async fn displayed(&self, xpath: &str) -> Vec<Element> {
        let all = self
            .client()
            .find_all(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|err| panic!("look for {xpath} on {}: {err}", self.here()));
        let mut shown = Vec::new();
        for element in all {
            if element.is_displayed().await.unwrap_or(false) {
                shown.push(element);
            }
        }
        shown
    }

    async fn only(&self, xpath: &str, what: &str) -> Element {
        let mut found = self.displayed(xpath).await;
        match found.len() {
            1 => found.remove(0),
            0 => panic!("no {what} on {}", self.here()),
            n => panic!("{n} of {what} on {}; expected one", self.here()),
        }
    }

    async fn document(&self) -> Element {
        self.client()
            .find(Locator::Css("html"))
            .await
            .expect("a page has an html element")
    }

    /// Waits until the page's root element is no longer `old_page`'s: the next page has
    /// replaced it. (An element reference names its document, so a new page has a new one.)
    /// Errors while the old page goes away are expected and only end the wait at the deadline.
    async fn wait_for_next_page(&mut self, old_page: Element, what: &str) {
        let deadline = Instant::now() + NAVIGATION_TIMEOUT;
        loop {
            let error = match self.client().find(Locator::Css("html")).await {
                Ok(page) if page.element_id() != old_page.element_id() => {
                    self.at = self.current_url().await;
                    return;
                }
                Ok(_) => None,
                Err(err) => Some(err),
            };
            if Instant::now() >= deadline {
                panic!(
                    "{what} did not lead to a new page within {NAVIGATION_TIMEOUT:?}; still on {}{}",
                    self.here(),
                    error.map(|err| format!(" ({err})")).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Delivers the queued emails, and returns the path (with query) of the link in the newest
    /// one to `recipient` whose link starts with `path`, e.g. `/verify-email?token=`.
    pub async fn emailed_link(&self, recipient: &str, path: &str) -> String {
        self.app
            .worker()
            .run_once()
            .await
            .expect("deliver the queued emails");
        let text = self
            .sink
            .received()
            .into_iter()
            .rev()
            .filter(|mail| mail.rcpt_to.iter().any(|to| to == recipient))
            .map(|mail| mail.text())
            .find(|text| text.contains(path))
            .unwrap_or_else(|| panic!("no email to {recipient} with a link to {path}"));
        let word = text
            .split_whitespace()
            .find(|word| word.contains(path))
            .expect("the link is one word");
        let start = word.find("http").unwrap_or(0);
        let link = url::Url::parse(word[start..].trim_end_matches(['.', ',', ')', '>']))
            .unwrap_or_else(|err| panic!("the emailed link {word:?} is not a URL: {err}"));
        assert!(
            link.path()
                .starts_with(path.split('?').next().unwrap_or(path)),
            "{link} does not lead to {path}"
        );
        match link.query() {
            Some(query) => format!("{}?{query}", link.path()),
            None => link.path().to_owned(),
        }
    }

    // --- accessibility and screenshots ---------------------------------------------------

    /// Runs axe-core on the page at each of [`WIDTHS`] and fails on any serious or critical
    /// violation, naming the rule, the element and where the rule is explained.
    pub async fn check_accessibility(&mut self, page: &str) {
        let url = self.current_url().await;
        let mut problems = Vec::new();
        let mut minor = Vec::new();
        for width in WIDTHS {
            self.resize(width, WINDOW.1).await;
            for violation in self.axe().await {
                for node in &violation.nodes {
                    let line = format!(
                        "  {width} px  [{}] {}: {}\n      element: {}\n      {}\n      {}",
                        violation.impact.as_deref().unwrap_or("?"),
                        violation.id,
                        violation.help,
                        node.target,
                        node.summary.replace('\n', "\n      "),
                        violation.help_url,
                    );
                    match violation.impact.as_deref() {
                        Some("serious" | "critical") => problems.push(line),
                        _ => minor.push(line),
                    }
                }
            }
        }
        self.resize(WINDOW.0, WINDOW.1).await;
        if !minor.is_empty() {
            // Shown with --nocapture or when the test fails; they do not fail it.
            eprintln!(
                "axe-core, moderate or minor, on {page} ({}):\n{}",
                self.javascript.describe(),
                minor.join("\n")
            );
        }
        assert!(
            problems.is_empty(),
            "axe-core found serious or critical accessibility problems on the {page} page \
             ({url}, {}):\n{}",
            self.javascript.describe(),
            problems.join("\n")
        );
    }

    async fn axe(&self) -> Vec<Violation> {
        let loaded = self
            .script("return typeof window.axe === 'object';", vec![])
            .await;
        if loaded != json!(true) {
            // WebDriver's scripts are not subject to the page's Content-Security-Policy, so
            // axe goes in as the page is, with no change to what the server sends.
            self.script(&format!("{}\n;return true;", self.axe_source), vec![])
                .await;
        }
        let found = self
            .script(
                AXE_RUN,
                vec![json!(self.javascript == Javascript::Disabled)],
            )
            .await;
        serde_json::from_value(found).expect("axe-core's violations")
    }

    /// Saves the page as PNG at each of [`WIDTHS`], full length, as `<page>-<width>.png` (with
    /// `-nojs` when JavaScript is off) in [`screenshot_dir`].
    pub async fn screenshot(&mut self, page: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("create {}: {err}", dir.display()));
        for width in WIDTHS {
            self.resize(width, WINDOW.1).await;
            // The window is taller than the page's viewport by the browser's own frame.
            let measured = self
                .script(
                    "return [document.documentElement.scrollHeight, window.innerHeight];",
                    vec![],
                )
                .await;
            let [page_height, viewport] = [0, 1].map(|i| {
                measured[i]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .expect("heights in pixels")
            });
            let frame = WINDOW.1.saturating_sub(viewport);
            let height = page_height.clamp(1, MAX_SCREENSHOT_HEIGHT) + frame;
            self.resize(width, height).await;
            let png = self
                .client()
                .screenshot()
                .await
                .unwrap_or_else(|err| panic!("screenshot of {page}: {err}"));
            let suffix = match self.javascript {
                Javascript::Enabled => "",
                Javascript::Disabled => "-nojs",
            };
            write_atomically(&dir.join(format!("{page}-{width}{suffix}.png")), &png);
        }
        self.resize(WINDOW.0, WINDOW.1).await;
    }

    /// After a failure: the page as it was, to look at, and where it was.
    async fn save_failure(&mut self) {
        let Some(client) = self.client.as_ref() else {
            return;
        };
        let url = self.current_url().await;
        let suffix = match self.javascript {
            Javascript::Enabled => "js",
            Javascript::Disabled => "nojs",
        };
        let path = screenshot_dir().join(format!("failed-{}-{suffix}.png", self.name));
        if let Ok(png) = client.screenshot().await
            && std::fs::create_dir_all(screenshot_dir()).is_ok()
        {
            write_atomically(&path, &png);
            eprintln!(
                "the journey stopped on {url}; screenshot: {}",
                path.display()
            );
        } else {
            eprintln!("the journey stopped on {url}");
        }
    }
}

/// axe.run on the whole page; the violations, trimmed to what a failure message shows.
///
/// With JavaScript off, the page's timers never fire, and axe uses `setTimeout(fn, 0)` to
/// yield between rules: for the run, such a timer becomes a promise job (which still runs).
/// Longer timers are axe's own time limits for frames and preloading; without frames they
/// never matter, so they are dropped rather than left to hang.
const AXE_RUN: &str = r#"
const javascriptOff = arguments[0];
const realSetTimeout = window.setTimeout;
const realClearTimeout = window.clearTimeout;
if (javascriptOff) {
  window.setTimeout = (callback, delay) => {
    if (!(delay > 1)) { Promise.resolve().then(callback); }
    return 0;
  };
  window.clearTimeout = () => {};
}
const restore = () => {
  window.setTimeout = realSetTimeout;
  window.clearTimeout = realClearTimeout;
};
return axe.run(document, { resultTypes: ["violations"] }).then(
  (results) => {
    restore();
    return results.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      helpUrl: violation.helpUrl,
      nodes: violation.nodes.map((node) => ({
        target: node.target.join(" "),
        summary: node.failureSummary || "",
      })),
    }));
  },
  (error) => { restore(); throw error; },
);
"#;

#[derive(Debug, Deserialize)]
struct Violation {
    id: String,
    impact: Option<String>,
    help: String,
    #[serde(rename = "helpUrl")]
    help_url: String,
    nodes: Vec<ViolationNode>,
}

#[derive(Debug, Deserialize)]
struct ViolationNode {
    target: String,
    summary: String,
}

/// `$LUMBAR_SCREENSHOT_DIR`, or `screenshots/` in the target directory.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("LUMBAR_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // CARGO_TARGET_TMPDIR is <target dir>/tmp.
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("the target directory")
                .join("screenshots")
        })
}

/// Writes `bytes` so that a reader (or a parallel run writing the same name) never sees half.
fn write_atomically(path: &Path, bytes: &[u8]) {
    let partial = path.with_extension(format!("{}.partial", uuid::Uuid::now_v7().simple()));
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
}

fn capabilities(
    chromium: &Path,
    profile: &Path,
    javascript: Javascript,
) -> fantoccini::wd::Capabilities {
    let mut prefs = json!({
        // No password manager prompts or leak checks over the page.
        "credentials_enable_service": false,
        "profile.password_manager_enabled": false,
        "profile.password_manager_leak_detection": false,
    });
    if javascript == Javascript::Disabled {
        // The setting a person changes to turn JavaScript off.
        prefs["profile.managed_default_content_settings.javascript"] = json!(2);
    }
    let capabilities = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new",
                // The tests may run as root (CI), where Chromium's sandbox cannot start; the
                // pages are our own, on loopback.
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                // Overlay scrollbars, as on a phone: the page gets the whole width.
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                "--lang=en-GB",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-component-update",
                "--disable-background-networking",
                "--disable-sync",
                format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": prefs,
        },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}

async fn type_into(control: &Element, value: &str, what: &str) {
    control
        .clear()
        .await
        .unwrap_or_else(|err| panic!("clear {what:?}: {err}"));
    control
        .send_keys(value)
        .await
        .unwrap_or_else(|err| panic!("type into {what:?}: {err}"));
}

/// `text` as an XPath string literal (XPath 1 has no escapes).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|part| format!("'{part}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
