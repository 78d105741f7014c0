//! Email delivery through the outbox, against a real SMTP server (see `smtp_sink.rs`), on both
//! backends. Tests move the server's clock and run worker passes themselves: nothing sleeps.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Duration as Span, Utc};
use entity::{
    outbox_message::{self, OutboxStatus},
    user::Role,
};
use lumbar::{
    clock::Clock,
    notify::{
        calendar::{self, AppointmentEvent, CalendarMethod},
        content::{EmailContent, MessageKind},
    },
    store::outbox::{self, Cancelled, Enqueued, NewMessage},
};
use mail_parser::{MessageParser, MimeHeaders};
use sea_orm::{EntityTrait, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    helpers::{TestApp, app_with_sink, expect_problem},
    smtp_sink::{Reply, SmtpSink},
};

fn message(kind: MessageKind, now: DateTime<Utc>) -> NewMessage {
    NewMessage {
        recipient: "alex@example.org".into(),
        content: EmailContent::sample(kind),
        calendar: None,
        not_before: now,
        deadline: None,
        dedupe_key: None,
    }
}

async fn enqueue(app: &TestApp, message: NewMessage) -> Uuid {
    match app
        .state
        .outbox
        .enqueue(&app.db, app.clock.now(), message)
        .await
        .unwrap()
    {
        Enqueued::Created(id) => id,
        Enqueued::Duplicate => panic!("unexpected duplicate"),
    }
}

async fn all_rows(app: &TestApp) -> Vec<outbox_message::Model> {
    outbox_message::Entity::find().all(&app.db).await.unwrap()
}

async fn row(app: &TestApp, id: Uuid) -> outbox_message::Model {
    outbox_message::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("the row exists")
}

fn invite(now: DateTime<Utc>) -> calendar::CalendarInvite {
    calendar::invite(
        &AppointmentEvent {
            appointment_id: Uuid::parse_str("0190a6c8-2222-7000-8000-000000000002").unwrap(),
            sequence: 0,
            starts_at: now + Span::days(2),
            ends_at: now + Span::days(2) + Span::minutes(45),
            time_zone: chrono_tz::Europe::London,
            summary: "Chiropractic with Dr Sam Taylor",
            location: "Riverside Clinic, 1 River Street",
            organizer_name: "Riverside Clinic",
            organizer_email: "bookings@clinic.example",
            attendee_name: "Alex Example",
            attendee_email: "alex@example.org",
            stamped_at: now,
        },
        CalendarMethod::Request,
    )
}

