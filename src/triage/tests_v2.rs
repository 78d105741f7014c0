//! Rule set v2 and intake v2 (rules-v2.md): each changed or new rule at its thresholds, the
//! 29 February ages, Oswestry completeness, the follow-up with standing facts, per-questionnaire
//! advice, and rule set v1 still judging as it did.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{Days, Months, NaiveDate};
use serde_json::{Value, json};

use super::tests::{baseline, follow_up_baseline, follow_up_no_items, refused_by, today, triage};
use super::*;

use Disposition::{Emergency, Review, Routine, Urgent};

const YES: Value = Value::Bool(true);
const NO: Value = Value::Bool(false);

fn v1() -> &'static Triage {
    static TRIAGE: OnceLock<Triage> = OnceLock::new();
    TRIAGE.get_or_init(|| Triage::embedded_v1().expect("embedded v1 content loads"))
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
}

fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn years_ago(years: u32) -> String {
    iso(today() - Months::new(12 * years))
}

/// The baseline intake with changes, its onset 5 days before `day` unless changed.
fn intake_on(day: NaiveDate, changes: &[(&str, Value)]) -> Answers {
    let mut answers = baseline();
    answers.insert("pain_started_on".into(), json!(iso(day - Days::new(5))));
    for (key, value) in changes {
        answers.insert((*key).to_owned(), value.clone());
    }
    answers
}

fn ids(evaluation: &Evaluation) -> BTreeSet<String> {
    evaluation
        .findings
        .iter()
        .map(|finding| finding.rule_id.clone())
        .collect()
}

fn judged(
    triage: &Triage,
    day: NaiveDate,
    changes: &[(&str, Value)],
) -> (Disposition, Vec<String>) {
    let answers = intake_on(day, changes);
    match triage.evaluate(INTAKE_QUESTIONNAIRE, &answers, day) {
        Ok(evaluation) => (
            evaluation.disposition,
            ids(&evaluation).into_iter().collect(),
        ),
        Err(error) => panic!("{changes:?}: {:#?}", error.answer_errors()),
    }
}

#[track_caller]
fn expect_with(
    triage: &Triage,
    day: NaiveDate,
    changes: &[(&str, Value)],
    disposition: Disposition,
    rules: &[&str],
) {
    let mut want: Vec<String> = rules.iter().map(|id| (*id).to_owned()).collect();
    want.sort();
    assert_eq!(
        judged(triage, day, changes),
        (disposition, want),
        "changes: {changes:?}"
    );
}

#[track_caller]
fn expect(changes: &[(&str, Value)], disposition: Disposition, rules: &[&str]) {
    expect_with(triage(), today(), changes, disposition, rules);
}

#[track_caller]
fn expect_v1(changes: &[(&str, Value)], disposition: Disposition, rules: &[&str]) {
    expect_with(v1(), today(), changes, disposition, rules);
}

fn refused(triage: &Triage, id: &str, answers: &Answers) -> Vec<(String, &'static str)> {
    refused_by(triage, id, answers, ValidationMode::Submit)
}

