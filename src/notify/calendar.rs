//! RFC 5545 invitations for appointments (iTIP: METHOD:REQUEST to add or update, METHOD:CANCEL
//! to remove). The UID is derived from the appointment id, so every update and the cancellation
//! land on the same calendar entry; SEQUENCE orders them.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarMethod {
    Request,
    Cancel,
}

impl CalendarMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Cancel => "CANCEL",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "REQUEST" => Some(Self::Request),
            "CANCEL" => Some(Self::Cancel),
            _ => None,
        }
    }
}

/// An `.ics` document and the method it was built for (the attachment's content type says it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarInvite {
    pub method: CalendarMethod,
    pub ics: String,
}

/// What the invitation says. Only time, place and people: never clinical details.
#[derive(Debug, Clone)]
pub struct AppointmentEvent<'a> {
    pub appointment_id: Uuid,
    /// 0 for the booking, increased by every change.
    pub sequence: u32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The location's zone: the times are written as its wall-clock times.
    pub time_zone: Tz,
    pub summary: &'a str,
    pub location: &'a str,
    pub organizer_name: &'a str,
    pub organizer_email: &'a str,
    pub attendee_name: &'a str,
    pub attendee_email: &'a str,
    /// DTSTAMP: when this version of the invitation was made.
    pub stamped_at: DateTime<Utc>,
}

/// The calendar UID of an appointment: stable across every update and the cancellation.
pub fn appointment_uid(appointment_id: Uuid) -> String {
    format!("appointment-{appointment_id}@lumbar")
}

pub fn invite(event: &AppointmentEvent<'_>, method: CalendarMethod) -> CalendarInvite {
    let local = |instant: DateTime<Utc>| instant.with_timezone(&event.time_zone).naive_local();
    let mut calendar_event = Event::new();
    calendar_event
        .uid(&appointment_uid(event.appointment_id))
        .sequence(event.sequence)
        .timestamp(event.stamped_at)
        .starts((local(event.starts_at), event.time_zone))
        .ends((local(event.ends_at), event.time_zone))
        .summary(event.summary)
        .location(event.location)
        .append_property(
            Property::new("ORGANIZER", format!("mailto:{}", event.organizer_email))
                .add_parameter("CN", event.organizer_name)
                .done(),
        )
        .append_property(
            Property::new("ATTENDEE", format!("mailto:{}", event.attendee_email))
                .add_parameter("CN", event.attendee_name)
                .add_parameter("ROLE", "REQ-PARTICIPANT")
                .done(),
        );
    match method {
        CalendarMethod::Request => calendar_event.status(EventStatus::Confirmed),
        CalendarMethod::Cancel => calendar_event.status(EventStatus::Cancelled),
    };
    let mut calendar = Calendar::new();
    calendar
        .append_property(Property::new("METHOD", method.as_str()))
        .push(calendar_event.done());
    CalendarInvite {
        method,
        ics: calendar.done().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(sequence: u32) -> AppointmentEvent<'static> {
        AppointmentEvent {
            appointment_id: Uuid::parse_str("0190a6c8-1111-7000-8000-000000000001").unwrap(),
            sequence,
            // 09:00 in London in summer time is 08:00 UTC.
            starts_at: "2026-07-06T08:00:00Z".parse().unwrap(),
            ends_at: "2026-07-06T08:45:00Z".parse().unwrap(),
            time_zone: chrono_tz::Europe::London,
            summary: "Physiotherapy with Sam Taylor",
            location: "Riverside Clinic, 1 River Street",
            organizer_name: "Riverside Clinic",
            organizer_email: "bookings@clinic.example",
            attendee_name: "Alex Example",
            attendee_email: "alex@example.org",
            stamped_at: "2026-07-01T12:00:00Z".parse().unwrap(),
        }
    }

    fn unfolded(ics: &str) -> String {
        ics.replace("\r\n ", "")
    }

    #[test]
    fn a_request_carries_uid_sequence_and_local_times_with_their_zone() {
        let invite = invite(&event(0), CalendarMethod::Request);
        let ics = unfolded(&invite.ics);
        assert!(ics.contains("METHOD:REQUEST\r\n"), "{ics}");
        assert!(
            ics.contains("UID:appointment-0190a6c8-1111-7000-8000-000000000001@lumbar\r\n"),
            "{ics}"
        );
        assert!(ics.contains("SEQUENCE:0\r\n"), "{ics}");
        assert!(
            ics.contains("DTSTART;TZID=Europe/London:20260706T090000\r\n"),
            "{ics}"
        );
        assert!(
            ics.contains("DTEND;TZID=Europe/London:20260706T094500\r\n"),
            "{ics}"
        );
        assert!(ics.contains("STATUS:CONFIRMED\r\n"), "{ics}");
        assert!(
            ics.contains("ORGANIZER;CN=Riverside Clinic:mailto:bookings@clinic.example"),
            "{ics}"
        );
        assert!(ics.contains("mailto:alex@example.org"), "{ics}");
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.trim_end().ends_with("END:VCALENDAR")
        );
    }

    #[test]
    fn a_change_keeps_the_uid_and_raises_the_sequence_and_a_cancel_says_so() {
        let first = unfolded(&invite(&event(0), CalendarMethod::Request).ics);
        let moved = unfolded(&invite(&event(1), CalendarMethod::Request).ics);
        let cancelled = unfolded(&invite(&event(2), CalendarMethod::Cancel).ics);
        let uid = "UID:appointment-0190a6c8-1111-7000-8000-000000000001@lumbar";
        for ics in [&first, &moved, &cancelled] {
            assert!(ics.contains(uid));
        }
        assert!(moved.contains("SEQUENCE:1\r\n"));
        assert!(cancelled.contains("METHOD:CANCEL\r\n"));
        assert!(cancelled.contains("SEQUENCE:2\r\n"));
        assert!(cancelled.contains("STATUS:CANCELLED\r\n"));
    }

    #[test]
    fn winter_times_use_the_winter_offset() {
        let mut winter = event(0);
        winter.starts_at = "2026-01-05T09:00:00Z".parse().unwrap();
        winter.ends_at = "2026-01-05T09:30:00Z".parse().unwrap();
        let ics = unfolded(&invite(&winter, CalendarMethod::Request).ics);
        assert!(
            ics.contains("DTSTART;TZID=Europe/London:20260105T090000\r\n"),
            "{ics}"
        );
    }

    #[test]
    fn methods_round_trip() {
        for method in [CalendarMethod::Request, CalendarMethod::Cancel] {
            assert_eq!(CalendarMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(CalendarMethod::parse("PUBLISH"), None);
    }
}