#[tokio::test]
async fn a_delivered_email_has_its_headers_both_bodies_and_the_invite() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let now = app.clock.now();
    let id = enqueue(
        &app,
        NewMessage {
            calendar: Some(invite(now)),
            ..message(MessageKind::AppointmentConfirmed, now)
        },
    )
    .await;

    let report = app.worker().run_once().await.unwrap();
    assert_eq!((report.claimed, report.sent), (1, 1), "{report:?}");

    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "bookings@clinic.example");
    assert_eq!(received[0].rcpt_to, vec!["alex@example.org".to_owned()]);
    let stored = row(&app, id).await;
    let email = MessageParser::default()
        .parse(&received[0].data)
        .expect("a parseable email");
    assert_eq!(
        email.from().unwrap().first().unwrap().address(),
        Some("bookings@clinic.example")
    );
    assert_eq!(
        email.from().unwrap().first().unwrap().name(),
        Some("Riverside Clinic")
    );
    assert_eq!(
        email.to().unwrap().first().unwrap().address(),
        Some("alex@example.org")
    );
    assert_eq!(
        email.subject(),
        Some("Your appointment on Monday 2 March 2026, 09:00 GMT is booked")
    );
    assert_eq!(
        email.message_id().map(|id| format!("<{id}>")),
        Some(stored.message_id.clone())
    );
    let text = email.body_text(0).expect("a plain-text body");
    let html = email.body_html(0).expect("an HTML body");
    assert!(text.contains("Hello Alex Example"), "{text}");
    assert!(
        text.contains("https://clinic.example/appointments/0190a6c8"),
        "{text}"
    );
    assert!(html.contains("<html"), "{html}");
    assert!(html.contains("Dr Sam Taylor"), "{html}");

    let attachment = email.attachment(0).expect("the invite is attached");
    let content_type = attachment
        .content_type()
        .expect("the invite has a content type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("text", Some("calendar"))
    );
    assert_eq!(content_type.attribute("method"), Some("REQUEST"));
    let ics = String::from_utf8_lossy(attachment.contents()).replace("\r\n ", "");
    assert!(
        ics.contains("UID:appointment-0190a6c8-2222-7000-8000-000000000002@lumbar"),
        "{ics}"
    );
    assert!(ics.contains("METHOD:REQUEST"), "{ics}");

    assert_eq!(stored.status, OutboxStatus::Sent);
    assert_eq!(stored.sent_at, Some(now));
    assert_eq!(stored.attempts, 1);
    assert!(stored.lease_owner.is_none());
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_with_backoff_and_delivered_once() {
    let sink = SmtpSink::start().await;
    sink.script([Reply::Transient, Reply::Transient]);
    let app = app_with_sink(&sink, &["--outbox-retry-base-seconds", "30"]).await;
    let worker = app.worker();
    let start = app.clock.now();
    let id = enqueue(&app, message(MessageKind::AppointmentReminder, start)).await;

    let first = worker.run_once().await.unwrap();
    assert_eq!(
        (first.claimed, first.retried, first.sent),
        (1, 1, 0),
        "{first:?}"
    );
    let after_first = row(&app, id).await;
    assert_eq!(after_first.status, OutboxStatus::Pending);
    assert!(
        after_first.last_error.as_deref().unwrap().contains("451"),
        "{after_first:?}"
    );
    let delay = after_first.not_before - start;
    assert!(
        delay >= Span::seconds(15) && delay <= Span::seconds(30),
        "first retry after {delay}"
    );

    // Not due yet: nothing happens.
    assert_eq!(worker.run_once().await.unwrap().claimed, 0);

    app.clock.set(after_first.not_before);
    let second = worker.run_once().await.unwrap();
    assert_eq!(second.retried, 1, "{second:?}");
    let after_second = row(&app, id).await;
    let delay = after_second.not_before - after_first.not_before;
    assert!(
        delay >= Span::seconds(30) && delay <= Span::seconds(60),
        "second retry after {delay}"
    );

    app.clock.set(after_second.not_before);
    let third = worker.run_once().await.unwrap();
    assert_eq!(third.sent, 1, "{third:?}");
    assert_eq!(sink.received().len(), 1, "delivered exactly once");
    let delivered = row(&app, id).await;
    assert_eq!(
        (delivered.status, delivered.attempts),
        (OutboxStatus::Sent, 3)
    );
    assert!(delivered.last_error.is_none());
}