fn pairs(list: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    list.iter()
        .map(|(link_id, code)| ((*link_id).to_owned(), *code))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

#[test]
fn v2_is_the_default_and_v1_stays_loadable() {
    let v2 = triage();
    assert!(v2.rule_set().version().starts_with("v2+sha256:"));
    assert_eq!(v2.rule_set().name(), "v2");
    for id in [INTAKE_QUESTIONNAIRE, FOLLOW_UP_QUESTIONNAIRE] {
        assert_eq!(v2.questionnaire(id).map(Questionnaire::version), Some("2"));
        assert_eq!(
            v1().questionnaire(id).map(Questionnaire::version),
            Some("1")
        );
    }
    assert!(v1().rule_set().version().starts_with("v1+sha256:"));
    assert_eq!(v1().rule_set().rules().len(), 33);
    assert_eq!(v2.rule_set().rules().len(), 36);
    let all = RuleSet::embedded_all().expect("embedded rule sets load");
    let versions: Vec<&str> = all.iter().map(RuleSet::version).collect();
    assert_eq!(
        versions,
        [v2.rule_set().version(), v1().rule_set().version()]
    );
    // Every v1 rule not named in rules-v2.md is unchanged in v2.
    let changed = ["MSCC", "CANCER_SPINAL_PAIN", "AAA_RISK", "FRACTURE_RISK"];
    for old in v1().rule_set().rules() {
        let new = v2
            .rule_set()
            .rules()
            .iter()
            .find(|rule| rule.id == old.id)
            .unwrap_or_else(|| panic!("{} is in v2", old.id));
        assert_eq!(new.disposition, old.disposition, "{}", old.id);
        if !changed.contains(&old.id.as_str()) {
            assert_eq!(new.condition, old.condition, "{}", old.id);
        }
    }
    let conditions: Vec<(&str, &str)> = v2
        .rule_set()
        .rules()
        .iter()
        .filter(|rule| {
            changed.contains(&rule.id.as_str())
                || [
                    "AAA_COLIC_OLDER",
                    "INFECTION_RECENT_SPINAL",
                    "INFECTION_RECENT",
                ]
                .contains(&rule.id.as_str())
        })
        .map(|rule| (rule.id.as_str(), rule.condition.as_str()))
        .collect();
    assert_eq!(
        conditions,
        [
            (
                "MSCC",
                "cancer_history and (leg_symptoms ≠ none or leg_weakness ≠ none or leg_numbness or foot_drop or new_walking_difficulty)"
            ),
            ("AAA_COLIC_OLDER", "colicky_pain_to_groin and age ≥ 60"),
            ("INFECTION_RECENT_SPINAL", "recent_spinal_procedure"),
            (
                "CANCER_SPINAL_PAIN",
                "cancer_history and (thoracic_pain or neck_pain or night_pain_no_relief or pain_worse_straining or constant_pain)"
            ),
            ("AAA_RISK", "abdominal_pain and age ≥ 60"),
            (
                "FRACTURE_RISK",
                "onset_cause ∈ {lifting, minor_fall, sudden_movement} and (osteoporosis or long_term_steroids or age ≥ 70 or (sex ≠ female and age > 65))"
            ),
            ("INFECTION_RECENT", "recent_infection_or_procedure"),
        ]
    );
    let disposition = |id: &str| {
        v2.rule_set()
            .rules()
            .iter()
            .find(|rule| rule.id == id)
            .map(|rule| rule.disposition)
    };
    assert_eq!(disposition("AAA_COLIC_OLDER"), Some(Emergency));
    assert_eq!(disposition("INFECTION_RECENT_SPINAL"), Some(Urgent));
    assert_eq!(disposition("INFECTION_RECENT"), Some(Review));
}

#[test]
fn v1_still_judges_as_it_did() {
    let day = today();
    expect_v1(&[], Routine, &[]);
    // The v1 behaviour that v2 changed, with v2's answer beside it.
    let smoker_free_aaa = [
        ("abdominal_pain", YES),
        ("date_of_birth", json!(years_ago(60))),
    ];
    expect_v1(&smoker_free_aaa, Review, &["ABDOMINAL_PAIN"]);
    expect(&smoker_free_aaa, Urgent, &["AAA_RISK", "ABDOMINAL_PAIN"]);
    let other_66 = [
        ("onset_cause", json!("lifting")),
        ("sex", json!("other")),
        ("date_of_birth", json!(years_ago(66))),
    ];
    expect_v1(&other_66, Routine, &[]);
    expect(&other_66, Review, &["FRACTURE_RISK"]);
    let neck = [("cancer_history", YES), ("pain_areas", json!(["neck"]))];
    expect_v1(&neck, Urgent, &["CANCER_HISTORY"]);
    expect(&neck, Urgent, &["CANCER_HISTORY", "CANCER_SPINAL_PAIN"]);
    let radicular = [
        ("cancer_history", YES),
        ("leg_symptoms", json!("one_leg")),
        ("leg_numbness", NO),
    ];
    expect_v1(&radicular, Urgent, &["CANCER_HISTORY"]);
    expect(&radicular, Emergency, &["CANCER_HISTORY", "MSCC"]);
    expect_v1(&[("recent_infection_or_procedure", YES)], Routine, &[]);
    let colic_60 = [
        ("colicky_pain_to_groin", YES),
        ("date_of_birth", json!(years_ago(60))),
    ];
    expect_v1(&colic_60, Urgent, &["RENAL_COLIC"]);
    expect(&colic_60, Emergency, &["AAA_COLIC_OLDER", "RENAL_COLIC"]);
    // v1 intake has no recent_spinal_procedure, and only odi_8 may be skipped.
    let spinal = intake_on(day, &[("recent_spinal_procedure", NO)]);
    assert_eq!(
        refused(v1(), INTAKE_QUESTIONNAIRE, &spinal),
        pairs(&[("recent_spinal_procedure", "unknown_item")])
    );
    let mut two_missing = intake_on(day, &[]);
    two_missing.remove("odi_1");
    two_missing.remove("odi_8");
    assert_eq!(
        refused(v1(), INTAKE_QUESTIONNAIRE, &two_missing),
        pairs(&[("odi_1", "required")])
    );
    two_missing.remove("odi_2");
    // Seven answered: the required ones are named once, the optional odi_8 as well.
    assert_eq!(
        refused(v1(), INTAKE_QUESTIONNAIRE, &two_missing),
        pairs(&[
            ("odi_1", "required"),
            ("odi_2", "required"),
            ("odi_8", "required")
        ])
    );
    // v1's follow-up asks its seven safety questions; the intake advice is the only advice.
    let follow_up: BTreeSet<&str> = v1()
        .questionnaire(FOLLOW_UP_QUESTIONNAIRE)
        .map(|q| q.question_ids().collect())
        .unwrap_or_default();
    assert!(!follow_up.contains("foot_drop") && follow_up.contains("fever_chills"));
    assert_eq!(
        v1().rule_set()
            .advice_for(FOLLOW_UP_QUESTIONNAIRE, Review)
            .headline,
        v1().rule_set().advice(Review).headline
    );
}

// ---------------------------------------------------------------------------------------------
// Intake v2 rules at their thresholds
// ---------------------------------------------------------------------------------------------

#[test]
fn mscc_fires_on_radicular_pain_with_a_cancer_history() {
    let cancer = ("cancer_history", YES);
    for legs in ["one_leg", "both_legs"] {
        let mut want = vec!["MSCC", "CANCER_HISTORY"];
        if legs == "both_legs" {
            want.push("BILATERAL_LEG");
        }
        expect(
            &[
                cancer.clone(),
                ("leg_symptoms", json!(legs)),
                ("leg_numbness", NO),
            ],
            Emergency,
            &want,
        );
        // Without the cancer history, one leg is nothing.
        if legs == "one_leg" {
            expect(
                &[("leg_symptoms", json!(legs)), ("leg_numbness", NO)],
                Routine,
                &[],
            );
        }
    }
    expect(
        &[cancer.clone(), ("leg_symptoms", json!("none"))],
        Urgent,
        &["CANCER_HISTORY"],
    );
    // The v1 triggers still fire.
    expect(
        &[cancer, ("leg_weakness", json!("stable"))],
        Emergency,
        &["MSCC", "CANCER_HISTORY"],
    );
}

#[test]
fn cancer_spinal_pain_includes_neck_pain() {
    let cancer = ("cancer_history", YES);
    for areas in [json!(["neck"]), json!(["lower_back", "neck"])] {
        expect(
            &[cancer.clone(), ("pain_areas", areas.clone())],
            Urgent,
            &["CANCER_SPINAL_PAIN", "CANCER_HISTORY"],
        );
        expect(&[("pain_areas", areas)], Routine, &[]);
    }
    let fact = |areas: Value| {
        triage()
            .evaluate(
                INTAKE_QUESTIONNAIRE,
                &intake_on(today(), &[("pain_areas", areas)]),
                today(),
            )
            .map(|evaluation| evaluation.facts.neck_pain)
    };
    assert_eq!(fact(json!(["neck", "buttock"])), Ok(Some(true)));
    assert_eq!(fact(json!(["upper_back"])), Ok(Some(false)));
}

#[test]
fn aaa_colic_older_boundary_is_sixty() {
    let colic = |age: u32| {
        vec![
            ("colicky_pain_to_groin", YES),
            ("date_of_birth", json!(years_ago(age))),
        ]
    };
    expect(&colic(60), Emergency, &["AAA_COLIC_OLDER", "RENAL_COLIC"]);
    expect(&colic(85), Emergency, &["AAA_COLIC_OLDER", "RENAL_COLIC"]);
    expect(&colic(59), Urgent, &["RENAL_COLIC"]);
    // Blood in the urine at 60 is renal colic's, not the aneurysm's.
    expect(
        &[
            ("blood_in_urine", YES),
            ("date_of_birth", json!(years_ago(60))),
        ],
        Urgent,
        &["RENAL_COLIC"],
    );
}

#[test]
fn aaa_risk_no_longer_needs_smoking() {
    for smoker in [true, false] {
        let at = |age: u32| {
            vec![
                ("abdominal_pain", YES),
                ("smoker", json!(smoker)),
                ("date_of_birth", json!(years_ago(age))),
            ]
        };
        expect(&at(60), Urgent, &["AAA_RISK", "ABDOMINAL_PAIN"]);
        expect(&at(59), Review, &["ABDOMINAL_PAIN"]);
    }
}

#[test]
fn recent_spinal_procedure_is_asked_after_a_recent_infection_or_procedure() {
    let recent = ("recent_infection_or_procedure", YES);
    expect(
        &[recent.clone(), ("recent_spinal_procedure", YES)],
        Urgent,
        &["INFECTION_RECENT_SPINAL", "INFECTION_RECENT"],
    );
    expect(
        &[recent.clone(), ("recent_spinal_procedure", NO)],
        Review,
        &["INFECTION_RECENT"],
    );
    // Fever makes either an emergency.
    expect(
        &[
            recent.clone(),
            ("recent_spinal_procedure", YES),
            ("fever_chills", YES),
        ],
        Emergency,
        &[
            "INFECTION_RISK_FEVER",
            "FEVER",
            "INFECTION_RECENT_SPINAL",
            "INFECTION_RECENT",
        ],
    );
    // Shown (and then a required safety question) only after a yes.
    let unanswered = intake_on(today(), std::slice::from_ref(&recent));
    let errors = triage()
        .validate(
            INTAKE_QUESTIONNAIRE,
            &unanswered,
            today(),
            ValidationMode::Submit,
        )
        .err()
        .map(|error| error.answer_errors().to_vec())
        .unwrap_or_default();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].link_id, "recent_spinal_procedure");
    assert_eq!(errors[0].code, AnswerErrorCode::Required);
    assert!(errors[0].message.contains("never taken as \"no\""));
    let hidden = intake_on(today(), &[("recent_spinal_procedure", NO)]);
    assert_eq!(
        refused(triage(), INTAKE_QUESTIONNAIRE, &hidden),
        pairs(&[("recent_spinal_procedure", "not_enabled")])
    );
}

