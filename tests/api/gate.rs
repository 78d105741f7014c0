//! The booking gate of rule set v2 (shared/clinical/rules-v2.md, "The booking gate"), tried
//! the ways a patient could walk around it: an open flag closes online booking until a
//! practitioner clears it, whatever is submitted after it.

use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::{
    appointments::{Clinic, clinic},
    helpers::{TestApp, app_with_sink, expect_problem},
    intakes::{call_ok, follow_up_answers, routine_answers, submit_intake, with},
    smtp_sink::SmtpSink,
};

/// Books the chiropractic new-patient visit at `start` as the clinic's patient.
async fn patient_books(clinic: &Clinic, key: &str, start: &str) -> reqwest::Response {
    clinic
        .book(
            &clinic.patient,
            key,
            clinic.booking(&clinic.new_visit, start),
        )
        .await
}

async fn decide(clinic: &Clinic, practitioner: &str, intake: &Value, decision: &str) {
    let id = intake["intake"]["id"].as_str().unwrap();
    call_ok(
        &clinic.app,
        Method::POST,
        &format!("/api/v1/intakes/{id}/review"),
        practitioner,
        Some(json!({"decision": decision, "note": "Spoke to the patient on the phone."})),
    )
    .await;
}

fn emergency_answers(clinic: &Clinic) -> Map<String, Value> {
    let today = clinic.app.clock.now().date_naive();
    with(routine_answers(today), &[("saddle_numbness", json!(true))])
}

/// The refusal never names the answer behind it.
fn assert_names_no_answer(detail: &str) {
    for answer in [
        "numbness",
        "saddle",
        "bladder",
        "bowel",
        "cancer",
        "weight loss",
    ] {
        assert!(!detail.to_lowercase().contains(answer), "{detail}");
    }
}

