//! Derived facts (intake-v1.md, "Derived facts", and rules-v2.md, "Derived facts added"):
//! computed from answers on the clinic's local date, and readable by rule conditions next to the
//! answers themselves.
//!
//! Which items feed which fact is fixed here by linkId. A questionnaire that lacks an input item
//! simply has no such fact (the follow-up has no date of birth, so no `age` of its own; the
//! caller may pass the patient's date of birth in as a standing fact): rules that read it then
//! treat it as unknown. A questionnaire that has the item with the wrong type is refused at load,
//! since scoring it would silently be wrong.
//!
//! The Oswestry completeness rule lives here too, beside the ODI layout: each section may be
//! left out, but a submission needs at least [`scoring::ODI_MIN_SECTIONS`] of the ten.

use chrono::NaiveDate;
use serde::Serialize;

use super::answers::{Slot, completed_years};
use super::questionnaire::{Form, Kind, Problems};
use super::scoring::{self, Bothersomeness, OdiBand, Scores, StartBackRisk};

/// A derived fact a rule condition can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fact {
    /// Completed years on the evaluation date.
    Age,
    /// Completed years on `pain_started_on`.
    AgeAtOnset,
    /// Days from `pain_started_on` to the evaluation date (0 = started today).
    SymptomDays,
    /// `pain_areas` contains mid_back or upper_back.
    ThoracicPain,
    /// `pain_areas` contains buttock.
    ButtockPain,
    /// `pain_areas` contains neck (rule set v2). Unknown if `pain_areas` has no neck option.
    NeckPain,
    SbtTotal,
    SbtPsychosocial,
    /// low | medium | high.
    SbtRisk,
    /// Exact ODI percent (two decimals).
    OdiPercent,
    /// minimal | moderate | severe | crippled | bed_bound_or_exaggerating.
    OdiBand,
    /// How many of the nine NICE NG65 spondyloarthritis criteria are met.
    Ng65Count,
}

/// The type of a fact, as rule conditions see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FactType {
    Boolean,
    Integer { min: Option<i64>, max: Option<i64> },
    Decimal { min: f64, max: f64 },
    Choice(&'static [&'static str]),
}

impl Fact {
    pub const ALL: [Fact; 12] = [
        Fact::Age,
        Fact::AgeAtOnset,
        Fact::SymptomDays,
        Fact::ThoracicPain,
        Fact::ButtockPain,
        Fact::SbtTotal,
        Fact::SbtPsychosocial,
        Fact::SbtRisk,
        Fact::OdiPercent,
        Fact::OdiBand,
        Fact::Ng65Count,
        Fact::NeckPain,
    ];

    /// The name used in rule conditions.
    pub fn name(self) -> &'static str {
        match self {
            Self::Age => "age",
            Self::AgeAtOnset => "age_at_onset",
            Self::SymptomDays => "symptom_days",
            Self::ThoracicPain => "thoracic_pain",
            Self::ButtockPain => "buttock_pain",
            Self::SbtTotal => "sbt_total",
            Self::SbtPsychosocial => "sbt_psychosocial",
            Self::SbtRisk => "sbt_risk",
            Self::OdiPercent => "odi_percent",
            Self::OdiBand => "odi_band",
            Self::Ng65Count => "ng65_count",
            Self::NeckPain => "neck_pain",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|fact| fact.name() == name)
    }

    pub(crate) fn value_type(self) -> FactType {
        let count = |max| FactType::Integer {
            min: Some(0),
            max: Some(max),
        };
        match self {
            Self::Age | Self::AgeAtOnset | Self::SymptomDays => FactType::Integer {
                min: Some(0),
                max: None,
            },
            Self::ThoracicPain | Self::ButtockPain | Self::NeckPain => FactType::Boolean,
            Self::SbtTotal => count(9),
            Self::SbtPsychosocial => count(5),
            Self::SbtRisk => FactType::Choice(&StartBackRisk::CODES),
            Self::OdiPercent => FactType::Decimal {
                min: 0.0,
                max: 100.0,
            },
            Self::OdiBand => FactType::Choice(&OdiBand::CODES),
            Self::Ng65Count => count(9),
        }
    }

    /// Position among the facts, after the items in the slot vector.
    pub(crate) fn offset(self) -> usize {
        Self::ALL
            .iter()
            .position(|fact| *fact == self)
            .unwrap_or_default()
    }
}

