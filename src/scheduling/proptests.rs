//! Property tests: availability invariants over generated calendars around DST changes in
//! several zones (including a quarter-hour offset and a 30-minute DST shift), checked against
//! a brute-force oracle that reads the wall clock minute by minute.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Timelike, Utc, Weekday};
use proptest::prelude::*;

use super::tests::{LOCATION, OTHER_LOCATION, PRACTITIONER, date, policies_with, zone};
use super::*;

const ZONES: [&str; 6] = [
    "America/New_York",
    "Europe/London",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "UTC",
];

/// DST changes and one ordinary week: New York, London, Lord Howe (30-minute shift).
fn base_dates() -> [NaiveDate; 7] {
    [
        date(2026, 3, 8),
        date(2026, 11, 1),
        date(2026, 3, 29),
        date(2026, 10, 25),
        date(2026, 4, 5),
        date(2026, 10, 4),
        date(2026, 6, 15),
    ]
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

#[derive(Debug, Clone)]
struct Scenario {
    grid: i64,
    duration_steps: i64,
    buffer: i64,
    first_zone: usize,
    second_zone: Option<usize>,
    /// Per location, per weekday: boundary marks in 5-minute units, paired into intervals.
    marks: Vec<Vec<Vec<u16>>>,
    base: usize,
    start_shift: i64,
    days: u64,
    /// (start in minutes from the base date's UTC midnight − 1 day, length, buffer).
    busy: Vec<(i64, i64, i64)>,
    time_off: Vec<(i64, i64)>,
    now_shift: i64,
    notice: i64,
    horizon_days: i64,
    patient: bool,
}

fn week_marks() -> impl Strategy<Value = Vec<Vec<u16>>> {
    prop::collection::vec(prop::collection::vec(0u16..=288, 0..=6), 7)
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        (
            prop::sample::select(vec![5i64, 10, 15, 20, 30, 60]),
            1i64..=6,
            0i64..=30,
            0..ZONES.len(),
            prop::option::weighted(0.3, 0..ZONES.len()),
            prop::collection::vec(week_marks(), 2),
        ),
        (0..base_dates().len(), -3i64..=1, 0u64..=6),
        (
            prop::collection::vec((0i64..9 * 1440, 5i64..=180, 0i64..=30), 0..12),
            prop::collection::vec((0i64..9 * 1440, 5i64..=600), 0..3),
        ),
        (0i64..5 * 1440, 0i64..=240, 1i64..=30, any::<bool>()),
    )
        .prop_map(
            |(
                (grid, duration_steps, buffer, first_zone, second_zone, marks),
                (base, start_shift, days),
                (busy, time_off),
                (now_shift, notice, horizon_days, patient),
            )| Scenario {
                grid,
                duration_steps,
                buffer,
                first_zone,
                second_zone,
                marks,
                base,
                start_shift,
                days,
                busy,
                time_off,
                now_shift,
                notice,
                horizon_days,
                patient,
            },
        )
}

/// Turns marks into valid, non-overlapping intervals on the grid.
fn hours_from(marks: &[Vec<u16>], grid: SlotGrid) -> WeeklyHours {
    let step = i64::from(grid.minutes());
    let mut input = Vec::new();
    for (weekday, day) in WEEKDAYS.iter().zip(marks) {
        let mut minutes: Vec<i64> = day
            .iter()
            .map(|mark| i64::from(*mark) * 5 / step * step)
            .collect();
        minutes.sort_unstable();
        minutes.dedup();
        for pair in minutes.chunks_exact(2) {
            let text = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
            input.push(WorkingIntervalInput::new(
                *weekday,
                &text(pair[0]),
                &text(pair[1]),
            ));
        }
    }
    WeeklyHours::new(&input, grid).unwrap_or_default()
}

struct Built {
    policies: ClinicPolicies,
    kind: AppointmentType,
    calendar: PractitionerCalendar,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
    actor: Actor,
}

impl Built {
    fn query(&self) -> AvailabilityQuery<'_> {
        AvailabilityQuery {
            appointment_type: &self.kind,
            from: self.from,
            to: self.to,
            actor: self.actor,
            now: self.now,
        }
    }

    fn offered(&self, calendar: &PractitionerCalendar) -> Availability {
        availability(
            &self.query(),
            &self.policies,
            std::slice::from_ref(calendar),
        )
        .unwrap_or_default()
    }
}

