//! The intake's date of birth against the patient's record (rules-v2.md, "The patient's date of
//! birth"). For a patient with a record the record's date is the one the age rules read, so an
//! answer that differs is refused rather than judged: the rules never compute an age the patient
//! typed differently from their record.
//!
//! Pure: the caller loads the record and turns a mismatch into its own error.

use chrono::NaiveDate;

use super::{Answers, answers::parse_iso_date};

/// The intake item that asks for the date of birth.
pub const DATE_OF_BIRTH: &str = "date_of_birth";

/// An answered date of birth that is not the one on the patient's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffersFromRecord {
    pub answered: NaiveDate,
    pub on_record: NaiveDate,
}

/// Checks the `date_of_birth` answer in `answers` against `on_record`, the patient record's
/// date of birth.
///
/// - No record date (`None`: the CLI and the clinicians' what-if have no record): the answer is
///   taken as given; there is nothing to contradict it.
/// - No answer, or one that is not a strict `YYYY-MM-DD` date: not this check's business; the
///   questionnaire's own validation reports it (`required`, `wrong_type`), and a draft may leave
///   it out.
/// - A date equal to the record's passes; any other date is a [`DiffersFromRecord`].
pub fn check_against_record(
    answers: &Answers,
    on_record: Option<NaiveDate>,
) -> Result<(), DiffersFromRecord> {
    let Some(on_record) = on_record else {
        return Ok(());
    };
    let answered = answers
        .get(DATE_OF_BIRTH)
        .and_then(|value| value.as_str())
        .and_then(parse_iso_date);
    match answered {
        Some(answered) if answered != on_record => Err(DiffersFromRecord {
            answered,
            on_record,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn answers(date_of_birth: Value) -> Answers {
        let mut answers = Answers::new();
        answers.insert(DATE_OF_BIRTH.into(), date_of_birth);
        answers.insert("pain_now".into(), json!(4));
        answers
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_record_date_passes() {
        let record = Some(date("1986-03-02"));
        assert_eq!(
            check_against_record(&answers(json!("1986-03-02")), record),
            Ok(())
        );
    }

    #[test]
    fn any_other_date_differs_even_by_a_day_or_a_swapped_month_and_day() {
        let on_record = date("1986-03-02");
        for other in [
            "1986-03-01",
            "1986-03-03",
            "1986-02-03",
            "1987-03-02",
            "2000-02-29",
        ] {
            assert_eq!(
                check_against_record(&answers(json!(other)), Some(on_record)),
                Err(DiffersFromRecord {
                    answered: date(other),
                    on_record
                }),
                "{other}"
            );
        }
    }

    #[test]
    fn a_leap_day_record_matches_only_the_leap_day() {
        let record = Some(date("1976-02-29"));
        assert_eq!(
            check_against_record(&answers(json!("1976-02-29")), record),
            Ok(())
        );
        assert!(check_against_record(&answers(json!("1976-03-01")), record).is_err());
        assert!(check_against_record(&answers(json!("1976-02-28")), record).is_err());
    }

    #[test]
    fn without_a_record_date_the_answer_is_taken_as_given() {
        assert_eq!(
            check_against_record(&answers(json!("1950-01-01")), None),
            Ok(())
        );
    }

    #[test]
    fn an_unanswered_or_malformed_date_is_left_to_the_questionnaire_checks() {
        let record = Some(date("1986-03-02"));
        assert_eq!(check_against_record(&Answers::new(), record), Ok(()));
        for malformed in [
            json!("02/03/1986"),
            json!("1986-3-2"),
            json!("1986-02-30"),
            json!(19860302),
            json!(null),
        ] {
            assert_eq!(
                check_against_record(&answers(malformed.clone()), record),
                Ok(()),
                "{malformed}"
            );
        }
    }
}
