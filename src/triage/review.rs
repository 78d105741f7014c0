//! A practitioner's decisions on a flagged case, and what each one does to the case. Only a
//! practitioner's decision lifts a red flag (rules-v2.md, the booking gate); which decisions
//! also take the case out of the review queue is decided here, not where it is stored.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::Disposition;

/// How long a flag raised by a submission or an interrupted draft keeps the gate shut without
/// a practitioner's decision (rules-v2.md: "of the last 90 days").
pub const FLAG_WINDOW_DAYS: i64 = 90;

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

/// What one case (a submission, intake or follow-up, or a draft whose emergency answers
/// interrupted it) says about the patient's safety, as stored: the raw facts the gate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseFacts {
    /// When the flag was raised: the submission's time, or the interrupt's for a draft.
    pub raised_at: DateTime<Utc>,
    /// The submission's judged disposition; `None` for a draft.
    pub disposition: Option<Disposition>,
    /// Emergency answers interrupted the draft before it was submitted. The interrupt stays
    /// part of the case after submission: un-ticking an answer before submitting must not
    /// lift what the patient told us, only a practitioner can.
    pub safety_interrupted: bool,
    /// The practitioner's latest decision on the case: every decision is kept, the latest one
    /// counts.
    pub latest_decision: Option<Decision>,
}

impl CaseFacts {
    /// How severe the case is: its disposition, raised to emergency by a safety interrupt.
    pub fn severity(&self) -> Disposition {
        let judged = self.disposition.unwrap_or_default();
        if self.safety_interrupted {
            judged.max(Disposition::Emergency)
        } else {
            judged
        }
    }

    /// The disposition of the flag this case holds open at `now`, if any: an emergency or
    /// urgent case of the last [`FLAG_WINDOW_DAYS`] whose latest decision is not
    /// `cleared_for_care`. A referral or a call leaves it open (the patient sees a doctor
    /// first); newer or corrected submissions do not touch it.
    pub fn open_flag(&self, now: DateTime<Utc>) -> Option<Disposition> {
        let severity = self.severity();
        let recent = now - self.raised_at <= TimeDelta::days(FLAG_WINDOW_DAYS);
        let cleared = self.latest_decision == Some(Decision::ClearedForCare);
        (severity.blocks_online_booking() && recent && !cleared).then_some(severity)
    }
}

/// The most severe flag `cases` hold open at `now`: its advice is what a refused patient reads.
pub fn most_severe_open_flag(
    cases: impl IntoIterator<Item = CaseFacts>,
    now: DateTime<Utc>,
) -> Option<Disposition> {
    cases
        .into_iter()
        .filter_map(|case| case.open_flag(now))
        .max()
}

/// Whether a new submission enters the review queue: when its own disposition needs review,
/// or whenever it is made under an open flag, so a practitioner decides whether the new
/// answers let them clear it.
pub fn queues_submission(disposition: Disposition, open_flag: Option<Disposition>) -> bool {
    disposition.needs_review() || open_flag.is_some()
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

#[cfg(test)]
mod flag_tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
    }

    fn case(disposition: Disposition, decision: Option<Decision>) -> CaseFacts {
        CaseFacts {
            raised_at: now() - TimeDelta::days(1),
            disposition: Some(disposition),
            safety_interrupted: false,
            latest_decision: decision,
        }
    }

    #[test]
    fn only_urgent_and_emergency_cases_raise_a_flag() {
        let flags: Vec<Option<Disposition>> = Disposition::ALL
            .into_iter()
            .map(|disposition| case(disposition, None).open_flag(now()))
            .collect();
        assert_eq!(
            flags,
            [
                None,
                None,
                Some(Disposition::Urgent),
                Some(Disposition::Emergency)
            ]
        );
    }

    #[test]
    fn only_clearing_for_care_as_the_latest_decision_closes_a_flag() {
        for disposition in [Disposition::Urgent, Disposition::Emergency] {
            for decision in Decision::ALL {
                let open = case(disposition, Some(decision)).open_flag(now()).is_some();
                assert_eq!(
                    open,
                    decision != Decision::ClearedForCare,
                    "{disposition} after {decision:?}"
                );
            }
        }
    }

    #[test]
    fn a_flag_lasts_ninety_days_to_the_instant() {
        let mut urgent = case(Disposition::Urgent, None);
        urgent.raised_at = now() - TimeDelta::days(FLAG_WINDOW_DAYS);
        assert_eq!(urgent.open_flag(now()), Some(Disposition::Urgent));
        urgent.raised_at -= TimeDelta::seconds(1);
        assert_eq!(urgent.open_flag(now()), None);
    }

    #[test]
    fn a_safety_interrupt_is_an_emergency_whatever_the_submission_said_later() {
        let draft = CaseFacts {
            raised_at: now(),
            disposition: None,
            safety_interrupted: true,
            latest_decision: None,
        };
        assert_eq!(draft.open_flag(now()), Some(Disposition::Emergency));
        let submitted_routine = CaseFacts {
            disposition: Some(Disposition::Routine),
            ..draft
        };
        assert_eq!(
            submitted_routine.open_flag(now()),
            Some(Disposition::Emergency)
        );
        let cleared = CaseFacts {
            latest_decision: Some(Decision::ClearedForCare),
            ..draft
        };
        assert_eq!(cleared.open_flag(now()), None);
    }

    #[test]
    fn the_most_severe_open_flag_is_the_one_a_patient_reads() {
        let cases = [
            case(Disposition::Urgent, None),
            case(Disposition::Emergency, Some(Decision::ReferToGp)),
            case(Disposition::Emergency, Some(Decision::ClearedForCare)),
            case(Disposition::Routine, None),
        ];
        assert_eq!(
            most_severe_open_flag(cases, now()),
            Some(Disposition::Emergency)
        );
        assert_eq!(
            most_severe_open_flag(cases[2..].iter().copied(), now()),
            None
        );
    }

    #[test]
    fn a_submission_under_an_open_flag_is_queued_whatever_its_own_disposition() {
        assert!(!queues_submission(Disposition::Routine, None));
        assert!(queues_submission(Disposition::Review, None));
        assert!(queues_submission(
            Disposition::Routine,
            Some(Disposition::Urgent)
        ));
    }
}
