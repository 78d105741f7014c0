//! Questionnaire definitions shaped like a FHIR R4 `Questionnaire`, and their compiled form.
//!
//! The serde types ([`QuestionnaireDefinition`], [`QuestionnaireItem`], …) are what a front end
//! receives from `GET /questionnaires/{id}`: a subset of FHIR R4 that an off-the-shelf FHIR form
//! renderer understands. Unknown fields are refused, so that a typo such as `"requried": true`
//! in an override file stops startup instead of silently making a safety question optional.
//!
//! Constraints FHIR has no core field for are carried as item extensions (see [`ext`]): the
//! standard `minValue` / `maxValue` extensions for numbers, and a few Lumbar extensions with
//! `urn:lumbar:fhir:` URLs. Unknown extension URLs are refused for the same reason as unknown
//! fields.
//!
//! [`Questionnaire`] is a definition that passed validation, together with its compiled form:
//! a flat list of items in document order with resolved `enableWhen` references, so that answer
//! validation is a single pass over slices instead of repeated tree and string look-ups.

use std::collections::{BTreeMap, BTreeSet, btree_map::Entry};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{answers::Answers, facts::FactLayout};

/// Extension URLs understood on questionnaire items. Each takes exactly one `value[x]`.
pub mod ext {
    /// FHIR standard: smallest allowed answer (`valueInteger` on integer items, `valueDecimal`
    /// or `valueInteger` on decimal items).
    pub const MIN_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/minValue";
    /// FHIR standard: largest allowed answer; same value types as [`MIN_VALUE`].
    pub const MAX_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/maxValue";
    /// Date items, `valueBoolean: true`: the date may not be after the clinic's today
    /// (error code `in_future`). A static `maxValue` cannot say "today".
    pub const NOT_AFTER_TODAY: &str = "urn:lumbar:fhir:date-not-after-today";
    /// Date items, `valueInteger: N`: the date may not be more than N whole years before
    /// today (error code `implausible`); used for a plausible birth date.
    pub const MAX_YEARS_AGO: &str = "urn:lumbar:fhir:date-max-years-ago";
    /// Boolean items, `valueBoolean: true`: a consent that must be answered `true` to submit
    /// (error code `consent_required`). The item must be required.
    pub const CONSENT: &str = "urn:lumbar:fhir:consent";
    /// Any question, `valueBoolean: true`: a red-flag safety question. It must be required;
    /// leaving it unanswered is reported with a message saying that it is never read as "no".
    pub const SAFETY: &str = "urn:lumbar:fhir:safety-question";
    /// Integer items, `valueCoding {code: "3", display: "…"}`, repeated: the label of one
    /// value of a labelled scale (ODI statements, NRS anchors), so a front end can render
    /// radio buttons while the answer stays the integer that scoring needs.
    pub const SCALE_LABEL: &str = "urn:lumbar:fhir:scale-label";
}

/// Free-text answers without a `maxLength` are still bounded by this many characters.
pub const DEFAULT_MAX_TEXT_LENGTH: usize = 10_000;

/// Choice items may have at most this many options (answers are held as bit sets).
pub const MAX_OPTIONS: usize = 64;

// ---------------------------------------------------------------------------------------------
// The FHIR-shaped definition (serde)
// ---------------------------------------------------------------------------------------------

/// A questionnaire as written in its JSON file and served to front ends (FHIR R4 subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuestionnaireDefinition {
    /// Always `"Questionnaire"`.
    pub resource_type: String,
    /// Logical id, such as `intake` or `follow-up`; answers and submissions refer to it.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Business version, such as `"1"`; stored with every submission.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub title: String,
    pub status: PublicationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub item: Vec<QuestionnaireItem>,
}

/// FHIR publication status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicationStatus {
    Draft,
    Active,
    Retired,
    Unknown,
}

/// One item: a group, a display text or a question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuestionnaireItem {
    /// Unique within the questionnaire; answers are keyed by it. Must be an identifier
    /// (`[A-Za-z][A-Za-z0-9_]*`) so that rule conditions can name it.
    pub link_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(rename = "type")]
    pub item_type: ItemType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enable_when: Vec<EnableWhen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_behavior: Option<EnableBehavior>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Only on choice items: several options may be chosen (the answer is a JSON array).
    #[serde(default, skip_serializing_if = "is_false")]
    pub repeats: bool,
    /// Only on string and text items, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_option: Vec<AnswerOption>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// Children; only groups have them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<QuestionnaireItem>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// FHIR item types supported here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    Group,
    Display,
    Boolean,
    Decimal,
    Integer,
    Date,
    String,
    Text,
    Choice,
}