#[test]
fn fracture_risk_thresholds_by_sex() {
    let person = |sex: &str, age: u32| {
        vec![
            ("onset_cause", json!("minor_fall")),
            ("sex", json!(sex)),
            ("date_of_birth", json!(years_ago(age))),
        ]
    };
    for sex in ["male", "other", "undisclosed"] {
        expect(&person(sex, 65), Routine, &[]);
        expect(&person(sex, 66), Review, &["FRACTURE_RISK"]);
    }
    expect(&person("female", 66), Routine, &[]);
    expect(&person("female", 69), Routine, &[]);
    expect(&person("female", 70), Review, &["FRACTURE_RISK"]);
    // The onset still has to be low-energy.
    let mut sport = person("undisclosed", 80);
    sport[0] = ("onset_cause", json!("sport"));
    expect(&sport, Routine, &[]);
}

#[test]
fn a_birthday_on_29_february_completes_the_year_on_1_march() {
    // The spec's example.
    assert_eq!(
        answers::completed_years(date("1976-02-29"), date("2026-02-28")),
        49
    );
    assert_eq!(
        answers::completed_years(date("1976-02-29"), date("2026-03-01")),
        50
    );
    assert_eq!(
        answers::completed_years(date("1976-02-29"), date("2024-02-29")),
        48
    );
    // NOT_IMPROVING_OLDER (age ≥ 50), long-standing pain: 49 on 28 February, 50 on 1 March.
    let born = ("date_of_birth", json!("1976-02-29"));
    let on = |day: &str| {
        let day = date(day);
        let onset = ("pain_started_on", json!(iso(day - Days::new(60))));
        judged(triage(), day, &[born.clone(), onset])
    };
    assert_eq!(on("2026-02-28"), (Routine, vec![]));
    assert_eq!(
        on("2026-03-01"),
        (Review, vec!["NOT_IMPROVING_OLDER".to_owned()])
    );
    // FRACTURE_RISK (male, age > 65) for a man born on 29 February 1960, 66 in a common year.
    let man = [
        ("date_of_birth", json!("1960-02-29")),
        ("sex", json!("male")),
        ("onset_cause", json!("lifting")),
    ];
    expect_with(triage(), date("2026-02-28"), &man, Routine, &[]);
    expect_with(
        triage(),
        date("2026-03-01"),
        &man,
        Review,
        &["FRACTURE_RISK"],
    );
    // AAA_RISK (age ≥ 60) reached on the day itself in a leap year.
    let belly = [
        ("date_of_birth", json!("1968-02-29")),
        ("abdominal_pain", YES),
    ];
    expect_with(
        triage(),
        date("2028-02-28"),
        &belly,
        Review,
        &["ABDOMINAL_PAIN"],
    );
    expect_with(
        triage(),
        date("2028-02-29"),
        &belly,
        Urgent,
        &["AAA_RISK", "ABDOMINAL_PAIN"],
    );
}

