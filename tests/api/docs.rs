use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn openapi_spec_describes_every_operation_and_its_problem_responses() {
    let app = TestApp::spawn().await;

    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let spec: Value = response.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(spec["info"]["title"], "Lumbar");
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));

    let paths = spec["paths"].as_object().unwrap();
    for path in ["/healthz", "/readyz"] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            for range in ["4XX", "5XX"] {
                let schema =
                    &operation["responses"][range]["content"]["application/problem+json"]["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Problem",
                    "{method} {path} documents {range} as a problem"
                );
            }
        }
    }
    // Request bodies refuse unknown fields, and the spec says so.
    for request in ["LoginRequest", "RefreshRequest", "NewAccount"] {
        assert_eq!(
            spec["components"]["schemas"][request]["additionalProperties"], false,
            "{request}"
        );
    }
    let problem = &spec["components"]["schemas"]["Problem"];
    let required: Vec<&str> = problem["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Exactly what every problem carries; `errors`, `detail` and the rest are optional.
    assert_eq!(required, ["type", "title", "status", "code"]);
}

#[tokio::test]
async fn docs_page_serves_swagger_ui_for_the_spec() {
    let app = TestApp::spawn().await;

    let response = app.get("/docs").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "the page loads Swagger UI");
    assert!(html.contains("/healthz"), "the page embeds the spec");
}
