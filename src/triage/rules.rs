//! Red-flag rules: the TOML rule file, its validation against a questionnaire, and evaluation.
//!
//! A [`RuleSet`] is parsed once (syntax, ids, dispositions, conditions). It is then compiled
//! against each questionnaire: names resolve to slot indices and every comparison is
//! type-checked, so evaluation is a walk over small trees reading typed slots. Against the
//! questionnaire the file declares (`questionnaire = "intake"`) compilation is strict: every
//! name must exist. Against any other questionnaire (the follow-up) a name it does not ask about
//! is read from the standing facts the caller passes in (the declared questionnaire's answers
//! that do not change, see [`super::standing`]) or is simply unknown. Either way a rule is kept
//! for a questionnaire only when its condition reads at least one thing that questionnaire
//! asked, so a follow-up never fires a rule on standing facts alone.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::answers::Slot;
use super::condition::{self, Ast, CompareOp, Literal, TestAst};
use super::facts::{Fact, FactType};
use super::questionnaire::{Cmp, Kind, Questionnaire, digest};
use super::standing;

/// The embedded default rule set v2 (rules-v2.md, "Rule changes").
pub const EMBEDDED_RULES: &str = include_str!("content/rules-v2.toml");
/// The name under which [`EMBEDDED_RULES`] appears in messages.
pub const EMBEDDED_RULES_FILE: &str = "embedded:rules-v2.toml";
/// The embedded rule set v1 (intake-v1.md, "Rule set v1"), kept so that the submissions it
/// judged can still be explained by it.
pub const EMBEDDED_RULES_V1: &str = include_str!("content/rules-v1.toml");
/// The name under which [`EMBEDDED_RULES_V1`] appears in messages.
pub const EMBEDDED_RULES_V1_FILE: &str = "embedded:rules-v1.toml";

/// How urgently a patient needs medical care. Ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// No rule fired: book as usual.
    #[default]
    Routine,
    /// Booking allowed; a practitioner reviews before the first visit.
    Review,
    /// See a doctor within 24 hours; no booking until a practitioner clears it.
    Urgent,
    /// Go to an emergency department now; online booking blocked; practitioners alerted.
    Emergency,
}

impl Disposition {
    /// From least to most severe.
    pub const ALL: [Disposition; 4] = [
        Disposition::Routine,
        Disposition::Review,
        Disposition::Urgent,
        Disposition::Emergency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Routine => "routine",
            Self::Review => "review",
            Self::Urgent => "urgent",
            Self::Emergency => "emergency",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|disposition| disposition.as_str() == name)
    }

    /// Whether the patient may not book online until a practitioner clears the case.
    pub fn blocks_online_booking(self) -> bool {
        self >= Self::Urgent
    }

    /// Whether the submission enters the practitioners' review queue.
    pub fn needs_review(self) -> bool {
        self >= Self::Review
    }

    /// Whether practitioners are alerted at once (through the outbox).
    pub fn alerts_practitioners(self) -> bool {
        self >= Self::Urgent
    }

    /// The rank the review queue orders by, most severe highest: 0 routine, 1 review,
    /// 2 urgent, 3 emergency (the numbers stored with a submission, so they never change).
    pub fn severity(self) -> u8 {
        match self {
            Self::Routine => 0,
            Self::Review => 1,
            Self::Urgent => 2,
            Self::Emergency => 3,
        }
    }
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Patient-facing advice for one disposition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispositionAdvice {
    pub headline: String,
    /// Paragraphs, in order.
    #[serde(default)]
    pub text: Vec<String>,
}

/// One rule as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: String,
    pub category: String,
    pub disposition: Disposition,
    /// The condition, as written.
    pub condition: String,
    /// For clinicians only; never shown to patients.
    pub rationale: String,
    pub source: String,
    /// One patient-facing line, shown when the rule decides the disposition.
    pub advice: Option<String>,
}