// ---------------------------------------------------------------------------------------------
// Oswestry completeness
// ---------------------------------------------------------------------------------------------

/// `base` with the ten sections written as in instruments.md, `-` for unanswered.
fn with_odi(base: Answers, sections: &str) -> Answers {
    let mut answers = base;
    for (index, section) in sections.split_whitespace().enumerate() {
        let link_id = format!("odi_{}", index + 1);
        match section.parse::<i64>() {
            Ok(value) => answers.insert(link_id, json!(value)),
            Err(_) => answers.remove(&link_id),
        };
    }
    answers
}

#[test]
fn oswestry_needs_eight_of_ten_sections() {
    let percent = |answers: &Answers| {
        triage()
            .evaluate(INTAKE_QUESTIONNAIRE, answers, today())
            .map(|evaluation| {
                evaluation
                    .scores
                    .odi
                    .map(|odi| (odi.sections_answered, odi.percent.to_string()))
            })
            .map_err(|error| error.answer_errors().to_vec())
    };
    // Ten: sum / 50.
    let ten = with_odi(baseline(), "1 5 4 4 3 0 1 5 3 4");
    assert_eq!(percent(&ten), Ok(Some((10, "60.00".into()))));
    // Nine (the worked case, travelling missing): 16 / 45.
    let nine = with_odi(baseline(), "5 5 3 3 0 0 0 0 0 -");
    assert_eq!(percent(&nine), Ok(Some((9, "35.56".into()))));
    // Eight, any two left out (not only odi_8): 19 / 40.
    let eight = with_odi(baseline(), "2 - 2 2 2 3 3 3 - 2");
    assert_eq!(percent(&eight), Ok(Some((8, "47.50".into()))));
    // Seven: refused, naming each unanswered section in form order.
    let seven = with_odi(baseline(), "2 - 2 - 2 3 3 3 - 2");
    let errors = percent(&seven).err().unwrap_or_default();
    let named: Vec<(&str, AnswerErrorCode)> = errors
        .iter()
        .map(|error| (error.link_id.as_str(), error.code))
        .collect();
    assert_eq!(
        named,
        [
            ("odi_2", AnswerErrorCode::Required),
            ("odi_4", AnswerErrorCode::Required),
            ("odi_9", AnswerErrorCode::Required),
        ]
    );
    assert!(
        errors[0].message.contains("at least 8 of the 10")
            && errors[0].message.contains("7 answered"),
        "{}",
        errors[0].message
    );
    // A draft may have any number; a wrong value is reported once, as wrong.
    assert!(
        triage()
            .validate(INTAKE_QUESTIONNAIRE, &seven, today(), ValidationMode::Draft)
            .is_ok()
    );
    let mut wrong = seven.clone();
    wrong.insert("odi_2".into(), json!("two"));
    assert_eq!(
        refused(triage(), INTAKE_QUESTIONNAIRE, &wrong),
        pairs(&[
            ("odi_2", "wrong_type"),
            ("odi_4", "required"),
            ("odi_9", "required")
        ])
    );
    // The follow-up has the same rule.
    let follow_up = with_odi(follow_up_baseline(), "- - - 1 1 1 1 1 1 1");
    assert_eq!(
        refused(triage(), FOLLOW_UP_QUESTIONNAIRE, &follow_up),
        pairs(&[
            ("odi_1", "required"),
            ("odi_2", "required"),
            ("odi_3", "required")
        ])
    );
}

