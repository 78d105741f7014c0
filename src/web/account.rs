//! Account pages: the start page, log in and out, register, the emailed links (confirm an
//! address, confirm a new address, accept an invitation) and the signed-in person's details.
//! Each handler reads the form, calls the use case in `service::accounts` or
//! `service::patients`, and renders the outcome.

use chrono::NaiveDate;
use minijinja::{Value, context};
use poem::{
    FromRequest, IntoResponse, Request, RequestBody, Response, handler,
    http::StatusCode,
    session::Session,
    web::{CsrfToken, Data, Redirect},
};

use super::{
    form::FormData,
    render::{FormErrors, Frame, Notice},
    session,
};
use crate::{
    app::AppState,
    audit::AuditContext,
    auth::tokens::Principal,
    error::ApiError,
    service::{
        Caller,
        accounts::{self, Acceptance, Credentials, Registration},
        patients,
    },
};

/// The value of query parameter `name`.
fn query_param(req: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Where to go after logging in: a path on this site only (never `//elsewhere` or a URL), so
/// the parameter cannot send anyone to another site.
fn local_path(next: Option<String>) -> Option<String> {
    next.filter(|path| {
        path.starts_with('/')
            && !path.starts_with("//")
            && !path.contains('\\')
            && !path.chars().any(char::is_control)
    })
}

fn frame<'a>(csrf: &'a CsrfToken, session: &Session) -> Frame<'a> {
    Frame {
        csrf: Some(csrf),
        principal: session::signed_in(session),
    }
}

/// The caller for a use case, from the signed-in session.
pub fn caller(req: &Request, principal: Principal) -> Caller {
    Caller::new(principal, AuditContext::from_request(req, Some(&principal)))
}

/// A handler's signed-in caller. A visitor who is not signed in is sent to log in and brought
/// back here; which role may use the page is the use case's to say.
pub struct SignedIn(pub Caller);

impl<'a> FromRequest<'a> for SignedIn {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let session = <&Session>::from_request(req, body).await?;
        match session::signed_in(session) {
            Some(principal) => Ok(Self(caller(req, principal))),
            None => Err(poem::Error::from_response(to_login(req.uri().path()))),
        }
    }
}

/// A handler's signed-in patient: the patients' own pages (the questionnaire, their
/// appointments). A visitor is sent to log in; a clinic account is told the page is for
/// patients.
pub struct SignedInPatient(pub Caller);

impl<'a> FromRequest<'a> for SignedInPatient {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let SignedIn(caller) = SignedIn::from_request(req, body).await?;
        if caller.is_patient() {
            return Ok(Self(caller));
        }
        let state = <Data<&AppState>>::from_request(req, body).await?;
        let csrf = <&CsrfToken>::from_request(req, body).await?;
        Err(poem::Error::from_response(state.pages.notice(
            StatusCode::FORBIDDEN,
            Frame {
                csrf: Some(csrf),
                principal: Some(caller.principal),
            },
            Notice {
                title: "This page is for patients".into(),
                paragraphs: vec![
                    "Patients fill in the questionnaire and manage their own appointments \
                     here, signed in to their own account."
                        .into(),
                ],
                link: Some(("/".into(), "Go to the start page".into())),
            },
        )))
    }
}

/// The status a page answers a refused form with.
fn refused_status(err: &ApiError) -> StatusCode {
    if let ApiError::Internal(cause) = err {
        tracing::error!(error = %cause, "a page's use case failed");
    }
    err.status()
}

/// To the login page, coming back to `path` afterwards.
pub fn to_login(path: &str) -> Response {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", path)
        .finish();
    Redirect::see_other(format!("/login?{query}")).into_response()
}

#[handler]
pub async fn home(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
) -> poem::Result<Response> {
    let frame = frame(csrf, session);
    let name = match frame.principal {
        Some(principal) => accounts::me(&state, &caller(req, principal))
            .await
            .ok()
            .map(|me| me.account.display_name),
        None => None,
    };
    Ok(state.pages.render(
        StatusCode::OK,
        "home.html",
        frame,
        context! { title => format!("Welcome to {}", state.pages.clinic_name()), name },
    ))
}

#[handler]
pub async fn login_page(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
) -> Response {
    let next = local_path(query_param(req, "next"));
    render_login(&state, frame(csrf, session), StatusCode::OK, "", next, None)
}