impl ItemType {
    fn name(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Display => "display",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::Date => "date",
            Self::String => "string",
            Self::Text => "text",
            Self::Choice => "choice",
        }
    }
}

/// A permitted answer of a choice item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnswerOption {
    pub value_coding: Coding,
}

/// A code with its display text. Answers and rules use `code`; patients see `display`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// FHIR `enableWhen`: the item is shown only when an earlier question's answer matches.
/// Exactly one `answer[x]` must be given, of the earlier question's type (`answerBoolean`
/// for `exists`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnableWhen {
    pub question: String,
    pub operator: EnableOperator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_boolean: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_integer: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_decimal: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_coding: Option<Coding>,
}

/// FHIR `enableWhen.operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnableOperator {
    #[serde(rename = "exists")]
    Exists,
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = "<")]
    Less,
    #[serde(rename = ">=")]
    GreaterOrEqual,
    #[serde(rename = "<=")]
    LessOrEqual,
}

/// FHIR `enableBehavior`: whether all or any `enableWhen` conditions must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnableBehavior {
    All,
    Any,
}

/// A FHIR extension with one `value[x]` (see [`ext`] for the URLs understood).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Extension {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_boolean: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_integer: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_decimal: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_coding: Option<Coding>,
}

impl Extension {
    fn value_count(&self) -> usize {
        usize::from(self.value_boolean.is_some())
            + usize::from(self.value_integer.is_some())
            + usize::from(self.value_decimal.is_some())
            + usize::from(self.value_coding.is_some())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One thing wrong with a questionnaire definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionProblem {
    /// The item concerned, if the problem is about one item.
    pub link_id: Option<String>,
    pub message: String,
}

impl std::fmt::Display for DefinitionProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.link_id {
            Some(link_id) => write!(f, "item {link_id}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a questionnaire file could not be loaded. Meant to stop startup with a clear message.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: not a valid questionnaire JSON document: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{file}: questionnaire {id:?} is invalid:\n  - {}",
        join_problems(problems)
    )]
    Invalid {
        file: String,
        id: String,
        problems: Vec<DefinitionProblem>,
    },
    #[error("questionnaire id {id:?} is defined twice, by {first} and by {second}")]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
}

fn join_problems(problems: &[DefinitionProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  - ")
}

/// Collects every problem of a definition so that one load reports all of them.
#[derive(Default)]
pub(crate) struct Problems(Vec<DefinitionProblem>);

impl Problems {
    pub(crate) fn item(&mut self, link_id: &str, message: impl Into<String>) {
        self.0.push(DefinitionProblem {
            link_id: Some(link_id.to_owned()),
            message: message.into(),
        });
    }

    pub(crate) fn general(&mut self, message: impl Into<String>) {
        self.0.push(DefinitionProblem {
            link_id: None,
            message: message.into(),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The compiled form
// ---------------------------------------------------------------------------------------------

/// What an item accepts, with its constraints resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Group,
    Display,
    Boolean,
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Decimal {
        min: Option<f64>,
        max: Option<f64>,
    },
    Date {
        not_after_today: bool,
        max_years_ago: Option<u32>,
    },
    Text {
        max_chars: usize,
    },
    Choice {
        codes: Box<[Box<str>]>,
        repeats: bool,
    },
}

impl Kind {
    pub(crate) fn is_question(&self) -> bool {
        !matches!(self, Self::Group | Self::Display)
    }
}

/// Ordering comparisons shared by `enableWhen` and rule conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub(crate) fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Ne => left != right,
            Self::Lt => left < right,
            Self::Le => left <= right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
        }
    }

    pub(crate) fn is_ordering(self) -> bool {
        !matches!(self, Self::Eq | Self::Ne)
    }
}

/// A compiled `enableWhen` condition over an earlier item's slot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EnableTest {
    Exists(bool),
    Bool(Cmp, bool),
    Int(Cmp, i64),
    Dec(Cmp, f64),
    Date(Cmp, NaiveDate),
    /// `=` / `!=` against the option with this index.
    Code(Cmp, u8),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EnableCondition {
    pub(crate) question: usize,
    pub(crate) test: EnableTest,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Enable {
    pub(crate) any: bool,
    pub(crate) conditions: Box<[EnableCondition]>,
}

/// One item of the compiled form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub(crate) link_id: Box<str>,
    pub(crate) kind: Kind,
    pub(crate) required: bool,
    pub(crate) consent: bool,
    pub(crate) safety: bool,
    pub(crate) parent: Option<usize>,
    pub(crate) enable: Option<Enable>,
}

/// The flat, index-addressed form of a questionnaire.
#[derive(Debug, Clone)]
pub(crate) struct Form {
    pub(crate) items: Vec<Item>,
    /// `(linkId, index)` sorted by linkId for binary search.
    index: Vec<(Box<str>, usize)>,
}

impl Form {
    pub(crate) fn find(&self, link_id: &str) -> Option<usize> {
        self.index
            .binary_search_by(|(key, _)| (**key).cmp(link_id))
            .ok()
            .and_then(|position| self.index.get(position))
            .map(|(_, index)| *index)
    }

    pub(crate) fn item(&self, link_id: &str) -> Option<(usize, &Item)> {
        let index = self.find(link_id)?;
        self.items.get(index).map(|item| (index, item))
    }

    /// Like [`Form::item`] for a run of linkIds in ascending order (how a `serde_json::Map`
    /// iterates): `cursor` remembers where the previous one was found in the sorted index, so
    /// the next is usually a few entries on. Any other order still works, by binary search.
    pub(crate) fn item_after(&self, link_id: &str, cursor: &mut usize) -> Option<(usize, &Item)> {
        const LOOKAHEAD: usize = 4;
        let ahead = self.index.get(*cursor..).unwrap_or_default();
        for (offset, (key, index)) in ahead.iter().take(LOOKAHEAD).enumerate() {
            match (**key).cmp(link_id) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => {
                    *cursor += offset + 1;
                    return self.items.get(*index).map(|item| (*index, item));
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        let position = self
            .index
            .binary_search_by(|(key, _)| (**key).cmp(link_id))
            .ok()?;
        *cursor = position + 1;
        let index = self.index.get(position).map(|(_, index)| *index)?;
        self.items.get(index).map(|item| (index, item))
    }
}

/// A validated questionnaire: its FHIR definition, compiled form and derived-fact layout.
#[derive(Debug, Clone)]
pub struct Questionnaire {
    definition: QuestionnaireDefinition,
    digest: String,
    pub(crate) form: Form,
    pub(crate) facts: FactLayout,
}

impl Serialize for Questionnaire {
    /// A questionnaire serialises as its FHIR definition.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.definition.serialize(serializer)
    }
}

impl Questionnaire {
    /// Parses and validates a questionnaire JSON document.
    pub fn from_json(json: &str) -> Result<Self, LoadError> {
        Self::from_file("questionnaire", json)
    }

    /// Like [`Questionnaire::from_json`]; `file` names the source in error messages.
    pub fn from_file(file: &str, json: &str) -> Result<Self, LoadError> {
        let definition: QuestionnaireDefinition =
            serde_json::from_str(json).map_err(|source| LoadError::Json {
                file: file.to_owned(),
                source,
            })?;
        let mut problems = Problems::default();
        let form = compile(&definition, &mut problems);
        let facts = FactLayout::resolve(&form, &mut problems);
        if !problems.0.is_empty() {
            return Err(LoadError::Invalid {
                file: file.to_owned(),
                id: definition.id,
                problems: problems.0,
            });
        }
        Ok(Self {
            digest: digest(json.as_bytes()),
            definition,
            form,
            facts,
        })
    }

    pub fn id(&self) -> &str {
        &self.definition.id
    }

    pub fn version(&self) -> &str {
        &self.definition.version
    }

    pub fn title(&self) -> &str {
        &self.definition.title
    }

    /// `sha256:<first 12 hex digits>` of the file's bytes: tells two files that declare the
    /// same version apart, so a stored submission can name exactly what the patient saw.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn definition(&self) -> &QuestionnaireDefinition {
        &self.definition
    }

    /// The linkIds of the items `answers` show (groups and display items too): an item is
    /// shown when its group is and its `enableWhen` holds, as submission judges it.
    pub fn shown_items(&self, answers: &Answers, today: NaiveDate) -> BTreeSet<String> {
        super::answers::shown(&self.form, answers, today)
            .into_iter()
            .zip(&self.form.items)
            .filter(|(shown, _)| *shown)
            .map(|(_, item)| item.link_id.to_string())
            .collect()
    }

    /// `answers` without the answers to questions they hide (an earlier answer changed), so a
    /// draft never holds an answer its submission would refuse as not applying.
    pub fn without_hidden(&self, mut answers: Answers, today: NaiveDate) -> Answers {
        let shown = self.shown_items(&answers, today);
        answers.retain(|link_id, _| shown.contains(link_id) || self.form.find(link_id).is_none());
        answers
    }

    /// The sections a form is shown in, one page each: the top-level items, in order.
    pub fn sections(&self) -> &[QuestionnaireItem] {
        &self.definition.item
    }

    /// The linkIds of top-level item `section` and every item inside it.
    pub fn section_link_ids(&self, section: &str) -> Option<Vec<String>> {
        fn collect(item: &QuestionnaireItem, into: &mut Vec<String>) {
            into.push(item.link_id.clone());
            for child in &item.item {
                collect(child, into);
            }
        }
        let top = self
            .sections()
            .iter()
            .find(|item| item.link_id == section)?;
        let mut ids = Vec::new();
        collect(top, &mut ids);
        Some(ids)
    }

    /// The linkIds of the questions (not groups or display items), in document order.
    pub fn question_ids(&self) -> impl Iterator<Item = &str> {
        self.form
            .items
            .iter()
            .filter(|item| item.kind.is_question())
            .map(|item| &*item.link_id)
    }
}

/// `sha256:` and the first 12 hex digits of the SHA-256 of `bytes`.
pub(crate) fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Whether `name` can be a linkId or code in a rule condition without quoting.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn compile(definition: &QuestionnaireDefinition, problems: &mut Problems) -> Form {
    if definition.resource_type != "Questionnaire" {
        problems.general(format!(
            "resourceType must be \"Questionnaire\", not {:?}",
            definition.resource_type
        ));
    }
    if !is_fhir_id(&definition.id) {
        problems.general(format!(
            "id {:?} must be 1-64 letters, digits, '-' or '.'",
            definition.id
        ));
    }
    if definition.version.trim().is_empty() {
        problems.general("version must not be empty");
    }
    if definition.item.is_empty() {
        problems.general("a questionnaire needs at least one item");
    }
    let mut flat = Vec::new();
    flatten(&definition.item, None, &mut flat);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut items: Vec<Item> = Vec::with_capacity(flat.len());
    for (source, parent) in flat {
        let item = compile_item(source, parent, &seen, &items, problems);
        match seen.entry(&source.link_id) {
            Entry::Vacant(slot) => {
                slot.insert(items.len());
            }
            Entry::Occupied(_) => problems.item(&source.link_id, "linkId is used twice"),
        }
        items.push(item);
    }
    let mut index: Vec<(Box<str>, usize)> = seen
        .into_iter()
        .map(|(link_id, position)| (Box::from(link_id), position))
        .collect();
    index.sort_by(|a, b| a.0.cmp(&b.0));
    Form { items, index }
}

/// Document order (pre-order), remembering each item's parent group.
fn flatten<'a>(
    items: &'a [QuestionnaireItem],
    parent: Option<usize>,
    out: &mut Vec<(&'a QuestionnaireItem, Option<usize>)>,
) {
    for item in items {
        let position = out.len();
        out.push((item, parent));
        flatten(&item.item, Some(position), out);
    }
}

fn compile_item(
    source: &QuestionnaireItem,
    parent: Option<usize>,
    seen: &BTreeMap<&str, usize>,
    earlier: &[Item],
    problems: &mut Problems,
) -> Item {
    let link_id = source.link_id.as_str();
    if !is_identifier(link_id) {
        problems.item(
            link_id,
            "linkId must start with a letter and contain only letters, digits and '_'",
        );
    }
    if super::condition::KEYWORDS.contains(&link_id) {
        problems.item(
            link_id,
            "linkId is a keyword of the rule condition language",
        );
    }
    if super::facts::Fact::from_name(link_id).is_some() {
        problems.item(link_id, "linkId is the name of a derived fact");
    }
    let extensions = Extensions::read(source, problems);
    let kind = compile_kind(source, &extensions, problems);
    check_structure(source, &kind, &extensions, problems);
    let enable = compile_enable(source, seen, earlier, problems);
    Item {
        link_id: link_id.into(),
        required: source.required,
        consent: extensions.consent,
        safety: extensions.safety,
        kind,
        parent,
        enable,
    }
}

/// The extensions of one item, read and type-checked.
#[derive(Default)]
struct Extensions {
    min: Option<Number>,
    max: Option<Number>,
    not_after_today: bool,
    max_years_ago: Option<u32>,
    consent: bool,
    safety: bool,
    scale_labels: Vec<i64>,
}

#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Dec(f64),
}

impl Extensions {
    fn read(item: &QuestionnaireItem, problems: &mut Problems) -> Self {
        let mut out = Self::default();
        let link_id = item.link_id.as_str();
        for extension in &item.extension {
            if extension.value_count() != 1 {
                problems.item(
                    link_id,
                    format!("extension {} needs exactly one value[x]", extension.url),
                );
                continue;
            }
            out.read_one(link_id, extension, problems);
        }
        out
    }

