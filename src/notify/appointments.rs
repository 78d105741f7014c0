//! What the emails about one appointment say: names, times, places and links, nothing
//! clinical. Composing them is pure; the service layer loads the rows and enqueues the
//! messages in the transaction of the change they announce.

use chrono::{DateTime, Utc};
use entity::{appointment, appointment_type, location, patient, practitioner};
use lettre::message::Mailbox;
use uuid::Uuid;

use crate::{
    notify::{
        calendar::{AppointmentEvent, CalendarInvite, CalendarMethod, invite},
        content::{AppointmentDetails, EmailContent, FollowUpInvitation},
    },
    scheduling::{self, ClinicPolicies, Zone},
    store::outbox::NewMessage,
};

/// The dedupe key of an appointment's reminder: one per version of the appointment, so a
/// moved appointment's old reminder can be cancelled and a new one queued.
pub fn reminder_key(appointment_id: Uuid, sequence: i32) -> String {
    format!("reminder:{appointment_id}:{sequence}")
}

/// The rows an appointment's emails are composed from.
pub struct AppointmentParts<'a> {
    pub patient: &'a patient::Model,
    pub appointment_type: &'a appointment_type::Model,
    pub practitioner: &'a practitioner::Model,
    pub location: &'a location::Model,
    pub zone: Zone,
}

/// Where an appointment's emails send the patient, and whom to call.
pub struct MailLinks {
    /// The page where the patient manages the appointment.
    pub manage_url: String,
    /// The page where the patient books a new appointment.
    pub book_url: String,
    pub clinic_phone: Option<String>,
}

/// The emails about one appointment.
pub struct AppointmentMail {
    recipient: Option<String>,
    details: AppointmentDetails,
    patient_name: String,
    zone: Zone,
    summary: String,
    location_name: String,
}

impl AppointmentMail {
    pub fn compose(
        row: &appointment::Model,
        parts: AppointmentParts<'_>,
        links: MailLinks,
    ) -> Self {
        let AppointmentParts {
            patient,
            appointment_type: kind,
            practitioner,
            location,
            zone,
        } = parts;
        let details = AppointmentDetails {
            patient_name: patient.given_name.clone(),
            appointment_type: format!("{} ({} min)", kind.name, kind.duration_minutes),
            practitioner_name: practitioner.display_name.clone(),
            location_name: location.name.clone(),
            location_address: location.address.clone(),
            starts_at: zone.wall_clock(row.starts_at).to_string(),
            duration_minutes: u32::try_from(kind.duration_minutes).unwrap_or_default(),
            manage_url: links.manage_url,
            book_url: Some(links.book_url),
            change_online_until: None,
            clinic_phone: links.clinic_phone,
        };
        Self {
            recipient: patient.email.clone(),
            details,
            patient_name: format!("{} {}", patient.given_name, patient.family_name),
            zone,
            summary: format!("{} with {}", kind.name, practitioner.display_name),
            location_name: location.name.clone(),
        }
    }

    fn invite(
        &self,
        organizer: &Mailbox,
        row: &appointment::Model,
        now: DateTime<Utc>,
        method: CalendarMethod,
        recipient: &str,
    ) -> CalendarInvite {
        let organizer_email = organizer.email.to_string();
        let organizer_name = organizer.name.clone().unwrap_or_else(|| "Lumbar".into());
        invite(
            &AppointmentEvent {
                appointment_id: row.id,
                sequence: u32::try_from(row.sequence).unwrap_or_default(),
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                time_zone: self.zone.tz(),
                summary: &self.summary,
                location: &self.location_name,
                organizer_name: &organizer_name,
                organizer_email: &organizer_email,
                attendee_name: &self.patient_name,
                attendee_email: recipient,
                stamped_at: now,
            },
            method,
        )
    }

    /// An email about the appointment to send now, with a calendar invite (or its
    /// cancellation) from `organizer`; none for a patient without an address.
    pub fn message(
        &self,
        organizer: &Mailbox,
        now: DateTime<Utc>,
        row: &appointment::Model,
        content: fn(AppointmentDetails) -> EmailContent,
        method: Option<CalendarMethod>,
    ) -> Option<NewMessage> {
        let recipient = self.recipient.clone()?;
        let mut message =
            NewMessage::immediate(recipient.clone(), content(self.details.clone()), now);
        message.calendar =
            method.map(|method| self.invite(organizer, row, now, method, &recipient));
        Some(message)
    }

    /// The reminder ([`scheduling::reminder`]), saying until when the patient can still move
    /// the visit online, or to call the clinic; dropped if it has not gone by the start.
    pub fn reminder(
        &self,
        now: DateTime<Utc>,
        row: &appointment::Model,
        policies: &ClinicPolicies,
    ) -> Option<NewMessage> {
        let recipient = self.recipient.clone()?;
        let reminder = scheduling::reminder(row.starts_at, now, policies)?;
        let details = AppointmentDetails {
            change_online_until: reminder
                .changes_online_until
                .map(|until| self.zone.wall_clock(until).to_string()),
            ..self.details.clone()
        };
        Some(NewMessage {
            recipient,
            content: EmailContent::AppointmentReminder(details),
            calendar: None,
            not_before: reminder.send_at,
            deadline: Some(reminder.deadline),
            dedupe_key: Some(reminder_key(row.id, row.sequence)),
        })
    }

    /// Whether the patient can be emailed at all.
    pub fn has_recipient(&self) -> bool {
        self.recipient.is_some()
    }

    /// After a completed visit: the follow-up questionnaire link, sent at `send_at`.
    pub fn follow_up(
        &self,
        row: &appointment::Model,
        send_at: DateTime<Utc>,
        questionnaire_url: String,
    ) -> Option<NewMessage> {
        let recipient = self.recipient.clone()?;
        Some(NewMessage {
            recipient,
            content: EmailContent::FollowUpInvitation(FollowUpInvitation {
                patient_name: self.details.patient_name.clone(),
                questionnaire_url,
            }),
            calendar: None,
            not_before: send_at,
            deadline: None,
            dedupe_key: Some(format!("follow-up:{}", row.id)),
        })
    }
}
