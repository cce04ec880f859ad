//! The peer supporter's async API: connect, prove the credential, set availability, then
//! run many chats over one connection.

use std::time::Duration;

use confidant_crypto::{ResourceCard, answer_possession_challenge};
use confidant_proto::{Availability, ChatNumber, ClientFrame, ProgramInfo, RelayFrame, Role};

use crate::driver::{Commands, Core, Driver};
use crate::error::ClientError;
use crate::outbox::Outbox;
use crate::peer_core::{PeerCommand, PeerCore};
use crate::peer_credential::PeerCredential;
use crate::peer_event::PeerEvent;
use crate::transport::TlsTrust;
use crate::welcome::{Greeting, expect_control_on, greet, unexpected};

/// Peer settings.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// How long to wait for the WebSocket and each step of the credential exchange.
    pub connect_timeout: Duration,
    /// Whom to trust for a `wss://` relay's certificate (default: the public web roots).
    pub tls: TlsTrust,
    /// The end-to-end chat features this app implements (`proto/spec.md`, "Growing the
    /// protocol"). Each chat uses those its seeker declared too, bound into the handshake.
    /// Version 1 defines none: the default is empty.
    pub chat_features: Vec<String>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            tls: TlsTrust::default(),
            chat_features: Vec::new(),
        }
    }
}

/// What a peer offers when going available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilitySettings {
    /// Available or away.
    pub status: Availability,
    /// Chats at once (1..=16).
    pub capacity: u16,
    /// Topics offered (empty: any).
    pub topics: Vec<String>,
    /// Languages offered (empty: the certificate's).
    pub languages: Vec<String>,
    /// Accept every offer without asking.
    pub auto_accept: bool,
}

impl Default for AvailabilitySettings {
    fn default() -> Self {
        Self {
            status: Availability::Available,
            capacity: 1,
            topics: Vec::new(),
            languages: Vec::new(),
            auto_accept: false,
        }
    }
}

/// A cloneable handle for peer actions.
#[derive(Debug, Clone)]
pub struct PeerHandle {
    commands: Commands<PeerCommand>,
}

impl PeerHandle {
    async fn call(&self, command: PeerCommand) -> Result<u64, ClientError> {
        self.commands.call(command).await
    }

    /// Goes available or away (an `AvailabilitySet` event confirms).
    pub async fn set_availability(
        &self,
        settings: AvailabilitySettings,
    ) -> Result<(), ClientError> {
        self.call(PeerCommand::SetAvailability {
            status: settings.status,
            capacity: settings.capacity,
            topics: settings.topics,
            languages: settings.languages,
            auto_accept: settings.auto_accept,
        })
        .await
        .map(drop)
    }

    /// Takes an offered seeker (a `ChatStarted` event follows).
    pub async fn accept(&self, offer: u32) -> Result<(), ClientError> {
        self.call(PeerCommand::Accept(offer)).await.map(drop)
    }

    /// Passes an offer on to another peer.
    pub async fn decline(&self, offer: u32) -> Result<(), ClientError> {
        self.call(PeerCommand::Decline(offer)).await.map(drop)
    }

    /// Sends a message in `chat`; returns its number within that chat (from 1).
    pub async fn send_text(
        &self,
        chat: ChatNumber,
        text: impl Into<String>,
    ) -> Result<u64, ClientError> {
        self.call(PeerCommand::SendText(chat, text.into())).await
    }

    /// Typing indicator in `chat`.
    pub async fn typing(&self, chat: ChatNumber, typing: bool) -> Result<(), ClientError> {
        self.call(PeerCommand::Typing(chat, typing)).await.map(drop)
    }

    /// Read receipt in `chat`: this many of the seeker's messages were read.
    pub async fn mark_read(&self, chat: ChatNumber, count: u64) -> Result<(), ClientError> {
        self.call(PeerCommand::MarkRead(chat, count))
            .await
            .map(drop)
    }

    /// Shares a program resource card in `chat`.
    pub async fn send_resource(
        &self,
        chat: ChatNumber,
        card: ResourceCard,
    ) -> Result<(), ClientError> {
        self.call(PeerCommand::SendResource(chat, card))
            .await
            .map(drop)
    }

    /// Ends `chat` with an encrypted `End` record and `end` to the relay.
    pub async fn end(&self, chat: ChatNumber) -> Result<(), ClientError> {
        self.call(PeerCommand::End(chat)).await.map(drop)
    }