#[test]
fn a_rule_reads_the_oswestry_score_not_its_optional_sections() {
    let rules = |when: &str| {
        let text = EMBEDDED_RULES_WITH_EXTRA.replace("@WHEN@", when);
        RuleSet::parse("extra.toml", &text)
            .map_err(TriageError::from)
            .and_then(|rules| Triage::new(QuestionnaireSet::embedded()?, rules))
            .map_err(|error| error.to_string())
    };
    let message = rules("odi_3 ≥ 4").err().unwrap_or_default();
    assert!(
        message.contains("rule EXTRA: it reads odi_3, which is optional in questionnaire intake"),
        "{message}"
    );
    assert!(message.contains("odi_percent or odi_band"), "{message}");
    assert!(rules("odi_percent > 60").is_ok());
    // No embedded rule reads a section.
    for rule in triage().rule_set().rules() {
        assert!(!rule.condition.contains("odi_"), "{}", rule.id);
    }
}

/// The embedded v2 rules plus one urgent rule `EXTRA` whose condition replaces `@WHEN@`.
const EMBEDDED_RULES_WITH_EXTRA: &str = concat!(
    include_str!("content/rules-v2.toml"),
    "\n[[rule]]\nid = \"EXTRA\"\ndisposition = \"urgent\"\ncategory = \"test\"\n",
    "when = \"@WHEN@\"\nrationale = \"r\"\nsource = \"s\"\n"
);

// ---------------------------------------------------------------------------------------------
// Follow-up v2 with standing facts
// ---------------------------------------------------------------------------------------------

#[test]
fn follow_up_asks_every_emergency_safety_question() {
    let follow_up = triage()
        .questionnaire(FOLLOW_UP_QUESTIONNAIRE)
        .expect("follow-up");
    let questions: Vec<&str> = follow_up.question_ids().collect();
    let mut expected = vec!["pain_now", "global_change"];
    let sections: Vec<String> = (1..=10).map(|section| format!("odi_{section}")).collect();
    expected.extend(sections.iter().map(String::as_str));
    expected.extend(FOLLOW_UP_SAFETY_ITEMS);
    assert_eq!(questions, expected);
    // leg_numbness only with leg symptoms, and then required.
    let with_legs = |legs: &str, numb: Option<bool>| {
        let mut answers = follow_up_baseline();
        answers.insert("leg_symptoms".into(), json!(legs));
        if let Some(numb) = numb {
            answers.insert("leg_numbness".into(), json!(numb));
        }
        refused(triage(), FOLLOW_UP_QUESTIONNAIRE, &answers)
    };
    assert_eq!(with_legs("none", None), []);
    assert_eq!(
        with_legs("none", Some(false)),
        pairs(&[("leg_numbness", "not_enabled")])
    );
    assert_eq!(
        with_legs("one_leg", None),
        pairs(&[("leg_numbness", "required")])
    );
    assert_eq!(with_legs("both_legs", Some(true)), []);
    for key in follow_up_no_items() {
        let mut answers = follow_up_baseline();
        answers.remove(key);
        assert_eq!(
            refused(triage(), FOLLOW_UP_QUESTIONNAIRE, &answers),
            pairs(&[(key, "required")])
        );
    }
}

fn standing(raw: Value) -> StandingFacts {
    let Value::Object(raw) = raw else {
        panic!("standing facts are an object");
    };
    match triage().standing_facts(&raw, today()) {
        Ok(facts) => facts,
        Err(errors) => panic!("{errors:#?}"),
    }
}

fn follow_up(changes: &[(&str, Value)], facts: &StandingFacts) -> (Disposition, Vec<String>) {
    let mut answers = follow_up_baseline();
    answers.insert("leg_weakness".into(), json!("none"));
    for (key, value) in changes {
        answers.insert((*key).to_owned(), value.clone());
    }
    match triage().evaluate_follow_up(&answers, facts, today()) {
        Ok(evaluation) => (
            evaluation.disposition,
            ids(&evaluation).into_iter().collect(),
        ),
        Err(error) => panic!("{changes:?}: {:#?}", error.answer_errors()),
    }
}

fn owned(disposition: Disposition, rules: &[&str]) -> (Disposition, Vec<String>) {
    let mut rules: Vec<String> = rules.iter().map(|id| (*id).to_owned()).collect();
    rules.sort();
    (disposition, rules)
}

/// Every standing fact known and alarming.
fn alarming() -> StandingFacts {
    standing(json!({
        "date_of_birth": years_ago(75),
        "sex": "male",
        "cancer_history": true,
        "iv_drug_use": true,
        "immunosuppressed": true,
        "recent_infection_or_procedure": true,
        "recent_spinal_procedure": true,
        "osteoporosis": true,
        "long_term_steroids": true,
        "smoker": true,
    }))
}

