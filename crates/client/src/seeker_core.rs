//! The seeker's protocol state machine, without I/O.
//!
//! Fed relay frames, data frames and app commands; answers with an [`Outbox`]. The rules
//! it enforces are the product's promises on the seeker's side:
//! - a matched peer is verified against the pinned root key before anything else, and a
//!   failure ends the chat before any content;
//! - `Matched` is only reported after the peer proved its key (Noise msg2), so nothing about
//!   an impostor is ever shown;
//! - the seeker sends content only after msg2; any decryption failure ends the chat.

use std::sync::Arc;
use std::time::Duration;

use confidant_crypto::{ChatSession, Record, ResourceCard, SeekerHandshake, agreed_chat_features};
use confidant_proto::{ChatEndReason, ChatNumber, ClientFrame, RelayFrame, SeekPreferences};

use crate::clock::Clock;
use crate::end_reason::EndReason;
use crate::error::ClientError;
use crate::link::LinkChange;
use crate::outbox::Outbox;
use crate::revocation_memory::RevocationMemory;
use crate::seeker_event::SeekerEvent;
use crate::verified_peer::{VerifiedPeer, check_credential, same_department};

/// What the seeker is doing.
#[derive(Debug)]
enum State {
    /// Connected, not queued, not chatting.
    Idle,
    /// `seek` sent; waiting in the queue.
    Seeking { cancel_requested: bool },
    /// Verified a peer; msg1 sent, waiting for msg2. Nothing shown yet.
    Handshaking {
        chat: ChatNumber,
        // Boxed: snow's handshake state is large and the other states are small.
        handshake: Box<SeekerHandshake>,
        peer: VerifiedPeer,
    },
    /// The secure chat is open.
    Chatting {
        chat: ChatNumber,
        session: ChatSession,
        sent: u64,
        received: u64,
    },
    /// Ended a same-department match; waiting for the relay's acknowledgement before
    /// seeking again (so the relay sees `end` then `seek`, never both racing).
    Skipping { chat: ChatNumber, cancelled: bool },
}

/// The seeker's configuration that the core needs.
#[derive(Debug, Clone)]
pub(crate) struct SeekerConfig {
    pub(crate) program: String,
    pub(crate) root_key: [u8; 32],
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) revocation_memory: RevocationMemory,
    pub(crate) avoid_department: Option<String>,
    /// The end-to-end chat features this app implements.
    pub(crate) chat_features: Vec<String>,
    /// The relay agreed on feature `pass`: a refused peer is passed, keeping the queue place.
    pub(crate) pass: bool,
    /// The relay agreed on feature `urgency`: an urgent seek may say so.
    pub(crate) urgency: bool,
}

/// The seeker state machine.
#[derive(Debug)]
pub(crate) struct SeekerCore {
    config: SeekerConfig,
    state: State,
    preferences: SeekPreferences,
    /// The last seek said "I need to talk soon" (and the relay knows `urgency`).
    urgent: bool,
}

/// Something the app asked for.
#[derive(Debug)]
pub(crate) enum SeekerCommand {
    /// Preferences, and whether the seeker needs to talk soon.
    Seek(SeekPreferences, bool),
    Cancel,
    SendText(String),
    Typing(bool),
    MarkRead(u64),
    SendResource(ResourceCard),
    End,
}

/// The answer to a command: a message number for `SendText`, nothing otherwise.
pub(crate) type CommandResult = Result<u64, ClientError>;

type Out = Outbox<SeekerEvent>;

