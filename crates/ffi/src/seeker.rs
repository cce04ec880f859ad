//! A help-seeker: connect with the pinned program key, seek, chat, end or quick-exit.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use confidant_client::{RevocationMemory, Seeker, SeekerHandle, SeekerOptions};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::error::ConfidantError;
use crate::types::{
    EndReason, NoPeerReason, PeerCard, Program, QueueNone, RelayErrorCode, RelayTrust, Resource,
    ResourceCard, SeekPreferences,
};

/// How long quick exit waits for the `End` record (or `cancel`) to leave before it closes
/// the connection regardless: leaving matters more than telling.
const QUICK_EXIT_GRACE: Duration = Duration::from_millis(500);

/// The highest revocation sequences seen, shared by every seeker of the process (so a
/// relay cannot roll a list back between two connections) and kept in memory only.
fn revocation_memory() -> RevocationMemory {
    static MEMORY: OnceLock<RevocationMemory> = OnceLock::new();
    MEMORY.get_or_init(RevocationMemory::new).clone()
}

/// Seeker settings beyond the relay, the program and its pinned key.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SeekerConfig {
    /// Whom to trust for a `wss://` relay's certificate.
    pub trust: RelayTrust,
    /// How long to wait for the connection and the relay's `welcome`, in milliseconds.
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: u64,
    /// A department to avoid: a matched peer whose signed department is this one is
    /// skipped in the SDK (the relay is never told).
    #[uniffi(default = None)]
    pub avoid_department: Option<String>,
}

/// One thing that happened on a seeker's connection, in order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SeekerEvent {
    /// Waiting for a peer; sent on `seek` and whenever the figures change.
    Queued {
        /// 1 = next to be offered.
        position: u32,
        /// Peers online and available.
        peers_online: u32,
        /// The relay's estimate in seconds, when it has one.
        estimate_secs: Option<u64>,
        /// Why nobody can take the seeker right now, when the relay says so: show the
        /// resources at once, and keep waiting.
        none: Option<QueueNone>,
    },
    /// No peer is available: show the resources.
    NoPeer {
        /// Why.
        reason: NoPeerReason,
        /// Where to turn instead.
        resources: Vec<Resource>,
    },
    /// The queue was left after `cancel`.
    Cancelled,
    /// A peer of the avoided department was skipped; the SDK seeks again.
    SkippedSameDepartment,
    /// The peer's credential verified against the pinned key and the secure channel is up.
    Matched {
        /// The peer as the program signed them.
        peer: PeerCard,
    },
    /// A message from the peer.
    Message {
        /// The text.
        text: String,
    },
    /// The peer started or stopped typing.
    Typing {
        /// Typing or not.
        typing: bool,
    },
    /// The peer has read this many of the seeker's messages.
    ReadUpTo {
        /// Count.
        count: u64,
    },
    /// The peer shared a resource card.
    ResourceShared {
        /// The card.
        card: ResourceCard,
    },
    /// The chat is over; the seeker may seek again.
    Ended {
        /// How.
        reason: EndReason,
    },
    /// The relay is shutting down within `deadline_ms`.
    ShuttingDown {
        /// Milliseconds until the relay closes the connection.
        deadline_ms: u64,
    },
    /// The relay refused a frame without closing.
    RelayError {
        /// The catalogue code.
        code: RelayErrorCode,
        /// The relay's message.
        message: String,
    },
    /// The connection to the relay was lost; the SDK is reconnecting and the queue place
    /// or chat is kept for up to `grace_ms`. Say "reconnecting…", keep help on screen.
    ConnectionLost {
        /// How long the relay keeps the connection, in milliseconds.
        grace_ms: u64,
    },
    /// The connection is back; nothing was lost.
    Reconnected,
    /// The peer's connection dropped; they may be back in a moment.
    PeerAway,
    /// The peer is back.
    PeerBack,
    /// The connection is gone; no further events follow.
    Disconnected {
        /// Why.
        error: ConfidantError,
    },
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl SeekerEvent {
    /// `None` for an event a later SDK adds and these bindings do not know yet.
    fn from_sdk(event: confidant_client::SeekerEvent) -> Option<Self> {
        use confidant_client::SeekerEvent as E;
        Some(match event {
            E::Queued {
                position,
                peers_online,
                estimate,
                none,
            } => Self::Queued {
                position,
                peers_online,
                estimate_secs: estimate.map(|e| e.as_secs()),
                none: none.map(QueueNone::from),
            },
            E::NoPeer { reason, resources } => Self::NoPeer {
                reason: reason.into(),
                resources: resources.into_iter().map(Resource::from).collect(),
            },
            E::Cancelled => Self::Cancelled,
            E::SkippedSameDepartment => Self::SkippedSameDepartment,
            E::Matched { peer } => Self::Matched { peer: peer.into() },
            E::Message(text) => Self::Message { text },
            E::Typing(typing) => Self::Typing { typing },
            E::ReadUpTo(count) => Self::ReadUpTo { count },
            E::Resource(card) => Self::ResourceShared { card: card.into() },
            E::Ended(reason) => Self::Ended {
                reason: reason.into(),
            },
            E::ShuttingDown { deadline } => Self::ShuttingDown {
                deadline_ms: millis(deadline),
            },
            E::RelayError { code, message } => Self::RelayError {
                code: code.into(),
                message,
            },
            E::ConnectionLost { grace } => Self::ConnectionLost {
                grace_ms: millis(grace),
            },
            E::Reconnected => Self::Reconnected,
            E::PeerAway => Self::PeerAway,
            E::PeerBack => Self::PeerBack,
            E::Disconnected(error) => Self::Disconnected {
                error: error.into(),
            },
            _ => return None,
        })
    }
}