#[test]
fn standing_facts_alone_never_fire_at_follow_up() {
    // CANCER_HISTORY, INFECTION_RISK, INFECTION_RECENT(_SPINAL) read only standing facts.
    assert_eq!(follow_up(&[], &alarming()), owned(Routine, &[]));
    assert_eq!(
        follow_up(&[], &StandingFacts::unknown()),
        owned(Routine, &[])
    );
}

#[test]
fn the_spec_examples_of_follow_up_rules() {
    let none = StandingFacts::unknown();
    // unwell_night_sweats fires SYSTEMIC_UNWELL, urgent, with or without standing facts.
    for facts in [&none, &alarming()] {
        assert_eq!(
            follow_up(&[("unwell_night_sweats", YES)], facts),
            owned(Urgent, &["SYSTEMIC_UNWELL"])
        );
    }
    // SEPSIS_KIDNEY needs loin_pain, which the follow-up does not ask: it cannot fire.
    assert_eq!(
        follow_up(
            &[("fever_chills", YES), ("unwell_night_sweats", YES)],
            &none
        ),
        owned(Urgent, &["FEVER", "SYSTEMIC_UNWELL"])
    );
    // MSCC: a cancer history from the intake and leg weakness reported now.
    let cancer = standing(json!({"cancer_history": true}));
    let weak = [("leg_weakness", json!("stable"))];
    assert_eq!(follow_up(&weak, &cancer), owned(Emergency, &["MSCC"]));
    assert_eq!(
        follow_up(
            &[("leg_symptoms", json!("one_leg")), ("leg_numbness", NO)],
            &cancer
        ),
        owned(Emergency, &["MSCC"])
    );
    // Without the cancer history (unknown, or answered no) it does not fire.
    assert_eq!(follow_up(&weak, &none), owned(Routine, &[]));
    let no_cancer = standing(json!({"cancer_history": false}));
    assert_eq!(follow_up(&weak, &no_cancer), owned(Routine, &[]));
    // Fever now with a standing risk factor: INFECTION_RISK_FEVER, but not INFECTION_RISK.
    let risk = standing(json!({"iv_drug_use": true}));
    assert_eq!(
        follow_up(&[("fever_chills", YES)], &risk),
        owned(Emergency, &["INFECTION_RISK_FEVER", "FEVER"])
    );
    let recent =
        standing(json!({"recent_infection_or_procedure": true, "recent_spinal_procedure": true}));
    assert_eq!(
        follow_up(&[("fever_chills", YES)], &recent),
        owned(Emergency, &["INFECTION_RISK_FEVER", "FEVER"])
    );
    assert_eq!(
        follow_up(&[("fever_chills", YES)], &none),
        owned(Urgent, &["FEVER"])
    );
    // The new emergency safety questions fire as at intake.
    for (key, rule) in [
        ("sexual_function_change", "CES_SEXUAL"),
        ("foot_drop", "NEURO_PROGRESSIVE"),
        ("fainting_or_collapse", "AAA_COLLAPSE"),
        ("pulsating_abdomen", "AAA_PULSATILE"),
    ] {
        assert_eq!(follow_up(&[(key, YES)], &none), owned(Emergency, &[rule]));
    }
    assert_eq!(
        follow_up(
            &[("leg_symptoms", json!("both_legs")), ("leg_numbness", YES)],
            &none
        ),
        owned(Emergency, &["CES_BILATERAL_NEURO", "BILATERAL_LEG"])
    );
    // `evaluate` on the follow-up is the same with every standing fact unknown.
    let mut answers = follow_up_baseline();
    answers.insert("leg_weakness".into(), json!("stable"));
    let plain = triage()
        .evaluate(FOLLOW_UP_QUESTIONNAIRE, &answers, today())
        .map(|evaluation| evaluation.disposition);
    assert_eq!(plain, Ok(Routine));
}

#[test]
fn standing_date_of_birth_gives_the_follow_up_its_age() {
    let aged = |born: &str, day: &str| {
        let raw = json!({"date_of_birth": born});
        let Value::Object(raw) = raw else {
            unreachable!()
        };
        let day = date(day);
        let facts = triage().standing_facts(&raw, day).expect("valid");
        triage()
            .evaluate_follow_up(&follow_up_baseline(), &facts, day)
            .map(|evaluation| evaluation.facts.age)
    };
    assert_eq!(aged("1976-02-29", "2026-02-28"), Ok(Some(49)));
    assert_eq!(aged("1976-02-29", "2026-03-01"), Ok(Some(50)));
    let unknown = triage()
        .evaluate_follow_up(&follow_up_baseline(), &StandingFacts::unknown(), today())
        .map(|evaluation| evaluation.facts.age);
    assert_eq!(unknown, Ok(None));
    // A clinic rule reading the age with something asked fires on the standing age.
    let text = EMBEDDED_RULES_WITH_EXTRA.replace("@WHEN@", "pain_now ≥ 8 and age ≥ 60");
    let clinic = RuleSet::parse("extra.toml", &text)
        .map_err(TriageError::from)
        .and_then(|rules| Triage::new(QuestionnaireSet::embedded()?, rules))
        .expect("loads");
    let mut answers = follow_up_baseline();
    answers.insert("pain_now".into(), json!(8));
    let fired = |born: &str| {
        let raw = json!({"date_of_birth": born});
        let Value::Object(raw) = raw else {
            unreachable!()
        };
        let facts = clinic.standing_facts(&raw, today()).expect("valid");
        clinic
            .evaluate_follow_up(&answers, &facts, today())
            .map(|evaluation| ids(&evaluation))
    };
    assert_eq!(
        fired(&years_ago(60)).map(|ids| ids.contains("EXTRA")),
        Ok(true)
    );
    assert_eq!(
        fired(&years_ago(59)).map(|ids| ids.contains("EXTRA")),
        Ok(false)
    );
}

