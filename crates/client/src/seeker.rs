//! The seeker's async API: connect, then drive a chat with commands and read events.
//!
//! One background task owns the WebSocket (one actor per socket, as in libsignal); the
//! [`Seeker`] is a handle that sends it commands and receives its events. Nothing here
//! assumes a terminal, so a mobile binding can wrap the same calls.

use std::sync::Arc;
use std::time::Duration;

use confidant_crypto::ResourceCard;
use confidant_proto::{ChatNumber, ProgramInfo, RelayFrame, Role, SeekPreferences};

use crate::clock::{Clock, SystemClock};
use crate::driver::{Commands, Core, Driver};
use crate::error::ClientError;
use crate::outbox::Outbox;
use crate::revocation_memory::RevocationMemory;
use crate::seeker_core::{SeekerCommand, SeekerConfig, SeekerCore};
use crate::seeker_event::SeekerEvent;
use crate::transport::TlsTrust;
use crate::welcome::{Greeting, greet};

/// Seeker settings beyond the relay, the program and the pinned root key.
#[derive(Debug, Clone)]
pub struct SeekerOptions {
    /// If set, a matched peer whose signed department equals this (ignoring case) is
    /// skipped locally and the SDK seeks again. The relay is never told why.
    pub avoid_department: Option<String>,
    /// The clock certificates are judged by. Defaults to the system clock.
    pub clock: Arc<dyn Clock>,
    /// Highest revocation sequences seen; share one between seekers of the same app to
    /// resist rollback across connections. Defaults to a fresh, empty memory.
    pub revocation_memory: RevocationMemory,
    /// How long to wait for the WebSocket and the relay's `welcome`.
    pub connect_timeout: Duration,
    /// Whom to trust for a `wss://` relay's certificate (default: the public web roots).
    pub tls: TlsTrust,
    /// The end-to-end chat features this app implements (`proto/spec.md`, "Growing the
    /// protocol"). Each chat uses those its peer declared too, bound into the handshake.
    /// Version 1 defines none: the default is empty.
    pub chat_features: Vec<String>,
}

impl Default for SeekerOptions {
    fn default() -> Self {
        Self {
            avoid_department: None,
            clock: Arc::new(SystemClock),
            revocation_memory: RevocationMemory::new(),
            connect_timeout: Duration::from_secs(10),
            tls: TlsTrust::default(),
            chat_features: Vec::new(),
        }
    }
}

/// A cheap, cloneable handle for seeker actions (e.g. to hand to a UI task) while another
/// task reads events.
#[derive(Debug, Clone)]
pub struct SeekerHandle {
    commands: Commands<SeekerCommand>,
}

impl SeekerHandle {
    async fn call(&self, command: SeekerCommand) -> Result<u64, ClientError> {
        self.commands.call(command).await
    }

    /// Asks for a peer. Events: `Queued` …, then `Matched`, `NoPeer` or `Cancelled`.
    pub async fn seek(&self, preferences: SeekPreferences) -> Result<(), ClientError> {
        self.call(SeekerCommand::Seek(preferences, false))
            .await
            .map(drop)
    }

    /// As [`Self::seek`], saying "I need to talk soon" (self-declared): the relay serves an
    /// urgent seeker as if it had sought five minutes earlier, and the peer's offer says so
    /// (feature `urgency`; against a relay without it, a plain `seek`).
    pub async fn seek_urgently(&self, preferences: SeekPreferences) -> Result<(), ClientError> {
        self.call(SeekerCommand::Seek(preferences, true))
            .await
            .map(drop)
    }

    /// Leaves the queue (a `Cancelled` event follows).
    pub async fn cancel(&self) -> Result<(), ClientError> {
        self.call(SeekerCommand::Cancel).await.map(drop)
    }

    /// Sends a message; returns its number (1 for the first of the chat), which
    /// `ReadUpTo` events refer to.
    pub async fn send_text(&self, text: impl Into<String>) -> Result<u64, ClientError> {
        self.call(SeekerCommand::SendText(text.into())).await
    }

    /// Tells the peer the seeker started or stopped typing.
    pub async fn typing(&self, typing: bool) -> Result<(), ClientError> {
        self.call(SeekerCommand::Typing(typing)).await.map(drop)
    }

    /// Tells the peer the seeker has read this many of the peer's messages.
    pub async fn mark_read(&self, count: u64) -> Result<(), ClientError> {
        self.call(SeekerCommand::MarkRead(count)).await.map(drop)
    }

