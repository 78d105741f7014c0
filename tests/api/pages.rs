//! The account pages over HTTP (issue 15): the start page, register and the emailed
//! confirmation link, log in and out, the session cookie, accepting an invitation, confirming a
//! new address; CSRF refusal, the error summary, security headers and HTML errors.

use std::collections::BTreeMap;

use entity::user::Role;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::{
    helpers::{TEST_PASSWORD, TestApp, app_with_sink},
    intakes::call_ok,
    smtp_sink::SmtpSink,
};

/// A browser without JavaScript: keeps cookies, does not follow redirects, submits forms with
/// the CSRF token of the last page it read. A clone is another tab of the same browser.
#[derive(Clone)]
pub struct Browser<'a> {
    pub app: &'a TestApp,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    csrf: Option<String>,
}

/// A page as the browser received it.
pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub html: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// The HTML with minijinja's escapes of `/` and `&` turned back, for searching text.
    pub fn text(&self) -> String {
        self.html
            .replace("&#x2f;", "/")
            .replace("&amp;", "&")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
    }

    /// The value of the (hidden) field `name` in the page's form.
    pub fn field(&self, name: &str) -> String {
        let text = self.text();
        let marker = format!("name=\"{name}\" value=\"");
        let start = text
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name}:\n{}", self.html))
            + marker.len();
        text[start..].split('"').next().unwrap().to_owned()
    }

    /// The fields `names` of the page's form, as a browser would post them.
    pub fn fields(&self, names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|name| ((*name).to_owned(), self.field(name)))
            .collect()
    }

    pub fn assert_contains(&self, expected: &str) {
        assert!(
            self.text().contains(expected),
            "expected {expected:?} in the page ({}):\n{}",
            self.status,
            self.html
        );
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            csrf: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header(header::COOKIE, self.cookie_header())
        };
        let response = request.send().await.unwrap();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.into(), value.into());
            }
        }
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.unwrap(),
        };
        if let Some(token) = csrf_token(&page.html) {
            self.csrf = Some(token);
        }
        page
    }

    /// `email` (with the test password) signed in on a fresh browser.
    pub async fn signed_in(app: &'a TestApp, email: &str) -> Self {
        let mut browser = Self::new(app);
        browser.get("/login").await;
        let page = browser
            .submit("/login", &[("email", email), ("password", TEST_PASSWORD)])
            .await;
        assert_eq!(page.status, 303, "sign in as {email}: {}", page.html);
        browser
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(self.app.url(path));
        self.send(request).await
    }

    /// Submits `fields` to `path` with the CSRF token of the last page read.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        let token = self
            .csrf
            .clone()
            .expect("a page with a form was read first");
        form.push(("csrf_token", &token));
        self.post_form(path, &form).await
    }

    /// [`Browser::submit`] with fields read from a page.
    pub async fn submit_owned(&mut self, path: &str, fields: &[(String, String)]) -> Page {
        let borrowed: Vec<(&str, &str)> = fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        self.submit(path, &borrowed).await
    }

    /// Posts `fields` exactly as given (no CSRF token added).
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .client
            .post(self.app.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }
}

/// The CSRF token in the page's forms.
fn csrf_token(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&#x2f;", "/")
            .replace("&#x3d;", "="),
    )
}

/// Delivers what is queued and returns the token of the newest link to `recipient` that
/// follows `marker` (e.g. `/verify-email?token=`).
async fn emailed_token(app: &TestApp, sink: &SmtpSink, recipient: &str, marker: &str) -> String {
    app.worker().run_once().await.unwrap();
    let mail = sink
        .received()
        .into_iter()
        .rev()
        .find(|mail| mail.rcpt_to.iter().any(|to| to == recipient) && mail.text().contains(marker))
        .unwrap_or_else(|| panic!("no email to {recipient} with {marker}"));
    mail.token_after(marker)
}

fn registration<'a>(email: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("given_name", "Jordan"),
        ("family_name", "Reyes"),
        ("email", email),
        ("birth_day", "14"),
        ("birth_month", "3"),
        ("birth_year", "1979"),
        ("password", password),
    ]
}

#[tokio::test]
async fn the_start_page_is_html_with_a_strict_policy_and_its_own_assets() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    page.assert_contains("Create an account");
    page.assert_contains("call your local emergency number");
    // Nothing from another origin, nothing inline.
    assert!(!page.html.contains("http://") && !page.html.contains("https://"));
    assert!(!page.html.contains("<script>") && !page.html.contains("style=\""));

    for (asset, kind) in [
        ("/assets/lumbar.css", "text/css"),
        ("/assets/lumbar.js", "text/javascript"),
    ] {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{asset}: {content_type}");
    }
    assert_eq!(app.get("/assets/nothing.css").await.status(), 404);
}

