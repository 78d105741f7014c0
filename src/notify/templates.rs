//! Email templates: minijinja, embedded in the binary, each overridable by a file of the same name
//! in `LUMBAR_TEMPLATE_DIR` (clinic branding). Every kind has `<kind>.subject`, `<kind>.txt` and
//! `<kind>.html`; all of them are rendered with sample content when the templates load, so a
//! missing or broken template stops startup instead of failing at send time.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, context};

use super::content::{EmailContent, MessageKind};

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

/// Every template file Lumbar ships, by name.
const EMBEDDED: &[(&str, &str)] = embedded![
    "layout.html",
    "layout.txt",
    "appointment_details.html",
    "appointment_details.txt",
    "account_verification.subject",
    "account_verification.txt",
    "account_verification.html",
    "patient_invitation.subject",
    "patient_invitation.txt",
    "patient_invitation.html",
    "appointment_confirmed.subject",
    "appointment_confirmed.txt",
    "appointment_confirmed.html",
    "appointment_rescheduled.subject",
    "appointment_rescheduled.txt",
    "appointment_rescheduled.html",
    "appointment_cancelled.subject",
    "appointment_cancelled.txt",
    "appointment_cancelled.html",
    "appointment_reminder.subject",
    "appointment_reminder.txt",
    "appointment_reminder.html",
    "follow_up_invitation.subject",
    "follow_up_invitation.txt",
    "follow_up_invitation.html",
    "review_needed.subject",
    "review_needed.txt",
    "review_needed.html",
    "email_change_confirmation.subject",
    "email_change_confirmation.txt",
    "email_change_confirmation.html",
    "email_change_requested.subject",
    "email_change_requested.txt",
    "email_change_requested.html",
    "password_reset.subject",
    "password_reset.txt",
    "password_reset.html",
];

/// A rendered email, ready to be put in a multipart message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read email template {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("email template `{name}` is broken: {detail}")]
    Broken { name: String, detail: String },
}

pub struct Templates {
    env: Environment<'static>,
    clinic_name: String,
}

impl Templates {
    /// Loads the embedded templates, replacing each with `override_dir/<name>` where that file
    /// exists, and proves every kind renders.
    pub fn load(override_dir: Option<&Path>, clinic_name: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        // A template that names a field its kind does not have is a bug, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, embedded) in EMBEDDED {
            let source = match override_dir.map(|dir| dir.join(name)) {
                Some(path) if path.is_file() => {
                    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                _ => (*embedded).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|err| broken(name, &err))?;
        }
        let templates = Self {
            env,
            clinic_name: clinic_name.to_owned(),
        };
        for kind in MessageKind::ALL {
            templates.render(&EmailContent::sample(kind))?;
        }
        Ok(templates)
    }