/// One thing wrong with a rule file; names the rule when it is about one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub rule_id: Option<String>,
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule_id {
            Some(id) => write!(f, "rule {id}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a rule file could not be loaded. Meant to stop startup with a clear message.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    #[error("{file}: not a valid rule file: {source}")]
    Toml {
        file: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{file}: the rule set is invalid:\n  - {}", join(problems))]
    Invalid {
        file: String,
        problems: Vec<RuleProblem>,
    },
    #[error("{file}: the rules are written for questionnaire {id:?}, which is not loaded")]
    UnknownQuestionnaire { file: String, id: String },
}

fn join(problems: &[RuleProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  - ")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    questionnaire: String,
    #[serde(default)]
    title: Option<String>,
    advice: RawAdvice,
    /// Advice for one questionnaire (by id) that replaces `advice` there, disposition by
    /// disposition; absent in v1-format files.
    #[serde(default)]
    questionnaire_advice: BTreeMap<String, AdviceOverrides>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdvice {
    emergency: DispositionAdvice,
    urgent: DispositionAdvice,
    review: DispositionAdvice,
    routine: DispositionAdvice,
}

/// The dispositions whose advice one questionnaire replaces; the others keep the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdviceOverrides {
    emergency: Option<DispositionAdvice>,
    urgent: Option<DispositionAdvice>,
    review: Option<DispositionAdvice>,
    routine: Option<DispositionAdvice>,
}

impl AdviceOverrides {
    fn get(&self, disposition: Disposition) -> Option<&DispositionAdvice> {
        match disposition {
            Disposition::Emergency => self.emergency.as_ref(),
            Disposition::Urgent => self.urgent.as_ref(),
            Disposition::Review => self.review.as_ref(),
            Disposition::Routine => self.routine.as_ref(),
        }
    }
}

/// Fields are optional here so that a missing one is reported with the rule's id.
#[derive(Deserialize)]
struct RawRule {
    id: Option<String>,
    category: Option<String>,
    disposition: Option<String>,
    when: Option<String>,
    rationale: Option<String>,
    source: Option<String>,
    advice: Option<String>,
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

/// A parsed and checked rule file (not yet bound to a questionnaire).
#[derive(Debug, Clone)]
pub struct RuleSet {
    name: String,
    title: Option<String>,
    version: String,
    questionnaire: String,
    rules: Vec<Rule>,
    conditions: Vec<Ast>,
    advice: AdviceSet,
    questionnaire_advice: BTreeMap<String, AdviceOverrides>,
}

/// The advice of each disposition.
#[derive(Debug, Clone)]
struct AdviceSet {
    emergency: DispositionAdvice,
    urgent: DispositionAdvice,
    review: DispositionAdvice,
    routine: DispositionAdvice,
}

impl RuleSet {
    /// The embedded default rule set v2.
    pub fn embedded() -> Result<Self, RuleSetError> {
        Self::parse(EMBEDDED_RULES_FILE, EMBEDDED_RULES)
    }

    /// The embedded rule set v1, to explain the submissions it judged.
    pub fn embedded_v1() -> Result<Self, RuleSetError> {
        Self::parse(EMBEDDED_RULES_V1_FILE, EMBEDDED_RULES_V1)
    }

    /// Every embedded rule set, newest first: a stored `rule_set_version` names the one that
    /// judged it (compare with [`RuleSet::version`]).
    pub fn embedded_all() -> Result<Vec<Self>, RuleSetError> {
        Ok(vec![Self::embedded()?, Self::embedded_v1()?])
    }

    /// Parses a rule file read by the caller; `file` names it in error messages. Checks
    /// everything that does not depend on a questionnaire: fields, ids, dispositions and
    /// condition syntax. Every problem is reported at once.
    pub fn parse(file: &str, toml_text: &str) -> Result<Self, RuleSetError> {
        let raw: RawFile = toml::from_str(toml_text).map_err(|source| RuleSetError::Toml {
            file: file.to_owned(),
            source,
        })?;
        let mut problems = Vec::new();
        let name = raw.name.trim().to_owned();
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('+') {
            problems.push(RuleProblem {
                rule_id: None,
                message: "name must be a non-empty word without spaces or '+'".into(),
            });
        }
        let advice = AdviceSet {
            emergency: raw.advice.emergency,
            urgent: raw.advice.urgent,
            review: raw.advice.review,
            routine: raw.advice.routine,
        };
        for disposition in Disposition::ALL {
            let mut headlines = vec![(String::from("advice"), Some(advice.get(disposition)))];
            headlines.extend(raw.questionnaire_advice.iter().map(|(id, overrides)| {
                (
                    format!("questionnaire_advice.{id}"),
                    overrides.get(disposition),
                )
            }));
            for (table, given) in headlines {
                if given.is_some_and(|advice| advice.headline.trim().is_empty()) {
                    problems.push(RuleProblem {
                        rule_id: None,
                        message: format!("{table}.{disposition} needs a headline"),
                    });
                }
            }
        }
        let mut rules = Vec::with_capacity(raw.rule.len());
        let mut conditions = Vec::with_capacity(raw.rule.len());
        let mut ids = BTreeSet::new();
        for (position, entry) in raw.rule.into_iter().enumerate() {
            if let Some((rule, ast)) = check_rule(position, entry, &mut ids, &mut problems) {
                rules.push(rule);
                conditions.push(ast);
            }
        }
        if !problems.is_empty() {
            return Err(RuleSetError::Invalid {
                file: file.to_owned(),
                problems,
            });
        }
        Ok(Self {
            version: format!("{name}+{}", digest(toml_text.as_bytes())),
            name,
            title: raw.title,
            questionnaire: raw.questionnaire,
            rules,
            conditions,
            advice,
            questionnaire_advice: raw.questionnaire_advice,
        })
    }

    /// The declared name, such as `v1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// Declared name plus content hash, such as `v1+sha256:1a2b3c4d5e6f`; stored with every
    /// decision so it can be explained later, even after the file changed.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The questionnaire the rules are written for and strictly checked against.
    pub fn questionnaire_id(&self) -> &str {
        &self.questionnaire
    }

    /// All rules in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The default advice of `disposition` (what an intake shows).
    pub fn advice(&self, disposition: Disposition) -> &DispositionAdvice {
        self.advice.get(disposition)
    }

    /// The advice of `disposition` after questionnaire `questionnaire_id`: its own from
    /// `[questionnaire_advice.<id>.<disposition>]` if the file gives one, else the default.
    pub fn advice_for(
        &self,
        questionnaire_id: &str,
        disposition: Disposition,
    ) -> &DispositionAdvice {
        self.questionnaire_advice
            .get(questionnaire_id)
            .and_then(|overrides| overrides.get(disposition))
            .unwrap_or_else(|| self.advice(disposition))
    }

    /// The questionnaires the file gives advice of their own for.
    pub fn advised_questionnaires(&self) -> impl Iterator<Item = &str> {
        self.questionnaire_advice.keys().map(String::as_str)
    }

    /// Binds the rules to one questionnaire. `standing`: `None` for the questionnaire the file
    /// is written for, where every name must exist; otherwise that questionnaire, whose
    /// standing facts fill in names this one does not ask, and other names it lacks are
    /// unknown. Rules reading nothing this questionnaire asked are left out.
    pub(crate) fn compile(
        &self,
        questionnaire: &Questionnaire,
        standing: Option<&Questionnaire>,
    ) -> Result<CompiledRules, Vec<RuleProblem>> {
        let strict = standing.is_none();
        let scope = Scope {
            questionnaire,
            standing,
        };
        let mut problems = Vec::new();
        let mut compiled = Vec::with_capacity(self.rules.len());
        for (index, (rule, ast)) in self.rules.iter().zip(&self.conditions).enumerate() {
            let mut messages = Vec::new();
            let mut asked = false;
            let expr = scope.compile(ast, &mut messages, &mut asked);
            if messages.is_empty() && asked {
                compiled.push((index, expr));
            }
            let context = if strict {
                String::new()
            } else {
                format!(", checked against questionnaire {}", questionnaire.id())
            };
            problems.extend(messages.into_iter().map(|message| RuleProblem {
                rule_id: Some(rule.id.clone()),
                message: format!("{message} (condition: {}{context})", rule.condition),
            }));
        }
        if problems.is_empty() {
            Ok(CompiledRules { rules: compiled })
        } else {
            Err(problems)
        }
    }
}

impl AdviceSet {
    fn get(&self, disposition: Disposition) -> &DispositionAdvice {
        match disposition {
            Disposition::Emergency => &self.emergency,
            Disposition::Urgent => &self.urgent,
            Disposition::Review => &self.review,
            Disposition::Routine => &self.routine,
        }
    }
}

fn check_rule(
    position: usize,
    entry: RawRule,
    ids: &mut BTreeSet<String>,
    problems: &mut Vec<RuleProblem>,
) -> Option<(Rule, Ast)> {
    let label = entry
        .id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| format!("#{} (no id)", position + 1));
    let mut problem = |message: String| {
        problems.push(RuleProblem {
            rule_id: Some(label.clone()),
            message,
        });
    };
    for key in entry.unknown.keys() {
        problem(format!("unknown key {key:?}"));
    }
    let mut field = |value: Option<String>, name: &str| match value {
        Some(value) if !value.trim().is_empty() => Some(value),
        _ => {
            problem(format!("{name} is missing or empty"));
            None
        }
    };
    let id = field(entry.id, "id");
    let category = field(entry.category, "category");
    let disposition_name = field(entry.disposition, "disposition");
    let when = field(entry.when, "when");
    let rationale = field(entry.rationale, "rationale");
    let source = field(entry.source, "source");
    if let Some(id) = &id {
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            problem("id may contain only letters, digits, '_' and '-'".into());
        }
        if !ids.insert(id.clone()) {
            problem("this id is used by an earlier rule too".into());
        }
    }
    let disposition = disposition_name.as_deref().and_then(|name| {
        let found = Disposition::from_name(name);
        if found.is_none() {
            problem(format!(
                "unknown disposition {name:?}; expected emergency, urgent, review or routine"
            ));
        }
        found
    });
    if disposition == Some(Disposition::Routine) {
        problem(
            "a rule cannot have disposition routine: routine is what no rule firing means".into(),
        );
    }
    if entry
        .advice
        .as_deref()
        .is_some_and(|advice| advice.trim().is_empty())
    {
        problem("advice is empty; leave it out instead".into());
    }
    let ast = when
        .as_deref()
        .and_then(|text| match condition::parse(text) {
            Ok(ast) => Some(ast),
            Err(error) => {
                problem(format!(
                    "condition {text:?}, column {}: {}",
                    error.column, error.message
                ));
                None
            }
        });
    let rule = Rule {
        id: id?,
        category: category?,
        disposition: disposition.filter(|d| *d != Disposition::Routine)?,
        condition: when?,
        rationale: rationale?,
        source: source?,
        advice: entry.advice,
    };
    Some((rule, ast?))
}

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

/// A rule condition bound to one questionnaire's slots.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    All(Box<[Expr]>),
    Any(Box<[Expr]>),
    Not(Box<Expr>),
    Test(Test),
    /// Names something this questionnaire does not ask.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Test {
    Bool {
        slot: usize,
        value: bool,
    },
    Int {
        slot: usize,
        cmp: Cmp,
        value: i64,
    },
    Dec {
        slot: usize,
        cmp: Cmp,
        value: f64,
    },
    /// A single choice is one of the options in `mask` (or, negated, none of them).
    OneOf {
        slot: usize,
        mask: u64,
        negate: bool,
    },
    /// A multiple choice includes the option in `mask`.
    Contains {
        slot: usize,
        mask: u64,
    },
}

/// Three-valued (Kleene) truth: a condition over an unanswered or not-asked question is
/// unknown, and a rule fires only when its condition is established as true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truth {
    False,
    Unknown,
    True,
}