impl SeekerCore {
    pub(crate) fn new(config: SeekerConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            preferences: SeekPreferences::default(),
            urgent: false,
        }
    }

    /// A control frame from the relay.
    pub(crate) fn on_frame(&mut self, frame: RelayFrame, out: &mut Out) {
        match frame {
            RelayFrame::Queued {
                position,
                peers_online,
                estimate_secs,
                none,
            } => {
                if matches!(self.state, State::Seeking { .. }) {
                    out.event(SeekerEvent::Queued {
                        position,
                        peers_online,
                        estimate: estimate_secs.map(|s| Duration::from_secs(u64::from(s))),
                        none,
                    });
                }
            }
            RelayFrame::Cancelled {} => {
                if matches!(self.state, State::Seeking { .. }) {
                    self.state = State::Idle;
                    out.event(SeekerEvent::Cancelled);
                }
            }
            RelayFrame::NoPeer { reason, resources } => {
                if matches!(self.state, State::Seeking { .. }) {
                    self.state = State::Idle;
                    out.event(SeekerEvent::NoPeer { reason, resources });
                }
            }
            RelayFrame::Matched {
                chat,
                credential,
                chat_features,
            } => self.on_matched(chat, &credential, &chat_features.unwrap_or_default(), out),
            RelayFrame::ChatEnded { chat, reason } => self.on_chat_ended(chat, reason, out),
            RelayFrame::Shutdown { deadline_ms } => out.event(SeekerEvent::ShuttingDown {
                deadline: Duration::from_millis(u64::from(deadline_ms)),
            }),
            RelayFrame::Error { code, message } => {
                out.event(SeekerEvent::RelayError { code, message });
            }
            // Peer-only frames, or a second welcome: a confused relay. Ignore; nothing in
            // them can hurt the seeker.
            RelayFrame::Welcome { .. }
            | RelayFrame::Challenge { .. }
            | RelayFrame::Verified { .. }
            | RelayFrame::AvailabilitySet { .. }
            | RelayFrame::Offer { .. }
            | RelayFrame::OfferWithdrawn { .. }
            | RelayFrame::ChatStarted { .. } => {
                tracing::debug!("ignoring a frame meant for a peer supporter");
            }
            // Feature `resume`: a seeker has one chat at a time.
            RelayFrame::PartnerAway { .. } => out.event(SeekerEvent::PeerAway),
            RelayFrame::PartnerBack { .. } => out.event(SeekerEvent::PeerBack),
            // The link consumes these; they never reach a core.
            RelayFrame::Resumed { .. } | RelayFrame::Ack { .. } => {
                tracing::debug!("ignoring a frame of the link");
            }
        }
    }

    fn on_matched(
        &mut self,
        chat: ChatNumber,
        credential: &confidant_proto::Credential,
        partner_features: &[String],
        out: &mut Out,
    ) {
        let cancel_requested = match self.state {
            State::Seeking { cancel_requested } => cancel_requested,
            _ => {
                // Matched while not seeking: refuse the chat rather than guess.
                out.control(ClientFrame::End { chat });
                return;
            }
        };
        if cancel_requested {
            // The app cancelled while the match was in flight: end it, say nothing.
            out.control(ClientFrame::End { chat });
            self.state = State::Idle;
            out.event(SeekerEvent::Cancelled);
            return;
        }
        let checked = match check_credential(
            &self.config.root_key,
            &self.config.program,
            credential,
            self.config.clock.as_ref(),
            &self.config.revocation_memory,
        ) {
            Ok(checked) => checked,
            Err(error) => return self.fail(chat, error, out),
        };
        if let Some(avoid) = &self.config.avoid_department
            && same_department(&checked.peer.department, avoid)
        {
            if self.config.pass {
                // `pass`: the relay puts the seeker back where it stood, that peer excluded,
                // and is not told why (a credential that fails verification is not passed:
                // that is an attack, and the chat ends).
                out.control(ClientFrame::Pass { chat });
                self.state = State::Seeking {
                    cancel_requested: false,
                };
                out.event(SeekerEvent::SkippedSameDepartment);
                return;
            }
            // Decline locally: a plain `end`, indistinguishable at the relay from any other
            // seeker ending a chat before it began.
            out.control(ClientFrame::End { chat });
            self.state = State::Skipping {
                chat,
                cancelled: false,
            };
            out.event(SeekerEvent::SkippedSameDepartment);
            return;
        }
        let agreed = agreed_chat_features(&self.config.chat_features, partner_features);
        // The hybrid handshake exactly when the verified certificate carries an ML-KEM key.
        match SeekerHandshake::start_for_certificate(
            &checked.static_key,
            checked.mlkem_public.as_deref(),
            &checked.supporter_certificate,
            &agreed,
        ) {
            Ok((handshake, msg1)) => {
                out.data(chat, msg1);
                self.state = State::Handshaking {
                    chat,
                    handshake: Box::new(handshake),
                    peer: checked.peer,
                };
            }
            Err(error) => self.fail(chat, ClientError::Handshake(error), out),
        }
    }

    fn on_chat_ended(&mut self, chat: ChatNumber, reason: ChatEndReason, out: &mut Out) {
        match &self.state {
            State::Skipping {
                chat: skipped,
                cancelled,
            } if *skipped == chat => {
                if *cancelled {
                    self.state = State::Idle;
                    out.event(SeekerEvent::Cancelled);
                } else {
                    out.control(ClientFrame::Seek {
                        preferences: self.preferences.clone(),
                        urgent: self.urgent,
                    });
                    self.state = State::Seeking {
                        cancel_requested: false,
                    };
                }
            }
            State::Handshaking { chat: current, .. } | State::Chatting { chat: current, .. }
                if *current == chat =>
            {
                self.state = State::Idle;
                out.event(SeekerEvent::Ended(EndReason::WithoutEndRecord(reason)));
            }
            // An acknowledgement of a chat we already ended, or a stale number.
            _ => {}
        }
    }

    /// A data frame from the relay.
    pub(crate) fn on_data(&mut self, chat: ChatNumber, payload: &[u8], out: &mut Out) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Handshaking {
                chat: current,
                handshake,
                peer,
            } if current == chat => match handshake.finish(payload) {
                Ok(session) => {
                    self.state = State::Chatting {
                        chat,
                        session,
                        sent: 0,
                        received: 0,
                    };
                    out.event(SeekerEvent::Matched { peer });
                }
                Err(error) => self.fail(chat, ClientError::Handshake(error), out),
            },
            State::Chatting {
                chat: current,
                mut session,
                sent,
                mut received,
            } if current == chat => match session.open(payload) {
                Ok(record) => {
                    let keep_open = match record {
                        Record::Text(text) => {
                            received = received.saturating_add(1);
                            out.event(SeekerEvent::Message(text));
                            true
                        }
                        Record::Typing(typing) => {
                            out.event(SeekerEvent::Typing(typing));
                            true
                        }
                        Record::Read(count) => {
                            out.event(SeekerEvent::ReadUpTo(count.min(sent)));
                            true
                        }
                        Record::Resource(card) => {
                            out.event(SeekerEvent::Resource(card));
                            true
                        }
                        // A record of a later revision (non-critical): skipped.
                        Record::Unknown { kind, .. } => {
                            tracing::debug!(kind, "skipping a record of an unknown type");
                            true
                        }
                        Record::End => {
                            out.event(SeekerEvent::Ended(EndReason::PartnerEnded));
                            false
                        }
                        Record::Block => {
                            out.event(SeekerEvent::Ended(EndReason::PartnerBlocked));
                            false
                        }
                    };
                    if keep_open {
                        self.state = State::Chatting {
                            chat,
                            session,
                            sent,
                            received,
                        };
                    }
                    // After End/Block the partner's own `end` reaches the relay, whose
                    // `chat_ended` we then ignore: no second frame from us to race it.
                }
                Err(error) => self.fail(chat, ClientError::Decrypt(error), out),
            },
            other => {
                // Data for a chat we are not in (ended, skipped): drop it unread.
                self.state = other;
            }
        }
    }

    /// An app command. Returns the command's answer; frames go into `out`.
    pub(crate) fn on_command(&mut self, command: SeekerCommand, out: &mut Out) -> CommandResult {
        match command {
            SeekerCommand::Seek(preferences, urgent) => match self.state {
                State::Idle => {
                    self.preferences = preferences.clone();
                    // Said only to a relay that knows it (else an unknown member).
                    self.urgent = urgent && self.config.urgency;
                    out.control(ClientFrame::Seek {
                        preferences,
                        urgent: self.urgent,
                    });
                    self.state = State::Seeking {
                        cancel_requested: false,
                    };
                    Ok(0)
                }
                _ => Err(ClientError::InvalidState("already seeking or chatting")),
            },
            SeekerCommand::Cancel => match &mut self.state {
                State::Seeking { cancel_requested } => {
                    if !*cancel_requested {
                        *cancel_requested = true;
                        out.control(ClientFrame::Cancel {});
                    }
                    Ok(0)
                }
                State::Skipping { cancelled, .. } => {
                    *cancelled = true;
                    Ok(0)
                }
                _ => Err(ClientError::InvalidState("not seeking")),
            },
            SeekerCommand::End => match std::mem::replace(&mut self.state, State::Idle) {
                State::Chatting {
                    chat, mut session, ..
                } => {
                    // The End record is what makes a clean ending distinguishable from
                    // truncation; if it cannot be sealed, the relay-level end still goes.
                    if let Ok(sealed) = session.seal(&Record::End) {
                        out.data(chat, sealed);
                    }
                    out.control(ClientFrame::End { chat });
                    out.event(SeekerEvent::Ended(EndReason::Local));
                    Ok(0)
                }
                State::Handshaking { chat, .. } => {
                    out.control(ClientFrame::End { chat });
                    out.event(SeekerEvent::Ended(EndReason::Local));
                    Ok(0)
                }
                other => {
                    self.state = other;
                    Err(ClientError::NoChat)
                }
            },
            SeekerCommand::SendText(text) => {
                let State::Chatting {
                    chat,
                    session,
                    sent,
                    ..
                } = &mut self.state
                else {
                    return Err(ClientError::NoChat);
                };
                let sealed = session
                    .seal(&Record::Text(text))
                    .map_err(ClientError::Encrypt)?;
                out.data(*chat, sealed);
                *sent = sent.saturating_add(1);
                Ok(*sent)
            }
            SeekerCommand::Typing(typing) => self.seal_simple(&Record::Typing(typing), out),
            SeekerCommand::MarkRead(count) => {
                let State::Chatting { received, .. } = &self.state else {
                    return Err(ClientError::NoChat);
                };
                // Never claim to have read more than arrived.
                let count = count.min(*received);
                self.seal_simple(&Record::Read(count), out)
            }
            SeekerCommand::SendResource(card) => self.seal_simple(&Record::Resource(card), out),
        }
    }

    fn seal_simple(&mut self, record: &Record, out: &mut Out) -> CommandResult {
        let State::Chatting { chat, session, .. } = &mut self.state else {
            return Err(ClientError::NoChat);
        };
        let sealed = session.seal(record).map_err(ClientError::Encrypt)?;
        out.data(*chat, sealed);
        Ok(0)
    }

    /// Feature `resume`: the socket was lost, or it is back.
    pub(crate) fn on_link(&mut self, change: LinkChange, out: &mut Out) {
        out.event(match change {
            LinkChange::Lost { grace } => SeekerEvent::ConnectionLost { grace },
            LinkChange::Resumed => SeekerEvent::Reconnected,
        });
    }

    /// The connection is gone: end any chat so the app is told.
    pub(crate) fn on_disconnect(&mut self, error: &ClientError, out: &mut Out) {
        if matches!(
            self.state,
            State::Handshaking { .. } | State::Chatting { .. }
        ) {
            out.event(SeekerEvent::Ended(EndReason::Failed(error.clone())));
        }
        self.state = State::Idle;
    }

    /// Ends `chat` at the relay because verification or decryption failed, and reports it.
    fn fail(&mut self, chat: ChatNumber, error: ClientError, out: &mut Out) {
        tracing::warn!(code = error.code(), "ending the chat: {error}");
        out.control(ClientFrame::End { chat });
        self.state = State::Idle;
        out.event(SeekerEvent::Ended(EndReason::Failed(error)));
    }
}
