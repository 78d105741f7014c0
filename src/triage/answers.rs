//! Answer validation: a JSON map `linkId -> value` checked against a compiled questionnaire.
//!
//! Every problem is collected and reported at once, in questionnaire order, so a patient can
//! fix the whole form in one go. Values are read into typed slots that scoring and the rule
//! engine then use by index, without touching JSON or strings again.
//!
//! JSON shapes per item type: boolean `true`/`false`; integer a JSON integer (`3`, not `3.0`);
//! decimal any JSON number; date a `"YYYY-MM-DD"` string; string/text a string (free text may break lines, but holds no other control
//! character); choice the
//! option's code as a string, or for a repeating choice an array of distinct codes. `null` is
//! the same as leaving the item out, so a front end may clear an answer by sending `null`.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::Value;

use super::questionnaire::{EnableTest, Form, Item, Kind};
use crate::text::Lines;

/// Answers as submitted: linkId to JSON value.
pub type Answers = serde_json::Map<String, Value>;

/// How strictly to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidationMode {
    /// A submission: everything, including required items, consents and `enableWhen`.
    Submit,
    /// A saved draft: only the answers present are checked (types, ranges, codes, dates,
    /// lengths, unknown linkIds); nothing is required yet, and answers to items that are
    /// hidden at the moment are kept, since the patient may still change the earlier answer.
    Draft,
}

/// Stable machine-readable reason of an [`AnswerError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerErrorCode {
    /// A required question (or a required, shown safety question) has no answer.
    Required,
    /// The JSON value has the wrong type for the item (a string for a boolean, …).
    WrongType,
    /// A number outside the item's minValue..maxValue.
    OutOfRange,
    /// A code that is not one of the item's options.
    UnknownOption,
    /// The same code twice in a multiple-choice answer.
    DuplicateOption,
    /// An answer to an item that is hidden by its `enableWhen`.
    NotEnabled,
    /// A linkId the questionnaire does not have.
    UnknownItem,
    /// An answer to a group or display item, which take none.
    NotAQuestion,
    /// A date after the clinic's today where that is impossible.
    InFuture,
    /// A value that cannot be true (a birth date 130 years ago, pain before birth).
    Implausible,
    /// Text longer than the item's maxLength.
    TooLong,
    /// Text with a control character other than a line break or a tab.
    InvalidCharacter,
    /// A consent answered "no": the form cannot be submitted without it.
    ConsentRequired,
}

impl AnswerErrorCode {
    /// The snake_case code, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::WrongType => "wrong_type",
            Self::OutOfRange => "out_of_range",
            Self::UnknownOption => "unknown_option",
            Self::DuplicateOption => "duplicate_option",
            Self::NotEnabled => "not_enabled",
            Self::UnknownItem => "unknown_item",
            Self::NotAQuestion => "not_a_question",
            Self::InFuture => "in_future",
            Self::Implausible => "implausible",
            Self::TooLong => "too_long",
            Self::InvalidCharacter => "invalid_character",
            Self::ConsentRequired => "consent_required",
        }
    }
}

impl std::fmt::Display for AnswerErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one answer. The HTTP layer maps it to a problem+json `errors` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerError {
    pub link_id: String,
    pub code: AnswerErrorCode,
    /// Plain English for the person filling in the form.
    pub message: String,
}

impl std::fmt::Display for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.link_id, self.code, self.message)
    }
}

/// A read answer, addressed by item index (derived facts follow the items).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Slot {
    Absent,
    /// A value was given but was wrong; already reported, so not also "required".
    Invalid,
    Bool(bool),
    Int(i64),
    Dec(f64),
    Date(NaiveDate),
    /// Index of the chosen option.
    Code(u8),
    /// Bit set of chosen options of a repeating choice.
    Codes(u64),
    /// Free text; its content is never read by scoring or rules.
    Text,
}

impl Slot {
    /// Whether the slot holds an answer (an empty multiple choice is no answer).
    pub(crate) fn is_answered(self) -> bool {
        !matches!(self, Self::Absent | Self::Invalid | Self::Codes(0))
    }
}

/// Errors tagged with the index of the item they concern, for sorting into form order.
pub(crate) struct Found {
    errors: Vec<(usize, AnswerError)>,
}

impl Found {
    pub(crate) fn push(
        &mut self,
        order: usize,
        link_id: &str,
        code: AnswerErrorCode,
        message: String,
    ) {
        self.errors.push((
            order,
            AnswerError {
                link_id: link_id.to_owned(),
                code,
                message,
            },
        ));
    }

