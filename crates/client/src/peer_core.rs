//! The peer supporter's protocol state machine, without I/O.
//!
//! One connection carries many chats, each with its own Noise session keyed by the
//! connection's chat number. The supporter answers each seeker's msg1 with its static
//! secret; a failure in one chat ends that chat only.

use std::collections::HashMap;
use std::time::Duration;

use confidant_crypto::{
    ChatSession, MlKemSecret, PeerHandshake, Record, ResourceCard, SupporterSecret,
    agreed_chat_features,
};
use confidant_proto::{Availability, ChatEndReason, ChatNumber, ClientFrame, RelayFrame};

use crate::end_reason::EndReason;
use crate::error::ClientError;
use crate::link::LinkChange;
use crate::outbox::Outbox;
use crate::peer_event::PeerEvent;

/// One chat on the peer's connection.
enum Chat {
    /// `chat_started` arrived; the seeker's msg1 has not. Holds the seeker's declared chat
    /// features, as the relay passed them (empty without the `chat-features` feature).
    AwaitingHandshake { partner_features: Vec<String> },
    /// The secure chat is open.
    Open {
        session: ChatSession,
        sent: u64,
        received: u64,
    },
}

/// Something the app asked for.
#[derive(Debug)]
pub(crate) enum PeerCommand {
    SetAvailability {
        status: Availability,
        capacity: u16,
        topics: Vec<String>,
        languages: Vec<String>,
        auto_accept: bool,
    },
    Accept(u32),
    Decline(u32),
    SendText(ChatNumber, String),
    Typing(ChatNumber, bool),
    MarkRead(ChatNumber, u64),
    SendResource(ChatNumber, ResourceCard),
    End(ChatNumber),
    Block(ChatNumber),
}

type Out = Outbox<PeerEvent>;

/// The peer state machine.
pub(crate) struct PeerCore {
    secret: SupporterSecret,
    /// The ML-KEM-768 key when the certificate carries its public half: then every chat
    /// must use the hybrid handshake (`proto/crypto.md` §2.1).
    mlkem: Option<MlKemSecret>,
    supporter_certificate: Vec<u8>,
    /// The end-to-end chat features this app implements.
    chat_features: Vec<String>,
    chats: HashMap<ChatNumber, Chat>,
}

impl std::fmt::Debug for PeerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCore")
            .field("chats", &self.chats.len())
            .finish_non_exhaustive()
    }
}

impl PeerCore {
    pub(crate) fn new(
        secret: SupporterSecret,
        mlkem: Option<MlKemSecret>,
        supporter_certificate: Vec<u8>,
        chat_features: Vec<String>,
    ) -> Self {
        Self {
            secret,
            mlkem,
            supporter_certificate,
            chat_features,
            chats: HashMap::new(),
        }
    }

    /// Chats currently open or starting.
    pub(crate) fn chat_count(&self) -> usize {
        self.chats.len()
    }