    pub fn render(&self, content: &EmailContent) -> Result<RenderedEmail, TemplateError> {
        let kind = content.kind().as_str();
        let fields = context! { clinic_name => &self.clinic_name, ..content.template_fields() };
        let render = |suffix: &str| {
            let name = format!("{kind}.{suffix}");
            let template = self
                .env
                .get_template(&name)
                .map_err(|err| broken(&name, &err))?;
            template.render(&fields).map_err(|err| broken(&name, &err))
        };
        let subject = render("subject")?;
        let subject = subject.trim();
        if subject.is_empty() || subject.contains(['\r', '\n']) {
            return Err(TemplateError::Broken {
                name: format!("{kind}.subject"),
                detail: "a subject must be one non-empty line".into(),
            });
        }
        Ok(RenderedEmail {
            subject: subject.to_owned(),
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

fn broken(name: &str, err: &minijinja::Error) -> TemplateError {
    let mut detail = err.to_string();
    if let Some(line) = err.line() {
        detail = format!("{detail} (line {line})");
    }
    TemplateError::Broken {
        name: name.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::content::AppointmentDetails;

    fn templates() -> Templates {
        Templates::load(None, "Riverside Physio").unwrap()
    }

    #[test]
    fn every_kind_renders_a_subject_and_both_bodies() {
        let templates = templates();
        for kind in MessageKind::ALL {
            let email = templates.render(&EmailContent::sample(kind)).unwrap();
            assert!(!email.subject.is_empty(), "{kind:?}");
            assert!(
                email.text.contains("Riverside Physio"),
                "{kind:?} text names the clinic"
            );
            assert!(
                email.html.contains("Riverside Physio"),
                "{kind:?} html names the clinic"
            );
            assert!(
                email.html.contains("<html"),
                "{kind:?} html uses the layout"
            );
            assert!(!email.text.contains("<p>"), "{kind:?} text is plain");
        }
    }

    #[test]
    fn every_kind_carries_its_link_in_both_bodies() {
        let templates = templates();
        for kind in MessageKind::ALL {
            let content = EmailContent::sample(kind);
            let link = match &content {
                EmailContent::AccountVerification(data) => data.verify_url.clone(),
                EmailContent::PatientInvitation(data) => data.invitation_url.clone(),
                EmailContent::AppointmentConfirmed(data)
                | EmailContent::AppointmentRescheduled(data)
                | EmailContent::AppointmentReminder(data) => data.manage_url.clone(),
                // A cancelled visit has nothing left to manage: the link books another.
                EmailContent::AppointmentCancelled(data) => data.book_url.clone().unwrap(),
                EmailContent::FollowUpInvitation(data) => data.questionnaire_url.clone(),
                EmailContent::ReviewNeeded(data) => data.review_url.clone(),
                EmailContent::EmailChangeConfirmation(data) => data.confirm_url.clone(),
                EmailContent::EmailChangeRequested(data) => data.account_url.clone(),
                EmailContent::PasswordReset(data) => data.reset_url.clone(),
            };
            let email = templates.render(&content).unwrap();
            assert!(email.text.contains(&link), "{kind:?} text");
            // HTML escapes `/` and `&` in attributes and text; browsers read them back.
            let html = email.html.replace("&#x2f;", "/").replace("&amp;", "&");
            assert!(
                html.contains(&format!("href=\"{link}\"")),
                "{kind:?} html links it"
            );
        }
    }

    #[test]
    fn appointment_emails_state_time_place_and_practitioner() {
        let email = templates()
            .render(&EmailContent::sample(MessageKind::AppointmentReminder))
            .unwrap();
        assert_eq!(
            email.subject,
            "Reminder: your appointment on Monday 2 March 2026, 09:00 GMT"
        );
        for expected in [
            "Monday 2 March 2026, 09:00 GMT",
            "45 minutes",
            "Dr Sam Taylor",
            "1 River Street",
        ] {
            assert!(email.text.contains(expected), "text has {expected}");
            assert!(email.html.contains(expected), "html has {expected}");
        }
    }

    fn details(kind: MessageKind) -> AppointmentDetails {
        match EmailContent::sample(kind) {
            EmailContent::AppointmentConfirmed(details)
            | EmailContent::AppointmentRescheduled(details)
            | EmailContent::AppointmentCancelled(details)
            | EmailContent::AppointmentReminder(details) => details,
            other => panic!("not an appointment email: {other:?}"),
        }
    }

    #[test]
    fn a_cancellation_invites_to_book_on_the_booking_page_not_the_cancelled_visit() {
        let email = templates()
            .render(&EmailContent::sample(MessageKind::AppointmentCancelled))
            .unwrap();
        for body in [&email.text, &email.html.replace("&#x2f;", "/")] {
            assert!(body.contains("To book another time"), "{body}");
            assert!(body.contains("https://clinic.example/book"), "{body}");
            assert!(!body.contains("/appointments/0190a6c8"), "{body}");
        }
        // A cancellation queued before the booking link existed still links somewhere.
        let queued = EmailContent::AppointmentCancelled(AppointmentDetails {
            book_url: None,
            ..details(MessageKind::AppointmentCancelled)
        });
        let email = templates().render(&queued).unwrap();
        assert!(
            email
                .text
                .contains("https://clinic.example/appointments/0190a6c8")
        );
    }

    #[test]
    fn a_reminder_offers_moving_online_only_while_that_is_possible() {
        let early = EmailContent::AppointmentReminder(AppointmentDetails {
            change_online_until: Some("Sun 1 Mar 2026 09:00 GMT".into()),
            ..details(MessageKind::AppointmentReminder)
        });
        let email = templates().render(&early).unwrap();
        for body in [&email.text, &email.html] {
            assert!(
                body.contains("move or cancel it online until Sun 1 Mar 2026 09:00 GMT"),
                "{body}"
            );
            assert!(body.contains("call the clinic on 0117 496 0000"), "{body}");
        }
        // Inside the window (a late booking): call to change it, cancel online if need be.
        let late = templates()
            .render(&EmailContent::sample(MessageKind::AppointmentReminder))
            .unwrap();
        for body in [&late.text, &late.html] {
            assert!(!body.contains("move or cancel it online"), "{body}");
            assert!(
                body.contains("To change it, please call the clinic on 0117 496 0000."),
                "{body}"
            );
            assert!(body.contains("you can still cancel it here"), "{body}");
        }
        // Without a configured number it still says whom to call.
        let no_phone = EmailContent::AppointmentReminder(AppointmentDetails {
            clinic_phone: None,
            ..details(MessageKind::AppointmentReminder)
        });
        let email = templates().render(&no_phone).unwrap();
        assert!(
            email.text.contains("please call the clinic."),
            "{}",
            email.text
        );
    }

    #[test]
    fn a_reset_email_says_how_long_its_link_works_and_that_ignoring_it_is_safe() {
        let email = templates()
            .render(&EmailContent::sample(MessageKind::PasswordReset))
            .unwrap();
        for body in [&email.text, &email.html] {
            assert!(body.contains("works for 1 hour and only once"), "{body}");
            assert!(body.contains("your password stays as it is"), "{body}");
        }
    }

    #[test]
    fn html_escapes_what_it_is_given_and_text_does_not() {
        let content = EmailContent::AppointmentConfirmed(AppointmentDetails {
            patient_name: "Jo <script>O'Neil</script>".into(),
            ..match EmailContent::sample(MessageKind::AppointmentConfirmed) {
                EmailContent::AppointmentConfirmed(details) => details,
                _ => unreachable!(),
            }
        });
        let email = templates().render(&content).unwrap();
        assert!(!email.html.contains("<script>"));
        assert!(email.html.contains("&lt;script&gt;"));
        assert!(email.text.contains("Jo <script>O'Neil</script>"));
    }

    #[test]
    fn an_override_directory_replaces_single_templates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("review_needed.subject"),
            "[{{ clinic_name }}] Review queue",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path()), "Riverside Physio").unwrap();
        let email = templates
            .render(&EmailContent::sample(MessageKind::ReviewNeeded))
            .unwrap();
        assert_eq!(email.subject, "[Riverside Physio] Review queue");
        // The others are still the embedded ones.
        let other = templates
            .render(&EmailContent::sample(MessageKind::FollowUpInvitation))
            .unwrap();
        assert!(other.subject.starts_with("How are you getting on?"));
    }

    #[test]
    fn a_broken_or_wrong_override_stops_loading_naming_the_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("appointment_reminder.html"), "{% if %}").unwrap();
        let err = Templates::load(Some(dir.path()), "Clinic")
            .err()
            .expect("a syntax error is refused");
        assert!(
            err.to_string().contains("appointment_reminder.html"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("follow_up_invitation.txt"),
            "Hi {{ diagnosis }}",
        )
        .unwrap();
        let err = Templates::load(Some(dir.path()), "Clinic")
            .err()
            .expect("an unknown field is refused");
        assert!(
            err.to_string().contains("follow_up_invitation.txt"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("review_needed.subject"),
            "Line one\nLine two",
        )
        .unwrap();
        let err = Templates::load(Some(dir.path()), "Clinic")
            .err()
            .expect("a two-line subject is refused");
        assert!(err.to_string().contains("one non-empty line"), "{err}");
    }
}
