//! Who sees what of an intake or follow-up (rules-v2.md, "Who sees what"): the front desk sees
//! a submission's status, its disposition and that disposition's general advice from every
//! endpoint, including the answer to a submission they make for a patient, and never the
//! answers, scores, fired rules or the advice's reasons (which restate the answers).
//! Practitioners see everything; patients their own answers and advice.

use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, expect_problem},
    intakes::{call_ok, follow_up_answers, routine_answers, with},
};

struct Fixture {
    app: TestApp,
    patient: String,
    patient_id: Uuid,
    staff: String,
    practitioner: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    // Urgent and emergency submissions alert practitioners; these tests read responses.
    app.expect_unsent_mail();
    let (_, patient_id) = app.add_patient("eli@example.org").await;
    let patient = app.login("eli@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let staff = app.access_token(Role::Staff).await;
    let practitioner = app.access_token(Role::Practitioner).await;
    Fixture {
        app,
        patient,
        patient_id,
        staff,
        practitioner,
    }
}

impl Fixture {
    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        call_ok(&self.app, method, path, token, body).await
    }

    /// An urgent intake (a cancer history), its reason line says why.
    fn urgent_answers(&self) -> Value {
        let today = self.app.clock.now().date_naive();
        Value::Object(with(
            routine_answers(today),
            &[("cancer_history", json!(true))],
        ))
    }

    /// The front desk starts, fills and submits an intake for the patient: every response.
    async fn staff_submits(&self, answers: Value) -> [Value; 3] {
        let created = self
            .call(
                Method::POST,
                "/api/v1/intakes",
                &self.staff,
                Some(json!({ "patient_id": self.patient_id })),
            )
            .await;
        let path = format!("/api/v1/intakes/{}", created["id"].as_str().unwrap());
        let saved = self
            .call(
                Method::PUT,
                &path,
                &self.staff,
                Some(json!({ "answers": answers })),
            )
            .await;
        let submitted = self
            .call(Method::POST, &format!("{path}/submit"), &self.staff, None)
            .await;
        [created, saved, submitted]
    }

    /// The reason lines the patient reads for intake `id` (what staff must never receive).
    async fn reasons(&self, id: &str) -> Vec<String> {
        let own = self
            .call(
                Method::GET,
                &format!("/api/v1/intakes/{id}"),
                &self.patient,
                None,
            )
            .await;
        let reasons: Vec<String> = own["advice"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|reason| reason.as_str().unwrap().to_owned())
            .collect();
        assert!(!reasons.is_empty(), "an urgent intake gives a reason");
        reasons
    }
}

/// `intake` as the front desk may see it: no answers, scores, fired rules or review status,
/// and advice (if any) without reasons.
fn assert_front_desk_view(intake: &Value) {
    for hidden in ["answers", "clinical", "review_status"] {
        assert!(
            intake.get(hidden).is_none(),
            "staff see no {hidden}: {intake}"
        );
    }
    if let Some(advice) = intake.get("advice") {
        assert_front_desk_advice(advice);
    }
}

/// The disposition's general advice, without the reasons.
fn assert_front_desk_advice(advice: &Value) {
    assert!(!advice["headline"].as_str().unwrap().is_empty(), "{advice}");
    assert!(
        !advice["paragraphs"].as_array().unwrap().is_empty(),
        "{advice}"
    );
    assert!(
        advice.get("reasons").is_none(),
        "staff see no reasons: {advice}"
    );
}

/// Nothing clinical anywhere in `body`, and none of `reasons`' text.
fn assert_nothing_clinical(body: &Value, reasons: &[String]) {
    let text = body.to_string();
    for clinical in [
        "CANCER_HISTORY",
        "cancer_history",
        "findings",
        "rationale",
        "scores",
        "facts",
        "reasons",
    ] {
        assert!(!text.contains(clinical), "{clinical} in {text}");
    }
    for reason in reasons {
        assert!(!text.contains(reason.as_str()), "a reason in {text}");
    }
}

#[tokio::test]
async fn the_front_desk_submitting_for_a_patient_gets_the_disposition_and_general_advice_only() {
    let fixture = fixture().await;
    let [created, saved, submitted] = fixture.staff_submits(fixture.urgent_answers()).await;
    let id = submitted["intake"]["id"].as_str().unwrap().to_owned();
    let reasons = fixture.reasons(&id).await;

    assert_front_desk_view(&created);
    assert_front_desk_view(&saved);
    assert_eq!(saved["status"], "draft");

    assert_eq!(submitted["outcome"]["disposition"], "urgent");
    assert_front_desk_advice(&submitted["outcome"]["advice"]);
    assert_eq!(submitted["intake"]["status"], "submitted");
    assert_eq!(submitted["intake"]["disposition"], "urgent");
    assert_front_desk_view(&submitted["intake"]);
    assert_front_desk_advice(&submitted["intake"]["advice"]);
    for response in [&created, &saved, &submitted] {
        assert_nothing_clinical(response, &reasons);
    }

    // The general advice is the patient's, word for word, less the reasons.
    let own = fixture
        .call(
            Method::GET,
            &format!("/api/v1/intakes/{id}"),
            &fixture.patient,
            None,
        )
        .await;
    assert_eq!(
        submitted["outcome"]["advice"]["headline"],
        own["advice"]["headline"]
    );
    assert_eq!(
        submitted["outcome"]["advice"]["paragraphs"],
        own["advice"]["paragraphs"]
    );
}

