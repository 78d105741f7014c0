//! Templates and the page frame: every page is rendered inside the layout with the clinic's
//! name, who is signed in and the form token; errors become pages, never JSON or a stack trace.

use minijinja::{Environment, Value, context};
use poem::{
    Response,
    http::{StatusCode, header},
    web::CsrfToken,
};
use sha2::{Digest, Sha256};

use crate::{
    auth::{keys::KeyRing, tokens::Principal},
    error::{ApiError, FieldError},
};

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

/// Every page template, by name.
const TEMPLATES: &[(&str, &str)] = embedded![
    "layout.html",
    "macros.html",
    "home.html",
    "login.html",
    "register.html",
    "notice.html",
    "token_action.html",
    "accept_invitation.html",
    "account.html",
    "intake_start.html",
    "intake_section.html",
    "intake_send.html",
    "intake_result.html",
    "emergency.html",
    "questions.html",
    "follow_up.html",
    "forgot_password.html",
    "reset_password.html",
    "slot_picker.html",
    "book.html",
    "appointments.html",
    "appointment.html",
    "appointment_cancel.html",
    "appointment_reschedule.html",
    "review_case.html",
    "review_queue.html",
    "desk_day.html",
    "desk_patients.html",
    "desk_patient.html",
    "admin_outbox.html",
    "admin_users.html",
    "admin_audit.html",
    "setup.html",
    "setup_locations.html",
    "setup_types.html",
    "setup_practitioners.html",
    "setup_practitioner.html",
    "setup_policies.html",
    "outcomes.html",
    "schedule.html",
];

/// A page address holding a control character, refused before any handler reads it.
#[derive(Debug, thiserror::Error)]
#[error("the address holds a control character")]
pub struct UnreadableAddress;

/// The page templates and what every page shows.
pub struct Pages {
    env: Environment<'static>,
    clinic_name: String,
    form_key: [u8; 32],
}

/// Who the page is for: the form token of this browser and who is signed in.
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    pub csrf: Option<&'a CsrfToken>,
    pub principal: Option<Principal>,
}

impl<'a> Frame<'a> {
    /// The frame of a signed-in caller's page.
    pub fn of(csrf: &'a CsrfToken, caller: &crate::service::Caller) -> Self {
        Self {
            csrf: Some(csrf),
            principal: Some(caller.principal),
        }
    }
}

