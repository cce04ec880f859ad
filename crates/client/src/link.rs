//! The connection's link to the relay. Without feature `resume` it is one socket, and its
//! loss is the end. With it (`proto/spec.md`, "Resume") the link outlives a socket: it
//! counts what it sends and receives, keeps what it sent until the relay acknowledges it,
//! acknowledges what it received, pings a quiet socket, and when the socket is lost opens a
//! new one (backoff with jitter, within the grace window) that presents the one-time secret,
//! then re-sends what the relay had not received. The protocol cores never see any of this
//! but two notices: the connection was lost, and it is back.
//!
//! The secret lives in memory only, zeroed when replaced or dropped.

use std::collections::VecDeque;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use confidant_proto::limits::{ACK_DELAY, ACK_EVERY_MESSAGES, KEEPALIVE_DEADLINE, KEEPALIVE_IDLE};
use confidant_proto::{ChatNumber, ClientFrame, DataFrame, ErrorCode, RelayFrame, ResumeOffer};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use zeroize::Zeroizing;

use crate::connection::{Connection, Incoming};
use crate::error::ClientError;
use crate::transport::TlsTrust;

/// Most messages kept for the relay at once; the relay acknowledges every 16 messages or
/// 250 ms, so only a relay that stopped acknowledging gets near it.
const MAX_KEPT: usize = 4096;
/// Backoff between attempts to reopen: doubling from this …
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// … up to this, each with ±25 % jitter so a relay restart is not met by a stampede.
const MAX_RETRY: Duration = Duration::from_secs(8);

/// What the cores are told about the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkChange {
    /// The socket was lost; the link is trying to resume for up to `grace`.
    Lost { grace: Duration },
    /// A new socket took the connection over; nothing was lost.
    Resumed,
}

/// What [`Link::next`] produced.
pub(crate) enum Next {
    /// While up: a frame for a core, or `None` when the socket was just lost.
    Frame(Result<Option<Incoming>, ClientError>),
    /// While down: how an attempt to reopen ended (boxed: it holds a whole socket).
    Attempt(Box<Result<Reopened, Attempt>>),
}

/// How to open a socket again.
#[derive(Debug, Clone)]
pub(crate) struct Dial {
    pub(crate) url: String,
    pub(crate) trust: TlsTrust,
    pub(crate) timeout: Duration,
}

/// The link: a socket when up, and with feature `resume` what it takes to get one back.
#[derive(Debug)]
pub(crate) struct Link {
    connection: Option<Connection>,
    resume: Option<Box<Resume>>,
}

struct Resume {
    secret: Zeroizing<Vec<u8>>,
    grace: Duration,
    dial: Dial,
    /// Counted messages sent to the relay.
    sent: u64,
    /// Counted messages the relay acknowledged; `kept` holds `relay_received + 1 ..= sent`.
    relay_received: u64,
    kept: VecDeque<Message>,
    /// Counted messages received from the relay.
    received: u64,
    /// What this client last acknowledged.
    acknowledged: u64,
    ack_due: Option<Instant>,
    last_heard: Instant,
    ping_at: Option<Instant>,
    down: Option<Down>,
    notice: Option<LinkChange>,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Resume")
            .field("sent", &self.sent)
            .field("received", &self.received)
            .field("down", &self.down.is_some())
            .finish_non_exhaustive()
    }
}

/// The socket is gone; the grace window runs.
struct Down {
    since: Instant,
    next_attempt: Instant,
    attempts: u32,
    attempt: Option<JoinHandle<Result<Reopened, Attempt>>>,
}

/// A socket that took the connection over.
pub(crate) struct Reopened {
    connection: Connection,
    secret: Vec<u8>,
    /// `resumed.received`: what the relay got from this client.
    relay_received: u64,
}

/// Why an attempt to reopen failed.
pub(crate) enum Attempt {
    /// The network (or a busy relay): try again while the window runs.
    Retry,
    /// The relay refused (`resume_failed`: the window closed, the secret is spent): the end.
    Refused(ClientError),
}

impl Link {
    /// A link that ends with its socket (no `resume` agreed).
    pub(crate) fn plain(connection: Connection) -> Self {
        Self {
            connection: Some(connection),
            resume: None,
        }
    }