    fn read_one(&mut self, link_id: &str, extension: &Extension, problems: &mut Problems) {
        let url = extension.url.as_str();
        let number = match (extension.value_integer, extension.value_decimal) {
            (Some(value), _) => Some(Number::Int(value)),
            (None, Some(value)) => Some(Number::Dec(value)),
            (None, None) => None,
        };
        let flag = extension.value_boolean;
        match url {
            ext::MIN_VALUE | ext::MAX_VALUE => {
                let Some(number) = number else {
                    return problems
                        .item(link_id, format!("{url} needs valueInteger or valueDecimal"));
                };
                if url == ext::MIN_VALUE {
                    self.min = Some(number);
                } else {
                    self.max = Some(number);
                }
            }
            ext::NOT_AFTER_TODAY | ext::CONSENT | ext::SAFETY => {
                let Some(flag) = flag else {
                    return problems.item(link_id, format!("{url} needs valueBoolean"));
                };
                match url {
                    ext::NOT_AFTER_TODAY => self.not_after_today = flag,
                    ext::CONSENT => self.consent = flag,
                    _ => self.safety = flag,
                }
            }
            ext::MAX_YEARS_AGO => match extension.value_integer.map(u32::try_from) {
                Some(Ok(years)) => self.max_years_ago = Some(years),
                _ => problems.item(link_id, format!("{url} needs a non-negative valueInteger")),
            },
            ext::SCALE_LABEL => match &extension.value_coding {
                Some(coding) => match coding.code.parse::<i64>() {
                    Ok(value) => self.scale_labels.push(value),
                    Err(_) => problems.item(
                        link_id,
                        format!("{url}: code {:?} must be an integer", coding.code),
                    ),
                },
                None => problems.item(link_id, format!("{url} needs valueCoding")),
            },
            _ => problems.item(link_id, format!("unknown extension url {url:?}")),
        }
    }
}

fn compile_kind(item: &QuestionnaireItem, ext: &Extensions, problems: &mut Problems) -> Kind {
    let link_id = item.link_id.as_str();
    match item.item_type {
        ItemType::Group => Kind::Group,
        ItemType::Display => Kind::Display,
        ItemType::Boolean => Kind::Boolean,
        ItemType::Integer => {
            let mut bound = |number: Option<Number>, which: &str| match number {
                Some(Number::Int(value)) => Some(value),
                Some(Number::Dec(_)) => {
                    problems.item(
                        link_id,
                        format!("{which} of an integer item must be valueInteger"),
                    );
                    None
                }
                None => None,
            };
            let min = bound(ext.min, "minValue");
            let max = bound(ext.max, "maxValue");
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                problems.item(link_id, "minValue is above maxValue");
            }
            check_scale_labels(link_id, &ext.scale_labels, min, max, problems);
            Kind::Integer { min, max }
        }
        ItemType::Decimal => {
            let as_f64 = |number: Option<Number>| match number {
                // Bounds are small numbers written in a file; the conversion is exact there.
                Some(Number::Int(value)) => Some(value as f64),
                Some(Number::Dec(value)) => Some(value),
                None => None,
            };
            let (min, max) = (as_f64(ext.min), as_f64(ext.max));
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                problems.item(link_id, "minValue is above maxValue");
            }
            Kind::Decimal { min, max }
        }
        ItemType::Date => Kind::Date {
            not_after_today: ext.not_after_today,
            max_years_ago: ext.max_years_ago,
        },
        ItemType::String | ItemType::Text => Kind::Text {
            max_chars: item
                .max_length
                .and_then(|length| usize::try_from(length).ok())
                .unwrap_or(DEFAULT_MAX_TEXT_LENGTH),
        },
        ItemType::Choice => compile_choice(item, problems),
    }
}

