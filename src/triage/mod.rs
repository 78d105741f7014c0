//! Triage, the clinical core: questionnaires, answer validation, instrument scoring, derived
//! facts and red-flag rules, turning a patient's answers into a safe, explained disposition.
//!
//! Pure: no database, clock, network or filesystem. The caller reads files and passes their
//! contents, and passes the clinic's local date (`today`) in, so every result is reproducible.
//! The clinical content is specified in `shared/clinical/` (intake-v1.md, rules-v2.md,
//! instruments.md); its linkIds and rule ids are a contract.
//!
//! # Versions
//!
//! The embedded defaults are intake and follow-up questionnaires version `2` and rule set `v2`
//! ([`Triage::embedded`], [`QuestionnaireSet::embedded`], [`RuleSet::embedded`]). Version 1 of
//! each stays embedded and loadable ([`Triage::embedded_v1`], [`QuestionnaireSet::embedded_v1`],
//! [`RuleSet::embedded_v1`]), so a stored submission can be explained by the versions that
//! judged it: every [`Evaluation`] names its questionnaire version and digest and its rule set
//! version (`v2+sha256:…`).
//!
//! # Using it
//!
//! ```
//! use chrono::NaiveDate;
//! use lumbar::triage::{QuestionnaireSet, Triage, RuleSet, Disposition};
//!
//! // Startup: embedded defaults, optionally overridden by the clinic's files.
//! let files: Vec<(String, String)> = Vec::new(); // (file name, contents) read by the caller
//! let questionnaires = QuestionnaireSet::embedded()?.with_files(files)?;
//! let triage = Triage::new(questionnaires, RuleSet::embedded()?)?;
//!
//! // Per request.
//! let answers = serde_json::Map::new();
//! let today = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap_or_default();
//! match triage.evaluate("intake", &answers, today) {
//!     Ok(evaluation) => assert!(evaluation.disposition >= Disposition::Routine),
//!     Err(error) => assert!(!error.answer_errors().is_empty()), // every problem, per linkId
//! }
//!
//! // A follow-up, with the standing facts of the patient's latest intake and record.
//! # let latest_intake_answers = serde_json::Map::new();
//! let mut raw = lumbar::triage::standing_answers(&latest_intake_answers);
//! raw.insert("date_of_birth".into(), "1960-02-29".into()); // from the patient record
//! let standing = triage
//!     .standing_facts(&raw, today)
//!     .map_err(|errors| format!("{} refused standing fact(s)", errors.len()))?;
//! let follow_up = serde_json::Map::new();
//! let _ = triage.evaluate_follow_up(&follow_up, &standing, today);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Questionnaires
//!
//! JSON files shaped like a FHIR R4 `Questionnaire` (see [`questionnaire`] for the subset and
//! the extensions: `minValue`/`maxValue`, and `urn:lumbar:fhir:` extensions for dates not after
//! today, plausible birth dates, consents, safety questions and scale labels). Answers are a
//! JSON map `linkId -> value` (see [`answers`] for the value shapes).
//!
//! # Rule files
//!
//! TOML. `name` (declared version, such as `v2`), `questionnaire` (the id the rules are written
//! for), `[advice.<disposition>]` with a `headline` and `text` paragraphs for each of
//! emergency, urgent, review and routine, optionally `[questionnaire_advice.<id>.<disposition>]`
//! tables, and one `[[rule]]` table per rule.
//!
//! `questionnaire_advice` (new with v2; files without it, in the v1 format, load as before)
//! replaces the advice after one other questionnaire, disposition by disposition, with the same
//! `headline` and `text`; a disposition it leaves out keeps `[advice.<disposition>]`. The
//! embedded v2 uses it so that a follow-up's advice speaks of care already under way (the next
//! visit, the treatment paused) instead of a first visit. The id must be a loaded questionnaire.
//!
//! ```toml
//! [questionnaire_advice.follow-up.routine]
//! headline = "Thank you; your care carries on as planned"
//! text = ["Keep up the exercises agreed with your practitioner."]
//! ```
//!
//! A rule:
//!
//! ```toml
//! [[rule]]
//! id = "CES_BILATERAL_NEURO"
//! disposition = "emergency"           # emergency | urgent | review
//! category = "cauda equina"
//! when = "leg_symptoms = both_legs and (leg_numbness or leg_weakness ≠ none)"
//! rationale = "For clinicians only: why this matters."
//! source = "Community red flags 2023; Eur Spine J 2011"
//! advice = "Optional patient-facing line shown when this rule decides the disposition."
//! ```
//!
//! ## The condition language (`when`)
//!
//! Written to read like the clinical tables, so a clinician can check a rule against its
//! source. Names are questionnaire linkIds or derived facts (`age`, `age_at_onset`,
//! `symptom_days`, `thoracic_pain`, `neck_pain`, `buttock_pain`, `sbt_total`,
//! `sbt_psychosocial`, `sbt_risk`, `odi_percent`, `odi_band`, `ng65_count`). Ages are completed
//! years; someone born on 29 February completes a year on 1 March in common years.
//!
//! | form | meaning | applies to |
//! |---|---|---|
//! | `saddle_numbness` | answered yes | yes/no questions, boolean facts |
//! | `first_episode = false` | answered no (`!=` too) | yes/no |
//! | `age >= 50`, `age ≥ 50` | comparison: `=` `!=`/`≠` `<` `<=`/`≤` `>` `>=`/`≥` | numbers |
//! | `leg_weakness ≠ none` | option code (bare, or quoted `"…"`) | single choice |
//! | `onset_cause ∈ {lifting, minor_fall}` or `in {…}` | one of the options | single choice |
//! | `pain_areas contains neck` | the option is among the answers | multiple choice |
//! | `a and b and c`, `a or b`, `not a`, `( … )` | logic | conditions |
//!
//! Mixing `and` and `or` at one level without parentheses is refused: precedence rules are
//! where a clinical reading and a parser's reading differ. Dates and free text cannot be
//! compared (use `age`, `symptom_days`; free text is never read by rules).
//!
//! Loading checks every rule against the questionnaire and names the rule in each error:
//! unknown names, comparisons of the wrong type, unknown option codes, numbers outside an
//! item's range, duplicate ids, unknown dispositions, and questions that are optional (a rule
//! may read only required questions, because an unanswered question is never read as "no").
//! From intake v2 every Oswestry section (`odi_1` … `odi_10`) is optional, so a rule reads the
//! instrument through `odi_percent` and `odi_band`, which are computed from the sections
//! answered; no embedded rule reads a section.
//!
//! ## Oswestry completeness
//!
//! A submission that asks all ten sections needs at least 8 answered; with fewer it is refused,
//! each unanswered section named (code `required`). The percentage is the sum over the answered
//! sections divided by 5 × the number answered, times 100, to two decimals.
//!
//! ## Unanswered and not-asked questions
//!
//! Conditions use three-valued logic: a comparison on a question that has no answer (hidden
//! by `enableWhen`, or not asked by this questionnaire) is *unknown*; `and`, `or` and `not`
//! follow Kleene's rules (`unknown or true` is true, `unknown and false` is false), and a rule
//! fires only when its condition is true. Submitted intakes answer every shown required
//! question, so unknowns come only from hidden items and facts that cannot be computed.
//!
//! ## Follow-ups and standing facts
//!
//! The same rule set triages the follow-up questionnaire (rules-v2.md, "Follow-up
//! questionnaire v2"). What a follow-up does not ask again, the caller passes in as standing
//! facts ([`STANDING_FACTS`]: `date_of_birth`, which gives `age`, `sex`, `cancer_history`,
//! `iv_drug_use`, `immunosuppressed`, `recent_infection_or_procedure`,
//! `recent_spinal_procedure`, `osteoporosis`, `long_term_steroids`, `smoker`): a JSON map like
//! an intake's answers, checked by [`Triage::standing_facts`] against the intake's items. The
//! service builds it with [`standing_answers`] from the latest submitted intake and the record's
//! date of birth. A standing fact that is missing is unknown, so a rule needing it does not
//! fire; a questionnaire's own answer to an item always wins over a standing fact.
//!
//! A rule is applied to a questionnaire only when its condition reads at least one item that
//! questionnaire asked (or a fact computed from one, such as `odi_percent`); standing facts
//! fill in the rest. So at follow-up `unwell_night_sweats` fires SYSTEMIC_UNWELL, MSCC fires for
//! a patient with a cancer history who now reports leg weakness, SEPSIS_KIDNEY cannot fire (it
//! needs `loin_pain`, not asked), and CANCER_HISTORY or INFECTION_RISK, which read only standing
//! facts, do not fire again at every follow-up. Applied at load: a rule that reads nothing a
//! questionnaire asks is not bound to it at all. The evaluation records the standing facts used
//! ([`Evaluation::standing_facts`]).
//!
//! # Disposition and advice
//!
//! The most severe disposition of the fired rules (emergency > urgent > review > routine;
//! routine when none fires). Patient advice is the disposition's advice plus the `advice`
//! lines of the fired rules of that disposition only, so a patient sent to an emergency
//! department does not also read "a practitioner will review your answers". Clinician
//! rationale and sources are in [`Finding`]s, which the patient view never contains.

