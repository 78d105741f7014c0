//! Logging in, refreshing, logging out, and what access tokens the server refuses.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Duration;
use entity::user::Role;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use lumbar::{
    auth::{
        keys::{KeyRing, generate_pem},
        tokens::{Claims, TokenService},
    },
    clock::Clock,
};
use serde_json::{Value, json};

use crate::helpers::{TEST_PASSWORD, TestApp, expect_problem};

async fn add_user(app: &TestApp, email: &str, role: Role) -> uuid::Uuid {
    app.add_user(email, role).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, email: &str) -> Value {
    app.login(email).await
}

async fn me(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn login_refresh_rotation_reuse_detection_and_logout() {
    let app = TestApp::spawn().await;
    let id = add_user(&app, "sam@clinic.example", Role::Practitioner).await;

    // Emails are case-insensitive.
    let first = login(&app, "Sam@Clinic.Example").await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 900);
    let who: Value = me(&app, first["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["id"], id.to_string());
    assert_eq!(who["role"], "practitioner");
    assert_eq!(who["email"], "sam@clinic.example");

    // Refresh rotates: a new refresh token, and the old one is spent.
    let refresh = |token: &Value| json!({"refresh_token": token["refresh_token"]});
    let second: Value = post(&app, "/api/v1/auth/refresh", refresh(&first))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        me(&app, second["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // Presenting the spent token again is theft: the whole login is revoked.
    let reused = post(&app, "/api/v1/auth/refresh", refresh(&first)).await;
    expect_problem(reused, 401, "invalid_refresh_token").await;
    let after_theft = post(&app, "/api/v1/auth/refresh", refresh(&second)).await;
    expect_problem(after_theft, 401, "invalid_refresh_token").await;

    // A new login is a new family; logout revokes it.
    let third = login(&app, "sam@clinic.example").await;
    let logout = post(&app, "/api/v1/auth/logout", refresh(&third)).await;
    assert_eq!(logout.status(), 204);
    let after_logout = post(&app, "/api/v1/auth/refresh", refresh(&third)).await;
    expect_problem(after_logout, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    add_user(&app, "sam@clinic.example", Role::Staff).await;

    let wrong = post(
        &app,
        "/api/v1/auth/login",
        json!({"email": "sam@clinic.example", "password": "not it at all"}),
    )
    .await;
    let wrong = expect_problem(wrong, 401, "invalid_credentials").await;
    let unknown = post(
        &app,
        "/api/v1/auth/login",
        json!({"email": "nobody@clinic.example", "password": TEST_PASSWORD}),
    )
    .await;
    let unknown = expect_problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(wrong.detail(), unknown.detail());
}

#[tokio::test]
async fn a_refresh_token_expires_after_30_days() {
    let app = TestApp::spawn().await;
    add_user(&app, "sam@clinic.example", Role::Staff).await;
    let tokens = login(&app, "sam@clinic.example").await;
    app.clock.advance(Duration::days(30));
    let late = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    expect_problem(late, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn expired_tampered_unsigned_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let id = add_user(&app, "admin@clinic.example", Role::Admin).await;
    let tokens = login(&app, "admin@clinic.example").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&app, &access).await.status(), 200);

    let refused = |token: String| {
        let app = &app;
        async move { expect_problem(me(app, &token).await, 401, "unauthorized").await }
    };

    // Expired: the server's clock moves past 15 minutes.
    app.clock.advance(Duration::minutes(16));
    refused(access.clone()).await;
    app.clock.advance(Duration::minutes(-16));

    // Tampered payload, original signature.
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = uuid::Uuid::now_v7().to_string().into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    refused(tampered).await;

    // alg: none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    refused(none).await;

    // A key the server does not have, with the server's issuer.
    let issuer = format!("{}/", app.address);
    let stranger = TokenService::new(
        KeyRing::from_pems(&[&generate_pem().unwrap()]).unwrap(),
        issuer.clone(),
    );
    refused(stranger.issue(id, Role::Admin, app.clock.now()).unwrap().0).await;

    // The server's own key, with the wrong audience or issuer.
    let ring = KeyRing::load_or_create(&app.data_dir.join("keys")).unwrap();
    let key = ring.signing();
    let now = app.clock.now().timestamp();
    let sign = |iss: &str, aud: &str| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let claims = Claims {
            iss: iss.into(),
            aud: aud.into(),
            sub: id.to_string(),
            role: "admin".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: "t".into(),
        };
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    };
    // Sanity: the right issuer and audience are accepted, so the two below fail for their claim.
    assert_eq!(me(&app, &sign(&issuer, "lumbar-api")).await.status(), 200);
    refused(sign(&issuer, "another-api")).await;
    refused(sign("https://elsewhere.example/", "lumbar-api")).await;
}

#[tokio::test]
async fn jwks_publishes_the_key_that_verifies_access_tokens() {
    let app = TestApp::spawn().await;
    add_user(&app, "sam@clinic.example", Role::Staff).await;
    let tokens = login(&app, "sam@clinic.example").await;
    let access = tokens["access_token"].as_str().unwrap();

    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header.kid.clone().unwrap().as_str())
        .expect("the token's kid is published");
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );

    let decoding = DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["lumbar-api"]);
    validation.validate_exp = false;
    let verified = jsonwebtoken::decode::<Claims>(access, &decoding, &validation).unwrap();
    assert_eq!(verified.claims.role, "staff");
}