fn build(scenario: &Scenario) -> Built {
    let policies = policies_with(scenario.grid, scenario.notice, scenario.horizon_days);
    let grid = policies.slot_grid();
    let kind = AppointmentType::new(
        AppointmentTypeInput {
            name: "Generated".into(),
            discipline: Discipline::Physiotherapy,
            duration_minutes: scenario.duration_steps * scenario.grid,
            buffer_after_minutes: scenario.buffer,
            new_patient: false,
            active: true,
        },
        grid,
    )
    .unwrap_or_else(|errors| panic!("generated type is valid: {errors}"));
    let base = base_dates()[scenario.base];
    let from = if scenario.start_shift < 0 {
        base - Days::new(scenario.start_shift.unsigned_abs())
    } else {
        base + Days::new(scenario.start_shift.unsigned_abs())
    };
    let to = from + Days::new(scenario.days);
    let origin = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - TimeDelta::days(1);
    let minutes = |m: i64| origin + TimeDelta::minutes(m);
    let mut locations = vec![LocationHours {
        location_id: LOCATION,
        zone: zone(ZONES[scenario.first_zone]),
        hours: hours_from(&scenario.marks[0], grid),
    }];
    if let Some(second) = scenario.second_zone {
        locations.push(LocationHours {
            location_id: OTHER_LOCATION,
            zone: zone(ZONES[second]),
            hours: hours_from(&scenario.marks[1], grid),
        });
    }
    let calendar = PractitionerCalendar {
        practitioner_id: PRACTITIONER,
        discipline: Discipline::Physiotherapy,
        locations,
        time_off: scenario
            .time_off
            .iter()
            .filter_map(|&(start, length)| {
                Interval::new(minutes(start), minutes(start + length)).ok()
            })
            .collect(),
        busy: scenario
            .busy
            .iter()
            .filter_map(|&(start, length, buffer)| {
                Busy::new(
                    minutes(start),
                    minutes(start + length),
                    Minutes::new(buffer).ok()?,
                )
                .ok()
            })
            .collect(),
    };
    Built {
        policies,
        kind,
        calendar,
        from,
        to,
        now: minutes(scenario.now_shift),
        actor: if scenario.patient {
            Actor::Patient
        } else {
            Actor::Staff
        },
    }
}

/// The definition, read off the wall clock: is the practitioner working at this instant?
fn works_at(location: &LocationHours, instant: DateTime<Utc>) -> bool {
    let local = instant.with_timezone(&location.zone.tz()).naive_local();
    let minute = local.hour() * 60 + local.minute();
    location
        .hours
        .on(local.weekday())
        .any(|interval| interval.start.minutes() <= minute && minute < interval.end.minutes())
}

/// Every minute of `[start, end)` is working time (offsets change on whole minutes).
fn works_throughout(location: &LocationHours, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let mut at = start;
    while at < end {
        if !works_at(location, at) {
            return false;
        }
        at += TimeDelta::minutes(1);
    }
    true
}

fn overlaps(a: (DateTime<Utc>, DateTime<Utc>), b: (DateTime<Utc>, DateTime<Utc>)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn is_blocked(calendar: &PractitionerCalendar, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    calendar
        .busy
        .iter()
        .any(|busy| overlaps((start, end), (busy.interval.start(), busy.blocked_until())))
        || calendar
            .time_off
            .iter()
            .any(|off| overlaps((start, end), (off.start(), off.end())))
}

fn location_of<'a>(calendar: &'a PractitionerCalendar, slot: &Slot) -> Option<&'a LocationHours> {
    calendar
        .locations
        .iter()
        .find(|location| location.location_id == slot.location_id)
}

