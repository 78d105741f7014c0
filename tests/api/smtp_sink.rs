//! A real SMTP server, in-process, for the delivery tests and the outbox benchmark.
//!
//! Why not a crate: the tests need to script the reply to each message (4xx, then 5xx, then
//! accept), to stop the server and start it again on the same port, and to read back exactly
//! what arrived. The subset of SMTP a relay client uses (EHLO, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT; RFC 5321) is small, and this speaks it over real TCP to lettre's real client.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

/// How the sink answers the end of a message's DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Accept,
    /// 451: try again later.
    Transient,
    /// 554: never.
    Permanent,
    /// No reply at all: the sender waits (until its timeout, or until it is killed).
    Hang,
}

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent, dot-stuffing removed.
    pub data: Vec<u8>,
}

impl ReceivedMail {
    /// The plain-text body, decoded.
    pub fn text(&self) -> String {
        let message = mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parsable message");
        message
            .body_text(0)
            .expect("a plain-text body")
            .into_owned()
    }

    /// The attached calendar invite: its `method` parameter and the `.ics` text, unfolded.
    pub fn invite(&self) -> Option<(String, String)> {
        let message = mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parsable message");
        use mail_parser::MimeHeaders;
        message.attachments().find_map(|part| {
            let content_type = part.content_type()?;
            (content_type.ctype() == "text" && content_type.subtype() == Some("calendar")).then(
                || {
                    (
                        content_type
                            .attribute("method")
                            .unwrap_or_default()
                            .to_owned(),
                        String::from_utf8_lossy(part.contents()).replace("\r\n ", ""),
                    )
                },
            )
        })
    }

    /// The `token` query parameter of the link in the message.
    pub fn link_token(&self) -> String {
        self.token_after("token=")
    }

    /// The token in the message's link that follows `marker`, e.g. `/follow-ups/`.
    pub fn token_after(&self, marker: &str) -> String {
        let text = self.text();
        let start = text.find(marker).expect("a link with a token") + marker.len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<ReceivedMail>>,
    scripted: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Reply>>,
    /// How long the end of each message's DATA waits before it is answered.
    delay: Mutex<Duration>,
}

impl Shared {
    fn next_reply(&self) -> Reply {
        let scripted = self.scripted.lock().unwrap().pop_front();
        scripted.unwrap_or_else(|| self.fallback.lock().unwrap().unwrap_or(Reply::Accept))
    }
}

pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<CancellationToken>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let sink = Self {
            addr: listener.local_addr().unwrap(),
            shared: Arc::new(Shared::default()),
            running: Mutex::new(None),
        };
        sink.serve(listener);
        sink
    }

    /// `smtp://` URL for `SMTP_URL`: plain SMTP, as for a local relay.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The replies to the next messages, in order; then the fallback (accept by default).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.scripted.lock().unwrap().extend(replies);
    }

    /// The reply to every message once the script is used up.
    pub fn always(&self, reply: Reply) {
        *self.shared.fallback.lock().unwrap() = Some(reply);
    }

    /// Answers the end of every message's DATA only after `delay`, as a slow relay does, so a
    /// sender has messages in flight for that long (a crash can then land mid-send).
    pub fn delay_replies(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Stops listening and drops every open connection, as a crashed relay would.
    pub fn stop(&self) {
        if let Some(token) = self.running.lock().unwrap().take() {
            token.cancel();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        self.stop();
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) if attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(err) => panic!("cannot listen on {} again: {err}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// Waits until `count` messages have arrived (for the embedded worker, which runs on its own).
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn serve(&self, listener: TcpListener) {
        let token = CancellationToken::new();
        *self.running.lock().unwrap() = Some(token.clone());
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => return,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let shared = shared.clone();
                        let token = token.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                () = token.cancelled() => {}
                                _ = session(stream, shared) => {}
                            }
                        });
                    }
                }
            }
        });
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 lumbar-test-sink ESMTP\r\n").await?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-lumbar-test-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "MAIL" => {
                mail_from = address(&command);
                rcpt_to.clear();
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" => {
                rcpt_to.push(address(&command));
                b"250 2.1.5 OK\r\n"
            }
            "RSET" => {
                mail_from.clear();
                rcpt_to.clear();
                b"250 2.0.0 OK\r\n"
            }
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut lines).await?;
                let delay = *shared.delay.lock().unwrap();
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                match shared.next_reply() {
                    Reply::Accept => {
                        shared.received.lock().unwrap().push(ReceivedMail {
                            mail_from: mail_from.clone(),
                            rcpt_to: rcpt_to.clone(),
                            data,
                        });
                        b"250 2.0.0 Queued\r\n"
                    }
                    Reply::Transient => b"451 4.3.0 Temporary failure, try again later\r\n",
                    Reply::Permanent => b"554 5.7.1 Message rejected\r\n",
                    Reply::Hang => std::future::pending().await,
                }
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognised\r\n",
        };
        write.write_all(reply).await?;
    }
}

fn address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command.rfind('>').unwrap_or(command.len());
    command.get(start..end).unwrap_or_default().to_owned()
}

async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut R) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" {
            return Ok(data);
        }
        // RFC 5321 4.5.2: a leading dot was doubled by the client.
        let unstuffed = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}