impl From<bool> for Truth {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

impl Expr {
    pub(crate) fn eval(&self, slots: &[Slot]) -> Truth {
        match self {
            Self::All(terms) => {
                let mut result = Truth::True;
                for term in terms.iter() {
                    match term.eval(slots) {
                        Truth::False => return Truth::False,
                        Truth::Unknown => result = Truth::Unknown,
                        Truth::True => {}
                    }
                }
                result
            }
            Self::Any(terms) => {
                let mut result = Truth::False;
                for term in terms.iter() {
                    match term.eval(slots) {
                        Truth::True => return Truth::True,
                        Truth::Unknown => result = Truth::Unknown,
                        Truth::False => {}
                    }
                }
                result
            }
            Self::Not(inner) => match inner.eval(slots) {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Unknown => Truth::Unknown,
            },
            Self::Test(test) => test.eval(slots),
            Self::Unknown => Truth::Unknown,
        }
    }
}

impl Test {
    fn eval(self, slots: &[Slot]) -> Truth {
        let slot = |index: usize| slots.get(index).copied().unwrap_or(Slot::Absent);
        match self {
            Self::Bool { slot: index, value } => match slot(index) {
                Slot::Bool(answer) => Truth::from(answer == value),
                _ => Truth::Unknown,
            },
            Self::Int {
                slot: index,
                cmp,
                value,
            } => match slot(index) {
                Slot::Int(answer) => Truth::from(cmp.holds(answer, value)),
                _ => Truth::Unknown,
            },
            Self::Dec {
                slot: index,
                cmp,
                value,
            } => match slot(index) {
                Slot::Dec(answer) => Truth::from(cmp.holds(answer, value)),
                // Integer questions may be compared with decimals through facts.
                Slot::Int(answer) => Truth::from(cmp.holds(answer as f64, value)),
                _ => Truth::Unknown,
            },
            Self::OneOf {
                slot: index,
                mask,
                negate,
            } => match slot(index) {
                Slot::Code(code) => {
                    let member = mask.checked_shr(u32::from(code)).unwrap_or(0) & 1 == 1;
                    Truth::from(member != negate)
                }
                _ => Truth::Unknown,
            },
            Self::Contains { slot: index, mask } => match slot(index) {
                Slot::Codes(set) => Truth::from(set & mask != 0),
                _ => Truth::Unknown,
            },
        }
    }
}

/// The rules bound to one questionnaire: `(rule index, condition)`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CompiledRules {
    rules: Vec<(usize, Expr)>,
}