#[tokio::test]
async fn login_refuses_malformed_bodies_with_problems() {
    let app = TestApp::spawn().await;
    let missing = post(&app, "/api/v1/auth/login", json!({"email": "a@b.example"})).await;
    expect_problem(missing, 422, "invalid_body").await;
    let me_without_token = app.get("/api/v1/auth/me").await;
    expect_problem(me_without_token, 401, "unauthorized").await;
}

async fn attempt(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn failed_logins_slow_an_account_down_and_success_resets_it() {
    let app = TestApp::spawn().await;
    add_user(&app, "sam@clinic.example", Role::Staff).await;
    for _ in 0..4 {
        expect_problem(
            attempt(&app, "sam@clinic.example", "wrong password!").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // The fourth failure costs a second: even the right password waits.
    let blocked = attempt(&app, "sam@clinic.example", TEST_PASSWORD).await;
    let blocked = expect_problem(blocked, 429, "too_many_attempts").await;
    assert!(!blocked.detail().contains("account") && !blocked.detail().contains("address"));

    app.clock.advance(Duration::seconds(2));
    assert_eq!(
        attempt(&app, "sam@clinic.example", TEST_PASSWORD)
            .await
            .status(),
        200
    );
    // Success forgot the failures: one more mistake costs nothing.
    expect_problem(
        attempt(&app, "sam@clinic.example", "wrong password!").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        attempt(&app, "sam@clinic.example", TEST_PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn ten_failed_logins_lock_an_account_for_fifteen_minutes() {
    let app = TestApp::spawn().await;
    add_user(&app, "sam@clinic.example", Role::Staff).await;
    for _ in 0..10 {
        expect_problem(
            attempt(&app, "sam@clinic.example", "wrong password!").await,
            401,
            "invalid_credentials",
        )
        .await;
        // Wait out each delay (at most 32 s), staying inside the 15-minute window.
        app.clock.advance(Duration::seconds(33));
    }
    expect_problem(
        attempt(&app, "sam@clinic.example", TEST_PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    app.clock.advance(Duration::minutes(13));
    expect_problem(
        attempt(&app, "sam@clinic.example", TEST_PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    app.clock.advance(Duration::minutes(2));
    assert_eq!(
        attempt(&app, "sam@clinic.example", TEST_PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn many_failures_from_one_address_slow_every_account_from_it() {
    let app = TestApp::spawn().await;
    add_user(&app, "sam@clinic.example", Role::Staff).await;
    // Guessing across many accounts from one address.
    for n in 0..11 {
        let email = format!("guess{n}@clinic.example");
        expect_problem(
            attempt(&app, &email, "wrong password!").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    expect_problem(
        attempt(&app, "sam@clinic.example", TEST_PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    app.clock.advance(Duration::seconds(2));
    assert_eq!(
        attempt(&app, "sam@clinic.example", TEST_PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn admins_create_and_disable_accounts_and_others_may_not() {
    let app = TestApp::spawn().await;
    let admin = app.access_token(Role::Admin).await;
    let staff = app.access_token(Role::Staff).await;
    let new_account = json!({
        "email": "New.Physio@Clinic.example",
        "display_name": "Jo Physio",
        "role": "practitioner",
        "password": "first password 123"
    });

    let by_staff = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&staff)
        .json(&new_account)
        .send()
        .await
        .unwrap();
    expect_problem(by_staff, 403, "forbidden").await;
    let anonymous = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&new_account)
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, 401, "unauthorized").await;

    let created = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&new_account)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        (created["email"].as_str(), created["role"].as_str()),
        (Some("new.physio@clinic.example"), Some("practitioner"))
    );
    let physio = post(
        &app,
        "/api/v1/auth/login",
        json!({"email": "new.physio@clinic.example", "password": "first password 123"}),
    )
    .await;
    assert_eq!(physio.status(), 200);
    let physio: Value = physio.json().await.unwrap();

    let again = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&new_account)
        .send()
        .await
        .unwrap();
    expect_problem(again, 409, "email_taken").await;
    // The schema says what an account needs; a body outside it is refused whole.
    for invalid in [
        json!({"email": "not-an-email", "display_name": "X", "role": "staff", "password": "long enough pw"}),
        json!({"email": "x@clinic.example", "display_name": "X", "role": "staff", "password": "short"}),
        json!({"email": "x@clinic.example", "display_name": "X", "role": "patient", "password": "long enough pw"}),
    ] {
        let refused = app
            .client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&admin)
            .json(&invalid)
            .send()
            .await
            .unwrap();
        expect_problem(refused, 422, "invalid_body").await;
    }

    let listed: Value = app
        .client
        .get(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|account| account["id"] == created["id"])
    );

    let disable_url = app.url(&format!(
        "/api/v1/users/{}/disable",
        created["id"].as_str().unwrap()
    ));
    let disabled = app
        .client
        .post(&disable_url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    // Disabled: no login, no refresh, and the access token no longer finds its account.
    let login = post(
        &app,
        "/api/v1/auth/login",
        json!({"email": "new.physio@clinic.example", "password": "first password 123"}),
    )
    .await;
    expect_problem(login, 401, "invalid_credentials").await;
    let refresh = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": physio["refresh_token"]}),
    )
    .await;
    expect_problem(refresh, 401, "invalid_refresh_token").await;
    expect_problem(
        me(&app, physio["access_token"].as_str().unwrap()).await,
        401,
        "unauthorized",
    )
    .await;

    let unknown = app.url(&format!("/api/v1/users/{}/disable", uuid::Uuid::now_v7()));
    expect_problem(
        app.client
            .post(&unknown)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}