#[tokio::test]
async fn a_permanent_refusal_makes_a_dead_letter_an_admin_can_retry() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let now = app.clock.now();
    let delivered_id = enqueue(&app, message(MessageKind::FollowUpInvitation, now)).await;
    app.worker().run_once().await.unwrap();
    assert_eq!(row(&app, delivered_id).await.status, OutboxStatus::Sent);
    let dead_id = enqueue(&app, message(MessageKind::ReviewNeeded, now)).await;
    sink.script([Reply::Permanent]);

    let report = app.worker().run_once().await.unwrap();
    assert_eq!((report.dead, report.sent), (1, 0), "{report:?}");
    let dead = row(&app, dead_id).await;
    assert_eq!(dead.status, OutboxStatus::Dead);
    assert!(
        dead.last_error.as_deref().unwrap().contains("554"),
        "{dead:?}"
    );
    app.clock.advance(Span::hours(6));
    assert_eq!(
        app.worker().run_once().await.unwrap().claimed,
        0,
        "a dead letter stays dead"
    );

    let admin_token = app.access_token(Role::Admin).await;
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth(&admin_token);
    let list: Value = admin(app.client.get(app.url("/api/v1/admin/outbox")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0]["id"],
        dead_id.to_string(),
        "dead letters come first"
    );
    assert_eq!(list[0]["status"], "dead");
    assert!(
        list[0].get("template_data").is_none(),
        "content is not exposed"
    );

    let counts: Value = admin(app.client.get(app.url("/api/v1/admin/outbox/counts")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (counts["dead"].as_i64(), counts["sent"].as_i64()),
        (Some(1), Some(1))
    );

    let retry_url = app.url(&format!("/api/v1/admin/outbox/{dead_id}/retry"));
    let retried = admin(app.client.post(&retry_url)).send().await.unwrap();
    assert_eq!(retried.status(), 200);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(
        (retried["status"].as_str(), retried["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );

    let report = app.worker().run_once().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(row(&app, dead_id).await.status, OutboxStatus::Sent);

    let again = admin(app.client.post(&retry_url)).send().await.unwrap();
    expect_problem(again, 409, "not_a_dead_letter").await;
    let unknown = app.url(&format!("/api/v1/admin/outbox/{}/retry", Uuid::now_v7()));
    expect_problem(
        admin(app.client.post(&unknown)).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn admin_endpoints_answer_only_to_the_admin_role() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let staff = app.access_token(Role::Staff).await;
    let practitioner = app.access_token(Role::Practitioner).await;
    let admin = app.access_token(Role::Admin).await;
    for path in ["/api/v1/admin/outbox", "/api/v1/admin/outbox/counts"] {
        let anonymous = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        expect_problem(anonymous, 401, "unauthorized").await;
        let garbage = app
            .client
            .get(app.url(path))
            .bearer_auth("x".repeat(36))
            .send()
            .await
            .unwrap();
        expect_problem(garbage, 401, "unauthorized").await;
        for token in [&staff, &practitioner] {
            let other_role = app
                .client
                .get(app.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            expect_problem(other_role, 403, "forbidden").await;
        }
        let allowed = app
            .client
            .get(app.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200, "{path}");
    }
    let retry = app.url(&format!("/api/v1/admin/outbox/{}/retry", Uuid::now_v7()));
    let by_staff = app
        .client
        .post(&retry)
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    expect_problem(by_staff, 403, "forbidden").await;

    let bad_limit = app
        .client
        .get(app.url("/api/v1/admin/outbox?limit=0"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    expect_problem(bad_limit, 400, "invalid_parameter").await;
}

#[tokio::test]
async fn nothing_is_lost_while_the_smtp_server_is_down() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let now = app.clock.now();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(enqueue(&app, message(MessageKind::AppointmentReminder, now)).await);
    }
    sink.stop();

    let down = app.worker().run_once().await.unwrap();
    assert_eq!(
        (down.claimed, down.retried, down.sent),
        (3, 3, 0),
        "{down:?}"
    );
    for id in &ids {
        assert_eq!(row(&app, *id).await.status, OutboxStatus::Pending);
    }

    sink.restart().await;
    app.clock.advance(Span::hours(1));
    let up = app.worker().run_once().await.unwrap();
    assert_eq!(up.sent, 3, "{up:?}");
    let delivered: HashSet<String> = sink
        .received()
        .iter()
        .map(|mail| {
            MessageParser::default()
                .parse(&mail.data)
                .unwrap()
                .message_id()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(delivered.len(), 3);
}

#[tokio::test]
async fn too_many_temporary_failures_make_a_dead_letter() {
    let sink = SmtpSink::start().await;
    sink.always(Reply::Transient);
    let app = app_with_sink(&sink, &["--outbox-max-attempts", "3"]).await;
    app.expect_dead_letters();
    let id = enqueue(
        &app,
        message(MessageKind::AccountVerification, app.clock.now()),
    )
    .await;
    let worker = app.worker();
    for attempt in 1..=3 {
        let report = worker.run_once().await.unwrap();
        assert_eq!(report.claimed, 1, "attempt {attempt}");
        app.clock.advance(Span::hours(2));
    }
    let dead = row(&app, id).await;
    assert_eq!((dead.status, dead.attempts), (OutboxStatus::Dead, 3));
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{dead:?}"
    );
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn scheduled_messages_wait_and_late_ones_expire_unsent() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let now = app.clock.now();
    let later = enqueue(
        &app,
        NewMessage {
            not_before: now + Span::hours(1),
            ..message(MessageKind::AppointmentReminder, now)
        },
    )
    .await;
    let too_late = enqueue(
        &app,
        NewMessage {
            not_before: now + Span::hours(1),
            deadline: Some(now + Span::hours(2)),
            ..message(MessageKind::AppointmentReminder, now)
        },
    )
    .await;

    assert_eq!(
        app.worker().run_once().await.unwrap().claimed,
        0,
        "nothing is due yet"
    );

    // The worker was down for three hours: the first still goes, the second is past its deadline.
    app.clock.advance(Span::hours(3));
    let report = app.worker().run_once().await.unwrap();
    assert_eq!((report.sent, report.expired), (1, 1), "{report:?}");
    assert_eq!(row(&app, later).await.status, OutboxStatus::Sent);
    let expired = row(&app, too_late).await;
    assert_eq!(expired.status, OutboxStatus::Expired);
    assert!(expired.sent_at.is_none());
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn the_same_logical_message_is_queued_once_and_can_be_cancelled() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let now = app.clock.now();
    let reminder = || NewMessage {
        not_before: now + Span::hours(24),
        dedupe_key: Some("reminder:0190a6c8-2222:0".into()),
        ..message(MessageKind::AppointmentReminder, now)
    };
    let first = app
        .state
        .outbox
        .enqueue(&app.db, now, reminder())
        .await
        .unwrap();
    assert!(matches!(first, Enqueued::Created(_)));
    let second = app
        .state
        .outbox
        .enqueue(&app.db, now, reminder())
        .await
        .unwrap();
    assert_eq!(second, Enqueued::Duplicate);
    assert_eq!(all_rows(&app).await.len(), 1);

    let cancelled = outbox::cancel_by_dedupe_key(&app.db, now, "reminder:0190a6c8-2222:0")
        .await
        .unwrap();
    assert_eq!(cancelled, Cancelled::Cancelled);
    app.clock.advance(Span::hours(25));
    assert_eq!(
        app.worker().run_once().await.unwrap().claimed,
        0,
        "a cancelled message is not sent"
    );
    assert!(sink.received().is_empty());

    let again = outbox::cancel_by_dedupe_key(&app.db, now, "reminder:0190a6c8-2222:0")
        .await
        .unwrap();
    assert_eq!(again, Cancelled::TooLate(OutboxStatus::Cancelled));
    let unknown = outbox::cancel_by_dedupe_key(&app.db, now, "reminder:nothing")
        .await
        .unwrap();
    assert_eq!(unknown, Cancelled::NotFound);
}

#[tokio::test]
async fn enqueueing_joins_the_callers_transaction() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    // It checks what was queued, not what was delivered.
    app.expect_unsent_mail();
    let now = app.clock.now();

    let rolled_back = app.db.begin().await.unwrap();
    app.state
        .outbox
        .enqueue(&rolled_back, now, message(MessageKind::ReviewNeeded, now))
        .await
        .unwrap();
    rolled_back.rollback().await.unwrap();
    assert!(all_rows(&app).await.is_empty());

    let committed = app.db.begin().await.unwrap();
    app.state
        .outbox
        .enqueue(&committed, now, message(MessageKind::ReviewNeeded, now))
        .await
        .unwrap();
    committed.commit().await.unwrap();
    assert_eq!(all_rows(&app).await.len(), 1);
}

#[tokio::test]
async fn bad_messages_are_refused_at_enqueue() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let now = app.clock.now();
    let outbox = &app.state.outbox;
    let bad_recipient = NewMessage {
        recipient: "alex at example".into(),
        ..message(MessageKind::ReviewNeeded, now)
    };
    assert!(matches!(
        outbox.enqueue(&app.db, now, bad_recipient).await,
        Err(outbox::OutboxError::InvalidRecipient(_))
    ));
    let backwards = NewMessage {
        not_before: now + Span::hours(2),
        deadline: Some(now + Span::hours(1)),
        ..message(MessageKind::ReviewNeeded, now)
    };
    assert!(matches!(
        outbox.enqueue(&app.db, now, backwards).await,
        Err(outbox::OutboxError::DeadlineBeforeNotBefore)
    ));
    let long_key = NewMessage {
        dedupe_key: Some("k".repeat(256)),
        ..message(MessageKind::ReviewNeeded, now)
    };
    assert!(matches!(
        outbox.enqueue(&app.db, now, long_key).await,
        Err(outbox::OutboxError::InvalidDedupeKey)
    ));
    assert!(all_rows(&app).await.is_empty());
}

#[tokio::test]
async fn two_workers_deliver_500_messages_each_exactly_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &["--outbox-batch-size", "40"]).await;
    let now = app.clock.now();
    for _ in 0..500 {
        enqueue(&app, message(MessageKind::AppointmentReminder, now)).await;
    }

    let (first, second) = (app.worker(), app.worker());
    assert_ne!(first.owner(), second.owner());
    let drain = |worker: lumbar::notify::Worker| async move {
        let mut sent = 0;
        loop {
            let report = worker.run_once().await.unwrap();
            assert_eq!(report.lost_leases, 0);
            sent += report.sent;
            if report.claimed == 0 {
                return sent;
            }
        }
    };
    let (sent_by_first, sent_by_second) = tokio::join!(drain(first), drain(second));
    assert_eq!(sent_by_first + sent_by_second, 500);
    assert!(
        sent_by_first > 0 && sent_by_second > 0,
        "both workers took part: {sent_by_first}/{sent_by_second}"
    );

    let received = sink.received();
    assert_eq!(received.len(), 500, "no message delivered twice");
    let unique: HashSet<String> = received
        .iter()
        .map(|mail| {
            MessageParser::default()
                .parse(&mail.data)
                .unwrap()
                .message_id()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(unique.len(), 500);
    let rows = all_rows(&app).await;
    assert!(
        rows.iter()
            .all(|row| row.status == OutboxStatus::Sent && row.attempts == 1)
    );
}

#[tokio::test]
async fn a_crashed_workers_messages_are_delivered_by_another_after_its_lease() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &["--outbox-lease-seconds", "60"]).await;
    let now = app.clock.now();
    for _ in 0..10 {
        enqueue(&app, message(MessageKind::AppointmentReminder, now)).await;
    }

    // A worker claims a batch and dies before sending anything.
    let crashed = outbox::claim(&app.db, now, "crashed-worker", 50, Span::seconds(60))
        .await
        .unwrap();
    assert_eq!(crashed.rows.len(), 10);

    let survivor = app.worker();
    assert_eq!(
        survivor.run_once().await.unwrap().claimed,
        0,
        "the lease still holds"
    );

    app.clock.advance(Span::seconds(61));
    let report = survivor.run_once().await.unwrap();
    assert_eq!((report.claimed, report.sent), (10, 10), "{report:?}");
    assert_eq!(sink.received().len(), 10);

    // The crashed worker comes back and tries to record results: its lease is gone.
    let ids: Vec<Uuid> = crashed.rows.iter().map(|row| row.id).collect();
    let late = outbox::complete_sent(&app.db, app.clock.now(), &crashed.token, &ids)
        .await
        .unwrap();
    assert_eq!(late, 0);
    let failed = outbox::record_failure(
        &app.db,
        app.clock.now(),
        &crashed.token,
        ids[0],
        outbox::Failure::Dead {
            error: "late".into(),
        },
    )
    .await
    .unwrap();
    assert!(
        !failed,
        "a stale lease cannot overwrite another worker's result"
    );
    let rows = all_rows(&app).await;
    assert!(
        rows.iter()
            .all(|row| row.status == OutboxStatus::Sent && row.attempts == 2)
    );
}

/// Each outcome is recorded as soon as it is known: a worker killed in the middle of its batch
/// leaves the messages it delivered marked sent, so only those in flight can go twice.
#[tokio::test]
async fn a_worker_killed_mid_batch_has_recorded_what_it_delivered() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &["--outbox-concurrency", "1"]).await;
    let now = app.clock.now();
    for _ in 0..5 {
        enqueue(&app, message(MessageKind::AppointmentReminder, now)).await;
    }
    sink.script([Reply::Accept, Reply::Accept]);
    sink.always(Reply::Hang);
    let worker = app.worker();
    let pass = tokio::spawn(async move { worker.run_once().await });
    sink.wait_for(2, std::time::Duration::from_secs(10)).await;
    // The third send hangs; the worker is killed there.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    pass.abort();
    let _ = pass.await;
    let sent = all_rows(&app)
        .await
        .into_iter()
        .filter(|row| row.status == OutboxStatus::Sent)
        .count();
    assert_eq!(sent, 2, "the two delivered are recorded");
    app.expect_unsent_mail();
}