#[tokio::test]
async fn unknown_pages_are_html_and_unknown_api_paths_stay_json() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/no-such-page").await;
    assert_eq!(page.status, 404);
    page.assert_contains("Page not found");
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let api = app.get("/api/v1/no-such-thing").await;
    assert_eq!(api.status(), 404);
    assert_eq!(
        api.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_does_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let mut browser = Browser::new(&app);
    browser.get("/register").await;
    let form = registration("csrf@example.org", "a long enough password");

    let refused = browser.post_form("/register", &form).await;
    assert_eq!(refused.status, 403);
    refused.assert_contains("This form has expired");
    let mut forged = form.clone();
    forged.push(("csrf_token", "bm90IGEgdG9rZW4="));
    let refused = browser.post_form("/register", &forged).await;
    assert_eq!(refused.status, 403);
    // Another browser's cookie-less post with a token it read elsewhere is refused too.
    let token = browser.csrf.clone().unwrap();
    let mut stranger = Browser::new(&app);
    let mut stolen = form.clone();
    stolen.push(("csrf_token", &token));
    assert_eq!(stranger.post_form("/register", &stolen).await.status, 403);

    app.worker().run_once().await.unwrap();
    assert!(sink.received().is_empty(), "nothing was registered");
    let login = browser
        .post_form("/login", &[("email", "a@b.org"), ("password", "x")])
        .await;
    assert_eq!(login.status, 403, "the login form is protected too");
}

