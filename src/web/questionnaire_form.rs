//! A questionnaire section as an HTML form, from its FHIR-shaped definition (so a clinic's own
//! questionnaire renders too), and the posted form back into answers. Only translation lives
//! here: which questions show, what is valid and what it means are decided in `triage`.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::form::FormData;
use crate::triage::{
    Answers,
    questionnaire::{ItemType, QuestionnaireItem, ext},
};

/// One item as a template draws it.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub link_id: String,
    /// `group`, `display`, `radios`, `checkboxes`, `number`, `date`, `string` or `text`.
    pub control: &'static str,
    pub text: String,
    pub required: bool,
    /// A red-flag question: asked plainly, never optional.
    pub safety: bool,
    pub options: Vec<OptionView>,
    /// The current answer of a single-value control.
    pub value: String,
    pub date: DateParts,
    pub error: Option<String>,
    /// Hidden until an earlier answer on this page calls for it (shown by the script; without
    /// it, the page comes back with the question once that answer is saved).
    pub hidden: bool,
    /// For the script: `question`, `=` or `!=`, and the value that shows this item.
    pub when: Option<(String, &'static str, String)>,
    pub children: Vec<ItemView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DateParts {
    pub day: String,
    pub month: String,
    pub year: String,
}

/// The form fields of a date question.
fn date_field(link_id: &str, part: &str) -> String {
    format!("{link_id}__{part}")
}

fn int_extension(item: &QuestionnaireItem, url: &str) -> Option<i64> {
    item.extension
        .iter()
        .find(|extension| extension.url == url)
        .and_then(|extension| extension.value_integer)
}

fn is_safety(item: &QuestionnaireItem) -> bool {
    item.extension
        .iter()
        .any(|extension| extension.url == ext::SAFETY && extension.value_boolean == Some(true))
}

/// The labelled values of an integer scale (ODI statements, pain-scale anchors): every value
/// from min to max, with its label where the questionnaire gives one. `None` for a plain
/// number, or a range too wide to show as choices.
fn scale(item: &QuestionnaireItem) -> Option<Vec<(i64, Option<String>)>> {
    let min = int_extension(item, ext::MIN_VALUE)?;
    let max = int_extension(item, ext::MAX_VALUE)?;
    if max < min || max - min > 10 {
        return None;
    }
    let label = |value: i64| {
        item.extension
            .iter()
            .filter(|extension| extension.url == ext::SCALE_LABEL)
            .filter_map(|extension| extension.value_coding.as_ref())
            .find(|coding| coding.code == value.to_string())
            .and_then(|coding| coding.display.clone())
    };
    Some((min..=max).map(|value| (value, label(value))).collect())
}

/// The single `=` / `!=` condition the script can apply in the browser, if the item has one.
fn browser_condition(item: &QuestionnaireItem) -> Option<(String, &'static str, String)> {
    use crate::triage::questionnaire::EnableOperator;
    let [condition] = item.enable_when.as_slice() else {
        return None;
    };
    let operator = match condition.operator {
        EnableOperator::Equal => "=",
        EnableOperator::NotEqual => "!=",
        _ => return None,
    };
    let value = match (&condition.answer_boolean, &condition.answer_coding) {
        (Some(flag), None) => flag.to_string(),
        (None, Some(coding)) => coding.code.clone(),
        _ => return None,
    };
    Some((condition.question.clone(), operator, value))
}

/// How the current answer reads in a text box.
fn as_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

/// `item` and its children as the template draws them. Items not in `shown` are left out,
/// unless the script can show them on this page (then they come hidden).
pub fn view(
    item: &QuestionnaireItem,
    answers: &Answers,
    shown: &BTreeSet<String>,
    errors: &[(String, String)],
) -> Option<ItemView> {
    let visible = shown.contains(&item.link_id);
    let when = browser_condition(item);
    if !visible && when.is_none() {
        return None;
    }
    let answer = answers.get(&item.link_id);
    let choices = |options: Vec<(String, String)>| -> Vec<OptionView> {
        options
            .into_iter()
            .map(|(value, label)| OptionView {
                checked: match answer {
                    Some(Value::Array(chosen)) => chosen.iter().any(|code| code == &value),
                    Some(Value::Bool(flag)) => flag.to_string() == value,
                    Some(other) => as_text(Some(other)) == value,
                    None => false,
                },
                value,
                label,
            })
            .collect()
    };
    let (control, options) = match item.item_type {
        ItemType::Group => ("group", Vec::new()),
        ItemType::Display => ("display", Vec::new()),
        ItemType::Boolean => (
            "radios",
            choices(vec![
                ("true".into(), "Yes".into()),
                ("false".into(), "No".into()),
            ]),
        ),
        ItemType::Choice => (
            if item.repeats { "checkboxes" } else { "radios" },
            choices(
                item.answer_option
                    .iter()
                    .map(|option| {
                        let coding = &option.value_coding;
                        let label = coding
                            .display
                            .clone()
                            .unwrap_or_else(|| coding.code.clone());
                        (coding.code.clone(), label)
                    })
                    .collect(),
            ),
        ),
        ItemType::Integer => match scale(item) {
            Some(values) => (
                "radios",
                choices(
                    values
                        .into_iter()
                        .map(|(value, label)| {
                            let text = match label {
                                Some(label) => format!("{value} – {label}"),
                                None => value.to_string(),
                            };
                            (value.to_string(), text)
                        })
                        .collect(),
                ),
            ),
            None => ("number", Vec::new()),
        },
        ItemType::Decimal => ("number", Vec::new()),
        ItemType::Date => ("date", Vec::new()),
        ItemType::String => ("string", Vec::new()),
        ItemType::Text => ("text", Vec::new()),
    };
    let date = match (item.item_type, answer) {
        (ItemType::Date, Some(Value::String(text))) => {
            let mut parts = text.splitn(3, '-');
            let (year, month, day) = (parts.next(), parts.next(), parts.next());
            DateParts {
                day: day.map(trim_zero).unwrap_or_default(),
                month: month.map(trim_zero).unwrap_or_default(),
                year: year.unwrap_or_default().to_owned(),
            }
        }
        _ => DateParts::default(),
    };
    let children = item
        .item
        .iter()
        .filter_map(|child| view(child, answers, shown, errors))
        .collect();
    Some(ItemView {
        link_id: item.link_id.clone(),
        control,
        text: item.text.clone().unwrap_or_default(),
        required: item.required,
        safety: is_safety(item),
        options,
        value: as_text(answer),
        date,
        error: errors
            .iter()
            .find(|(field, _)| *field == item.link_id)
            .map(|(_, message)| message.clone()),
        hidden: !visible,
        when: (!visible).then_some(when).flatten(),
        children,
    })
}

fn trim_zero(part: &str) -> String {
    part.trim_start_matches('0').to_owned()
}

/// The answers a posted section holds, and what could not be read (by linkId, for a person).
/// An empty field is no answer; whether a question must be answered is decided at submission.
pub fn answers_from_form(
    section: &QuestionnaireItem,
    form: &FormData,
) -> (Answers, Vec<(String, String)>) {
    let mut answers = Answers::new();
    let mut problems = Vec::new();
    read_item(section, form, &mut answers, &mut problems);
    (answers, problems)
}

fn read_item(
    item: &QuestionnaireItem,
    form: &FormData,
    answers: &mut Answers,
    problems: &mut Vec<(String, String)>,
) {
    for child in &item.item {
        read_item(child, form, answers, problems);
    }
    let link_id = item.link_id.as_str();
    let mut problem = |message: &str| problems.push((link_id.to_owned(), message.to_owned()));
    let value = match item.item_type {
        ItemType::Group | ItemType::Display => return,
        ItemType::Boolean => match form.text(link_id).as_deref() {
            None => return,
            Some("true") => Value::Bool(true),
            Some("false") => Value::Bool(false),
            Some(_) => return problem("Choose yes or no."),
        },
        ItemType::Choice if item.repeats => {
            let chosen: Vec<Value> = form
                .all(link_id)
                .into_iter()
                .filter(|code| !code.is_empty())
                .map(|code| Value::String(code.to_owned()))
                .collect();
            if chosen.is_empty() {
                return;
            }
            Value::Array(chosen)
        }
        ItemType::Choice | ItemType::String | ItemType::Text => match form.text(link_id) {
            None => return,
            Some(text) => Value::String(text),
        },
        ItemType::Integer => match form.text(link_id) {
            None => return,
            Some(text) => match text.parse::<i64>() {
                Ok(number) => Value::from(number),
                Err(_) => return problem("Enter a whole number, for example 3."),
            },
        },
        ItemType::Decimal => match form.text(link_id) {
            None => return,
            Some(text) => match text.replace(',', ".").parse::<f64>() {
                Ok(number) if number.is_finite() => Value::from(number),
                _ => return problem("Enter a number, for example 72.5."),
            },
        },
        ItemType::Date => {
            let part = |name: &str| form.text(&date_field(link_id, name));
            match (part("day"), part("month"), part("year")) {
                (None, None, None) => return,
                (Some(day), Some(month), Some(year)) => {
                    let date = match (day.parse(), month.parse(), year.parse()) {
                        (Ok(day), Ok(month), Ok(year)) => {
                            chrono::NaiveDate::from_ymd_opt(year, month, day)
                        }
                        _ => None,
                    };
                    match date {
                        Some(date) if year.len() == 4 => Value::String(date.to_string()),
                        _ => {
                            return problem(
                                "Enter a real date as day, month and year, for example 27 3 2026.",
                            );
                        }
                    }
                }
                _ => return problem("Enter the day, the month and the year."),
            }
        }
    };
    answers.insert(link_id.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::Triage;

    fn section(link_id: &str) -> QuestionnaireItem {
        let triage = Triage::embedded().unwrap();
        let intake = triage.questionnaire("intake").unwrap();
        intake
            .sections()
            .iter()
            .find(|item| item.link_id == link_id)
            .unwrap()
            .clone()
    }

    #[test]
    fn a_posted_section_reads_into_typed_answers() {
        let form = FormData::parse(
            b"pain_areas=lower_back&pain_areas=left_leg&pain_started_on__day=2&\
              pain_started_on__month=3&pain_started_on__year=2026&onset_cause=&\
              first_episode=false&pain_now=7&leg_symptoms=none",
        );
        let (answers, problems) = answers_from_form(&section("your_pain"), &form);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            answers["pain_areas"],
            serde_json::json!(["lower_back", "left_leg"])
        );
        assert_eq!(answers["pain_started_on"], "2026-03-02");
        assert_eq!(answers["first_episode"], false);
        assert_eq!(answers["pain_now"], 7);
        assert_eq!(answers["leg_symptoms"], "none");
        assert!(!answers.contains_key("onset_cause"), "blank is no answer");
    }

    #[test]
    fn what_cannot_be_read_is_named_by_question() {
        let form = FormData::parse(
            b"pain_started_on__day=31&pain_started_on__month=2&pain_started_on__year=2026&\
              pain_now=seven&first_episode=maybe&pain_worst_week=&\
              leg_symptoms=none",
        );
        let (answers, problems) = answers_from_form(&section("your_pain"), &form);
        let named: Vec<&str> = problems.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(named, ["pain_started_on", "first_episode", "pain_now"]);
        assert_eq!(answers.len(), 1);
    }

    #[test]
    fn a_section_view_marks_answers_and_hides_what_does_not_apply_yet() {
        let pain = section("your_pain");
        let mut answers = Answers::new();
        answers.insert("leg_symptoms".into(), "none".into());
        answers.insert("pain_now".into(), 4.into());
        let triage = Triage::embedded().unwrap();
        let shown = triage.questionnaire("intake").unwrap().shown_items(
            &answers,
            chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        );
        let view = view(&pain, &answers, &shown, &[]).unwrap();
        let numbness = view
            .children
            .iter()
            .find(|item| item.link_id == "leg_numbness")
            .expect("rendered for the script");
        assert!(numbness.hidden);
        assert_eq!(
            numbness.when,
            Some(("leg_symptoms".into(), "!=", "none".into()))
        );
        let now = view
            .children
            .iter()
            .find(|item| item.link_id == "pain_now")
            .unwrap();
        assert_eq!(now.control, "radios");
        assert_eq!(now.options.len(), 11, "0 to 10");
        assert!(now.options[4].checked);
        assert!(now.options[0].label.contains("No pain"));
    }
}