#[tokio::test]
async fn released_claims_go_back_to_the_queue_without_using_an_attempt() {
    let sink = SmtpSink::start().await;
    let app = app_with_sink(&sink, &[]).await;
    let now = app.clock.now();
    let id = enqueue(&app, message(MessageKind::AppointmentReminder, now)).await;
    let claim = outbox::claim(&app.db, now, "stopping-worker", 10, Span::seconds(60))
        .await
        .unwrap();
    assert_eq!(row(&app, id).await.status, OutboxStatus::Sending);

    let released = outbox::release(&app.db, now, &claim.token, &[id])
        .await
        .unwrap();
    assert_eq!(released, 1);
    let back = row(&app, id).await;
    assert_eq!(
        (back.status, back.attempts, back.lease_owner),
        (OutboxStatus::Pending, 0, None)
    );
    assert_eq!(app.worker().run_once().await.unwrap().sent, 1);
}

#[tokio::test]
async fn without_smtp_emails_are_written_as_eml_files() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    enqueue(&app, message(MessageKind::FollowUpInvitation, now)).await;
    assert_eq!(app.worker().run_once().await.unwrap().sent, 1);

    let files: Vec<_> = std::fs::read_dir(app.data_dir.join("mail"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(&files[0]).unwrap();
    let email = MessageParser::default().parse(&raw).unwrap();
    assert!(
        email
            .subject()
            .unwrap()
            .starts_with("How are you getting on?")
    );
}

#[tokio::test]
async fn the_embedded_worker_delivers_on_its_own() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder()
        .args(["--smtp-url", &sink.url(), "--outbox-poll-ms", "20"])
        .embedded_worker()
        .spawn()
        .await;
    enqueue(&app, message(MessageKind::ReviewNeeded, app.clock.now())).await;
    let received = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 1, "the server's own worker sent it");
}

async fn register(app: &TestApp, email: &str) -> reqwest::Response {
    app.send(
        reqwest::Method::POST,
        "/api/v1/auth/register",
        None,
        Some(serde_json::json!({
            "given_name": "Alex", "family_name": "Morgan", "email": email,
            "date_of_birth": "1980-05-17", "password": "a long enough password"
        })),
    )
    .await
}

/// The test app itself fails a test that ends with an email due but never delivered, unless
/// the test says it expects that; delivered mail passes.
#[tokio::test]
async fn a_test_that_leaves_due_mail_undelivered_fails() {
    let forgotten = TestApp::spawn().await;
    assert_eq!(
        register(&forgotten, "forgotten@example.org").await.status(),
        202
    );
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(forgotten)));
    let message = dropped.expect_err("the app fails the test on its way out");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("account_verification to forgotten@example.org"),
        "{message}"
    );

    let delivered = TestApp::spawn().await;
    assert_eq!(
        register(&delivered, "delivered@example.org").await.status(),
        202
    );
    let report = delivered.worker().run_once().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    drop(delivered);

    let expected = TestApp::spawn().await;
    assert_eq!(
        register(&expected, "expected@example.org").await.status(),
        202
    );
    expected.expect_unsent_mail();
    drop(expected);
}
