//! Presence: this node's peers out each heartbeat under tokens of their own, other nodes'
//! peers in — checked (by the caller, off the loop), registered as virtual connections,
//! kept up to date, and let go when their node no longer lists them.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use confidant_proto::limits::MAX_CAPACITY;
use confidant_proto::{Availability, Base64Bytes};

use super::{Action, ClusterCore, LocalPeer, Note, Party, PartyKind, ToHub, VirtualParty};
use crate::cluster::wire::{PeerPresence, Presence};

impl ClusterCore {
    /// The hub's snapshot for the next presence (after `Action::SnapshotPresence`).
    /// `lists`: each program's newest revocation list.
    pub(crate) fn send_presence(
        &mut self,
        peers: Vec<LocalPeer>,
        heads: Vec<(String, usize, u64)>,
        lists: Vec<(String, Base64Bytes)>,
    ) {
        let mut out = Vec::new();
        let mut tokens = HashMap::new();
        let mut by_token = HashMap::new();
        for peer in peers {
            if self.parties.contains_key(&peer.party) {
                continue; // another node's peer: never presented as ours
            }
            let token = match self.local_tokens.get(&peer.party) {
                Some(token) => token.clone(),
                None => self.fresh(),
            };
            tokens.insert(peer.party, token.clone());
            by_token.insert(token.clone(), (peer.party, peer.program.clone()));
            out.push(PeerPresence {
                token,
                program: peer.program,
                issuer_certificate: peer.issuer_certificate.into(),
                supporter_certificate: peer.supporter_certificate.into(),
                available: peer.available,
                free: peer.free,
                topics: peer.topics,
                languages: peer.languages,
            });
        }
        self.local_tokens = tokens;
        self.local_by_token = by_token;
        let presence = Presence {
            node: self.me.clone(),
            draining: self.draining,
            peers: out,
            lists,
            heads,
            leaving: false,
        };
        self.push(Action::Presence(presence));
    }

    /// Another node's presence (its peers of programs this node does not serve, and its
    /// revocation lists, already dealt with by the caller).
    pub(crate) fn handle_presence(&mut self, presence: Presence, now: Instant) {
        if presence.node == self.me {
            return;
        }
        if presence.leaving {
            if self.nodes.known.remove(&presence.node).is_some() {
                self.push(Action::Note(Note::NodeLeft));
                self.close_node(&presence.node);
            }
            return;
        }
        let (known, returned) = self.nodes.heard(&presence.node, now);
        let mut seen = HashSet::new();
        let mut to_verify = Vec::new();
        let mut updates = Vec::new();
        for peer in presence.peers {
            seen.insert(peer.token.clone());
            if let Some(party) = known.peers.get(&peer.token) {
                updates.push((*party, peer));
                continue;
            }
            if known.rejected.contains(&peer.token) {
                continue;
            }
            // A peer not seen before: its certificates are checked here (never trusted to
            // the other node), off the node loop. Until then the newest presence is kept.
            if !known.verifying.contains_key(&peer.token) {
                to_verify.push(peer.clone());
            }
            known
                .verifying
                .insert(peer.token.clone(), (peer, presence.draining));
        }
        let mut removed = Vec::new();
        known.peers.retain(|token, party| {
            let keep = seen.contains(token);
            if !keep {
                removed.push(*party);
            }
            keep
        });
        known.verifying.retain(|token, _| seen.contains(token));
        known.rejected.retain(|token| seen.contains(token));
        if returned {
            self.push(Action::Note(Note::NodeReturned));
        }
        for (party, peer) in updates {
            if let Some(VirtualParty {
                kind: PartyKind::RemotePeer { last, refused, .. },
                ..
            }) = self.parties.get_mut(&party)
            {
                *last = Some((peer, presence.draining));
                *refused = false;
            }
            self.availability(party);
        }
        if !to_verify.is_empty() {
            self.push(Action::Verify {
                node: presence.node.clone(),
                peers: to_verify,
            });
        }
        // The other node's queue heads, for the queue-head hold (ages as that node
        // measured them: no clock needs to agree).
        let heads = presence
            .heads
            .iter()
            .filter(|(_, waiting, _)| *waiting > 0)
            .map(|(program, _, oldest_ms)| (program.clone(), Duration::from_millis(*oldest_ms)))
            .collect();
        self.push(Action::Hub(ToHub::RemoteHeads {
            node: presence.node,
            heads,
            hold: self.settings.heartbeat * 2,
        }));
        removed.sort();
        for party in removed {
            self.push(Action::Close(party));
        }
    }

    /// Certificates checked after `Action::Verify`: each peer that passed, and that `node`
    /// still lists with the same certificates, is to be registered (`OpenRemotePeer`); one
    /// that failed is not checked again while its node lists it.
    pub(crate) fn handle_verified(&mut self, node: &str, results: Vec<(PeerPresence, bool)>) {
        for (checked, ok) in results {
            let Some(known) = self.nodes.known.get_mut(node) else {
                return; // let go meanwhile; its next presence starts over
            };
            let Some((latest, draining)) = known.verifying.remove(&checked.token) else {
                continue; // no longer listed
            };
            if latest.issuer_certificate != checked.issuer_certificate
                || latest.supporter_certificate != checked.supporter_certificate
            {
                continue; // changed meanwhile: the next presence has it checked afresh
            }
            if !ok {
                known.rejected.insert(checked.token);
                continue;
            }
            self.push(Action::OpenRemotePeer {
                node: node.to_owned(),
                peer: latest,
                draining,
            });
        }
    }

    /// The virtual connection for remote peer `peer` of `node` is registered as `party`.
    pub(crate) fn remote_peer_opened(
        &mut self,
        node: &str,
        peer: PeerPresence,
        draining: bool,
        party: Party,
    ) {
        self.parties.insert(
            party,
            VirtualParty {
                node: node.to_owned(),
                kind: PartyKind::RemotePeer {
                    token: peer.token.clone(),
                    last: None,
                    refused: false,
                },
            },
        );
        match self.nodes.known.get_mut(node) {
            Some(known) => {
                known.peers.insert(peer.token.clone(), party);
                if let Some(VirtualParty {
                    kind: PartyKind::RemotePeer { last, .. },
                    ..
                }) = self.parties.get_mut(&party)
                {
                    *last = Some((peer, draining));
                }
                self.availability(party);
            }
            None => self.push(Action::Close(party)), // let go meanwhile
        }
    }

    /// The remote peer's availability as this node's matcher should see it: available only
    /// while its own node reports free capacity; our own chats and offers with it on top,
    /// since the matcher counts those against the capacity it is given.
    pub(super) fn availability(&mut self, party: Party) {
        let Some(VirtualParty {
            kind:
                PartyKind::RemotePeer {
                    last: Some((peer, draining)),
                    refused,
                    ..
                },
            ..
        }) = self.parties.get(&party)
        else {
            return;
        };
        let ours = self.chat_of.keys().filter(|(p, _)| *p == party).count()
            + self.reservations.outgoing_of(party).count()
            + self.accepted.keys().filter(|(p, _)| *p == party).count();
        let capacity = (usize::from(peer.free) + ours).clamp(1, usize::from(MAX_CAPACITY));
        let status = if peer.available && peer.free > 0 && !*refused && !*draining {
            Availability::Available
        } else {
            Availability::Away
        };
        let action = ToHub::Availability {
            party,
            status,
            capacity: u16::try_from(capacity).unwrap_or(MAX_CAPACITY),
            topics: peer.topics.clone(),
            languages: peer.languages.clone(),
        };
        self.push(Action::Hub(action));
    }
}
