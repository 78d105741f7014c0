//! Property tests: invariants of evaluation over generated answer sets.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::answers::{Slot, enable_holds};
use super::questionnaire::Kind;
use super::tests::{NO_ITEMS, follow_up_baseline, follow_up_no_items, today, triage};
use super::*;

/// Builds a valid answer set for `questionnaire_id` from one random number per item, so that
/// proptest can shrink towards the first option / smallest value of each item.
fn valid_answers(questionnaire_id: &str, seeds: &[u64]) -> Answers {
    let Some(questionnaire) = triage().questionnaire(questionnaire_id) else {
        return Answers::new();
    };
    let form = &questionnaire.form;
    let mut answers = Answers::new();
    let mut slots = vec![Slot::Absent; form.items.len()];
    let mut shown = vec![false; form.items.len()];
    let age_years = seeds.first().map_or(40, |seed| seed % 105);
    let birth = today() - Days::new(age_years * 365 + seeds.get(1).map_or(0, |seed| seed % 365));
    // Oswestry sections are optional, but at most two may be left out.
    let mut odi_left_out = 0;
    for (index, item) in form.items.iter().enumerate() {
        let seed = seeds.get(index).copied().unwrap_or(0);
        let visible = item.parent.is_none_or(|parent| shown[parent])
            && item
                .enable
                .as_ref()
                .is_none_or(|enable| enable_holds(enable, &slots));
        shown[index] = visible;
        if !visible || !item.kind.is_question() {
            continue;
        }
        // Optional items are left out now and then.
        if !item.required && seed % 3 == 0 {
            if !item.link_id.starts_with("odi_") {
                continue;
            }
            if odi_left_out < 2 {
                odi_left_out += 1;
                continue;
            }
        }
        let (value, slot) = value_for(&item.link_id, &item.kind, item.consent, seed, birth);
        answers.insert(item.link_id.to_string(), value);
        slots[index] = slot;
    }
    answers
}

fn value_for(
    link_id: &str,
    kind: &Kind,
    consent: bool,
    seed: u64,
    birth: NaiveDate,
) -> (Value, Slot) {
    match kind {
        Kind::Boolean => {
            let value = consent || seed % 2 == 1;
            (json!(value), Slot::Bool(value))
        }
        Kind::Integer { min, max } => {
            let (low, high) = (min.unwrap_or(0), max.unwrap_or(100));
            let span = u64::try_from(high - low + 1).unwrap_or(1);
            let value = low + i64::try_from(seed % span).unwrap_or(0);
            (json!(value), Slot::Int(value))
        }
        Kind::Decimal { .. } => (json!(1.5), Slot::Dec(1.5)),
        Kind::Date { .. } => {
            let date = if link_id == "date_of_birth" {
                birth
            } else {
                // Onset between birth and today.
                let lived = (today() - birth).num_days().max(1) as u64;
                today() - Days::new(seed % lived.min(4000))
            };
            (json!(date.format("%Y-%m-%d").to_string()), Slot::Date(date))
        }
        Kind::Text { .. } => (json!("some text"), Slot::Text),
        Kind::Choice {
            codes,
            repeats: false,
        } => {
            let index = (seed % codes.len() as u64) as usize;
            (json!(&*codes[index]), Slot::Code(index as u8))
        }
        Kind::Choice {
            codes,
            repeats: true,
        } => {
            let full = (1u64 << codes.len()) - 1;
            let set = (seed & full).max(1);
            let chosen: Vec<&str> = (0..codes.len())
                .filter(|bit| set & (1 << bit) != 0)
                .map(|bit| &*codes[bit])
                .collect();
            (json!(chosen), Slot::Codes(set))
        }
        Kind::Group | Kind::Display => (Value::Null, Slot::Absent),
    }
}

/// Sets a yes/no intake item, keeping `recent_spinal_procedure` (shown after a yes to
/// `recent_infection_or_procedure`) answered exactly when it is shown.
fn set_yes_no(answers: &mut Answers, item: &str, value: bool, spinal: bool) {
    answers.insert(item.to_owned(), json!(value));
    let shown = answers.get("recent_infection_or_procedure") == Some(&json!(true));
    if shown {
        answers
            .entry("recent_spinal_procedure")
            .or_insert(json!(spinal));
    } else {
        answers.remove("recent_spinal_procedure");
    }
}

/// A follow-up answering no to every safety question, with no leg symptoms or weakness.
fn follow_up_all_no() -> Answers {
    let mut answers = follow_up_baseline();
    answers.insert("leg_weakness".into(), json!("none"));
    answers
}

