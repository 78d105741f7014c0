//! What each kind of email may say. Every kind has a typed set of fields: names, times, places
//! and links. None of them can hold symptoms, answers, scores or red flags, so an email cannot
//! carry clinical details by construction.

use serde::{Deserialize, Serialize};

/// The kinds of email Lumbar sends. The name is stored in the outbox and names the templates
/// (`<kind>.subject`, `<kind>.txt`, `<kind>.html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum MessageKind {
    AccountVerification,
    PatientInvitation,
    AppointmentConfirmed,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentReminder,
    FollowUpInvitation,
    ReviewNeeded,
    EmailChangeConfirmation,
    EmailChangeRequested,
    PasswordReset,
}

impl MessageKind {
    pub const ALL: [MessageKind; 11] = [
        MessageKind::AccountVerification,
        MessageKind::PatientInvitation,
        MessageKind::AppointmentConfirmed,
        MessageKind::AppointmentRescheduled,
        MessageKind::AppointmentCancelled,
        MessageKind::AppointmentReminder,
        MessageKind::FollowUpInvitation,
        MessageKind::ReviewNeeded,
        MessageKind::EmailChangeConfirmation,
        MessageKind::EmailChangeRequested,
        MessageKind::PasswordReset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountVerification => "account_verification",
            Self::PatientInvitation => "patient_invitation",
            Self::AppointmentConfirmed => "appointment_confirmed",
            Self::AppointmentRescheduled => "appointment_rescheduled",
            Self::AppointmentCancelled => "appointment_cancelled",
            Self::AppointmentReminder => "appointment_reminder",
            Self::FollowUpInvitation => "follow_up_invitation",
            Self::ReviewNeeded => "review_needed",
            Self::EmailChangeConfirmation => "email_change_confirmation",
            Self::EmailChangeRequested => "email_change_requested",
            Self::PasswordReset => "password_reset",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One email's content: its kind and the fields its templates use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EmailContent {
    AccountVerification(AccountVerification),
    PatientInvitation(PatientInvitation),
    AppointmentConfirmed(AppointmentDetails),
    AppointmentRescheduled(AppointmentDetails),
    AppointmentCancelled(AppointmentDetails),
    AppointmentReminder(AppointmentDetails),
    FollowUpInvitation(FollowUpInvitation),
    ReviewNeeded(ReviewNeeded),
    EmailChangeConfirmation(EmailChangeConfirmation),
    EmailChangeRequested(EmailChangeRequested),
    PasswordReset(PasswordReset),
}

/// A link to confirm a new account's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountVerification {
    pub recipient_name: String,
    pub verify_url: String,
    pub expires_in_hours: u32,
}

/// To a patient the front desk registered: a link to set a password and log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientInvitation {
    pub recipient_name: String,
    pub invitation_url: String,
    pub expires_in_days: u32,
}

/// An appointment as the patient should read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentDetails {
    pub patient_name: String,
    /// The service booked, e.g. "Physiotherapy follow-up (30 min)".
    pub appointment_type: String,
    pub practitioner_name: String,
    pub location_name: String,
    pub location_address: String,
    /// Start in the location's zone, with its abbreviation: "Monday 2 March 2026, 09:00 GMT".
    pub starts_at: String,
    pub duration_minutes: u32,
    /// Where the patient can see, move or cancel the appointment.
    pub manage_url: String,
    /// Where the patient books a new appointment: what a cancellation invites them to do.
    /// (Defaulted so that messages queued before it existed still read; written as null,
    /// as the strict templates need every field defined.)
    #[serde(default)]
    pub book_url: Option<String>,
    /// Reminders only: until when (on the location's clock) the patient can still move the
    /// appointment online; `None` when the reminder comes inside the cancellation window.
    #[serde(default)]
    pub change_online_until: Option<String>,
    /// The clinic's telephone number, for changes that can no longer be made online.
    #[serde(default)]
    pub clinic_phone: Option<String>,
}

/// After a visit: a link to the follow-up questionnaire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpInvitation {
    pub patient_name: String,
    pub questionnaire_url: String,
}

/// To a practitioner: a case is waiting in the review queue. Deliberately says nothing about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewNeeded {
    pub practitioner_name: String,
    pub review_url: String,
}

/// To the new address a patient asked for: a link that proves they read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailChangeConfirmation {
    pub recipient_name: String,
    pub confirm_url: String,
    pub expires_in_hours: u32,
}

/// To the address in use: someone asked to change it, and nothing changes until the new one is
/// confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailChangeRequested {
    pub recipient_name: String,
    /// Where the patient can see their details (and set the address back).
    pub account_url: String,
}

/// To an account's address, on request: a link to choose a new password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordReset {
    pub recipient_name: String,
    pub reset_url: String,
    pub expires_in_hours: u32,
}