impl CompiledRules {
    /// Indices (into [`RuleSet::rules`]) of the rules whose condition is true.
    pub(crate) fn fired<'a>(&'a self, slots: &'a [Slot]) -> impl Iterator<Item = usize> + 'a {
        self.rules
            .iter()
            .filter(|(_, expr)| expr.eval(slots) == Truth::True)
            .map(|(index, _)| *index)
    }
}

/// What a name in a condition refers to, with the type the compiler checks against.
enum Operand<'a> {
    Item {
        slot: usize,
        kind: &'a Kind,
        required: bool,
    },
    Fact {
        slot: usize,
        ty: FactType,
    },
}

/// Option codes of an item or a fact.
#[derive(Clone, Copy)]
enum Codes<'a> {
    Item(&'a [Box<str>]),
    Fact(&'static [&'static str]),
}

impl Codes<'_> {
    fn index(self, code: &str) -> Option<usize> {
        match self {
            Self::Item(codes) => codes.iter().position(|known| &**known == code),
            Self::Fact(codes) => codes.iter().position(|known| *known == code),
        }
    }

    fn list(self) -> String {
        match self {
            Self::Item(codes) => codes
                .iter()
                .map(|code| &**code)
                .collect::<Vec<_>>()
                .join(", "),
            Self::Fact(codes) => codes.join(", "),
        }
    }
}