#[tokio::test]
async fn the_front_desk_reads_and_lists_intakes_and_follow_ups_without_clinical_detail() {
    let fixture = fixture().await;
    let [_, _, submitted] = fixture.staff_submits(fixture.urgent_answers()).await;
    let id = submitted["intake"]["id"].as_str().unwrap().to_owned();
    let reasons = fixture.reasons(&id).await;
    // A follow-up with an emergency answer, by the patient's emailed link.
    let token = lumbar::store::account_tokens::issue(
        &fixture.app.db,
        fixture.app.clock.now(),
        entity::account_token::Purpose::FollowUp,
        lumbar::store::account_tokens::Subject::Patient(fixture.patient_id),
        chrono::Duration::days(14),
    )
    .await
    .unwrap();
    let follow_up = fixture
        .app
        .send(
            Method::POST,
            &format!("/api/v1/follow-ups/{token}"),
            None,
            Some(json!({ "answers": follow_up_answers(6, true) })),
        )
        .await;
    assert_eq!(follow_up.status(), 200);
    let follow_up: Value = follow_up.json().await.unwrap();
    // The link is the patient's: they read why.
    assert_eq!(follow_up["disposition"], "emergency");
    assert!(
        !follow_up["advice"]["reasons"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let read = fixture
        .call(
            Method::GET,
            &format!("/api/v1/intakes/{id}"),
            &fixture.staff,
            None,
        )
        .await;
    assert_eq!(read["status"], "submitted");
    assert_eq!(read["disposition"], "urgent");
    assert_front_desk_view(&read);
    assert_front_desk_advice(&read["advice"]);
    assert_nothing_clinical(&read, &reasons);

    let list = fixture
        .call(
            Method::GET,
            &format!("/api/v1/patients/{}/intakes", fixture.patient_id),
            &fixture.staff,
            None,
        )
        .await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let dispositions: Vec<&str> = list
        .iter()
        .map(|intake| intake["disposition"].as_str().unwrap())
        .collect();
    assert!(dispositions.contains(&"urgent") && dispositions.contains(&"emergency"));
    for intake in list {
        assert_front_desk_view(intake);
        assert_front_desk_advice(&intake["advice"]);
        assert_nothing_clinical(intake, &reasons);
    }
    let emergency_reasons = follow_up["advice"]["reasons"].as_array().unwrap();
    let text = Value::Array(list.clone()).to_string();
    for reason in emergency_reasons {
        assert!(!text.contains(reason.as_str().unwrap()), "{text}");
    }

    // The case, the queue and the outcome trend are clinical: not the front desk's.
    for path in [
        format!("/api/v1/reviews/{id}"),
        "/api/v1/reviews".to_owned(),
        format!("/api/v1/patients/{}/outcomes", fixture.patient_id),
    ] {
        expect_problem(
            fixture
                .app
                .send(Method::GET, &path, Some(&fixture.staff), None)
                .await,
            403,
            "forbidden",
        )
        .await;
    }
}

#[tokio::test]
async fn practitioners_see_everything_and_patients_their_answers_and_reasons() {
    let fixture = fixture().await;
    let [_, _, submitted] = fixture.staff_submits(fixture.urgent_answers()).await;
    let id = submitted["intake"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/intakes/{id}");

    let practitioner = fixture
        .call(Method::GET, &path, &fixture.practitioner, None)
        .await;
    assert_eq!(practitioner["answers"]["cancer_history"], true);
    assert!(
        !practitioner["advice"]["reasons"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        practitioner["clinical"]["findings"][0]["rule_id"],
        "CANCER_HISTORY"
    );
    assert!(practitioner["clinical"]["scores"]["odi"].is_object());
    assert_eq!(practitioner["clinical"]["facts"]["age"], 40);
    assert_eq!(practitioner["review_status"], "pending");
    let listed = fixture
        .call(
            Method::GET,
            &format!("/api/v1/patients/{}/intakes", fixture.patient_id),
            &fixture.practitioner,
            None,
        )
        .await;
    assert_eq!(listed[0]["answers"]["cancer_history"], true);
    assert!(listed[0]["clinical"]["findings"].is_array());

    let patient = fixture
        .call(Method::GET, &path, &fixture.patient, None)
        .await;
    assert_eq!(patient["answers"]["cancer_history"], true);
    assert!(!patient["advice"]["reasons"].as_array().unwrap().is_empty());
    assert!(patient.get("clinical").is_none());

    // A patient submitting their own intake reads the reasons in the answer.
    let created = fixture
        .call(
            Method::POST,
            "/api/v1/intakes",
            &fixture.patient,
            Some(json!({ "corrects": id })),
        )
        .await;
    let own = fixture
        .call(
            Method::POST,
            &format!("/api/v1/intakes/{}/submit", created["id"].as_str().unwrap()),
            &fixture.patient,
            None,
        )
        .await;
    assert_eq!(own["outcome"]["disposition"], "urgent");
    assert!(
        !own["outcome"]["advice"]["reasons"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(own["intake"]["answers"]["cancer_history"], true);
}

#[tokio::test]
async fn the_schema_says_what_the_front_desk_does_not_receive_is_optional() {
    let app = TestApp::spawn().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemas = &spec["components"]["schemas"];
    let required = |schema: &str| -> Vec<String> {
        schemas[schema]["required"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .map(|name| name.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(required("Advice"), ["headline", "paragraphs"]);
    let intake = required("Intake");
    for optional in [
        "answers",
        "advice",
        "clinical",
        "review_status",
        "disposition",
    ] {
        assert!(
            !intake.contains(&optional.to_owned()),
            "{optional}: {intake:?}"
        );
    }
    assert!(schemas["Advice"]["properties"]["reasons"].is_object());
}
