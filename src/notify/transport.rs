//! Where emails go: an SMTP relay (production), a directory of `.eml` files (the embedded
//! default), or lettre's in-memory stub (unit tests). Failures are classified so the worker knows
//! whether to retry.

use std::{path::PathBuf, time::Duration};

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Attachment, Mailbox, MultiPart, header::ContentType},
    transport::{smtp::PoolConfig, stub::AsyncStubTransport},
};

use super::{calendar::CalendarInvite, templates::RenderedEmail};
use crate::config::Config;

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
    Stub(AsyncStubTransport),
}

/// Why a send failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: 4xx replies, connection refused, timeouts, TLS hiccups.
    #[error("transient: {0}")]
    Transient(String),
    /// Will fail the same way every time: 5xx replies, an address the relay refuses.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl Transport {
    /// The transport the configuration asks for: SMTP when `SMTP_URL` is set, else `.eml` files.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        match &config.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|err| anyhow::anyhow!("SMTP_URL is not usable: {err}"))?
                    .timeout(Some(Duration::from_secs(30)))
                    // One connection per concurrent send: lettre writes a message's body and its
                    // final dot separately, so with Nagle's algorithm and the relay's delayed ACK
                    // each message holds its connection for tens of milliseconds; throughput
                    // comes from sending on several connections at once.
                    .pool_config(PoolConfig::new().max_size(config.outbox_concurrency))
                    .build();
                Ok(Self::Smtp(transport))
            }
            None => Self::file(config.mail_dir()),
        }
    }

    pub fn file(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|err| {
            anyhow::anyhow!("cannot create the mail directory {}: {err}", dir.display())
        })?;
        Ok(Self::File(AsyncFileTransport::new(dir)))
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Self::Smtp(_) => "smtp",
            Self::File(_) => "eml files",
            Self::Stub(_) => "stub",
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|err| {
                // Only a definite 5xx reply is permanent; anything else (4xx, network, TLS,
                // timeouts) may succeed later.
                if err.is_permanent() {
                    SendError::Permanent(err.to_string())
                } else {
                    SendError::Transient(err.to_string())
                }
            }),
            Self::File(file) => file
                .send(message)
                .await
                .map(drop)
                .map_err(|err| SendError::Transient(err.to_string())),
            Self::Stub(stub) => stub
                .send(message)
                .await
                .map_err(|err| SendError::Transient(err.to_string())),
        }
    }
}

/// Everything needed to build one email.
pub struct Envelope<'a> {
    pub from: &'a Mailbox,
    pub to: &'a str,
    /// Stable across retries, so a receiver can drop a duplicate delivery.
    pub message_id: &'a str,
    pub rendered: &'a RenderedEmail,
    pub calendar: Option<&'a CalendarInvite>,
}

/// Builds the multipart email: plain text and HTML alternatives, and the invite when there is one.
pub fn build_message(envelope: &Envelope<'_>) -> Result<Message, SendError> {
    let to: Mailbox = envelope
        .to
        .parse()
        .map_err(|err| SendError::Permanent(format!("invalid recipient address: {err}")))?;
    let body = MultiPart::alternative_plain_html(
        envelope.rendered.text.clone(),
        envelope.rendered.html.clone(),
    );
    let body = match envelope.calendar {
        None => body,
        Some(invite) => {
            let content_type = ContentType::parse(&format!(
                "text/calendar; method={}; charset=UTF-8",
                invite.method.as_str()
            ))
            .map_err(|err| SendError::Permanent(format!("calendar content type: {err}")))?;
            MultiPart::mixed().multipart(body).singlepart(
                Attachment::new("invite.ics".into()).body(invite.ics.clone(), content_type),
            )
        }
    };
    Message::builder()
        .from(envelope.from.clone())
        .to(to)
        .subject(envelope.rendered.subject.clone())
        .message_id(Some(envelope.message_id.to_owned()))
        .multipart(body)
        .map_err(|err| SendError::Permanent(format!("cannot build the message: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::calendar::CalendarMethod;

    fn rendered() -> RenderedEmail {
        RenderedEmail {
            subject: "Your appointment is booked".into(),
            text: "Hello Alex".into(),
            html: "<p>Hello Alex</p>".into(),
        }
    }

    #[tokio::test]
    async fn the_stub_receives_a_multipart_message_with_the_invite() {
        let from: Mailbox = "Riverside Clinic <bookings@clinic.example>"
            .parse()
            .unwrap();
        let invite = CalendarInvite {
            method: CalendarMethod::Request,
            ics: "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".into(),
        };
        let rendered = rendered();
        let message = build_message(&Envelope {
            from: &from,
            to: "alex@example.org",
            message_id: "<m1@clinic.example>",
            rendered: &rendered,
            calendar: Some(&invite),
        })
        .unwrap();
        let stub = AsyncStubTransport::new_ok();
        let transport = Transport::Stub(stub.clone());
        transport.send(message).await.unwrap();

        let sent = stub.messages().await;
        assert_eq!(sent.len(), 1);
        let (envelope, raw) = &sent[0];
        assert_eq!(envelope.to()[0].to_string(), "alex@example.org");
        assert!(raw.contains("Message-ID: <m1@clinic.example>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/calendar; method=REQUEST"), "{raw}");
        assert!(raw.contains("invite.ics"), "{raw}");
    }

    #[test]
    fn a_bad_recipient_is_a_permanent_failure() {
        let from: Mailbox = "Clinic <a@clinic.example>".parse().unwrap();
        let rendered = rendered();
        let err = build_message(&Envelope {
            from: &from,
            to: "not an address",
            message_id: "<m2@clinic.example>",
            rendered: &rendered,
            calendar: None,
        })
        .unwrap_err();
        assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_failing_stub_is_transient() {
        let from: Mailbox = "Clinic <a@clinic.example>".parse().unwrap();
        let rendered = rendered();
        let message = build_message(&Envelope {
            from: &from,
            to: "alex@example.org",
            message_id: "<m3@clinic.example>",
            rendered: &rendered,
            calendar: None,
        })
        .unwrap();
        let err = Transport::Stub(AsyncStubTransport::new_error())
            .send(message)
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Transient(_)));
    }
}
