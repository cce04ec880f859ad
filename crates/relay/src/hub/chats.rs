//! The hub's chat table: creating a chat from a match, ending it for every reason, and the
//! handshake and idle timeouts.

use std::sync::Arc;

use confidant_proto::{ChatEndReason, ChatNumber, Credential, ErrorCode, RelayFrame};
use tokio::time::Instant;

use super::{ConnKind, Hub};
use crate::data_path::{ChatLink, Side};
use crate::messages::{ConnCommand, ConnId, Route};
use confidant_matcher::{OfferKey, PeerId, SeekerId};

/// What becomes of the seeker when its chat ends.
#[derive(Clone, Copy)]
enum AfterEnd {
    /// Idle: it may `seek` again.
    Idle,
    /// Back in the queue where it stood (`pass`).
    Requeue,
}

/// A chat's relay-internal id (never on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ChatId(pub(crate) u64);

/// One running chat.
pub(crate) struct Chat {
    /// Seeker connection and its chat number.
    pub(crate) seeker: (ConnId, ChatNumber),
    /// Peer connection and its chat number.
    pub(crate) peer: (ConnId, ChatNumber),
    link: Arc<ChatLink>,
    started: Instant,
}

impl Hub {
    /// The chat `chat` names on `conn`, if any.
    pub(super) fn chat_of(&self, conn: ConnId, chat: ChatNumber) -> Option<ChatId> {
        self.conns.get(&conn)?.chats.get(&chat).copied()
    }

    /// Creates the chat for an accepted offer: routes first, then `chat_started` to the peer,
    /// then `matched` to the seeker, so no data can arrive before its route exists.
    pub(super) fn start_chat(&mut self, offer: OfferKey, seeker: SeekerId) {
        let seeker_conn = ConnId(seeker.0);
        let peer_conn = ConnId(offer.peer.0);
        let credential = match self.conns.get(&peer_conn).map(|e| &e.kind) {
            Some(ConnKind::Peer { program, peer }) => Credential {
                issuer_certificate: peer.issuer_certificate.clone().into(),
                supporter_certificate: peer.supporter_certificate.clone().into(),
                revocation_list: self
                    .shared
                    .store
                    .current(program)
                    .map(|list| list.bytes.to_vec())
                    .unwrap_or_default()
                    .into(),
            },
            _ => {
                // The peer vanished between the decision and now: undo the capacity.
                let actions =
                    self.matcher
                        .chat_ended(seeker, offer.peer, Instant::now().into_std());
                self.apply(actions);
                return;
            }
        };
        let (Some(seeker_outbox), Some(peer_outbox)) = (
            self.conns.get(&seeker_conn).map(|e| e.outbox.clone()),
            self.conns.get(&peer_conn).map(|e| e.outbox.clone()),
        ) else {
            let actions = self
                .matcher
                .chat_ended(seeker, offer.peer, Instant::now().into_std());
            self.apply(actions);
            return;
        };
        let (seeker_features, peer_features) =
            match (self.conns.get(&seeker_conn), self.conns.get(&peer_conn)) {
                (Some(seeker), Some(peer)) => (
                    seeker.chat_features.member_for(&peer.chat_features),
                    peer.chat_features.member_for(&seeker.chat_features),
                ),
                _ => (None, None),
            };
        let chat_id = ChatId(self.next_chat_id);
        self.next_chat_id += 1;
        let link = Arc::new(ChatLink::new(
            self.shared.limits().chat_buffer_frames,
            self.shared.now_ms(),
        ));
        let seeker_chat = match self.conns.get_mut(&seeker_conn) {
            Some(entry) => {
                let chat = entry.allocate_chat();
                entry.chats.insert(chat, chat_id);
                chat
            }
            None => return,
        };
        let peer_chat = match self.conns.get_mut(&peer_conn) {
            Some(entry) => {
                let chat = entry.allocate_chat();
                entry.chats.insert(chat, chat_id);
                chat
            }
            None => return,
        };
        if let Some(entry) = self.conns.get(&seeker_conn) {
            entry.command(ConnCommand::AddChat(
                seeker_chat,
                Box::new(Route {
                    link: link.clone(),
                    side: Side::Seeker,
                    partner: peer_outbox,
                    partner_chat: peer_chat,
                }),
            ));
        }
        if let Some(entry) = self.conns.get(&peer_conn) {
            entry.command(ConnCommand::AddChat(
                peer_chat,
                Box::new(Route {
                    link: link.clone(),
                    side: Side::Peer,
                    partner: seeker_outbox,
                    partner_chat: seeker_chat,
                }),
            ));
            entry.send(&RelayFrame::ChatStarted {
                chat: peer_chat,
                offer: offer.number,
                chat_features: peer_features,
            });
        }
        if let Some(entry) = self.conns.get(&seeker_conn) {
            entry.send(&RelayFrame::Matched {
                chat: seeker_chat,
                credential,
                chat_features: seeker_features,
            });
        }
        self.chats.insert(
            chat_id,
            Chat {
                seeker: (seeker_conn, seeker_chat),
                peer: (peer_conn, peer_chat),
                link,
                started: Instant::now(),
            },
        );
        tracing::debug!(kind = "chat_started", "chat started");
    }

