//! The geometry of the outcome charts, drawn on the server as SVG (no script, nothing from
//! another site): scales from values and instants to the drawing's coordinates, the points, the
//! line joining them, and the instrument's meaningful-change marks. Pure: the template only
//! writes out what this computes, so every edge (no readings, one, many on one day, values at
//! the scale's ends) is unit tested here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// The drawing's size in SVG units (it scales to the page's width).
pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 260.0;
/// Room for the axis labels around the plot.
const LEFT: f64 = 52.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
/// Date labels closer than this would overlap; the later one is left out (the table has all).
const MIN_LABEL_GAP: f64 = 72.0;

/// What a chart measures: its scale runs 0..=`max`, with a tick every `step`, and a change of
/// `meaningful` (the minimal clinically important difference) matters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measure {
    pub max: f64,
    pub step: f64,
    pub meaningful: f64,
}

/// Pain, NRS-11: 0–10, 2 points matter (instruments.md).
pub const PAIN: Measure = Measure {
    max: 10.0,
    step: 2.0,
    meaningful: 2.0,
};
/// Disability, Oswestry v2.1a: 0–100 %, 10 points matter (instruments.md).
pub const ODI: Measure = Measure {
    max: 100.0,
    step: 20.0,
    meaningful: 10.0,
};

/// One measurement: when, the clinic's local date (for the label), and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub day: NaiveDate,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tick {
    /// Where along its axis, in SVG units.
    pub at: f64,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dot {
    pub x: f64,
    pub y: f64,
}

/// The area of meaningful improvement: from the baseline minus the meaningful change down to
/// zero (lower is better on both instruments).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    /// The threshold line's height (its value is `value`).
    pub y: f64,
    pub height: f64,
    pub value: f64,
}

/// Everything the template draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub dots: Vec<Dot>,
    /// The line through the dots (`M x y L x y …`), empty below two readings.
    pub path: String,
    /// The baseline's height, when there is a baseline.
    pub baseline: Option<f64>,
    /// The meaningful-improvement band, when the baseline leaves room for one.
    pub band: Option<Band>,
}

/// Maps a value on `0..=max` to a height: 0 at the bottom, `max` at the top; values outside
/// are held at the ends so a bad reading cannot leave the drawing.
pub fn value_y(measure: Measure, value: f64) -> f64 {
    let bottom = HEIGHT - BOTTOM;
    if measure.max.is_nan() || measure.max <= 0.0 || !value.is_finite() {
        return bottom;
    }
    let share = (value / measure.max).clamp(0.0, 1.0);
    round(bottom - share * (bottom - TOP))
}

/// Maps instants between `first` and `last` across the plot's width; a single instant (one
/// reading, or all at once) sits in the middle.
pub fn time_x(first: DateTime<Utc>, last: DateTime<Utc>, at: DateTime<Utc>) -> f64 {
    let span = (last - first).num_seconds();
    let width = WIDTH - LEFT - RIGHT;
    if span <= 0 {
        return round(LEFT + width / 2.0);
    }
    let share = ((at - first).num_seconds() as f64 / span as f64).clamp(0.0, 1.0);
    round(LEFT + share * width)
}

/// The value at which improvement becomes meaningful: the baseline minus the meaningful
/// change, or `None` when that is below zero (no meaningful improvement is possible).
pub fn improvement_threshold(measure: Measure, baseline: f64) -> Option<f64> {
    let threshold = baseline - measure.meaningful;
    (baseline.is_finite() && threshold >= 0.0).then_some(threshold)
}

/// The chart of `readings` (oldest first) against `baseline`.
pub fn chart(measure: Measure, readings: &[Reading], baseline: Option<f64>) -> Chart {
    let bottom = HEIGHT - BOTTOM;
    let y_ticks = y_ticks(measure);
    let (first, last) = match (readings.first(), readings.last()) {
        (Some(first), Some(last)) => (first.at, last.at),
        _ => (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MIN_UTC),
    };
    let dots: Vec<Dot> = readings
        .iter()
        .map(|reading| Dot {
            x: time_x(first, last, reading.at),
            y: value_y(measure, reading.value),
        })
        .collect();
    let mut x_ticks: Vec<Tick> = Vec::new();
    let mut labelled: Option<NaiveDate> = None;
    for (reading, dot) in readings.iter().zip(&dots) {
        if labelled == Some(reading.day) {
            continue;
        }
        labelled = Some(reading.day);
        if x_ticks
            .last()
            .is_some_and(|tick| dot.x - tick.at < MIN_LABEL_GAP)
        {
            continue;
        }
        x_ticks.push(Tick {
            at: dot.x,
            label: reading.day.format("%-d %b").to_string(),
        });
    }
    let band = baseline
        .and_then(|baseline| improvement_threshold(measure, baseline))
        .map(|value| {
            let y = value_y(measure, value);
            Band {
                y,
                height: round(bottom - y),
                value,
            }
        });
    Chart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        right: WIDTH - RIGHT,
        top: TOP,
        bottom,
        y_ticks,
        x_ticks,
        path: path(&dots),
        dots,
        baseline: baseline.map(|value| value_y(measure, value)),
        band,
    }
}

