//! Intake questionnaires through the HTTP API: definitions, drafts, submission with triage,
//! what each role sees, corrections, the review queue and decisions, the clinicians' what-if
//! evaluation, and follow-ups by emailed link with the outcome trend.

use chrono::{Datelike, Duration, NaiveDate};
use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::{
    helpers::{PATIENT_DATE_OF_BIRTH, TestApp, app_with_sink, expect_problem},
    smtp_sink::SmtpSink,
};

fn years_before(today: NaiveDate, years: i32) -> String {
    today
        .with_year(today.year() - years)
        .unwrap_or(today)
        .to_string()
}

/// A complete intake that triggers no rule: 40 years old, five days of low back pain.
pub fn routine_answers(today: NaiveDate) -> Map<String, Value> {
    let mut answers = Map::new();
    let mut set = |key: &str, value: Value| {
        answers.insert(key.to_owned(), value);
    };
    set("date_of_birth", json!(years_before(today, 40)));
    set("sex", json!("female"));
    set("pain_areas", json!(["lower_back"]));
    set(
        "pain_started_on",
        json!((today - Duration::days(5)).to_string()),
    );
    set("onset_cause", json!("no_clear_cause"));
    set("first_episode", json!(false));
    set("pain_now", json!(4));
    set("pain_worst_week", json!(6));
    set("leg_symptoms", json!("none"));
    set("leg_weakness", json!("none"));
    for key in lumbar::triage::ROUTINE_NO_ITEMS {
        set(key, json!(false));
    }
    set("nsaid_relief_48h", json!("not_tried"));
    for item in 1..=8 {
        set(&format!("sbt_{item}"), json!(false));
    }
    set("sbt_9", json!("slightly"));
    for section in 1..=10 {
        set(&format!("odi_{section}"), json!(1));
    }
    set("consent_treatment", json!(true));
    set("consent_privacy", json!(true));
    answers
}

pub fn with(mut answers: Map<String, Value>, changes: &[(&str, Value)]) -> Map<String, Value> {
    for (key, value) in changes {
        answers.insert((*key).to_owned(), value.clone());
    }
    answers
}

pub fn follow_up_answers(pain_now: u8, saddle_numbness: bool) -> Value {
    let mut answers = Map::new();
    answers.insert("pain_now".into(), json!(pain_now));
    answers.insert("global_change".into(), json!("better"));
    for section in 1..=10 {
        answers.insert(format!("odi_{section}"), json!(1));
    }
    // Follow-up v2 asks every emergency safety question of the intake again: no to each.
    for key in lumbar::triage::FOLLOW_UP_SAFETY_ITEMS {
        if !key.starts_with("leg_") {
            answers.insert(key.into(), json!(false));
        }
    }
    answers.insert("saddle_numbness".into(), json!(saddle_numbness));
    answers.insert("leg_symptoms".into(), json!("none"));
    answers.insert("leg_weakness".into(), json!("none"));
    Value::Object(answers)
}

struct Clinic {
    app: TestApp,
    patient: String,
    patient_id: String,
    staff: String,
    practitioner: String,
}