fn check_scale_labels(
    link_id: &str,
    labels: &[i64],
    min: Option<i64>,
    max: Option<i64>,
    problems: &mut Problems,
) {
    for (position, value) in labels.iter().enumerate() {
        if labels
            .get(..position)
            .is_some_and(|before| before.contains(value))
        {
            problems.item(link_id, format!("scale label {value} is given twice"));
        }
        if min.is_some_and(|min| *value < min) || max.is_some_and(|max| *value > max) {
            problems.item(
                link_id,
                format!("scale label {value} is outside minValue..maxValue"),
            );
        }
    }
}

fn compile_choice(item: &QuestionnaireItem, problems: &mut Problems) -> Kind {
    let link_id = item.link_id.as_str();
    if item.answer_option.is_empty() {
        problems.item(link_id, "a choice item needs answerOption");
    }
    if item.answer_option.len() > MAX_OPTIONS {
        problems.item(
            link_id,
            format!("a choice item may have at most {MAX_OPTIONS} options"),
        );
    }
    let mut codes: Vec<Box<str>> = Vec::with_capacity(item.answer_option.len());
    for option in &item.answer_option {
        let code = option.value_coding.code.as_str();
        if code.trim().is_empty() {
            problems.item(link_id, "an answerOption code is empty");
        } else if codes.iter().any(|known| &**known == code) {
            problems.item(link_id, format!("answerOption code {code:?} is used twice"));
        }
        codes.push(code.into());
    }
    Kind::Choice {
        codes: codes.into_boxed_slice(),
        repeats: item.repeats,
    }
}

