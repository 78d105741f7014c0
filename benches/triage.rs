//! Triage benchmark: full intake evaluation (validate + score + derive facts + rules + advice)
//! on one core, for a routine and a heavily flagged answer set.
//!
//!     cargo bench --bench triage
//!     cargo bench --bench triage -- --measurement-time 3 --warm-up-time 1
//!
//! Criterion reports time per evaluation and, through the element throughput, evaluations per
//! second. The target is at least 100,000 evaluations per second.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lumbar::triage::{Answers, Disposition, Triage, ValidationMode};
use serde_json::{Value, json};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 15).unwrap_or_default()
}

/// A complete intake that fires no rule.
fn routine() -> Answers {
    let mut answers = json!({
        "date_of_birth": "1985-03-02",
        "sex": "female",
        "pain_areas": ["lower_back", "buttock"],
        "pain_started_on": "2025-06-09",
        "onset_cause": "lifting",
        "first_episode": false,
        "pain_now": 5,
        "pain_worst_week": 6,
        "leg_symptoms": "one_leg",
        "leg_numbness": false,
        "leg_weakness": "none",
        "nsaid_relief_48h": "not_tried",
        "sbt_9": "moderately",
        "consent_treatment": true,
        "consent_privacy": true,
        "medications": "Ibuprofen 400 mg when needed",
        "goals": "Play with my children without pain",
    });
    let Value::Object(map) = &mut answers else {
        return Answers::new();
    };
    for key in lumbar::triage::ROUTINE_NO_ITEMS {
        map.insert(key.into(), json!(false));
    }
    for item in 1..=8 {
        map.insert(format!("sbt_{item}"), json!(item % 3 == 0));
    }
    for (section, value) in [2, 1, 3, 2, 2, 1, 1, 0, 2, 1].into_iter().enumerate() {
        map.insert(format!("odi_{}", section + 1), json!(value));
    }
    map.clone()
}

/// The same intake with many red flags: 63, smoker, cancer history, both legs numb,
/// saddle numbness, fever with IV drug use, belly pain, high STarT Back risk.
fn flagged() -> Answers {
    let mut answers = routine();
    for (key, value) in [
        ("date_of_birth", json!("1962-01-20")),
        ("leg_symptoms", json!("both_legs")),
        ("leg_numbness", json!(true)),
        ("saddle_numbness", json!(true)),
        ("cancer_history", json!(true)),
        ("fever_chills", json!(true)),
        ("iv_drug_use", json!(true)),
        ("abdominal_pain", json!(true)),
        ("smoker", json!(true)),
        ("night_pain_no_relief", json!(true)),
        ("constant_pain", json!(true)),
        ("sbt_5", json!(true)),
        ("sbt_6", json!(true)),
        ("sbt_7", json!(true)),
        ("sbt_8", json!(true)),
        ("sbt_9", json!("extremely")),
    ] {
        answers.insert(key.into(), value);
    }
    answers
}

fn bench(c: &mut Criterion) {
    let triage = match Triage::embedded() {
        Ok(triage) => triage,
        Err(error) => {
            eprintln!("cannot load the embedded triage content: {error}");
            return;
        }
    };
    let cases = [
        ("routine", routine(), Disposition::Routine),
        ("flagged", flagged(), Disposition::Emergency),
    ];
    for (name, answers, expected) in &cases {
        match triage.evaluate("intake", answers, today()) {
            Ok(evaluation) if evaluation.disposition == *expected => eprintln!(
                "{name}: {} with {} fired rules",
                evaluation.disposition,
                evaluation.findings.len()
            ),
            other => {
                eprintln!("{name}: unexpected result {other:?}");
                return;
            }
        }
    }
    let mut group = c.benchmark_group("triage");
    group.throughput(Throughput::Elements(1));
    for (name, answers, _) in &cases {
        group.bench_function(format!("evaluate_intake/{name}"), |b| {
            b.iter(|| triage.evaluate(black_box("intake"), black_box(answers), black_box(today())))
        });
    }
    let (_, routine, _) = &cases[0];
    group.bench_function("validate_draft/routine", |b| {
        b.iter(|| {
            triage.validate(
                black_box("intake"),
                black_box(routine),
                black_box(today()),
                ValidationMode::Draft,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
