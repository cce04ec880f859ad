//! Scale-out hooks: what the cluster module (`crate::cluster`) asks of the hub.
//!
//! A party on another node is a *virtual connection* here: it has a `ConnId`, an outbox
//! and a command channel like any WebSocket, and is registered with the ordinary
//! `Connected` / `SeekerJoined` / `PeerVerified` / `Frame` / `Disconnected` events; the
//! cluster module drives it and turns what the hub queues on its outbox into broker
//! messages. The hub itself only needs the few events below.

use confidant_proto::{Availability, ChatEndReason};
use tokio::time::Instant;

use super::{ConnKind, Hub};
use crate::messages::{ClusterEvent, ConnId, LocalPeer, PresenceSnapshot};
use confidant_matcher::{PeerId, SeekerId};

impl Hub {
    pub(super) fn on_cluster(&mut self, event: ClusterEvent, now: Instant) {
        let std_now = now.into_std();
        match event {
            ClusterEvent::RemoteOffer {
                conn,
                peer,
                preferences,
                waited,
                from,
                reply,
            } => {
                // A remote seeker already gone (its reservation withdrawn, its node lost) is
                // never granted: its peer would get a chat nobody joins. (A withdrawal that
                // arrives before the hub is asked is the cluster core's to refuse.)
                if !self.conns.contains_key(&conn) {
                    tracing::debug!(
                        kind = "cluster_reserve_withdrawn",
                        "cluster: reservation withdrawn before it was granted"
                    );
                    let _ = reply.send(false);
                    return;
                }
                let result = self.matcher.remote_offer_waited(
                    SeekerId(conn.0),
                    PeerId(peer.0),
                    preferences,
                    waited,
                    &from,
                    std_now,
                );
                match result {
                    Ok(actions) => {
                        let _ = reply.send(true);
                        self.apply(actions);
                    }
                    Err(_) => {
                        let _ = reply.send(false);
                    }
                }
            }
            ClusterEvent::OfferRefused { conn, offer } => {
                if let Ok(actions) = self.matcher.offer_refused(PeerId(conn.0), offer, std_now) {
                    self.apply(actions);
                }
            }
            ClusterEvent::RemoteEnded { conn, chat, reason } => {
                if let Some(chat_id) = self.chat_of(conn, chat) {
                    // A remote peer blocked a local seeker: as for a local block, never
                    // offered that connection again.
                    if reason == ChatEndReason::Blocked
                        && let Some(ended) = self.chats.get(&chat_id)
                    {
                        self.matcher
                            .exclude(SeekerId(ended.seeker.0.0), PeerId(ended.peer.0.0));
                    }
                    // The remote side already knows; what it is sent back is dropped.
                    self.end_chat_one_side(chat_id, conn, reason);
                }
            }
            ClusterEvent::RemotePeer { conn } => self.matcher.set_peer_remote(PeerId(conn.0)),
            ClusterEvent::RemoteHeads { node, heads, hold } => {
                let actions = self.matcher.remote_heads(&node, &heads, hold, std_now);
                self.apply(actions);
            }
            ClusterEvent::OfferWaited { conn, offer, reply } => {
                let waited = self
                    .matcher
                    .offer_waited(PeerId(conn.0), offer, std_now)
                    .unwrap_or_default();
                let _ = reply.send(waited);
            }
            ClusterEvent::Presence(reply) => {
                let _ = reply.send(self.presence_snapshot(std_now));
            }
        }
    }

    fn end_chat_one_side(&mut self, chat_id: super::ChatId, remote: ConnId, reason: ChatEndReason) {
        let Some(chat) = self.chats.get(&chat_id) else {
            return;
        };
        if chat.seeker.0 == remote {
            self.end_chat(chat_id, ChatEndReason::PartnerLeft, reason);
        } else {
            self.end_chat(chat_id, reason, ChatEndReason::PartnerLeft);
        }
    }

    fn presence_snapshot(&self, now: std::time::Instant) -> PresenceSnapshot {
        let mut peers = Vec::new();
        for (conn, entry) in &self.conns {
            let ConnKind::Peer { program, peer } = &entry.kind else {
                continue;
            };
            // A virtual peer (another node's peer) is never presented as ours: echoed
            // back, its own node would count it twice. Decided here, where the hub knows
            // it, not by the cluster module after the fact (a virtual peer whose task just
            // ended is still in the hub until its `Disconnected` is handled).
            if self.matcher.is_peer_remote(PeerId(conn.0)) {
                continue;
            }
            let Some((availability, load)) = self.matcher.peer_state(PeerId(conn.0)) else {
                continue;
            };
            let capacity = usize::from(availability.capacity);
            peers.push(LocalPeer {
                conn: *conn,
                program: program.clone(),
                issuer_certificate: peer.issuer_certificate.clone(),
                supporter_certificate: peer.supporter_certificate.clone(),
                available: availability.status == Availability::Available,
                free: u16::try_from(capacity.saturating_sub(load)).unwrap_or(u16::MAX),
                topics: availability.topics,
                languages: availability.languages,
            });
        }
        let heads = self
            .matcher
            .queue_heads(now)
            .into_iter()
            .map(|(program, waiting, oldest)| {
                (
                    program,
                    waiting,
                    u64::try_from(oldest.as_millis()).unwrap_or(u64::MAX),
                )
            })
            .collect();
        PresenceSnapshot { peers, heads }
    }
}
