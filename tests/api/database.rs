//! The schema: migrations apply, roll back and re-apply on both backends, and the entities match
//! the tables the migrations create.

use chrono::Duration;
use entity::idempotency_key;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};

use crate::helpers::{TestApp, test_epoch};

#[tokio::test]
async fn the_server_starts_with_every_migration_applied() {
    let app = TestApp::spawn().await;
    let pending = Migrator::get_pending_migrations(&app.db).await.unwrap();
    assert!(pending.is_empty(), "{} migrations pending", pending.len());
}

#[tokio::test]
async fn migrations_roll_back_and_reapply() {
    let app = TestApp::spawn().await;
    let total = Migrator::migrations().len();

    Migrator::down(&app.db, None)
        .await
        .expect("every migration rolls back");
    assert_eq!(
        Migrator::get_pending_migrations(&app.db)
            .await
            .unwrap()
            .len(),
        total
    );
    assert!(
        idempotency_key::Entity::find().all(&app.db).await.is_err(),
        "the table is gone"
    );

    Migrator::up(&app.db, None)
        .await
        .expect("every migration re-applies");
    assert!(
        Migrator::get_pending_migrations(&app.db)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        idempotency_key::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn idempotency_keys_round_trip_and_are_unique_per_scope() {
    let app = TestApp::spawn().await;
    let created = test_epoch();
    let in_flight = idempotency_key::Model {
        scope: "user:0190a6c8".into(),
        idempotency_key: "7b0e6a35-booking".into(),
        request_fingerprint: "a".repeat(64),
        response_status: None,
        response_body: None,
        created_at: created,
        completed_at: None,
        expires_at: created + Duration::hours(24),
    };
    in_flight
        .clone()
        .into_active_model()
        .insert(&app.db)
        .await
        .unwrap();

    let stored = idempotency_key::Entity::find_by_id((
        in_flight.scope.clone(),
        in_flight.idempotency_key.clone(),
    ))
    .one(&app.db)
    .await
    .unwrap()
    .expect("the row is stored");
    assert_eq!(stored, in_flight);

    let duplicate = in_flight.clone().into_active_model().insert(&app.db).await;
    assert!(
        duplicate.is_err(),
        "the same key in the same scope is refused"
    );

    let other_scope = idempotency_key::Model {
        scope: "user:0190a6c9".into(),
        response_status: Some(201),
        response_body: Some(r#"{"id":"x"}"#.into()),
        completed_at: Some(created + Duration::milliseconds(40)),
        ..in_flight.clone()
    };
    other_scope
        .clone()
        .into_active_model()
        .insert(&app.db)
        .await
        .unwrap();
    let all = idempotency_key::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&other_scope));
}
