//! The intake's date of birth is the patient record's (rules-v2.md, "The patient's date of
//! birth"): a new intake starts with it filled in, a draft or submission with another date is
//! refused naming `date_of_birth` (and is never judged), and without a record (the clinicians'
//! what-if) the answer is taken as given.

use chrono::NaiveDate;
use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::{
    helpers::{PATIENT_DATE_OF_BIRTH, TestApp, expect_problem},
    intakes::{call_ok, routine_answers, with},
};

/// 70 on the test epoch: old enough for the fracture-risk rule (age ≥ 70) on a lifting injury.
const SEVENTY: &str = "1956-03-02";

struct Fixture {
    app: TestApp,
    patient: String,
    patient_id: String,
    staff: String,
    practitioner: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let (_, patient_id) = app.add_patient("dana@example.org").await;
    let patient = app.login("dana@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let staff = app.access_token(Role::Staff).await;
    let practitioner = app.access_token(Role::Practitioner).await;
    Fixture {
        app,
        patient,
        patient_id: patient_id.to_string(),
        staff,
        practitioner,
    }
}

impl Fixture {
    fn today(&self) -> NaiveDate {
        self.app.clock.now().date_naive()
    }

    /// A lifting injury: routine at 40, a fracture-risk review at 70.
    fn lifting(&self, date_of_birth: &str) -> Map<String, Value> {
        with(
            routine_answers(self.today()),
            &[
                ("onset_cause", json!("lifting")),
                ("date_of_birth", json!(date_of_birth)),
            ],
        )
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        call_ok(&self.app, method, path, token, body).await
    }

    async fn start(&self, token: &str, body: Value) -> String {
        let created = self
            .call(Method::POST, "/api/v1/intakes", token, Some(body))
            .await;
        created["id"].as_str().unwrap().to_owned()
    }

    async fn save(&self, token: &str, id: &str, answers: Map<String, Value>) -> reqwest::Response {
        self.app
            .send(
                Method::PUT,
                &format!("/api/v1/intakes/{id}"),
                Some(token),
                Some(json!({ "answers": answers })),
            )
            .await
    }

    async fn submit(&self, token: &str, id: &str) -> reqwest::Response {
        self.app
            .send(
                Method::POST,
                &format!("/api/v1/intakes/{id}/submit"),
                Some(token),
                None,
            )
            .await
    }

    /// Corrects the record's date of birth, as the front desk does.
    async fn correct_record(&self, date_of_birth: &str) {
        self.call(
            Method::PATCH,
            &format!("/api/v1/patients/{}", self.patient_id),
            &self.staff,
            Some(json!({ "date_of_birth": date_of_birth })),
        )
        .await;
    }