/// Connects to `relay_url` (`ws://` or `wss://`) as an anonymous seeker of `program_id`.
///
/// `program_key_hex` is the program's root key (64 hex digits) that the app ships with:
/// every matched peer's certificate must chain to it. It is never taken from the relay.
#[uniffi::export(async_runtime = "tokio")]
pub async fn connect_seeker(
    relay_url: String,
    program_id: String,
    program_key_hex: String,
    config: SeekerConfig,
) -> Result<Arc<SeekerSession>, ConfidantError> {
    let root_key = confidant_client::parse_root_key(&program_key_hex)?;
    let options = SeekerOptions {
        avoid_department: config.avoid_department,
        revocation_memory: revocation_memory(),
        connect_timeout: Duration::from_millis(config.connect_timeout_ms),
        tls: config.trust.to_sdk()?,
        ..SeekerOptions::default()
    };
    let seeker = Seeker::connect(&relay_url, &program_id, root_key, options).await?;
    Ok(Arc::new(SeekerSession {
        handle: seeker.handle(),
        program: seeker.program().clone().into(),
        events: Mutex::new(Some(seeker)),
        closed: CancellationToken::new(),
    }))
}

/// A connected seeker. Methods are async and safe to call from any thread; events come
/// from [`SeekerSession::next_event`], called in a loop by one reader.
#[derive(Debug, uniffi::Object)]
pub struct SeekerSession {
    handle: SeekerHandle,
    program: Program,
    /// The SDK's seeker, for its events; `None` once closed. Behind an async mutex because
    /// reading events needs it mutably across an await.
    events: Mutex<Option<Seeker>>,
    /// Set by `disconnect` / `quick_exit`: wakes a pending `next_event` so the connection can be
    /// dropped at once.
    closed: CancellationToken,
}

#[uniffi::export(async_runtime = "tokio")]
impl SeekerSession {
    /// The program as the relay describes it (its root key is the relay's claim only).
    pub fn program(&self) -> Program {
        self.program.clone()
    }

    /// Asks for a peer. Events: `Queued` …, then `Matched`, `NoPeer` or `Cancelled`.
    pub async fn seek(&self, preferences: SeekPreferences) -> Result<(), ConfidantError> {
        Ok(self.handle.seek(preferences.into()).await?)
    }

    /// As `seek`, saying "I need to talk soon" (self-declared; served as if it had sought
    /// five minutes earlier, and the peer's offer says so).
    pub async fn seek_urgently(&self, preferences: SeekPreferences) -> Result<(), ConfidantError> {
        Ok(self.handle.seek_urgently(preferences.into()).await?)
    }

    /// Leaves the queue (`Cancelled` follows).
    pub async fn cancel(&self) -> Result<(), ConfidantError> {
        Ok(self.handle.cancel().await?)
    }

    /// Sends a message; returns its number in the chat (from 1), which `ReadUpTo` counts.
    pub async fn send_text(&self, text: String) -> Result<u64, ConfidantError> {
        Ok(self.handle.send_text(text).await?)
    }

    /// Tells the peer the seeker started or stopped typing.
    pub async fn typing(&self, typing: bool) -> Result<(), ConfidantError> {
        Ok(self.handle.typing(typing).await?)
    }

    /// Tells the peer how many of its messages the seeker has read.
    pub async fn mark_read(&self, count: u64) -> Result<(), ConfidantError> {
        Ok(self.handle.mark_read(count).await?)
    }

    /// Ends the chat cleanly (an encrypted `End` record, then `end` to the relay).
    pub async fn end(&self) -> Result<(), ConfidantError> {
        Ok(self.handle.end().await?)
    }

    /// Call from the app's network-change callback (Android `ConnectivityManager`, iOS
    /// `NWPathMonitor`) and when it returns to the foreground: a socket that may be dead is
    /// replaced at once and the chat resumes, instead of waiting for the keepalive.
    pub fn network_changed(&self) {
        self.handle.network_changed();
    }

    /// The next event; `None` once the connection is gone (after `Disconnected`) or closed.
    ///
    /// Cancel-safe: cancelling the calling coroutine or task drops the wait and loses no
    /// event. One reader at a time (a second caller waits for the first).
    pub async fn next_event(&self) -> Option<SeekerEvent> {
        let mut guard = tokio::select! {
            guard = self.events.lock() => guard,
            () = self.closed.cancelled() => return None,
        };
        loop {
            let seeker = guard.as_mut()?;
            let event = tokio::select! {
                event = seeker.next_event() => event?,
                () = self.closed.cancelled() => return None,
            };
            if let Some(event) = SeekerEvent::from_sdk(event) {
                return Some(event);
            }
        }
    }

    /// Quick exit: tells the peer the chat ended (encrypted `End` record and `end`) or
    /// leaves the queue, waiting at most half a second for that, then closes the
    /// connection and drops every bit of the session's state. Never fails.
    pub async fn quick_exit(&self) {
        let tell = async {
            // Whichever applies; the other is refused locally without sending anything.
            if self.handle.end().await.is_err() {
                let _ = self.handle.cancel().await;
            }
        };
        let _ = tokio::time::timeout(QUICK_EXIT_GRACE, tell).await;
        self.disconnect().await;
    }

    /// Closes the connection without telling anyone (a chat ends at the relay as
    /// `partner_left`); `next_event` returns `None` from then on. (Not `close`: Kotlin
    /// objects already have `AutoCloseable.close`, which frees the object itself.)
    pub async fn disconnect(&self) {
        self.closed.cancel();
        if let Some(mut seeker) = self.events.lock().await.take() {
            seeker.close();
        }
    }
}
