//! The pages: what patients (and, later, the clinic's staff) use in a browser, served by the same
//! binary on the same use cases as the JSON API (`service`). Handlers here only read a form or a
//! query, call a use case and render its outcome; no rule lives in a page.
//!
//! Pages are rendered on the server (minijinja, templates embedded in the binary) and styled by
//! our own stylesheet; every journey works without JavaScript. Every page answers with a strict
//! Content-Security-Policy (nothing inline, nothing from another origin) and may not be framed.
//! A signed-in browser holds an HttpOnly session cookie naming a server-side session
//! ([`session`]); every form carries a CSRF token, checked before any handler runs.

mod account;
mod admin;
mod assets;
mod booking;
mod chart;
mod desk;
mod follow_up;
pub mod form;
mod intake;
mod password;
mod patients;
mod practitioner;
pub mod questionnaire_form;
mod render;
mod review;
pub mod session;
mod setup;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Middleware, Request, Response, Route,
    endpoint::BoxEndpoint,
    get,
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Csrf,
    session::ServerSession,
    web::{CsrfToken, CsrfVerifier},
};

pub use render::Pages;

use crate::app::AppState;

/// The name of the hidden field every form carries its CSRF token in.
pub const CSRF_FIELD: &str = "csrf_token";
/// The CSRF cookie's name.
pub const CSRF_COOKIE: &str = "lumbar_csrf";

/// Every page route, with sessions, CSRF protection and the security headers.
pub fn routes(state: &AppState) -> BoxEndpoint<'static> {
    let secure = state.config.public_base_url().scheme() == "https";
    let pages = Route::new()
        .at("/", get(account::home))
        .at("/login", get(account::login_page).post(account::login))
        .at("/logout", poem::post(account::logout))
        .at(
            "/register",
            get(account::register_page).post(account::register),
        )
        .at(
            "/verify-email",
            get(account::verify_email_page).post(account::verify_email),
        )
        .at(
            "/confirm-email",
            get(account::confirm_email_page).post(account::confirm_email),
        )
        .at(
            "/accept-invitation",
            get(account::accept_invitation_page).post(account::accept_invitation),
        )
        .at("/account", get(account::account_page))
        .at("/account/password", poem::post(password::change_password))
        .at("/account/email", poem::post(password::change_email))
        .at(
            "/forgot-password",
            get(password::forgot_page).post(password::forgot),
        )
        .at(
            "/reset-password",
            get(password::reset_page).post(password::reset),
        )
        .at(
            "/follow-ups/:token",
            get(follow_up::page).post(follow_up::submit),
        )
        .at("/intake", get(intake::start_page).post(intake::start))
        .at(
            "/intake/:id/section/:section",
            get(intake::section_page).post(intake::save_section),
        )
        .at(
            "/intake/:id/send",
            get(intake::send_page).post(intake::send),
        )
        .at("/intake/:id/result", get(intake::result_page))
        .at("/intake/:id/emergency", get(intake::emergency_page))
        .at("/desk", get(desk::day_page))
        .at(
            "/desk/appointments/:id/status",
            poem::post(desk::change_status),
        )
        .at(
            "/desk/patients",
            get(patients::search_page).post(patients::create),
        )
        .at(
            "/desk/patients/:id",
            get(patients::patient_page).post(patients::update),
        )
        .at("/desk/patients/:id/invite", poem::post(patients::invite))
        .at("/desk/book", get(patients::book_page).post(patients::book))
        .at("/reviews", get(review::queue_page))
        .at("/admin", get(admin::landing))
        .at("/admin/outbox", get(admin::outbox_page))
        .at("/admin/outbox/:id/retry", poem::post(admin::retry))
        .at(
            "/admin/users",
            get(admin::users_page).post(admin::create_user),
        )
        .at("/admin/users/:id/disable", poem::post(admin::disable_user))
        .at("/admin/users/:id/enable", poem::post(admin::enable_user))
        .at("/admin/users/:id/role", poem::post(admin::change_role))
        .at("/admin/audit", get(admin::audit_page))
        .at("/setup", get(setup::overview))
        .at(
            "/setup/locations",
            get(setup::locations_page).post(setup::create_location),
        )
        .at("/setup/locations/:id", poem::post(setup::update_location))
        .at(
            "/setup/locations/:id/active",
            poem::post(setup::location_active),
        )
        .at(
            "/setup/appointment-types",
            get(setup::types_page).post(setup::create_type),
        )
        .at(
            "/setup/appointment-types/:id",
            poem::post(setup::update_type),
        )
        .at(
            "/setup/appointment-types/:id/active",
            poem::post(setup::type_active),
        )
        .at(
            "/setup/practitioners",
            get(setup::practitioners_page).post(setup::create_practitioner),
        )
        .at(
            "/setup/practitioners/:id",
            get(setup::practitioner_page).post(setup::update_practitioner),
        )
        .at(
            "/setup/practitioners/:id/active",
            poem::post(setup::practitioner_active),
        )
        .at(
            "/setup/practitioners/:id/hours",
            poem::post(setup::save_hours),
        )
        .at(
            "/setup/practitioners/:id/time-off",
            poem::post(setup::add_time_off),
        )
        .at(
            "/setup/practitioners/:id/time-off/:time_off_id/remove",
            poem::post(setup::remove_time_off),
        )
        .at(
            "/setup/policies",
            get(setup::policies_page).post(setup::save_policies),
        )
        .at("/reviews/:id", get(review::case_page).post(review::decide))
        .at("/patients/:id/outcomes", get(practitioner::outcomes_page))
        .at("/schedule", get(practitioner::schedule_page))
        .at(
            "/schedule/calendar",
            poem::post(practitioner::issue_calendar_link),
        )
        .at(
            "/schedule/calendar/revoke",
            poem::post(practitioner::revoke_calendar_link),
        )
        .at("/book", get(booking::book_page).post(booking::book))
        .at("/appointments", get(booking::list_page))
        .at("/appointments/:id", get(booking::detail_page))
        .at(
            "/appointments/:id/calendar.ics",
            get(booking::calendar_file),
        )
        .at(
            "/appointments/:id/cancel",
            get(booking::cancel_page).post(booking::cancel),
        )
        .at(
            "/appointments/:id/reschedule",
            get(booking::reschedule_page).post(booking::reschedule),
        )
        .at("/assets/:name", get(assets::asset));
    pages
        .with(CsrfGuard)
        // The API's request-level text rule, for pages: no control character in the address.
        .around(|endpoint, req| async move {
            if !crate::request_text::address_is_clean(req.uri()) {
                return Err(poem::Error::new(
                    render::UnreadableAddress,
                    StatusCode::BAD_REQUEST,
                ));
            }
            Ok(endpoint.call(req).await?.into_response())
        })
        .with(
            Csrf::new()
                .cookie_name(CSRF_COOKIE)
                .key(state.pages.form_key())
                .secure(secure)
                // Lax, not Strict: a patient arriving from an emailed link keeps the cookie,
                // so forms open in other tabs stay valid; the token is the protection.
                .same_site(poem::web::cookie::SameSite::Lax),
        )
        .with(ServerSession::new(
            session::cookie_config(secure),
            session::DatabaseSessions::new(state.clone()),
        ))
        .data(state.clone())
        .catch_all_error({
            let pages = state.pages.clone();
            move |err| {
                let pages = pages.clone();
                async move { pages.error(err) }
            }
        })
        .with(SecurityHeaders)
        .boxed()
}