    /// `end` (or `block` by the peer) from `conn`.
    pub(super) fn end_by(&mut self, chat_id: ChatId, conn: ConnId, block: bool) {
        let Some(chat) = self.chats.get(&chat_id) else {
            return;
        };
        let by_seeker = chat.seeker.0 == conn;
        // A block, or a seeker's `end` before its msg1 (its client refused the peer's
        // credential or department, without saying which), keeps this peer from being
        // offered this connection again. A chat that ran excludes nobody.
        if block || (by_seeker && !chat.link.sent_by(Side::Seeker)) {
            self.matcher
                .exclude(SeekerId(chat.seeker.0.0), PeerId(chat.peer.0.0));
        }
        let (to_seeker, to_peer) = match (block, by_seeker) {
            (true, _) => (ChatEndReason::Blocked, ChatEndReason::Blocked),
            (false, true) => (ChatEndReason::Ended, ChatEndReason::PartnerEnded),
            (false, false) => (ChatEndReason::PartnerEnded, ChatEndReason::Ended),
        };
        self.end_chat(chat_id, to_seeker, to_peer);
    }

    /// `pass` from `conn` (feature `pass`): the seeker refuses the peer before its msg1 and
    /// goes back to the queue at the place it held, that peer excluded. The chat ends as
    /// after an `end` (`ended` to the seeker, `partner_ended` to the peer), so the peer
    /// learns nothing new; the relay learns no reason. A `pass` after msg1 is
    /// `unexpected_frame`: that chat ran, and only a broken client would pass it.
    pub(super) fn pass_by(&mut self, chat_id: ChatId, conn: ConnId) {
        let Some(chat) = self.chats.get(&chat_id) else {
            return;
        };
        if chat.seeker.0 != conn || chat.link.sent_by(Side::Seeker) {
            self.send_error(conn, ErrorCode::UnexpectedFrame);
            return;
        }
        self.end_chat_then(
            chat_id,
            ChatEndReason::Ended,
            ChatEndReason::PartnerEnded,
            AfterEnd::Requeue,
        );
    }

    /// Ends a chat: both sides told (under the link's lock, so no data follows the notice),
    /// routes removed, capacity freed, every trace of the chat dropped.
    pub(super) fn end_chat(
        &mut self,
        chat_id: ChatId,
        to_seeker: ChatEndReason,
        to_peer: ChatEndReason,
    ) {
        self.end_chat_then(chat_id, to_seeker, to_peer, AfterEnd::Idle);
    }

    fn end_chat_then(
        &mut self,
        chat_id: ChatId,
        to_seeker: ChatEndReason,
        to_peer: ChatEndReason,
        after: AfterEnd,
    ) {
        let Some(chat) = self.chats.remove(&chat_id) else {
            return;
        };
        let seeker_entry = self.conns.get(&chat.seeker.0);
        let peer_entry = self.conns.get(&chat.peer.0);
        chat.link.end(|| {
            if let Some(entry) = seeker_entry {
                entry.send(&RelayFrame::ChatEnded {
                    chat: chat.seeker.1,
                    reason: to_seeker,
                });
            }
            if let Some(entry) = peer_entry {
                entry.send(&RelayFrame::ChatEnded {
                    chat: chat.peer.1,
                    reason: to_peer,
                });
            }
        });
        for (conn, number) in [chat.seeker, chat.peer] {
            if let Some(entry) = self.conns.get_mut(&conn) {
                entry.chats.remove(&number);
                entry.command(ConnCommand::RemoveChat(number));
            }
        }
        tracing::debug!(kind = "chat_ended", reason = ?to_peer, "chat ended");
        crate::metrics::chat_ended(to_seeker, chat.started.elapsed());
        let (seeker, peer) = (SeekerId(chat.seeker.0.0), PeerId(chat.peer.0.0));
        let now = Instant::now().into_std();
        let actions = match after {
            AfterEnd::Idle => self.matcher.chat_ended(seeker, peer, now),
            // The wait histogram counted this seeker's wait at the match; its second
            // match is not counted again.
            AfterEnd::Requeue => self.matcher.pass(seeker, peer, now),
        };
        self.apply(actions);
    }

    /// The earliest handshake or idle deadline of any chat.
    pub(super) fn chats_next_deadline(&self) -> Option<Instant> {
        self.chats
            .values()
            .map(|chat| self.chat_deadline(chat))
            .min()
    }

    fn chat_deadline(&self, chat: &Chat) -> Instant {
        let limits = self.shared.limits();
        if chat.link.both_sent() {
            let last =
                self.shared.epoch + std::time::Duration::from_millis(chat.link.last_activity_ms());
            last + limits.idle_timeout
        } else {
            chat.started + limits.chat_handshake_timeout
        }
    }

    /// Ends chats whose handshake or idle deadline passed.
    pub(super) fn expire_chats(&mut self, now: Instant) {
        let expired: Vec<(ChatId, ChatEndReason)> = self
            .chats
            .iter()
            .filter(|(_, chat)| self.chat_deadline(chat) <= now)
            .map(|(id, chat)| {
                let reason = if chat.link.both_sent() {
                    ChatEndReason::IdleTimeout
                } else {
                    ChatEndReason::HandshakeTimeout
                };
                (*id, reason)
            })
            .collect();
        for (chat_id, reason) in expired {
            self.end_chat(chat_id, reason, reason);
        }
    }
}
