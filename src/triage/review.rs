//! A practitioner's decisions on a flagged case, and what each one does to the case. Only a
//! practitioner's decision lifts a red flag (rules-v2.md, the booking gate); which decisions
//! also take the case out of the review queue is decided here, not where it is stored.

use serde::{Deserialize, Serialize};

/// What a practitioner decided about a flagged submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Safe for chiropractic or physiotherapy care; lets an urgent patient book.
    ClearedForCare,
    ReferToGp,
    ReferToEmergency,
    /// Spoke to the patient; the case stays open.
    ContactedPatient,
}

impl Decision {
    pub const ALL: [Decision; 4] = [
        Decision::ClearedForCare,
        Decision::ReferToGp,
        Decision::ReferToEmergency,
        Decision::ContactedPatient,
    ];
}

/// Whether `decision` takes the case out of the review queue. Every decision does but
/// contacting the patient: talking to them is a step towards a decision, not one.
pub fn closes_case(decision: Decision) -> bool {
    match decision {
        Decision::ClearedForCare | Decision::ReferToGp | Decision::ReferToEmergency => true,
        Decision::ContactedPatient => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decision_but_contacting_the_patient_closes_the_case() {
        let closing: Vec<(Decision, bool)> = Decision::ALL
            .into_iter()
            .map(|decision| (decision, closes_case(decision)))
            .collect();
        assert_eq!(
            closing,
            [
                (Decision::ClearedForCare, true),
                (Decision::ReferToGp, true),
                (Decision::ReferToEmergency, true),
                (Decision::ContactedPatient, false),
            ]
        );
    }
}