/// The derived facts of one evaluation (scores are in [`Scores`]); absent when an input is
/// missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DerivedFacts {
    pub age: Option<i64>,
    pub age_at_onset: Option<i64>,
    pub symptom_days: Option<i64>,
    pub thoracic_pain: Option<bool>,
    pub buttock_pain: Option<bool>,
    pub ng65_count: Option<u8>,
    pub neck_pain: Option<bool>,
}

/// Facts and scores of one set of valid answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Assessment {
    pub facts: DerivedFacts,
    pub scores: Scores,
}

/// `pain_areas` with the bits of the areas that facts look for.
#[derive(Debug, Clone)]
struct Areas {
    item: usize,
    thoracic: u64,
    buttock: u64,
    /// Optional, so that a clinic's own v1-style list without neck still loads.
    neck: Option<u64>,
}

#[derive(Debug, Clone)]
struct StartBackItems {
    agree: [usize; 8],
    bothersomeness: usize,
    /// Option index of sbt_9 → its scale value.
    scale: Vec<Bothersomeness>,
}

#[derive(Debug, Clone)]
struct Ng65Items {
    /// wakes_second_half_night, better_with_exercise_not_rest, family_history_spa,
    /// arthritis_history, enthesitis_history, psoriasis_history.
    booleans: [usize; 6],
    nsaid: usize,
    nsaid_yes: u8,
}

/// Where each fact finds its inputs in one questionnaire (item indices), resolved at load.
#[derive(Debug, Clone, Default)]
pub(crate) struct FactLayout {
    date_of_birth: Option<usize>,
    pain_started_on: Option<usize>,
    areas: Option<Areas>,
    start_back: Option<StartBackItems>,
    odi: Option<[usize; 10]>,
    pain_now: Option<usize>,
    pain_worst_week: Option<usize>,
    ng65: Option<Ng65Items>,
}

const NG65_BOOLEANS: [&str; 6] = [
    "wakes_second_half_night",
    "better_with_exercise_not_rest",
    "family_history_spa",
    "arthritis_history",
    "enthesitis_history",
    "psoriasis_history",
];

/// Finds `link_id` if present; records a problem if present with the wrong kind.
fn lookup(
    form: &Form,
    link_id: &str,
    problems: &mut Problems,
    expected: &str,
    fits: impl Fn(&Kind) -> bool,
) -> Option<usize> {
    let (index, item) = form.item(link_id)?;
    if fits(&item.kind) {
        Some(index)
    } else {
        problems.item(
            link_id,
            format!("must be {expected}: derived facts and scores read it"),
        );
        None
    }
}

fn all_of<const N: usize>(found: [Option<usize>; N]) -> Option<[usize; N]> {
    let mut out = [0; N];
    for (slot, index) in out.iter_mut().zip(found) {
        *slot = index?;
    }
    Some(out)
}

fn is_boolean(kind: &Kind) -> bool {
    matches!(kind, Kind::Boolean)
}

fn is_scale(kind: &Kind, max: i64) -> bool {
    matches!(kind, Kind::Integer { min: Some(min), max: Some(top) } if *min >= 0 && *top <= max)
}

fn code_bit(codes: &[Box<str>], code: &str) -> Option<u64> {
    codes
        .iter()
        .position(|known| &**known == code)
        .map(|index| 1u64 << index)
}

