//! RFC 5545 invitations for appointments (iTIP: METHOD:REQUEST to add or update, METHOD:CANCEL
//! to remove). The UID is derived from the appointment id, so every update and the cancellation
//! land on the same calendar entry; SEQUENCE orders them. Also a practitioner's subscribable feed
//! (METHOD:PUBLISH) with the same UIDs, so an entry from an invitation and from the feed match.

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
        .summary(&text(event.summary))
        .location(&text(event.location))
        .append_property(
            Property::new("ORGANIZER", mailto(event.organizer_email))
                .add_parameter("CN", &parameter(event.organizer_name))
                .done(),
        )
        .append_property(
            Property::new("ATTENDEE", mailto(event.attendee_email))
                .add_parameter("CN", &parameter(event.attendee_name))
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

// What icalendar 0.17 does with what we give it: TEXT values of the properties it knows
// (SUMMARY, LOCATION, X-*) get RFC 5545 section 3.3.11 escaping of `\`, `;`, `,` and LF, and
// every content line is folded at 75 octets on a character boundary (section 3.1). It passes a
// CR and other control characters through, escapes nothing in NAME (RFC 7986, unknown to it),
// and quotes a parameter value without encoding a DQUOTE or a line break inside the quotes. The
// edge refuses such characters in single-line fields; these close the rest, for values stored
// before it did and for fields added later.

/// A TEXT value for the crate to escape: any line break as LF (written `\n`), no other control.
fn text(value: &str) -> String {
    value
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| c == '\n' || !c.is_control())
        .collect()
}