#[test]
fn standing_facts_are_checked_against_the_intake() {
    let check = |raw: Value| {
        let Value::Object(raw) = raw else {
            unreachable!()
        };
        triage()
            .standing_facts(&raw, today())
            .map(|facts| facts.values().keys().cloned().collect::<Vec<_>>())
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|error| (error.link_id, error.code.as_str()))
                    .collect::<Vec<_>>()
            })
    };
    assert_eq!(
        check(json!({"sex": "robot", "cancer_histroy": true, "smoker": "no"})),
        Err(pairs(&[
            ("cancer_histroy", "unknown_item"),
            ("sex", "unknown_option"),
            ("smoker", "wrong_type")
        ]))
    );
    assert_eq!(
        check(json!({"date_of_birth": iso(today() + Days::new(1))})),
        Err(pairs(&[("date_of_birth", "in_future")]))
    );
    // A whole intake may be passed: its other answers are ignored; null is unknown.
    let mut whole = baseline();
    whole.insert("smoker".into(), Value::Null);
    assert_eq!(
        check(Value::Object(whole)),
        Ok(vec![
            "cancer_history".into(),
            "date_of_birth".into(),
            "immunosuppressed".into(),
            "iv_drug_use".into(),
            "long_term_steroids".into(),
            "osteoporosis".into(),
            "recent_infection_or_procedure".into(),
            "sex".into(),
        ])
    );
}

#[test]
fn standing_answers_of_a_stored_intake_are_the_listed_link_ids_only() {
    let mut intake = baseline();
    intake.insert("recent_infection_or_procedure".into(), YES);
    intake.insert("recent_spinal_procedure".into(), YES);
    intake.insert("smoker".into(), Value::Null);
    let extracted = standing_answers(&intake);
    let keys: BTreeSet<&str> = extracted.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = STANDING_FACTS
        .into_iter()
        .filter(|link_id| *link_id != "smoker")
        .collect();
    assert_eq!(keys, expected);
    for (link_id, value) in &extracted {
        assert_eq!(Some(value), intake.get(link_id), "{link_id}");
    }
    // A v1 intake had no recent_spinal_procedure: unknown, and nothing refuses that.
    let mut v1_intake = baseline();
    v1_intake.remove("recent_spinal_procedure");
    let facts = triage()
        .standing_facts(&standing_answers(&v1_intake), today())
        .expect("valid");
    assert!(facts.values().get("recent_spinal_procedure").is_none());
}

#[test]
fn a_follow_up_records_the_standing_facts_it_was_judged_with() {
    let facts = standing(json!({"cancer_history": true, "sex": "female"}));
    let mut answers = follow_up_baseline();
    answers.insert("leg_weakness".into(), json!("stable"));
    let evaluation = triage()
        .evaluate_follow_up(&answers, &facts, today())
        .expect("valid");
    assert_eq!(evaluation.standing_facts, facts);
    let record = EvaluationRecord::of(&evaluation).expect("serialises");
    let stored = record.to_json().expect("serialises");
    let again = EvaluationRecord::from_json(&stored).expect("reads");
    assert_eq!(again.standing_facts, facts);
    let value: Value = serde_json::from_str(&stored).expect("json");
    assert_eq!(value["standing_facts"]["cancer_history"], true);
    // An intake asks them itself: nothing is recorded, and no field is written.
    let intake = triage()
        .evaluate_with(INTAKE_QUESTIONNAIRE, &baseline(), &facts, today())
        .expect("valid");
    assert!(intake.standing_facts.is_empty());
    let value = serde_json::to_value(&intake).expect("serialises");
    assert!(value.get("standing_facts").is_none());
}

// ---------------------------------------------------------------------------------------------
// Advice per questionnaire
// ---------------------------------------------------------------------------------------------

#[test]
fn follow_up_advice_speaks_of_care_under_way() {
    let rules = triage().rule_set();
    for disposition in Disposition::ALL {
        let intake = rules.advice(disposition);
        let follow_up = rules.advice_for(FOLLOW_UP_QUESTIONNAIRE, disposition);
        assert_ne!(intake, follow_up, "{disposition}");
        assert_eq!(rules.advice_for(INTAKE_QUESTIONNAIRE, disposition), intake);
        let text = format!("{} {}", follow_up.headline, follow_up.text.join(" "));
        assert!(!text.contains("first visit"), "{disposition}: {text}");
    }
    assert!(rules.advice(Review).text.join(" ").contains("first visit"));
    let none = StandingFacts::unknown();
    let mut answers = follow_up_baseline();
    answers.insert("unwell_night_sweats".into(), YES);
    let evaluation = triage()
        .evaluate_follow_up(&answers, &none, today())
        .expect("valid");
    assert_eq!(
        evaluation.advice.headline,
        rules.advice_for(FOLLOW_UP_QUESTIONNAIRE, Urgent).headline
    );
    assert!(evaluation.advice.paragraphs.join(" ").contains("treatment"));
    assert_eq!(
        evaluation.advice.reasons,
        ["You told us you feel generally unwell or have had drenching night sweats."]
    );
}

