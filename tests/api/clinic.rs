//! Clinic setup over HTTP: locations with their time zone, appointment types on the slot grid,
//! and the booking policies, each validated with every problem listed.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_problem};

fn fields(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["field"].as_str().unwrap().to_owned(),
                error["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn locations_need_a_real_time_zone() {
    let app = TestApp::spawn().await;
    let staff = app.access_token(Role::Staff).await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/locations",
            Some(&staff),
            Some(json!({"name": " Riverside ", "address": "1 River St", "time_zone": "America/New_York"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["name"], "Riverside");
    assert_eq!(created["time_zone"], "America/New_York");

    for zone in ["Mars/Olympus_Mons", "EST", "+05:00"] {
        let problem = expect_problem(
            app.send(
                Method::POST,
                "/api/v1/locations",
                Some(&staff),
                Some(json!({"name": "Hill", "address": "2 Hill Rd", "time_zone": zone})),
            )
            .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(
            fields(&problem.body),
            [("time_zone".to_owned(), "unknown_time_zone".to_owned())],
            "{zone}"
        );
    }

    let (_, _) = app.add_patient("alex@example.org").await;
    let patient = app.login("alex@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed: Value = app
        .send(Method::GET, "/api/v1/locations", Some(&patient), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    expect_problem(
        app.send(
            Method::POST,
            "/api/v1/locations",
            Some(&patient),
            Some(json!({"name": "Mine", "address": "3 Lane", "time_zone": "UTC"})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn policies_and_appointment_types_follow_the_slot_grid() {
    let app = TestApp::spawn().await;
    let admin = app.access_token(Role::Admin).await;
    let policies: Value = app
        .send(Method::GET, "/api/v1/clinic/policies", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        policies,
        json!({"slot_grid_minutes": 15, "min_notice_minutes": 120, "horizon_days": 90,
               "cancellation_window_minutes": 1440, "reminder_lead_minutes": 1440,
               "follow_up_delay_days": 14})
    );

    let new_type = |duration: i32| {
        json!({"name": "Physio follow-up", "discipline": "physiotherapy",
               "duration_minutes": duration, "buffer_after_minutes": 5, "new_patient": false})
    };
    let problem = expect_problem(
        app.send(
            Method::POST,
            "/api/v1/appointment-types",
            Some(&admin),
            Some(new_type(50)),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        fields(&problem.body),
        [("duration_minutes".to_owned(), "off_grid".to_owned())]
    );

    // Notice longer than the horizon could never be booked: refused with the grid problem too.
    let problem = expect_problem(
        app.send(
            Method::PUT,
            "/api/v1/clinic/policies",
            Some(&admin),
            Some(
                json!({"slot_grid_minutes": 7, "min_notice_minutes": 43200, "horizon_days": 2,
                        "cancellation_window_minutes": 0, "reminder_lead_minutes": 60,
                        "follow_up_delay_days": 7}),
            ),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let found = fields(&problem.body);
    assert!(
        found.iter().any(|(field, _)| field == "slot_grid_minutes"),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(field, _)| field == "min_notice_minutes"),
        "{found:?}"
    );

    let set = app
        .send(
            Method::PUT,
            "/api/v1/clinic/policies",
            Some(&admin),
            Some(
                json!({"slot_grid_minutes": 10, "min_notice_minutes": 60, "horizon_days": 60,
                        "cancellation_window_minutes": 720, "reminder_lead_minutes": 1440,
                        "follow_up_delay_days": 10}),
            ),
        )
        .await;
    assert_eq!(set.status(), 200);
    let created = app
        .send(
            Method::POST,
            "/api/v1/appointment-types",
            Some(&admin),
            Some(new_type(50)),
        )
        .await;
    assert_eq!(created.status(), 201, "50 minutes is on a 10-minute grid");
    let staff = app.access_token(Role::Staff).await;
    let types: Value = app
        .send(Method::GET, "/api/v1/appointment-types", Some(&staff), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(types[0]["duration_minutes"], 50);
    assert_eq!(types[0]["discipline"], "physiotherapy");
    let policies: Value = app
        .send(Method::GET, "/api/v1/clinic/policies", Some(&staff), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(policies["slot_grid_minutes"], 10);
    let practitioner = app.access_token(Role::Practitioner).await;
    expect_problem(
        app.send(
            Method::PUT,
            "/api/v1/clinic/policies",
            Some(&practitioner),
            Some(policies),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}