fn on_local_grid(slot: &Slot, grid: i64) -> bool {
    let local = slot.local_start;
    let minute = i64::from(local.hour() * 60 + local.minute());
    local.second() == 0 && minute % grid == 0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn offered_slots_respect_every_rule(scenario in scenario()) {
        let built = build(&scenario);
        let offered = built.offered(&built.calendar);
        let window = built.policies.booking_window(built.actor, built.now);
        for pair in offered.slots().windows(2) {
            prop_assert!(
                (pair[0].start, pair[0].location_id) < (pair[1].start, pair[1].location_id),
                "sorted and unique"
            );
        }
        for slot in offered.slots() {
            let location = location_of(&built.calendar, slot);
            prop_assert!(location.is_some());
            let Some(location) = location else { continue };
            prop_assert_eq!(slot.time_zone, location.zone);
            prop_assert!(on_local_grid(slot, scenario.grid), "grid: {}", slot.local_start);
            prop_assert_eq!(slot.local_start, slot.start.with_timezone(&slot.local_start.timezone()));
            prop_assert_eq!(slot.abbreviation.clone(), location.zone.wall_clock(slot.start).abbreviation);
            prop_assert_eq!(slot.end - slot.start, built.kind.duration().duration());
            prop_assert_eq!(slot.blocked_until - slot.start, built.kind.occupies().duration());
            let local_date = location.zone.local_date(slot.start);
            prop_assert!((built.from..=built.to).contains(&local_date));
            prop_assert!(window.contains(slot.start));
            prop_assert!(
                works_throughout(location, slot.start, slot.blocked_until),
                "inside working hours: {} {}", slot.local_start, slot.abbreviation
            );
            prop_assert!(!is_blocked(&built.calendar, slot.start, slot.blocked_until));
        }
    }

    #[test]
    fn booking_any_offered_slot_passes(scenario in scenario()) {
        let built = build(&scenario);
        let offered = built.offered(&built.calendar);
        let intake = IntakeGateFacts {
            latest_intake_at: Some(built.now),
            open_flag: None,
        };
        for slot in offered.slots() {
            prop_assert!(check_slot(&offered, slot.practitioner_id, slot.location_id, slot.start).is_ok());
            let request = BookingRequest {
                actor: built.actor,
                appointment_type: &built.kind,
                practitioner_id: slot.practitioner_id,
                practitioner_discipline: built.calendar.discipline,
                location_id: slot.location_id,
                start: slot.start,
                practitioner_active: true,
                location_active: true,
                held_by_discipline: &[(Discipline::Physiotherapy, 1)],
                patient_busy: &[],
                intake,
                intake_override: None,
                now: built.now,
            };
            let approval = check_booking(&request, &offered);
            prop_assert_eq!(approval.map(|approval| approval.slot), Ok(slot.clone()));
        }
    }

    #[test]
    fn adding_a_busy_interval_never_adds_slots(
        scenario in scenario(),
        extra in (0i64..9 * 1440, 5i64..=240, 0i64..=30),
    ) {
        let built = build(&scenario);
        let before = built.offered(&built.calendar);
        let origin = built.from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - TimeDelta::days(1);
        let start = origin + TimeDelta::minutes(extra.0);
        let mut busier = built.calendar.clone();
        let busy = Busy::new(start, start + TimeDelta::minutes(extra.1), Minutes::new(extra.2).unwrap_or_default());
        prop_assert!(busy.is_ok());
        let Ok(busy) = busy else { return Ok(()) };
        busier.busy.push(busy);
        let after = built.offered(&busier);
        for slot in after.slots() {
            prop_assert!(before.slots().contains(slot), "new slot {}", slot.local_start);
        }
        for slot in before.slots() {
            let hit = overlaps(
                (slot.start, slot.blocked_until),
                (busy.interval.start(), busy.blocked_until()),
            );
            prop_assert_eq!(after.slots().contains(slot), !hit, "only overlapping slots go");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Completeness: every grid-aligned instant that the brute-force oracle finds free is
    /// offered, so nothing is lost around DST changes either.
    #[test]
    fn every_free_start_is_offered(scenario in scenario()) {
        let built = build(&scenario);
        let offered = built.offered(&built.calendar);
        let window = built.policies.booking_window(built.actor, built.now);
        let occupies = built.kind.occupies().duration();
        let first = built.from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - TimeDelta::hours(16);
        let last = built.to.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() + TimeDelta::hours(40);
        let mut expected = 0;
        for location in &built.calendar.locations {
            let mut at = first;
            while at < last {
                let local = at.with_timezone(&location.zone.tz()).naive_local();
                let minute = i64::from(local.hour() * 60 + local.minute());
                let candidate = minute % scenario.grid == 0
                    && (built.from..=built.to).contains(&local.date())
                    && window.contains(at)
                    && works_throughout(location, at, at + occupies)
                    && !is_blocked(&built.calendar, at, at + occupies);
                if candidate {
                    expected += 1;
                    prop_assert!(
                        offered.find(PRACTITIONER, location.location_id, at).is_some(),
                        "missing {} ({})", local, location.zone
                    );
                }
                at += TimeDelta::minutes(5);
            }
        }
        prop_assert_eq!(offered.len(), expected, "nothing offered that the oracle rejects");
    }

    /// Whatever is typed in, validation answers with hours or errors, never a panic, and
    /// accepted hours never overlap on a weekday.
    #[test]
    fn weekly_hours_validation_is_total(
        input in prop::collection::vec(
            (0usize..7, "[0-9:]{0,6}", "[0-9:]{0,6}"),
            0..12,
        ),
    ) {
        let input: Vec<_> = input
            .iter()
            .map(|(day, start, end)| WorkingIntervalInput::new(WEEKDAYS[*day], start, end))
            .collect();
        if let Ok(hours) = WeeklyHours::new(&input, SlotGrid::default()) {
            for weekday in WEEKDAYS {
                let day: Vec<_> = hours.on(weekday).collect();
                for pair in day.windows(2) {
                    prop_assert!(pair[0].end <= pair[1].start);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The window a booking loads before it knows the location's zone covers what availability
    /// on the start's local date needs, in every zone (with the furthest offsets a clinic
    /// could be at, UTC-11 and UTC+14).
    #[test]
    fn the_window_around_an_instant_covers_its_local_date_anywhere(
        seconds in 0i64..4_000_000_000,
    ) {
        let instant = DateTime::from_timestamp(seconds, 0).unwrap();
        let (from, to) = AvailabilityQuery::load_window_around(instant);
        for name in ZONES.iter().chain(&["Pacific/Pago_Pago", "Pacific/Kiritimati"]) {
            let local_date = zone(name).local_date(instant);
            let (needed_from, needed_to) =
                AvailabilityQuery::load_window_of(local_date, local_date);
            prop_assert!(from <= needed_from && needed_to <= to, "{instant} in {name}");
        }
    }
}

const DESK_CHANGES: [StatusChange; 4] = [
    StatusChange::CheckIn,
    StatusChange::Complete,
    StatusChange::NoShow,
    StatusChange::UndoNoShow,
];

/// The status each desk change starts from.
fn desk_from(change: StatusChange) -> AppointmentStatus {
    match change {
        StatusChange::Complete => AppointmentStatus::CheckedIn,
        StatusChange::UndoNoShow => AppointmentStatus::NoShow,
        _ => AppointmentStatus::Booked,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Around DST changes in every test zone: a desk change is allowed exactly inside its
    /// window; the window never opens more than the check-in lead before the start (and a
    /// no-show or completion never before the start), and closes at the end of the start's
    /// local day, or at the end of a visit that runs past it.
    #[test]
    fn desk_changes_are_allowed_exactly_on_the_visits_day(
        zone_index in 0usize..ZONES.len(),
        base in 0usize..7,
        start_minutes in -1440i64..2880,
        length in 5i64..240,
        now_minutes in -2880i64..4320,
        change_index in 0usize..4,
    ) {
        let zone = zone(ZONES[zone_index]);
        let change = DESK_CHANGES[change_index];
        let midnight = base_dates()[base].and_hms_opt(0, 0, 0).unwrap().and_utc();
        let start = midnight + TimeDelta::minutes(start_minutes);
        let end = start + TimeDelta::minutes(length);
        let now = midnight + TimeDelta::minutes(now_minutes);
        let window = desk_window(change, start, end, zone).expect("a desk change is timed");

        let day = zone.local_date(start);
        prop_assert!(window.closes >= end);
        if window.closes > end {
            prop_assert_eq!(zone.local_date(window.closes - TimeDelta::seconds(1)), day);
            prop_assert!(zone.local_date(window.closes) > day);
        }
        if let Some(opens) = window.opens {
            prop_assert!(opens < window.closes);
            prop_assert!(opens >= start - CHECK_IN_OPENS_BEFORE_START);
            if change != StatusChange::CheckIn {
                prop_assert!(opens >= start);
            }
        }

        let decided = desk_change(desk_from(change), change, start, end, zone, now);
        let too_early = window.opens.is_some_and(|opens| now < opens);
        let too_late = now >= window.closes;
        match decided {
            Ok(_) => prop_assert!(!too_early && !too_late),
            Err(refusal) => {
                let expected = if too_early { "too_early" } else { "too_late" };
                prop_assert!(too_early || too_late);
                prop_assert_eq!(refusal.code(), expected);
            }
        }
    }
}