impl FactLayout {
    pub(crate) fn resolve(form: &Form, problems: &mut Problems) -> Self {
        let is_date = |kind: &Kind| matches!(kind, Kind::Date { .. });
        Self {
            date_of_birth: lookup(form, "date_of_birth", problems, "a date", is_date),
            pain_started_on: lookup(form, "pain_started_on", problems, "a date", is_date),
            areas: Self::resolve_areas(form, problems),
            start_back: Self::resolve_start_back(form, problems),
            odi: all_of(std::array::from_fn(|section| {
                let link_id = format!("odi_{}", section + 1);
                lookup(
                    form,
                    &link_id,
                    problems,
                    "an integer item from 0 to 5",
                    |kind| is_scale(kind, 5),
                )
            })),
            pain_now: lookup(
                form,
                "pain_now",
                problems,
                "an integer from 0 to 10",
                |kind| is_scale(kind, 10),
            ),
            pain_worst_week: lookup(
                form,
                "pain_worst_week",
                problems,
                "an integer from 0 to 10",
                |kind| is_scale(kind, 10),
            ),
            ng65: Self::resolve_ng65(form, problems),
        }
    }

    fn resolve_areas(form: &Form, problems: &mut Problems) -> Option<Areas> {
        let (item, found) = form.item("pain_areas")?;
        let bits = match &found.kind {
            Kind::Choice {
                codes,
                repeats: true,
            } => code_bit(codes, "mid_back")
                .zip(code_bit(codes, "upper_back"))
                .zip(code_bit(codes, "buttock")),
            _ => None,
        };
        let Some(((mid, upper), buttock)) = bits else {
            problems.item(
                "pain_areas",
                "must be a multiple choice with mid_back, upper_back and buttock: facts read it",
            );
            return None;
        };
        let neck = match &found.kind {
            Kind::Choice { codes, .. } => code_bit(codes, "neck"),
            _ => None,
        };
        Some(Areas {
            item,
            thoracic: mid | upper,
            buttock,
            neck,
        })
    }

    fn resolve_start_back(form: &Form, problems: &mut Problems) -> Option<StartBackItems> {
        let agree = all_of(std::array::from_fn(|item| {
            let link_id = format!("sbt_{}", item + 1);
            lookup(form, &link_id, problems, "a boolean", is_boolean)
        }));
        let (bothersomeness, item) = form.item("sbt_9")?;
        let scale: Option<Vec<Bothersomeness>> = match &item.kind {
            Kind::Choice {
                codes,
                repeats: false,
            } if Bothersomeness::CODES
                .iter()
                .all(|code| codes.iter().any(|known| &**known == *code)) =>
            {
                codes
                    .iter()
                    .map(|code| Bothersomeness::from_code(code))
                    .collect()
            }
            _ => None,
        };
        let Some(scale) = scale else {
            problems.item(
                "sbt_9",
                format!(
                    "must be a single choice with exactly the codes {}: STarT Back scoring reads it",
                    Bothersomeness::CODES.join(", ")
                ),
            );
            return None;
        };
        Some(StartBackItems {
            agree: agree?,
            bothersomeness,
            scale,
        })
    }

    fn resolve_ng65(form: &Form, problems: &mut Problems) -> Option<Ng65Items> {
        let booleans = all_of(
            NG65_BOOLEANS.map(|link_id| lookup(form, link_id, problems, "a boolean", is_boolean)),
        );
        let (nsaid, item) = form.item("nsaid_relief_48h")?;
        let nsaid_yes = match &item.kind {
            Kind::Choice {
                codes,
                repeats: false,
            } => codes
                .iter()
                .position(|code| &**code == "yes")
                .and_then(|index| u8::try_from(index).ok()),
            _ => None,
        };
        let Some(nsaid_yes) = nsaid_yes else {
            problems.item(
                "nsaid_relief_48h",
                "must be a single choice with the code yes: the ng65_count fact reads it",
            );
            return None;
        };
        Some(Ng65Items {
            booleans: booleans?,
            nsaid,
            nsaid_yes,
        })
    }