    /// Shares a resource card (peers usually do this; seekers may).
    pub async fn send_resource(&self, card: ResourceCard) -> Result<(), ClientError> {
        self.call(SeekerCommand::SendResource(card)).await.map(drop)
    }

    /// Tells the SDK the device's network changed (Wi-Fi ↔ mobile data) or the app came
    /// back to the foreground: if the relay agreed on `resume`, a socket that may be dead is
    /// replaced at once instead of at the keepalive deadline (about 25 s). Harmless otherwise.
    pub fn network_changed(&self) {
        self.commands.network_changed();
    }

    /// Ends the chat: an encrypted `End` record, then `end` to the relay.
    pub async fn end(&self) -> Result<(), ClientError> {
        self.call(SeekerCommand::End).await.map(drop)
    }
}

/// A connected seeker.
#[derive(Debug)]
pub struct Seeker {
    driver: Driver<SeekerEvent>,
    handle: SeekerHandle,
    program: ProgramInfo,
    features: Vec<String>,
}

impl std::ops::Deref for Seeker {
    type Target = SeekerHandle;

    fn deref(&self) -> &SeekerHandle {
        &self.handle
    }
}

impl Seeker {
    /// Connects to `url` (e.g. `ws://127.0.0.1:8080/v1/ws`) as an anonymous seeker of
    /// `program`, whose root key the app pins (never taken from the relay).
    pub async fn connect(
        url: &str,
        program: &str,
        pinned_root_key: [u8; 32],
        options: SeekerOptions,
    ) -> Result<Self, ClientError> {
        let (connection, welcomed) = greet(&Greeting {
            url,
            tls: &options.tls,
            timeout: options.connect_timeout,
            role: Role::Seeker,
            program,
            chat_features: &options.chat_features,
        })
        .await?;
        let core = SeekerCore::new(SeekerConfig {
            program: program.to_owned(),
            root_key: pinned_root_key,
            clock: options.clock,
            revocation_memory: options.revocation_memory,
            avoid_department: options.avoid_department,
            chat_features: options.chat_features,
            pass: welcomed
                .features
                .iter()
                .any(|name| name == confidant_proto::FEATURE_PASS),
            urgency: welcomed
                .features
                .iter()
                .any(|name| name == confidant_proto::FEATURE_URGENCY),
        });
        let (commands, driver) = Driver::spawn(connection, core);
        Ok(Self {
            driver,
            handle: SeekerHandle { commands },
            program: welcomed.program,
            features: welcomed.features,
        })
    }

    /// The program as the relay describes it (name, topics, resources). Its `root_key` is
    /// the relay's claim, shown for comparison only; the pinned key is what counts.
    #[must_use]
    pub fn program(&self) -> &ProgramInfo {
        &self.program
    }

    /// The relay features in force on this connection (`proto/spec.md`, "Growing the
    /// protocol"); empty against a relay that predates features.
    #[must_use]
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// The next event, or `None` once the connection is gone (after `Disconnected`).
    pub async fn next_event(&mut self) -> Option<SeekerEvent> {
        self.driver.next_event().await
    }

    /// A cloneable handle for actions.
    #[must_use]
    pub fn handle(&self) -> SeekerHandle {
        self.handle.clone()
    }

    /// Closes the connection (a chat in progress ends at the relay as `partner_left`;
    /// call [`SeekerHandle::end`] first for a clean ending).
    pub fn close(&mut self) {
        self.driver.close();
    }
}

impl Core for SeekerCore {
    type Command = SeekerCommand;
    type Event = SeekerEvent;

    fn on_frame(&mut self, frame: RelayFrame, out: &mut Outbox<SeekerEvent>) {
        SeekerCore::on_frame(self, frame, out);
    }

    fn on_data(&mut self, chat: ChatNumber, payload: &[u8], out: &mut Outbox<SeekerEvent>) {
        SeekerCore::on_data(self, chat, payload, out);
    }

    fn on_command(
        &mut self,
        command: SeekerCommand,
        out: &mut Outbox<SeekerEvent>,
    ) -> Result<u64, ClientError> {
        SeekerCore::on_command(self, command, out)
    }

    fn on_link(&mut self, change: crate::link::LinkChange, out: &mut Outbox<SeekerEvent>) {
        SeekerCore::on_link(self, change, out);
    }

    fn on_disconnect(&mut self, error: &ClientError, out: &mut Outbox<SeekerEvent>) {
        SeekerCore::on_disconnect(self, error, out);
    }

    fn disconnected(error: ClientError) -> SeekerEvent {
        SeekerEvent::Disconnected(error)
    }
}