/// The type of an operand, unified over items and facts.
enum Type<'a> {
    Boolean,
    Integer { min: Option<i64>, max: Option<i64> },
    Decimal { min: Option<f64>, max: Option<f64> },
    Choice { codes: Codes<'a>, repeats: bool },
    Date,
    Text,
    NotQuestion,
}

impl Operand<'_> {
    fn slot(&self) -> usize {
        match self {
            Self::Item { slot, .. } | Self::Fact { slot, .. } => *slot,
        }
    }

    fn ty(&self) -> Type<'_> {
        match self {
            Self::Item { kind, .. } => match kind {
                Kind::Group | Kind::Display => Type::NotQuestion,
                Kind::Boolean => Type::Boolean,
                Kind::Integer { min, max } => Type::Integer {
                    min: *min,
                    max: *max,
                },
                Kind::Decimal { min, max } => Type::Decimal {
                    min: *min,
                    max: *max,
                },
                Kind::Date { .. } => Type::Date,
                Kind::Text { .. } => Type::Text,
                Kind::Choice { codes, repeats } => Type::Choice {
                    codes: Codes::Item(codes),
                    repeats: *repeats,
                },
            },
            Self::Fact { ty, .. } => match ty {
                FactType::Boolean => Type::Boolean,
                FactType::Integer { min, max } => Type::Integer {
                    min: *min,
                    max: *max,
                },
                FactType::Decimal { min, max } => Type::Decimal {
                    min: Some(*min),
                    max: Some(*max),
                },
                FactType::Choice(codes) => Type::Choice {
                    codes: Codes::Fact(codes),
                    repeats: false,
                },
            },
        }
    }
}