    async fn review_queue(&self) -> Value {
        self.call(Method::GET, "/api/v1/reviews", &self.practitioner, None)
            .await
    }
}

/// The one `date_of_birth` problem in a refusal: its code and message.
fn birth_date_error(body: &Value) -> (String, String) {
    let errors = body["errors"].as_array().unwrap();
    let mine: Vec<&Value> = errors
        .iter()
        .filter(|error| error["field"] == "date_of_birth")
        .collect();
    assert_eq!(mine.len(), 1, "{errors:#?}");
    (
        mine[0]["code"].as_str().unwrap().to_owned(),
        mine[0]["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_new_intake_starts_with_the_records_birth_date() {
    let fixture = fixture().await;
    let draft = fixture
        .call(
            Method::POST,
            "/api/v1/intakes",
            &fixture.patient,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        draft["answers"],
        json!({ "date_of_birth": PATIENT_DATE_OF_BIRTH })
    );
}

#[tokio::test]
async fn a_draft_with_another_birth_date_is_refused_naming_it_and_nothing_is_saved() {
    let fixture = fixture().await;
    let id = fixture.start(&fixture.patient, json!({})).await;

    let problem = expect_problem(
        fixture
            .save(
                &fixture.patient,
                &id,
                Map::from_iter([
                    ("date_of_birth".to_owned(), json!(SEVENTY)),
                    ("pain_now".to_owned(), json!(4)),
                ]),
            )
            .await,
        422,
        "validation_failed",
    )
    .await;
    let (code, message) = birth_date_error(&problem.body);
    assert_eq!(code, "differs_from_record");
    assert!(message.contains("ask the clinic to correct"), "{message}");
    assert_eq!(problem.body["errors"].as_array().unwrap().len(), 1);

    // The refused save changed nothing; the record's date can be saved.
    let draft = fixture
        .call(
            Method::GET,
            &format!("/api/v1/intakes/{id}"),
            &fixture.patient,
            None,
        )
        .await;
    assert_eq!(
        draft["answers"],
        json!({ "date_of_birth": PATIENT_DATE_OF_BIRTH })
    );
    let saved = fixture
        .save(
            &fixture.patient,
            &id,
            fixture.lifting(PATIENT_DATE_OF_BIRTH),
        )
        .await;
    assert_eq!(saved.status(), 200);

    // A draft may leave the date out until it is submitted.
    let partial = fixture
        .save(
            &fixture.patient,
            &id,
            Map::from_iter([("pain_now".to_owned(), json!(4))]),
        )
        .await;
    assert_eq!(partial.status(), 200);
}

#[tokio::test]
async fn the_front_desk_is_held_to_the_record_too_and_told_to_correct_it() {
    let fixture = fixture().await;
    let id = fixture
        .start(&fixture.staff, json!({ "patient_id": fixture.patient_id }))
        .await;
    let problem = expect_problem(
        fixture
            .save(&fixture.staff, &id, fixture.lifting(SEVENTY))
            .await,
        422,
        "validation_failed",
    )
    .await;
    let (code, message) = birth_date_error(&problem.body);
    assert_eq!(code, "differs_from_record");
    assert!(message.contains("correct the record"), "{message}");
}

#[tokio::test]
async fn a_submission_whose_birth_date_is_not_the_records_is_refused_and_never_judged() {
    let fixture = fixture().await;
    fixture.app.expect_unsent_mail();
    // Saved while it matched; the clinic then corrects the record (born 1956, not 1986).
    let id = fixture.start(&fixture.patient, json!({})).await;
    let saved = fixture
        .save(
            &fixture.patient,
            &id,
            fixture.lifting(PATIENT_DATE_OF_BIRTH),
        )
        .await;
    assert_eq!(saved.status(), 200);
    fixture.correct_record(SEVENTY).await;

    let problem = expect_problem(
        fixture.submit(&fixture.patient, &id).await,
        422,
        "validation_failed",
    )
    .await;
    let (code, message) = birth_date_error(&problem.body);
    assert_eq!(code, "differs_from_record");
    assert!(message.contains("ask the clinic to correct"), "{message}");
    assert_eq!(problem.body["errors"].as_array().unwrap().len(), 1);

    // Nothing was judged: still a draft, no disposition, nothing in the queue.
    let draft = fixture
        .call(
            Method::GET,
            &format!("/api/v1/intakes/{id}"),
            &fixture.practitioner,
            None,
        )
        .await;
    assert_eq!(draft["status"], "draft");
    assert!(draft.get("disposition").is_none());
    assert!(draft.get("clinical").is_none());
    assert_eq!(fixture.review_queue().await, json!([]));

    // With the record's date the age rules read the record's age: 70, a fracture-risk review.
    let saved = fixture
        .save(&fixture.patient, &id, fixture.lifting(SEVENTY))
        .await;
    assert_eq!(saved.status(), 200);
    let submitted = fixture.submit(&fixture.patient, &id).await;
    assert_eq!(submitted.status(), 200);
    let submitted: Value = submitted.json().await.unwrap();
    assert_eq!(submitted["outcome"]["disposition"], "review");
    let judged = fixture
        .call(
            Method::GET,
            &format!("/api/v1/intakes/{id}"),
            &fixture.practitioner,
            None,
        )
        .await;
    assert_eq!(judged["clinical"]["facts"]["age"], 70);
    assert_eq!(
        judged["clinical"]["findings"][0]["rule_id"],
        "FRACTURE_RISK"
    );
}

#[tokio::test]
async fn a_refused_submission_lists_the_birth_date_with_every_other_problem() {
    let fixture = fixture().await;
    let id = fixture.start(&fixture.patient, json!({})).await;
    fixture.correct_record(SEVENTY).await;
    // The draft still carries the date it started with: the record's before the correction.
    let problem = expect_problem(
        fixture.submit(&fixture.patient, &id).await,
        422,
        "validation_failed",
    )
    .await;
    let errors = problem.body["errors"].as_array().unwrap();
    assert_eq!(errors[0]["field"], "date_of_birth");
    assert_eq!(errors[0]["code"], "differs_from_record");
    assert!(
        errors
            .iter()
            .any(|error| error["field"] == "saddle_numbness" && error["code"] == "required"),
        "{errors:#?}"
    );
}

#[tokio::test]
async fn the_records_birth_date_is_accepted_and_judged_as_the_records_age() {
    let fixture = fixture().await;
    let id = fixture.start(&fixture.patient, json!({})).await;
    let saved = fixture
        .save(
            &fixture.patient,
            &id,
            fixture.lifting(PATIENT_DATE_OF_BIRTH),
        )
        .await;
    assert_eq!(saved.status(), 200);
    let submitted = fixture.submit(&fixture.patient, &id).await;
    assert_eq!(submitted.status(), 200);
    let submitted: Value = submitted.json().await.unwrap();
    assert_eq!(submitted["outcome"]["disposition"], "routine");
    let judged = fixture
        .call(
            Method::GET,
            &format!("/api/v1/intakes/{id}"),
            &fixture.practitioner,
            None,
        )
        .await;
    assert_eq!(judged["clinical"]["facts"]["age"], 40);
}

#[tokio::test]
async fn a_correction_starts_from_the_record_as_it_is_now() {
    let fixture = fixture().await;
    fixture.app.expect_unsent_mail();
    let first = fixture.start(&fixture.patient, json!({})).await;
    fixture
        .save(
            &fixture.patient,
            &first,
            fixture.lifting(PATIENT_DATE_OF_BIRTH),
        )
        .await;
    assert_eq!(fixture.submit(&fixture.patient, &first).await.status(), 200);
    fixture.correct_record(SEVENTY).await;

    let correction = fixture
        .call(
            Method::POST,
            "/api/v1/intakes",
            &fixture.patient,
            Some(json!({ "corrects": first })),
        )
        .await;
    assert_eq!(correction["answers"]["date_of_birth"], SEVENTY);
    assert_eq!(correction["answers"]["onset_cause"], "lifting");
    let id = correction["id"].as_str().unwrap();
    let submitted: Value = fixture
        .submit(&fixture.patient, id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(submitted["outcome"]["disposition"], "review");
}

#[tokio::test]
async fn without_a_record_the_answer_is_taken_as_given() {
    // The clinicians' what-if judges answers that are no one's: any plausible date is read.
    let fixture = fixture().await;
    let evaluated = fixture
        .call(
            Method::POST,
            "/api/v1/triage/evaluate",
            &fixture.practitioner,
            Some(json!({ "answers": fixture.lifting(SEVENTY) })),
        )
        .await;
    assert_eq!(evaluated["clinical"]["facts"]["age"], 70);
    assert_eq!(evaluated["outcome"]["disposition"], "review");
}
