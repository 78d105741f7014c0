//! Instrument scoring, exactly as published (see `shared/clinical/instruments.md`).
//!
//! These functions take plain values, not answers, so that they can be checked directly against
//! the published worked cases. Scoring keys on linkIds elsewhere (see `facts.rs`), never on item
//! text, so a licensed official wording can replace ours without code changes.

use serde::{Serialize, Serializer};

/// Keele STarT Back item 9, overall bothersomeness in the last 2 weeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bothersomeness {
    NotAtAll,
    Slightly,
    Moderately,
    VeryMuch,
    Extremely,
}

impl Bothersomeness {
    /// The answer codes of item `sbt_9`, in scale order.
    pub const CODES: [&'static str; 5] = [
        "not_at_all",
        "slightly",
        "moderately",
        "very_much",
        "extremely",
    ];

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "not_at_all" => Some(Self::NotAtAll),
            "slightly" => Some(Self::Slightly),
            "moderately" => Some(Self::Moderately),
            "very_much" => Some(Self::VeryMuch),
            "extremely" => Some(Self::Extremely),
            _ => None,
        }
    }

    /// Only "very much" and "extremely" score 1; "moderately" scores 0.
    pub fn score(self) -> u8 {
        u8::from(matches!(self, Self::VeryMuch | Self::Extremely))
    }
}

/// STarT Back risk group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartBackRisk {
    Low,
    Medium,
    High,
}

impl StartBackRisk {
    /// Codes as rule conditions name them (`sbt_risk = high`), in order.
    pub const CODES: [&'static str; 3] = ["low", "medium", "high"];
}

/// Keele STarT Back Screening Tool result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StartBackScore {
    /// Items 1–9, 0–9.
    pub total: u8,
    /// Items 5–9, 0–5.
    pub psychosocial: u8,
    pub risk: StartBackRisk,
}

/// Scores the STarT Back tool. `agree[i]` is item `i + 1` (agree scores 1).
///
/// Risk: total 0–3 low; total ≥ 4 with subscale ≤ 3 medium; subscale ≥ 4 high (a subscale of
/// 4 or 5 always means a total of at least 4).
pub fn start_back(agree: [bool; 8], bothersomeness: Bothersomeness) -> StartBackScore {
    let item9 = bothersomeness.score();
    let count = |items: &[bool]| items.iter().filter(|agreed| **agreed).count() as u8;
    let total = count(&agree) + item9;
    let psychosocial = count(agree.get(4..).unwrap_or_default()) + item9;
    let risk = if total <= 3 {
        StartBackRisk::Low
    } else if psychosocial >= 4 {
        StartBackRisk::High
    } else {
        StartBackRisk::Medium
    };
    StartBackScore {
        total,
        psychosocial,
        risk,
    }
}

/// A percentage held exactly to two decimals (as hundredths), serialised as a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u16);

impl Percent {
    pub fn from_hundredths(hundredths: u16) -> Self {
        Self(hundredths)
    }

    /// `3556` for 35.56 %.
    pub fn hundredths(self) -> u16 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

/// Fairbank's ODI bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OdiBand {
    /// 0–20 %.
    Minimal,
    /// Over 20–40 %.
    Moderate,
    /// Over 40–60 %.
    Severe,
    /// Over 60–80 %.
    Crippled,
    /// Over 80–100 %.
    BedBoundOrExaggerating,
}

impl OdiBand {
    /// Codes as rule conditions name them (`odi_band = severe`), in order.
    pub const CODES: [&'static str; 5] = [
        "minimal",
        "moderate",
        "severe",
        "crippled",
        "bed_bound_or_exaggerating",
    ];

    /// Band of an exact percentage; upper bounds are inclusive (20 is minimal, 20.01 moderate).
    pub fn of(percent: Percent) -> Self {
        match percent.hundredths() {
            0..=2000 => Self::Minimal,
            2001..=4000 => Self::Moderate,
            4001..=6000 => Self::Severe,
            6001..=8000 => Self::Crippled,
            _ => Self::BedBoundOrExaggerating,
        }
    }
}

