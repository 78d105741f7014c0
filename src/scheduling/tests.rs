//! Unit tests: validation, availability (including DST weeks in New York and London), booking
//! policies and the lifecycle.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use uuid::Uuid;

use super::*;
use crate::ids::{LocationId, PractitionerId};

pub(super) const PRACTITIONER: PractitionerId = PractitionerId::new(Uuid::from_u128(1));
pub(super) const OTHER_PRACTITIONER: PractitionerId = PractitionerId::new(Uuid::from_u128(2));
pub(super) const LOCATION: LocationId = LocationId::new(Uuid::from_u128(10));
pub(super) const OTHER_LOCATION: LocationId = LocationId::new(Uuid::from_u128(11));

pub(super) fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid date")
}

pub(super) fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, 0)
        .single()
        .expect("valid instant")
}

pub(super) fn zone(name: &str) -> Zone {
    Zone::parse(name).expect("known zone")
}

/// Policies with no notice and a long horizon, so tests see every slot unless they say not.
pub(super) fn policies(grid: i64) -> ClinicPolicies {
    policies_with(grid, 0, 365)
}

pub(super) fn policies_with(grid: i64, notice_minutes: i64, horizon_days: i64) -> ClinicPolicies {
    ClinicPolicies::new(ClinicPoliciesInput {
        slot_grid_minutes: grid,
        min_notice_minutes: notice_minutes,
        horizon_days,
        cancellation_window_minutes: 24 * 60,
        reminder_lead_minutes: 24 * 60,
        follow_up_delay_days: 14,
    })
    .expect("valid policies")
}

pub(super) fn appointment_type(
    duration: i64,
    buffer: i64,
    grid: SlotGrid,
    discipline: Discipline,
    new_patient: bool,
) -> AppointmentType {
    AppointmentType::new(
        AppointmentTypeInput {
            name: format!("{discipline} {duration}"),
            discipline,
            duration_minutes: duration,
            buffer_after_minutes: buffer,
            new_patient,
            active: true,
        },
        grid,
    )
    .expect("valid appointment type")
}

fn chiro(duration: i64, buffer: i64, grid: SlotGrid) -> AppointmentType {
    appointment_type(duration, buffer, grid, Discipline::Chiropractic, false)
}

pub(super) fn weekly(intervals: &[(Weekday, &str, &str)], grid: SlotGrid) -> WeeklyHours {
    let input: Vec<_> = intervals
        .iter()
        .map(|&(weekday, start, end)| WorkingIntervalInput::new(weekday, start, end))
        .collect();
    WeeklyHours::new(&input, grid).expect("valid hours")
}

fn every_day(start: &str, end: &str, grid: SlotGrid) -> WeeklyHours {
    let days = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    let intervals: Vec<_> = days.iter().map(|&day| (day, start, end)).collect();
    weekly(&intervals, grid)
}

pub(super) fn calendar(zone_name: &str, hours: WeeklyHours) -> PractitionerCalendar {
    PractitionerCalendar {
        practitioner_id: PRACTITIONER,
        discipline: Discipline::Chiropractic,
        locations: vec![LocationHours {
            location_id: LOCATION,
            zone: zone(zone_name),
            hours,
        }],
        time_off: Vec::new(),
        busy: Vec::new(),
    }
}

/// Availability for staff (no notice) with `now` long before the dates.
fn staff_slots(
    kind: &AppointmentType,
    policies: &ClinicPolicies,
    calendars: &[PractitionerCalendar],
    from: NaiveDate,
    to: NaiveDate,
) -> Availability {
    let query = AvailabilityQuery {
        appointment_type: kind,
        from,
        to,
        actor: Actor::Staff,
        now: utc(2026, 1, 1, 0, 0),
    };
    availability(&query, policies, calendars).expect("valid query")
}

/// `HH:MM ABBR` of each slot, for readable expectations.
fn wall(availability: &Availability) -> Vec<String> {
    availability
        .slots()
        .iter()
        .map(|slot| format!("{} {}", slot.local_start.format("%H:%M"), slot.abbreviation))
        .collect()
}

/// The invariants every DST test checks on top of its exact expectation.
fn assert_dst_safe(availability: &Availability, kind: &AppointmentType) {
    let slots = availability.slots();
    for pair in slots.windows(2) {
        assert!(pair[0].start < pair[1].start, "sorted, no instant twice");
    }
    for slot in slots {
        let tz = slot.time_zone.tz();
        // The local time exists and maps back to this very instant.
        let local = slot.local_start.naive_local();
        let mapped = tz.from_local_datetime(&local);
        let candidates = [mapped.earliest(), mapped.latest()];
        assert!(
            candidates
                .iter()
                .flatten()
                .any(|instant| instant.with_timezone(&Utc) == slot.start),
            "{local} must exist and be {}",
            slot.start
        );
        assert_eq!(
            slot.local_start,
            slot.start.with_timezone(&slot.local_start.timezone())
        );
        assert_eq!(
            slot.end - slot.start,
            kind.duration().duration(),
            "real minutes"
        );
        assert_eq!(
            slot.blocked_until - slot.end,
            kind.buffer_after().duration(),
            "real minutes"
        );
        assert_eq!(slot.abbreviation, slot.wall_clock().abbreviation);
    }
}

// ---------------------------------------------------------------------------------------------
// Domain types
// ---------------------------------------------------------------------------------------------

#[test]
fn minutes_are_bounded() {
    assert_eq!(Minutes::new(90).map(Minutes::get), Ok(90));
    assert_eq!(Minutes::new(0), Ok(Minutes::ZERO));
    assert_eq!(
        Minutes::new(i64::from(Minutes::MAX.get())),
        Ok(Minutes::MAX)
    );
    for bad in [-1, i64::from(Minutes::MAX.get()) + 1, i64::MAX, i64::MIN] {
        let error = Minutes::new(bad).expect_err("out of range");
        assert_eq!(
            (error.field.as_str(), error.code),
            ("minutes", ValidationCode::OutOfRange)
        );
    }
    assert_eq!(Minutes::from_days(2).map(Minutes::get), Ok(2880));
    assert!(Minutes::from_days(i64::MAX).is_err());
    assert_eq!(
        Minutes::new(30).map(|m| m.duration()),
        Ok(TimeDelta::minutes(30))
    );
}

#[test]
fn slot_grid_allows_divisors_of_an_hour() {
    for minutes in [5, 10, 15, 20, 30, 60] {
        assert_eq!(
            SlotGrid::new(minutes).map(|grid| i64::from(grid.minutes())),
            Ok(minutes)
        );
    }
    for minutes in [0, -15, 7, 25, 45, 90, 120] {
        let error = SlotGrid::new(minutes).expect_err("not allowed");
        assert_eq!(error.code, ValidationCode::InvalidSlotGrid);
        assert_eq!(error.field, "slot_grid_minutes");
        assert!(error.message.contains("5, 10, 15, 20, 30 or 60"));
    }
    assert_eq!(SlotGrid::default().minutes(), 15);
}

#[test]
fn local_times_parse_strictly() {
    assert_eq!(LocalTime::parse("09:30").map(LocalTime::minutes), Ok(570));
    assert_eq!(LocalTime::parse("00:00"), Ok(LocalTime::MIDNIGHT));
    assert_eq!(LocalTime::parse("24:00"), Ok(LocalTime::END_OF_DAY));
    for bad in [
        "24:01", "9:30", "09:60", "0930", "ab:cd", "", "09:30:00", "-1:00", "+9:30",
    ] {
        let error = LocalTime::parse(bad).expect_err(bad);
        assert_eq!(error.code, ValidationCode::InvalidTime, "{bad}");
    }
    assert_eq!(
        LocalTime::from_hm(23, 45).map(|t| t.to_string()),
        Some("23:45".into())
    );
    assert_eq!(LocalTime::from_hm(24, 1), None);
    assert_eq!(
        serde_json::to_value(LocalTime::from_hm(7, 5)).ok(),
        Some(serde_json::json!("07:05"))
    );
}

#[test]
fn a_typed_local_time_names_one_instant_or_none_in_a_gap() {
    let london = zone("Europe/London");
    let at = |day: u32, hour: u32, minute: u32| {
        date(2026, 3, day)
            .and_hms_opt(hour, minute, 0)
            .expect("a time")
    };
    assert_eq!(london.instant(at(2, 9, 0)), Some(utc(2026, 3, 2, 9, 0)));
    // 29 March 2026: 01:00 GMT jumps to 02:00 BST, so 01:30 never shows on a clock.
    assert_eq!(london.instant(at(29, 1, 30)), None);
    assert_eq!(london.instant(at(29, 2, 0)), Some(utc(2026, 3, 29, 1, 0)));
    // 25 October 2026: 01:30 reads twice; the first is meant.
    let repeated = date(2026, 10, 25).and_hms_opt(1, 30, 0).expect("a time");
    assert_eq!(london.instant(repeated), Some(utc(2026, 10, 25, 0, 30)));
}

#[test]
fn zones_are_iana_names() {
    let london = zone("Europe/London");
    assert_eq!(london.name(), "Europe/London");
    assert_eq!(
        serde_json::to_value(london).ok(),
        Some(serde_json::json!("Europe/London"))
    );
    assert_eq!(
        serde_json::from_value::<Zone>(serde_json::json!("America/New_York")).ok(),
        Some(zone("America/New_York"))
    );
    assert!(serde_json::from_value::<Zone>(serde_json::json!("Mars/Olympus")).is_err());
    assert!(Zone::parse("UTC").is_ok());
    for bad in [
        "",
        "Mars/Olympus",
        "EST",
        "CET",
        "Etc/GMT+5",
        "europe/london",
        "GMT+1",
    ] {
        let error = Zone::parse(bad).expect_err(bad);
        assert_eq!(
            (error.field.as_str(), error.code),
            ("time_zone", ValidationCode::UnknownTimeZone),
            "{bad}"
        );
        assert!(error.message.contains("IANA"));
    }
}

#[test]
fn a_local_day_is_23_24_or_25_real_hours() {
    let london = Zone::parse("Europe/London").unwrap();
    let hours = |zone: Zone, date: &str| {
        let (from, to) = zone.day_bounds(date.parse().unwrap());
        (to - from).num_hours()
    };
    assert_eq!(hours(london, "2026-03-29"), 23);
    assert_eq!(hours(london, "2026-10-25"), 25);
    assert_eq!(hours(london, "2026-06-01"), 24);
    let (from, _) = london.day_bounds("2026-06-01".parse().unwrap());
    assert_eq!(from.to_rfc3339(), "2026-05-31T23:00:00+00:00");
    // Where the clocks jump at midnight the day starts at 01:00 (Santiago, 6 September 2026).
    let santiago = Zone::parse("America/Santiago").unwrap();
    let (from, to) = santiago.day_bounds("2026-09-06".parse().unwrap());
    assert_eq!(from.to_rfc3339(), "2026-09-06T04:00:00+00:00");
    assert_eq!((to - from).num_hours(), 23);
    // The last representable date does not overflow.
    let _ = london.day_bounds(NaiveDate::MAX);
}