pub mod answers;
pub mod birth_date;
mod condition;
pub mod facts;
pub mod questionnaire;
mod record;
pub mod review;
pub mod rules;
pub mod scoring;
pub mod standing;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_v2;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The questionnaire every new intake uses.
pub const INTAKE_QUESTIONNAIRE: &str = "intake";
/// The questionnaire emailed after a visit, to follow the outcome.
pub const FOLLOW_UP_QUESTIONNAIRE: &str = "follow-up";

pub use answers::{AnswerError, AnswerErrorCode, Answers, ValidationMode};
pub use facts::{Assessment, DerivedFacts, Fact};
pub use questionnaire::{
    DefinitionProblem, LoadError, Questionnaire, QuestionnaireDefinition, QuestionnaireSet,
};
pub use record::EvaluationRecord;
pub use rules::{Disposition, DispositionAdvice, Rule, RuleProblem, RuleSet, RuleSetError};
pub use scoring::{
    NrsBand, NrsScore, OdiBand, OdiScore, OutcomeChange, Percent, Scores, StartBackRisk,
    StartBackScore, outcome_change,
};
pub use standing::{STANDING_FACTS, StandingFacts, standing_answers};

use answers::{Found, Slot};
use rules::CompiledRules;

/// Why the triage content could not be loaded; startup should stop and print it.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error(transparent)]
    Questionnaire(#[from] LoadError),
    #[error(transparent)]
    Rules(#[from] RuleSetError),
}

/// Why a set of answers could not be validated or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluateError {
    /// No questionnaire with this id is loaded (HTTP 404).
    #[error("there is no questionnaire {0:?}")]
    UnknownQuestionnaire(String),
    /// The answers have problems, every one listed (HTTP 422 with per-linkId errors).
    #[error("{} problem(s) with the answers", .0.len())]
    InvalidAnswers(Vec<AnswerError>),
}