fn y_ticks(measure: Measure) -> Vec<Tick> {
    if measure.step.is_nan() || measure.step <= 0.0 || measure.max.is_nan() || measure.max <= 0.0 {
        return Vec::new();
    }
    let count = (measure.max / measure.step).round() as u32;
    (0..=count)
        .map(|index| {
            let value = f64::from(index) * measure.step;
            Tick {
                at: value_y(measure, value),
                label: format!("{value}"),
            }
        })
        .collect()
}

/// The polyline's path through `dots`, in order; nothing to join below two.
pub fn path(dots: &[Dot]) -> String {
    if dots.len() < 2 {
        return String::new();
    }
    dots.iter()
        .enumerate()
        .map(|(index, dot)| {
            let command = if index == 0 { 'M' } else { 'L' };
            format!("{command} {} {}", dot.x, dot.y)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One decimal is finer than a screen pixel, and keeps the markup short.
fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    fn reading(day: u32, hour: u32, value: f64) -> Reading {
        let at = at(day, hour);
        Reading {
            at,
            day: at.date_naive(),
            value,
        }
    }

    const PLOT_LEFT: f64 = LEFT;
    const PLOT_RIGHT: f64 = WIDTH - RIGHT;
    const PLOT_TOP: f64 = TOP;
    const PLOT_BOTTOM: f64 = HEIGHT - BOTTOM;

    #[test]
    fn values_map_bottom_to_top_and_are_held_inside() {
        assert_eq!(value_y(PAIN, 0.0), PLOT_BOTTOM);
        assert_eq!(value_y(PAIN, 10.0), PLOT_TOP);
        assert_eq!(value_y(ODI, 100.0), PLOT_TOP);
        assert_eq!(value_y(ODI, 50.0), (PLOT_TOP + PLOT_BOTTOM) / 2.0);
        assert!(
            value_y(PAIN, 3.0) > value_y(PAIN, 4.0),
            "higher is drawn higher"
        );
        assert_eq!(value_y(PAIN, -1.0), PLOT_BOTTOM);
        assert_eq!(value_y(PAIN, 11.0), PLOT_TOP);
        assert_eq!(value_y(PAIN, f64::NAN), PLOT_BOTTOM);
        let broken = Measure { max: 0.0, ..PAIN };
        assert_eq!(value_y(broken, 5.0), PLOT_BOTTOM);
    }

    #[test]
    fn instants_spread_across_the_width_and_one_instant_sits_in_the_middle() {
        let (first, last) = (at(2, 9), at(12, 9));
        assert_eq!(time_x(first, last, first), PLOT_LEFT);
        assert_eq!(time_x(first, last, last), PLOT_RIGHT);
        assert_eq!(
            time_x(first, last, at(7, 9)),
            (PLOT_LEFT + PLOT_RIGHT) / 2.0
        );
        assert_eq!(time_x(first, first, first), (PLOT_LEFT + PLOT_RIGHT) / 2.0);
        assert_eq!(time_x(last, first, first), (PLOT_LEFT + PLOT_RIGHT) / 2.0);
        assert_eq!(time_x(first, last, last + Duration::days(3)), PLOT_RIGHT);
    }

    #[test]
    fn the_threshold_is_the_baseline_minus_the_meaningful_change() {
        assert_eq!(improvement_threshold(PAIN, 6.0), Some(4.0));
        assert_eq!(improvement_threshold(PAIN, 2.0), Some(0.0));
        assert_eq!(improvement_threshold(PAIN, 1.0), None);
        assert_eq!(improvement_threshold(ODI, 32.0), Some(22.0));
        assert_eq!(improvement_threshold(ODI, 9.5), None);
        assert_eq!(improvement_threshold(ODI, f64::NAN), None);
    }

    #[test]
    fn no_readings_draw_only_the_axes() {
        let drawn = chart(PAIN, &[], None);
        assert!(drawn.dots.is_empty());
        assert!(drawn.x_ticks.is_empty());
        assert_eq!(drawn.path, "");
        assert_eq!(drawn.baseline, None);
        assert_eq!(drawn.band, None);
        let labels: Vec<&str> = drawn.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0", "2", "4", "6", "8", "10"]);
        assert_eq!(drawn.y_ticks[0].at, PLOT_BOTTOM);
        assert_eq!(drawn.y_ticks[5].at, PLOT_TOP);
        assert_eq!(chart(ODI, &[], None).y_ticks.len(), 6);
    }

    #[test]
    fn one_reading_is_a_dot_in_the_middle_with_no_line() {
        let drawn = chart(PAIN, &[reading(2, 9, 6.0)], Some(6.0));
        assert_eq!(
            drawn.dots,
            [Dot {
                x: (PLOT_LEFT + PLOT_RIGHT) / 2.0,
                y: value_y(PAIN, 6.0)
            }]
        );
        assert_eq!(drawn.path, "");
        assert_eq!(drawn.x_ticks.len(), 1);
        assert_eq!(drawn.x_ticks[0].label, "2 Mar");
        assert_eq!(drawn.baseline, Some(value_y(PAIN, 6.0)));
        let band = drawn.band.unwrap();
        assert_eq!(band.value, 4.0);
        assert_eq!(band.y, value_y(PAIN, 4.0));
        assert_eq!(band.y + band.height, PLOT_BOTTOM, "the band reaches zero");
    }

    #[test]
    fn many_readings_are_joined_in_order() {
        let readings = [
            reading(2, 9, 6.0),
            reading(9, 9, 4.0),
            reading(16, 9, 3.0),
            reading(23, 9, 1.0),
        ];
        let drawn = chart(PAIN, &readings, Some(6.0));
        assert_eq!(drawn.dots.len(), 4);
        assert_eq!(drawn.dots[0].x, PLOT_LEFT);
        assert_eq!(drawn.dots[3].x, PLOT_RIGHT);
        assert!(drawn.dots.windows(2).all(|pair| pair[0].x < pair[1].x));
        assert!(
            drawn
                .path
                .starts_with(&format!("M {} {} L ", PLOT_LEFT, value_y(PAIN, 6.0)))
        );
        assert_eq!(drawn.path.matches(" L ").count(), 3);
        assert!(
            drawn
                .path
                .ends_with(&format!("{} {}", PLOT_RIGHT, value_y(PAIN, 1.0)))
        );
        let labels: Vec<&str> = drawn.x_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["2 Mar", "9 Mar", "16 Mar", "23 Mar"]);
    }

    #[test]
    fn readings_on_one_day_get_one_label_and_close_labels_are_thinned() {
        let same_day = [reading(2, 9, 6.0), reading(2, 15, 5.0)];
        let drawn = chart(PAIN, &same_day, Some(6.0));
        assert_eq!(drawn.dots.len(), 2);
        assert!(drawn.dots[0].x < drawn.dots[1].x, "still apart in time");
        assert_eq!(drawn.x_ticks.len(), 1, "{:?}", drawn.x_ticks);

        let at_once = [reading(2, 9, 6.0), reading(2, 9, 4.0)];
        let drawn = chart(PAIN, &at_once, None);
        assert_eq!(drawn.dots[0].x, drawn.dots[1].x);
        assert!(!drawn.path.is_empty());

        // A day apart, then a month on: the second day's label would overlap the first.
        let crowded = [reading(1, 9, 6.0), reading(2, 9, 5.0), reading(31, 9, 2.0)];
        let drawn = chart(PAIN, &crowded, None);
        let labels: Vec<&str> = drawn.x_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["1 Mar", "31 Mar"]);
    }

    #[test]
    fn values_at_the_ends_of_the_scale_stay_on_the_plot() {
        let drawn = chart(
            ODI,
            &[reading(2, 9, 0.0), reading(9, 9, 100.0)],
            Some(100.0),
        );
        assert_eq!(drawn.dots[0].y, PLOT_BOTTOM);
        assert_eq!(drawn.dots[1].y, PLOT_TOP);
        assert_eq!(drawn.baseline, Some(PLOT_TOP));
        assert_eq!(drawn.band.unwrap().value, 90.0);
        // A baseline too low for a meaningful improvement: no band, still a baseline.
        let drawn = chart(ODI, &[reading(2, 9, 4.0)], Some(4.0));
        assert_eq!(drawn.band, None);
        assert!(drawn.baseline.is_some());
    }
}