    /// Whether a problem with the item at `order` is already reported.
    pub(crate) fn reported(&self, order: usize) -> bool {
        self.errors.iter().any(|(found, _)| *found == order)
    }

    pub(crate) fn into_result(mut self) -> Result<(), Vec<AnswerError>> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors.sort_by_key(|(order, _)| *order);
        Err(self.errors.into_iter().map(|(_, error)| error).collect())
    }
}

/// Reads and checks every answer; returns one slot per item.
pub(crate) fn read(
    form: &Form,
    answers: &Answers,
    today: NaiveDate,
    mode: ValidationMode,
    capacity: usize,
) -> (Vec<Slot>, Found) {
    let mut slots = Vec::with_capacity(capacity.max(form.items.len()));
    slots.resize(form.items.len(), Slot::Absent);
    let mut found = Found { errors: Vec::new() };
    let mut cursor = 0;
    for (link_id, value) in answers {
        let Some((index, item)) = form.item_after(link_id, &mut cursor) else {
            found.push(
                usize::MAX,
                link_id,
                AnswerErrorCode::UnknownItem,
                "This questionnaire has no question with this id.".into(),
            );
            continue;
        };
        let slot = match read_value(item, value, today) {
            Ok(slot) => slot,
            Err((code, message)) => {
                found.push(index, link_id, code, message);
                Slot::Invalid
            }
        };
        if let Some(target) = slots.get_mut(index) {
            *target = slot;
        }
    }
    if mode == ValidationMode::Submit {
        check_presence(form, &mut slots, &mut found);
    }
    (slots, found)
}

/// What a partly answered form already says, for the safety interrupt: every answer that
/// reads, answers to questions the others hide dropped, everything else unknown. Problems are
/// not reported here: a draft's own save reports them.
pub(crate) fn read_partial(
    form: &Form,
    answers: &Answers,
    today: NaiveDate,
    capacity: usize,
) -> Vec<Slot> {
    let (mut slots, _) = read(form, answers, today, ValidationMode::Draft, capacity);
    let mut ignored = Found { errors: Vec::new() };
    check_presence(form, &mut slots, &mut ignored);
    slots
}

/// Which items `answers` show (by index): groups and display items too. Answers to hidden
/// items count as unanswered for later `enableWhen`, as at submission.
pub(crate) fn shown(form: &Form, answers: &Answers, today: NaiveDate) -> Vec<bool> {
    let (mut slots, _) = read(
        form,
        answers,
        today,
        ValidationMode::Draft,
        form.items.len(),
    );
    let mut ignored = Found { errors: Vec::new() };
    check_presence(form, &mut slots, &mut ignored)
}

/// Walks items in document order: hidden items must be unanswered (and then count as
/// unanswered for later `enableWhen`), shown required ones answered, consents given. Returns
/// which items are shown.
fn check_presence(form: &Form, slots: &mut [Slot], found: &mut Found) -> Vec<bool> {
    let mut shown = vec![false; form.items.len()];
    for (index, item) in form.items.iter().enumerate() {
        let parent_shown = item
            .parent
            .is_none_or(|parent| shown.get(parent).copied().unwrap_or(false));
        let visible = parent_shown
            && item
                .enable
                .as_ref()
                .is_none_or(|enable| enable_holds(enable, slots));
        if let Some(flag) = shown.get_mut(index) {
            *flag = visible;
        }
        let Some(slot) = slots.get_mut(index) else {
            continue;
        };
        if !visible {
            if !matches!(*slot, Slot::Absent) {
                if *slot != Slot::Invalid {
                    found.push(
                        index,
                        &item.link_id,
                        AnswerErrorCode::NotEnabled,
                        not_enabled_message(),
                    );
                }
                *slot = Slot::Absent;
            }
            continue;
        }
        check_shown(index, item, *slot, found);
    }
    shown
}

fn not_enabled_message() -> String {
    "This question does not apply because of an earlier answer; leave it unanswered.".into()
}

fn check_shown(index: usize, item: &Item, slot: Slot, found: &mut Found) {
    if item.required && matches!(slot, Slot::Absent | Slot::Codes(0)) {
        let message = if item.safety {
            "This safety question must be answered: an unanswered safety question is never \
             taken as \"no\"."
        } else if matches!(item.kind, Kind::Choice { repeats: true, .. }) {
            "Please choose at least one option."
        } else {
            "Please answer this question."
        };
        found.push(
            index,
            &item.link_id,
            AnswerErrorCode::Required,
            message.into(),
        );
    }
    if item.consent && slot == Slot::Bool(false) {
        found.push(
            index,
            &item.link_id,
            AnswerErrorCode::ConsentRequired,
            "We need your agreement to this before you can submit the form.".into(),
        );
    }
}