fn render_login(
    state: &AppState,
    frame: Frame,
    status: StatusCode,
    email: &str,
    next: Option<String>,
    errors: Option<FormErrors>,
) -> Response {
    state.pages.render(
        status,
        "login.html",
        frame,
        context! { title => "Log in", email, next, errors => Value::from(minijinja::value::Serde(&errors)) },
    )
}

#[handler]
pub async fn login(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> Response {
    let next = local_path(query_param(req, "next"));
    let email = form.text("email").unwrap_or_default();
    let password = form.raw("password").unwrap_or_default().to_owned();
    let mut errors = FormErrors::default();
    if email.is_empty() {
        errors.field("email", "Enter your email address.");
    }
    if password.is_empty() {
        errors.field("password", "Enter your password.");
    }
    if !errors.is_empty() {
        let frame = frame(csrf, session);
        return render_login(
            &state,
            frame,
            StatusCode::UNPROCESSABLE_ENTITY,
            &email,
            next,
            Some(errors),
        );
    }
    let context = AuditContext::from_request(req, None);
    let credentials = Credentials {
        email: email.clone(),
        password,
    };
    match accounts::sign_in(&state, context, credentials).await {
        Ok(principal) => {
            session::sign_in(session, principal);
            Redirect::see_other(next.unwrap_or_else(|| "/".into())).into_response()
        }
        Err(err) => {
            let status = refused_status(&err);
            let errors = FormErrors::from_api(&err, &[]);
            render_login(
                &state,
                frame(csrf, session),
                status,
                &email,
                next,
                Some(errors),
            )
        }
    }
}

#[handler]
pub async fn logout(session: &Session) -> Response {
    session::sign_out(session);
    Redirect::see_other("/").into_response()
}

#[handler]
pub async fn register_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
) -> Response {
    render_register(
        &state,
        frame(csrf, session),
        StatusCode::OK,
        &FormData::default(),
        None,
    )
}

fn render_register(
    state: &AppState,
    frame: Frame,
    status: StatusCode,
    form: &FormData,
    errors: Option<FormErrors>,
) -> Response {
    let value = |name: &str| form.text(name).unwrap_or_default();
    state.pages.render(
        status,
        "register.html",
        frame,
        context! {
            title => "Create an account",
            given_name => value("given_name"),
            family_name => value("family_name"),
            email => value("email"),
            birth => context! {
                day => value("birth_day"),
                month => value("birth_month"),
                year => value("birth_year"),
            },
            errors => Value::from(minijinja::value::Serde(&errors)),
        },
    )
}

/// The date of birth typed as day, month and year; `None` unless it is a real date.
fn birth_date(form: &FormData) -> Option<NaiveDate> {
    let part = |name: &str| form.text(name)?.parse::<u32>().ok();
    let year = i32::try_from(part("birth_year")?).ok()?;
    NaiveDate::from_ymd_opt(year, part("birth_month")?, part("birth_day")?)
}