    /// A link from `welcome`: resumable when it carried `resume`.
    pub(crate) fn new(connection: Connection, offer: Option<ResumeOffer>, dial: Dial) -> Self {
        let resume = offer.map(|offer| {
            Box::new(Resume {
                secret: Zeroizing::new(offer.secret.0),
                grace: Duration::from_millis(u64::from(offer.grace_ms)),
                dial,
                sent: 0,
                relay_received: 0,
                kept: VecDeque::new(),
                received: 0,
                acknowledged: 0,
                ack_due: None,
                last_heard: Instant::now(),
                ping_at: None,
                down: None,
                notice: None,
            })
        });
        Self {
            connection: Some(connection),
            resume,
        }
    }

    /// Sends a control frame (kept for a resume until acknowledged).
    pub(crate) async fn send_control(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        self.send(Message::text(frame.to_json())).await
    }

    /// Sends a data frame (header + Noise message).
    pub(crate) async fn send_data(
        &mut self,
        chat: ChatNumber,
        noise_message: &[u8],
    ) -> Result<(), ClientError> {
        // Only an oversized message fails to encode, and the record layer already refuses
        // those; report it as what it is.
        let frame = DataFrame::encode(chat, noise_message)
            .map_err(|_| ClientError::Encrypt(confidant_crypto::NoiseError::MessageTooLarge))?;
        self.send(Message::binary(frame)).await
    }