pub(crate) fn enable_holds(enable: &super::questionnaire::Enable, slots: &[Slot]) -> bool {
    let mut results = enable.conditions.iter().map(|condition| {
        let slot = slots
            .get(condition.question)
            .copied()
            .unwrap_or(Slot::Absent);
        condition_holds(&condition.test, slot)
    });
    if enable.any {
        results.any(|holds| holds)
    } else {
        results.all(|holds| holds)
    }
}

/// FHIR semantics: an unanswered question satisfies only `exists = false`; a multiple-choice
/// question satisfies a condition if any chosen option does.
fn condition_holds(test: &EnableTest, slot: Slot) -> bool {
    if let EnableTest::Exists(expected) = test {
        return slot.is_answered() == *expected;
    }
    match (test, slot) {
        (EnableTest::Bool(cmp, want), Slot::Bool(have)) => cmp.holds(have, *want),
        (EnableTest::Int(cmp, want), Slot::Int(have)) => cmp.holds(have, *want),
        (EnableTest::Dec(cmp, want), Slot::Dec(have)) => cmp.holds(have, *want),
        (EnableTest::Date(cmp, want), Slot::Date(have)) => cmp.holds(have, *want),
        (EnableTest::Code(cmp, want), Slot::Code(have)) => cmp.holds(have, *want),
        (EnableTest::Code(cmp, want), Slot::Codes(set)) => (0..64u8)
            .filter(|bit| set & (1u64 << bit) != 0)
            .any(|have| cmp.holds(have, *want)),
        _ => false,
    }
}

pub(crate) type ValueError = (AnswerErrorCode, String);

fn wrong_type(expected: &str) -> ValueError {
    (AnswerErrorCode::WrongType, format!("Expected {expected}."))
}

pub(crate) fn read_value(item: &Item, value: &Value, today: NaiveDate) -> Result<Slot, ValueError> {
    if value.is_null() {
        return Ok(Slot::Absent);
    }
    match &item.kind {
        Kind::Group | Kind::Display => Err((
            AnswerErrorCode::NotAQuestion,
            "This is a heading or an explanation, not a question; it takes no answer.".into(),
        )),
        Kind::Boolean => value
            .as_bool()
            .map(Slot::Bool)
            .ok_or_else(|| wrong_type("yes or no (true or false)")),
        Kind::Integer { min, max } => read_integer(value, *min, *max),
        Kind::Decimal { min, max } => read_decimal(value, *min, *max),
        Kind::Date {
            not_after_today,
            max_years_ago,
        } => read_date(value, today, *not_after_today, *max_years_ago),
        Kind::Text { max_chars } => read_text(value, *max_chars),
        Kind::Choice { codes, repeats } => read_choice(value, codes, *repeats),
    }
}

fn range_text<T: std::fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("from {min} to {max}"),
        (Some(min), None) => format!("of at least {min}"),
        (None, Some(max)) => format!("of at most {max}"),
        (None, None) => String::new(),
    }
}

fn read_integer(value: &Value, min: Option<i64>, max: Option<i64>) -> Result<Slot, ValueError> {
    let number = value.as_i64().ok_or_else(|| wrong_type("a whole number"))?;
    if min.is_some_and(|min| number < min) || max.is_some_and(|max| number > max) {
        return Err((
            AnswerErrorCode::OutOfRange,
            format!("Please give a whole number {}.", range_text(min, max)),
        ));
    }
    Ok(Slot::Int(number))
}

fn read_decimal(value: &Value, min: Option<f64>, max: Option<f64>) -> Result<Slot, ValueError> {
    let number = value.as_f64().ok_or_else(|| wrong_type("a number"))?;
    if min.is_some_and(|min| number < min) || max.is_some_and(|max| number > max) {
        return Err((
            AnswerErrorCode::OutOfRange,
            format!("Please give a number {}.", range_text(min, max)),
        ));
    }
    Ok(Slot::Dec(number))
}