#[tokio::test]
async fn a_new_patient_registers_confirms_by_email_logs_in_and_out() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let mut browser = Browser::new(&app);
    let email = "jordan.reyes@example.org";

    let form = browser.get("/register").await;
    assert_eq!(form.status, 200);
    for label in ["First name", "Last name", "Email address", "Date of birth"] {
        form.assert_contains(label);
    }

    // Everything wrong at once: each problem is listed and linked to its field.
    let wrong = browser
        .submit(
            "/register",
            &[
                ("given_name", ""),
                ("family_name", "Reyes"),
                ("email", "not an address"),
                ("birth_day", "31"),
                ("birth_month", "2"),
                ("birth_year", "1979"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    wrong.assert_contains("There is a problem");
    for field in ["given_name", "email", "date_of_birth", "password"] {
        wrong.assert_contains(&format!("<a href=\"#{field}\">"));
    }
    wrong.assert_contains("value=\"Reyes\"");
    assert!(
        !wrong.html.contains("value=\"short\""),
        "passwords are never echoed"
    );

    let done = browser
        .submit("/register", &registration(email, "my own long password"))
        .await;
    assert_eq!(done.status, 200);
    done.assert_contains("Check your email");

    // Logging in before confirming says what to do.
    browser.get("/login").await;
    let early = browser
        .submit(
            "/login",
            &[("email", email), ("password", "my own long password")],
        )
        .await;
    assert_eq!(early.status, 403);
    early.assert_contains("confirm your email address first");

    let token = emailed_token(&app, &sink, email, "/verify-email?token=").await;
    // Opening the link only shows a button: a mail scanner's visit confirms nothing.
    let link = browser.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(link.status, 200);
    link.assert_contains("Confirm my email address");
    let confirmed = browser.submit("/verify-email", &[("token", &token)]).await;
    assert_eq!(confirmed.status, 200);
    confirmed.assert_contains("Your email address is confirmed");
    let again = browser.submit("/verify-email", &[("token", &token)]).await;
    assert_eq!(again.status, 400);
    again.assert_contains("expired or was used already");

    browser.get("/login").await;
    let wrong_password = browser
        .submit(
            "/login",
            &[("email", email), ("password", "not my password")],
        )
        .await;
    assert_eq!(wrong_password.status, 401);
    wrong_password.assert_contains("The email or password is not correct.");
    wrong_password.assert_contains(&format!("value=\"{email}\""));

    let signed_in = browser
        .submit(
            "/login",
            &[("email", email), ("password", "my own long password")],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location(), "/");
    let cookie = signed_in
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|value| value.starts_with("lumbar_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http in tests: {cookie}");

    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    account.assert_contains("Jordan Reyes");
    account.assert_contains(email);
    account.assert_contains("14 March 1979");
    browser
        .get("/")
        .await
        .assert_contains("Welcome back, Jordan Reyes");

    let out = browser.submit("/logout", &[]).await;
    assert_eq!(out.status, 303);
    let after = browser.get("/account").await;
    assert_eq!(after.status, 303);
    assert_eq!(after.location(), "/login?next=%2Faccount");
}

#[tokio::test]
async fn a_session_ends_when_the_account_is_disabled_and_cannot_be_replayed_after_logout() {
    let app = TestApp::spawn().await;
    let (user_id, _) = app.add_patient("kim@example.org").await;
    let mut browser = Browser::new(&app);
    browser.get("/login?next=/account").await;
    let signed_in = browser
        .submit(
            "/login?next=/account",
            &[("email", "kim@example.org"), ("password", TEST_PASSWORD)],
        )
        .await;
    assert_eq!(signed_in.location(), "/account");
    assert_eq!(browser.get("/account").await.status, 200);

    // A copy of the cookie stops working once its owner logs out.
    let copied = browser.cookies.clone();
    browser.get("/").await;
    browser.submit("/logout", &[]).await;
    let mut replay = Browser::new(&app);
    replay.cookies = copied;
    assert_eq!(replay.get("/account").await.status, 303);

    // Signed in again, then disabled by an admin: the session ends at once.
    browser.get("/login").await;
    browser
        .submit(
            "/login",
            &[("email", "kim@example.org"), ("password", TEST_PASSWORD)],
        )
        .await;
    assert_eq!(browser.get("/account").await.status, 200);
    let admin = app.access_token(Role::Admin).await;
    call_ok(
        &app,
        Method::POST,
        &format!("/api/v1/users/{user_id}/disable"),
        &admin,
        None,
    )
    .await;
    assert_eq!(browser.get("/account").await.status, 303);
}

#[tokio::test]
async fn login_goes_back_only_to_a_page_of_this_site() {
    let app = TestApp::spawn().await;
    app.add_patient("sam@example.org").await;
    for (next, expected) in [
        ("/account", "/account"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let mut browser = Browser::new(&app);
        browser.get("/login").await;
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish();
        let page = browser
            .submit(
                &format!("/login?{query}"),
                &[("email", "sam@example.org"), ("password", TEST_PASSWORD)],
            )
            .await;
        assert_eq!(page.status, 303, "{next}");
        assert_eq!(page.location(), expected, "{next}");
    }
}

#[tokio::test]
async fn an_invited_patient_sets_a_password_on_the_invitation_page() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let desk = app.access_token(Role::Staff).await;
    let created = call_ok(
        &app,
        Method::POST,
        "/api/v1/patients",
        &desk,
        Some(json!({"given_name": "Lou", "family_name": "Park",
                    "date_of_birth": "1970-01-01", "email": "lou@example.org"})),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    call_ok(
        &app,
        Method::POST,
        &format!("/api/v1/patients/{id}/invite"),
        &desk,
        None,
    )
    .await;
    let token = emailed_token(&app, &sink, "lou@example.org", "/accept-invitation?token=").await;

    let mut browser = Browser::new(&app);
    let incomplete = browser.get("/accept-invitation").await;
    assert_eq!(incomplete.status, 400);
    incomplete.assert_contains("This link is incomplete");

    let page = browser
        .get(&format!("/accept-invitation?token={token}"))
        .await;
    assert_eq!(page.status, 200);
    page.assert_contains("Choose a password");
    let weak = browser
        .submit(
            "/accept-invitation",
            &[("token", &token), ("password", "short")],
        )
        .await;
    assert_eq!(weak.status, 422);
    weak.assert_contains("<a href=\"#password\">");
    let set = browser
        .submit(
            "/accept-invitation",
            &[("token", &token), ("password", "lou's long password")],
        )
        .await;
    assert_eq!(set.status, 200);
    set.assert_contains("Your password is set");

    browser.get("/login").await;
    let signed_in = browser
        .submit(
            "/login",
            &[
                ("email", "lou@example.org"),
                ("password", "lou's long password"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert!(browser.has_cookie("lumbar_session"));
}

#[tokio::test]
async fn a_new_address_is_confirmed_on_its_page() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let (_, patient_id) = app.add_patient("ren@example.org").await;
    let token = app.login("ren@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    call_ok(
        &app,
        Method::PATCH,
        &format!("/api/v1/patients/{patient_id}"),
        &token,
        Some(json!({"email": "ren.new@example.org"})),
    )
    .await;
    let link = emailed_token(&app, &sink, "ren.new@example.org", "/confirm-email?token=").await;

    let mut browser = Browser::new(&app);
    browser.get("/login").await;
    browser
        .submit(
            "/login",
            &[("email", "ren@example.org"), ("password", TEST_PASSWORD)],
        )
        .await;
    let details = browser.get("/account").await;
    details.assert_contains("waiting for you to confirm it");
    details.assert_contains("ren.new@example.org");

    let page = browser.get(&format!("/confirm-email?token={link}")).await;
    assert_eq!(page.status, 200);
    let done = browser.submit("/confirm-email", &[("token", &link)]).await;
    assert_eq!(done.status, 200);
    done.assert_contains("Your new email address is confirmed");
    let details = browser.get("/account").await;
    assert!(!details.text().contains("waiting for you to confirm it"));
    details.assert_contains("ren.new@example.org");
}