#[tokio::test]
async fn a_new_intake_or_a_correction_never_closes_an_open_flag() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    // It checks what was queued, not what was delivered.
    clinic.app.expect_unsent_mail();
    let today = clinic.app.clock.now().date_naive();
    let emergency = submit_intake(&clinic.app, &clinic.patient, emergency_answers(&clinic)).await;
    assert_eq!(emergency["outcome"]["disposition"], "emergency");
    let refused = expect_problem(
        patient_books(&clinic, "a", "2026-03-05T09:00:00Z").await,
        403,
        "intake_emergency",
    )
    .await;
    assert_names_no_answer(refused.detail());

    // A new intake answering no to everything: routine, and still no booking.
    let routine = submit_intake(&clinic.app, &clinic.patient, routine_answers(today)).await;
    assert_eq!(routine["outcome"]["disposition"], "routine");
    expect_problem(
        patient_books(&clinic, "b", "2026-03-05T09:00:00Z").await,
        403,
        "intake_emergency",
    )
    .await;

    // A correction of the emergency answers: still no booking.
    let emergency_id = emergency["intake"]["id"].as_str().unwrap();
    let correction = call_ok(
        &clinic.app,
        Method::POST,
        "/api/v1/intakes",
        &clinic.patient,
        Some(json!({"corrects": emergency_id})),
    )
    .await;
    let path = format!("/api/v1/intakes/{}", correction["id"].as_str().unwrap());
    call_ok(
        &clinic.app,
        Method::PUT,
        &path,
        &clinic.patient,
        Some(json!({"answers": routine_answers(today)})),
    )
    .await;
    let corrected = call_ok(
        &clinic.app,
        Method::POST,
        &format!("{path}/submit"),
        &clinic.patient,
        None,
    )
    .await;
    assert_eq!(corrected["outcome"]["disposition"], "routine");
    expect_problem(
        patient_books(&clinic, "c", "2026-03-05T09:00:00Z").await,
        403,
        "intake_emergency",
    )
    .await;

    // The emergency case is still in the queue, and the submissions made under it joined it.
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    let queue = call_ok(
        &clinic.app,
        Method::GET,
        "/api/v1/reviews",
        &practitioner,
        None,
    )
    .await;
    let queued: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["intake_id"].as_str().unwrap())
        .collect();
    for submission in [&emergency, &routine, &corrected] {
        assert!(
            queued.contains(&submission["intake"]["id"].as_str().unwrap()),
            "{queue}"
        );
    }
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .all(|entry| entry["open_flag"] == "emergency")
    );

    // Clearing an emergency (the practitioner spoke to the patient) opens the gate.
    decide(&clinic, &practitioner, &emergency, "cleared_for_care").await;
    assert_eq!(
        patient_books(&clinic, "d", "2026-03-05T09:00:00Z")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn the_latest_decision_counts_and_a_referral_keeps_booking_closed() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let today = clinic.app.clock.now().date_naive();
    let urgent = submit_intake(
        &clinic.app,
        &clinic.patient,
        with(routine_answers(today), &[("cancer_history", json!(true))]),
    )
    .await;
    assert_eq!(urgent["outcome"]["disposition"], "urgent");
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    decide(&clinic, &practitioner, &urgent, "cleared_for_care").await;
    assert_eq!(
        patient_books(&clinic, "a", "2026-03-05T09:00:00Z")
            .await
            .status(),
        201
    );

    // A later referral to the GP takes the case out of the queue and closes booking again.
    decide(&clinic, &practitioner, &urgent, "refer_to_gp").await;
    let refused = expect_problem(
        patient_books(&clinic, "b", "2026-03-06T09:00:00Z").await,
        403,
        "intake_urgent_not_cleared",
    )
    .await;
    assert_names_no_answer(refused.detail());
    let pending = call_ok(
        &clinic.app,
        Method::GET,
        "/api/v1/reviews",
        &practitioner,
        None,
    )
    .await;
    assert_eq!(pending, json!([]), "a referral leaves the queue");
    // Calling the patient keeps it closed; clearing again opens it.
    decide(&clinic, &practitioner, &urgent, "contacted_patient").await;
    expect_problem(
        patient_books(&clinic, "c", "2026-03-06T09:00:00Z").await,
        403,
        "intake_urgent_not_cleared",
    )
    .await;
    decide(&clinic, &practitioner, &urgent, "cleared_for_care").await;
    assert_eq!(
        patient_books(&clinic, "d", "2026-03-06T09:00:00Z")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn an_emergency_on_a_follow_up_closes_booking_like_an_intake() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let app = &clinic.app;
    let send = format!("/api/v1/patients/{}/follow-ups", clinic.patient_id);
    call_ok(app, Method::POST, &send, &clinic.staff, None).await;
    app.worker().run_once().await.unwrap();
    let token = sink.received()[0].token_after("/follow-ups/");
    let outcome = app
        .send(
            Method::POST,
            &format!("/api/v1/follow-ups/{token}"),
            None,
            Some(json!({"answers": follow_up_answers(3, true)})),
        )
        .await;
    assert_eq!(outcome.status(), 200);
    let outcome: Value = outcome.json().await.unwrap();
    assert_eq!(outcome["disposition"], "emergency", "{outcome}");
    // The practitioners' alert goes out with the booking refusal in force.
    app.worker().run_once().await.unwrap();
    let refused = expect_problem(
        patient_books(&clinic, "a", "2026-03-05T09:00:00Z").await,
        403,
        "intake_emergency",
    )
    .await;
    assert_names_no_answer(refused.detail());
}

/// Submits a follow-up through an emailed link and answers its outcome.
async fn follow_up(clinic: &Clinic, sink: &SmtpSink, answers: Value) -> Value {
    let app = &clinic.app;
    let send = format!("/api/v1/patients/{}/follow-ups", clinic.patient_id);
    call_ok(app, Method::POST, &send, &clinic.staff, None).await;
    app.worker().run_once().await.unwrap();
    let token = sink
        .received()
        .iter()
        .rev()
        .find(|mail| mail.text().contains("/follow-ups/"))
        .expect("a follow-up link")
        .token_after("/follow-ups/");
    let outcome = app
        .send(
            Method::POST,
            &format!("/api/v1/follow-ups/{token}"),
            None,
            Some(json!({ "answers": answers })),
        )
        .await;
    assert_eq!(outcome.status(), 200);
    outcome.json().await.unwrap()
}

/// Standing facts come from the latest intake: leg weakness reported at follow-up by a
/// patient whose intake told of a cancer history is MSCC, an emergency; the cancer history on
/// its own does not fire again at every follow-up.
#[tokio::test]
async fn a_follow_up_reads_standing_facts_from_the_latest_intake() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let today = clinic.app.clock.now().date_naive();
    let urgent = submit_intake(
        &clinic.app,
        &clinic.patient,
        with(routine_answers(today), &[("cancer_history", json!(true))]),
    )
    .await;
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    decide(&clinic, &practitioner, &urgent, "cleared_for_care").await;

    let quiet = follow_up(&clinic, &sink, follow_up_answers(2, false)).await;
    assert_eq!(quiet["disposition"], "routine", "{quiet}");
    let mut weak = follow_up_answers(2, false);
    weak["leg_weakness"] = json!("worsening");
    let outcome = follow_up(&clinic, &sink, weak).await;
    assert_eq!(outcome["disposition"], "emergency", "{outcome}");
    clinic.app.worker().run_once().await.unwrap();
}