/// Strict ISO calendar date `YYYY-MM-DD` (no time, no sign, no short forms).
pub(crate) fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes
            .iter()
            .enumerate()
            .all(|(position, byte)| match position {
                4 | 7 => *byte == b'-',
                _ => byte.is_ascii_digit(),
            });
    if !shape_ok {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(5..7)?.parse().ok()?;
    let day = text.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Completed years from `from` to `to` (negative if `to` is earlier). Someone born on
/// 29 February completes a year on 1 March in common years.
pub(crate) fn completed_years(from: NaiveDate, to: NaiveDate) -> i64 {
    let years = i64::from(to.year()) - i64::from(from.year());
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years - 1
    } else {
        years
    }
}

fn read_date(
    value: &Value,
    today: NaiveDate,
    not_after_today: bool,
    max_years_ago: Option<u32>,
) -> Result<Slot, ValueError> {
    let date = value
        .as_str()
        .and_then(parse_iso_date)
        .ok_or_else(|| wrong_type("a date written as YYYY-MM-DD"))?;
    if not_after_today && date > today {
        return Err((
            AnswerErrorCode::InFuture,
            format!("This date is in the future (today is {today})."),
        ));
    }
    if let Some(years) = max_years_ago
        && completed_years(date, today) > i64::from(years)
    {
        return Err((
            AnswerErrorCode::Implausible,
            format!("This date is more than {years} years ago; please check it."),
        ));
    }
    Ok(Slot::Date(date))
}

fn read_text(value: &Value, max_chars: usize) -> Result<Slot, ValueError> {
    let text = value.as_str().ok_or_else(|| wrong_type("text"))?;
    let length = text.chars().count();
    if length > max_chars {
        return Err((
            AnswerErrorCode::TooLong,
            format!("Please use at most {max_chars} characters (this has {length})."),
        ));
    }
    // Free text may run over lines, but nothing else invisible: it is stored and shown again.
    if let Some(c) = Lines::Multi.refused(text) {
        return Err((
            AnswerErrorCode::InvalidCharacter,
            format!(
                "Please use only letters, digits, punctuation, line breaks and tabs \
                 (this has the control character U+{:04X}).",
                u32::from(c)
            ),
        ));
    }
    Ok(Slot::Text)
}

fn options_list(codes: &[Box<str>]) -> String {
    codes
        .iter()
        .map(|code| &**code)
        .collect::<Vec<_>>()
        .join(", ")
}

fn code_index(codes: &[Box<str>], code: &str) -> Result<u8, ValueError> {
    codes
        .iter()
        .position(|known| **known == *code)
        .and_then(|index| u8::try_from(index).ok())
        .ok_or_else(|| {
            (
                AnswerErrorCode::UnknownOption,
                format!(
                    "{code:?} is not one of the options: {}.",
                    options_list(codes)
                ),
            )
        })
}

fn read_choice(value: &Value, codes: &[Box<str>], repeats: bool) -> Result<Slot, ValueError> {
    if !repeats {
        let code = value
            .as_str()
            .ok_or_else(|| wrong_type(&format!("one of: {}", options_list(codes))))?;
        return code_index(codes, code).map(Slot::Code);
    }
    let list = value
        .as_array()
        .ok_or_else(|| wrong_type("a list of options, such as [\"neck\"]"))?;
    let mut set = 0u64;
    for element in list {
        let code = element
            .as_str()
            .ok_or_else(|| wrong_type("a list of option codes (text)"))?;
        let bit = 1u64 << code_index(codes, code)?;
        if set & bit != 0 {
            return Err((
                AnswerErrorCode::DuplicateOption,
                format!("{code:?} is chosen more than once."),
            ));
        }
        set |= bit;
    }
    Ok(Slot::Codes(set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        parse_iso_date(text).unwrap_or_default()
    }

    #[test]
    fn iso_dates_are_strict() {
        assert_eq!(
            parse_iso_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        for bad in [
            "2023-02-29",
            "2024-2-29",
            "2024-02-29T00:00",
            "+2024-02-2",
            "",
            "abcd-ef-gh",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn completed_years_counts_birthdays() {
        assert_eq!(completed_years(date("1975-06-15"), date("2025-06-14")), 49);
        assert_eq!(completed_years(date("1975-06-15"), date("2025-06-15")), 50);
        assert_eq!(completed_years(date("2000-02-29"), date("2001-02-28")), 0);
        assert_eq!(completed_years(date("2000-02-29"), date("2001-03-01")), 1);
        assert_eq!(completed_years(date("2000-02-29"), date("2004-02-29")), 4);
        assert_eq!(completed_years(date("2025-01-02"), date("2025-01-01")), -1);
    }
}