#[handler]
pub async fn register(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> Response {
    let date_of_birth = birth_date(&form);
    let registration = Registration {
        given_name: form.text("given_name").unwrap_or_default(),
        family_name: form.text("family_name").unwrap_or_default(),
        email: form.text("email").unwrap_or_default(),
        // A placeholder that passes, so the other fields are still checked in one go.
        date_of_birth: date_of_birth.unwrap_or_else(|| state.local_today()),
        password: form.raw("password").unwrap_or_default().to_owned(),
    };
    let refused =
        |status, errors| render_register(&state, frame(csrf, session), status, &form, Some(errors));
    if date_of_birth.is_none() {
        let mut errors = FormErrors::default();
        for problem in accounts::registration_problems(&registration, state.local_today()) {
            errors.field(&problem.field, problem.message);
        }
        errors.field(
            "date_of_birth",
            "Enter your date of birth as day, month and year, for example 27 3 1980.",
        );
        // The summary lists problems in the order of the form.
        const ORDER: [&str; 5] = [
            "given_name",
            "family_name",
            "email",
            "date_of_birth",
            "password",
        ];
        errors
            .list
            .sort_by_key(|problem| ORDER.iter().position(|field| *field == problem.field));
        return refused(StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    let email = registration.email.clone();
    let context = AuditContext::from_request(req, None);
    match accounts::register(&state, context, registration).await {
        Ok(()) => state.pages.notice(
            StatusCode::OK,
            frame(csrf, session),
            Notice {
                title: "Check your email".into(),
                paragraphs: vec![
                    format!(
                        "If this address can be registered, we have sent a link to {email}. \
                         Open it within 24 hours to confirm your address, then log in."
                    ),
                    "No email after a few minutes? Look in your spam folder, or create your \
                     account again with the same address to get a new link."
                        .into(),
                ],
                link: None,
            },
        ),
        Err(err) => refused(refused_status(&err), FormErrors::from_api(&err, &[])),
    }
}

/// The page an incomplete link leads to.
fn incomplete_link(state: &AppState, frame: Frame) -> Response {
    state.pages.notice(
        StatusCode::BAD_REQUEST,
        frame,
        Notice {
            title: "This link is incomplete".into(),
            paragraphs: vec![
                "The address you opened is missing part of the link we emailed. Please open \
                 the link from the email again, or copy all of it into your browser."
                    .into(),
            ],
            link: Some(("/".into(), "Go to the start page".into())),
        },
    )
}

/// A page that asks to confirm an emailed link with a button: opening a link never acts by
/// itself (mail scanners open links too).
fn token_action(
    req: &Request,
    state: &AppState,
    frame: Frame,
    page: (&str, &str, &str, Vec<&str>),
) -> Response {
    let (action, title, button, paragraphs) = page;
    let Some(token) = query_param(req, "token").filter(|token| !token.is_empty()) else {
        return incomplete_link(state, frame);
    };
    state.pages.render(
        StatusCode::OK,
        "token_action.html",
        frame,
        context! {
            action => action.to_owned(),
            title => title.to_owned(),
            button => button.to_owned(),
            paragraphs => paragraphs.iter().map(|text| (*text).to_owned()).collect::<Vec<_>>(),
            token,
        },
    )
}

/// The page for a link that was used already or has expired, saying what to do instead.
fn spent_link(state: &AppState, frame: Frame, what_to_do: &str, link: (&str, &str)) -> Response {
    state.pages.notice(
        StatusCode::BAD_REQUEST,
        frame,
        Notice {
            title: "This link has expired or was used already".into(),
            paragraphs: vec![what_to_do.into()],
            link: Some((link.0.into(), link.1.into())),
        },
    )
}

/// The outcome of a use case an emailed link starts: `done` when it worked, `spent` when the
/// link was not valid, the refusal's own words otherwise.
fn link_outcome(
    state: &AppState,
    frame: Frame,
    outcome: Result<(), ApiError>,
    done: Notice,
    spent: (&str, (&str, &str)),
) -> Response {
    match outcome {
        Ok(()) => state.pages.notice(StatusCode::OK, frame, done),
        Err(ApiError::BadRequest {
            code: "invalid_token",
            ..
        }) => spent_link(state, frame, spent.0, spent.1),
        Err(err) => {
            let status = refused_status(&err);
            let errors = FormErrors::from_api(&err, &[]);
            state.pages.notice(
                status,
                frame,
                Notice {
                    title: "We could not do that".into(),
                    paragraphs: errors
                        .general
                        .into_iter()
                        .chain(errors.list.into_iter().map(|problem| problem.message))
                        .collect(),
                    link: Some(("/".into(), "Go to the start page".into())),
                },
            )
        }
    }
}

#[handler]
pub async fn verify_email_page(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
) -> Response {
    token_action(
        req,
        &state,
        frame(csrf, session),
        (
            "/verify-email",
            "Confirm your email address",
            "Confirm my email address",
            vec![
                "Press the button to confirm this is your email address. You can log in straight after.",
            ],
        ),
    )
}

#[handler]
pub async fn verify_email(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> Response {
    let token = form.text("token").unwrap_or_default();
    let outcome =
        accounts::verify_email(&state, AuditContext::from_request(req, None), &token).await;
    link_outcome(
        &state,
        frame(csrf, session),
        outcome,
        Notice {
            title: "Your email address is confirmed".into(),
            paragraphs: vec!["Thank you. You can log in now.".into()],
            link: Some(("/login".into(), "Log in".into())),
        },
        (
            "If you confirmed your address already, just log in. If not, create your account \
             again with the same address and we will email you a new link.",
            ("/login", "Log in"),
        ),
    )
}

#[handler]
pub async fn confirm_email_page(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
) -> Response {
    token_action(
        req,
        &state,
        frame(csrf, session),
        (
            "/confirm-email",
            "Confirm your new email address",
            "Use this email address",
            vec![
                "Press the button to start using this address. From then on you log in with it, and we write to it.",
            ],
        ),
    )
}

#[handler]
pub async fn confirm_email(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> Response {
    let token = form.text("token").unwrap_or_default();
    let context = AuditContext::from_request(req, None);
    let outcome = accounts::confirm_email_change(&state, context, &token).await;
    link_outcome(
        &state,
        frame(csrf, session),
        outcome,
        Notice {
            title: "Your new email address is confirmed".into(),
            paragraphs: vec![
                "From now on, log in with your new address; we will write to it too.".into(),
            ],
            link: Some(("/account".into(), "My details".into())),
        },
        (
            "If you still want to change your address, enter it again in your details and \
             we will send a new link.",
            ("/account", "My details"),
        ),
    )
}

#[handler]
pub async fn accept_invitation_page(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
) -> Response {
    let frame = frame(csrf, session);
    let Some(token) = query_param(req, "token").filter(|token| !token.is_empty()) else {
        return incomplete_link(&state, frame);
    };
    render_invitation(&state, frame, StatusCode::OK, &token, None)
}

fn render_invitation(
    state: &AppState,
    frame: Frame,
    status: StatusCode,
    token: &str,
    errors: Option<FormErrors>,
) -> Response {
    state.pages.render(
        status,
        "accept_invitation.html",
        frame,
        context! { title => "Set your password", token, errors => Value::from(minijinja::value::Serde(&errors)) },
    )
}

#[handler]
pub async fn accept_invitation(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> Response {
    let token = form.text("token").unwrap_or_default();
    let acceptance = Acceptance {
        token: token.clone(),
        password: form.raw("password").unwrap_or_default().to_owned(),
    };
    let outcome =
        accounts::accept_invitation(&state, AuditContext::from_request(req, None), acceptance)
            .await;
    match outcome {
        Err(err @ ApiError::Validation { .. }) => render_invitation(
            &state,
            frame(csrf, session),
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            Some(FormErrors::from_api(&err, &[])),
        ),
        outcome => link_outcome(
            &state,
            frame(csrf, session),
            outcome,
            Notice {
                title: "Your password is set".into(),
                paragraphs: vec![
                    "You can log in now with your email address and this password.".into(),
                ],
                link: Some(("/login".into(), "Log in".into())),
            },
            (
                "Invitations work for 7 days and only once. If you set your password already, \
                 log in. If not, please ask the clinic to invite you again.",
                ("/login", "Log in"),
            ),
        ),
    }
}

#[handler]
pub async fn account_page(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
) -> poem::Result<Response> {
    render_account(req, &state, frame(csrf, session), StatusCode::OK, None).await
}

/// My details, with the problems of one of its forms when it was refused.
pub async fn render_account(
    req: &Request,
    state: &AppState,
    frame: Frame<'_>,
    status: StatusCode,
    errors: Option<FormErrors>,
) -> poem::Result<Response> {
    let Some(principal) = frame.principal else {
        return Ok(to_login("/account"));
    };
    let caller = caller(req, principal);
    let details: Value = if caller.is_patient() {
        let record = patients::own(state, &caller).await.map_err(page_error)?;
        context! {
            is_patient => true,
            name => format!("{} {}", record.given_name, record.family_name),
            email => record.email,
            pending_email => record.pending_email,
            date_of_birth => record.date_of_birth.format("%-d %B %Y").to_string(),
        }
    } else {
        let me = accounts::me(state, &caller).await.map_err(page_error)?;
        context! { name => me.account.display_name, email => me.account.email }
    };
    Ok(state.pages.render(
        status,
        "account.html",
        frame,
        context! {
            title => "My details",
            errors => Value::from(minijinja::value::Serde(&errors)),
            ..details
        },
    ))
}

/// A use case's failure on a page that has no form to show it on: the error page.
pub fn page_error(err: ApiError) -> poem::Error {
    let status = refused_status(&err);
    poem::Error::new(err, status)
}