/// The mails that alerted practitioners to case `id`.
fn alerts_about(sink: &SmtpSink, id: &str) -> usize {
    sink.received()
        .iter()
        .filter(|mail| mail.text().contains(&format!("/reviews/{id}")))
        .count()
}

/// Rule set v2's safety interrupt: an emergency answer saved in a draft is heeded at once
/// (advice, alert, queue, open flag), before and without the rest of the form.
#[tokio::test]
async fn an_emergency_answer_in_a_draft_interrupts_it_at_once() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let app = &clinic.app;
    let draft = call_ok(
        app,
        Method::POST,
        "/api/v1/intakes",
        &clinic.patient,
        Some(json!({})),
    )
    .await;
    let id = draft["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/intakes/{id}");
    assert!(draft.get("safety_advice").is_none(), "{draft}");

    // One emergency answer, nothing else yet.
    let saved = call_ok(
        app,
        Method::PUT,
        &path,
        &clinic.patient,
        Some(json!({"answers": {"saddle_numbness": true}})),
    )
    .await;
    let advice = &saved["safety_advice"];
    assert!(
        advice["headline"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("emergency"),
        "{saved}"
    );
    app.worker().run_once().await.unwrap();
    let alerted = alerts_about(&sink, &id);
    assert!(alerted >= 1, "practitioners are told");

    // It is in the queue as unsubmitted emergency answers, and it is an open flag, although
    // the patient's earlier intake was routine.
    let practitioner = app.access_token(Role::Practitioner).await;
    let queue = call_ok(app, Method::GET, "/api/v1/reviews", &practitioner, None).await;
    let entry = queue
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["intake_id"] == id.as_str())
        .expect("the draft is queued")
        .clone();
    assert_eq!(entry["unsubmitted"], true);
    assert_eq!(entry["disposition"], "emergency");
    expect_problem(
        patient_books(&clinic, "a", "2026-03-05T09:00:00Z").await,
        403,
        "intake_emergency",
    )
    .await;

    // Saving again, and a submission refused as incomplete, repeat the advice but not the
    // alert.
    call_ok(
        app,
        Method::PUT,
        &path,
        &clinic.patient,
        Some(json!({"answers": {"saddle_numbness": true, "pain_now": 7}})),
    )
    .await;
    let refused = expect_problem(
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
    assert_eq!(
        refused.body["safety_advice"]["headline"],
        advice["headline"]
    );
    app.worker().run_once().await.unwrap();
    assert_eq!(alerts_about(&sink, &id), alerted, "alerted once per draft");

    // The front desk saving for a patient reads the advice without its reasons.
    let for_patient = call_ok(
        app,
        Method::PUT,
        &path,
        &clinic.staff,
        Some(json!({"answers": {"saddle_numbness": true}})),
    )
    .await;
    assert!(for_patient["safety_advice"]["headline"].is_string());
    assert!(for_patient["safety_advice"].get("reasons").is_none());

    // A practitioner who has spoken to the patient decides on the draft itself.
    call_ok(
        app,
        Method::POST,
        &format!("{path}/review"),
        &practitioner,
        Some(json!({"decision": "cleared_for_care", "note": "Spoke to the patient: no numbness."})),
    )
    .await;
    assert_eq!(
        patient_books(&clinic, "b", "2026-03-05T09:00:00Z")
            .await
            .status(),
        201
    );
    app.worker().run_once().await.unwrap();
}

/// Unticking the emergency answer before submitting does not lift what the patient told us:
/// the submission is the case, queued and flagged until a practitioner decides.
#[tokio::test]
async fn a_draft_submitted_without_its_emergency_answer_keeps_the_flag() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let app = &clinic.app;
    let today = app.clock.now().date_naive();
    let draft = call_ok(
        app,
        Method::POST,
        "/api/v1/intakes",
        &clinic.patient,
        Some(json!({})),
    )
    .await;
    let path = format!("/api/v1/intakes/{}", draft["id"].as_str().unwrap());
    call_ok(
        app,
        Method::PUT,
        &path,
        &clinic.patient,
        Some(json!({"answers": {"saddle_numbness": true}})),
    )
    .await;
    call_ok(
        app,
        Method::PUT,
        &path,
        &clinic.patient,
        Some(json!({"answers": routine_answers(today)})),
    )
    .await;
    let submitted = call_ok(
        app,
        Method::POST,
        &format!("{path}/submit"),
        &clinic.patient,
        None,
    )
    .await;
    assert_eq!(submitted["outcome"]["disposition"], "routine");
    expect_problem(
        patient_books(&clinic, "a", "2026-03-05T09:00:00Z").await,
        403,
        "intake_emergency",
    )
    .await;
    let practitioner = app.access_token(Role::Practitioner).await;
    let queue = call_ok(app, Method::GET, "/api/v1/reviews", &practitioner, None).await;
    assert_eq!(queue[0]["intake_id"], submitted["intake"]["id"]);
    assert_eq!(queue[0]["unsubmitted"], false);
    assert_eq!(queue[0]["open_flag"], "emergency");
}