    async fn send(&mut self, message: Message) -> Result<(), ClientError> {
        if let Some(resume) = &mut self.resume {
            resume.sent += 1;
            resume.kept.push_back(message.clone());
            if resume.kept.len() > MAX_KEPT {
                return Err(ClientError::ProtocolViolation(
                    "the relay stopped acknowledging".to_owned(),
                ));
            }
        }
        let Some(connection) = &mut self.connection else {
            // Down: kept, and sent after the resume.
            return if self.resume.is_some() {
                Ok(())
            } else {
                Err(ClientError::ConnectionClosed { close_code: None })
            };
        };
        match connection.send_message(message).await {
            Ok(()) => Ok(()),
            Err(_) if self.resume.is_some() => {
                self.lose();
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// The next frame for a core; `Ok(None)` when the socket was just lost and the link is
    /// resuming. Cancel-safe: it only polls the socket, and counts what it returns.
    /// Pending forever while down.
    pub(crate) async fn recv(&mut self) -> Result<Option<Incoming>, ClientError> {
        loop {
            let Some(connection) = &mut self.connection else {
                return std::future::pending().await;
            };
            let incoming = connection.recv().await;
            let Some(resume) = &mut self.resume else {
                return incoming.map(Some);
            };
            resume.last_heard = Instant::now();
            resume.ping_at = None;
            match incoming {
                Ok(Incoming::Control(frame)) => match *frame {
                    RelayFrame::Ack { received } => resume.relay_acknowledged(received)?,
                    frame => {
                        resume.count_received();
                        return Ok(Some(Incoming::Control(Box::new(frame))));
                    }
                },
                Ok(data) => {
                    resume.count_received();
                    return Ok(Some(data));
                }
                // Closed without a close code: the network, not the relay, ended it.
                Err(ClientError::ConnectionClosed { close_code: None }) => {
                    self.lose();
                    return Ok(None);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// When [`Self::on_timer`] has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let resume = self.resume.as_ref()?;
        match &resume.down {
            None => {
                let keepalive = match resume.ping_at {
                    Some(at) => at + KEEPALIVE_DEADLINE,
                    None => resume.last_heard + KEEPALIVE_IDLE,
                };
                Some(resume.ack_due.map_or(keepalive, |due| due.min(keepalive)))
            }
            Some(down) => {
                let window = down.since + resume.grace;
                Some(match down.attempt {
                    Some(_) => window,
                    None => down.next_attempt.min(window),
                })
            }
        }
    }

    /// Acknowledgements, keepalive, and while down: the next attempt, or the end when the
    /// window closed.
    pub(crate) async fn on_timer(&mut self) -> Result<(), ClientError> {
        let now = Instant::now();
        let Some(resume) = &mut self.resume else {
            return Ok(());
        };
        if let Some(down) = &mut resume.down {
            if now >= down.since + resume.grace {
                if let Some(attempt) = down.attempt.take() {
                    attempt.abort();
                }
                return Err(ClientError::ConnectionClosed { close_code: None });
            }
            if down.attempt.is_none() && now >= down.next_attempt {
                down.attempt = Some(tokio::spawn(reopen(
                    resume.dial.clone(),
                    resume.secret.to_vec(),
                    resume.received,
                )));
            }
            return Ok(());
        }
        let Some(connection) = &mut self.connection else {
            return Ok(());
        };
        let mut failed = false;
        if resume.ack_due.is_some_and(|due| now >= due) {
            resume.ack_due = None;
            resume.acknowledged = resume.received;
            let ack = ClientFrame::Ack {
                received: resume.received,
            };
            failed |= connection
                .send_message(Message::text(ack.to_json()))
                .await
                .is_err();
        }
        match resume.ping_at {
            Some(at) if now >= at + KEEPALIVE_DEADLINE => failed = true,
            None if now >= resume.last_heard + KEEPALIVE_IDLE => {
                resume.ping_at = Some(now);
                failed |= connection
                    .send_message(Message::Ping(Vec::new().into()))
                    .await
                    .is_err();
            }
            _ => {}
        }
        if failed {
            self.lose();
        }
        Ok(())
    }

    /// What the link has next: a frame (or a loss) while up, an attempt's result while down
    /// with one running; pending otherwise (the timer starts the next attempt). Cancel-safe.
    pub(crate) async fn next(&mut self) -> Next {
        if self.connection.is_some() {
            Next::Frame(self.recv().await)
        } else {
            Next::Attempt(Box::new(self.attempt_done().await))
        }
    }

    /// The running attempt's result. Cancel-safe; pending forever when none runs.
    pub(crate) async fn attempt_done(&mut self) -> Result<Reopened, Attempt> {
        let Some(attempt) = self
            .resume
            .as_mut()
            .and_then(|resume| resume.down.as_mut())
            .and_then(|down| down.attempt.as_mut())
        else {
            return std::future::pending().await;
        };
        let result = attempt.await.unwrap_or(Err(Attempt::Retry));
        if let Some(down) = self.resume.as_mut().and_then(|r| r.down.as_mut()) {
            down.attempt = None;
        }
        result
    }

    /// Carries out an attempt's result: a new socket (then re-sends what the relay lacks),
    /// a later retry, or the end.
    pub(crate) async fn on_attempt(
        &mut self,
        result: Result<Reopened, Attempt>,
    ) -> Result<(), ClientError> {
        let Some(resume) = &mut self.resume else {
            return Ok(());
        };
        let reopened = match result {
            Ok(reopened) => reopened,
            Err(Attempt::Refused(error)) => return Err(error),
            Err(Attempt::Retry) => {
                if let Some(down) = &mut resume.down {
                    down.attempts += 1;
                    down.next_attempt = Instant::now() + backoff(down.attempts);
                }
                return Ok(());
            }
        };
        let Reopened {
            mut connection,
            secret,
            relay_received,
        } = reopened;
        if relay_received < resume.relay_received {
            return Err(ClientError::ProtocolViolation(
                "resumed counts fewer messages than the relay acknowledged".to_owned(),
            ));
        }
        resume.relay_acknowledged(relay_received)?;
        resume.secret = Zeroizing::new(secret);
        resume.acknowledged = resume.received;
        resume.ack_due = None;
        resume.last_heard = Instant::now();
        resume.ping_at = None;
        resume.down = None;
        resume.notice = Some(LinkChange::Resumed);
        let mut failed = false;
        for message in &resume.kept {
            if connection.send_message(message.clone()).await.is_err() {
                failed = true;
                break;
            }
        }
        self.connection = Some(connection);
        if failed {
            self.lose();
        }
        Ok(())
    }

    /// The app says the network changed (or it came to the foreground): a socket that may
    /// be dead is replaced now instead of at the keepalive deadline.
    pub(crate) fn network_changed(&mut self) {
        let Some(resume) = &mut self.resume else {
            return;
        };
        match &mut resume.down {
            Some(down) => down.next_attempt = Instant::now(),
            None => self.lose(),
        }
    }

    /// What the cores should be told, once.
    pub(crate) fn take_notice(&mut self) -> Option<LinkChange> {
        self.resume.as_mut()?.notice.take()
    }

    /// Closes politely; errors are irrelevant at this point.
    pub(crate) async fn close(&mut self) {
        if let Some(down) = self.resume.as_mut().and_then(|r| r.down.as_mut())
            && let Some(attempt) = down.attempt.take()
        {
            attempt.abort();
        }
        if let Some(connection) = &mut self.connection {
            connection.close().await;
        }
    }

    /// The socket is lost: drop it and start resuming.
    fn lose(&mut self) {
        self.connection = None;
        if let Some(resume) = &mut self.resume
            && resume.down.is_none()
        {
            let now = Instant::now();
            resume.down = Some(Down {
                since: now,
                next_attempt: now,
                attempts: 0,
                attempt: None,
            });
            resume.notice = Some(LinkChange::Lost {
                grace: resume.grace,
            });
        }
    }
}

impl Resume {
    /// A counted message arrived: an `ack` is due after 16, or 250 ms after the first.
    fn count_received(&mut self) {
        self.received += 1;
        let now = Instant::now();
        if self.received - self.acknowledged >= ACK_EVERY_MESSAGES {
            self.ack_due = Some(now);
        } else if self.ack_due.is_none() {
            self.ack_due = Some(now + ACK_DELAY);
        }
    }

    /// The relay has `received` of this client's messages: forget those.
    fn relay_acknowledged(&mut self, received: u64) -> Result<(), ClientError> {
        if received > self.sent {
            return Err(ClientError::ProtocolViolation(
                "the relay acknowledged more than was sent".to_owned(),
            ));
        }
        while self.relay_received < received {
            self.relay_received += 1;
            self.kept.pop_front();
        }
        Ok(())
    }
}

/// One attempt to take the connection over with a new socket.
async fn reopen(dial: Dial, secret: Vec<u8>, received: u64) -> Result<Reopened, Attempt> {
    let secret = Zeroizing::new(secret);
    // Feature `admission`: a relay under load asks the new socket for a proof of work too
    // (the refusal comes before the relay reads `resume`, so the secret is not spent).
    let mut proof: Option<String> = None;
    for _ in 0..=crate::admission::TRIES {
        match reopen_once(&dial, &secret, received, proof.as_deref()).await {
            Err(Attempt::Refused(error)) if crate::admission::asks_for_proof(&error) => {
                proof = Some(
                    crate::admission::earn_proof(&dial.url, &dial.trust, dial.timeout)
                        .await
                        .map_err(|_| Attempt::Retry)?,
                );
            }
            result => return result,
        }
    }
    Err(Attempt::Retry)
}

async fn reopen_once(
    dial: &Dial,
    secret: &[u8],
    received: u64,
    proof: Option<&str>,
) -> Result<Reopened, Attempt> {
    let url = crate::admission::url(&dial.url, proof);
    let mut connection = Connection::open(&url, &dial.trust, dial.timeout)
        .await
        .map_err(|_| Attempt::Retry)?;
    connection.set_lenient();
    let resume = ClientFrame::Resume {
        secret: secret.to_vec().into(),
        received,
    };
    connection
        .send_message(Message::text(resume.to_json()))
        .await
        .map_err(|_| Attempt::Retry)?;
    match tokio::time::timeout(dial.timeout, connection.recv()).await {
        Ok(Ok(Incoming::Control(frame))) => match *frame {
            RelayFrame::Resumed { secret, received } => Ok(Reopened {
                connection,
                secret: secret.0,
                relay_received: received,
            }),
            // A busy relay may let us in a moment later.
            RelayFrame::Error {
                code: ErrorCode::TooManyConnections,
                ..
            } => Err(Attempt::Retry),
            RelayFrame::Error { code, message } => {
                Err(Attempt::Refused(ClientError::Relay { code, message }))
            }
            _ => Err(Attempt::Refused(ClientError::ProtocolViolation(
                "expected resumed".to_owned(),
            ))),
        },
        Ok(Ok(Incoming::Data { .. })) => Err(Attempt::Refused(ClientError::ProtocolViolation(
            "data before resumed".to_owned(),
        ))),
        Ok(Err(_)) | Err(_) => Err(Attempt::Retry),
    }
}

/// The wait before attempt `attempts + 1`: doubling, capped, with ±25 % jitter.
fn backoff(attempts: u32) -> Duration {
    let base = FIRST_RETRY
        .saturating_mul(1 << attempts.min(6))
        .min(MAX_RETRY);
    // Jitter needs no cryptographic randomness: the standard library's randomly seeded
    // hasher is enough to keep clients from retrying in step.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let quarter = base / 4;
    let spread = u64::try_from(quarter.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    base - quarter + Duration::from_micros(random % (2 * spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        for attempts in 0..10 {
            let wait = backoff(attempts);
            let base = FIRST_RETRY
                .saturating_mul(1 << attempts.min(6))
                .min(MAX_RETRY);
            assert!(
                wait >= base * 3 / 4 && wait <= base * 5 / 4,
                "{attempts}: {wait:?}"
            );
        }
    }
}
