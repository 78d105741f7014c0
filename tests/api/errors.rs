//! Every malformed request gets an RFC 9457 problem with a stable code, never a 500 or poem's
//! default plain-text body.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    helpers::{TestApp, expect_problem},
    probe::ProbeApi,
};

const ECHO: &str = "/api/v1/test-probe/echo";

async fn probe_app() -> TestApp {
    TestApp::builder().spawn_with(ProbeApi).await
}

/// POSTs `body` as JSON to the echo probe.
async fn echo(app: &TestApp, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.post_raw(ECHO, "application/json", body).await
}

#[tokio::test]
async fn a_valid_body_passes_through_the_edge_unchanged() {
    let app = probe_app().await;
    let response = echo(&app, r#"{"name":"disc","count":3}"#).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"name": "disc", "count": 3}));
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = probe_app().await;
    let response = echo(&app, r#"{"name": "disc", "count": "#).await;
    let problem = expect_problem(response, 400, "malformed_json").await;
    assert_eq!(problem.body["instance"], ECHO);
    assert!(
        problem.detail().contains("not valid JSON"),
        "{}",
        problem.detail()
    );
}

#[tokio::test]
async fn an_empty_body_is_a_400_problem() {
    let app = probe_app().await;
    let response = echo(&app, "").await;
    expect_problem(response, 400, "malformed_json").await;
}

#[tokio::test]
async fn an_unknown_field_is_a_422_problem_naming_it() {
    let app = probe_app().await;
    let body = r#"{"name":"disc","count":3,"is_admin":true}"#;
    let problem = expect_problem(echo(&app, body).await, 422, "invalid_body").await;
    assert!(
        problem.detail().contains("is_admin"),
        "{}",
        problem.detail()
    );
}

#[tokio::test]
async fn a_wrong_type_or_missing_field_is_a_422_problem() {
    let app = probe_app().await;
    let wrong_type = r#"{"name":"disc","count":"three"}"#;
    expect_problem(echo(&app, wrong_type).await, 422, "invalid_body").await;
    // A number is not a string, even though poem-openapi's own `String` would take it.
    let number_for_text = r#"{"name":123,"count":3}"#;
    expect_problem(echo(&app, number_for_text).await, 422, "invalid_body").await;
    let negative = r#"{"name":"disc","count":-1}"#;
    expect_problem(echo(&app, negative).await, 422, "invalid_body").await;
    let missing = r#"{"name":"disc"}"#;
    expect_problem(echo(&app, missing).await, 422, "invalid_body").await;
    let not_an_object = r#"["disc", 3]"#;
    expect_problem(echo(&app, not_an_object).await, 422, "invalid_body").await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let app = probe_app().await;
    let response = app.post_raw(ECHO, "text/plain", "name=disc").await;
    expect_problem(response, 415, "unsupported_media_type").await;

    let no_type = app
        .client
        .post(app.url(ECHO))
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_problem(no_type, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = TestApp::builder()
        .args(["--max-body-bytes", "2048"])
        .spawn_with(ProbeApi)
        .await;
    let big = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(4096));
    let problem = expect_problem(echo(&app, big).await, 413, "payload_too_large").await;
    assert!(problem.detail().contains("2048"), "{}", problem.detail());

    // Just under the limit still works.
    let fits = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(1900));
    assert_eq!(echo(&app, fits).await.status(), 200);
}

#[tokio::test]
async fn an_oversized_chunked_body_without_length_is_a_413_too() {
    let app = TestApp::builder()
        .args(["--max-body-bytes", "2048"])
        .spawn_with(ProbeApi)
        .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST {ECHO} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = "x".repeat(1000);
    for _ in 0..4 {
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        if stream.write_all(framed.as_bytes()).await.is_err() {
            break; // The server may answer and close before reading everything.
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");
    assert!(
        response.contains(r#""code":"payload_too_large""#),
        "{response}"
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let problem = expect_problem(app.get("/api/v1/no-such-thing").await, 404, "not_found").await;
    assert_eq!(problem.body["instance"], "/api/v1/no-such-thing");
    // Anything under /api is the API's, even outside a version; `/` is the start page now.
    expect_problem(app.get("/api/v2/appointments").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = TestApp::spawn().await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    expect_problem(response, 405, "method_not_allowed").await;

    let response = app
        .client
        .post(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    expect_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_400_problems_naming_the_parameter() {
    let app = probe_app().await;
    let id = "0190a6c8-0000-7000-8000-000000000001";
    let ok = app
        .get(&format!("/api/v1/test-probe/items/{id}?limit=5"))
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["limit"], 5);

    let item = format!("/api/v1/test-probe/items/{id}");
    let wrong_method = app.client.delete(app.url(&item)).send().await.unwrap();
    assert_eq!(wrong_method.headers()["allow"], "GET, HEAD");
    expect_problem(wrong_method, 405, "method_not_allowed").await;

    let bad_path = app.get("/api/v1/test-probe/items/not-a-uuid").await;
    let problem = expect_problem(bad_path, 400, "invalid_parameter").await;
    assert_eq!(problem.body["errors"][0]["field"], "path");
    assert!(problem.detail().contains("uuid"), "{}", problem.detail());

    let bad_query = app
        .get(&format!("/api/v1/test-probe/items/{id}?limit=many"))
        .await;
    let problem = expect_problem(bad_query, 400, "invalid_parameter").await;
    assert_eq!(problem.body["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_problem_and_the_server_keeps_serving() {
    let app = probe_app().await;
    let problem = expect_problem(
        app.get("/api/v1/test-probe/panic").await,
        500,
        "internal_error",
    )
    .await;
    assert!(
        !problem.detail().contains("index out of bounds"),
        "{}",
        problem.detail()
    );
    // The same client (and its pooled connection) still gets answers.
    assert_eq!(app.get("/healthz").await.status(), 200);
    expect_problem(
        app.get("/api/v1/test-probe/panic").await,
        500,
        "internal_error",
    )
    .await;
}

#[tokio::test]
async fn an_internal_error_is_a_500_problem_that_hides_its_cause() {
    let app = probe_app().await;
    let problem = expect_problem(
        app.get("/api/v1/test-probe/internal").await,
        500,
        "internal_error",
    )
    .await;
    let text = problem.body.to_string();
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains("db.internal"), "{text}");
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = TestApp::builder()
        .args(["--cors-origins", "https://clinic.example"])
        .spawn()
        .await;

    let allowed = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://clinic.example")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://clinic.example"
    );
    let exposed = allowed.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/healthz"))
        .header("origin", "https://clinic.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://clinic.example"
    );

    let refused = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    expect_problem(refused, 403, "forbidden").await;

    // Errors from the routes still carry CORS headers, so a browser app can read them.
    let not_found = app
        .client
        .get(app.url("/api/v1/nope"))
        .header("origin", "https://clinic.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        not_found.headers()["access-control-allow-origin"],
        "https://clinic.example"
    );
    expect_problem(not_found, 404, "not_found").await;
}

#[tokio::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://clinic.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// A body with several problems lists every one of them, each under its field's name, with
/// what would be accepted: not just the first, not `found null` without a field.
#[tokio::test]
async fn every_problem_in_a_body_is_listed_by_field() {
    let app = TestApp::spawn().await;
    let response = app
        .send(
            reqwest::Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({
                "given_name": null,
                "family_name": "   ",
                "email": "alex@example.org",
                "date_of_birth": "1984-06-",
                "password": "a long enough password",
                "role": "admin"
            })),
        )
        .await;
    let problem = expect_problem(response, 422, "invalid_body").await;
    assert_eq!(problem.body["title"], "Unprocessable Content");
    let mut found: Vec<(String, String)> = problem.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["field"].as_str().unwrap().to_owned(),
                error["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("date_of_birth", "invalid_format"),
            ("family_name", "invalid_format"),
            ("given_name", "wrong_type"),
            ("role", "unknown_field"),
        ]
        .map(|(field, code)| (field.to_owned(), code.to_owned()))
    );
    assert!(
        problem
            .detail()
            .contains("`given_name` expected a string, not null"),
        "{}",
        problem.detail()
    );
    assert!(
        problem.detail().contains("YYYY-MM-DD"),
        "{}",
        problem.detail()
    );
}

/// An enum's refusal names the values it takes.
#[tokio::test]
async fn a_wrong_enum_value_lists_the_valid_ones() {
    let app = TestApp::spawn().await;
    let admin = app.access_token(entity::user::Role::Admin).await;
    let response = app
        .send(
            reqwest::Method::POST,
            "/api/v1/appointment-types",
            Some(&admin),
            Some(json!({
                "name": "Massage", "discipline": "massage", "duration_minutes": 30,
                "buffer_after_minutes": 0, "new_patient": false
            })),
        )
        .await;
    let problem = expect_problem(response, 422, "invalid_body").await;
    let discipline = problem.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|error| error["field"] == "discipline")
        .cloned()
        .unwrap_or_default();
    assert_eq!(discipline["code"], "not_allowed", "{}", problem.body);
    assert_eq!(
        discipline["message"],
        "expected one of chiropractic, physiotherapy, not massage"
    );
}