fn cmp_of(op: CompareOp) -> Cmp {
    match op {
        CompareOp::Eq => Cmp::Eq,
        CompareOp::Ne => Cmp::Ne,
        CompareOp::Lt => Cmp::Lt,
        CompareOp::Le => Cmp::Le,
        CompareOp::Gt => Cmp::Gt,
        CompareOp::Ge => Cmp::Ge,
    }
}

struct Scope<'a> {
    questionnaire: &'a Questionnaire,
    /// The questionnaire standing facts are typed by; `None` when compiling strictly.
    standing: Option<&'a Questionnaire>,
}

impl<'a> Scope<'a> {
    /// `asked` is set when the condition reads something this questionnaire asked.
    fn compile(&self, ast: &Ast, problems: &mut Vec<String>, asked: &mut bool) -> Expr {
        let mut terms = |terms: &[Ast]| -> Box<[Expr]> {
            terms
                .iter()
                .map(|term| self.compile(term, problems, asked))
                .collect()
        };
        match ast {
            Ast::And(list) => Expr::All(terms(list)),
            Ast::Or(list) => Expr::Any(terms(list)),
            Ast::Not(inner) => Expr::Not(Box::new(self.compile(inner, problems, asked))),
            Ast::Test { name, column, test } => match self.resolve(name) {
                Some((operand, from_answers)) => {
                    match compile_test(name, &operand, test.as_ref()) {
                        Ok(test) => {
                            *asked |= from_answers;
                            if let Operand::Item {
                                required: false, ..
                            } = operand
                            {
                                problems.push(optional_message(name, self.questionnaire.id()));
                            }
                            Expr::Test(test)
                        }
                        Err(message) => {
                            problems.push(format!("column {column}: {message}"));
                            Expr::Unknown
                        }
                    }
                }
                None if self.standing.is_none() => {
                    problems.push(format!(
                        "column {column}: unknown name {name:?}: questionnaire {} has no such \
                         question and there is no such derived fact",
                        self.questionnaire.id()
                    ));
                    Expr::Unknown
                }
                None => Expr::Unknown,
            },
        }
    }

    /// What `name` refers to, and whether it is (computed from) an answer to this
    /// questionnaire rather than a standing fact.
    fn resolve(&self, name: &str) -> Option<(Operand<'a>, bool)> {
        let form = &self.questionnaire.form;
        if let Some((slot, item)) = form.item(name) {
            let operand = Operand::Item {
                slot,
                kind: &item.kind,
                required: item.required,
            };
            return Some((operand, true));
        }
        if let Some(fact) = Fact::from_name(name) {
            let operand = Operand::Fact {
                slot: form.items.len() + fact.offset(),
                ty: fact.value_type(),
            };
            return Some((operand, self.questionnaire.facts.has_inputs(fact)));
        }
        let position = standing::position(name)?;
        let (_, item) = self.standing?.form.item(name)?;
        let operand = Operand::Item {
            slot: standing::slot(form.items.len(), position),
            kind: &item.kind,
            required: item.required,
        };
        Some((operand, false))
    }
}

fn optional_message(name: &str, questionnaire_id: &str) -> String {
    let hint = if name.starts_with("odi_") {
        "; read the Oswestry score through odi_percent or odi_band, computed from the sections \
         answered"
    } else {
        ""
    };
    format!(
        "it reads {name}, which is optional in questionnaire {questionnaire_id}; every question a \
         rule reads must be required, because an unanswered question is never taken as \"no\"{hint}"
    )
}