#[test]
fn questionnaire_advice_is_checked_and_optional() {
    let load = |text: &str| {
        RuleSet::parse("advice.toml", text)
            .map_err(TriageError::from)
            .and_then(|rules| Triage::new(QuestionnaireSet::embedded()?, rules))
            .map_err(|error| error.to_string())
    };
    // The v1 format, without it, loads against v2 questionnaires too.
    assert!(load(rules::EMBEDDED_RULES_V1).is_ok());
    for (from, to, expected) in [
        (
            "[questionnaire_advice.follow-up.routine]",
            "[questionnaire_advice.folow-up.routine]",
            "questionnaire \"folow-up\", which is not loaded",
        ),
        (
            "headline = \"Thank you; your care carries on as planned\"",
            "headline = \" \"",
            "questionnaire_advice.follow-up.routine needs a headline",
        ),
        (
            "[questionnaire_advice.follow-up.routine]",
            "[questionnaire_advice.follow-up.routnie]",
            "routnie",
        ),
    ] {
        let message = load(&rules::EMBEDDED_RULES.replacen(from, to, 1))
            .err()
            .unwrap_or_default();
        assert!(message.contains(expected), "{to}: {message}");
    }
    // A partial table keeps the default for the rest.
    let partial = rules::EMBEDDED_RULES_V1.replace(
        "[advice.emergency]",
        "[questionnaire_advice.follow-up.review]\nheadline = \"Next visit\"\n\n[advice.emergency]",
    );
    let triage = load(&partial).expect("loads");
    let rules = triage.rule_set();
    assert_eq!(
        rules.advice_for(FOLLOW_UP_QUESTIONNAIRE, Review).headline,
        "Next visit"
    );
    assert_eq!(
        rules.advice_for(FOLLOW_UP_QUESTIONNAIRE, Urgent),
        rules.advice(Urgent)
    );
}

// ---------------------------------------------------------------------------------------------
// The safety interrupt: emergency answers in a form that is not complete yet
// ---------------------------------------------------------------------------------------------

fn partial(answers: &[(&str, Value)]) -> Answers {
    answers
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

fn interrupt(answers: &Answers) -> Option<SafetyInterrupt> {
    triage()
        .safety_interrupt(INTAKE_QUESTIONNAIRE, answers, today())
        .expect("the intake is known")
}

#[test]
fn one_emergency_answer_in_an_empty_form_interrupts_it() {
    let found = interrupt(&partial(&[("saddle_numbness", YES)])).expect("interrupted");
    assert_eq!(found.rule_ids, ["CES_SADDLE"]);
    assert_eq!(
        found.advice.headline,
        triage().rule_set().advice(Emergency).headline
    );
}

#[test]
fn nothing_interrupts_a_form_without_emergency_answers() {
    assert_eq!(interrupt(&Answers::new()), None);
    assert_eq!(interrupt(&partial(&[("saddle_numbness", NO)])), None);
    // Urgent answers wait for the submission: the interrupt is for emergencies only.
    assert_eq!(interrupt(&partial(&[("cancer_history", YES)])), None);
    // The complete routine baseline fires nothing either.
    assert_eq!(interrupt(&baseline()), None);
}

#[test]
fn a_rule_whose_other_inputs_are_unanswered_does_not_fire_on_one_of_them() {
    // Bilateral leg symptoms alone are not CES_BILATERAL_NEURO: it needs numbness or weakness.
    assert_eq!(
        interrupt(&partial(&[("leg_symptoms", json!("both_legs"))])),
        None
    );
    let both = partial(&[("leg_symptoms", json!("both_legs")), ("leg_numbness", YES)]);
    assert!(interrupt(&both).is_some());
}

#[test]
fn an_answer_to_a_hidden_question_or_one_that_does_not_read_is_unanswered() {
    // leg_numbness is asked only when there are leg symptoms.
    let hidden = partial(&[("leg_symptoms", json!("none")), ("leg_numbness", YES)]);
    assert_eq!(interrupt(&hidden), None);
    // A malformed answer beside an emergency one does not hide it.
    let mixed = partial(&[("saddle_numbness", YES), ("pain_now", json!("a lot"))]);
    assert!(interrupt(&mixed).is_some());
}

#[test]
fn every_emergency_answer_of_a_complete_submission_also_interrupts_its_draft() {
    for (link_id, value) in [
        ("saddle_numbness", YES),
        ("urinary_retention", YES),
        ("bowel_control_loss", YES),
    ] {
        let mut answers = baseline();
        answers.insert(link_id.into(), value.clone());
        let judged = triage()
            .evaluate(INTAKE_QUESTIONNAIRE, &answers, today())
            .expect("valid");
        assert_eq!(judged.disposition, Emergency, "{link_id}");
        assert!(interrupt(&answers).is_some(), "{link_id}");
        assert!(
            interrupt(&partial(&[(link_id, value)])).is_some(),
            "{link_id}"
        );
    }
}