impl Pages {
    /// Loads the templates; a broken one stops startup. The form (CSRF) key is derived from the
    /// token signing key, so every instance sharing the keys accepts every instance's forms.
    pub fn load(clinic_name: &str, keys: &KeyRing) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|err| anyhow::anyhow!("page template `{name}` is broken: {err}"))?;
        }
        let mut digest = Sha256::new();
        digest.update(b"lumbar page forms v1");
        digest.update(keys.signing().derived_secret);
        Ok(Self {
            env,
            clinic_name: clinic_name.to_owned(),
            form_key: digest.finalize().into(),
        })
    }

    pub fn form_key(&self) -> [u8; 32] {
        self.form_key
    }

    pub fn clinic_name(&self) -> &str {
        &self.clinic_name
    }

    /// Renders `template` with `page`'s values inside the frame.
    pub fn render(
        &self,
        status: StatusCode,
        template: &str,
        frame: Frame,
        page: Value,
    ) -> Response {
        let frame = context! {
            clinic_name => self.clinic_name.clone(),
            csrf_token => frame.csrf.map(|token| token.0.clone()),
            csrf_field => super::CSRF_FIELD,
            signed_in => frame.principal.is_some(),
            role => frame.principal.map(|principal| crate::auth::tokens::role_name(principal.role)),
        };
        let rendered = self
            .env
            .get_template(template)
            .and_then(|template| template.render(context! { ..page, ..frame }));
        match rendered {
            Ok(html) => html_response(status, html),
            Err(err) => {
                tracing::error!(template, error = %err, "a page failed to render");
                plain_failure()
            }
        }
    }

    /// A page with a heading and a paragraph or two (done, expired link, not found …).
    pub fn notice(&self, status: StatusCode, frame: Frame, notice: Notice) -> Response {
        self.render(
            status,
            "notice.html",
            frame,
            context! {
                title => notice.title,
                paragraphs => notice.paragraphs,
                link => notice.link.map(|(href, text)| context! { href, text }),
            },
        )
    }

    /// The answer to a form whose CSRF token is missing or stale: nothing was done.
    pub fn form_expired(&self, csrf: Option<&CsrfToken>) -> Response {
        self.notice(
            StatusCode::FORBIDDEN,
            Frame {
                csrf,
                principal: None,
            },
            Notice {
                title: "This form has expired".into(),
                paragraphs: vec![
                    "Nothing was sent. For your safety, a form only works for a while after \
                     the page was opened, and only from this site."
                        .into(),
                    "Please go back, reload the page and try again.".into(),
                ],
                link: None,
            },
        )
    }

    /// A page for an error no handler turned into a page of its own.
    pub fn error(&self, err: poem::Error) -> Response {
        let status = err.status();
        // An extractor's own answer (to log in, "this page is for patients") is shown as it is.
        if err.is_from_response() {
            return err.into_response();
        }
        let notice = match status {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Notice {
                title: "Page not found".into(),
                paragraphs: vec![
                    "We could not find this page. The address may be mistyped, or the page may \
                     have moved."
                        .into(),
                ],
                link: Some(("/".into(), "Go to the start page".into())),
            },
            StatusCode::UNPROCESSABLE_ENTITY if err.is::<super::form::UnreadableForm>() => Notice {
                title: "We could not read this form".into(),
                paragraphs: vec![
                    "Something typed in it holds an invisible control character that we \
                     cannot keep. Nothing was saved. Go back, type the text again (rather than \
                     pasting it) and send the form once more."
                        .into(),
                ],
                link: Some(("/".into(), "Go to the start page".into())),
            },
            StatusCode::BAD_REQUEST if err.is::<UnreadableAddress>() => Notice {
                title: "We could not read this address".into(),
                paragraphs: vec![
                    "The page's address holds an invisible control character. Check the link \
                     or start again from the start page."
                        .into(),
                ],
                link: Some(("/".into(), "Go to the start page".into())),
            },
            StatusCode::FORBIDDEN => Notice {
                title: "You cannot open this page".into(),
                paragraphs: vec![
                    "Your account does not give access to this page. If you need it for your \
                     work, ask the clinic's administrator."
                        .into(),
                ],
                link: Some(("/".into(), "Go to the start page".into())),
            },
            StatusCode::SERVICE_UNAVAILABLE => Notice {
                title: "Please try again in a moment".into(),
                paragraphs: vec![
                    "We cannot reach our records right now. Nothing you sent was lost or half \
                     saved; please try again in a minute."
                        .into(),
                    "If you feel very unwell, do not wait for this site: call your local \
                     emergency number."
                        .into(),
                ],
                link: None,
            },
            _ => {
                if status.is_server_error() {
                    tracing::error!(error = %err, "a page failed");
                }
                Notice {
                    title: "Something went wrong".into(),
                    paragraphs: vec![
                        "Sorry, we could not show this page. Please try again.".into(),
                        "If you feel very unwell, do not wait for this site: call your local \
                         emergency number."
                            .into(),
                    ],
                    link: Some(("/".into(), "Go to the start page".into())),
                }
            }
        };
        let mut response = self.notice(
            status,
            Frame {
                csrf: None,
                principal: None,
            },
            notice,
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, "5".parse().expect("a valid header"));
        }
        response
    }
}

/// What a notice page says.
pub struct Notice {
    pub title: String,
    pub paragraphs: Vec<String>,
    /// Where to go next: (href, link text).
    pub link: Option<(String, String)>,
}

fn html_response(status: StatusCode, html: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(html)
}

fn plain_failure() -> Response {
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .content_type("text/plain; charset=utf-8")
        .body("Sorry, this page could not be shown. Please try again.")
}

/// A form's problems, for the error summary and beside each field.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FormErrors {
    /// In the order of the form, for the summary.
    pub list: Vec<FieldProblem>,
    /// A problem with the form as a whole (wrong password, link expired …).
    pub general: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && self.general.is_none()
    }

    pub fn field(&mut self, field: &str, message: impl Into<String>) {
        self.list.push(FieldProblem {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A use case's refusal as form errors: its field list where it has one, its detail
    /// otherwise. `fields` maps the use case's field names to the form's.
    pub fn from_api(err: &ApiError, fields: &[(&str, &str)]) -> Self {
        let problem = err.to_problem();
        let listed: Vec<&FieldError> = match err {
            ApiError::Validation { errors, .. }
            | ApiError::ValidationWithSafetyAdvice { errors, .. } => errors.iter().collect(),
            _ => Vec::new(),
        };
        let mut errors = Self::default();
        for error in listed {
            let field = fields
                .iter()
                .find(|(from, _)| *from == error.field)
                .map(|(_, to)| *to)
                .unwrap_or(error.field.as_str());
            errors.field(field, error.message.clone());
        }
        if errors.list.is_empty() {
            errors.general = Some(problem.detail.unwrap_or_else(|| problem.title.clone()));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_the_frame_renders() {
        let ring = KeyRing::from_pems(&[&crate::auth::keys::generate_pem().unwrap()]).unwrap();
        let pages = Pages::load("Riverside Physio", &ring).unwrap();
        let response = pages.notice(
            StatusCode::OK,
            Frame {
                csrf: None,
                principal: None,
            },
            Notice {
                title: "Hello <there>".into(),
                paragraphs: vec!["A & B".into()],
                link: None,
            },
        );
        assert_eq!(response.status(), StatusCode::OK);
    }
}