/// Checks that fields and extensions are used only where they mean something.
fn check_structure(
    item: &QuestionnaireItem,
    kind: &Kind,
    ext: &Extensions,
    problems: &mut Problems,
) {
    let link_id = item.link_id.as_str();
    let type_name = item.item_type.name();
    let question = kind.is_question();
    if matches!(kind, Kind::Group) && item.item.is_empty() {
        problems.item(link_id, "a group needs child items");
    }
    if !matches!(kind, Kind::Group) && !item.item.is_empty() {
        problems.item(link_id, "only groups may have child items");
    }
    if !question && item.required {
        problems.item(link_id, format!("a {type_name} item cannot be required"));
    }
    if item.repeats && !matches!(kind, Kind::Choice { .. }) {
        problems.item(link_id, "repeats is supported on choice items only");
    }
    if item.max_length.is_some() && !matches!(kind, Kind::Text { .. }) {
        problems.item(link_id, "maxLength is for string and text items");
    }
    if !item.answer_option.is_empty() && !matches!(kind, Kind::Choice { .. }) {
        problems.item(link_id, "answerOption is for choice items");
    }
    let numeric = matches!(kind, Kind::Integer { .. } | Kind::Decimal { .. });
    if (ext.min.is_some() || ext.max.is_some()) && !numeric {
        problems.item(
            link_id,
            "minValue/maxValue are for integer and decimal items",
        );
    }
    if !ext.scale_labels.is_empty() && !matches!(kind, Kind::Integer { .. }) {
        problems.item(link_id, "scale labels are for integer items");
    }
    if (ext.not_after_today || ext.max_years_ago.is_some()) && !matches!(kind, Kind::Date { .. }) {
        problems.item(link_id, "date extensions are for date items");
    }
    if ext.consent && !(matches!(kind, Kind::Boolean) && item.required) {
        problems.item(link_id, "a consent must be a required boolean item");
    }
    if ext.safety && !(question && item.required) {
        problems.item(
            link_id,
            "a safety question must be a required question: it is never read as \"no\"",
        );
    }
}

