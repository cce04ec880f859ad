//! A peer supporter: load the supporter's own credential, go available, answer offers and
//! hold several chats over one connection.

use std::sync::Arc;
use std::time::Duration;

use confidant_client::{
    AvailabilitySettings, ChatNumber, Peer, PeerCredential as PeerCredentialSdk, PeerHandle,
    PeerOptions,
};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::error::ConfidantError;
use crate::types::{Availability, EndReason, Program, RelayErrorCode, RelayTrust, ResourceCard};

/// A peer supporter's credential, loaded from the three texts `confidant keygen`,
/// `admin sign` and `admin revoke` write, and checked (the key must match the certificate).
///
/// An object, not a record: the key is the one secret that ever crosses the boundary, and
/// only inward. It goes in through the constructor and stays in the library; the app's
/// object holds a handle and nothing else, so no `toString()` / `description`, no data-class
/// copy and no reflection can print it (a UniFFI record would be a Kotlin data class whose
/// `toString()` shows every field). `toString()` names the supporter and says the key is
/// withheld.
#[derive(uniffi::Object)]
#[uniffi::export(Display)]
pub struct PeerCredential {
    /// The key file's text, wiped from memory when the object is freed.
    key: Zeroizing<String>,
    credential: String,
    revocation_list: String,
    display_name: String,
}

impl std::fmt::Debug for PeerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCredential")
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for PeerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerCredential({}, key withheld)", self.display_name)
    }
}

#[uniffi::export]
impl PeerCredential {
    /// Loads and checks the key file's text (secret), the credential file's and the
    /// program's current revocation list's. Fails with `Credential` when a text is
    /// malformed or the key is not the certificate's.
    #[uniffi::constructor]
    pub fn new(
        key: String,
        credential: String,
        revocation_list: String,
    ) -> Result<Arc<Self>, ConfidantError> {
        let key = Zeroizing::new(key);
        let display_name = PeerCredentialSdk::from_texts(&key, &credential, &revocation_list)?
            .certificate()?
            .display_name;
        Ok(Arc::new(Self {
            key,
            credential,
            revocation_list,
            display_name,
        }))
    }

    /// The supporter's name as the program signed it.
    pub fn display_name(&self) -> String {
        self.display_name.clone()
    }
}

impl PeerCredential {
    /// The SDK's credential for one connection (a `Peer` owns its credential), so the app
    /// can connect again with the same object after a network change.
    fn for_connection(&self) -> Result<PeerCredentialSdk, ConfidantError> {
        Ok(PeerCredentialSdk::from_texts(
            &self.key,
            &self.credential,
            &self.revocation_list,
        )?)
    }
}