#[test]
fn wall_clock_shows_offset_and_abbreviation() {
    let new_york = zone("America/New_York");
    let clock = new_york.wall_clock(utc(2026, 3, 8, 7, 0));
    assert_eq!(clock.local.to_rfc3339(), "2026-03-08T03:00:00-04:00");
    assert_eq!(clock.abbreviation, "EDT");
    assert_eq!(clock.to_string(), "Sun 8 Mar 2026 03:00 EDT");
    assert_eq!(
        new_york.wall_clock(utc(2026, 3, 8, 6, 59)).abbreviation,
        "EST"
    );
    assert_eq!(
        zone("Europe/London")
            .wall_clock(utc(2026, 7, 1, 12, 0))
            .abbreviation,
        "BST"
    );
    // A zone whose tz data has no letters gets the numeric form.
    let sao_paulo = zone("America/Sao_Paulo").wall_clock(utc(2026, 7, 1, 12, 0));
    assert_eq!(sao_paulo.abbreviation, "-03");
    assert_eq!(new_york.local_date(utc(2026, 3, 9, 3, 0)), date(2026, 3, 8));
}

#[test]
fn intervals_must_end_after_they_start() {
    let start = utc(2026, 5, 1, 9, 0);
    assert!(Interval::new(start, start + TimeDelta::minutes(1)).is_ok());
    let error = Interval::new(start, start).expect_err("empty");
    assert_eq!(
        (error.field.as_str(), error.code),
        ("end", ValidationCode::EndNotAfterStart)
    );
    let a = Interval::new(start, utc(2026, 5, 1, 10, 0)).expect("valid");
    let b = Interval::new(utc(2026, 5, 1, 10, 0), utc(2026, 5, 1, 11, 0)).expect("valid");
    assert!(!a.overlaps(&b), "touching is not overlapping");
    assert_eq!(a.duration(), TimeDelta::hours(1));
}

// ---------------------------------------------------------------------------------------------
// Clinic setup validation
// ---------------------------------------------------------------------------------------------

fn type_input(duration: i64, buffer: i64) -> AppointmentTypeInput {
    AppointmentTypeInput {
        name: "Physio follow-up".into(),
        discipline: Discipline::Physiotherapy,
        duration_minutes: duration,
        buffer_after_minutes: buffer,
        new_patient: false,
        active: true,
    }
}

#[test]
fn appointment_types_validate_against_the_grid() {
    let grid = SlotGrid::default();
    let kind = AppointmentType::new(type_input(45, 10), grid).expect("valid");
    assert_eq!(kind.duration().get(), 45);
    assert_eq!(
        kind.buffer_after().get(),
        10,
        "the buffer need not be on the grid"
    );
    assert_eq!(kind.occupies().get(), 55);
    assert_eq!(kind.discipline(), Discipline::Physiotherapy);

    let off_grid = AppointmentType::new(type_input(25, 0), grid).expect_err("off grid");
    assert!(off_grid.has("duration_minutes", ValidationCode::OffGrid));
    assert!(off_grid.as_slice()[0].message.contains("15-minute"));

    let errors = AppointmentType::new(
        AppointmentTypeInput {
            name: "   ".into(),
            ..type_input(0, -5)
        },
        grid,
    )
    .expect_err("three problems");
    let found: Vec<_> = errors
        .as_slice()
        .iter()
        .map(|error| (error.field.as_str(), error.code))
        .collect();
    assert_eq!(
        found,
        [
            ("name", ValidationCode::Required),
            ("duration_minutes", ValidationCode::OutOfRange),
            ("buffer_after_minutes", ValidationCode::OutOfRange),
        ]
    );
    assert!(
        AppointmentType::new(type_input(495, 0), grid).is_err(),
        "over 8 hours"
    );
    assert!(
        AppointmentType::new(
            AppointmentTypeInput {
                name: "x".repeat(101),
                ..type_input(30, 0)
            },
            grid
        )
        .is_err_and(|errors| errors.has("name", ValidationCode::TooLong))
    );
    let json = serde_json::to_value(&errors).expect("serialises");
    assert_eq!(json[0]["code"], "required");
    assert_eq!(json[0]["field"], "name");
}

#[test]
fn clinic_policies_validate_every_field() {
    let defaults = ClinicPolicies::default();
    assert_eq!(ClinicPolicies::new(defaults.to_input()), Ok(defaults));
    assert_eq!(defaults.horizon().get(), 90 * 24 * 60);

    let errors = ClinicPolicies::new(ClinicPoliciesInput {
        slot_grid_minutes: 7,
        min_notice_minutes: -1,
        horizon_days: 0,
        cancellation_window_minutes: 15 * 24 * 60,
        reminder_lead_minutes: 0,
        follow_up_delay_days: 400,
    })
    .expect_err("all wrong");
    for (field, code) in [
        ("slot_grid_minutes", ValidationCode::InvalidSlotGrid),
        ("min_notice_minutes", ValidationCode::OutOfRange),
        ("horizon_days", ValidationCode::OutOfRange),
        ("cancellation_window_minutes", ValidationCode::OutOfRange),
        ("reminder_lead_minutes", ValidationCode::OutOfRange),
        ("follow_up_delay_days", ValidationCode::OutOfRange),
    ] {
        assert!(errors.has(field, code), "{field}: {errors}");
    }
    assert_eq!(errors.as_slice().len(), 6);

    let notice_too_long = ClinicPolicies::new(ClinicPoliciesInput {
        min_notice_minutes: 2 * 24 * 60,
        horizon_days: 2,
        ..defaults.to_input()
    })
    .expect_err("notice not shorter than horizon");
    assert!(notice_too_long.has("min_notice_minutes", ValidationCode::OutOfRange));
}

#[test]
fn booking_window_gives_patients_notice_and_everyone_the_horizon() {
    let policies = policies_with(15, 120, 30);
    let now = utc(2026, 5, 4, 9, 0);
    let patient = policies.booking_window(Actor::Patient, now);
    assert_eq!(patient.earliest, utc(2026, 5, 4, 11, 0));
    assert_eq!(patient.latest, utc(2026, 6, 3, 9, 0));
    let staff = policies.booking_window(Actor::Staff, now);
    assert_eq!(staff.earliest, now);
    assert_eq!(staff.latest, patient.latest);
    assert!(staff.contains(now) && !patient.contains(now));
    assert!(
        !patient.contains(patient.latest),
        "the horizon is exclusive"
    );
    // No panic at the end of time.
    let far = policies.booking_window(Actor::Patient, DateTime::<Utc>::MAX_UTC);
    assert_eq!(far.latest, DateTime::<Utc>::MAX_UTC);
}

#[test]
fn time_off_needs_an_interval_and_a_reason() {
    let start = utc(2026, 8, 1, 0, 0);
    let off = TimeOff::new(start, utc(2026, 8, 15, 0, 0), "  Summer holiday ").expect("valid");
    assert_eq!(off.reason(), "Summer holiday");
    assert_eq!(off.interval().start(), start);
    let errors = TimeOff::new(start, start, " ").expect_err("both wrong");
    assert!(errors.has("end", ValidationCode::EndNotAfterStart));
    assert!(errors.has("reason", ValidationCode::Required));
}

#[test]
fn weekly_hours_accept_breaks_and_touching_intervals() {
    let grid = SlotGrid::default();
    let hours = weekly(
        &[
            (Weekday::Mon, "13:00", "17:00"),
            (Weekday::Mon, "09:00", "12:00"),
            (Weekday::Tue, "09:00", "12:00"),
            (Weekday::Tue, "12:00", "15:00"),
            (Weekday::Fri, "18:00", "24:00"),
        ],
        grid,
    );
    let monday: Vec<_> = hours.on(Weekday::Mon).map(ToString::to_string).collect();
    assert_eq!(monday, ["Monday 09:00–12:00", "Monday 13:00–17:00"]);
    assert_eq!(
        hours.intervals()[0].start.to_string(),
        "13:00",
        "input order kept"
    );
    assert_eq!(hours.on(Weekday::Sun).count(), 0);
    let json = serde_json::to_value(&hours).expect("serialises");
    assert_eq!(json[4]["end"], "24:00");
    assert_eq!(json[4]["weekday"], "Fri");
}

#[test]
fn weekly_hours_refuse_bad_intervals_with_field_names() {
    let grid = SlotGrid::default();
    let input = [
        WorkingIntervalInput::new(Weekday::Mon, "09:00", "12:00"),
        WorkingIntervalInput::new(Weekday::Mon, "12:00", "11:00"),
        WorkingIntervalInput::new(Weekday::Tue, "9am", "24:30"),
        WorkingIntervalInput::new(Weekday::Wed, "09:10", "12:00"),
    ];
    let errors = WeeklyHours::new(&input, grid).expect_err("invalid");
    let found: Vec<_> = errors
        .as_slice()
        .iter()
        .map(|error| (error.field.as_str(), error.code))
        .collect();
    assert_eq!(
        found,
        [
            ("intervals[1].end", ValidationCode::EndNotAfterStart),
            ("intervals[2].start", ValidationCode::InvalidTime),
            ("intervals[2].end", ValidationCode::InvalidTime),
            ("intervals[3].start", ValidationCode::OffGrid),
        ]
    );

    let overlapping = [
        WorkingIntervalInput::new(Weekday::Thu, "13:00", "17:00"),
        WorkingIntervalInput::new(Weekday::Thu, "08:00", "09:00"),
        WorkingIntervalInput::new(Weekday::Thu, "09:00", "13:30"),
        WorkingIntervalInput::new(Weekday::Fri, "09:00", "13:30"),
    ];
    let errors = WeeklyHours::new(&overlapping, grid).expect_err("overlap");
    assert_eq!(errors.as_slice().len(), 1, "{errors}");
    let error = &errors.as_slice()[0];
    assert_eq!(
        (error.field.as_str(), error.code),
        ("intervals[2]", ValidationCode::Overlapping)
    );
    assert_eq!(
        error.message,
        "Thursday 09:00–13:30 overlaps Thursday 13:00–17:00 (intervals[0])"
    );

    let too_many = vec![WorkingIntervalInput::new(Weekday::Mon, "09:00", "09:15"); 71];
    assert!(
        WeeklyHours::new(&too_many, grid)
            .is_err_and(|e| e.has("intervals", ValidationCode::TooMany))
    );
    assert!(WeeklyHours::new(&[], grid).is_ok_and(|hours| hours.is_empty()));
}

fn location(id: LocationId, zone_name: &str, intervals: &[(Weekday, &str, &str)]) -> LocationHours {
    LocationHours {
        location_id: id,
        zone: zone(zone_name),
        hours: weekly(intervals, SlotGrid::default()),
    }
}

#[test]
fn hours_at_two_locations_in_one_zone_must_not_overlap() {
    let morning = location(
        LOCATION,
        "Europe/London",
        &[(Weekday::Mon, "09:00", "12:00")],
    );
    let clash = location(
        OTHER_LOCATION,
        "Europe/London",
        &[
            (Weekday::Mon, "13:00", "14:00"),
            (Weekday::Mon, "11:00", "13:00"),
        ],
    );
    let errors = clash
        .check_against(std::slice::from_ref(&morning), date(2026, 1, 5))
        .expect_err("overlap");
    assert_eq!(errors.as_slice().len(), 1);
    let error = &errors.as_slice()[0];
    assert_eq!(
        (error.field.as_str(), error.code),
        ("intervals[1]", ValidationCode::OverlapsOtherLocation)
    );
    assert!(
        error
            .message
            .starts_with("Monday 11:00–13:00 overlaps Monday 09:00–12:00 at location")
    );
    assert!(
        error.message.ends_with("(first on 2026-01-05)"),
        "{}",
        error.message
    );

    let afternoon = location(
        OTHER_LOCATION,
        "Europe/London",
        &[(Weekday::Mon, "12:00", "17:00")],
    );
    assert_eq!(
        afternoon.check_against(std::slice::from_ref(&morning), date(2026, 1, 5)),
        Ok(())
    );
    // The stored version of the same location is skipped.
    let old_self = location(
        OTHER_LOCATION,
        "Europe/London",
        &[(Weekday::Mon, "11:00", "12:00")],
    );
    assert_eq!(
        afternoon.check_against(&[old_self], date(2026, 1, 5)),
        Ok(())
    );

    let all = [morning, clash];
    let errors = check_practitioner_hours(&all, date(2026, 1, 5)).expect_err("overlap");
    assert!(errors.has(
        "locations[0].intervals[0]",
        ValidationCode::OverlapsOtherLocation
    ));
}