    /// A control frame from the relay.
    pub(crate) fn on_frame(&mut self, frame: RelayFrame, out: &mut Out) {
        match frame {
            RelayFrame::AvailabilitySet {
                status,
                capacity,
                active_chats,
            } => out.event(PeerEvent::AvailabilitySet {
                status,
                capacity,
                active_chats,
            }),
            RelayFrame::Offer {
                offer,
                topic,
                language,
                expires_in_ms,
                urgent,
            } => out.event(PeerEvent::Offer {
                offer,
                topic,
                language,
                expires_in: Duration::from_millis(u64::from(expires_in_ms)),
                urgent,
            }),
            RelayFrame::OfferWithdrawn { offer, reason } => {
                out.event(PeerEvent::OfferWithdrawn { offer, reason });
            }
            RelayFrame::ChatStarted {
                chat,
                offer,
                chat_features,
            } => {
                if self.chats.contains_key(&chat) {
                    // A relay reusing a live number would mix two seekers: refuse both.
                    self.fail(
                        chat,
                        ClientError::ProtocolViolation("chat number reused".to_owned()),
                        out,
                    );
                    return;
                }
                let partner_features = chat_features.unwrap_or_default();
                self.chats
                    .insert(chat, Chat::AwaitingHandshake { partner_features });
                out.event(PeerEvent::ChatStarted { chat, offer });
            }
            RelayFrame::ChatEnded { chat, reason } => {
                if self.chats.remove(&chat).is_some() {
                    let reason = match reason {
                        ChatEndReason::Ended => EndReason::Local,
                        other => EndReason::WithoutEndRecord(other),
                    };
                    out.event(PeerEvent::Ended { chat, reason });
                }
            }
            RelayFrame::Shutdown { deadline_ms } => out.event(PeerEvent::ShuttingDown {
                deadline: Duration::from_millis(u64::from(deadline_ms)),
            }),
            RelayFrame::Error { code, message } => {
                out.event(PeerEvent::RelayError { code, message });
            }
            RelayFrame::Welcome { .. }
            | RelayFrame::Challenge { .. }
            | RelayFrame::Verified { .. }
            | RelayFrame::Queued { .. }
            | RelayFrame::Cancelled {}
            | RelayFrame::NoPeer { .. }
            | RelayFrame::Matched { .. } => {
                tracing::debug!("ignoring a frame meant for another state or role");
            }
            RelayFrame::PartnerAway { chat } => out.event(PeerEvent::PartnerAway { chat }),
            RelayFrame::PartnerBack { chat } => out.event(PeerEvent::PartnerBack { chat }),
            // The link consumes these; they never reach a core.
            RelayFrame::Resumed { .. } | RelayFrame::Ack { .. } => {
                tracing::debug!("ignoring a frame of the link");
            }
        }
    }

    /// A data frame from the relay.
    pub(crate) fn on_data(&mut self, chat: ChatNumber, payload: &[u8], out: &mut Out) {
        let Some(state) = self.chats.remove(&chat) else {
            // Late data for a chat that already ended: drop it unread.
            return;
        };
        match state {
            Chat::AwaitingHandshake { partner_features } => {
                let agreed = agreed_chat_features(&self.chat_features, &partner_features);
                match PeerHandshake::respond_for_certificate(
                    &self.secret,
                    self.mlkem.as_ref(),
                    &self.supporter_certificate,
                    &agreed,
                    payload,
                ) {
                    Ok((session, msg2)) => {
                        out.data(chat, msg2);
                        self.chats.insert(
                            chat,
                            Chat::Open {
                                session,
                                sent: 0,
                                received: 0,
                            },
                        );
                        out.event(PeerEvent::ChatReady { chat });
                    }
                    Err(error) => self.fail(chat, ClientError::Handshake(error), out),
                }
            }
            Chat::Open {
                mut session,
                sent,
                mut received,
            } => match session.open(payload) {
                Ok(record) => {
                    let keep_open = match record {
                        Record::Text(text) => {
                            received = received.saturating_add(1);
                            out.event(PeerEvent::Message { chat, text });
                            true
                        }
                        Record::Typing(typing) => {
                            out.event(PeerEvent::Typing { chat, typing });
                            true
                        }
                        Record::Read(count) => {
                            out.event(PeerEvent::ReadUpTo {
                                chat,
                                count: count.min(sent),
                            });
                            true
                        }
                        Record::Resource(card) => {
                            out.event(PeerEvent::Resource { chat, card });
                            true
                        }
                        // A record of a later revision (non-critical): skipped.
                        Record::Unknown { kind, .. } => {
                            tracing::debug!(kind, "skipping a record of an unknown type");
                            true
                        }
                        // A seeker cannot block; treat it as an ending all the same.
                        Record::End | Record::Block => {
                            out.event(PeerEvent::Ended {
                                chat,
                                reason: EndReason::PartnerEnded,
                            });
                            false
                        }
                    };
                    if keep_open {
                        self.chats.insert(
                            chat,
                            Chat::Open {
                                session,
                                sent,
                                received,
                            },
                        );
                    }
                }
                Err(error) => self.fail(chat, ClientError::Decrypt(error), out),
            },
        }
    }