impl EmailContent {
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::AccountVerification(_) => MessageKind::AccountVerification,
            Self::PatientInvitation(_) => MessageKind::PatientInvitation,
            Self::AppointmentConfirmed(_) => MessageKind::AppointmentConfirmed,
            Self::AppointmentRescheduled(_) => MessageKind::AppointmentRescheduled,
            Self::AppointmentCancelled(_) => MessageKind::AppointmentCancelled,
            Self::AppointmentReminder(_) => MessageKind::AppointmentReminder,
            Self::FollowUpInvitation(_) => MessageKind::FollowUpInvitation,
            Self::ReviewNeeded(_) => MessageKind::ReviewNeeded,
            Self::EmailChangeConfirmation(_) => MessageKind::EmailChangeConfirmation,
            Self::EmailChangeRequested(_) => MessageKind::EmailChangeRequested,
            Self::PasswordReset(_) => MessageKind::PasswordReset,
        }
    }

    /// The fields the templates see, as a template value.
    pub fn template_fields(&self) -> minijinja::Value {
        match self {
            Self::AccountVerification(data) => {
                minijinja::Value::from(minijinja::value::Serde(data))
            }
            Self::PatientInvitation(data) => minijinja::Value::from(minijinja::value::Serde(data)),
            Self::AppointmentConfirmed(data)
            | Self::AppointmentRescheduled(data)
            | Self::AppointmentCancelled(data)
            | Self::AppointmentReminder(data) => {
                minijinja::Value::from(minijinja::value::Serde(data))
            }
            Self::FollowUpInvitation(data) => minijinja::Value::from(minijinja::value::Serde(data)),
            Self::ReviewNeeded(data) => minijinja::Value::from(minijinja::value::Serde(data)),
            Self::EmailChangeConfirmation(data) => {
                minijinja::Value::from(minijinja::value::Serde(data))
            }
            Self::EmailChangeRequested(data) => {
                minijinja::Value::from(minijinja::value::Serde(data))
            }
            Self::PasswordReset(data) => minijinja::Value::from(minijinja::value::Serde(data)),
        }
    }

    /// Plausible content for every kind: used to check templates at startup and in tests.
    pub fn sample(kind: MessageKind) -> Self {
        let appointment = AppointmentDetails {
            patient_name: "Alex Example".into(),
            appointment_type: "Chiropractic new patient visit".into(),
            practitioner_name: "Dr Sam Taylor".into(),
            location_name: "Riverside Clinic".into(),
            location_address: "1 River Street, Bristol BS1 1AA".into(),
            starts_at: "Monday 2 March 2026, 09:00 GMT".into(),
            duration_minutes: 45,
            manage_url: "https://clinic.example/appointments/0190a6c8".into(),
            book_url: Some("https://clinic.example/book".into()),
            change_online_until: None,
            clinic_phone: Some("0117 496 0000".into()),
        };
        match kind {
            MessageKind::AccountVerification => Self::AccountVerification(AccountVerification {
                recipient_name: "Alex Example".into(),
                verify_url: "https://clinic.example/verify?token=sample".into(),
                expires_in_hours: 24,
            }),
            MessageKind::PatientInvitation => Self::PatientInvitation(PatientInvitation {
                recipient_name: "Alex".into(),
                invitation_url: "https://clinic.example/accept-invitation?token=sample".into(),
                expires_in_days: 7,
            }),
            MessageKind::AppointmentConfirmed => Self::AppointmentConfirmed(appointment),
            MessageKind::AppointmentRescheduled => Self::AppointmentRescheduled(appointment),
            MessageKind::AppointmentCancelled => Self::AppointmentCancelled(appointment),
            MessageKind::AppointmentReminder => Self::AppointmentReminder(appointment),
            MessageKind::FollowUpInvitation => Self::FollowUpInvitation(FollowUpInvitation {
                patient_name: "Alex Example".into(),
                questionnaire_url: "https://clinic.example/follow-ups/sample".into(),
            }),
            MessageKind::ReviewNeeded => Self::ReviewNeeded(ReviewNeeded {
                practitioner_name: "Dr Sam Taylor".into(),
                review_url: "https://clinic.example/reviews".into(),
            }),
            MessageKind::EmailChangeConfirmation => {
                Self::EmailChangeConfirmation(EmailChangeConfirmation {
                    recipient_name: "Alex".into(),
                    confirm_url: "https://clinic.example/confirm-email?token=sample".into(),
                    expires_in_hours: 24,
                })
            }
            MessageKind::EmailChangeRequested => Self::EmailChangeRequested(EmailChangeRequested {
                recipient_name: "Alex".into(),
                account_url: "https://clinic.example/account".into(),
            }),
            MessageKind::PasswordReset => Self::PasswordReset(PasswordReset {
                recipient_name: "Alex".into(),
                reset_url: "https://clinic.example/reset-password?token=sample".into(),
                expires_in_hours: 1,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::parse(kind.as_str()), Some(kind));
            assert_eq!(EmailContent::sample(kind).kind(), kind);
        }
        assert_eq!(MessageKind::parse("newsletter"), None);
    }

    #[test]
    fn content_round_trips_through_json_with_its_kind_name() {
        for kind in MessageKind::ALL {
            let content = EmailContent::sample(kind);
            let json = serde_json::to_value(&content).unwrap();
            assert_eq!(json["kind"], kind.as_str());
            let back: EmailContent = serde_json::from_value(json).unwrap();
            assert_eq!(back, content);
        }
    }

    /// Reminders queued before the booking link and the "until when" existed still send.
    #[test]
    fn appointment_content_queued_before_the_new_fields_still_reads() {
        let mut json =
            serde_json::to_value(EmailContent::sample(MessageKind::AppointmentReminder)).unwrap();
        let data = json["data"].as_object_mut().unwrap();
        for field in ["book_url", "change_online_until", "clinic_phone"] {
            data.remove(field);
        }
        match serde_json::from_value(json).unwrap() {
            EmailContent::AppointmentReminder(details) => {
                assert_eq!(details.book_url, None);
                assert_eq!(details.change_online_until, None);
                assert_eq!(details.clinic_phone, None);
            }
            other => panic!("{other:?}"),
        }
    }
}
