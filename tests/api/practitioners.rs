//! Practitioners, their weekly hours in each location's zone, and their time off.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_problem};

/// Creates a location in `zone` as `token`; returns its id.
pub async fn location(app: &TestApp, token: &str, zone: &str) -> String {
    let created: Value = app
        .send(
            Method::POST,
            "/api/v1/locations",
            Some(token),
            Some(json!({"name": format!("Clinic {zone}"), "address": "1 Main St", "time_zone": zone})),
        )
        .await
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// A practitioner account made bookable at `locations`; returns the practitioner id.
pub async fn practitioner(
    app: &TestApp,
    token: &str,
    email: &str,
    discipline: &str,
    locations: &[&str],
) -> String {
    let user = app.add_user(email, Role::Practitioner).await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/practitioners",
            Some(token),
            Some(json!({"user_id": user, "discipline": discipline, "location_ids": locations})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

fn codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_front_desk_makes_a_practitioner_bookable() {
    let app = TestApp::spawn().await;
    let staff = app.access_token(Role::Staff).await;
    let london = location(&app, &staff, "Europe/London").await;
    let id = practitioner(
        &app,
        &staff,
        "sam@clinic.example",
        "chiropractic",
        &[&london],
    )
    .await;

    let listed: Value = app
        .send(Method::GET, "/api/v1/practitioners", Some(&staff), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["discipline"], "chiropractic");
    assert_eq!(listed[0]["location_ids"], json!([london]));
    assert_eq!(listed[0]["display_name"], "Sam Taylor");

    let user = listed[0]["user_id"].clone();
    expect_problem(
        app.send(
            Method::POST,
            "/api/v1/practitioners",
            Some(&staff),
            Some(json!({"user_id": user, "discipline": "chiropractic", "location_ids": [london]})),
        )
        .await,
        409,
        "practitioner_exists",
    )
    .await;
    let desk = app.add_user("desk@clinic.example", Role::Staff).await;
    let problem = expect_problem(
        app.send(
            Method::POST,
            "/api/v1/practitioners",
            Some(&staff),
            Some(json!({"user_id": desk, "discipline": "physiotherapy", "location_ids": [london]})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(codes(&problem.body)[0].0, "user_id");
    let other = app.add_user("kim@clinic.example", Role::Practitioner).await;
    let problem = expect_problem(
        app.send(
            Method::POST,
            "/api/v1/practitioners",
            Some(&staff),
            Some(json!({"user_id": other, "discipline": "physiotherapy",
                        "location_ids": [uuid::Uuid::now_v7()]})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(codes(&problem.body)[0].0, "location_ids[0]");
}

#[tokio::test]
async fn weekly_hours_are_validated_per_location_and_across_zones() {
    let app = TestApp::spawn().await;
    let staff = app.access_token(Role::Staff).await;
    let london = location(&app, &staff, "Europe/London").await;
    let new_york = location(&app, &staff, "America/New_York").await;
    let elsewhere = location(&app, &staff, "Asia/Tokyo").await;
    let id = practitioner(
        &app,
        &staff,
        "sam@clinic.example",
        "physiotherapy",
        &[&london, &new_york],
    )
    .await;
    let path = format!("/api/v1/practitioners/{id}/working-hours");
    let put = |body: Value| {
        let app = &app;
        let staff = staff.clone();
        let path = path.clone();
        async move { app.send(Method::PUT, &path, Some(&staff), Some(body)).await }
    };

    let week = json!({"locations": [{"location_id": london, "intervals": [
        {"weekday": "monday", "start": "09:00", "end": "12:00"},
        {"weekday": "monday", "start": "13:00", "end": "17:00"},
        {"weekday": "friday", "start": "08:30", "end": "12:30"},
    ]}]});
    let saved = put(week.clone()).await;
    assert_eq!(saved.status(), 200);
    let shown: Value = app
        .send(Method::GET, &path, Some(&staff), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown, week);

    let problem = expect_problem(
        put(json!({"locations": [{"location_id": london, "intervals": [
            {"weekday": "monday", "start": "09:00", "end": "12:00"},
            {"weekday": "monday", "start": "11:00", "end": "13:00"},
        ]}]}))
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert!(
        codes(&problem.body)
            .iter()
            .any(|(field, code)| field.starts_with("locations[0].") && code == "overlapping"),
        "{:?}",
        codes(&problem.body)
    );
    // Off-grid times and an end before the start, reported together.
    let problem = expect_problem(
        put(json!({"locations": [{"location_id": london, "intervals": [
            {"weekday": "tuesday", "start": "09:07", "end": "10:00"},
            {"weekday": "wednesday", "start": "15:00", "end": "14:00"},
        ]}]}))
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        codes(&problem.body),
        [
            (
                "locations[0].intervals[0].start".to_owned(),
                "off_grid".to_owned()
            ),
            (
                "locations[0].intervals[1].end".to_owned(),
                "end_not_after_start".to_owned()
            ),
        ]
    );

    // Monday 14:00-16:00 in London is 09:00-11:00 in New York: the same person cannot be in both.
    let problem = expect_problem(
        put(json!({"locations": [
            {"location_id": london, "intervals": [{"weekday": "monday", "start": "14:00", "end": "16:00"}]},
            {"location_id": new_york, "intervals": [{"weekday": "monday", "start": "09:00", "end": "10:00"}]},
        ]}))
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert!(
        codes(&problem.body)
            .iter()
            .any(|(_, code)| code == "overlaps_other_location"),
        "{:?}",
        codes(&problem.body)
    );
    let problem = expect_problem(
        put(json!({"locations": [{"location_id": elsewhere, "intervals": []}]})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(codes(&problem.body)[0].0, "locations[0].location_id");

    // Nothing refused was stored.
    let shown: Value = app
        .send(Method::GET, &path, Some(&staff), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown, week);
}

#[tokio::test]
async fn time_off_is_recorded_listed_and_removed() {
    let app = TestApp::spawn().await;
    let staff = app.access_token(Role::Staff).await;
    let london = location(&app, &staff, "Europe/London").await;
    let id = practitioner(
        &app,
        &staff,
        "sam@clinic.example",
        "chiropractic",
        &[&london],
    )
    .await;
    let path = format!("/api/v1/practitioners/{id}/time-off");
    let created = app
        .send(
            Method::POST,
            &path,
            Some(&staff),
            Some(
                json!({"starts_at": "2026-12-24T00:00:00Z", "ends_at": "2026-12-28T00:00:00Z",
                        "reason": "Holiday"}),
            ),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let problem = expect_problem(
        app.send(
            Method::POST,
            &path,
            Some(&staff),
            Some(
                json!({"starts_at": "2026-12-28T00:00:00Z", "ends_at": "2026-12-24T00:00:00Z",
                        "reason": "Backwards"}),
            ),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(codes(&problem.body)[0].0, "ends_at");

    let practitioner = app.access_token(Role::Practitioner).await;
    let listed: Value = app
        .send(Method::GET, &path, Some(&practitioner), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["reason"], "Holiday");
    let (_, _) = app.add_patient("alex@example.org").await;
    let patient = app.login("alex@example.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_problem(
        app.send(Method::GET, &path, Some(&patient), None).await,
        403,
        "forbidden",
    )
    .await;

    let one = format!("{path}/{}", created["id"].as_str().unwrap());
    assert_eq!(
        app.send(Method::DELETE, &one, Some(&staff), None)
            .await
            .status(),
        204
    );
    expect_problem(
        app.send(Method::DELETE, &one, Some(&staff), None).await,
        404,
        "not_found",
    )
    .await;
}