/// A TEXT value escaped here, for a property the crate writes as it is (NAME).
fn escaped_text(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in text(value).chars() {
        match c {
            '\\' | ';' | ',' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A parameter value (CN) with RFC 6868 caret encoding of `^`, DQUOTE and line breaks, so the
/// quotes the crate adds around it hold.
fn parameter(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for c in text(value).chars() {
        match c {
            '^' => encoded.push_str("^^"),
            '"' => encoded.push_str("^'"),
            '\n' => encoded.push_str("^n"),
            c => encoded.push(c),
        }
    }
    encoded
}

/// A `mailto:` address (written as it is): addresses are validated where they enter, so this
/// only keeps a line break or a control character from ever reaching the line.
fn mailto(address: &str) -> String {
    let address: String = address.chars().filter(|c| !c.is_control()).collect();
    format!("mailto:{address}")
}

/// One appointment in a practitioner's feed. The names are only read for their initials.
#[derive(Debug, Clone)]
pub struct FeedEvent<'a> {
    pub appointment_id: Uuid,
    pub sequence: u32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The location's zone: the times are written as its wall-clock times.
    pub time_zone: Tz,
    pub patient_given_name: &'a str,
    pub patient_family_name: &'a str,
    pub appointment_type: &'a str,
    pub location: &'a str,
}

/// `J.R.` for Jane Roberts: the first letter of each name, so a calendar shown on a phone or a
/// shared screen does not name the patient.
pub fn initials(given_name: &str, family_name: &str) -> String {
    [given_name, family_name]
        .iter()
        .filter_map(|name| name.chars().find(|c| c.is_alphanumeric()))
        .map(|letter| format!("{}.", letter.to_uppercase()))
        .collect()
}

/// A practitioner's subscribable calendar (METHOD:PUBLISH): one event per appointment, the
/// patient's initials and the appointment type as the summary, nothing clinical.
pub fn feed(calendar_name: &str, events: &[FeedEvent<'_>], stamped_at: DateTime<Utc>) -> String {
    let mut calendar = Calendar::new();
    calendar
        .append_property(Property::new("METHOD", "PUBLISH"))
        // What `Calendar::name` writes, with NAME escaped (the crate escapes X-WR-CALNAME only).
        .append_property(Property::new("NAME", escaped_text(calendar_name)))
        .append_property(Property::new("X-WR-CALNAME", text(calendar_name)));
    for event in events {
        let local = |instant: DateTime<Utc>| instant.with_timezone(&event.time_zone).naive_local();
        let who = initials(event.patient_given_name, event.patient_family_name);
        let summary = if who.is_empty() {
            event.appointment_type.to_owned()
        } else {
            format!("{who} — {}", event.appointment_type)
        };
        calendar.push(
            Event::new()
                .uid(&appointment_uid(event.appointment_id))
                .sequence(event.sequence)
                .timestamp(stamped_at)
                .starts((local(event.starts_at), event.time_zone))
                .ends((local(event.ends_at), event.time_zone))
                .summary(&text(&summary))
                .location(&text(event.location))
                .status(EventStatus::Confirmed)
                .done(),
        );
    }
    calendar.done().to_string()
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

    fn feed_event(given: &'static str, family: &'static str) -> FeedEvent<'static> {
        FeedEvent {
            appointment_id: Uuid::parse_str("0190a6c8-1111-7000-8000-000000000002").unwrap(),
            sequence: 3,
            // 09:00 in New York in summer time is 13:00 UTC.
            starts_at: "2026-07-06T13:00:00Z".parse().unwrap(),
            ends_at: "2026-07-06T13:45:00Z".parse().unwrap(),
            time_zone: chrono_tz::America::New_York,
            patient_given_name: given,
            patient_family_name: family,
            appointment_type: "Chiropractic new patient visit",
            location: "Hill Clinic",
        }
    }

    #[test]
    fn the_feed_names_patients_by_initials_only() {
        let ics = unfolded(&feed(
            "Sam Taylor",
            &[feed_event("Jane", "Roberts-Quinn")],
            "2026-07-01T12:00:00Z".parse().unwrap(),
        ));
        assert!(
            ics.contains("SUMMARY:J.R. — Chiropractic new patient visit\r\n"),
            "{ics}"
        );
        assert!(!ics.contains("Jane") && !ics.contains("Roberts"), "{ics}");
        assert!(ics.contains("LOCATION:Hill Clinic\r\n"), "{ics}");
    }

    #[test]
    fn the_feed_publishes_with_the_invitation_uid_sequence_and_local_times() {
        let ics = unfolded(&feed(
            "Sam Taylor",
            &[feed_event("Jane", "Roberts")],
            "2026-07-01T12:00:00Z".parse().unwrap(),
        ));
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.trim_end().ends_with("END:VCALENDAR")
        );
        assert!(ics.contains("METHOD:PUBLISH\r\n"), "{ics}");
        assert!(ics.contains("X-WR-CALNAME:Sam Taylor\r\n"), "{ics}");
        assert!(
            ics.contains(&format!(
                "UID:{}\r\n",
                appointment_uid(feed_event("", "").appointment_id)
            )),
            "{ics}"
        );
        assert!(ics.contains("SEQUENCE:3\r\n"), "{ics}");
        assert!(
            ics.contains("DTSTART;TZID=America/New_York:20260706T090000\r\n"),
            "{ics}"
        );
        assert!(
            ics.contains("DTEND;TZID=America/New_York:20260706T094500\r\n"),
            "{ics}"
        );
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1);
    }

    #[test]
    fn an_empty_feed_is_still_a_calendar() {
        let ics = feed("Sam Taylor", &[], "2026-07-01T12:00:00Z".parse().unwrap());
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
        assert!(!ics.contains("BEGIN:VEVENT"), "{ics}");
    }

    #[test]
    fn initials_take_the_first_letter_of_each_name() {
        assert_eq!(initials("jane", "roberts"), "J.R.");
        assert_eq!(initials("Élodie", "d'Arcy"), "É.D.");
        assert_eq!(initials("", "Roberts"), "R.");
        assert_eq!(initials("-", ""), "");
    }

    /// Every physical line of `ics` is at most 75 octets and ends in CRLF.
    fn assert_folded(ics: &str) {
        assert!(ics.ends_with("\r\n"));
        for line in ics.trim_end_matches("\r\n").split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
            assert!(!line.contains(['\r', '\n']), "{line:?}");
        }
    }

    #[test]
    fn hostile_text_stays_inside_its_own_value() {
        let mut hostile = event(0);
        hostile.attendee_name = "Eve\r\nATTENDEE:mailto:evil@x.com\r\n\"Boss\" ^ x";
        hostile.summary = "Visit; with\\ Dr, Lee\rX-EVIL:1\u{7}";
        hostile.location = "1 River St\nATTENDEE:mailto:evil2@x.com";
        hostile.attendee_email = "alex@example.org\r\nX-EVIL:2";
        let ics = invite(&hostile, CalendarMethod::Request).ics;
        assert_folded(&ics);
        let ics = unfolded(&ics);
        let attendees: Vec<&str> = ics
            .split("\r\n")
            .filter(|line| line.starts_with("ATTENDEE"))
            .collect();
        assert_eq!(
            attendees,
            [
                "ATTENDEE;CN=\"Eve^nATTENDEE:mailto:evil@x.com^n^'Boss^' ^^ x\";\
                 ROLE=REQ-PARTICIPANT:mailto:alex@example.orgX-EVIL:2"
            ],
            "{ics}"
        );
        assert!(
            ics.contains("\r\nSUMMARY:Visit\\; with\\\\ Dr\\, Lee\\nX-EVIL:1\r\n"),
            "{ics}"
        );
        assert!(
            ics.contains("\r\nLOCATION:1 River St\\nATTENDEE:mailto:evil2@x.com\r\n"),
            "{ics}"
        );
        assert!(!ics.contains("\r\nX-EVIL"), "{ics}");
        // A reader gets the values back as they were, less the control characters.
        let calendar: Calendar = ics.parse().unwrap();
        let parsed = calendar.components[0].as_event().unwrap();
        assert_eq!(
            parsed.get_summary(),
            Some("Visit; with\\ Dr, Lee\nX-EVIL:1")
        );
    }

    #[test]
    fn long_values_fold_at_75_octets_on_character_boundaries() {
        let name = "Zoë Åsa Ødegård-Ñúñez ".repeat(8);
        let location = "Ünïcödé Street, 😀 Building, ".repeat(6);
        let mut long = event(0);
        long.attendee_name = &name;
        long.location = &location;
        let ics = invite(&long, CalendarMethod::Request).ics;
        assert_folded(&ics);
        let ics = unfolded(&ics);
        assert!(ics.contains(&format!("CN={}", name)), "{ics}");
        assert!(
            ics.contains(&"Ünïcödé Street\\, 😀 Building\\, ".repeat(6)),
            "{ics}"
        );
    }

    #[test]
    fn a_feed_name_is_escaped_in_both_properties() {
        let ics = unfolded(&feed(
            "Lee, Sam; PT\r\nX-EVIL:1",
            &[],
            "2026-07-01T12:00:00Z".parse().unwrap(),
        ));
        assert!(
            ics.contains("\r\nNAME:Lee\\, Sam\\; PT\\nX-EVIL:1\r\n"),
            "{ics}"
        );
        assert!(
            ics.contains("\r\nX-WR-CALNAME:Lee\\, Sam\\; PT\\nX-EVIL:1\r\n"),
            "{ics}"
        );
        assert!(!ics.contains("\r\nX-EVIL"), "{ics}");
    }

    #[test]
    fn methods_round_trip() {
        for method in [CalendarMethod::Request, CalendarMethod::Cancel] {
            assert_eq!(CalendarMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(CalendarMethod::parse("PUBLISH"), None);
    }
}