impl EvaluateError {
    /// The per-linkId problems (empty for an unknown questionnaire).
    pub fn answer_errors(&self) -> &[AnswerError] {
        match self {
            Self::InvalidAnswers(errors) => errors,
            Self::UnknownQuestionnaire(_) => &[],
        }
    }
}

/// A fired rule, for clinicians: what fired, why it matters, and where that comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: String,
    pub category: String,
    pub disposition: Disposition,
    pub rationale: String,
    pub source: String,
}

/// What the patient reads. Never contains clinician rationale or sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientAdvice {
    pub headline: String,
    /// The disposition's advice, in order.
    pub paragraphs: Vec<String>,
    /// One line per fired rule of the deciding disposition that has patient advice.
    pub reasons: Vec<String>,
}

/// Emergency answers in a form that is not complete yet ([`Triage::safety_interrupt`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SafetyInterrupt {
    /// The emergency advice, with the fired rules' patient lines.
    pub advice: PatientAdvice,
    /// The emergency rules that fired, for practitioners.
    pub rule_ids: Vec<String>,
}

/// The patient's view of an evaluation: the disposition and advice only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientView {
    pub disposition: Disposition,
    pub advice: PatientAdvice,
}

/// The full result of evaluating one set of answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub questionnaire_id: String,
    pub questionnaire_version: String,
    /// See [`Questionnaire::digest`].
    pub questionnaire_digest: String,
    /// See [`RuleSet::version`].
    pub rule_set_version: String,
    /// The clinic's local date the evaluation was made for.
    pub as_of: NaiveDate,
    pub disposition: Disposition,
    pub scores: Scores,
    pub facts: DerivedFacts,
    /// Fired rules, most severe first, then in rule-file order.
    pub findings: Vec<Finding>,
    pub advice: PatientAdvice,
    /// The standing facts that filled in for what this questionnaire does not ask (a
    /// follow-up's; empty for an intake).
    #[serde(skip_serializing_if = "StandingFacts::is_empty")]
    pub standing_facts: StandingFacts,
}