/// One thing that happened on a peer supporter's connection, in order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PeerEvent {
    /// The availability now in force.
    AvailabilitySet {
        /// Available or away.
        status: Availability,
        /// Chats at once.
        capacity: u16,
        /// Chats open now.
        active_chats: u16,
    },
    /// A seeker is waiting: accept or decline before it expires.
    Offer {
        /// The offer number to answer.
        offer: u32,
        /// The seeker's topic, if any.
        topic: Option<String>,
        /// The seeker's language, if any.
        language: Option<String>,
        /// Milliseconds before the offer goes to another peer.
        expires_in_ms: u64,
        /// The seeker said it needs to talk soon.
        urgent: bool,
    },
    /// An offer went away before it was answered.
    OfferWithdrawn {
        /// The offer number.
        offer: u32,
    },
    /// A chat started; the seeker's handshake follows.
    ChatStarted {
        /// The chat number on this connection.
        chat: u32,
        /// The offer it came from.
        offer: u32,
    },
    /// The chat is end-to-end encrypted; content may flow.
    ChatReady {
        /// The chat.
        chat: u32,
    },
    /// A message from the seeker.
    Message {
        /// The chat.
        chat: u32,
        /// The text.
        text: String,
    },
    /// The seeker started or stopped typing.
    Typing {
        /// The chat.
        chat: u32,
        /// Typing or not.
        typing: bool,
    },
    /// The seeker has read this many of the peer's messages.
    ReadUpTo {
        /// The chat.
        chat: u32,
        /// Count.
        count: u64,
    },
    /// The seeker shared a resource card.
    ResourceShared {
        /// The chat.
        chat: u32,
        /// The card.
        card: ResourceCard,
    },
    /// A chat is over.
    Ended {
        /// The chat.
        chat: u32,
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
    /// The connection to the relay was lost; the SDK is reconnecting and the chats and
    /// availability are kept for up to `grace_ms` (open offers lapse meanwhile).
    ConnectionLost {
        /// How long the relay keeps the connection, in milliseconds.
        grace_ms: u64,
    },
    /// The connection is back; nothing was lost.
    Reconnected,
    /// The seeker of `chat` lost its connection; they may be back in a moment.
    PartnerAway {
        /// The chat.
        chat: u32,
    },
    /// The seeker of `chat` is back.
    PartnerBack {
        /// The chat.
        chat: u32,
    },
    /// The connection is gone; no further events follow.
    Disconnected {
        /// Why.
        error: ConfidantError,
    },
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl PeerEvent {
    /// `None` for an event a later SDK adds and these bindings do not know yet.
    fn from_sdk(event: confidant_client::PeerEvent) -> Option<Self> {
        use confidant_client::PeerEvent as E;
        Some(match event {
            E::AvailabilitySet {
                status,
                capacity,
                active_chats,
            } => Self::AvailabilitySet {
                status: status.into(),
                capacity,
                active_chats,
            },
            E::Offer {
                offer,
                topic,
                language,
                expires_in,
                urgent,
            } => Self::Offer {
                offer,
                topic,
                language,
                expires_in_ms: millis(expires_in),
                urgent,
            },
            E::OfferWithdrawn { offer, .. } => Self::OfferWithdrawn { offer },
            E::ChatStarted { chat, offer } => Self::ChatStarted {
                chat: chat.0,
                offer,
            },
            E::ChatReady { chat } => Self::ChatReady { chat: chat.0 },
            E::Message { chat, text } => Self::Message { chat: chat.0, text },
            E::Typing { chat, typing } => Self::Typing {
                chat: chat.0,
                typing,
            },
            E::ReadUpTo { chat, count } => Self::ReadUpTo {
                chat: chat.0,
                count,
            },
            E::Resource { chat, card } => Self::ResourceShared {
                chat: chat.0,
                card: card.into(),
            },
            E::Ended { chat, reason } => Self::Ended {
                chat: chat.0,
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
            E::PartnerAway { chat } => Self::PartnerAway { chat: chat.0 },
            E::PartnerBack { chat } => Self::PartnerBack { chat: chat.0 },
            E::Disconnected(error) => Self::Disconnected {
                error: error.into(),
            },
            _ => return None,
        })
    }
}

/// Connects as the supporter whose credential this is: presents the certificates, proves
/// the key, and returns once the relay has verified them. Then call `set_availability`.
#[uniffi::export(async_runtime = "tokio")]
pub async fn connect_peer(
    relay_url: String,
    program_id: String,
    credential: Arc<PeerCredential>,
    trust: RelayTrust,
    connect_timeout_ms: u64,
) -> Result<Arc<PeerSession>, ConfidantError> {
    let credential = credential.for_connection()?;
    let options = PeerOptions {
        connect_timeout: Duration::from_millis(connect_timeout_ms),
        tls: trust.to_sdk()?,
        ..PeerOptions::default()
    };
    let peer = Peer::connect(&relay_url, &program_id, credential, options).await?;
    Ok(Arc::new(PeerSession {
        handle: peer.handle(),
        program: peer.program().clone().into(),
        display_name: peer.display_name().to_owned(),
        events: Mutex::new(Some(peer)),
        closed: CancellationToken::new(),
    }))
}

/// A connected, verified peer supporter.
#[derive(Debug, uniffi::Object)]
pub struct PeerSession {
    handle: PeerHandle,
    program: Program,
    display_name: String,
    events: Mutex<Option<Peer>>,
    closed: CancellationToken,
}

#[uniffi::export(async_runtime = "tokio")]
impl PeerSession {
    /// The program as the relay describes it.
    pub fn program(&self) -> Program {
        self.program.clone()
    }

    /// The display name the relay read from the certificate.
    pub fn display_name(&self) -> String {
        self.display_name.clone()
    }

    /// Goes available or away (`AvailabilitySet` confirms). `capacity` is 1..=16.
    pub async fn set_availability(
        &self,
        status: Availability,
        capacity: u16,
        topics: Vec<String>,
        languages: Vec<String>,
        auto_accept: bool,
    ) -> Result<(), ConfidantError> {
        Ok(self
            .handle
            .set_availability(AvailabilitySettings {
                status: status.into(),
                capacity,
                topics,
                languages,
                auto_accept,
            })
            .await?)
    }

    /// Takes an offered seeker (`ChatStarted` follows).
    pub async fn accept(&self, offer: u32) -> Result<(), ConfidantError> {
        Ok(self.handle.accept(offer).await?)
    }

    /// Passes an offer to another peer.
    pub async fn decline(&self, offer: u32) -> Result<(), ConfidantError> {
        Ok(self.handle.decline(offer).await?)
    }

    /// Sends a message in `chat`; returns its number there (from 1).
    pub async fn send_text(&self, chat: u32, text: String) -> Result<u64, ConfidantError> {
        Ok(self.handle.send_text(ChatNumber(chat), text).await?)
    }

    /// Typing indicator in `chat`.
    pub async fn typing(&self, chat: u32, typing: bool) -> Result<(), ConfidantError> {
        Ok(self.handle.typing(ChatNumber(chat), typing).await?)
    }

    /// Read receipt in `chat`.
    pub async fn mark_read(&self, chat: u32, count: u64) -> Result<(), ConfidantError> {
        Ok(self.handle.mark_read(ChatNumber(chat), count).await?)
    }

    /// Shares a resource card in `chat`.
    pub async fn send_resource(&self, chat: u32, card: ResourceCard) -> Result<(), ConfidantError> {
        Ok(self
            .handle
            .send_resource(ChatNumber(chat), card.into())
            .await?)
    }

    /// Ends `chat` cleanly.
    pub async fn end(&self, chat: u32) -> Result<(), ConfidantError> {
        Ok(self.handle.end(ChatNumber(chat)).await?)
    }

    /// Ends `chat` and asks the relay never to match this seeker's connection again.
    pub async fn block(&self, chat: u32) -> Result<(), ConfidantError> {
        Ok(self.handle.block(ChatNumber(chat)).await?)
    }

    /// Call from the app's network-change callback and on return to the foreground: a
    /// socket that may be dead is replaced at once and the chats resume.
    pub fn network_changed(&self) {
        self.handle.network_changed();
    }

    /// The next event; `None` once the connection is gone or closed. Cancel-safe.
    pub async fn next_event(&self) -> Option<PeerEvent> {
        let mut guard = tokio::select! {
            guard = self.events.lock() => guard,
            () = self.closed.cancelled() => return None,
        };
        loop {
            let peer = guard.as_mut()?;
            let event = tokio::select! {
                event = peer.next_event() => event?,
                () = self.closed.cancelled() => return None,
            };
            if let Some(event) = PeerEvent::from_sdk(event) {
                return Some(event);
            }
        }
    }

    /// Closes the connection; open chats end at the relay as `partner_left`.
    pub async fn disconnect(&self) {
        self.closed.cancel();
        if let Some(mut peer) = self.events.lock().await.take() {
            peer.close();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use confidant_client::credential_files::{
        CREDENTIAL_LABEL, REVOCATION_LIST_LABEL, encode_labelled,
    };
    use confidant_crypto::{
        IssuingKey, ProgramAuthority, RootKey, SupporterProfile, SupporterSecret,
    };

    use super::*;

    /// The three texts of a fresh supporter, as `keygen`, `admin sign` and `admin revoke`
    /// write them.
    fn supporter_files(name: &str) -> (String, String, String) {
        let now = confidant_crypto::wall_clock::unix_now();
        let mut authority = ProgramAuthority::new(
            "test-program",
            RootKey::generate().unwrap(),
            IssuingKey::generate().unwrap(),
            now - 60,
            now + 3600,
        )
        .unwrap();
        let secret = SupporterSecret::generate().unwrap();
        let certificate = authority
            .issue(
                1,
                secret.public(),
                SupporterProfile {
                    display_name: name.to_owned(),
                    role: "resident".to_owned(),
                    department: "Surgery".to_owned(),
                    topics: Vec::new(),
                    languages: vec!["en".to_owned()],
                    not_before: now - 60,
                    not_after: now + 3600,
                },
            )
            .unwrap();
        let list = authority.revoke(&[], now, now + 3600).unwrap();
        (
            secret.to_key_file().to_string(),
            encode_labelled(
                CREDENTIAL_LABEL,
                &[authority.issuer_certificate(), &certificate],
            ),
            encode_labelled(REVOCATION_LIST_LABEL, &[&list]),
        )
    }

    /// What Swift's `description` and Kotlin's `toString()` print (both are this
    /// `Display`), and the `Debug` of a log line, never hold the key.
    #[test]
    fn display_and_debug_withhold_the_key() {
        let (key, credential, list) = supporter_files("Dr. Sam");
        let secret_line = key.lines().nth(1).unwrap().to_owned();
        let loaded = PeerCredential::new(key.clone(), credential, list).unwrap();
        assert_eq!(loaded.to_string(), "PeerCredential(Dr. Sam, key withheld)");
        for printed in [
            loaded.to_string(),
            format!("{loaded:?}"),
            format!("{loaded:#?}"),
        ] {
            assert!(!printed.contains(&secret_line), "{printed}");
            assert!(!printed.contains(key.trim()), "{printed}");
        }
        assert_eq!(loaded.display_name(), "Dr. Sam");
        // One object serves every connection (a reconnect after a network change).
        for _ in 0..2 {
            let sdk = loaded.for_connection().unwrap();
            assert_eq!(sdk.certificate().unwrap().display_name, "Dr. Sam");
        }
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_without_printing_it() {
        let (_, credential, list) = supporter_files("Dr. Sam");
        let (other_key, _, _) = supporter_files("Dr. Other");
        let error = PeerCredential::new(other_key.clone(), credential, list).unwrap_err();
        assert!(
            matches!(error, ConfidantError::Credential { .. }),
            "{error:?}"
        );
        let secret_line = other_key.lines().nth(1).unwrap();
        assert!(!format!("{error:?} {error}").contains(secret_line));
    }
}
