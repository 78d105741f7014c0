//! Hostile text at the edge: NUL and other control characters are refused naming the field (or
//! the query parameter) on every endpoint and both backends, and what reaches a calendar invite
//! cannot add lines to it.

use entity::user::Role;
use lumbar::clock::Clock;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    appointments::{PATIENT_EMAIL, clinic},
    helpers::{TEST_PASSWORD, TestApp, app_with_sink, expect_problem},
    intakes::{call_ok, follow_up_answers, routine_answers, with},
    smtp_sink::SmtpSink,
};

/// The fields named by a problem's `errors`, with their codes.
fn errors(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .expect("a list of errors")
        .iter()
        .map(|error| {
            (
                error["field"].as_str().unwrap().to_owned(),
                error["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts a 422 whose `errors` name `field` as holding an invalid character.
async fn refused_naming(response: reqwest::Response, code: &str, field: &str) {
    let problem = expect_problem(response, 422, code).await;
    assert!(
        errors(&problem.body)
            .iter()
            .any(|(named, code)| named == field && code == "invalid_character"),
        "{field} is not named: {}",
        problem.body
    );
}

/// Asserts a 400 naming only `parameter` as holding an invalid character.
async fn bad_parameter(app: &TestApp, method: Method, path: &str, token: &str, parameter: &str) {
    let response = app.send(method.clone(), path, Some(token), None).await;
    let problem = expect_problem(response, 400, "invalid_parameter").await;
    assert_eq!(
        errors(&problem.body),
        vec![(parameter.to_owned(), "invalid_character".to_owned())],
        "{method} {path}"
    );
}

#[tokio::test]
async fn a_login_with_a_nul_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    app.add_user("sam@clinic.example", Role::Staff).await;
    for (body, field) in [
        (
            json!({"email": "sam@clinic.example\u{0}", "password": TEST_PASSWORD}),
            "email",
        ),
        (
            json!({"email": "sam@clinic.example", "password": "a long\u{0} password"}),
            "password",
        ),
    ] {
        let response = app
            .send(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await;
        refused_naming(response, "invalid_body", field).await;
    }
    // The account is untouched: the refusals were not counted as failed logins.
    app.login("sam@clinic.example").await;
}

#[tokio::test]
async fn a_search_with_a_control_character_is_a_bad_parameter() {
    let app = TestApp::spawn().await;
    let staff = app.access_token(Role::Staff).await;
    for query in ["q=a%00b", "q=a%0Db", "q=%1B%5B2J", "limit=5&q=a%00"] {
        let path = format!("/api/v1/patients?{query}");
        bad_parameter(&app, Method::GET, &path, &staff, "q").await;
    }
    // Ordinary searches still work, spaces and accents included.
    let found = call_ok(
        &app,
        Method::GET,
        "/api/v1/patients?q=Zo%C3%AB%20O%27Brien",
        &staff,
        None,
    )
    .await;
    assert!(found.is_object() || found.is_array(), "{found}");
}

#[tokio::test]
async fn a_path_segment_with_a_nul_is_a_bad_parameter() {
    let app = TestApp::spawn().await;
    let patient = app.access_token(Role::Patient).await;
    for path in [
        "/api/v1/follow-ups/abc%00def",
        "/api/v1/questionnaires/intake%00",
    ] {
        bad_parameter(&app, Method::GET, path, &patient, "path").await;
    }
}

#[tokio::test]
async fn line_breaks_and_control_characters_in_single_line_fields_are_refused_by_field() {
    let app = TestApp::spawn().await;
    let staff = app.access_token(Role::Staff).await;
    let admin = app.access_token(Role::Admin).await;
    let hostile = "Eve\r\nATTENDEE:mailto:evil@x.com";
    let cancel = format!("/api/v1/appointments/{}/cancel", uuid::Uuid::now_v7());
    let time_off = format!("/api/v1/practitioners/{}/time-off", uuid::Uuid::now_v7());
    let cases: Vec<(&str, &str, Option<&str>, Value, &str)> = vec![
        (
            "POST",
            "/api/v1/auth/register",
            None,
            json!({"given_name": hostile, "family_name": "Ng", "email": "eve@example.org",
                   "date_of_birth": "1980-01-01", "password": "a long enough password"}),
            "given_name",
        ),
        (
            "POST",
            "/api/v1/patients",
            Some(&staff),
            json!({"given_name": "Eve", "family_name": "Ng\u{7}", "date_of_birth": "1980-01-01"}),
            "family_name",
        ),
        (
            "POST",
            "/api/v1/patients",
            Some(&staff),
            json!({"given_name": "Eve", "family_name": "Ng", "date_of_birth": "1980-01-01",
                   "email": "eve\u{0}@example.org"}),
            "email",
        ),
        (
            "POST",
            "/api/v1/locations",
            Some(&staff),
            json!({"name": "Hill Clinic", "address": "1 Hill St\nLondon", "time_zone": "Europe/London"}),
            "address",
        ),
        (
            "POST",
            "/api/v1/locations",
            Some(&staff),
            json!({"name": "Hill Clinic", "address": "1 Hill St", "time_zone": "Europe/London\u{0}"}),
            "time_zone",
        ),
        (
            "POST",
            "/api/v1/appointment-types",
            Some(&staff),
            json!({"name": "Visit\t", "discipline": "chiropractic", "duration_minutes": 30,
                   "buffer_after_minutes": 0, "new_patient": false}),
            "name",
        ),
        (
            "POST",
            "/api/v1/users",
            Some(&admin),
            json!({"email": "kim@clinic.example", "display_name": "Kim\u{1b}[2J", "role": "staff",
                   "password": "a long enough password"}),
            "display_name",
        ),
        (
            "POST",
            &cancel,
            Some(&staff),
            json!({"reason": "ill\r\nBCC: x"}),
            "reason",
        ),
        (
            "POST",
            &time_off,
            Some(&staff),
            json!({"starts_at": "2026-03-10T09:00:00Z", "ends_at": "2026-03-10T12:00:00Z",
                   "reason": "Leave\u{85}"}),
            "reason",
        ),
    ];
    for (method, path, token, body, field) in cases {
        let method: Method = method.parse().unwrap();
        let response = app.send(method, path, token, Some(body)).await;
        refused_naming(response, "invalid_body", field).await;
    }
}

#[tokio::test]
async fn a_note_may_hold_line_breaks_and_tabs_but_no_other_control_character() {
    let app = TestApp::spawn().await;
    let practitioner = app.access_token(Role::Practitioner).await;
    let path = format!("/api/v1/intakes/{}/review", uuid::Uuid::now_v7());
    for note in ["Seen.\u{0}", "Seen.\u{8}", "Seen.\u{7f}"] {
        let response = app
            .send(
                Method::POST,
                &path,
                Some(&practitioner),
                Some(json!({"decision": "cleared_for_care", "note": note})),
            )
            .await;
        refused_naming(response, "invalid_body", "note").await;
    }
    // Line breaks and tabs pass the edge: the intake itself is what is missing.
    let response = app
        .send(
            Method::POST,
            &path,
            Some(&practitioner),
            Some(
                json!({"decision": "cleared_for_care", "note": "Seen.\r\nNo red flags:\tcleared."}),
            ),
        )
        .await;
    expect_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn free_text_answers_refuse_nul_and_control_characters_but_keep_line_breaks() {
    let app = TestApp::spawn().await;
    let (_, _) = app.add_patient("alex@example.org").await;
    let patient = app.login("alex@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let today = app.clock.now().date_naive();
    let intake = call_ok(
        &app,
        Method::POST,
        "/api/v1/intakes",
        &patient,
        Some(json!({})),
    )
    .await;
    let path = format!("/api/v1/intakes/{}", intake["id"].as_str().unwrap());

    let save = |medications: &str| {
        let answers = with(
            routine_answers(today),
            &[("medications", json!(medications))],
        );
        app.send(
            Method::PUT,
            &path,
            Some(&patient),
            Some(json!({ "answers": answers })),
        )
    };
    // A NUL is refused before anything reads the answers, like in any other body.
    let response = save("ibuprofen\u{0}").await;
    refused_naming(response, "invalid_body", "answers.medications").await;
    // Other control characters are the answer check's, by linkId.
    for text in ["ibuprofen\u{1b}[31m", "\u{c}", "a\u{7f}"] {
        let response = save(text).await;
        let problem = expect_problem(response, 422, "validation_failed").await;
        assert!(
            errors(&problem.body)
                .iter()
                .any(|(field, code)| field == "medications" && code == "invalid_character"),
            "{text:?}: {}",
            problem.body
        );
    }
    // A NUL in a linkId is refused before anything reads it.
    let response = app
        .send(
            Method::PUT,
            &path,
            Some(&patient),
            Some(json!({"answers": {"medi\u{0}cations": "x"}})),
        )
        .await;
    refused_naming(response, "invalid_body", "answers.medi\u{0}cations").await;

    let multi_line = "ibuprofen 200 mg\r\n\tparacetamol";
    let answers = with(
        routine_answers(today),
        &[("medications", json!(multi_line))],
    );
    call_ok(
        &app,
        Method::PUT,
        &path,
        &patient,
        Some(json!({ "answers": answers })),
    )
    .await;
    let saved = call_ok(&app, Method::GET, &path, &patient, None).await;
    assert_eq!(saved["answers"]["medications"], multi_line);

    // The stateless evaluation and the follow-up form judge answers the same way.
    let clinician = app.access_token(Role::Practitioner).await;
    let answers = with(routine_answers(today), &[("goals", json!("walk\u{0}"))]);
    let response = app
        .send(
            Method::POST,
            "/api/v1/triage/evaluate",
            Some(&clinician),
            Some(json!({ "answers": answers })),
        )
        .await;
    refused_naming(response, "invalid_body", "answers.goals").await;
    let mut answers = follow_up_answers(3, false);
    answers["global_change"] = json!("better\u{0}");
    let response = app
        .send(
            Method::POST,
            "/api/v1/follow-ups/not-a-token",
            None,
            Some(json!({ "answers": answers })),
        )
        .await;
    refused_naming(response, "invalid_body", "answers.global_change").await;
}

/// Every operation that takes a JSON body refuses a NUL in it naming the field, and every
/// operation with query parameters refuses one in each of them naming the parameter.
#[tokio::test]
async fn every_endpoint_refuses_a_nul_naming_where_it_is() {
    let app = TestApp::spawn().await;
    let admin = app.access_token(Role::Admin).await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let mut bodies = 0;
    let mut queries = 0;
    for (template, operations) in spec["paths"].as_object().unwrap() {
        let path = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    id.as_str()
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, operation) in operations.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            if operation["requestBody"].is_object() {
                bodies += 1;
                let response = app
                    .send(
                        method.clone(),
                        &path,
                        Some(&admin),
                        Some(json!({"anything": "a\u{0}b"})),
                    )
                    .await;
                refused_naming(response, "invalid_body", "anything").await;
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] != "query" {
                    continue;
                }
                queries += 1;
                let name = parameter["name"].as_str().unwrap();
                let query = format!("{path}?{name}=a%00b");
                bad_parameter(&app, method.clone(), &query, &admin, name).await;
            }
        }
    }
    assert!(
        bodies > 20 && queries > 10,
        "{bodies} bodies, {queries} queries"
    );
}

/// The document says which strings are single-line, so clients and fuzzers know before asking.
#[tokio::test]
async fn the_openapi_document_describes_single_and_multi_line_text() {
    let app = TestApp::spawn().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemas = &spec["components"]["schemas"];
    let pattern = |schema: &str, field: &str| {
        let text = schemas[schema]["properties"][field]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{schema}.{field} has a pattern"))
            .to_owned();
        regex::Regex::new(&text).unwrap()
    };
    let name = pattern("NewPatientRecord", "given_name");
    assert!(name.is_match("Zoë O'Brien-Smith, Jr."));
    for bad in ["Eve\r\nATTENDEE", "a\u{0}", "\u{7f}x", "x\u{85}", "   "] {
        assert!(!name.is_match(bad), "{bad:?}");
    }
    let email = pattern("LoginRequest", "email");
    assert!(email.is_match("sam@clinic.example"));
    assert!(!email.is_match("sam@clinic.example\u{0}"));
    let note = pattern("DecisionRequest", "note");
    assert!(note.is_match("Seen.\r\n\tCleared."));
    for bad in ["a\u{0}", "a\u{8}", " \n "] {
        assert!(!note.is_match(bad), "{bad:?}");
    }
}

/// The `ATTENDEE` lines of an unfolded invite.
fn attendees(ics: &str) -> Vec<&str> {
    ics.split("\r\n")
        .filter(|line| line.starts_with("ATTENDEE"))
        .collect()
}

#[tokio::test]
async fn a_name_cannot_add_lines_to_the_calendar_invite() {
    let sink = SmtpSink::start().await;
    let clinic = clinic(app_with_sink(&sink, &[]).await, "Europe/London").await;
    let app = &clinic.app;
    // The API refuses the line break outright.
    let response = app
        .send(
            Method::PATCH,
            &format!("/api/v1/patients/{}", clinic.patient_id),
            Some(&clinic.staff),
            Some(json!({"given_name": "Eve\r\nATTENDEE:mailto:evil@x.com"})),
        )
        .await;
    refused_naming(response, "invalid_body", "given_name").await;
    // What a single line may hold is escaped: `;`, `,`, `\`, `"` and `:` stay inside the name.
    call_ok(
        app,
        Method::PATCH,
        &format!("/api/v1/patients/{}", clinic.patient_id),
        &clinic.staff,
        Some(json!({"given_name": "Eve\\n\"ATTENDEE:mailto:evil@x.com\";RSVP=TRUE,x"})),
    )
    .await;
    // A name stored before the edge refused line breaks is still made harmless.
    app.db
        .execute_raw(Statement::from_sql_and_values(
            app.db.get_database_backend(),
            match app.db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    "UPDATE patients SET family_name = $1 WHERE id = $2"
                }
                _ => "UPDATE patients SET family_name = ? WHERE id = ?",
            },
            [
                "Ng\r\nATTENDEE:mailto:evil2@x.com\r\nX-EVIL:1".into(),
                uuid::Uuid::parse_str(&clinic.patient_id).unwrap().into(),
            ],
        ))
        .await
        .unwrap();

    let visit = clinic.booking(&clinic.new_visit, "2026-03-04T10:00:00Z");
    assert_eq!(clinic.book(&clinic.patient, "k", visit).await.status(), 201);
    app.worker().run_once().await.unwrap();
    let mail: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|mail| mail.rcpt_to.iter().any(|to| to == PATIENT_EMAIL))
        .collect();
    assert_eq!(mail.len(), 1);
    let (_, ics) = mail[0].invite().expect("an invite");
    let lines = attendees(&ics);
    assert_eq!(lines.len(), 1, "{ics}");
    assert!(
        lines[0].ends_with(&format!(":mailto:{PATIENT_EMAIL}")),
        "{ics}"
    );
    assert!(!ics.contains("\r\nX-EVIL"), "{ics}");
    assert!(
        ics.split("\r\n")
            .all(|line| !line.contains('\r') && !line.contains('\n'))
    );
    // The parameter value is quoted and carries no quote of its own (RFC 6868 `^'`).
    assert!(
        lines[0].contains("CN=\"Eve\\n^'ATTENDEE:mailto:evil@x.com^';RSVP=TRUE,x Ng"),
        "{ics}"
    );
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1, "{ics}");
    let _: icalendar::Calendar = ics.parse().expect("a parsable invite");
}