impl Evaluation {
    /// What a patient may see of this evaluation.
    pub fn patient_view(&self) -> PatientView {
        PatientView {
            disposition: self.disposition,
            advice: self.advice.clone(),
        }
    }
}

struct Entry {
    questionnaire: Questionnaire,
    rules: CompiledRules,
}

/// Questionnaires and a rule set, checked against each other and ready to evaluate.
pub struct Triage {
    entries: Vec<Entry>,
    rules: RuleSet,
    /// Index in `entries` of the questionnaire the rules are written for, which types the
    /// standing facts.
    declared: usize,
}

impl std::fmt::Debug for Triage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triage")
            .field(
                "questionnaires",
                &self
                    .entries
                    .iter()
                    .map(|entry| entry.questionnaire.id())
                    .collect::<Vec<_>>(),
            )
            .field("rule_set_version", &self.rules.version())
            .finish()
    }
}

impl Triage {
    /// The embedded defaults: intake and follow-up v2, rule set v2.
    pub fn embedded() -> Result<Self, TriageError> {
        Self::new(QuestionnaireSet::embedded()?, RuleSet::embedded()?)
    }

    /// The embedded intake and follow-up v1 with rule set v1: what judged the submissions of
    /// v1, to explain them as they were judged.
    pub fn embedded_v1() -> Result<Self, TriageError> {
        Self::new(QuestionnaireSet::embedded_v1()?, RuleSet::embedded_v1()?)
    }

    /// Binds `rules` to every questionnaire: strictly to the one the rule file names, which
    /// must be loaded, and leniently to the others, with that one's standing facts (see the
    /// module documentation).
    pub fn new(questionnaires: QuestionnaireSet, rules: RuleSet) -> Result<Self, TriageError> {
        let file = format!("rule set {}", rules.name());
        let unknown = |id: &str| RuleSetError::UnknownQuestionnaire {
            file: file.clone(),
            id: id.to_owned(),
        };
        if let Some(id) = std::iter::once(rules.questionnaire_id())
            .chain(rules.advised_questionnaires())
            .find(|id| questionnaires.get(id).is_none())
        {
            return Err(unknown(id).into());
        }
        // The declared questionnaire first: its problems are the ones to fix, and the others
        // are only checked for consistency once it passes.
        let (primary, others): (Vec<Questionnaire>, Vec<Questionnaire>) = questionnaires
            .into_questionnaires()
            .partition(|questionnaire| questionnaire.id() == rules.questionnaire_id());
        let invalid = |problems| RuleSetError::Invalid {
            file: file.clone(),
            problems,
        };
        let Some(declared) = primary.into_iter().next() else {
            return Err(unknown(rules.questionnaire_id()).into());
        };
        let compiled = rules.compile(&declared, None).map_err(invalid)?;
        let mut problems = Vec::new();
        let mut entries = Vec::with_capacity(others.len() + 1);
        for questionnaire in others {
            match rules.compile(&questionnaire, Some(&declared)) {
                Ok(compiled) => entries.push(Entry {
                    questionnaire,
                    rules: compiled,
                }),
                Err(found) => problems.extend(found),
            }
        }
        if !problems.is_empty() {
            return Err(invalid(problems).into());
        }
        entries.push(Entry {
            questionnaire: declared,
            rules: compiled,
        });
        entries.sort_by(|a, b| a.questionnaire.id().cmp(b.questionnaire.id()));
        let declared = entries
            .iter()
            .position(|entry| entry.questionnaire.id() == rules.questionnaire_id())
            .unwrap_or_default();
        Ok(Self {
            entries,
            rules,
            declared,
        })
    }