/// A referral and bookings racing each other: every booking is answered 201 or 403 (no 500),
/// and once the referral is in, the gate is closed whatever won the race.
#[tokio::test]
async fn a_decision_racing_bookings_leaves_the_gate_closed() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let today = clinic.app.clock.now().date_naive();
    let urgent = submit_intake(
        &clinic.app,
        &clinic.patient,
        with(routine_answers(today), &[("cancer_history", json!(true))]),
    )
    .await;
    let practitioner = clinic.app.access_token(Role::Practitioner).await;
    decide(&clinic, &practitioner, &urgent, "cleared_for_care").await;

    let starts = [
        "2026-03-05T09:00:00Z",
        "2026-03-05T10:00:00Z",
        "2026-03-05T11:00:00Z",
        "2026-03-05T13:00:00Z",
        "2026-03-05T14:00:00Z",
        "2026-03-05T15:00:00Z",
    ];
    let bookings = starts
        .iter()
        .enumerate()
        .map(|(n, start)| {
            let clinic = &clinic;
            async move {
                patient_books(clinic, &format!("race-{n}"), start)
                    .await
                    .status()
            }
        })
        .collect::<Vec<_>>();
    let referral = decide(&clinic, &practitioner, &urgent, "refer_to_gp");
    let (statuses, ()) = tokio::join!(futures_util::future::join_all(bookings), referral);
    for status in statuses {
        assert!(status == 201 || status == 403, "{status}");
    }
    expect_problem(
        patient_books(&clinic, "after", "2026-03-06T09:00:00Z").await,
        403,
        "intake_urgent_not_cleared",
    )
    .await;
}

/// A follow-up has no draft: one refused as incomplete with an emergency answer is kept as a
/// case at once (advice, alert once, queue), and its later submission is that case.
#[tokio::test]
async fn an_incomplete_follow_up_with_an_emergency_answer_interrupts_it() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let app = &clinic.app;
    let send = format!("/api/v1/patients/{}/follow-ups", clinic.patient_id);
    call_ok(app, Method::POST, &send, &clinic.staff, None).await;
    app.worker().run_once().await.unwrap();
    let token = sink.received()[0].token_after("/follow-ups/");
    let path = format!("/api/v1/follow-ups/{token}");
    let practitioner = app.access_token(Role::Practitioner).await;
    let incomplete = json!({"answers": {"saddle_numbness": true}});
    for _ in 0..2 {
        let refused = expect_problem(
            app.send(Method::POST, &path, None, Some(incomplete.clone()))
                .await,
            422,
            "validation_failed",
        )
        .await;
        assert!(
            refused.body["safety_advice"]["headline"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("emergency"),
            "{}",
            refused.body
        );
    }
    app.worker().run_once().await.unwrap();
    let queue = call_ok(app, Method::GET, "/api/v1/reviews", &practitioner, None).await;
    let entry = queue[0].clone();
    assert_eq!(entry["questionnaire_id"], "follow-up", "{queue}");
    assert_eq!(entry["unsubmitted"], true);
    let id = entry["intake_id"].as_str().unwrap().to_owned();
    // Once per practitioner (the clinic's two), however often it was refused.
    let alerted = alerts_about(&sink, &id);
    assert_eq!(alerted, 2, "alerted once for the draft");
    expect_problem(
        patient_books(&clinic, "a", "2026-03-05T09:00:00Z").await,
        403,
        "intake_emergency",
    )
    .await;

    // The complete follow-up is the same case, submitted.
    let outcome = app
        .send(
            Method::POST,
            &path,
            None,
            Some(json!({"answers": follow_up_answers(5, true)})),
        )
        .await;
    assert_eq!(outcome.status(), 200);
    app.worker().run_once().await.unwrap();
    let queue = call_ok(app, Method::GET, "/api/v1/reviews", &practitioner, None).await;
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue[0]["intake_id"], id.as_str());
    assert_eq!(queue[0]["unsubmitted"], false);
    assert_eq!(
        alerts_about(&sink, &id),
        alerted,
        "the submission does not alert again"
    );
}
