//! Turns the matcher's actions into frames on the right outboxes.

use confidant_proto::RelayFrame;

use super::{ConnId, Hub};
use confidant_matcher::Action;

impl Hub {
    /// Carries out matcher actions in order.
    pub(super) fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Queued {
                    seeker,
                    position,
                    peers_online,
                    estimate_secs,
                    none,
                } => {
                    let conn = ConnId(seeker.0);
                    // Feature `queue-none`: only to seekers that asked for it.
                    let none = none.filter(|_| self.conns.get(&conn).is_some_and(|e| e.queue_none));
                    self.send(
                        conn,
                        &RelayFrame::Queued {
                            position,
                            peers_online,
                            estimate_secs,
                            none,
                        },
                    );
                }
                Action::Offer {
                    offer,
                    topic,
                    language,
                    urgent,
                    expires_in,
                    ..
                } => {
                    metrics::counter!(crate::metrics::OFFERS).increment(1);
                    // Feature `urgency`: only to a peer that agreed on it.
                    let urgent = urgent
                        && self
                            .conns
                            .get(&ConnId(offer.peer.0))
                            .is_some_and(|entry| entry.urgency);
                    self.send(
                        ConnId(offer.peer.0),
                        &RelayFrame::Offer {
                            offer: offer.number,
                            topic,
                            language,
                            expires_in_ms: u32::try_from(expires_in.as_millis())
                                .unwrap_or(u32::MAX),
                            urgent,
                        },
                    );
                }
                Action::OfferWithdrawn { offer, reason } => self.send(
                    ConnId(offer.peer.0),
                    &RelayFrame::OfferWithdrawn {
                        offer: offer.number,
                        reason,
                    },
                ),
                Action::Matched { offer, seeker } => {
                    let waited = self
                        .seek_started
                        .remove(&ConnId(seeker.0))
                        .map(|since| since.elapsed());
                    crate::metrics::matched(waited);
                    self.start_chat(offer, seeker);
                }
                Action::NoPeer { seeker, reason } => {
                    self.seek_started.remove(&ConnId(seeker.0));
                    crate::metrics::no_peer(reason);
                    let resources = self.resources_of(ConnId(seeker.0));
                    self.send(ConnId(seeker.0), &RelayFrame::NoPeer { reason, resources });
                }
                Action::Cancelled { seeker } => {
                    self.seek_started.remove(&ConnId(seeker.0));
                    self.send(ConnId(seeker.0), &RelayFrame::Cancelled {});
                }
                Action::AvailabilitySet {
                    peer,
                    status,
                    capacity,
                    active_chats,
                } => self.send(
                    ConnId(peer.0),
                    &RelayFrame::AvailabilitySet {
                        status,
                        capacity,
                        active_chats,
                    },
                ),
            }
        }
    }

    fn send(&self, conn: ConnId, frame: &RelayFrame) {
        if let Some(entry) = self.conns.get(&conn) {
            entry.send(frame);
        }
    }

    fn resources_of(&self, conn: ConnId) -> Vec<confidant_proto::Resource> {
        match self.conns.get(&conn).map(|e| &e.kind) {
            Some(super::ConnKind::Seeker { program }) => self
                .shared
                .program(program)
                .map(|p| p.resources.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}