    /// An app command. Returns a message number for `SendText`, 0 otherwise.
    pub(crate) fn on_command(
        &mut self,
        command: PeerCommand,
        out: &mut Out,
    ) -> Result<u64, ClientError> {
        match command {
            PeerCommand::SetAvailability {
                status,
                capacity,
                topics,
                languages,
                auto_accept,
            } => {
                out.control(ClientFrame::SetAvailability {
                    status,
                    capacity,
                    topics,
                    languages,
                    auto_accept,
                });
                Ok(0)
            }
            PeerCommand::Accept(offer) => {
                out.control(ClientFrame::Accept { offer });
                Ok(0)
            }
            PeerCommand::Decline(offer) => {
                out.control(ClientFrame::Decline { offer });
                Ok(0)
            }
            PeerCommand::SendText(chat, text) => {
                let Some(Chat::Open { session, sent, .. }) = self.chats.get_mut(&chat) else {
                    return Err(ClientError::NoChat);
                };
                let sealed = session
                    .seal(&Record::Text(text))
                    .map_err(ClientError::Encrypt)?;
                out.data(chat, sealed);
                *sent = sent.saturating_add(1);
                Ok(*sent)
            }
            PeerCommand::Typing(chat, typing) => {
                self.seal_simple(chat, &Record::Typing(typing), out)
            }
            PeerCommand::MarkRead(chat, count) => {
                let Some(Chat::Open { received, .. }) = self.chats.get(&chat) else {
                    return Err(ClientError::NoChat);
                };
                let count = count.min(*received);
                self.seal_simple(chat, &Record::Read(count), out)
            }
            PeerCommand::SendResource(chat, card) => {
                self.seal_simple(chat, &Record::Resource(card), out)
            }
            PeerCommand::End(chat) => self.close(chat, &Record::End, out),
            PeerCommand::Block(chat) => self.close(chat, &Record::Block, out),
        }
    }

    fn seal_simple(
        &mut self,
        chat: ChatNumber,
        record: &Record,
        out: &mut Out,
    ) -> Result<u64, ClientError> {
        let Some(Chat::Open { session, .. }) = self.chats.get_mut(&chat) else {
            return Err(ClientError::NoChat);
        };
        let sealed = session.seal(record).map_err(ClientError::Encrypt)?;
        out.data(chat, sealed);
        Ok(0)
    }

    /// Ends (or blocks) a chat: the record inside the encryption first, so the seeker can
    /// tell a real ending from truncation, then the control frame for the relay.
    fn close(
        &mut self,
        chat: ChatNumber,
        record: &Record,
        out: &mut Out,
    ) -> Result<u64, ClientError> {
        let Some(state) = self.chats.remove(&chat) else {
            return Err(ClientError::NoChat);
        };
        if let Chat::Open { mut session, .. } = state
            && let Ok(sealed) = session.seal(record)
        {
            out.data(chat, sealed);
        }
        out.control(match record {
            Record::Block => ClientFrame::Block { chat },
            _ => ClientFrame::End { chat },
        });
        out.event(PeerEvent::Ended {
            chat,
            reason: EndReason::Local,
        });
        Ok(0)
    }

    /// Feature `resume`: the socket was lost, or it is back.
    pub(crate) fn on_link(&mut self, change: LinkChange, out: &mut Out) {
        out.event(match change {
            LinkChange::Lost { grace } => PeerEvent::ConnectionLost { grace },
            LinkChange::Resumed => PeerEvent::Reconnected,
        });
    }

    /// The connection is gone: every chat ends.
    pub(crate) fn on_disconnect(&mut self, error: &ClientError, out: &mut Out) {
        let mut chats: Vec<ChatNumber> = self.chats.drain().map(|(chat, _)| chat).collect();
        chats.sort_unstable();
        for chat in chats {
            out.event(PeerEvent::Ended {
                chat,
                reason: EndReason::Failed(error.clone()),
            });
        }
    }

    fn fail(&mut self, chat: ChatNumber, error: ClientError, out: &mut Out) {
        tracing::warn!(code = error.code(), "ending a chat: {error}");
        self.chats.remove(&chat);
        out.control(ClientFrame::End { chat });
        out.event(PeerEvent::Ended {
            chat,
            reason: EndReason::Failed(error),
        });
    }
}
