//! Forgot password → emailed link → new password, and the signed-in person's own changes on
//! My details (password, email address). Each calls its use case in `service`.

use minijinja::{Value, context};
use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    session::Session,
    web::{CsrfToken, Data, Redirect},
};

use super::{
    account::{caller, page_error, to_login},
    form::FormData,
    render::{FormErrors, Frame, Notice},
    session,
};
use crate::{
    app::AppState,
    audit::AuditContext,
    error::ApiError,
    service::{
        accounts,
        patients::{self, Edit, PatientEdit},
    },
};

fn frame<'a>(csrf: &'a CsrfToken, session: &Session) -> Frame<'a> {
    Frame {
        csrf: Some(csrf),
        principal: session::signed_in(session),
    }
}

fn query_token(req: &Request) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
        .filter(|token| !token.is_empty())
}

fn errors_value(errors: &Option<FormErrors>) -> Value {
    Value::from(minijinja::value::Serde(errors))
}

#[handler]
pub async fn forgot_page(state: Data<&AppState>, csrf: &CsrfToken, session: &Session) -> Response {
    state.pages.render(
        StatusCode::OK,
        "forgot_password.html",
        frame(csrf, session),
        context! { title => "Forgot your password?", email => "", errors => errors_value(&None) },
    )
}

#[handler]
pub async fn forgot(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> Response {
    let email = form.text("email").unwrap_or_default();
    let problem = accounts::email_problem("email", &email);
    if let Some(problem) = problem {
        let mut errors = FormErrors::default();
        errors.field("email", problem.message);
        return state.pages.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            "forgot_password.html",
            frame(csrf, session),
            context! { title => "Forgot your password?", email, errors => errors_value(&Some(errors)) },
        );
    }
    let context = AuditContext::from_request(req, None);
    match accounts::request_password_reset(&state, context, &email).await {
        Ok(()) => state.pages.notice(
            StatusCode::OK,
            frame(csrf, session),
            Notice {
                title: "Check your email".into(),
                paragraphs: vec![
                    format!(
                        "If {email} belongs to an account, we have sent it a link to choose a \
                         new password. The link works for 1 hour."
                    ),
                    "No email after a few minutes? Look in your spam folder, or ask again.".into(),
                ],
                link: Some(("/login".into(), "Back to log in".into())),
            },
        ),
        Err(err) => {
            let status = err.status();
            let errors = FormErrors::from_api(&err, &[]);
            state.pages.render(
                status,
                "forgot_password.html",
                frame(csrf, session),
                context! { title => "Forgot your password?", email, errors => errors_value(&Some(errors)) },
            )
        }
    }
}

fn render_reset(
    state: &AppState,
    frame: Frame,
    status: StatusCode,
    token: &str,
    errors: Option<FormErrors>,
) -> Response {
    state.pages.render(
        status,
        "reset_password.html",
        frame,
        context! { title => "Choose a new password", token, errors => errors_value(&errors) },
    )
}

fn spent_reset_link(state: &AppState, frame: Frame) -> Response {
    state.pages.notice(
        StatusCode::BAD_REQUEST,
        frame,
        Notice {
            title: "This link has expired or was used already".into(),
            paragraphs: vec![
                "A link to choose a new password works once, for 1 hour. Please ask for a new \
                 one."
                    .into(),
            ],
            link: Some(("/forgot-password".into(), "Ask for a new link".into())),
        },
    )
}

#[handler]
pub async fn reset_page(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
) -> Response {
    let Some(token) = query_token(req) else {
        return spent_reset_link(&state, frame(csrf, session));
    };
    match accounts::password_reset_link_works(&state, &token).await {
        Ok(true) => render_reset(&state, frame(csrf, session), StatusCode::OK, &token, None),
        Ok(false) => spent_reset_link(&state, frame(csrf, session)),
        Err(err) => state.pages.error(page_error(err)),
    }
}

#[handler]
pub async fn reset(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> Response {
    let token = form.text("token").unwrap_or_default();
    let password = form.raw("password").unwrap_or_default().to_owned();
    let context = AuditContext::from_request(req, None);
    match accounts::reset_password(&state, context, &token, password).await {
        Ok(()) => {
            // Whoever was signed in here is signed out with every other session.
            session::sign_out(session);
            state.pages.notice(
                StatusCode::OK,
                frame(csrf, session),
                Notice {
                    title: "Your password is changed".into(),
                    paragraphs: vec![
                        "You can log in now with your new password. Everywhere you were logged \
                         in before, you are logged out."
                            .into(),
                    ],
                    link: Some(("/login".into(), "Log in".into())),
                },
            )
        }
        Err(ApiError::BadRequest {
            code: "invalid_token",
            ..
        }) => spent_reset_link(&state, frame(csrf, session)),
        Err(err) => {
            let status = err.status();
            render_reset(
                &state,
                frame(csrf, session),
                status,
                &token,
                Some(FormErrors::from_api(&err, &[])),
            )
        }
    }
}

/// My details with the forms' problems, or the page a refusal ends on.
async fn account_with_errors(
    req: &Request,
    state: &AppState,
    csrf: &CsrfToken,
    session: &Session,
    status: StatusCode,
    errors: FormErrors,
) -> poem::Result<Response> {
    super::account::render_account(req, state, frame(csrf, session), status, Some(errors)).await
}

#[handler]
pub async fn change_password(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> poem::Result<Response> {
    let Some(principal) = session::signed_in(session) else {
        return Ok(to_login("/account"));
    };
    let current = form.raw("current_password").unwrap_or_default().to_owned();
    let new = form.raw("new_password").unwrap_or_default().to_owned();
    match accounts::change_password(&state, &caller(req, principal), current, new).await {
        Ok(()) => {
            session::sign_out(session);
            Ok(state.pages.notice(
                StatusCode::OK,
                frame(csrf, session),
                Notice {
                    title: "Your password is changed".into(),
                    paragraphs: vec![
                        "Please log in again with your new password. Everywhere you were logged \
                         in, you are logged out."
                            .into(),
                    ],
                    link: Some(("/login".into(), "Log in".into())),
                },
            ))
        }
        Err(err @ (ApiError::Validation { .. } | ApiError::TooManyRequests { .. })) => {
            let status = err.status();
            let errors = FormErrors::from_api(&err, &[]);
            account_with_errors(req, &state, csrf, session, status, errors).await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn change_email(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    form: FormData,
) -> poem::Result<Response> {
    let Some(principal) = session::signed_in(session) else {
        return Ok(to_login("/account"));
    };
    let caller = caller(req, principal);
    let email = form.text("new_email").unwrap_or_default();
    if let Some(problem) = accounts::email_problem("new_email", &email) {
        let mut errors = FormErrors::default();
        errors.field("new_email", problem.message);
        return account_with_errors(
            req,
            &state,
            csrf,
            session,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
        )
        .await;
    }
    let record = patients::own(&state, &caller).await.map_err(page_error)?;
    let edit = PatientEdit {
        email: Edit::Set(email),
        ..PatientEdit::default()
    };
    match patients::update(&state, &caller, record.id, edit).await {
        Ok(_) => Ok(Redirect::see_other("/account").into_response()),
        Err(err @ ApiError::Validation { .. }) => {
            let status = err.status();
            let errors = FormErrors::from_api(&err, &[("email", "new_email")]);
            account_with_errors(req, &state, csrf, session, status, errors).await
        }
        Err(err) => Err(page_error(err)),
    }
}