    /// Whether this questionnaire asks what `fact` is computed from, so that the fact is an
    /// answer of this questionnaire (a rule reading it reads what this questionnaire asked).
    pub(crate) fn has_inputs(&self, fact: Fact) -> bool {
        match fact {
            Fact::Age => self.date_of_birth.is_some(),
            Fact::AgeAtOnset => self.date_of_birth.is_some() && self.pain_started_on.is_some(),
            Fact::SymptomDays => self.pain_started_on.is_some(),
            Fact::ThoracicPain | Fact::ButtockPain => self.areas.is_some(),
            Fact::NeckPain => self
                .areas
                .as_ref()
                .is_some_and(|areas| areas.neck.is_some()),
            Fact::SbtTotal | Fact::SbtPsychosocial | Fact::SbtRisk => self.start_back.is_some(),
            Fact::OdiPercent | Fact::OdiBand => self.odi.is_some(),
            Fact::Ng65Count => {
                self.ng65.is_some() && self.areas.is_some() && self.has_inputs(Fact::AgeAtOnset)
            }
        }
    }

    /// Whether this questionnaire takes the date of birth itself (else a caller may pass it in).
    pub(crate) fn asks_date_of_birth(&self) -> bool {
        self.date_of_birth.is_some()
    }

    /// The Oswestry completeness rule: with fewer than [`scoring::ODI_MIN_SECTIONS`] sections
    /// answered, the item index of every unanswered section (so each can be named); otherwise
    /// none. A questionnaire without the ten sections has no such rule.
    pub(crate) fn unanswered_odi_sections(&self, slots: &[Slot]) -> Vec<usize> {
        let Some(items) = self.odi else {
            return Vec::new();
        };
        let unanswered: Vec<usize> = items
            .into_iter()
            .filter(|item| !matches!(slots.get(*item), Some(Slot::Int(_))))
            .collect();
        let answered = items.len() - unanswered.len();
        if answered < usize::from(scoring::ODI_MIN_SECTIONS) {
            unanswered
        } else {
            Vec::new()
        }
    }

    /// Cross-item checks no single answer shows: the pain cannot start before birth.
    pub(crate) fn consistency(&self, slots: &[Slot]) -> Option<(usize, &'static str)> {
        let (birth, onset) = (self.date_of_birth?, self.pain_started_on?);
        match (slots.get(birth), slots.get(onset)) {
            (Some(Slot::Date(birth_date)), Some(Slot::Date(onset_date)))
                if onset_date < birth_date =>
            {
                Some((
                    onset,
                    "The pain cannot have started before your date of birth.",
                ))
            }
            _ => None,
        }
    }

    /// Computes facts and scores from valid slots.
    pub(crate) fn assess(&self, slots: &[Slot], today: NaiveDate) -> Assessment {
        let date = |index: Option<usize>| match index.and_then(|index| slots.get(index)) {
            Some(Slot::Date(date)) => Some(*date),
            _ => None,
        };
        let birth = date(self.date_of_birth);
        let onset = date(self.pain_started_on);
        let chosen = self
            .areas
            .as_ref()
            .and_then(|areas| match slots.get(areas.item) {
                Some(Slot::Codes(set)) => Some((areas, *set)),
                _ => None,
            });
        let areas =
            chosen.map(|(areas, set)| (set & areas.thoracic != 0, set & areas.buttock != 0));
        let neck_pain = chosen.and_then(|(areas, set)| areas.neck.map(|neck| set & neck != 0));
        let age_at_onset = birth
            .zip(onset)
            .map(|(birth, onset)| completed_years(birth, onset));
        let buttock_pain = areas.map(|(_, buttock)| buttock);
        let facts = DerivedFacts {
            age: birth.map(|birth| completed_years(birth, today)),
            age_at_onset,
            symptom_days: onset.map(|onset| (today - onset).num_days()),
            thoracic_pain: areas.map(|(thoracic, _)| thoracic),
            buttock_pain,
            ng65_count: self.ng65_count(slots, age_at_onset, buttock_pain),
            neck_pain,
        };
        let scores = Scores {
            start_back: self.start_back(slots),
            odi: self
                .odi
                .and_then(|items| scoring::oswestry(items.map(|item| small_int(slots.get(item))))),
            pain_now: self
                .pain_now
                .and_then(|item| small_int(slots.get(item)))
                .and_then(scoring::nrs),
            pain_worst_week: self
                .pain_worst_week
                .and_then(|item| small_int(slots.get(item)))
                .and_then(scoring::nrs),
        };
        Assessment { facts, scores }
    }