fn compile_enable(
    item: &QuestionnaireItem,
    seen: &BTreeMap<&str, usize>,
    earlier: &[Item],
    problems: &mut Problems,
) -> Option<Enable> {
    let link_id = item.link_id.as_str();
    if item.enable_when.is_empty() {
        if item.enable_behavior.is_some() {
            problems.item(link_id, "enableBehavior without enableWhen");
        }
        return None;
    }
    if item.enable_when.len() > 1 && item.enable_behavior.is_none() {
        problems.item(
            link_id,
            "enableBehavior (all or any) is required with several enableWhen",
        );
    }
    let conditions: Vec<EnableCondition> = item
        .enable_when
        .iter()
        .filter_map(|when| compile_enable_condition(link_id, when, seen, earlier, problems))
        .collect();
    Some(Enable {
        any: item.enable_behavior == Some(EnableBehavior::Any),
        conditions: conditions.into_boxed_slice(),
    })
}

fn compile_enable_condition(
    link_id: &str,
    when: &EnableWhen,
    seen: &BTreeMap<&str, usize>,
    earlier: &[Item],
    problems: &mut Problems,
) -> Option<EnableCondition> {
    let question_id = when.question.as_str();
    let Some((question, target)) = seen
        .get(question_id)
        .and_then(|&index| earlier.get(index).map(|target| (index, target)))
    else {
        problems.item(
            link_id,
            format!("enableWhen refers to {question_id:?}, which is not an earlier item"),
        );
        return None;
    };
    match enable_test(when, &target.kind) {
        Ok(test) => Some(EnableCondition { question, test }),
        Err(message) => {
            problems.item(link_id, format!("enableWhen on {question_id}: {message}"));
            None
        }
    }
}