#[test]
fn hours_in_two_zones_are_compared_in_real_time_across_seasons() {
    // London 12:00–13:00 and New York 08:00–09:00 only touch in winter and in summer, but
    // overlap in the weeks when New York is on summer time and London is not yet.
    let london = location(
        LOCATION,
        "Europe/London",
        &[(Weekday::Mon, "12:00", "13:00")],
    );
    let new_york = location(
        OTHER_LOCATION,
        "America/New_York",
        &[(Weekday::Mon, "08:00", "09:00")],
    );
    let errors = new_york
        .check_against(std::slice::from_ref(&london), date(2026, 1, 5))
        .expect_err("overlap in March");
    assert!(
        errors.as_slice()[0]
            .message
            .ends_with("(first on 2026-03-09)"),
        "{errors}"
    );
    // Hours that never meet.
    let evening = location(
        OTHER_LOCATION,
        "America/New_York",
        &[(Weekday::Mon, "09:00", "12:00")],
    );
    assert_eq!(evening.check_against(&[london], date(2026, 1, 5)), Ok(()));
}

fn hours_input(location_id: LocationId, intervals: &[(Weekday, &str, &str)]) -> LocationHoursInput {
    LocationHoursInput {
        location_id,
        intervals: intervals
            .iter()
            .map(|(day, start, end)| WorkingIntervalInput::new(*day, start, end))
            .collect(),
    }
}

#[test]
fn a_weekly_schedule_lists_every_problem_with_its_location() {
    let workplaces = [
        Workplace {
            location_id: LOCATION,
            zone: zone("Europe/London"),
        },
        Workplace {
            location_id: OTHER_LOCATION,
            zone: zone("America/New_York"),
        },
    ];
    let grid = SlotGrid::default();
    let today = date(2026, 1, 5);
    let elsewhere = LocationId::new(Uuid::from_u128(99));

    let errors = check_weekly_schedule(
        &[
            hours_input(LOCATION, &[(Weekday::Mon, "09:00", "08:00")]),
            hours_input(elsewhere, &[(Weekday::Mon, "09:00", "12:00")]),
            hours_input(OTHER_LOCATION, &[(Weekday::Tue, "9", "12:00")]),
        ],
        &workplaces,
        grid,
        today,
    )
    .expect_err("three problems");
    assert!(errors.has(
        "locations[0].intervals[0].end",
        ValidationCode::EndNotAfterStart
    ));
    assert!(errors.has("locations[1].location_id", ValidationCode::Required));
    assert!(errors.has(
        "locations[2].intervals[0].start",
        ValidationCode::InvalidTime
    ));
    assert_eq!(errors.len(), 3, "{errors}");

    // Each location valid on its own, but London 12:00–13:00 meets New York 08:00–09:00 in
    // March: the clash across zones is reported once the rest is right.
    let errors = check_weekly_schedule(
        &[
            hours_input(LOCATION, &[(Weekday::Mon, "12:00", "13:00")]),
            hours_input(OTHER_LOCATION, &[(Weekday::Mon, "08:00", "09:00")]),
        ],
        &workplaces,
        grid,
        today,
    )
    .expect_err("overlap across zones");
    assert!(errors.has(
        "locations[0].intervals[0]",
        ValidationCode::OverlapsOtherLocation
    ));

    let checked = check_weekly_schedule(
        &[
            hours_input(OTHER_LOCATION, &[(Weekday::Mon, "13:00", "17:00")]),
            hours_input(LOCATION, &[(Weekday::Tue, "09:00", "12:00")]),
        ],
        &workplaces,
        grid,
        today,
    )
    .expect("valid week");
    let ids: Vec<LocationId> = checked.iter().map(|hours| hours.location_id).collect();
    assert_eq!(ids, [OTHER_LOCATION, LOCATION], "in input order");
    assert_eq!(checked[0].zone, zone("America/New_York"));
    assert_eq!(
        check_weekly_schedule(&[], &workplaces, grid, today),
        Ok(vec![])
    );
}

// ---------------------------------------------------------------------------------------------
// Availability on ordinary days
// ---------------------------------------------------------------------------------------------

/// Monday 2026-05-04 in London (BST, UTC+1).
const MONDAY: (i32, u32, u32) = (2026, 5, 4);

fn monday() -> NaiveDate {
    date(MONDAY.0, MONDAY.1, MONDAY.2)
}

fn london_monday(start: &str, end: &str) -> PractitionerCalendar {
    calendar(
        "Europe/London",
        weekly(&[(Weekday::Mon, start, end)], SlotGrid::default()),
    )
}

/// An instant on Monday 2026-05-04 given as London wall-clock time.
fn bst(hour: u32, minute: u32) -> DateTime<Utc> {
    utc(MONDAY.0, MONDAY.1, MONDAY.2, hour - 1, minute)
}

#[test]
fn slots_follow_the_grid_and_breaks() {
    let policies = policies(15);
    let kind = chiro(30, 0, policies.slot_grid());
    let calendar = calendar(
        "Europe/London",
        weekly(
            &[
                (Weekday::Mon, "09:00", "12:00"),
                (Weekday::Mon, "13:00", "17:00"),
            ],
            policies.slot_grid(),
        ),
    );
    let offered = staff_slots(
        &kind,
        &policies,
        std::slice::from_ref(&calendar),
        monday(),
        monday(),
    );
    let times = wall(&offered);
    assert_eq!(offered.len(), 11 + 15);
    assert_eq!(times[0], "09:00 BST");
    assert_eq!(times[10], "11:30 BST");
    assert_eq!(times[11], "13:00 BST");
    assert_eq!(times[25], "16:30 BST");
    let first = &offered.slots()[0];
    assert_eq!(first.start, bst(9, 0));
    assert_eq!(first.end, bst(9, 30));
    assert_eq!(first.blocked_until, bst(9, 30));
    assert_eq!(
        (first.practitioner_id, first.location_id),
        (PRACTITIONER, LOCATION)
    );
    assert_dst_safe(&offered, &kind);
    // Nothing on the other days of the week.
    let week = staff_slots(
        &kind,
        &policies,
        std::slice::from_ref(&calendar),
        monday(),
        date(2026, 5, 10),
    );
    assert_eq!(week.len(), offered.len());
}

#[test]
fn the_buffer_after_must_fit_inside_working_hours() {
    let policies = policies(15);
    let kind = chiro(45, 15, policies.slot_grid());
    let offered = staff_slots(
        &kind,
        &policies,
        &[london_monday("09:00", "12:00")],
        monday(),
        monday(),
    );
    let times = wall(&offered);
    assert_eq!(times.last().map(String::as_str), Some("11:00 BST"));
    let last = offered.slots().last().expect("slots");
    assert_eq!(last.end, bst(11, 45));
    assert_eq!(last.blocked_until, bst(12, 0));
}

#[test]
fn busy_intervals_block_with_their_own_buffer_and_the_new_one() {
    let policies = policies(15);
    let mut calendar = london_monday("09:00", "12:00");
    calendar.busy.push(
        Busy::new(bst(10, 0), bst(10, 30), Minutes::new(15).expect("minutes")).expect("busy"),
    );
    // 30 minutes, no buffer: must end by 10:00 and cannot start before 10:45.
    let kind = chiro(30, 0, policies.slot_grid());
    let times = wall(&staff_slots(
        &kind,
        &policies,
        std::slice::from_ref(&calendar),
        monday(),
        monday(),
    ));
    assert_eq!(
        times,
        [
            "09:00 BST",
            "09:15 BST",
            "09:30 BST",
            "10:45 BST",
            "11:00 BST",
            "11:15 BST",
            "11:30 BST"
        ]
    );
    // With a 15-minute buffer of its own the new slot must also leave 10:00 free.
    let buffered = chiro(30, 15, policies.slot_grid());
    let times = wall(&staff_slots(
        &buffered,
        &policies,
        &[calendar],
        monday(),
        monday(),
    ));
    assert_eq!(
        times,
        [
            "09:00 BST",
            "09:15 BST",
            "10:45 BST",
            "11:00 BST",
            "11:15 BST"
        ]
    );
}

#[test]
fn time_off_removes_slots() {
    let policies = policies(30);
    let mut calendar = london_monday("09:00", "17:00");
    calendar
        .time_off
        .push(Interval::new(bst(9, 0), bst(15, 0)).expect("interval"));
    calendar
        .time_off
        .push(Interval::new(bst(16, 0), bst(16, 1)).expect("interval"));
    let kind = chiro(30, 0, policies.slot_grid());
    let times = wall(&staff_slots(
        &kind,
        &policies,
        std::slice::from_ref(&calendar),
        monday(),
        monday(),
    ));
    assert_eq!(times, ["15:00 BST", "15:30 BST", "16:30 BST"]);
    // Whole days off.
    calendar.time_off =
        vec![Interval::new(utc(2026, 5, 1, 0, 0), utc(2026, 5, 8, 0, 0)).expect("interval")];
    assert!(staff_slots(&kind, &policies, &[calendar], monday(), monday()).is_empty());
}

#[test]
fn patients_need_notice_and_everyone_the_horizon() {
    let policies = policies_with(15, 120, 1);
    let kind = chiro(30, 0, policies.slot_grid());
    let calendar = calendar(
        "Europe/London",
        weekly(
            &[
                (Weekday::Mon, "09:00", "12:00"),
                (Weekday::Tue, "09:00", "12:00"),
            ],
            policies.slot_grid(),
        ),
    );
    let query = |actor, now| AvailabilityQuery {
        appointment_type: &kind,
        from: monday(),
        to: date(2026, 5, 5),
        actor,
        now,
    };
    let calendars = [calendar];
    let now = bst(9, 10);
    let patient = availability(&query(Actor::Patient, now), &policies, &calendars).expect("ok");
    assert_eq!(patient.slots()[0].start, bst(11, 15), "two hours' notice");
    let staff = availability(&query(Actor::Staff, now), &policies, &calendars).expect("ok");
    assert_eq!(
        staff.slots()[0].start,
        bst(9, 15),
        "staff: anything not begun"
    );
    // A one-day horizon from Monday 09:10 reaches Tuesday 09:10 (exclusive).
    let tuesday: Vec<_> = staff
        .slots()
        .iter()
        .filter(|slot| slot.local_start.day() == 5)
        .map(|slot| slot.local_start.format("%H:%M").to_string())
        .collect();
    assert_eq!(tuesday, ["09:00"]);
}

#[test]
fn only_practitioners_of_the_types_discipline_are_offered() {
    let policies = policies(15);
    let kind = chiro(30, 0, policies.slot_grid());
    let mut physio = london_monday("09:00", "10:00");
    physio.practitioner_id = OTHER_PRACTITIONER;
    physio.discipline = Discipline::Physiotherapy;
    let offered = staff_slots(
        &kind,
        &policies,
        &[physio.clone(), london_monday("09:00", "10:00")],
        monday(),
        monday(),
    );
    assert!(
        offered
            .slots()
            .iter()
            .all(|slot| slot.practitioner_id == PRACTITIONER)
    );
    assert_eq!(offered.len(), 3);
}