    pub fn questionnaire(&self, id: &str) -> Option<&Questionnaire> {
        self.entry(id).ok().map(|entry| &entry.questionnaire)
    }

    /// All questionnaires, ordered by id.
    pub fn questionnaires(&self) -> impl Iterator<Item = &Questionnaire> {
        self.entries.iter().map(|entry| &entry.questionnaire)
    }

    pub fn rule_set(&self) -> &RuleSet {
        &self.rules
    }

    fn entry(&self, id: &str) -> Result<&Entry, EvaluateError> {
        self.entries
            .iter()
            .find(|entry| entry.questionnaire.id() == id)
            .ok_or_else(|| EvaluateError::UnknownQuestionnaire(id.to_owned()))
    }

    /// Validates answers without evaluating them: [`ValidationMode::Draft`] to save a draft,
    /// [`ValidationMode::Submit`] for the full check.
    pub fn validate(
        &self,
        questionnaire_id: &str,
        answers: &Answers,
        today: NaiveDate,
        mode: ValidationMode,
    ) -> Result<(), EvaluateError> {
        self.entry(questionnaire_id)?
            .questionnaire
            .validate(answers, today, mode)
            .map_err(EvaluateError::InvalidAnswers)
    }

    /// Validates (as a submission), scores, derives facts and applies the rules. For a
    /// questionnaire that leaves facts to standing facts (the follow-up), every standing fact
    /// is unknown; see [`Triage::evaluate_with`].
    pub fn evaluate(
        &self,
        questionnaire_id: &str,
        answers: &Answers,
        today: NaiveDate,
    ) -> Result<Evaluation, EvaluateError> {
        self.evaluate_with(questionnaire_id, answers, &StandingFacts::unknown(), today)
    }

    /// Checks standing facts (a JSON map `linkId -> value`, such as [`standing_answers`] of the
    /// latest intake with the record's `date_of_birth`) against the intake the rules are
    /// written for. Refused values are listed per linkId, as answers are.
    pub fn standing_facts(
        &self,
        raw: &Answers,
        today: NaiveDate,
    ) -> Result<StandingFacts, Vec<AnswerError>> {
        match self.declared_questionnaire() {
            Some(intake) => StandingFacts::check(intake, raw, today),
            None => Ok(StandingFacts::unknown()),
        }
    }

    /// Evaluates a follow-up ([`FOLLOW_UP_QUESTIONNAIRE`]) with the patient's standing facts.
    pub fn evaluate_follow_up(
        &self,
        answers: &Answers,
        standing: &StandingFacts,
        today: NaiveDate,
    ) -> Result<Evaluation, EvaluateError> {
        self.evaluate_with(FOLLOW_UP_QUESTIONNAIRE, answers, standing, today)
    }

    /// [`Triage::evaluate`] with standing facts: they fill in what the questionnaire does not
    /// ask itself (its own answers always win), and a rule is applied only when it reads
    /// something the questionnaire asked.
    pub fn evaluate_with(
        &self,
        questionnaire_id: &str,
        answers: &Answers,
        standing: &StandingFacts,
        today: NaiveDate,
    ) -> Result<Evaluation, EvaluateError> {
        let entry = self.entry(questionnaire_id)?;
        let questionnaire = &entry.questionnaire;
        let (mut slots, mut assessment) = questionnaire
            .read_assessed(answers, today)
            .map_err(EvaluateError::InvalidAnswers)?;
        let standing = standing.used_by(questionnaire);
        let standing_slots = self
            .declared_questionnaire()
            .map_or([Slot::Absent; STANDING_FACTS.len()], |intake| {
                standing.slots(intake, today)
            });
        if !questionnaire.facts.asks_date_of_birth()
            && let Some(Slot::Date(birth)) = standing_slots.first()
        {
            assessment.facts.age = Some(answers::completed_years(*birth, today));
        }
        slots.extend(assessment.fact_slots());
        slots.extend(standing_slots);
        let mut fired: Vec<&Rule> = entry
            .rules
            .fired(&slots)
            .filter_map(|index| self.rules.rules().get(index))
            .collect();
        // Stable: most severe first, file order within a disposition.
        fired.sort_by_key(|rule| std::cmp::Reverse(rule.disposition));
        let disposition = fired
            .first()
            .map_or(Disposition::Routine, |rule| rule.disposition);
        Ok(Evaluation {
            questionnaire_id: questionnaire.id().to_owned(),
            questionnaire_version: questionnaire.version().to_owned(),
            questionnaire_digest: questionnaire.digest().to_owned(),
            rule_set_version: self.rules.version().to_owned(),
            as_of: today,
            disposition,
            scores: assessment.scores,
            facts: assessment.facts,
            advice: self.advice(questionnaire.id(), disposition, &fired),
            findings: fired.iter().map(|rule| finding(rule)).collect(),
            standing_facts: standing,
        })
    }