/// Oswestry Disability Index v2.1a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OdiScore {
    /// Sum of the answered sections (0–50).
    pub raw: u8,
    pub sections_answered: u8,
    /// `raw / (5 × sections answered) × 100`, rounded half up to two decimals.
    pub percent: Percent,
    pub band: OdiBand,
}

/// At least this many of the 10 sections must be answered for an ODI score.
pub const ODI_MIN_SECTIONS: u8 = 8;

/// Scores ODI v2.1a from its ten sections (`None` = not answered). Absent (not zero) with
/// fewer than [`ODI_MIN_SECTIONS`] sections answered, or if a section is above 5 (not a
/// valid answer; validation refuses it before this is called).
pub fn oswestry(sections: [Option<u8>; 10]) -> Option<OdiScore> {
    let answered: Vec<u8> = sections.iter().flatten().copied().collect();
    if answered.iter().any(|section| *section > 5) {
        return None;
    }
    let count = u8::try_from(answered.len()).ok()?;
    if count < ODI_MIN_SECTIONS {
        return None;
    }
    let raw: u8 = answered.iter().sum();
    // percent × 100 = raw / (5n) × 10_000 = 2000 raw / n, rounded half up in integers.
    let hundredths = (4000 * u32::from(raw) + u32::from(count)) / (2 * u32::from(count));
    let percent = Percent::from_hundredths(u16::try_from(hundredths).ok()?);
    Some(OdiScore {
        raw,
        sections_answered: count,
        percent,
        band: OdiBand::of(percent),
    })
}

/// Pain numeric rating scale band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NrsBand {
    /// 0.
    #[serde(rename = "none")]
    NoPain,
    /// 1–3.
    Mild,
    /// 4–6.
    Moderate,
    /// 7–10.
    Severe,
}

/// A pain NRS-11 answer with its band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NrsScore {
    pub score: u8,
    pub band: NrsBand,
}

/// Bands an NRS-11 score; `None` outside 0–10.
pub fn nrs(score: u8) -> Option<NrsScore> {
    let band = match score {
        0 => NrsBand::NoPain,
        1..=3 => NrsBand::Mild,
        4..=6 => NrsBand::Moderate,
        7..=10 => NrsBand::Severe,
        _ => return None,
    };
    Some(NrsScore { score, band })
}

/// Every instrument score of one set of answers; absent where the questionnaire does not ask
/// the instrument (the follow-up has no STarT Back) or too little was answered (ODI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Scores {
    pub start_back: Option<StartBackScore>,
    pub odi: Option<OdiScore>,
    pub pain_now: Option<NrsScore>,
    pub pain_worst_week: Option<NrsScore>,
}

/// Smallest change of the pain NRS that matters to a patient (points).
pub const NRS_MEANINGFUL_CHANGE: i32 = 2;
/// Smallest change of the ODI that matters to a patient (percentage points).
pub const ODI_MEANINGFUL_CHANGE_HUNDREDTHS: i32 = 1000;

/// Direction of a change, judged against the instrument's smallest meaningful change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Fell by at least the meaningful change (lower is better on both instruments).
    Improved,
    NoMeaningfulChange,
    /// Rose by at least the meaningful change.
    Worsened,
}

impl Trend {
    /// The direction of `delta` (lower is better), given the smallest `meaningful` change.
    pub fn of(delta: i32, meaningful: i32) -> Self {
        if delta <= -meaningful {
            Self::Improved
        } else if delta >= meaningful {
            Self::Worsened
        } else {
            Self::NoMeaningfulChange
        }
    }
}

/// Change of the pain NRS between a baseline (intake) and a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NrsChange {
    pub baseline: u8,
    pub current: u8,
    /// `current - baseline`.
    pub change: i32,
    pub trend: Trend,
}