async fn clinic(app: TestApp) -> Clinic {
    let (_, patient_id) = app.add_patient("alex@example.org").await;
    let patient = app.login("alex@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let staff = app.access_token(Role::Staff).await;
    let practitioner = app.access_token(Role::Practitioner).await;
    Clinic {
        app,
        patient,
        patient_id: patient_id.to_string(),
        staff,
        practitioner,
    }
}

impl Clinic {
    fn today(&self) -> NaiveDate {
        self.app.clock.now().date_naive()
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        call_ok(&self.app, method, path, token, body).await
    }

    /// Starts, fills and submits an intake as the patient; returns the submission response.
    async fn submit(&self, answers: Map<String, Value>) -> Value {
        submit_intake(&self.app, &self.patient, answers).await
    }
}

/// Sends a request that must succeed; returns its JSON body (`null` when empty).
pub async fn call_ok(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let response = app.send(method.clone(), path, Some(token), body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// Starts, fills and submits an intake as the patient behind `token`; returns the submission
/// response.
pub async fn submit_intake(app: &TestApp, token: &str, answers: Map<String, Value>) -> Value {
    let call = call_ok;
    let intake = call(app, Method::POST, "/api/v1/intakes", token, Some(json!({}))).await;
    let id = intake["id"].as_str().unwrap();
    let path = format!("/api/v1/intakes/{id}");
    call(
        app,
        Method::PUT,
        &path,
        token,
        Some(json!({ "answers": answers })),
    )
    .await;
    call(app, Method::POST, &format!("{path}/submit"), token, None).await
}

#[tokio::test]
async fn questionnaires_are_served_for_any_front_end_to_render() {
    let app = TestApp::spawn().await;
    let list: Value = app
        .get("/api/v1/questionnaires")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["follow-up", "intake"]);

    let intake: Value = app
        .get("/api/v1/questionnaires/intake")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(intake["resourceType"], "Questionnaire");
    assert_eq!(intake["id"], "intake");
    let text = intake.to_string();
    for link_id in [
        "saddle_numbness",
        "pain_now",
        "odi_10",
        "sbt_9",
        "leg_numbness",
    ] {
        assert!(
            text.contains(&format!("\"linkId\":\"{link_id}\"")),
            "{link_id}"
        );
    }
    assert!(text.contains("enableWhen"));
    expect_problem(
        app.get("/api/v1/questionnaires/nope").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_patient_saves_a_draft_resumes_it_and_submits() {
    let clinic = clinic(TestApp::spawn().await).await;
    let app = &clinic.app;
    let intake = clinic
        .call(
            Method::POST,
            "/api/v1/intakes",
            &clinic.patient,
            Some(json!({})),
        )
        .await;
    assert_eq!(intake["status"], "draft");
    assert_eq!(intake["patient_id"], clinic.patient_id.as_str());
    let id = intake["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/intakes/{id}");

    // A partial draft is fine; a wrong value in it is not.
    clinic
        .call(
            Method::PUT,
            &path,
            &clinic.patient,
            Some(json!({"answers": {"pain_now": 4, "sex": "female"}})),
        )
        .await;
    let problem = expect_problem(
        app.send(
            Method::PUT,
            &path,
            Some(&clinic.patient),
            Some(json!({"answers": {"pain_now": 11, "sex": "robot", "shoe_size": 9}})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = problem.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    for field in ["pain_now", "sex", "shoe_size"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }

    // Resumed elsewhere: the saved draft is what the last good save left.
    let resumed = clinic.call(Method::GET, &path, &clinic.patient, None).await;
    assert_eq!(resumed["answers"], json!({"pain_now": 4, "sex": "female"}));

    // Submitting the partial draft lists every missing answer; safety questions are never "no".
    let problem = expect_problem(
        app.send(
            Method::POST,
            &format!("{path}/submit"),
            Some(&clinic.patient),
            None,
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let errors = problem.body["errors"].as_array().unwrap();
    assert!(errors.len() > 20, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == "saddle_numbness" && e["code"] == "required"),
        "{errors:#?}"
    );

    clinic
        .call(
            Method::PUT,
            &path,
            &clinic.patient,
            Some(json!({"answers": routine_answers(clinic.today())})),
        )
        .await;
    let submitted = clinic
        .call(
            Method::POST,
            &format!("{path}/submit"),
            &clinic.patient,
            None,
        )
        .await;
    assert_eq!(submitted["outcome"]["disposition"], "routine");
    assert_eq!(
        submitted["outcome"]["advice"]["headline"],
        "You can book an appointment"
    );
    assert_eq!(submitted["intake"]["status"], "submitted");
    assert!(submitted["intake"].get("clinical").is_none());

    // Immutable once submitted.
    expect_problem(
        app.send(
            Method::PUT,
            &path,
            Some(&clinic.patient),
            Some(json!({"answers": {}})),
        )
        .await,
        409,
        "intake_not_draft",
    )
    .await;
    expect_problem(
        app.send(
            Method::POST,
            &format!("{path}/submit"),
            Some(&clinic.patient),
            None,
        )
        .await,
        409,
        "intake_not_draft",
    )
    .await;
}

#[tokio::test]
async fn each_role_sees_only_its_part_of_an_intake() {
    let clinic = clinic(TestApp::spawn().await).await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let today = clinic.today();
    let submitted = clinic
        .submit(with(
            routine_answers(today),
            &[("cancer_history", json!(true))],
        ))
        .await;
    assert_eq!(submitted["outcome"]["disposition"], "urgent");
    let id = submitted["intake"]["id"].as_str().unwrap();
    let path = format!("/api/v1/intakes/{id}");

    let patient = clinic.call(Method::GET, &path, &clinic.patient, None).await;
    assert_eq!(patient["disposition"], "urgent");
    assert!(patient["answers"].is_object());
    assert!(patient["advice"]["reasons"].as_array().unwrap().len() == 1);
    assert!(
        patient.get("clinical").is_none(),
        "no rationale for patients"
    );
    assert!(!patient.to_string().contains("rationale"));

    // The front desk: the disposition and its general advice, never the answers, the clinical
    // detail or the advice's reasons (which restate the answers).
    let staff = clinic.call(Method::GET, &path, &clinic.staff, None).await;
    assert_eq!(staff["disposition"], "urgent");
    assert_eq!(staff["advice"]["headline"], patient["advice"]["headline"]);
    assert_eq!(
        staff["advice"]["paragraphs"],
        patient["advice"]["paragraphs"]
    );
    assert!(staff["advice"].get("reasons").is_none());
    for hidden in ["answers", "clinical", "review_status"] {
        assert!(staff.get(hidden).is_none(), "staff must not see {hidden}");
    }

    let practitioner = clinic
        .call(Method::GET, &path, &clinic.practitioner, None)
        .await;
    let clinical = &practitioner["clinical"];
    assert_eq!(clinical["findings"][0]["rule_id"], "CANCER_HISTORY");
    assert!(clinical["findings"][0]["rationale"].as_str().unwrap().len() > 20);
    assert!(
        clinical["rule_set_version"]
            .as_str()
            .unwrap()
            .starts_with("v2+sha256:")
    );
    assert_eq!(clinical["facts"]["age"], 40);
    assert!(clinical["scores"]["odi"].is_object());
    assert_eq!(practitioner["review_status"], "pending");

    let admin = clinic.app.access_token(Role::Admin).await;
    expect_problem(
        clinic
            .app
            .send(Method::GET, &path, Some(&admin), None)
            .await,
        403,
        "forbidden",
    )
    .await;

    // Another patient knows nothing of it.
    clinic.app.add_patient("blake@example.org").await;
    let blake = clinic.app.login("blake@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_problem(
        clinic
            .app
            .send(Method::GET, &path, Some(&blake), None)
            .await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        clinic
            .app
            .send(
                Method::POST,
                "/api/v1/intakes",
                Some(&blake),
                Some(json!({"patient_id": clinic.patient_id})),
            )
            .await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        clinic
            .app
            .send(
                Method::GET,
                &format!("/api/v1/patients/{}/intakes", clinic.patient_id),
                Some(&blake),
                None,
            )
            .await,
        404,
        "not_found",
    )
    .await;
    let list = clinic
        .call(
            Method::GET,
            &format!("/api/v1/patients/{}/intakes", clinic.patient_id),
            &clinic.staff,
            None,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("answers").is_none());
}

#[tokio::test]
async fn the_front_desk_fills_an_intake_for_a_patient() {
    let clinic = clinic(TestApp::spawn().await).await;
    let problem = expect_problem(
        clinic
            .app
            .send(
                Method::POST,
                "/api/v1/intakes",
                Some(&clinic.staff),
                Some(json!({})),
            )
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem.body["errors"][0]["field"], "patient_id");
    let intake = clinic
        .call(
            Method::POST,
            "/api/v1/intakes",
            &clinic.staff,
            Some(json!({"patient_id": clinic.patient_id})),
        )
        .await;
    let id = intake["id"].as_str().unwrap();
    clinic
        .call(
            Method::PUT,
            &format!("/api/v1/intakes/{id}"),
            &clinic.staff,
            Some(json!({"answers": routine_answers(clinic.today())})),
        )
        .await;
    let submitted = clinic
        .call(
            Method::POST,
            &format!("/api/v1/intakes/{id}/submit"),
            &clinic.staff,
            None,
        )
        .await;
    assert_eq!(submitted["outcome"]["disposition"], "routine");
    assert!(submitted["intake"].get("answers").is_none());
    // The patient sees it as theirs.
    let own = clinic
        .call(
            Method::GET,
            &format!("/api/v1/intakes/{id}"),
            &clinic.patient,
            None,
        )
        .await;
    assert_eq!(own["status"], "submitted");
}

#[tokio::test]
async fn an_emergency_alerts_every_practitioner_without_clinical_details() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await).await;
    clinic
        .app
        .add_user("dr.two@clinic.example", Role::Practitioner)
        .await;
    let today = clinic.today();
    let submitted = clinic
        .submit(with(
            routine_answers(today),
            &[
                ("saddle_numbness", json!(true)),
                ("bladder_change", json!(true)),
            ],
        ))
        .await;
    assert_eq!(submitted["outcome"]["disposition"], "emergency");
    assert_eq!(
        submitted["outcome"]["advice"]["headline"],
        "Please go to a hospital emergency department now"
    );
    let id = submitted["intake"]["id"].as_str().unwrap();

    clinic.app.worker().run_once().await.unwrap();
    let mail = sink.received();
    assert_eq!(mail.len(), 2, "one alert per practitioner");
    for message in &mail {
        let text = message.text();
        assert!(text.contains(&format!("/reviews/{id}")), "{text}");
        for clinical in ["numb", "bladder", "saddle", "emergency", "CES"] {
            assert!(
                !text.to_lowercase().contains(&clinical.to_lowercase()),
                "{clinical} in {text}"
            );
        }
    }
}

#[tokio::test]
async fn the_review_queue_puts_the_most_severe_and_oldest_first_and_takes_decisions() {
    let clinic = clinic(TestApp::spawn().await).await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let today = clinic.today();
    // A review case that needs no other age: the date of birth must be the record's.
    let non_mechanical = with(
        routine_answers(today),
        &[
            ("night_pain_no_relief", json!(true)),
            ("constant_pain", json!(true)),
        ],
    );
    let review = clinic.submit(non_mechanical).await;
    assert_eq!(review["outcome"]["disposition"], "review");
    clinic.app.clock.advance(Duration::minutes(3));
    let urgent_first = clinic
        .submit(with(
            routine_answers(today),
            &[("cancer_history", json!(true))],
        ))
        .await;
    clinic.app.clock.advance(Duration::minutes(3));
    let emergency = clinic
        .submit(with(
            routine_answers(today),
            &[("saddle_numbness", json!(true))],
        ))
        .await;
    clinic.app.clock.advance(Duration::minutes(3));
    let urgent_second = clinic
        .submit(with(
            routine_answers(today),
            &[("unexplained_weight_loss", json!(true))],
        ))
        .await;
    let routine = clinic.submit(routine_answers(today)).await;
    clinic.app.clock.advance(Duration::minutes(2));

    let id = |submitted: &Value| submitted["intake"]["id"].as_str().unwrap().to_owned();
    let queue = clinic
        .call(Method::GET, "/api/v1/reviews", &clinic.practitioner, None)
        .await;
    let order: Vec<String> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["intake_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        order,
        [
            id(&emergency),
            id(&urgent_first),
            id(&urgent_second),
            id(&review),
            id(&routine),
        ]
    );
    // A routine submission made while flags are open is queued too, shown with the most
    // severe of them; a case with no flag of the patient's open says so by leaving it out.
    assert_eq!(queue[4]["disposition"], "routine");
    assert_eq!(queue[4]["open_flag"], "emergency");
    assert_eq!(queue[0]["open_flag"], "emergency");
    assert_eq!(queue[0]["disposition"], "emergency");
    assert_eq!(queue[0]["patient_name"], "Alex Morgan");
    assert_eq!(queue[0]["rule_ids"], json!(["CES_SADDLE"]));
    // Access tokens last 15 minutes, so the clock moves in minutes here.
    assert_eq!(queue[3]["waiting_minutes"], 11);

    // A case shows the patient's other submissions.
    let case = clinic
        .call(
            Method::GET,
            &format!("/api/v1/reviews/{}", id(&urgent_first)),
            &clinic.practitioner,
            None,
        )
        .await;
    assert_eq!(
        case["intake"]["clinical"]["findings"][0]["rule_id"],
        "CANCER_HISTORY"
    );
    assert_eq!(case["earlier"].as_array().unwrap().len(), 4);
    assert_eq!(case["date_of_birth"], PATIENT_DATE_OF_BIRTH);

    // Contacting the patient keeps the case open; clearing it closes it.
    let decide = |intake: String, decision: &'static str| {
        let clinic = &clinic;
        async move {
            clinic
                .app
                .send(
                    Method::POST,
                    &format!("/api/v1/intakes/{intake}/review"),
                    Some(&clinic.practitioner),
                    Some(json!({"decision": decision, "note": "Spoke on the phone."})),
                )
                .await
        }
    };
    assert_eq!(
        decide(id(&urgent_first), "contacted_patient")
            .await
            .status(),
        201
    );
    assert_eq!(
        decide(id(&urgent_first), "cleared_for_care").await.status(),
        201
    );
    // A draft is no case to decide.
    let draft = clinic
        .call(
            Method::POST,
            "/api/v1/intakes",
            &clinic.patient,
            Some(json!({})),
        )
        .await;
    expect_problem(
        decide(draft["id"].as_str().unwrap().to_owned(), "cleared_for_care").await,
        409,
        "not_in_review",
    )
    .await;

    let pending = clinic
        .call(Method::GET, "/api/v1/reviews", &clinic.practitioner, None)
        .await;
    assert_eq!(pending.as_array().unwrap().len(), 4);
    let decided = clinic
        .call(
            Method::GET,
            "/api/v1/reviews?status=decided",
            &clinic.practitioner,
            None,
        )
        .await;
    assert_eq!(decided[0]["intake_id"], id(&urgent_first).as_str());
    let case = clinic
        .call(
            Method::GET,
            &format!("/api/v1/reviews/{}", id(&urgent_first)),
            &clinic.practitioner,
            None,
        )
        .await;
    let decisions: Vec<&str> = case["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["contacted_patient", "cleared_for_care"]);
    expect_problem(
        clinic
            .app
            .send(Method::GET, "/api/v1/reviews", Some(&clinic.staff), None)
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn a_correction_supersedes_the_earlier_submission() {
    let clinic = clinic(TestApp::spawn().await).await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let today = clinic.today();
    let first = clinic.submit(routine_answers(today)).await;
    let first_id = first["intake"]["id"].as_str().unwrap();
    let correction = clinic
        .call(
            Method::POST,
            "/api/v1/intakes",
            &clinic.patient,
            Some(json!({"corrects": first_id})),
        )
        .await;
    assert_eq!(correction["supersedes"], first_id);
    assert_eq!(
        correction["answers"]["pain_now"], 4,
        "starts from the answers"
    );
    let id = correction["id"].as_str().unwrap();
    clinic
        .call(
            Method::PUT,
            &format!("/api/v1/intakes/{id}"),
            &clinic.patient,
            Some(json!({"answers": with(routine_answers(today), &[("cancer_history", json!(true))])})),
        )
        .await;
    let submitted = clinic
        .call(
            Method::POST,
            &format!("/api/v1/intakes/{id}/submit"),
            &clinic.patient,
            None,
        )
        .await;
    assert_eq!(submitted["outcome"]["disposition"], "urgent");
    let earlier = clinic
        .call(
            Method::GET,
            &format!("/api/v1/intakes/{first_id}"),
            &clinic.patient,
            None,
        )
        .await;
    assert_eq!(earlier["status"], "superseded");
    assert_eq!(earlier["disposition"], "routine", "its result is kept");
    // A superseded submission cannot be corrected again.
    expect_problem(
        clinic
            .app
            .send(
                Method::POST,
                "/api/v1/intakes",
                Some(&clinic.patient),
                Some(json!({"corrects": first_id})),
            )
            .await,
        409,
        "not_correctable",
    )
    .await;
}

#[tokio::test]
async fn clinicians_evaluate_answers_without_storing_them() {
    let clinic = clinic(TestApp::spawn().await).await;
    let as_of = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let answers = with(
        routine_answers(as_of),
        &[
            ("date_of_birth", json!("1976-03-02")),
            ("pain_started_on", json!("2026-01-11")),
        ],
    );
    // 49 years old on 1 March 2026 with 49 days of pain: below the age cut-off of 50.
    let young = clinic
        .call(
            Method::POST,
            "/api/v1/triage/evaluate",
            &clinic.practitioner,
            Some(json!({"answers": answers, "as_of": "2026-03-01"})),
        )
        .await;
    assert_eq!(young["outcome"]["disposition"], "routine");
    assert_eq!(young["clinical"]["facts"]["age"], 49);
    // The next day they are 50.
    let older = clinic
        .call(
            Method::POST,
            "/api/v1/triage/evaluate",
            &clinic.practitioner,
            Some(json!({"answers": answers, "as_of": "2026-03-02"})),
        )
        .await;
    assert_eq!(older["clinical"]["facts"]["age"], 50);
    assert_eq!(older["outcome"]["disposition"], "review");
    assert_eq!(
        older["clinical"]["findings"][0]["rule_id"],
        "NOT_IMPROVING_OLDER"
    );

    let problem = expect_problem(
        clinic
            .app
            .send(
                Method::POST,
                "/api/v1/triage/evaluate",
                Some(&clinic.practitioner),
                Some(json!({"answers": {"pain_now": 4}})),
            )
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert!(problem.body["errors"].as_array().unwrap().len() > 20);
    expect_problem(
        clinic
            .app
            .send(
                Method::POST,
                "/api/v1/triage/evaluate",
                Some(&clinic.patient),
                Some(json!({"answers": answers})),
            )
            .await,
        403,
        "forbidden",
    )
    .await;
    // Nothing was stored.
    let list = clinic
        .call(
            Method::GET,
            &format!("/api/v1/patients/{}/intakes", clinic.patient_id),
            &clinic.practitioner,
            None,
        )
        .await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_follow_up_link_works_once_feeds_the_trend_and_expires() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await).await;
    let app = &clinic.app;
    let intake = clinic.submit(routine_answers(clinic.today())).await;
    assert_eq!(intake["outcome"]["disposition"], "routine");

    let send = format!("/api/v1/patients/{}/follow-ups", clinic.patient_id);
    clinic.call(Method::POST, &send, &clinic.staff, None).await;
    app.worker().run_once().await.unwrap();
    let mail = sink.received();
    assert_eq!(mail.len(), 1);
    let token = mail[0].token_after("/follow-ups/");
    let path = format!("/api/v1/follow-ups/{token}");

    let form: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(form["given_name"], "Alex");
    assert_eq!(form["questionnaire"]["id"], "follow-up");

    // Invalid answers are refused and the link still works.
    let problem = expect_problem(
        app.send(
            Method::POST,
            &path,
            None,
            Some(json!({"answers": {"pain_now": 2}})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert!(
        problem.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "saddle_numbness")
    );
    app.clock.advance(Duration::days(7));
    let outcome = app
        .send(
            Method::POST,
            &path,
            None,
            Some(json!({"answers": follow_up_answers(2, false)})),
        )
        .await;
    assert_eq!(outcome.status(), 200);
    let outcome: Value = outcome.json().await.unwrap();
    assert_eq!(outcome["disposition"], "routine");
    // Used up.
    expect_problem(
        app.send(
            Method::POST,
            &path,
            None,
            Some(json!({"answers": follow_up_answers(2, false)})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    expect_problem(app.get(&path).await, 404, "not_found").await;

    // A week on, the morning's access tokens have expired.
    let practitioner = app.access_token(Role::Practitioner).await;
    let staff = app.access_token(Role::Staff).await;
    let trend = clinic
        .call(
            Method::GET,
            &format!("/api/v1/patients/{}/outcomes", clinic.patient_id),
            &practitioner,
            None,
        )
        .await;
    assert_eq!(trend["baseline_intake_id"], intake["intake"]["id"]);
    let points = trend["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1]["questionnaire_id"], "follow-up");
    assert_eq!(points[1]["pain_now"], 2);
    assert_eq!(points[1]["pain_change"], -2);
    assert_eq!(points[1]["pain_trend"], "meaningfully_better");
    assert_eq!(points[1]["odi_change"], 0.0);
    assert_eq!(points[1]["odi_trend"], "no_meaningful_change");

    // A new link expires after 14 days.
    clinic.call(Method::POST, &send, &staff, None).await;
    app.worker().run_once().await.unwrap();
    let token = sink.received()[1].token_after("/follow-ups/");
    app.clock.advance(Duration::days(14));
    expect_problem(
        app.get(&format!("/api/v1/follow-ups/{token}")).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_emergency_on_a_follow_up_reaches_the_queue_and_the_practitioners() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await).await;
    let app = &clinic.app;
    clinic
        .call(
            Method::POST,
            &format!("/api/v1/patients/{}/follow-ups", clinic.patient_id),
            &clinic.practitioner,
            None,
        )
        .await;
    app.worker().run_once().await.unwrap();
    let token = sink.received()[0].token_after("/follow-ups/");
    let outcome: Value = app
        .send(
            Method::POST,
            &format!("/api/v1/follow-ups/{token}"),
            None,
            Some(json!({"answers": follow_up_answers(6, true)})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["disposition"], "emergency");
    let queue = clinic
        .call(Method::GET, "/api/v1/reviews", &clinic.practitioner, None)
        .await;
    assert_eq!(queue[0]["questionnaire_id"], "follow-up");
    assert_eq!(queue[0]["rule_ids"], json!(["CES_SADDLE"]));
    app.worker().run_once().await.unwrap();
    let alerts: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|mail| mail.text().contains("/reviews/"))
        .collect();
    assert_eq!(alerts.len(), 1, "the one practitioner is alerted");
}

#[tokio::test]
async fn a_clinic_replaces_questionnaires_and_a_bad_rule_file_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let mut intake: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/triage/content/intake-v2.json"
    )))
    .unwrap();
    intake["title"] = json!("Riverside back pain questionnaire");
    std::fs::write(dir.path().join("intake.json"), intake.to_string()).unwrap();
    let app = TestApp::builder()
        .args(["--questionnaire-dir", dir.path().to_str().unwrap()])
        .spawn()
        .await;
    let served: Value = app
        .get("/api/v1/questionnaires/intake")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(served["title"], "Riverside back pain questionnaire");

    let rules = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/triage/content/rules-v2.toml"
    ))
    .replace("when = \"saddle_numbness\"", "when = \"saddle_numbnes\"");
    let rules_file = dir.path().join("rules.toml");
    std::fs::write(&rules_file, rules).unwrap();
    let data_dir = dir.path().join("data");
    let cli = <lumbar::cli::Cli as clap::Parser>::try_parse_from([
        "lumbar",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--rules-file",
        rules_file.to_str().unwrap(),
    ])
    .unwrap();
    let clock = std::sync::Arc::new(lumbar::clock::ManualClock::new(crate::helpers::test_epoch()));
    let error = match lumbar::Application::build(cli.config, clock).await {
        Ok(_) => panic!("a rule file naming an unknown question must stop startup"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("CES_SADDLE"), "{error}");
    assert!(error.contains("saddle_numbnes"), "{error}");
}
