//! Availability benchmark: one practitioner, 14 days (across the London spring-forward change),
//! with a dense year of 2,000 existing appointments, on one core.
//!
//!     cargo bench --bench scheduling
//!     cargo bench --bench scheduling -- --measurement-time 3 --warm-up-time 1
//!
//! Three cases: the whole year of appointments passed in (a handler that does not filter),
//! only those in the query's load window (what the handler should do), and ten practitioners
//! of the discipline at the location. Criterion reports the time per call; the target
//! is an availability p95 under 10 ms over HTTP, of which this is the pure part.

use std::hint::black_box;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use criterion::{Criterion, criterion_group, criterion_main};
use lumbar::scheduling::{
    Actor, AppointmentType, AppointmentTypeInput, AvailabilityQuery, Busy, ClinicPolicies,
    Discipline, Interval, LocationHours, Minutes, PractitionerCalendar, WeeklyHours,
    WorkingIntervalInput, Zone, availability,
};
use uuid::Uuid;

/// Local starts of the eight daily appointments (hour, minute).
const DAILY: [(u32, u32); 8] = [
    (8, 0),
    (9, 0),
    (10, 0),
    (11, 0),
    (13, 0),
    (14, 30),
    (15, 30),
    (16, 30),
];

fn hours(policies: &ClinicPolicies) -> Option<WeeklyHours> {
    let mut input = Vec::new();
    for day in [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ] {
        input.push(WorkingIntervalInput::new(day, "08:00", "12:00"));
        input.push(WorkingIntervalInput::new(day, "13:00", "18:00"));
    }
    input.push(WorkingIntervalInput::new(Weekday::Sat, "09:00", "13:00"));
    WeeklyHours::new(&input, policies.slot_grid()).ok()
}

/// 2,000 appointments: eight a weekday from 2026-01-01 on, 30 minutes with a 10-minute buffer.
fn year_of_appointments(zone: Zone) -> Vec<Busy> {
    let buffer = Minutes::new(10).unwrap_or_default();
    let mut busy = Vec::with_capacity(2000);
    let mut day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    while busy.len() < 2000 {
        if day.weekday().num_days_from_monday() < 5 {
            for (hour, minute) in DAILY {
                let start = day
                    .and_hms_opt(hour, minute, 0)
                    .and_then(|local| zone.tz().from_local_datetime(&local).earliest());
                if let Some(start) = start {
                    let start = start.with_timezone(&Utc);
                    if let Ok(appointment) =
                        Busy::new(start, start + TimeDelta::minutes(30), buffer)
                    {
                        busy.push(appointment);
                    }
                }
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
    busy
}

struct Setup {
    policies: ClinicPolicies,
    kind: AppointmentType,
    calendar: PractitionerCalendar,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
}

fn setup() -> Option<Setup> {
    let policies = ClinicPolicies::default();
    let zone = Zone::parse("Europe/London").ok()?;
    let kind = AppointmentType::new(
        AppointmentTypeInput {
            name: "Physio follow-up".into(),
            discipline: Discipline::Physiotherapy,
            duration_minutes: 30,
            buffer_after_minutes: 10,
            new_patient: false,
            active: true,
        },
        policies.slot_grid(),
    )
    .ok()?;
    let holiday = Interval::new(
        Utc.with_ymd_and_hms(2026, 3, 26, 0, 0, 0).single()?,
        Utc.with_ymd_and_hms(2026, 3, 27, 0, 0, 0).single()?,
    )
    .ok()?;
    let calendar = PractitionerCalendar {
        practitioner_id: Uuid::from_u128(1).into(),
        discipline: Discipline::Physiotherapy,
        locations: vec![LocationHours {
            location_id: Uuid::from_u128(10).into(),
            zone,
            hours: hours(&policies)?,
        }],
        time_off: vec![holiday],
        busy: year_of_appointments(zone),
    };
    Some(Setup {
        policies,
        kind,
        calendar,
        from: NaiveDate::from_ymd_opt(2026, 3, 23)?,
        to: NaiveDate::from_ymd_opt(2026, 4, 5)?,
        now: Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).single()?,
    })
}

fn bench_availability(c: &mut Criterion) {
    let Some(setup) = setup() else {
        eprintln!("benchmark setup failed");
        return;
    };
    let query = AvailabilityQuery {
        appointment_type: &setup.kind,
        from: setup.from,
        to: setup.to,
        actor: Actor::Patient,
        now: setup.now,
    };
    let (window_start, window_end) = query.load_window();
    let mut loaded = setup.calendar.clone();
    loaded
        .busy
        .retain(|busy| busy.interval.start() < window_end && busy.blocked_until() > window_start);
    let ten: Vec<_> = (0..10u128)
        .map(|index| PractitionerCalendar {
            practitioner_id: Uuid::from_u128(100 + index).into(),
            ..loaded.clone()
        })
        .collect();
    let slots = availability(&query, &setup.policies, std::slice::from_ref(&loaded))
        .map(|found| found.len())
        .unwrap_or(0);
    eprintln!(
        "one practitioner, 14 days: {slots} free slots; {} appointments in the year, {} in the window",
        setup.calendar.busy.len(),
        loaded.busy.len()
    );

    let mut group = c.benchmark_group("availability_14_days");
    group.bench_function("one_practitioner_year_of_appointments", |b| {
        b.iter(|| {
            availability(
                black_box(&query),
                &setup.policies,
                std::slice::from_ref(&setup.calendar),
            )
        });
    });
    group.bench_function("one_practitioner_window_loaded", |b| {
        b.iter(|| {
            availability(
                black_box(&query),
                &setup.policies,
                std::slice::from_ref(&loaded),
            )
        });
    });
    group.bench_function("ten_practitioners_window_loaded", |b| {
        b.iter(|| availability(black_box(&query), &setup.policies, &ten));
    });
    group.finish();
}

criterion_group!(benches, bench_availability);
criterion_main!(benches);