fn describe(ty: &Type<'_>) -> &'static str {
    match ty {
        Type::Boolean => "a yes/no question",
        Type::Integer { .. } => "a whole number",
        Type::Decimal { .. } => "a number",
        Type::Choice { repeats: false, .. } => "a single choice",
        Type::Choice { repeats: true, .. } => "a multiple choice",
        Type::Date => "a date",
        Type::Text => "free text",
        Type::NotQuestion => "a heading or display text, not a question",
    }
}

fn compile_test(name: &str, operand: &Operand<'_>, test: Option<&TestAst>) -> Result<Test, String> {
    let slot = operand.slot();
    let ty = operand.ty();
    match (&ty, test) {
        (Type::Date, _) => {
            return Err(format!(
                "{name} is a date; compare derived facts such as age or symptom_days instead"
            ));
        }
        (Type::Text, _) => return Err(format!("{name} is free text, which rules never read")),
        (Type::NotQuestion, _) => return Err(format!("{name} is {}", describe(&ty))),
        _ => {}
    }
    let Some(test) = test else {
        return match ty {
            Type::Boolean => Ok(Test::Bool { slot, value: true }),
            _ => Err(format!(
                "{name} is {}; a bare name only works for yes/no questions, so compare it \
                 (for example {name} = …)",
                describe(&ty)
            )),
        };
    };
    match (ty, test) {
        (
            Type::Boolean,
            TestAst::Compare(op @ (CompareOp::Eq | CompareOp::Ne), Literal::Bool(value)),
        ) => Ok(Test::Bool {
            slot,
            value: *value == (*op == CompareOp::Eq),
        }),
        (Type::Boolean, _) => Err(format!(
            "{name} is a yes/no question: use {name}, not {name}, {name} = true or {name} = false"
        )),
        (Type::Integer { min, max }, TestAst::Compare(op, Literal::Int(value))) => {
            check_range(
                name,
                *value as f64,
                min.map(|v| v as f64),
                max.map(|v| v as f64),
            )?;
            Ok(Test::Int {
                slot,
                cmp: cmp_of(*op),
                value: *value,
            })
        }
        (Type::Integer { .. }, TestAst::Compare(_, Literal::Dec(_))) => Err(format!(
            "{name} is a whole number; compare it with a whole number"
        )),
        (
            Type::Decimal { min, max },
            TestAst::Compare(op, literal @ (Literal::Int(_) | Literal::Dec(_))),
        ) => {
            let value = match literal {
                Literal::Int(value) => *value as f64,
                Literal::Dec(value) => *value,
                _ => 0.0,
            };
            check_range(name, value, min, max)?;
            Ok(Test::Dec {
                slot,
                cmp: cmp_of(*op),
                value,
            })
        }
        (
            Type::Choice {
                codes,
                repeats: false,
            },
            TestAst::Compare(op @ (CompareOp::Eq | CompareOp::Ne), literal),
        ) => Ok(Test::OneOf {
            slot,
            mask: code_mask(name, codes, std::slice::from_ref(literal))?,
            negate: *op == CompareOp::Ne,
        }),
        (
            Type::Choice {
                codes,
                repeats: false,
            },
            TestAst::In(literals),
        ) => Ok(Test::OneOf {
            slot,
            mask: code_mask(name, codes, literals)?,
            negate: false,
        }),
        (Type::Choice { repeats: false, .. }, _) => Err(format!(
            "{name} is a single choice: use =, ≠ or ∈ {{…}} with its option codes"
        )),
        (
            Type::Choice {
                codes,
                repeats: true,
            },
            TestAst::Contains(literal),
        ) => Ok(Test::Contains {
            slot,
            mask: code_mask(name, codes, std::slice::from_ref(literal))?,
        }),
        (Type::Choice { repeats: true, .. }, _) => Err(format!(
            "{name} allows several answers: use {name} contains <code>"
        )),
        (ty, _) => Err(format!(
            "{name} is {}: use =, ≠, <, ≤, > or ≥ with a number",
            describe(&ty)
        )),
    }
}

/// A literal outside the answer range makes the comparison constant: almost surely a typo.
fn check_range(name: &str, value: f64, min: Option<f64>, max: Option<f64>) -> Result<(), String> {
    if min.is_some_and(|min| value < min) || max.is_some_and(|max| value > max) {
        let bound = |bound: Option<f64>| bound.map_or("…".to_owned(), |b| b.to_string());
        return Err(format!(
            "{value} is outside the range of {name} ({} to {})",
            bound(min),
            bound(max)
        ));
    }
    Ok(())
}

fn code_mask(name: &str, codes: Codes<'_>, literals: &[Literal]) -> Result<u64, String> {
    let mut mask = 0u64;
    for literal in literals {
        let Literal::Code(code) = literal else {
            return Err(format!(
                "{literal} is not an option of {name}; its options are {}",
                codes.list()
            ));
        };
        let index = codes.index(code).ok_or_else(|| {
            format!(
                "{code:?} is not an option of {name}; its options are {}",
                codes.list()
            )
        })?;
        mask |= 1u64
            .checked_shl(u32::try_from(index).unwrap_or(u32::MAX))
            .unwrap_or(0);
    }
    Ok(mask)
}
