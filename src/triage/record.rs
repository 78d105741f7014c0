//! What a submission keeps of its evaluation: the patient's advice, the clinician's findings,
//! scores and facts, and which rule set judged it on which date. It is stored as JSON with the
//! submission and read back whenever the intake is shown, so its shape is a contract with every
//! stored row: fields may be added (with a default), never renamed or removed.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Disposition, Evaluation, Finding, PatientAdvice, StandingFacts};

/// A stored evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    pub disposition: Disposition,
    pub advice: PatientAdvice,
    /// Fired rules, most severe first.
    pub findings: Vec<Finding>,
    /// The STarT Back, ODI and pain NRS scores, as written when judged: kept as JSON so that
    /// results of earlier rule set and questionnaire versions still read.
    pub scores: Value,
    /// Age, symptom days and the other derived facts the rules read, as written when judged.
    pub facts: Value,
    /// The clinic's date the answers were judged on.
    pub as_of: NaiveDate,
    pub rule_set_version: String,
    /// The standing facts a follow-up was judged with (empty for an intake, and in rows stored
    /// before follow-ups had them).
    #[serde(default, skip_serializing_if = "StandingFacts::is_empty")]
    pub standing_facts: StandingFacts,
}

impl EvaluationRecord {
    pub fn of(evaluation: &Evaluation) -> Result<Self, serde_json::Error> {
        Ok(Self {
            disposition: evaluation.disposition,
            advice: evaluation.advice.clone(),
            findings: evaluation.findings.clone(),
            scores: serde_json::to_value(evaluation.scores)?,
            facts: serde_json::to_value(evaluation.facts)?,
            as_of: evaluation.as_of,
            rule_set_version: evaluation.rule_set_version.clone(),
            standing_facts: evaluation.standing_facts.clone(),
        })
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::triage::{INTAKE_QUESTIONNAIRE, tests};

    #[test]
    fn a_record_reads_back_as_written() {
        let evaluation = tests::triage()
            .evaluate(INTAKE_QUESTIONNAIRE, &tests::baseline(), tests::today())
            .unwrap();
        let record = EvaluationRecord::of(&evaluation).unwrap();
        assert_eq!(record.disposition, evaluation.disposition);
        assert_eq!(
            record.scores,
            serde_json::to_value(evaluation.scores).unwrap()
        );
        let text = record.to_json().unwrap();
        assert_eq!(EvaluationRecord::from_json(&text).unwrap(), record);
    }

    /// The shape rows were stored in before the record was a type of its own.
    #[test]
    fn a_stored_row_reads() {
        let stored = json!({
            "disposition": "urgent",
            "advice": {"headline": "See a doctor today", "paragraphs": ["p"], "reasons": ["r"]},
            "findings": [{
                "rule_id": "CANCER_HISTORY",
                "category": "malignancy",
                "disposition": "urgent",
                "rationale": "why",
                "source": "where",
            }],
            "scores": {"pain_now": {"score": 6}},
            "facts": {"age": 61},
            "as_of": "2025-06-15",
            "rule_set_version": "v2",
        });
        let record = EvaluationRecord::from_json(&stored.to_string()).unwrap();
        assert_eq!(record.disposition, Disposition::Urgent);
        assert_eq!(record.findings[0].disposition, Disposition::Urgent);
        assert_eq!(record.advice.reasons, ["r"]);
        assert_eq!(record.as_of, tests::today());
        assert_eq!(serde_json::to_value(&record).unwrap(), stored);
    }
}
