//! Standing facts: what a follow-up does not ask again (rules-v2.md, "Follow-up questionnaire
//! v2"). The date of birth comes from the patient record, the others from the patient's latest
//! submitted intake; the caller loads them and passes them in as a JSON map `linkId -> value`,
//! shaped as the intake's answers are.
//!
//! Rules read a standing fact only on a questionnaire that does not ask it itself, and only
//! together with something that questionnaire did ask (see [`super::rules`]). A standing fact
//! that is missing (an older intake did not have the item) is unknown: a rule that needs it
//! does not fire.

use super::answers::{AnswerError, AnswerErrorCode, Answers, Slot, read_value};
use super::facts::Fact;
use super::questionnaire::Questionnaire;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The linkIds of the intake carried into a follow-up, in this order (slot order).
pub const STANDING_FACTS: [&str; 10] = [
    "date_of_birth",
    "sex",
    "cancer_history",
    "iv_drug_use",
    "immunosuppressed",
    "recent_infection_or_procedure",
    "recent_spinal_procedure",
    "osteoporosis",
    "long_term_steroids",
    "smoker",
];

/// Where `name` is in [`STANDING_FACTS`].
pub(crate) fn position(name: &str) -> Option<usize> {
    STANDING_FACTS.iter().position(|known| *known == name)
}

/// The slot of standing fact `position`: after a questionnaire's items and derived facts.
pub(crate) fn slot(items: usize, position: usize) -> usize {
    items + Fact::ALL.len() + position
}

/// The standing facts of a stored intake: its answers to [`STANDING_FACTS`] only (answered
/// ones; `null` is no answer). The service adds or replaces `date_of_birth` with the patient
/// record's before passing them to [`super::Triage::standing_facts`].
pub fn standing_answers(intake_answers: &Answers) -> Answers {
    STANDING_FACTS
        .iter()
        .filter_map(|link_id| {
            intake_answers
                .get(*link_id)
                .filter(|value| !value.is_null())
                .map(|value| ((*link_id).to_owned(), value.clone()))
        })
        .collect()
}

/// Standing facts checked against the intake ([`super::Triage::standing_facts`]): each value
/// is one of [`STANDING_FACTS`] and fits the intake's item. Serialised as that JSON map.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StandingFacts {
    values: Answers,
}

impl StandingFacts {
    /// Every standing fact unknown (no intake, or a caller without any).
    pub fn unknown() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The known facts, linkId to value.
    pub fn values(&self) -> &Answers {
        &self.values
    }

    /// Checks `raw` against `intake`: a standing fact must fit the intake's item (a date of
    /// birth not in the future, an option code of `sex`, …). Other answers of the intake are
    /// ignored, so a whole intake's answers may be passed; a linkId the intake does not have
    /// is refused (a typo would otherwise make a fact silently unknown). A standing fact the
    /// intake does not ask is left out: unknown.
    pub(crate) fn check(
        intake: &Questionnaire,
        raw: &Answers,
        today: NaiveDate,
    ) -> Result<Self, Vec<AnswerError>> {
        let mut values = Answers::new();
        let mut errors = Vec::new();
        let mut refuse = |link_id: &str, code: AnswerErrorCode, message: String| {
            errors.push(AnswerError {
                link_id: link_id.to_owned(),
                code,
                message,
            });
        };
        for (link_id, value) in raw {
            let item = intake.form.item(link_id).map(|(_, item)| item);
            match (position(link_id), item) {
                (_, _) if value.is_null() => {}
                (Some(_), Some(item)) => match read_value(item, value, today) {
                    Ok(_) => {
                        values.insert(link_id.clone(), value.clone());
                    }
                    Err((code, message)) => refuse(link_id, code, message),
                },
                (Some(_), None) | (None, Some(_)) => {}
                (None, None) => refuse(
                    link_id,
                    AnswerErrorCode::UnknownItem,
                    format!(
                        "Questionnaire {} has no question with this id; the standing facts are {}.",
                        intake.id(),
                        STANDING_FACTS.join(", ")
                    ),
                ),
            }
        }
        if errors.is_empty() {
            Ok(Self { values })
        } else {
            Err(errors)
        }
    }

    /// One slot per [`STANDING_FACTS`] entry, read against `intake`; absent where unknown.
    pub(crate) fn slots(
        &self,
        intake: &Questionnaire,
        today: NaiveDate,
    ) -> [Slot; STANDING_FACTS.len()] {
        STANDING_FACTS.map(|link_id| {
            let item = intake.form.item(link_id).map(|(_, item)| item);
            match (item, self.values.get(link_id)) {
                // Checked when made; a value another intake version cannot read stays unknown.
                (Some(item), Some(value)) => read_value(item, value, today).unwrap_or(Slot::Absent),
                _ => Slot::Absent,
            }
        })
    }

    /// Only the facts `questionnaire` does not ask itself: the ones that can fill in for it.
    pub(crate) fn used_by(&self, questionnaire: &Questionnaire) -> Self {
        let values = self
            .values
            .iter()
            .filter(|(link_id, _)| questionnaire.form.find(link_id).is_none())
            .map(|(link_id, value)| (link_id.clone(), value.clone()))
            .collect();
        Self { values }
    }
}