/// Change of the ODI between a baseline and a follow-up, in percentage points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OdiChange {
    pub baseline: Percent,
    pub current: Percent,
    /// `current - baseline` in percentage points, two decimals.
    pub change: f64,
    pub trend: Trend,
}

/// Outcome against the intake baseline (2 NRS points, 10 ODI points are meaningful).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutcomeChange {
    pub pain_now: Option<NrsChange>,
    pub odi: Option<OdiChange>,
}

/// Compares a follow-up's scores with the baseline's; a part is absent if either lacks it.
pub fn outcome_change(baseline: &Scores, current: &Scores) -> OutcomeChange {
    let pain_now = baseline
        .pain_now
        .zip(current.pain_now)
        .map(|(before, now)| {
            let change = i32::from(now.score) - i32::from(before.score);
            NrsChange {
                baseline: before.score,
                current: now.score,
                change,
                trend: Trend::of(change, NRS_MEANINGFUL_CHANGE),
            }
        });
    let odi = baseline.odi.zip(current.odi).map(|(before, now)| {
        let change = i32::from(now.percent.hundredths()) - i32::from(before.percent.hundredths());
        OdiChange {
            baseline: before.percent,
            current: now.percent,
            change: f64::from(change) / 100.0,
            trend: Trend::of(change, ODI_MEANINGFUL_CHANGE_HUNDREDTHS),
        }
    });
    OutcomeChange { pain_now, odi }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree(items: [u8; 8]) -> [bool; 8] {
        items.map(|item| item == 1)
    }

    /// instruments.md, STarT Back worked cases (awell-health/awell-score).
    #[test]
    fn start_back_worked_cases() {
        use Bothersomeness::*;
        use StartBackRisk::*;
        let cases = [
            ([0, 0, 0, 0, 0, 0, 0, 0], NotAtAll, 0, 0, Low),
            ([1, 1, 1, 1, 0, 0, 0, 0], NotAtAll, 4, 0, Medium),
            ([1, 1, 1, 1, 1, 1, 1, 1], Extremely, 9, 5, High),
            ([1, 0, 1, 0, 0, 1, 0, 0], Extremely, 4, 2, Medium),
        ];
        for (items, item9, total, psychosocial, risk) in cases {
            let score = start_back(agree(items), item9);
            assert_eq!(
                score,
                StartBackScore {
                    total,
                    psychosocial,
                    risk
                },
                "{items:?} {item9:?}"
            );
        }
    }

    #[test]
    fn start_back_item9_scores_only_very_much_and_extremely() {
        let scored: Vec<u8> = [
            Bothersomeness::NotAtAll,
            Bothersomeness::Slightly,
            Bothersomeness::Moderately,
            Bothersomeness::VeryMuch,
            Bothersomeness::Extremely,
        ]
        .map(Bothersomeness::score)
        .to_vec();
        assert_eq!(scored, [0, 0, 0, 1, 1]);
        for code in Bothersomeness::CODES {
            assert!(Bothersomeness::from_code(code).is_some(), "{code}");
        }
    }

    #[test]
    fn start_back_risk_boundaries() {
        use Bothersomeness::*;
        // total 3 → low, total 4 → medium (subscale 0).
        assert_eq!(
            start_back(agree([1, 1, 1, 0, 0, 0, 0, 0]), NotAtAll).risk,
            StartBackRisk::Low
        );
        assert_eq!(
            start_back(agree([1, 1, 1, 1, 0, 0, 0, 0]), NotAtAll).risk,
            StartBackRisk::Medium
        );
        // Subscale 3 → medium, 4 → high.
        let three = start_back(agree([1, 0, 0, 0, 1, 1, 1, 0]), Moderately);
        assert_eq!(
            (three.total, three.psychosocial, three.risk),
            (4, 3, StartBackRisk::Medium)
        );
        let four = start_back(agree([0, 0, 0, 0, 1, 1, 1, 0]), VeryMuch);
        assert_eq!(
            (four.total, four.psychosocial, four.risk),
            (4, 4, StartBackRisk::High)
        );
        // A subscale of 3 with total 3 is low.
        let low = start_back(agree([0, 0, 0, 0, 1, 1, 1, 0]), Moderately);
        assert_eq!(
            (low.total, low.psychosocial, low.risk),
            (3, 3, StartBackRisk::Low)
        );
    }

    fn odi(sections: [Option<u8>; 10]) -> Option<String> {
        oswestry(sections).map(|score| score.percent.to_string())
    }

    fn all(values: [u8; 10]) -> [Option<u8>; 10] {
        values.map(Some)
    }

    /// instruments.md, ODI worked cases (awell-health/awell-score) and the text's examples.
    #[test]
    fn oswestry_worked_cases() {
        assert_eq!(odi(all([0; 10])).as_deref(), Some("0.00"));
        assert_eq!(
            odi(all([2, 2, 2, 2, 2, 3, 3, 3, 3, 3])).as_deref(),
            Some("50.00")
        );
        assert_eq!(odi(all([5; 10])).as_deref(), Some("100.00"));
        assert_eq!(
            odi(all([1, 5, 4, 4, 3, 0, 1, 5, 3, 4])).as_deref(),
            Some("60.00")
        );
        let travelling_missing = [5, 5, 3, 3, 0, 0, 0, 0, 0].map(Some);
        let mut sections = [None; 10];
        sections[..9].copy_from_slice(&travelling_missing);
        assert_eq!(odi(sections).as_deref(), Some("35.56"));
        // 16/50 → 32 %; 16/45 → 35.56 %.
        assert_eq!(
            odi(all([4, 4, 4, 4, 0, 0, 0, 0, 0, 0])).as_deref(),
            Some("32.00")
        );
        let mut nine = all([4, 4, 4, 4, 0, 0, 0, 0, 0, 0]);
        nine[7] = None;
        assert_eq!(odi(nine).as_deref(), Some("35.56"));
    }

    #[test]
    fn oswestry_needs_eight_sections() {
        let mut sections = all([1; 10]);
        sections[7] = None;
        sections[9] = None;
        let eight =
            oswestry(sections).map(|score| (score.sections_answered, score.percent.to_string()));
        assert_eq!(eight, Some((8, "20.00".to_owned())));
        sections[0] = None;
        assert_eq!(oswestry(sections), None);
        assert_eq!(oswestry([None; 10]), None);
    }

    #[test]
    fn oswestry_rounds_to_two_decimals() {
        // 1/40 → 2.5 %, 1/45 → 2.2222 → 2.22, 2/45 → 4.4444 → 4.44, 5/45 → 11.1111 → 11.11,
        // 4/45 → 8.8888 → 8.89.
        let nine = |sum_first: u8| {
            let mut sections = [Some(0); 10];
            sections[9] = None;
            sections[0] = Some(sum_first.min(5));
            sections[1] = Some(sum_first.saturating_sub(5));
            odi(sections)
        };
        assert_eq!(nine(1).as_deref(), Some("2.22"));
        assert_eq!(nine(2).as_deref(), Some("4.44"));
        assert_eq!(nine(4).as_deref(), Some("8.89"));
        assert_eq!(nine(5).as_deref(), Some("11.11"));
        let mut eight = [Some(0); 10];
        eight[8] = None;
        eight[9] = None;
        eight[0] = Some(1);
        assert_eq!(odi(eight).as_deref(), Some("2.50"));
        let json = serde_json::to_string(&Percent::from_hundredths(3556)).unwrap_or_default();
        assert_eq!(json, "35.56");
    }

    #[test]
    fn oswestry_band_boundaries() {
        let band = |raw: u8| {
            let mut sections = [Some(0); 10];
            let mut left = raw;
            for section in sections.iter_mut() {
                let take = left.min(5);
                *section = Some(take);
                left -= take;
            }
            oswestry(sections).map(|score| score.band)
        };
        use OdiBand::*;
        assert_eq!(band(10), Some(Minimal)); // 20 %
        assert_eq!(band(11), Some(Moderate)); // 22 %
        assert_eq!(band(20), Some(Moderate)); // 40 %
        assert_eq!(band(21), Some(Severe)); // 42 %
        assert_eq!(band(30), Some(Severe)); // 60 %
        assert_eq!(band(31), Some(Crippled)); // 62 %
        assert_eq!(band(40), Some(Crippled)); // 80 %
        assert_eq!(band(41), Some(BedBoundOrExaggerating)); // 82 %
        assert_eq!(OdiBand::of(Percent::from_hundredths(2000)), Minimal);
        assert_eq!(OdiBand::of(Percent::from_hundredths(2001)), Moderate);
        assert_eq!(
            OdiBand::of(Percent::from_hundredths(8001)),
            BedBoundOrExaggerating
        );
    }

    #[test]
    fn oswestry_refuses_out_of_range_sections() {
        let mut sections = all([0; 10]);
        sections[3] = Some(6);
        assert_eq!(oswestry(sections), None);
    }

    #[test]
    fn nrs_band_boundaries() {
        let band = |score| nrs(score).map(|score| score.band);
        assert_eq!(band(0), Some(NrsBand::NoPain));
        assert_eq!(band(1), Some(NrsBand::Mild));
        assert_eq!(band(3), Some(NrsBand::Mild));
        assert_eq!(band(4), Some(NrsBand::Moderate));
        assert_eq!(band(6), Some(NrsBand::Moderate));
        assert_eq!(band(7), Some(NrsBand::Severe));
        assert_eq!(band(10), Some(NrsBand::Severe));
        assert_eq!(band(11), None);
        assert_eq!(
            serde_json::to_string(&NrsBand::NoPain).unwrap_or_default(),
            "\"none\""
        );
    }

    #[test]
    fn changes_are_meaningful_from_the_threshold_on() {
        assert_eq!(Trend::of(-2, 2), Trend::Improved);
        assert_eq!(Trend::of(-1, 2), Trend::NoMeaningfulChange);
        assert_eq!(Trend::of(1, 2), Trend::NoMeaningfulChange);
        assert_eq!(Trend::of(2, 2), Trend::Worsened);
        assert_eq!(Trend::of(-1000, 1000), Trend::Improved);
        assert_eq!(Trend::of(-999, 1000), Trend::NoMeaningfulChange);
    }

    #[test]
    fn outcome_change_uses_meaningful_thresholds() {
        let scores = |pain: u8, odi_sections: [u8; 10]| Scores {
            pain_now: nrs(pain),
            odi: oswestry(odi_sections.map(Some)),
            ..Scores::default()
        };
        let baseline = scores(6, [3; 10]); // 60 %
        let one_point = outcome_change(&baseline, &scores(5, [3, 3, 3, 3, 3, 3, 3, 3, 3, 2]));
        assert_eq!(
            one_point.pain_now.map(|c| c.trend),
            Some(Trend::NoMeaningfulChange)
        );
        assert_eq!(
            one_point.odi.map(|c| c.trend),
            Some(Trend::NoMeaningfulChange)
        );
        let better = outcome_change(&baseline, &scores(4, [2, 2, 2, 2, 2, 3, 3, 3, 3, 3]));
        assert_eq!(
            better.pain_now.map(|c| (c.change, c.trend)),
            Some((-2, Trend::Improved))
        );
        assert_eq!(better.odi.map(|c| c.trend), Some(Trend::Improved)); // 60 → 50
        let worse = outcome_change(&baseline, &scores(8, [4, 4, 4, 4, 4, 3, 3, 3, 3, 3]));
        assert_eq!(worse.pain_now.map(|c| c.trend), Some(Trend::Worsened));
        assert_eq!(worse.odi.map(|c| c.trend), Some(Trend::Worsened)); // 60 → 70
        let missing = outcome_change(&Scores::default(), &baseline);
        assert_eq!((missing.pain_now, missing.odi.is_none()), (None, true));
    }
}