/// Refuses any form (a POST) whose CSRF token does not match the browser's CSRF cookie, before
/// its handler runs, so no page can forget the check.
struct CsrfGuard;

impl<E: Endpoint> Middleware<E> for CsrfGuard {
    type Output = CsrfGuardEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CsrfGuardEndpoint { inner }
    }
}

struct CsrfGuardEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for CsrfGuardEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.method() == Method::POST {
            let form = form::FormData::from_request_context(&req);
            let valid = match (req.extensions().get::<CsrfVerifier>(), form.raw(CSRF_FIELD)) {
                (Some(verifier), Some(token)) => verifier.is_valid(token),
                _ => false,
            };
            if !valid {
                let pages = req
                    .data::<AppState>()
                    .map(|state| state.pages.clone())
                    .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
                let token = req.extensions().get::<CsrfToken>().cloned();
                return Ok(pages.form_expired(token.as_ref()));
            }
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

/// The headers every page and asset carries: a Content-Security-Policy that allows only this
/// origin's scripts, styles and images and no inline script, no framing, no sniffing, no
/// referrer (emailed links carry tokens), and no caching of pages that may show patient data.
struct SecurityHeaders;

/// The policy: everything from this origin only, nothing inline, no plugins, no framing, forms
/// post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        SecurityHeadersEndpoint { inner }
    }
}

struct SecurityHeadersEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let mut response = self.inner.call(req).await?.into_response();
        let headers = response.headers_mut();
        for (name, value) in [
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ] {
            headers.insert(name, value);
        }
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        Ok(response)
    }
}