    /// The safety interrupt of rule set v2: the emergency rules that a partly answered form
    /// (a draft being saved, or a submission refused as incomplete) already fires, with the
    /// emergency advice to show at once. A rule fires when the answers given make its
    /// condition true whatever the rest will be (three-valued logic: every rule whose inputs
    /// are all answered and hold, and one that an answered part settles, such as one side of an
    /// `or`). Answers that do not read, and answers to hidden questions, count as unanswered.
    /// `None` when no emergency rule fires.
    pub fn safety_interrupt(
        &self,
        questionnaire_id: &str,
        answers: &Answers,
        today: NaiveDate,
    ) -> Result<Option<SafetyInterrupt>, EvaluateError> {
        let entry = self.entry(questionnaire_id)?;
        let questionnaire = &entry.questionnaire;
        let capacity = standing::slot(questionnaire.form.items.len(), STANDING_FACTS.len());
        let mut slots = answers::read_partial(&questionnaire.form, answers, today, capacity);
        let assessment = questionnaire.facts.assess(&slots, today);
        slots.extend(assessment.fact_slots());
        slots.extend([Slot::Absent; STANDING_FACTS.len()]);
        let fired: Vec<&Rule> = entry
            .rules
            .fired(&slots)
            .filter_map(|index| self.rules.rules().get(index))
            .filter(|rule| rule.disposition == Disposition::Emergency)
            .collect();
        if fired.is_empty() {
            return Ok(None);
        }
        Ok(Some(SafetyInterrupt {
            advice: self.advice(questionnaire.id(), Disposition::Emergency, &fired),
            rule_ids: fired.iter().map(|rule| rule.id.clone()).collect(),
        }))
    }

    /// Always there (`new` checks it); an `Option` only because `entries` is a list.
    fn declared_questionnaire(&self) -> Option<&Questionnaire> {
        self.entries
            .get(self.declared)
            .map(|entry| &entry.questionnaire)
    }

    fn advice(
        &self,
        questionnaire_id: &str,
        disposition: Disposition,
        fired: &[&Rule],
    ) -> PatientAdvice {
        let base = self.rules.advice_for(questionnaire_id, disposition);
        let mut reasons: Vec<String> = Vec::new();
        for rule in fired.iter().filter(|rule| rule.disposition == disposition) {
            if let Some(line) = &rule.advice
                && !reasons.contains(line)
            {
                reasons.push(line.clone());
            }
        }
        PatientAdvice {
            headline: base.headline.clone(),
            paragraphs: base.text.clone(),
            reasons,
        }
    }
}

fn finding(rule: &Rule) -> Finding {
    Finding {
        rule_id: rule.id.clone(),
        category: rule.category.clone(),
        disposition: rule.disposition,
        rationale: rule.rationale.clone(),
        source: rule.source.clone(),
    }
}

impl Questionnaire {
    /// Checks answers; every problem is reported, in questionnaire order (unknown linkIds
    /// last).
    pub fn validate(
        &self,
        answers: &Answers,
        today: NaiveDate,
        mode: ValidationMode,
    ) -> Result<(), Vec<AnswerError>> {
        self.read(answers, today, mode).map(|_| ())
    }

    /// Validates a submission and computes its scores and derived facts, without rules (for
    /// outcome trends of follow-ups, see [`outcome_change`]).
    pub fn assess(
        &self,
        answers: &Answers,
        today: NaiveDate,
    ) -> Result<Assessment, Vec<AnswerError>> {
        self.read_assessed(answers, today)
            .map(|(_, assessment)| assessment)
    }