    /// Ends `chat` and asks the relay never to match this seeker's connection again.
    pub async fn block(&self, chat: ChatNumber) -> Result<(), ClientError> {
        self.call(PeerCommand::Block(chat)).await.map(drop)
    }

    /// Tells the SDK the device's network changed or the app came back to the foreground:
    /// with feature `resume`, a socket that may be dead is replaced at once instead of at
    /// the keepalive deadline. Harmless otherwise.
    pub fn network_changed(&self) {
        self.commands.network_changed();
    }
}

/// A connected, verified peer supporter.
#[derive(Debug)]
pub struct Peer {
    driver: Driver<PeerEvent>,
    handle: PeerHandle,
    program: ProgramInfo,
    display_name: String,
}

impl std::ops::Deref for Peer {
    type Target = PeerHandle;

    fn deref(&self) -> &PeerHandle {
        &self.handle
    }
}

impl Peer {
    /// Connects, presents the credential and proves possession of its key. Returns once
    /// the relay has said `verified`; then call [`PeerHandle::set_availability`].
    pub async fn connect(
        url: &str,
        program: &str,
        credential: PeerCredential,
        options: PeerOptions,
    ) -> Result<Self, ClientError> {
        let timeout = options.connect_timeout;
        let (mut connection, welcomed) = greet(&Greeting {
            url,
            tls: &options.tls,
            timeout,
            role: Role::Peer,
            program,
            chat_features: &options.chat_features,
        })
        .await?;
        let program_info = welcomed.program;
        let PeerCredential {
            issuer_certificate,
            supporter_certificate,
            revocation_list,
            secret,
            mlkem,
        } = credential;
        connection
            .send_control(&ClientFrame::Present {
                issuer_certificate: issuer_certificate.into(),
                supporter_certificate: supporter_certificate.clone().into(),
                revocation_list: revocation_list.into(),
            })
            .await?;
        let challenge = match expect_control_on(&mut connection, timeout).await? {
            RelayFrame::Challenge { challenge } => challenge,
            other => return Err(unexpected(other)),
        };
        let answer =
            answer_possession_challenge(&secret, &supporter_certificate, challenge.as_bytes())
                .map_err(ClientError::Handshake)?;
        connection
            .send_control(&ClientFrame::Prove {
                answer: answer.into(),
            })
            .await?;
        let display_name = match expect_control_on(&mut connection, timeout).await? {
            RelayFrame::Verified { display_name } => display_name,
            other => return Err(unexpected(other)),
        };
        let core = PeerCore::new(secret, mlkem, supporter_certificate, options.chat_features);
        let (commands, driver) = Driver::spawn(connection, core);
        Ok(Self {
            driver,
            handle: PeerHandle { commands },
            program: program_info,
            display_name,
        })
    }

    /// The program as the relay describes it.
    #[must_use]
    pub fn program(&self) -> &ProgramInfo {
        &self.program
    }

    /// The display name the relay read from the certificate.
    #[must_use]
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The next event, or `None` once the connection is gone (after `Disconnected`).
    pub async fn next_event(&mut self) -> Option<PeerEvent> {
        self.driver.next_event().await
    }

    /// A cloneable handle for actions.
    #[must_use]
    pub fn handle(&self) -> PeerHandle {
        self.handle.clone()
    }

    /// Closes the connection; open chats end at the relay as `partner_left`.
    pub fn close(&mut self) {
        self.driver.close();
    }
}

impl Core for PeerCore {
    type Command = PeerCommand;
    type Event = PeerEvent;

    fn on_frame(&mut self, frame: RelayFrame, out: &mut Outbox<PeerEvent>) {
        PeerCore::on_frame(self, frame, out);
    }

    fn on_data(&mut self, chat: ChatNumber, payload: &[u8], out: &mut Outbox<PeerEvent>) {
        PeerCore::on_data(self, chat, payload, out);
    }

    fn on_command(
        &mut self,
        command: PeerCommand,
        out: &mut Outbox<PeerEvent>,
    ) -> Result<u64, ClientError> {
        PeerCore::on_command(self, command, out)
    }

    fn on_link(&mut self, change: crate::link::LinkChange, out: &mut Outbox<PeerEvent>) {
        PeerCore::on_link(self, change, out);
    }

    fn on_disconnect(&mut self, error: &ClientError, out: &mut Outbox<PeerEvent>) {
        tracing::debug!(chats = self.chat_count(), "peer connection ended");
        PeerCore::on_disconnect(self, error, out);
    }

    fn disconnected(error: ClientError) -> PeerEvent {
        PeerEvent::Disconnected(error)
    }
}