#[test]
fn results_are_sorted_by_start_then_practitioner_and_deterministic() {
    let policies = policies(30);
    let kind = chiro(30, 0, policies.slot_grid());
    let mut second = london_monday("09:00", "10:00");
    second.practitioner_id = OTHER_PRACTITIONER;
    let calendars = [second, london_monday("09:30", "10:30")];
    let offered = staff_slots(&kind, &policies, &calendars, monday(), monday());
    let order: Vec<_> = offered
        .slots()
        .iter()
        .map(|slot| {
            (
                slot.local_start.format("%H:%M").to_string(),
                slot.practitioner_id.uuid().as_u128(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("09:00".into(), 2),
            ("09:30".into(), 1),
            ("09:30".into(), 2),
            ("10:00".into(), 1)
        ]
    );
    assert_eq!(
        offered,
        staff_slots(&kind, &policies, &calendars, monday(), monday())
    );
    assert_eq!(offered.for_practitioner(PRACTITIONER).count(), 2);
    let next: Vec<_> = offered
        .next_after(bst(9, 0), Some(OTHER_PRACTITIONER), 5)
        .iter()
        .map(|slot| slot.start)
        .collect();
    assert_eq!(next, [bst(9, 30)]);
    assert_eq!(offered.next_after(bst(9, 0), None, 2).len(), 2);
    assert!(offered.find(PRACTITIONER, LOCATION, bst(9, 30)).is_some());
    assert!(
        offered
            .find(PRACTITIONER, OTHER_LOCATION, bst(9, 30))
            .is_none()
    );
    assert!(offered.find(PRACTITIONER, LOCATION, bst(9, 0)).is_none());
}

#[test]
fn a_practitioner_is_busy_at_every_location_at_once() {
    let policies = policies(30);
    let kind = chiro(60, 0, policies.slot_grid());
    let mut calendar = london_monday("09:00", "11:00");
    // Also Monday 06:00–08:00 in New York: 11:00–13:00 in London (both on summer time).
    calendar.locations.push(location(
        OTHER_LOCATION,
        "America/New_York",
        &[(Weekday::Mon, "06:00", "08:00")],
    ));
    let free = staff_slots(
        &kind,
        &policies,
        std::slice::from_ref(&calendar),
        monday(),
        monday(),
    );
    assert_eq!(free.len(), 6);
    let new_york = free.find(PRACTITIONER, OTHER_LOCATION, bst(11, 0));
    assert_eq!(new_york.map(|slot| slot.abbreviation.as_str()), Some("EDT"));
    assert_eq!(
        new_york.map(|slot| slot.local_start.to_rfc3339()),
        Some("2026-05-04T06:00:00-04:00".to_owned())
    );
    // Booked in London 10:30–11:30 (London time): no start in either place overlaps it.
    calendar
        .busy
        .push(Busy::new(bst(10, 30), bst(11, 30), Minutes::ZERO).expect("busy"));
    let offered = staff_slots(&kind, &policies, &[calendar], monday(), monday());
    let left: Vec<_> = offered
        .slots()
        .iter()
        .map(|slot| (slot.start, slot.location_id.uuid().as_u128()))
        .collect();
    assert_eq!(
        left,
        [
            (bst(9, 0), 10),
            (bst(9, 30), 10),
            (bst(11, 30), 11),
            (bst(12, 0), 11)
        ]
    );
}

#[test]
fn touching_intervals_are_one_stretch_of_work() {
    let policies = policies(30);
    let kind = chiro(60, 0, policies.slot_grid());
    let calendar = calendar(
        "Europe/London",
        weekly(
            &[
                (Weekday::Mon, "09:00", "10:00"),
                (Weekday::Mon, "10:00", "11:00"),
            ],
            policies.slot_grid(),
        ),
    );
    let times = wall(&staff_slots(
        &kind,
        &policies,
        &[calendar],
        monday(),
        monday(),
    ));
    assert_eq!(times, ["09:00 BST", "09:30 BST", "10:00 BST"]);
}

#[test]
fn an_evening_slot_may_run_past_midnight_into_the_next_days_hours() {
    let policies = policies(30);
    let kind = chiro(60, 0, policies.slot_grid());
    let calendar = calendar(
        "Europe/London",
        weekly(
            &[
                (Weekday::Mon, "22:00", "24:00"),
                (Weekday::Tue, "00:00", "01:00"),
            ],
            policies.slot_grid(),
        ),
    );
    let monday_only = wall(&staff_slots(
        &kind,
        &policies,
        std::slice::from_ref(&calendar),
        monday(),
        monday(),
    ));
    assert_eq!(
        monday_only,
        ["22:00 BST", "22:30 BST", "23:00 BST", "23:30 BST"]
    );
    let tuesday = date(2026, 5, 5);
    let tuesday_only = wall(&staff_slots(
        &kind,
        &policies,
        &[calendar],
        tuesday,
        tuesday,
    ));
    assert_eq!(tuesday_only, ["00:00 BST"]);
}

#[test]
fn starts_are_rounded_up_onto_a_coarser_grid() {
    // Hours entered on a 5-minute grid, then the clinic moved to 15 minutes.
    let fine = SlotGrid::new(5).expect("grid");
    let calendar = calendar(
        "Europe/London",
        weekly(&[(Weekday::Mon, "09:10", "10:00")], fine),
    );
    let policies = policies(15);
    let kind = chiro(15, 0, policies.slot_grid());
    let times = wall(&staff_slots(
        &kind,
        &policies,
        &[calendar],
        monday(),
        monday(),
    ));
    assert_eq!(times, ["09:15 BST", "09:30 BST", "09:45 BST"]);
}

#[test]
fn the_grid_follows_the_wall_clock_in_a_quarter_hour_zone() {
    // Kathmandu is UTC+05:45: 09:00 local is 03:15 UTC.
    let policies = policies(30);
    let kind = chiro(30, 0, policies.slot_grid());
    let calendar = calendar(
        "Asia/Kathmandu",
        weekly(&[(Weekday::Mon, "09:00", "10:00")], policies.slot_grid()),
    );
    let offered = staff_slots(&kind, &policies, &[calendar], monday(), monday());
    let starts: Vec<_> = offered.slots().iter().map(|slot| slot.start).collect();
    assert_eq!(starts, [utc(2026, 5, 4, 3, 15), utc(2026, 5, 4, 3, 45)]);
    assert_eq!(wall(&offered), ["09:00 +0545", "09:30 +0545"]);
}

#[test]
fn bad_queries_are_refused_with_field_names() {
    let policies = policies(15);
    let kind = chiro(30, 0, policies.slot_grid());
    let inactive = kind.clone().with_active(false);
    let query = |kind, from, to| AvailabilityQuery {
        appointment_type: kind,
        from,
        to,
        actor: Actor::Patient,
        now: utc(2026, 1, 1, 0, 0),
    };
    let calendars = [london_monday("09:00", "12:00")];
    let errors = availability(&query(&inactive, monday(), monday()), &policies, &calendars)
        .expect_err("inactive");
    assert!(errors.has("appointment_type", ValidationCode::Inactive));
    let errors = availability(
        &query(&kind, monday(), date(2026, 5, 3)),
        &policies,
        &calendars,
    )
    .expect_err("backwards");
    assert!(errors.has("to", ValidationCode::EndNotAfterStart));
    let errors = availability(
        &query(&kind, monday(), date(2026, 7, 5)),
        &policies,
        &calendars,
    )
    .expect_err("63 days");
    assert!(errors.has("to", ValidationCode::RangeTooLong));
    assert!(
        availability(
            &query(&kind, monday(), date(2026, 7, 4)),
            &policies,
            &calendars
        )
        .is_ok()
    );
    let errors = availability(
        &query(&kind, NaiveDate::MAX, NaiveDate::MAX),
        &policies,
        &calendars,
    )
    .expect_err("end of the calendar");
    assert!(errors.has("to", ValidationCode::OutOfRange));
}

#[test]
fn slots_serialise_for_the_api() {
    let policies = policies(15);
    let kind = chiro(30, 0, policies.slot_grid());
    let offered = staff_slots(
        &kind,
        &policies,
        &[london_monday("09:00", "09:30")],
        monday(),
        monday(),
    );
    let json = serde_json::to_value(&offered).expect("serialises");
    assert_eq!(json[0]["start"], "2026-05-04T08:00:00Z");
    assert_eq!(json[0]["end"], "2026-05-04T08:30:00Z");
    assert_eq!(json[0]["local_start"], "2026-05-04T09:00:00+01:00");
    assert_eq!(json[0]["abbreviation"], "BST");
    assert_eq!(json[0]["time_zone"], "Europe/London");
    assert_eq!(json[0]["practitioner_id"], PRACTITIONER.to_string());
}

// ---------------------------------------------------------------------------------------------
// DST: America/New_York 2026-03-08 (02:00 EST → 03:00 EDT), 2026-11-01 (02:00 EDT → 01:00 EST);
// Europe/London 2026-03-29 (01:00 GMT → 02:00 BST), 2026-10-25 (02:00 BST → 01:00 GMT).
// All four are Sundays.
// ---------------------------------------------------------------------------------------------

fn sunday_slots(
    zone_name: &str,
    day: NaiveDate,
    start: &str,
    end: &str,
    grid: i64,
    duration: i64,
) -> (Availability, AppointmentType) {
    let policies = policies(grid);
    let kind = chiro(duration, 0, policies.slot_grid());
    let calendar = calendar(
        zone_name,
        weekly(&[(Weekday::Sun, start, end)], policies.slot_grid()),
    );
    let offered = staff_slots(&kind, &policies, &[calendar], day, day);
    assert_dst_safe(&offered, &kind);
    (offered, kind)
}

fn ny_spring() -> NaiveDate {
    date(2026, 3, 8)
}

fn ny_fall() -> NaiveDate {
    date(2026, 11, 1)
}

fn london_spring() -> NaiveDate {
    date(2026, 3, 29)
}

fn london_fall() -> NaiveDate {
    date(2026, 10, 25)
}

#[test]
fn new_york_spring_forward_skips_the_missing_hour() {
    let (offered, _) = sunday_slots("America/New_York", ny_spring(), "00:30", "03:30", 30, 30);
    assert_eq!(
        wall(&offered),
        ["00:30 EST", "01:00 EST", "01:30 EST", "03:00 EDT"]
    );
    let starts: Vec<_> = offered.slots().iter().map(|slot| slot.start).collect();
    assert_eq!(
        starts,
        [
            utc(2026, 3, 8, 5, 30),
            utc(2026, 3, 8, 6, 0),
            utc(2026, 3, 8, 6, 30),
            utc(2026, 3, 8, 7, 0)
        ]
    );
    // The 01:30 EST slot ends at 03:00 EDT: 30 real minutes.
    assert_eq!(offered.slots()[2].end, utc(2026, 3, 8, 7, 0));
    assert_eq!(
        offered.slots()[2]
            .end
            .with_timezone(&zone("America/New_York").tz())
            .hour(),
        3
    );
}

#[test]
fn new_york_spring_forward_durations_are_real_minutes() {
    // 00:30–03:30 on this day is two real hours; a 60-minute slot from 01:30 EST ends 03:30 EDT.
    let (offered, _) = sunday_slots("America/New_York", ny_spring(), "00:30", "03:30", 30, 60);
    assert_eq!(wall(&offered), ["00:30 EST", "01:00 EST", "01:30 EST"]);
    let last = &offered.slots()[2];
    assert_eq!(last.end - last.start, TimeDelta::minutes(60));
    assert_eq!(
        last.end
            .with_timezone(&zone("America/New_York").tz())
            .to_rfc3339(),
        "2026-03-08T03:30:00-04:00"
    );
}

#[test]
fn new_york_spring_forward_hours_through_the_gap() {
    // 01:00–03:00 is one real hour, and nothing is offered at 02:xx.
    let (offered, _) = sunday_slots("America/New_York", ny_spring(), "01:00", "03:00", 15, 15);
    assert_eq!(
        wall(&offered),
        ["01:00 EST", "01:15 EST", "01:30 EST", "01:45 EST"]
    );
    // Hours that start inside the gap begin when the clock reads 03:00.
    let (offered, _) = sunday_slots("America/New_York", ny_spring(), "02:00", "04:00", 30, 30);
    assert_eq!(wall(&offered), ["03:00 EDT", "03:30 EDT"]);
    // Hours entirely inside the gap do not exist on this day.
    let (offered, _) = sunday_slots("America/New_York", ny_spring(), "02:15", "02:45", 15, 15);
    assert!(offered.is_empty());
    // A 90-minute slot cannot fit in 01:00–03:00 (one real hour).
    let (offered, _) = sunday_slots("America/New_York", ny_spring(), "01:00", "03:00", 30, 90);
    assert!(offered.is_empty());
}

#[test]
fn new_york_fall_back_offers_each_instant_once_and_both_repeated_hours() {
    let (offered, _) = sunday_slots("America/New_York", ny_fall(), "00:30", "03:30", 30, 30);
    assert_eq!(
        wall(&offered),
        [
            "00:30 EDT",
            "01:00 EDT",
            "01:30 EDT",
            "01:00 EST",
            "01:30 EST",
            "02:00 EST",
            "02:30 EST",
            "03:00 EST"
        ]
    );
    let first = offered.slots().first().map(|slot| slot.start);
    let last = offered.slots().last().map(|slot| slot.end);
    assert_eq!(first, Some(utc(2026, 11, 1, 4, 30)));
    assert_eq!(
        last,
        Some(utc(2026, 11, 1, 8, 30)),
        "four real hours of work"
    );
    // 01:00–03:00 is three real hours on this day.
    let (offered, _) = sunday_slots("America/New_York", ny_fall(), "01:00", "03:00", 60, 60);
    assert_eq!(wall(&offered), ["01:00 EDT", "01:00 EST", "02:00 EST"]);
    // A 60-minute slot from 01:30 EDT ends at 01:30 EST: 60 real minutes.
    let (offered, _) = sunday_slots("America/New_York", ny_fall(), "01:00", "02:00", 30, 60);
    let local: Vec<_> = offered
        .slots()
        .iter()
        .map(|slot| (slot.local_start.to_rfc3339(), slot.end - slot.start))
        .collect();
    // 01:00–02:00 is read twice: 01:00 EDT–01:00 EST and 01:00 EST–02:00 EST, one stretch.
    assert_eq!(
        local,
        [
            ("2026-11-01T01:00:00-04:00".to_owned(), TimeDelta::hours(1)),
            ("2026-11-01T01:30:00-04:00".to_owned(), TimeDelta::hours(1)),
            ("2026-11-01T01:00:00-05:00".to_owned(), TimeDelta::hours(1)),
        ]
    );
}

#[test]
fn london_spring_forward() {
    let (offered, _) = sunday_slots("Europe/London", london_spring(), "00:30", "03:30", 30, 30);
    assert_eq!(
        wall(&offered),
        ["00:30 GMT", "02:00 BST", "02:30 BST", "03:00 BST"]
    );
    let (offered, _) = sunday_slots("Europe/London", london_spring(), "01:00", "03:00", 30, 30);
    assert_eq!(wall(&offered), ["02:00 BST", "02:30 BST"]);
    let starts: Vec<_> = offered.slots().iter().map(|slot| slot.start).collect();
    assert_eq!(starts, [utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)]);
    // A 60-minute slot from 00:30 GMT ends at 02:30 BST.
    let (offered, _) = sunday_slots("Europe/London", london_spring(), "00:30", "03:30", 30, 60);
    assert_eq!(wall(&offered), ["00:30 GMT", "02:00 BST", "02:30 BST"]);
    assert_eq!(offered.slots()[0].end, utc(2026, 3, 29, 1, 30));
}

#[test]
fn london_fall_back() {
    let (offered, _) = sunday_slots("Europe/London", london_fall(), "01:00", "03:00", 60, 60);
    assert_eq!(wall(&offered), ["01:00 BST", "01:00 GMT", "02:00 GMT"]);
    let starts: Vec<_> = offered.slots().iter().map(|slot| slot.start).collect();
    assert_eq!(
        starts,
        [
            utc(2026, 10, 25, 0, 0),
            utc(2026, 10, 25, 1, 0),
            utc(2026, 10, 25, 2, 0)
        ]
    );
    let (offered, _) = sunday_slots("Europe/London", london_fall(), "00:30", "03:30", 30, 30);
    assert_eq!(offered.len(), 8, "four real hours: {:?}", wall(&offered));
    assert_eq!(
        offered.slots()[0].start,
        utc(2026, 10, 24, 23, 30),
        "the day starts on BST"
    );
}

#[test]
fn dst_weeks_keep_local_hours_and_shift_utc() {
    for (zone_name, from, to, before, after) in [
        (
            "America/New_York",
            date(2026, 3, 2),
            date(2026, 3, 13),
            14,
            13,
        ),
        (
            "America/New_York",
            date(2026, 10, 26),
            date(2026, 11, 6),
            13,
            14,
        ),
        ("Europe/London", date(2026, 3, 23), date(2026, 4, 3), 9, 8),
        (
            "Europe/London",
            date(2026, 10, 19),
            date(2026, 10, 30),
            8,
            9,
        ),
    ] {
        let policies = policies(30);
        let kind = chiro(60, 0, policies.slot_grid());
        let calendar = calendar(zone_name, every_day("09:00", "12:00", policies.slot_grid()));
        let offered = staff_slots(&kind, &policies, &[calendar], from, to);
        assert_dst_safe(&offered, &kind);
        assert_eq!(offered.len(), 12 * 5, "{zone_name}: five starts a day");
        for slot in offered.slots() {
            let local = slot.local_start;
            assert!(
                (9..12).contains(&local.hour()) && local.minute() % 30 == 0,
                "{local}"
            );
        }
        let first = &offered.slots()[0];
        let last = &offered.slots()[offered.len() - 5];
        assert_eq!(
            first.start.hour(),
            before,
            "{zone_name}: 09:00 before the change"
        );
        assert_eq!(
            last.start.hour(),
            after,
            "{zone_name}: 09:00 after the change"
        );
    }
}

#[test]
fn overnight_hours_across_every_dst_change() {
    for (zone_name, day) in [
        ("America/New_York", ny_spring()),
        ("America/New_York", ny_fall()),
        ("Europe/London", london_spring()),
        ("Europe/London", london_fall()),
    ] {
        for (start, end) in [("00:00", "06:00"), ("00:30", "03:30"), ("01:00", "03:00")] {
            for grid in [5, 15, 30] {
                let (offered, kind) = sunday_slots(zone_name, day, start, end, grid, 30);
                let tz = zone(zone_name).tz();
                for slot in offered.slots() {
                    // The whole slot is read on the clock inside the working hours.
                    let mut at = slot.start;
                    while at < slot.blocked_until {
                        let local = at.with_timezone(&tz).naive_local();
                        assert_eq!(local.date(), day, "{zone_name} {start}-{end}");
                        let minute = local.hour() * 60 + local.minute();
                        let (from, to) = (
                            LocalTime::parse(start).map(LocalTime::minutes).unwrap_or(0),
                            LocalTime::parse(end).map(LocalTime::minutes).unwrap_or(0),
                        );
                        assert!((from..to).contains(&minute), "{zone_name} {local}");
                        at += TimeDelta::minutes(1);
                    }
                    let minute_of_day = slot.local_start.hour() * 60 + slot.local_start.minute();
                    assert_eq!(i64::from(minute_of_day) % grid, 0, "on the grid");
                    assert_eq!(slot.end - slot.start, kind.duration().duration());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Booking policies
// ---------------------------------------------------------------------------------------------

struct Booking {
    policies: ClinicPolicies,
    regular: AppointmentType,
    first_visit: AppointmentType,
    offered: Availability,
    now: DateTime<Utc>,
}

fn booking() -> Booking {
    let policies = policies(15);
    let grid = policies.slot_grid();
    let regular = chiro(30, 0, grid);
    let first_visit = appointment_type(45, 15, grid, Discipline::Chiropractic, true);
    let now = utc(2026, 5, 1, 12, 0);
    let query = AvailabilityQuery {
        appointment_type: &regular,
        from: monday(),
        to: monday(),
        actor: Actor::Patient,
        now,
    };
    let offered = availability(&query, &policies, &[london_monday("09:00", "12:00")]).expect("ok");
    Booking {
        policies,
        regular,
        first_visit,
        offered,
        now,
    }
}

fn routine(now: DateTime<Utc>) -> IntakeGateFacts {
    gate(now, Some(3), None)
}

fn request<'a>(
    setup: &'a Booking,
    kind: &'a AppointmentType,
    intake: IntakeGateFacts,
) -> BookingRequest<'a> {
    BookingRequest {
        actor: Actor::Patient,
        appointment_type: kind,
        practitioner_id: PRACTITIONER,
        practitioner_discipline: Discipline::Chiropractic,
        location_id: LOCATION,
        start: bst(10, 0),
        practitioner_active: true,
        location_active: true,
        held_by_discipline: &[(Discipline::Chiropractic, 2)],
        patient_busy: &[],
        intake,
        intake_override: None,
        now: setup.now,
    }
}

#[test]
fn an_offered_slot_with_a_routine_intake_is_approved() {
    let setup = booking();
    let intake = routine(setup.now);
    let approval =
        check_booking(&request(&setup, &setup.regular, intake), &setup.offered).expect("approved");
    assert_eq!(approval.slot.start, bst(10, 0));
    assert_eq!(approval.slot.end, bst(10, 30));
    assert_eq!(approval.intake, IntakeGate::Passed);
    assert!(!approval.new_to_discipline);
}

#[test]
fn a_start_that_is_not_offered_is_a_conflict() {
    let setup = booking();
    let intake = routine(setup.now);
    for start in [bst(10, 5), bst(12, 0), bst(8, 45)] {
        let refusal = check_booking(
            &BookingRequest {
                start,
                ..request(&setup, &setup.regular, intake)
            },
            &setup.offered,
        )
        .expect_err("not offered");
        assert_eq!(refusal.code, RefusalCode::SlotNotOffered);
        assert_eq!(refusal.kind, RefusalKind::SlotUnavailable);
        assert!(!refusal.overridable);
    }
    let elsewhere = BookingRequest {
        location_id: OTHER_LOCATION,
        ..request(&setup, &setup.regular, intake)
    };
    assert!(
        check_booking(&elsewhere, &setup.offered)
            .is_err_and(|r| r.code == RefusalCode::SlotNotOffered)
    );
}

#[test]
fn a_time_that_overlaps_the_patients_own_visit_is_refused_as_theirs() {
    let setup = booking();
    let intake = routine(setup.now);
    // 10:00–10:30 is offered with this practitioner; the patient sees someone else 10:15–11:00.
    let elsewhere = [Interval::new(bst(10, 15), bst(11, 0)).unwrap()];
    let refusal = check_booking(
        &BookingRequest {
            patient_busy: &elsewhere,
            ..request(&setup, &setup.regular, intake)
        },
        &setup.offered,
    )
    .expect_err("the patient is busy");
    assert_eq!(refusal.code, RefusalCode::PatientBusy);
    assert_eq!(refusal.code.as_str(), "patient_busy");
    assert_eq!(refusal.kind, RefusalKind::SlotUnavailable);
    assert!(refusal.message.contains("You already have an appointment"));
    let staff = check_booking(
        &BookingRequest {
            actor: Actor::Staff,
            patient_busy: &elsewhere,
            ..request(&setup, &setup.regular, intake)
        },
        &setup.offered,
    )
    .expect_err("the patient is busy");
    assert!(staff.message.starts_with("The patient already has"));
    // Visits that only touch it (ending at its start, starting at its end) leave it free.
    let touching = [
        Interval::new(bst(9, 0), bst(10, 0)).unwrap(),
        Interval::new(bst(10, 30), bst(11, 0)).unwrap(),
    ];
    assert!(
        check_booking(
            &BookingRequest {
                patient_busy: &touching,
                ..request(&setup, &setup.regular, intake)
            },
            &setup.offered,
        )
        .is_ok()
    );
}

#[test]
fn patient_free_reads_half_open_intervals() {
    let busy = [Interval::new(bst(10, 0), bst(10, 45)).unwrap()];
    assert!(patient_free(&busy, bst(9, 15), bst(10, 0)));
    assert!(patient_free(&busy, bst(10, 45), bst(11, 15)));
    assert!(!patient_free(&busy, bst(10, 30), bst(11, 0)));
    assert!(!patient_free(&busy, bst(9, 30), bst(11, 0)));
    assert!(patient_free(&[], bst(9, 30), bst(11, 0)));
}

#[test]
fn the_discipline_must_match_the_practitioner() {
    let setup = booking();
    let intake = routine(setup.now);
    let refusal = check_booking(
        &BookingRequest {
            practitioner_discipline: Discipline::Physiotherapy,
            ..request(&setup, &setup.regular, intake)
        },
        &setup.offered,
    )
    .expect_err("mismatch");
    assert_eq!(refusal.code, RefusalCode::DisciplineMismatch);
    assert_eq!(refusal.kind, RefusalKind::NotAllowed);
    assert_eq!(
        refusal.message,
        "a chiropractic appointment cannot be booked with a physiotherapist"
    );
}

#[test]
fn a_patient_new_to_the_discipline_books_a_new_patient_type() {
    let setup = booking();
    let intake = routine(setup.now);
    let held = [
        &[][..],
        &[(Discipline::Physiotherapy, 3)][..],
        &[(Discipline::Chiropractic, 0)][..],
    ];
    for held in held {
        let refusal = check_booking(
            &BookingRequest {
                held_by_discipline: held,
                ..request(&setup, &setup.regular, intake)
            },
            &setup.offered,
        )
        .expect_err("new patient");
        assert_eq!(refusal.code, RefusalCode::NewPatientTypeRequired);
        assert!(refusal.message.contains("first chiropractic visit"));
    }
    // The first-visit type over its own availability.
    let query = AvailabilityQuery {
        appointment_type: &setup.first_visit,
        from: monday(),
        to: monday(),
        actor: Actor::Patient,
        now: setup.now,
    };
    let offered =
        availability(&query, &setup.policies, &[london_monday("09:00", "12:00")]).expect("ok");
    let approval = check_booking(
        &BookingRequest {
            held_by_discipline: &[],
            ..request(&setup, &setup.first_visit, intake)
        },
        &offered,
    )
    .expect("approved");
    assert!(approval.new_to_discipline);
    assert_eq!(approval.slot.blocked_until, bst(11, 0));
}

#[test]
fn an_inactive_type_cannot_be_booked() {
    let setup = booking();
    let intake = routine(setup.now);
    let retired = setup.regular.clone().with_active(false);
    let refusal =
        check_booking(&request(&setup, &retired, intake), &setup.offered).expect_err("inactive");
    assert_eq!(refusal.code, RefusalCode::AppointmentTypeInactive);
}

#[test]
fn an_inactive_practitioner_takes_no_bookings() {
    let setup = booking();
    let refusal = check_booking(
        &BookingRequest {
            practitioner_active: false,
            ..request(&setup, &setup.regular, routine(setup.now))
        },
        &setup.offered,
    )
    .expect_err("inactive");
    assert_eq!(refusal.code, RefusalCode::PractitionerInactive);
    assert_eq!(refusal.kind, RefusalKind::NotAllowed);
}

#[test]
fn an_inactive_location_takes_no_bookings() {
    let setup = booking();
    let refusal = check_booking(
        &BookingRequest {
            location_active: false,
            ..request(&setup, &setup.regular, routine(setup.now))
        },
        &setup.offered,
    )
    .expect_err("inactive");
    assert_eq!(refusal.code, RefusalCode::LocationInactive);
    assert_eq!(refusal.kind, RefusalKind::NotAllowed);
}

/// What the gate reads: an intake submitted `days_ago` (none if `None`) and an open flag.
fn gate(now: DateTime<Utc>, days_ago: Option<i64>, open_flag: Option<OpenFlag>) -> IntakeGateFacts {
    IntakeGateFacts {
        latest_intake_at: days_ago.map(|days| now - TimeDelta::days(days)),
        open_flag,
    }
}

#[test]
fn the_intake_gate() {
    let now = utc(2026, 5, 1, 12, 0);
    let passes = [
        gate(now, Some(0), None),
        gate(now, Some(90), None),
        gate(now, Some(-1), None),
    ];
    for facts in passes {
        assert_eq!(
            check_intake(Actor::Patient, &facts, None, now),
            Ok(IntakeGate::Passed),
            "{facts:?}"
        );
    }
    // A missing or expired intake: staff may override.
    let overridable = [
        (gate(now, None, None), RefusalCode::IntakeRequired),
        (gate(now, Some(91), None), RefusalCode::IntakeExpired),
    ];
    for (facts, code) in overridable {
        for actor in [Actor::Patient, Actor::Staff] {
            let refusal = check_intake(actor, &facts, None, now).expect_err("refused");
            assert_eq!(refusal.code, code);
            assert_eq!(refusal.kind, RefusalKind::IntakeGate);
            assert!(refusal.overridable, "staff may override");
            match actor {
                Actor::Patient => {
                    assert!(!refusal.message.contains("override"), "{}", refusal.message)
                }
                Actor::Staff => assert!(refusal.message.contains("override reason")),
            }
        }
    }
    // An open flag refuses whatever the intake, and no one may override it.
    let flagged = [
        (OpenFlag::Urgent, RefusalCode::IntakeUrgentNotCleared),
        (OpenFlag::Emergency, RefusalCode::IntakeEmergency),
    ];
    for (flag, code) in flagged {
        for days_ago in [None, Some(1), Some(200)] {
            for actor in [Actor::Patient, Actor::Staff] {
                let facts = gate(now, days_ago, Some(flag));
                let refusal = check_intake(actor, &facts, None, now).expect_err("refused");
                assert_eq!(refusal.code, code, "{facts:?}");
                assert_eq!(refusal.kind, RefusalKind::IntakeGate);
                assert!(!refusal.overridable);
            }
        }
    }
}

#[test]
fn emergency_and_urgent_messages_are_kind_and_clear() {
    let now = utc(2026, 5, 1, 12, 0);
    let emergency = gate(now, Some(1), Some(OpenFlag::Emergency));
    let refusal = check_intake(Actor::Patient, &emergency, None, now).expect_err("refused");
    assert!(refusal.message.contains("emergency department now"));
    assert!(refusal.message.contains("local emergency number"));
    assert!(refusal.message.contains("important not to wait"));
    let urgent = gate(now, Some(1), Some(OpenFlag::Urgent));
    let refusal = check_intake(Actor::Patient, &urgent, None, now).expect_err("refused");
    assert!(refusal.message.contains("within the next 24 hours"));
    assert!(
        refusal
            .message
            .contains("once a practitioner has cleared you")
    );
}

#[test]
fn staff_can_override_a_missing_intake_with_a_reason_but_never_an_open_flag() {
    let now = utc(2026, 5, 1, 12, 0);
    let missing = gate(now, None, None);
    assert_eq!(
        check_intake(
            Actor::Staff,
            &missing,
            Some("  Booked by phone; intake to follow "),
            now
        ),
        Ok(IntakeGate::Overridden {
            reason: "Booked by phone; intake to follow".into(),
            refusal: RefusalCode::IntakeRequired,
        })
    );
    let blank = check_intake(Actor::Staff, &missing, Some("  "), now).expect_err("blank");
    assert_eq!(blank.code, RefusalCode::OverrideReasonRequired);
    assert_eq!(blank.kind, RefusalKind::NotAllowed);
    let long = "x".repeat(MAX_OVERRIDE_REASON_CHARS + 1);
    assert!(
        check_intake(Actor::Staff, &missing, Some(&long), now)
            .is_err_and(|r| r.code == RefusalCode::OverrideReasonTooLong)
    );
    let patient = check_intake(Actor::Patient, &missing, Some("please"), now).expect_err("patient");
    assert_eq!(patient.code, RefusalCode::OverrideNotAllowed);
    // An override that is not needed is not recorded.
    let fine = gate(now, Some(1), None);
    assert_eq!(
        check_intake(Actor::Staff, &fine, Some("just in case"), now),
        Ok(IntakeGate::Passed)
    );
    // An open flag: the override is refused with the flag's own words.
    for flag in [OpenFlag::Urgent, OpenFlag::Emergency] {
        let flagged = gate(now, None, Some(flag));
        let refusal = check_intake(Actor::Staff, &flagged, Some("Seen in A&E"), now)
            .expect_err("never past a flag");
        assert_eq!(refusal.kind, RefusalKind::IntakeGate);
        assert!(refusal.message.contains("override does not apply"));
    }
}

#[test]
fn the_intake_gate_is_checked_first_and_overrides_carry_into_the_approval() {
    let setup = booking();
    let emergency = gate(setup.now, Some(1), Some(OpenFlag::Emergency));
    let not_offered = BookingRequest {
        start: bst(10, 5),
        ..request(&setup, &setup.regular, emergency)
    };
    let refusal = check_booking(&not_offered, &setup.offered).expect_err("refused");
    assert_eq!(refusal.code, RefusalCode::IntakeEmergency, "safety first");
    let overridden = BookingRequest {
        actor: Actor::Staff,
        intake_override: Some("Booked by phone; intake to follow"),
        ..request(&setup, &setup.regular, gate(setup.now, None, None))
    };
    let approval = check_booking(&overridden, &setup.offered).expect("approved");
    assert!(matches!(
        approval.intake,
        IntakeGate::Overridden {
            refusal: RefusalCode::IntakeRequired,
            ..
        }
    ));
    let json = serde_json::to_value(&approval.intake).expect("serialises");
    assert_eq!(json["outcome"], "overridden");
    assert_eq!(json["refusal"], "intake_required");
}

#[test]
fn refusal_codes_serialise_as_their_names() {
    use RefusalCode::*;
    for code in [
        SlotNotOffered,
        AppointmentTypeInactive,
        PractitionerInactive,
        LocationInactive,
        DisciplineMismatch,
        NewPatientTypeRequired,
        IntakeRequired,
        IntakeExpired,
        IntakeEmergency,
        IntakeUrgentNotCleared,
        OverrideNotAllowed,
        OverrideReasonRequired,
        OverrideReasonTooLong,
    ] {
        assert_eq!(
            serde_json::to_value(code).ok(),
            Some(serde_json::json!(code.as_str()))
        );
    }
    use ValidationCode as V;
    for code in [
        V::Required,
        V::TooLong,
        V::OutOfRange,
        V::InvalidSlotGrid,
        V::OffGrid,
        V::UnknownTimeZone,
        V::InvalidTime,
        V::EndNotAfterStart,
        V::Overlapping,
        V::OverlapsOtherLocation,
        V::TooMany,
        V::RangeTooLong,
        V::Inactive,
    ] {
        assert_eq!(
            serde_json::to_value(code).ok(),
            Some(serde_json::json!(code.as_str()))
        );
    }
    for status in AppointmentStatus::ALL {
        assert_eq!(
            serde_json::to_value(status).ok(),
            Some(serde_json::json!(status.as_str()))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

#[test]
fn transitions_follow_the_state_machine() {
    use AppointmentStatus as S;
    use StatusChange as C;
    let changes = [
        C::CheckIn,
        C::Complete,
        C::NoShow,
        C::Cancel,
        C::Reschedule,
        C::UndoNoShow,
    ];
    let allowed = [
        (S::Booked, C::CheckIn, S::CheckedIn),
        (S::Booked, C::NoShow, S::NoShow),
        (S::Booked, C::Cancel, S::Cancelled),
        (S::Booked, C::Reschedule, S::Booked),
        (S::CheckedIn, C::Complete, S::Completed),
        (S::CheckedIn, C::NoShow, S::NoShow),
        (S::NoShow, C::UndoNoShow, S::Booked),
    ];
    for from in AppointmentStatus::ALL {
        for change in changes {
            let expected = allowed
                .iter()
                .find(|(f, c, _)| *f == from && *c == change)
                .map(|(_, _, to)| *to);
            match (transition(from, change), expected) {
                (Ok(to), Some(expected)) => assert_eq!(to, expected),
                (Err(error), None) => {
                    assert_eq!(error, IllegalTransition { from, change });
                    assert_eq!(error.code(), "illegal_transition");
                }
                (result, expected) => panic!("{from} {change}: {result:?}, expected {expected:?}"),
            }
        }
        if from.is_final() {
            assert!(
                changes
                    .iter()
                    .all(|change| transition(from, *change).is_err())
            );
        }
    }
    let error = transition(S::Completed, C::Cancel).expect_err("illegal");
    assert_eq!(
        error.to_string(),
        "cannot cancel an appointment that is completed"
    );
    let error = transition(S::Cancelled, C::CheckIn).expect_err("illegal");
    assert_eq!(
        error.to_string(),
        "cannot check in an appointment that is cancelled"
    );
    let error = transition(S::Booked, C::UndoNoShow).expect_err("illegal");
    assert_eq!(
        error.to_string(),
        "cannot undo the no-show of an appointment that is booked"
    );
    assert!(S::Completed.is_final() && S::Cancelled.is_final() && !S::NoShow.is_final());
    assert!(S::Booked.holds_time() && S::CheckedIn.holds_time() && S::Completed.holds_time());
    assert!(!S::Cancelled.holds_time() && !S::NoShow.holds_time());
}

/// The morning: at 10:45 a 13:30 visit (30 minutes, London, BST) is neither a no-show
/// nor complete yet, and a 15:00 one cannot be checked in.
#[test]
fn the_desk_cannot_get_ahead_of_the_visit() {
    use AppointmentStatus as S;
    use StatusChange as C;
    let london = zone("Europe/London");
    let at_1045 = utc(2026, 6, 15, 9, 45);
    let (start, end) = (utc(2026, 6, 15, 12, 30), utc(2026, 6, 15, 13, 0));
    let early = |from, change| {
        desk_change(from, change, start, end, london, at_1045).expect_err("too early")
    };
    let no_show = early(S::Booked, C::NoShow);
    assert_eq!(no_show.code(), "too_early");
    assert_eq!(
        no_show.to_string(),
        "It is too early: this appointment can be marked as a no-show from \
         Mon 15 Jun 2026 13:40 BST, 10 minutes after it starts."
    );
    let complete = early(S::CheckedIn, C::Complete);
    assert_eq!(
        complete.to_string(),
        "It is too early: this appointment can be completed from Mon 15 Jun 2026 13:30 BST, \
         when it starts."
    );
    let check_in = desk_change(
        S::Booked,
        C::CheckIn,
        utc(2026, 6, 15, 14, 0),
        utc(2026, 6, 15, 14, 30),
        london,
        at_1045,
    )
    .expect_err("too early");
    assert_eq!(
        check_in.to_string(),
        "It is too early: this appointment can be checked in from Mon 15 Jun 2026 14:00 BST, \
         60 minutes before it starts."
    );
    assert_eq!(
        check_in,
        LifecycleError::TooEarly {
            change: C::CheckIn,
            opens: london.wall_clock(utc(2026, 6, 15, 13, 0)),
        }
    );
}

#[test]
fn each_desk_change_has_its_window_around_the_visit() {
    use AppointmentStatus as S;
    use StatusChange as C;
    let new_york = zone("America/New_York");
    // 09:00–09:45 EDT on Tuesday 2 June; the local day ends at midnight EDT, 04:00 UTC.
    let (start, end) = (utc(2026, 6, 2, 13, 0), utc(2026, 6, 2, 13, 45));
    let midnight = utc(2026, 6, 3, 4, 0);
    let minute = TimeDelta::minutes(1);
    let cases = [
        (
            S::Booked,
            C::CheckIn,
            start - TimeDelta::hours(1),
            S::CheckedIn,
        ),
        (S::CheckedIn, C::Complete, start, S::Completed),
        (
            S::Booked,
            C::NoShow,
            start + TimeDelta::minutes(10),
            S::NoShow,
        ),
        (
            S::CheckedIn,
            C::NoShow,
            start + TimeDelta::minutes(10),
            S::NoShow,
        ),
    ];
    for (from, change, opens, to) in cases {
        let at = |now| desk_change(from, change, start, end, new_york, now);
        assert_eq!(
            desk_window(change, start, end, new_york),
            Some(DeskWindow {
                opens: Some(opens),
                closes: midnight
            }),
            "{change}"
        );
        assert_eq!(
            at(opens - minute).map_err(|e| e.code()),
            Err("too_early"),
            "{change}"
        );
        assert_eq!(at(opens), Ok(to), "{change} opens");
        assert_eq!(
            at(end + TimeDelta::hours(3)),
            Ok(to),
            "{change} after the visit"
        );
        assert_eq!(at(midnight - minute), Ok(to), "{change} late that evening");
        let late = at(midnight).expect_err("the next day");
        assert_eq!(late.code(), "too_late", "{change}");
        assert_eq!(
            late.to_string(),
            format!(
                "It is too late: this appointment could be {} only on its own day, until \
                 Wed 3 Jun 2026 00:00 EDT.",
                match change {
                    C::CheckIn => "checked in",
                    C::Complete => "completed",
                    _ => "marked as a no-show",
                }
            )
        );
    }
    // Undoing a no-show has no opening (a no-show exists only once its window opened), and
    // the same end.
    let undo = |now| desk_change(S::NoShow, C::UndoNoShow, start, end, new_york, now);
    assert_eq!(
        desk_window(C::UndoNoShow, start, end, new_york),
        Some(DeskWindow {
            opens: None,
            closes: midnight
        })
    );
    assert_eq!(undo(start + TimeDelta::minutes(10)), Ok(S::Booked));
    assert_eq!(undo(midnight - minute), Ok(S::Booked));
    let late = undo(midnight).expect_err("the next day");
    assert_eq!(late.code(), "too_late");
    assert_eq!(
        late.to_string(),
        "It is too late: this appointment could be taken back from no-show only on its own \
         day, until Wed 3 Jun 2026 00:00 EDT."
    );
    // Cancelling and rescheduling keep their own rules.
    assert_eq!(desk_window(C::Cancel, start, end, new_york), None);
    assert_eq!(desk_window(C::Reschedule, start, end, new_york), None);
}

#[test]
fn the_status_refusal_comes_before_the_time_refusal() {
    use AppointmentStatus as S;
    use StatusChange as C;
    let london = zone("Europe/London");
    let (start, end) = (utc(2026, 6, 15, 12, 30), utc(2026, 6, 15, 13, 0));
    let long_before = start - TimeDelta::days(3);
    let long_after = start + TimeDelta::days(3);
    for now in [long_before, long_after] {
        for (from, change) in [
            (S::Cancelled, C::CheckIn),
            (S::Booked, C::Complete),
            (S::Completed, C::NoShow),
            (S::Booked, C::UndoNoShow),
        ] {
            let refused = desk_change(from, change, start, end, london, now).expect_err("illegal");
            assert_eq!(refused.code(), "illegal_transition", "{from} {change}");
        }
    }
}

#[test]
fn the_desk_day_is_the_local_day_of_the_start() {
    use StatusChange as C;
    // London in summer: a 23:15–23:45 BST visit is on Monday 15 June; the day ends at
    // 23:00 UTC, not at UTC midnight.
    let london = zone("Europe/London");
    let (start, end) = (utc(2026, 6, 15, 22, 15), utc(2026, 6, 15, 22, 45));
    let window = desk_window(C::Complete, start, end, london).expect("timed");
    assert_eq!(window.closes, utc(2026, 6, 15, 23, 0));
    // Tokyo (UTC+9): a 08:00 local visit on 16 June starts at 23:00 UTC on the 15th; its day
    // ends at local midnight, 15:00 UTC on the 16th.
    let tokyo = zone("Asia/Tokyo");
    let window = desk_window(
        C::NoShow,
        utc(2026, 6, 15, 23, 0),
        utc(2026, 6, 15, 23, 30),
        tokyo,
    )
    .expect("timed");
    assert_eq!(window.opens, Some(utc(2026, 6, 15, 23, 10)));
    assert_eq!(window.closes, utc(2026, 6, 16, 15, 0));
    // The fall-back day in New York is 25 hours long: 04:00 UTC on 1 Nov to 05:00 UTC on 2 Nov.
    let new_york = zone("America/New_York");
    let window = desk_window(
        C::UndoNoShow,
        utc(2026, 11, 1, 14, 0),
        utc(2026, 11, 1, 14, 30),
        new_york,
    )
    .expect("timed");
    assert_eq!(window.closes, utc(2026, 11, 2, 5, 0));
    // A late visit that runs past midnight can be finished until it ends.
    let window = desk_window(
        C::Complete,
        utc(2026, 6, 15, 22, 45),
        utc(2026, 6, 15, 23, 30),
        london,
    )
    .expect("timed");
    assert_eq!(window.closes, utc(2026, 6, 15, 23, 30));
    // A visit shorter than the grace may be marked a no-show once it has ended.
    let window = desk_window(
        C::NoShow,
        utc(2026, 6, 15, 9, 0),
        utc(2026, 6, 15, 9, 5),
        london,
    )
    .expect("timed");
    assert_eq!(window.opens, Some(utc(2026, 6, 15, 9, 5)));
}

#[test]
fn patients_reschedule_only_outside_the_cancellation_window() {
    let policies = policies(15); // 24-hour window
    let start = utc(2026, 5, 4, 9, 0);
    let day_before = start - TimeDelta::hours(24);
    let ok = |actor, now| check_reschedule(actor, AppointmentStatus::Booked, start, now, &policies);
    assert_eq!(ok(Actor::Patient, day_before - TimeDelta::hours(1)), Ok(()));
    assert_eq!(
        ok(Actor::Patient, day_before),
        Ok(()),
        "exactly 24 hours before is outside"
    );
    let inside = ok(Actor::Patient, day_before + TimeDelta::minutes(1)).expect_err("inside");
    assert_eq!(inside.code(), "inside_cancellation_window");
    assert!(inside.to_string().contains("less than 24 hours"));
    assert_eq!(ok(Actor::Staff, start - TimeDelta::minutes(5)), Ok(()));
    assert_eq!(ok(Actor::Staff, start + TimeDelta::hours(1)), Ok(()));
    let done = check_reschedule(
        Actor::Staff,
        AppointmentStatus::Completed,
        start,
        day_before,
        &policies,
    )
    .expect_err("completed");
    assert_eq!(done.code(), "illegal_transition");
}

#[test]
fn cancellations_inside_the_window_are_late() {
    let policies = policies(15);
    let start = utc(2026, 5, 4, 9, 0);
    let booked = AppointmentStatus::Booked;
    let early = cancel(
        Actor::Patient,
        booked,
        start,
        start - TimeDelta::days(2),
        &policies,
        " Feeling better ",
    )
    .expect("cancelled");
    assert_eq!(
        early,
        Cancellation {
            status: AppointmentStatus::Cancelled,
            reason: "Feeling better".into(),
            late: false
        }
    );
    let late = cancel(
        Actor::Patient,
        booked,
        start,
        start - TimeDelta::hours(3),
        &policies,
        "Car broke down",
    )
    .expect("cancelled");
    assert!(late.late);
    let started = cancel(
        Actor::Patient,
        booked,
        start,
        start,
        &policies,
        "Stuck in traffic",
    )
    .expect_err("started");
    assert_eq!(started.code(), "already_started");
    let staff = cancel(
        Actor::Staff,
        booked,
        start,
        start + TimeDelta::minutes(10),
        &policies,
        "Practitioner ill",
    )
    .expect("staff may");
    assert!(staff.late);
    let blank = cancel(Actor::Staff, booked, start, start, &policies, "  ").expect_err("blank");
    assert_eq!(blank.code(), "required");
    assert!(
        matches!(blank, LifecycleError::Invalid(ValidationError { ref field, .. }) if field == "reason")
    );
    let twice = cancel(
        Actor::Staff,
        AppointmentStatus::Cancelled,
        start,
        start,
        &policies,
        "again",
    )
    .expect_err("twice");
    assert_eq!(twice.code(), "illegal_transition");
}

#[test]
fn reminders_are_never_late_and_never_in_the_past() {
    let policies = policies(15); // 24-hour lead, 24-hour window
    let start = utc(2026, 5, 4, 9, 0);
    // The lead time is the window's closing: the reminder goes a day earlier instead, while
    // the patient can still move the visit online.
    let closes = start - TimeDelta::hours(24);
    assert_eq!(
        reminder(start, start - TimeDelta::days(3), &policies),
        Some(Reminder {
            send_at: start - TimeDelta::hours(48),
            deadline: start,
            changes_online_until: Some(closes),
        })
    );
    // Booked after that moment: at the lead time, saying it can no longer be moved online.
    let late = reminder(start, start - TimeDelta::hours(30), &policies);
    assert_eq!(
        late,
        Some(Reminder {
            send_at: closes,
            deadline: start,
            changes_online_until: None,
        })
    );
    // A moment that is now would only repeat the confirmation just sent.
    assert_eq!(
        reminder(start, start - TimeDelta::hours(48), &policies).map(|r| r.send_at),
        Some(closes)
    );
    assert_eq!(
        reminder(start, closes, &policies),
        None,
        "confirmation suffices"
    );
    assert_eq!(
        reminder(start, closes + TimeDelta::seconds(1), &policies),
        None
    );
    assert_eq!(
        reminder(start, start + TimeDelta::hours(1), &policies),
        None
    );
    // The lead time is real time: 48 hours before 09:00 EDT on the spring-forward Sunday is
    // 08:00 EST on Friday.
    let sunday_nine = utc(2026, 3, 8, 13, 0);
    let sent = reminder(sunday_nine, utc(2026, 3, 1, 0, 0), &policies)
        .map(|r| zone("America/New_York").wall_clock(r.send_at).to_string());
    assert_eq!(sent.as_deref(), Some("Fri 6 Mar 2026 08:00 EST"));
}

/// Policies with this cancellation window and reminder lead, in minutes.
fn window_and_lead(window: i64, lead: i64) -> ClinicPolicies {
    ClinicPolicies::new(ClinicPoliciesInput {
        cancellation_window_minutes: window,
        reminder_lead_minutes: lead,
        ..policies(15).to_input()
    })
    .expect("valid policies")
}

#[test]
fn a_reminder_goes_while_the_patient_can_still_move_the_visit_online() {
    let start = utc(2026, 5, 4, 9, 0);
    let now = start - TimeDelta::days(10);
    for (window, lead) in [
        (24 * 60, 24 * 60),
        (24 * 60, 60),
        (48 * 60, 24 * 60),
        (12 * 60, 24 * 60),
        (0, 60),
        (24 * 60, 72 * 60),
    ] {
        let policies = window_and_lead(window, lead);
        let sent = reminder(start, now, &policies).expect("a reminder");
        assert!(
            !inside_cancellation_window(start, sent.send_at, &policies),
            "window {window}, lead {lead}: sent at {}",
            sent.send_at
        );
        let closes = start - TimeDelta::minutes(window);
        assert_eq!(sent.changes_online_until, Some(closes));
        // A lead time that leaves room before the window closes is the clinic's choice, kept.
        if lead > window {
            assert_eq!(sent.send_at, start - TimeDelta::minutes(lead));
        } else {
            assert_eq!(sent.send_at, closes - REMINDER_BEFORE_WINDOW);
        }
    }
}

#[test]
fn follow_ups_go_out_after_the_delay() {
    let policies = policies(15);
    let completed = utc(2026, 5, 4, 10, 0);
    assert_eq!(follow_up_at(completed, &policies), utc(2026, 5, 18, 10, 0));
    assert_eq!(
        follow_up_at(DateTime::<Utc>::MAX_UTC, &policies),
        DateTime::<Utc>::MAX_UTC
    );
}

#[test]
fn checked_in_appointments_cannot_be_rescheduled_or_cancelled() {
    let policies = policies(15);
    let start = utc(2026, 5, 4, 9, 0);
    let now = start - TimeDelta::days(3);
    assert!(
        check_reschedule(
            Actor::Staff,
            AppointmentStatus::CheckedIn,
            start,
            now,
            &policies
        )
        .is_err()
    );
    assert!(
        cancel(
            Actor::Staff,
            AppointmentStatus::CheckedIn,
            start,
            now,
            &policies,
            "x"
        )
        .is_err()
    );
    assert_eq!(start.weekday(), Weekday::Mon);
}

/// Stored hours (minutes) read into the same hours as the typed `HH:MM` they came from, and
/// are checked the same way: off the grid, the wrong way round, overlapping, past midnight.
#[test]
fn stored_hours_read_as_the_typed_hours_and_are_checked_alike() {
    let grid = SlotGrid::default();
    let stored = |weekday, start_minute, end_minute| StoredInterval {
        weekday,
        start_minute,
        end_minute,
    };
    let typed = WeeklyHours::new(
        &[
            WorkingIntervalInput::new(Weekday::Mon, "09:00", "12:30"),
            WorkingIntervalInput::new(Weekday::Mon, "13:00", "24:00"),
            WorkingIntervalInput::new(Weekday::Sun, "00:00", "00:15"),
        ],
        grid,
    )
    .unwrap();
    let read = WeeklyHours::from_stored(
        &[
            stored(Weekday::Mon, 540, 750),
            stored(Weekday::Mon, 780, 1440),
            stored(Weekday::Sun, 0, 15),
        ],
        grid,
    )
    .unwrap();
    assert_eq!(read, typed);

    let problems = |rows: &[StoredInterval]| -> Vec<(String, ValidationCode)> {
        WeeklyHours::from_stored(rows, grid)
            .unwrap_err()
            .into_iter()
            .map(|error| (error.field, error.code))
            .collect()
    };
    assert_eq!(
        problems(&[stored(Weekday::Tue, 545, 600)]),
        [("intervals[0].start".to_owned(), ValidationCode::OffGrid)]
    );
    assert_eq!(
        problems(&[stored(Weekday::Tue, 600, 540)]),
        [(
            "intervals[0].end".to_owned(),
            ValidationCode::EndNotAfterStart
        )]
    );
    assert_eq!(
        problems(&[stored(Weekday::Tue, 540, 1445)]),
        [("intervals[0].end".to_owned(), ValidationCode::InvalidTime)]
    );
    assert_eq!(
        problems(&[
            stored(Weekday::Tue, 540, 720),
            stored(Weekday::Tue, 600, 780)
        ]),
        [("intervals[1]".to_owned(), ValidationCode::Overlapping)]
    );
}

#[test]
fn a_reschedule_to_where_the_appointment_is_does_not_move_it() {
    let here = Placement {
        start: utc(2026, 5, 4, 9, 0),
        practitioner_id: PRACTITIONER,
        location_id: LOCATION,
    };
    assert!(!reschedule_moves(here, here));
    for moved in [
        Placement {
            start: here.start + TimeDelta::minutes(15),
            ..here
        },
        Placement {
            practitioner_id: OTHER_PRACTITIONER,
            ..here
        },
        Placement {
            location_id: OTHER_LOCATION,
            ..here
        },
    ] {
        assert!(reschedule_moves(here, moved), "{moved:?}");
    }
}

// Time off over booked visits.

fn visit(id: u8, start: DateTime<Utc>, minutes: i64) -> HeldVisit<u8> {
    HeldVisit {
        id,
        interval: Interval::new(start, start + TimeDelta::minutes(minutes)).expect("a visit"),
    }
}

fn afternoon_off() -> TimeOff {
    TimeOff::new(utc(2026, 3, 4, 13, 0), utc(2026, 3, 4, 17, 0), "Training").expect("valid")
}

#[test]
fn time_off_over_no_visit_is_clear() {
    let visits = [
        // Ends as the time off starts, and starts as it ends: touching is no clash.
        visit(1, utc(2026, 3, 4, 12, 15), 45),
        visit(2, utc(2026, 3, 4, 17, 0), 30),
        visit(3, utc(2026, 3, 5, 13, 0), 30),
    ];
    assert_eq!(
        check_time_off(&afternoon_off(), &visits, false),
        TimeOffDecision::Clear
    );
    assert_eq!(
        check_time_off::<u8>(&afternoon_off(), &[], true),
        TimeOffDecision::Clear
    );
}

#[test]
fn time_off_over_visits_is_refused_naming_them_by_start() {
    let visits = [
        visit(1, utc(2026, 3, 4, 16, 30), 45),
        visit(2, utc(2026, 3, 4, 9, 0), 30),
        // Starts before the time off and runs into it.
        visit(3, utc(2026, 3, 4, 12, 30), 45),
        visit(4, utc(2026, 3, 4, 14, 0), 30),
    ];
    assert_eq!(
        check_time_off(&afternoon_off(), &visits, false),
        TimeOffDecision::Clashes(vec![3, 4, 1])
    );
}

#[test]
fn time_off_over_visits_the_desk_keeps_names_the_kept_ones() {
    let visits = [
        visit(1, utc(2026, 3, 4, 14, 0), 30),
        visit(2, utc(2026, 3, 4, 9, 0), 30),
    ];
    assert_eq!(
        check_time_off(&afternoon_off(), &visits, true),
        TimeOffDecision::KeepsVisits(vec![1])
    );
}

#[test]
fn time_off_inside_one_visit_clashes_with_it() {
    let visits = [visit(7, utc(2026, 3, 4, 12, 0), 6 * 60)];
    assert_eq!(
        check_time_off(&afternoon_off(), &visits, false),
        TimeOffDecision::Clashes(vec![7])
    );
}