    fn read_assessed(
        &self,
        answers: &Answers,
        today: NaiveDate,
    ) -> Result<(Vec<Slot>, Assessment), Vec<AnswerError>> {
        let slots = self.read(answers, today, ValidationMode::Submit)?;
        let assessment = self.facts.assess(&slots, today);
        Ok((slots, assessment))
    }

    fn read(
        &self,
        answers: &Answers,
        today: NaiveDate,
        mode: ValidationMode,
    ) -> Result<Vec<Slot>, Vec<AnswerError>> {
        let capacity = standing::slot(self.form.items.len(), STANDING_FACTS.len());
        let (slots, mut found): (Vec<Slot>, Found) =
            answers::read(&self.form, answers, today, mode, capacity);
        if let Some((index, message)) = self.facts.consistency(&slots)
            && let Some(item) = self.form.items.get(index)
        {
            found.push(
                index,
                &item.link_id,
                AnswerErrorCode::Implausible,
                message.into(),
            );
        }
        if mode == ValidationMode::Submit {
            self.check_odi_completeness(&slots, &mut found);
        }
        found.into_result().map(|()| slots)
    }

    /// Fewer than 8 Oswestry sections answered: each unanswered one is named (unless already
    /// reported, as a required v1 section is).
    fn check_odi_completeness(&self, slots: &[Slot], found: &mut Found) {
        let unanswered = self.facts.unanswered_odi_sections(slots);
        let answered = 10 - unanswered.len();
        for index in unanswered {
            if found.reported(index) {
                continue;
            }
            if let Some(item) = self.form.items.get(index) {
                found.push(
                    index,
                    &item.link_id,
                    AnswerErrorCode::Required,
                    format!(
                        "Please answer at least {} of the 10 everyday-activity sections \
                         ({answered} answered); this one is unanswered.",
                        scoring::ODI_MIN_SECTIONS
                    ),
                );
            }
        }
    }
}

/// The intake yes/no items (v1's, all in v2 too) that a routine intake answers "no" (red flags
/// and their look-alikes; consents excluded): one list for the sample answers of tests,
/// benchmarks and the demo clinic. `recent_spinal_procedure` is not among them: a "no" to
/// `recent_infection_or_procedure` hides it.
pub const ROUTINE_NO_ITEMS: [&str; 35] = [
    "foot_drop",
    "new_walking_difficulty",
    "night_pain_no_relief",
    "constant_pain",
    "pain_worse_straining",
    "loin_pain",
    "saddle_numbness",
    "bladder_change",
    "urinary_retention",
    "bowel_control_loss",
    "sexual_function_change",
    "fever_chills",
    "unwell_night_sweats",
    "cancer_history",
    "unexplained_weight_loss",
    "iv_drug_use",
    "immunosuppressed",
    "recent_infection_or_procedure",
    "osteoporosis",
    "long_term_steroids",
    "fainting_or_collapse",
    "pulsating_abdomen",
    "abdominal_pain",
    "smoker",
    "urinary_burning_frequency",
    "colicky_pain_to_groin",
    "blood_in_urine",
    "pain_after_fatty_meals",
    "morning_stiffness_30min",
    "better_with_exercise_not_rest",
    "wakes_second_half_night",
    "family_history_spa",
    "arthritis_history",
    "enthesitis_history",
    "psoriasis_history",
];

/// The emergency safety questions follow-up v2 asks again, in rules-v2.md's order: one list for
/// the tests of the follow-up and the sample follow-up answers of the API tests. All are yes/no
/// but the three `leg_` items (`leg_symptoms` and `leg_weakness` are choices, `leg_numbness`
/// is shown only with leg symptoms).
pub const FOLLOW_UP_SAFETY_ITEMS: [&str; 14] = [
    "saddle_numbness",
    "bladder_change",
    "urinary_retention",
    "bowel_control_loss",
    "sexual_function_change",
    "leg_symptoms",
    "leg_numbness",
    "leg_weakness",
    "foot_drop",
    "new_walking_difficulty",
    "fever_chills",
    "unwell_night_sweats",
    "fainting_or_collapse",
    "pulsating_abdomen",
];