/// Any subset of the standing facts, each with a valid value.
fn standing_facts() -> impl Strategy<Value = Answers> {
    let booleans = prop::collection::vec(prop::option::of(any::<bool>()), 8);
    let sex = prop::option::of(prop::sample::select(vec![
        "female",
        "male",
        "other",
        "undisclosed",
    ]));
    let age = prop::option::of(0u64..110 * 365);
    (booleans, sex, age).prop_map(|(booleans, sex, age)| {
        let mut facts = Answers::new();
        for (link_id, value) in STANDING_FACTS.iter().skip(2).zip(booleans) {
            if let Some(value) = value {
                facts.insert((*link_id).to_owned(), json!(value));
            }
        }
        if let Some(sex) = sex {
            facts.insert("sex".into(), json!(sex));
        }
        if let Some(days) = age {
            let birth = today() - Days::new(days);
            facts.insert(
                "date_of_birth".into(),
                json!(birth.format("%Y-%m-%d").to_string()),
            );
        }
        facts
    })
}

fn seeds() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(any::<u64>(), 100)
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("2024-02-29")),
        Just(json!("none")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn arbitrary_answers() -> impl Strategy<Value = Answers> {
    let intake_ids: Vec<String> = triage()
        .questionnaire("intake")
        .map(|q| {
            q.form
                .items
                .iter()
                .map(|item| item.link_id.to_string())
                .collect()
        })
        .unwrap_or_default();
    let key = prop_oneof![
        3 => prop::sample::select(intake_ids),
        1 => "[a-z_]{1,10}",
    ];
    prop::collection::btree_map(key, arbitrary_json(), 0..40)
        .prop_map(|map| map.into_iter().collect())
}

fn disposition(questionnaire_id: &str, answers: &Answers) -> Disposition {
    triage()
        .evaluate(questionnaire_id, answers, today())
        .map_or(Disposition::Routine, |evaluation| evaluation.disposition)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_answers_always_evaluate(seeds in seeds()) {
        for id in ["intake", "follow-up"] {
            let answers = valid_answers(id, &seeds);
            let evaluation = triage().evaluate(id, &answers, today());
            prop_assert!(evaluation.is_ok(), "{id}: {:?}", evaluation.err());
        }
    }

    #[test]
    fn disposition_is_the_most_severe_finding(seeds in seeds()) {
        let answers = valid_answers("intake", &seeds);
        let evaluation = triage().evaluate("intake", &answers, today());
        prop_assert!(evaluation.is_ok());
        if let Ok(evaluation) = evaluation {
            let most = evaluation.findings.iter().map(|finding| finding.disposition).max();
            prop_assert_eq!(evaluation.disposition, most.unwrap_or(Disposition::Routine));
            let order: Vec<Disposition> = evaluation.findings.iter().map(|f| f.disposition).collect();
            prop_assert!(order.windows(2).all(|pair| pair[0] >= pair[1]));
            let headline = &triage().rule_set().advice(evaluation.disposition).headline;
            prop_assert_eq!(&evaluation.advice.headline, headline);
            let patient = serde_json::to_string(&evaluation.patient_view()).unwrap_or_default();
            for finding in &evaluation.findings {
                prop_assert!(!patient.contains(&finding.rationale));
            }
        }
    }

    /// Every red-flag answer in rule sets v1 and v2 is read positively, so saying "yes" to
    /// one more question can never make the disposition less severe.
    #[test]
    fn a_further_yes_never_lowers_the_disposition(seeds in seeds(), item in prop::sample::select(NO_ITEMS.to_vec()), spinal in any::<bool>()) {
        let mut answers = valid_answers("intake", &seeds);
        set_yes_no(&mut answers, item, false, spinal);
        let before = disposition("intake", &answers);
        set_yes_no(&mut answers, item, true, spinal);
        prop_assert!(disposition("intake", &answers) >= before, "{item}");
    }

    #[test]
    fn worse_weakness_or_pain_never_lowers_the_disposition(seeds in seeds(), pain in 0i64..10) {
        let mut answers = valid_answers("intake", &seeds);
        let mut last = Disposition::Routine;
        for weakness in ["none", "stable", "worsening"] {
            answers.insert("leg_weakness".into(), json!(weakness));
            let now = disposition("intake", &answers);
            prop_assert!(now >= last, "{weakness}");
            last = now;
        }
        answers.insert("pain_worst_week".into(), json!(pain));
        let before = disposition("intake", &answers);
        answers.insert("pain_worst_week".into(), json!(pain + 1));
        prop_assert!(disposition("intake", &answers) >= before);
    }

    /// Each yes/no safety question of the follow-up is at least urgent on its own.
    #[test]
    fn follow_up_safety_answers_never_lower_the_disposition(seeds in seeds(), item in prop::sample::select(follow_up_no_items())) {
        let mut answers = valid_answers("follow-up", &seeds);
        answers.insert(item.to_owned(), json!(false));
        let before = disposition("follow-up", &answers);
        answers.insert(item.to_owned(), json!(true));
        prop_assert!(disposition("follow-up", &answers) >= before.max(Disposition::Urgent), "{item}");
    }

    /// Knowing a standing fact never lowers a follow-up's disposition (three-valued logic:
    /// what fired on unknowns still fires), and standing facts alone never fire a rule.
    #[test]
    fn standing_facts_only_add_to_what_a_follow_up_asked(seeds in seeds(), facts in standing_facts()) {
        let answers = valid_answers("follow-up", &seeds);
        let standing = triage().standing_facts(&facts, today());
        prop_assert!(standing.is_ok(), "{:?}", standing.err());
        let standing = standing.unwrap_or_default();
        let without = triage().evaluate_follow_up(&answers, &StandingFacts::unknown(), today());
        let with = triage().evaluate_follow_up(&answers, &standing, today());
        prop_assert!(without.is_ok() && with.is_ok());
        if let (Ok(without), Ok(with)) = (without, with) {
            prop_assert!(with.disposition >= without.disposition);
            for finding in &without.findings {
                prop_assert!(with.findings.contains(finding), "{}", finding.rule_id);
            }
        }
        let calm = triage().evaluate_follow_up(&follow_up_all_no(), &standing, today());
        prop_assert_eq!(calm.map(|evaluation| evaluation.disposition), Ok(Disposition::Routine));
    }

    /// Any 8 to 10 Oswestry sections are accepted and scored as sum / (5 × answered) × 100;
    /// fewer are refused, naming exactly the unanswered ones.
    #[test]
    fn oswestry_completeness(values in prop::collection::vec(0i64..=5, 10), answered in any::<u16>()) {
        let mut answers = super::tests::baseline();
        let mut unanswered = Vec::new();
        let mut sum = 0;
        for (index, value) in values.iter().enumerate() {
            let link_id = format!("odi_{}", index + 1);
            if answered & (1 << index) == 0 {
                answers.remove(&link_id);
                unanswered.push(link_id);
            } else {
                answers.insert(link_id, json!(value));
                sum += value;
            }
        }
        let count = 10 - unanswered.len() as i64;
        match triage().evaluate("intake", &answers, today()) {
            Ok(evaluation) => {
                prop_assert!(count >= 8);
                let odi = evaluation.scores.odi;
                prop_assert!(odi.is_some());
                if let Some(odi) = odi {
                    prop_assert_eq!(i64::from(odi.sections_answered), count);
                    let exact = sum as f64 / (5.0 * count as f64) * 100.0;
                    prop_assert!((odi.percent.as_f64() - exact).abs() <= 0.005 + 1e-9, "{} vs {}", odi.percent, exact);
                }
            }
            Err(error) => {
                prop_assert!(count < 8);
                let named: Vec<&str> = error.answer_errors().iter().map(|e| e.link_id.as_str()).collect();
                prop_assert_eq!(named, unanswered.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn any_part_of_a_valid_answer_set_is_a_valid_draft(seeds in seeds(), keep in any::<u64>()) {
        let answers = valid_answers("intake", &seeds);
        let draft: Answers = answers
            .into_iter()
            .enumerate()
            .filter(|(position, _)| keep & (1 << (position % 64)) != 0)
            .map(|(_, entry)| entry)
            .collect();
        let result = triage().validate("intake", &draft, today(), ValidationMode::Draft);
        prop_assert!(result.is_ok(), "{:?}", result.err());
    }

    #[test]
    fn arbitrary_json_never_panics(answers in arbitrary_answers()) {
        for id in ["intake", "follow-up"] {
            for mode in [ValidationMode::Draft, ValidationMode::Submit] {
                let result = triage().validate(id, &answers, today(), mode);
                // Refusals always say which item and why.
                if let Err(error) = result {
                    prop_assert!(error.answer_errors().iter().all(|e| !e.message.is_empty()));
                }
            }
            let _ = triage().evaluate(id, &answers, today());
        }
    }

    #[test]
    fn condition_parser_never_panics(text in ".{0,60}") {
        let _ = super::condition::parse(&text);
    }

    #[test]
    fn condition_parser_never_panics_on_condition_like_text(
        words in prop::collection::vec(prop_oneof![
            Just("and"), Just("or"), Just("not"), Just("("), Just(")"), Just("≥"), Just("="),
            Just("!="), Just("in"), Just("{"), Just("}"), Just(","), Just("contains"),
            Just("age"), Just("7"), Just("-1.5"), Just("fever_chills"), Just("leg_symptoms"),
            Just("both_legs"), Just("\""), Just("true"),
        ], 0..20)
    ) {
        let text = words.join(" ");
        let rules = format!(
            "name = \"p\"\nquestionnaire = \"intake\"\n[advice.emergency]\nheadline = \"e\"\n[advice.urgent]\nheadline = \"u\"\n[advice.review]\nheadline = \"r\"\n[advice.routine]\nheadline = \"o\"\n[[rule]]\nid = \"P\"\ndisposition = \"urgent\"\ncategory = \"c\"\nrationale = \"r\"\nsource = \"s\"\nwhen = '''{text}'''\n"
        );
        if let Ok(rules) = RuleSet::parse("p.toml", &rules)
            && let Ok(set) = QuestionnaireSet::embedded()
        {
            let _ = Triage::new(set, rules);
        }
    }

    #[test]
    fn questionnaire_loader_never_panics(json in arbitrary_json()) {
        let _ = Questionnaire::from_json(&json.to_string());
    }
}