fn enable_test(when: &EnableWhen, kind: &Kind) -> Result<EnableTest, String> {
    let answers = usize::from(when.answer_boolean.is_some())
        + usize::from(when.answer_integer.is_some())
        + usize::from(when.answer_decimal.is_some())
        + usize::from(when.answer_date.is_some())
        + usize::from(when.answer_coding.is_some());
    if answers != 1 {
        return Err("exactly one answer[x] is needed".into());
    }
    let cmp = match when.operator {
        EnableOperator::Exists => {
            return when
                .answer_boolean
                .map(EnableTest::Exists)
                .ok_or_else(|| "exists needs answerBoolean".into());
        }
        EnableOperator::Equal => Cmp::Eq,
        EnableOperator::NotEqual => Cmp::Ne,
        EnableOperator::Greater => Cmp::Gt,
        EnableOperator::Less => Cmp::Lt,
        EnableOperator::GreaterOrEqual => Cmp::Ge,
        EnableOperator::LessOrEqual => Cmp::Le,
    };
    let ordered_ok = |test: EnableTest| Ok(test);
    let equality_only = |test: EnableTest| {
        if cmp.is_ordering() {
            Err("only = and != apply to this question".to_owned())
        } else {
            Ok(test)
        }
    };
    match (kind, when) {
        (
            Kind::Boolean,
            EnableWhen {
                answer_boolean: Some(value),
                ..
            },
        ) => equality_only(EnableTest::Bool(cmp, *value)),
        (
            Kind::Integer { .. },
            EnableWhen {
                answer_integer: Some(value),
                ..
            },
        ) => ordered_ok(EnableTest::Int(cmp, *value)),
        (
            Kind::Decimal { .. },
            EnableWhen {
                answer_decimal: Some(value),
                ..
            },
        ) => ordered_ok(EnableTest::Dec(cmp, *value)),
        (
            Kind::Date { .. },
            EnableWhen {
                answer_date: Some(value),
                ..
            },
        ) => {
            let date = super::answers::parse_iso_date(value)
                .ok_or_else(|| format!("answerDate {value:?} is not a YYYY-MM-DD date"))?;
            ordered_ok(EnableTest::Date(cmp, date))
        }
        (
            Kind::Choice { codes, .. },
            EnableWhen {
                answer_coding: Some(coding),
                ..
            },
        ) => {
            let index = codes
                .iter()
                .position(|code| **code == *coding.code)
                .and_then(|index| u8::try_from(index).ok())
                .ok_or_else(|| format!("{:?} is not one of its answer codes", coding.code))?;
            equality_only(EnableTest::Code(cmp, index))
        }
        (Kind::Text { .. }, _) => Err("conditions on free-text answers are not supported".into()),
        (Kind::Group | Kind::Display, _) => Err("it is not a question".into()),
        _ => Err("the answer[x] type does not match the question's type".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// The set of questionnaires
// ---------------------------------------------------------------------------------------------

/// The embedded intake questionnaire, version 2 (see `content/intake-v2.json`): version 1
/// with `recent_spinal_procedure` (shown when `recent_infection_or_procedure` is yes), and
/// every Oswestry section optional, at least 8 of 10 to be answered (rules-v2.md).
pub const EMBEDDED_INTAKE: &str = include_str!("content/intake-v2.json");

/// The embedded follow-up questionnaire, version 2 (see `content/follow-up-v2.json`).
///
/// It asks what rules-v2.md's "Follow-up questionnaire v2" lists: `pain_now` (NRS), `odi_1` …
/// `odi_10` (ODI v2.1a, at least 8 answered), `global_change` (much_better … much_worse), and
/// every emergency safety question of the intake again (`saddle_numbness`, `bladder_change`,
/// `urinary_retention`, `bowel_control_loss`, `sexual_function_change`, `leg_symptoms`,
/// `leg_numbness` when leg_symptoms ≠ none, `leg_weakness`, `foot_drop`,
/// `new_walking_difficulty`, `fever_chills`, `unwell_night_sweats`, `fainting_or_collapse`,
/// `pulsating_abdomen`), because red flags can appear during care. Standing facts (date of
/// birth, cancer history, risk factors) are not asked again; the caller passes them in. It has
/// no consent items: the patient gave them at intake, and the emailed link is only for an
/// existing patient.
pub const EMBEDDED_FOLLOW_UP: &str = include_str!("content/follow-up-v2.json");

/// The embedded intake questionnaire, version 1 (see `content/intake-v1.json`), kept to
/// explain the submissions it took.
pub const EMBEDDED_INTAKE_V1: &str = include_str!("content/intake-v1.json");

/// The embedded follow-up questionnaire, version 1 (see `content/follow-up-v1.json`): pain
/// now, Oswestry, global change and seven of the emergency safety questions.
pub const EMBEDDED_FOLLOW_UP_V1: &str = include_str!("content/follow-up-v1.json");

const EMBEDDED: [(&str, &str); 2] = [
    ("embedded:intake-v2.json", EMBEDDED_INTAKE),
    ("embedded:follow-up-v2.json", EMBEDDED_FOLLOW_UP),
];

const EMBEDDED_V1: [(&str, &str); 2] = [
    ("embedded:intake-v1.json", EMBEDDED_INTAKE_V1),
    ("embedded:follow-up-v1.json", EMBEDDED_FOLLOW_UP_V1),
];

/// Questionnaires by id: the embedded defaults, replaced or extended by a clinic's files.
#[derive(Debug, Clone, Default)]
pub struct QuestionnaireSet {
    by_id: BTreeMap<String, (Questionnaire, Origin)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Embedded,
    File(String),
}

impl QuestionnaireSet {
    /// An empty set (for tests and tools that bring every file themselves).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The embedded `intake` and `follow-up` questionnaires, version 2. Fails only if the
    /// embedded files are broken, which the unit tests rule out; it still returns an error
    /// rather than panicking so that startup reports it like any other configuration error.
    pub fn embedded() -> Result<Self, LoadError> {
        Self::embedded_files(EMBEDDED)
    }

    /// The embedded `intake` and `follow-up` questionnaires, version 1 (for rule set v1).
    pub fn embedded_v1() -> Result<Self, LoadError> {
        Self::embedded_files(EMBEDDED_V1)
    }

    fn embedded_files(files: [(&str, &str); 2]) -> Result<Self, LoadError> {
        let mut set = Self::empty();
        for (file, json) in files {
            let questionnaire = Questionnaire::from_file(file, json)?;
            set.by_id.insert(
                questionnaire.id().to_owned(),
                (questionnaire, Origin::Embedded),
            );
        }
        Ok(set)
    }

    /// Adds the questionnaire in `json`, read by the caller from the file `file_name`. It
    /// replaces an embedded questionnaire with the same id; two files with the same id are an
    /// error, since which one wins would depend on directory order.
    pub fn add_file(&mut self, file_name: &str, json: &str) -> Result<(), LoadError> {
        let questionnaire = Questionnaire::from_file(file_name, json)?;
        let id = questionnaire.id().to_owned();
        if let Some((_, Origin::File(first))) = self.by_id.get(&id) {
            return Err(LoadError::DuplicateId {
                id,
                first: first.clone(),
                second: file_name.to_owned(),
            });
        }
        self.by_id
            .insert(id, (questionnaire, Origin::File(file_name.to_owned())));
        Ok(())
    }

    /// [`QuestionnaireSet::add_file`] for each `(file name, contents)` pair whose name ends in
    /// `.json` (case-insensitive); other files in a configured directory (a README) are skipped.
    pub fn with_files<I, N, C>(mut self, files: I) -> Result<Self, LoadError>
    where
        I: IntoIterator<Item = (N, C)>,
        N: AsRef<str>,
        C: AsRef<str>,
    {
        for (name, contents) in files {
            let name = name.as_ref();
            if name.to_ascii_lowercase().ends_with(".json") {
                self.add_file(name, contents.as_ref())?;
            }
        }
        Ok(self)
    }

    pub fn get(&self, id: &str) -> Option<&Questionnaire> {
        self.by_id.get(id).map(|(questionnaire, _)| questionnaire)
    }

    /// All questionnaires, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &Questionnaire> {
        self.by_id.values().map(|(questionnaire, _)| questionnaire)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub(crate) fn into_questionnaires(self) -> impl Iterator<Item = Questionnaire> {
        self.by_id
            .into_values()
            .map(|(questionnaire, _)| questionnaire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_in_any_order_find_the_same_items() {
        let intake = Questionnaire::from_json(EMBEDDED_INTAKE).expect("embedded intake loads");
        let form = &intake.form;
        let mut sorted: Vec<&str> = form.items.iter().map(|item| &*item.link_id).collect();
        sorted.sort_unstable();
        let mut orders = vec![sorted.clone(), sorted.iter().rev().copied().collect()];
        orders.push(form.items.iter().map(|item| &*item.link_id).collect());
        orders.push(sorted.iter().step_by(3).copied().collect());
        for order in orders {
            let mut cursor = 0;
            for link_id in order {
                let found = form
                    .item_after(link_id, &mut cursor)
                    .map(|(index, _)| index);
                assert_eq!(found, form.find(link_id), "{link_id}");
                assert!(found.is_some(), "{link_id}");
            }
        }
        let mut cursor = 0;
        assert_eq!(
            form.item_after("zzz", &mut cursor).map(|(index, _)| index),
            None
        );
        assert_eq!(
            form.item_after("aaa", &mut cursor).map(|(index, _)| index),
            None
        );
    }
}