    fn start_back(&self, slots: &[Slot]) -> Option<scoring::StartBackScore> {
        let layout = self.start_back.as_ref()?;
        let mut agree = [false; 8];
        for (answer, item) in agree.iter_mut().zip(layout.agree) {
            *answer = boolean(slots.get(item))?;
        }
        let bothersomeness = match slots.get(layout.bothersomeness) {
            Some(Slot::Code(index)) => layout.scale.get(usize::from(*index)).copied(),
            _ => None,
        }?;
        Some(scoring::start_back(agree, bothersomeness))
    }

    /// NG65's nine criteria; unknown if any input is unanswered.
    fn ng65_count(
        &self,
        slots: &[Slot],
        age_at_onset: Option<i64>,
        buttock_pain: Option<bool>,
    ) -> Option<u8> {
        let layout = self.ng65.as_ref()?;
        let nsaid = match slots.get(layout.nsaid) {
            Some(Slot::Code(index)) => Some(*index == layout.nsaid_yes),
            _ => None,
        };
        let mut met = [age_at_onset.map(|age| age < 35), buttock_pain, nsaid]
            .into_iter()
            .try_fold(0u8, |count, criterion| {
                criterion.map(|met| count + u8::from(met))
            })?;
        for item in layout.booleans {
            met += u8::from(boolean(slots.get(item))?);
        }
        Some(met)
    }
}

fn boolean(slot: Option<&Slot>) -> Option<bool> {
    match slot {
        Some(Slot::Bool(value)) => Some(*value),
        _ => None,
    }
}

fn small_int(slot: Option<&Slot>) -> Option<u8> {
    match slot {
        Some(Slot::Int(value)) => u8::try_from(*value).ok(),
        _ => None,
    }
}

impl Assessment {
    /// The fact slots that follow the item slots, in [`Fact::ALL`] order.
    pub(crate) fn fact_slots(&self) -> [Slot; Fact::ALL.len()] {
        let int = |value: Option<i64>| value.map_or(Slot::Absent, Slot::Int);
        let boolean = |value: Option<bool>| value.map_or(Slot::Absent, Slot::Bool);
        let facts = &self.facts;
        let scores = &self.scores;
        Fact::ALL.map(|fact| match fact {
            Fact::Age => int(facts.age),
            Fact::AgeAtOnset => int(facts.age_at_onset),
            Fact::SymptomDays => int(facts.symptom_days),
            Fact::ThoracicPain => boolean(facts.thoracic_pain),
            Fact::ButtockPain => boolean(facts.buttock_pain),
            Fact::NeckPain => boolean(facts.neck_pain),
            Fact::SbtTotal => int(scores.start_back.map(|score| i64::from(score.total))),
            Fact::SbtPsychosocial => {
                int(scores.start_back.map(|score| i64::from(score.psychosocial)))
            }
            Fact::SbtRisk => scores
                .start_back
                .map_or(Slot::Absent, |score| Slot::Code(score.risk as u8)),
            Fact::OdiPercent => scores
                .odi
                .map_or(Slot::Absent, |score| Slot::Dec(score.percent.as_f64())),
            Fact::OdiBand => scores
                .odi
                .map_or(Slot::Absent, |score| Slot::Code(score.band as u8)),
            Fact::Ng65Count => int(facts.ng65_count.map(i64::from)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fact_codes_match_enum_order() {
        assert_eq!(StartBackRisk::High as usize, 2);
        assert_eq!(StartBackRisk::CODES[StartBackRisk::High as usize], "high");
        assert_eq!(
            OdiBand::CODES[OdiBand::BedBoundOrExaggerating as usize],
            "bed_bound_or_exaggerating"
        );
        for (position, fact) in Fact::ALL.iter().enumerate() {
            assert_eq!(fact.offset(), position);
            assert_eq!(Fact::from_name(fact.name()), Some(*fact));
        }
    }
}
