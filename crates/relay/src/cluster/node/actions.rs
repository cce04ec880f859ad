//! Carrying out the core's actions: publishing, asking and telling the hub, opening and
//! closing virtual connections, checking certificates off the loop, and counting.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::Node;
use crate::chat_features::ChatFeatures;
use crate::cluster::core::{Action, LocalPeer, Note, Party, ToHub, Token};
use crate::cluster::virtual_conn::{self, Input, ToParty};
use crate::cluster::wire::{self, NodeMessage, ReserveReply};
use crate::credentials::verify_presented;
use crate::messages::{ClusterEvent, ConnId, HubEvent};

impl Node {
    /// Carries out everything the core asked for.
    pub(super) async fn execute(&mut self) {
        while let Some(action) = self.core.poll_action() {
            self.act(action).await;
        }
        #[allow(clippy::cast_precision_loss)] // small counts
        {
            metrics::gauge!(crate::cluster::NODES).set(self.core.nodes() as f64);
            metrics::gauge!(crate::cluster::REMOTE_PEERS).set(self.core.remote_peers() as f64);
            metrics::gauge!(crate::cluster::CROSS_NODE_CHATS).set(self.core.chats() as f64);
        }
    }

    pub(super) async fn publish(&self, subject: String, payload: Bytes) {
        if let Err(error) = self.ctx.client.publish(subject, payload).await {
            tracing::debug!(%error, "cluster publish failed");
        }
    }

    pub(super) async fn hub(&self, event: HubEvent) {
        let _ = self.ctx.shared.hub.send(event).await;
    }

    pub(super) async fn act(&mut self, action: Action) {
        match action {
            Action::SnapshotPresence => self.snapshot_presence().await,
            Action::Presence(presence) => {
                let payload = serde_json::to_vec(&presence).unwrap_or_default();
                let subject = wire::presence_subject(&self.ctx.prefix);
                self.publish(subject, payload.into()).await;
            }
            Action::ToNode { node, message } => {
                let subject = wire::inbox_subject(&self.ctx.prefix, &node);
                let payload = serde_json::to_vec(&message).unwrap_or_default();
                self.publish(subject, payload.into()).await;
            }
            Action::Request { node, message } => self.request(&node, &message),
            Action::Answer { reference, granted } => {
                let Some(reply) = self.replies.remove(&reference) else {
                    return;
                };
                let payload = serde_json::to_vec(&ReserveReply { granted }).unwrap_or_default();
                let client = self.ctx.client.clone();
                let delay = self.ctx.faults.matched_delay;
                let answer = async move {
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                    let _ = client.publish(reply, payload.into()).await;
                };
                match delay {
                    Some(_) => {
                        tokio::spawn(answer);
                    }
                    None => answer.await,
                }
            }
            Action::EndChat { node, chat, reason } => {
                let subject = wire::chat_subject(&self.ctx.prefix, &node, &chat);
                self.publish(subject, wire::encode_end(reason)).await;
            }
            Action::Verify { node, peers } => self.verify_new_peers(node, peers),
            Action::OpenRemotePeer {
                node,
                peer,
                draining,
            } => self.open_peer(node, peer, draining).await,
            Action::OpenRemoteSeeker {
                reference,
                from,
                program,
            } => match self.ctx.faults.reserve_delay {
                Some(delay) => {
                    let input = self.input.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = input.send(Input::ReserveReady {
                            reference,
                            from,
                            program,
                        });
                    });
                }
                None => self.open_seeker(reference, from, program).await,
            },
            Action::AskWaited { party, offer } => {
                let hub = self.ctx.shared.hub.clone();
                let input = self.input.clone();
                // The answer comes back as an input, so this task never waits on the hub.
                tokio::spawn(async move {
                    let (tx, rx) = oneshot::channel();
                    let asked = HubEvent::Cluster(ClusterEvent::OfferWaited {
                        conn: ConnId(party.0),
                        offer,
                        reply: tx,
                    });
                    let waited = match hub.send(asked).await {
                        Ok(()) => rx.await.unwrap_or_default(),
                        Err(_) => Duration::ZERO,
                    };
                    let _ = input.send(Input::Waited {
                        party,
                        offer,
                        waited,
                    });
                });
            }
            Action::Hub(to_hub) => self.tell_hub(to_hub).await,
            Action::Close(party) => {
                if let Some(handle) = self.parties.get(&party) {
                    handle.gone.cancel();
                }
            }
            Action::ExpectChat {
                party,
                offer,
                token,
            } => {
                self.early.entry(token.clone()).or_default();
                if let Some(handle) = self.parties.get(&party) {
                    let _ = handle.to_party.send(ToParty::Accepted { offer, token });
                }
            }
            Action::UnbindChat(token) => {
                self.chats.remove(&token);
                self.early.remove(&token);
                self.overflowed.remove(&token);
            }
            Action::Note(note) => note_it(note),
        }
    }

    pub(super) async fn tell_hub(&mut self, to_hub: ToHub) {
        let event = match to_hub {
            ToHub::Availability {
                party,
                status,
                capacity,
                topics,
                languages,
            } => HubEvent::Frame {
                conn: ConnId(party.0),
                frame: confidant_proto::ClientFrame::SetAvailability {
                    status,
                    capacity,
                    topics,
                    languages,
                    auto_accept: false,
                },
            },
            ToHub::Accept { party, offer } => {
                let event = HubEvent::Frame {
                    conn: ConnId(party.0),
                    frame: confidant_proto::ClientFrame::Accept { offer },
                };
                if let Some(delay) = self.ctx.faults.accept_delay {
                    let hub = self.ctx.shared.hub.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = hub.send(event).await;
                    });
                    return;
                }
                event
            }
            ToHub::Decline { party, offer } => HubEvent::Frame {
                conn: ConnId(party.0),
                frame: confidant_proto::ClientFrame::Decline { offer },
            },
            ToHub::OfferRefused { party, offer } => HubEvent::Cluster(ClusterEvent::OfferRefused {
                conn: ConnId(party.0),
                offer,
            }),
            ToHub::RemoteOffer {
                reference,
                seeker,
                peer,
                preferences,
                waited,
                from,
            } => {
                let (tx, rx) = oneshot::channel();
                let event = ClusterEvent::RemoteOffer {
                    conn: ConnId(seeker.0),
                    peer: ConnId(peer.0),
                    preferences,
                    waited,
                    from,
                    reply: tx,
                };
                self.hub(HubEvent::Cluster(event)).await;
                let input = self.input.clone();
                // Decided by the hub while this task goes on reading (a `withdraw` of this
                // very reservation, in particular).
                tokio::spawn(async move {
                    let granted = rx.await.unwrap_or(false);
                    let _ = input.send(Input::Grant { reference, granted });
                });
                return;
            }
            ToHub::RemoteHeads { node, heads, hold } => {
                HubEvent::Cluster(ClusterEvent::RemoteHeads { node, heads, hold })
            }
        };
        self.hub(event).await;
    }

    pub(super) async fn snapshot_presence(&mut self) {
        if self.ctx.faults.muted() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        let asked = HubEvent::Cluster(ClusterEvent::Presence(tx));
        if self.ctx.shared.hub.send(asked).await.is_err() {
            return;
        }
        let Ok(snapshot) = rx.await else {
            return;
        };
        let peers = snapshot
            .peers
            .into_iter()
            .map(|peer| LocalPeer {
                party: Party(peer.conn.0),
                program: peer.program,
                issuer_certificate: peer.issuer_certificate,
                supporter_certificate: peer.supporter_certificate,
                available: peer.available,
                free: peer.free,
                topics: peer.topics,
                languages: peer.languages,
            })
            .collect();
        let shared = &self.ctx.shared;
        let lists = shared
            .programs()
            .iter()
            .filter_map(|p| {
                shared
                    .store
                    .current(&p.id)
                    .map(|list| (p.id.clone(), list.bytes.to_vec().into()))
            })
            .collect();
        self.core.send_presence(peers, snapshot.heads, lists);
    }

    /// The seeker's node asks for a reservation: request/reply, the answer back as an
    /// input. The core keeps its own deadline; an answer after it is moot.
    pub(super) fn request(&self, node: &str, message: &NodeMessage) {
        let NodeMessage::Reserve { offer, .. } = message else {
            return;
        };
        let reference = offer.clone();
        let client = self.ctx.client.clone();
        let subject = wire::inbox_subject(&self.ctx.prefix, node);
        let payload = serde_json::to_vec(message).unwrap_or_default();
        let timeout = self.config.request_timeout;
        let input = self.input.clone();
        tokio::spawn(async move {
            let answer = tokio::time::timeout(timeout, client.request(subject, payload.into()));
            let granted = match answer.await {
                Ok(Ok(reply)) => Some(
                    serde_json::from_slice::<ReserveReply>(&reply.payload)
                        .map(|r| r.granted)
                        .unwrap_or(false),
                ),
                // Timed out here: the core's own deadline decides (it may be a moment later).
                Err(_) => return,
                Ok(Err(_)) => None,
            };
            let _ = input.send(Input::ReserveAnswer { reference, granted });
        });
    }

    /// Checks the certificates of peers first heard of in `node`'s presence on the blocking
    /// pool, and hands the results back as an input. Signature checks cost CPU in
    /// proportion to the peers a node brings (a node joining with a thousand peers, or any
    /// number in a debug build); done on the loop, they delayed this node's own heartbeat
    /// past the other nodes' TTL, and they let it go while it was alive.
    pub(super) fn verify_new_peers(&self, node: Token, peers: Vec<wire::PeerPresence>) {
        let shared = self.ctx.shared.clone();
        let done = self.input.clone();
        tokio::task::spawn_blocking(move || {
            let now_unix = shared.clock.now_unix();
            let results = peers
                .into_iter()
                .map(|peer| {
                    let verified = shared.program(&peer.program).and_then(|config| {
                        verify_presented(
                            &config,
                            &shared.store,
                            now_unix,
                            peer.issuer_certificate.as_bytes(),
                            peer.supporter_certificate.as_bytes(),
                            &[],
                        )
                        .ok()
                        .map(|(verified, _)| verified)
                    });
                    (peer, verified)
                })
                .collect();
            let _ = done.send(Input::Verified { node, results });
        });
    }

    /// Registers a verified remote peer as a virtual connection.
    pub(super) async fn open_peer(
        &mut self,
        node: Token,
        peer: wire::PeerPresence,
        draining: bool,
    ) {
        let Some(verified) = self.verified.remove(&(node.clone(), peer.token.clone())) else {
            return;
        };
        let Some((party, handle, run)) = virtual_conn::open(&self.ctx, &node, false).await else {
            return;
        };
        let conn = ConnId(party.0);
        // Cross-node chats carry no chat features yet: both sides agree on none.
        self.hub(HubEvent::PeerVerified {
            conn,
            program: peer.program.clone(),
            peer: Box::new(verified),
            chat_features: ChatFeatures::default(),
            resume: false,
            urgency: false,
        })
        .await;
        self.hub(HubEvent::Cluster(ClusterEvent::RemotePeer { conn }))
            .await;
        self.ctx.shared.tracker.spawn(run);
        self.parties.insert(party, handle);
        self.core.remote_peer_opened(&node, peer, draining, party);
    }

    /// The peer's node: registers the remote seeker of reservation `reference`.
    pub(super) async fn open_seeker(&mut self, reference: Token, from: Token, program: String) {
        let opened = virtual_conn::open(&self.ctx, &from, true).await;
        let party = match opened {
            Some((party, handle, run)) => {
                self.hub(HubEvent::SeekerJoined {
                    conn: ConnId(party.0),
                    program,
                    chat_features: ChatFeatures::default(),
                    // A remote seeker is never queued here: no `queued` to send.
                    queue_none: false,
                    resume: false,
                })
                .await;
                self.ctx.shared.tracker.spawn(run);
                self.parties.insert(party, handle);
                Some(party)
            }
            None => None,
        };
        self.core.seeker_opened(&reference, party);
    }
}

fn note_it(note: Note) {
    match note {
        Note::NodeLost => {
            tracing::warn!(
                kind = "cluster_node_lost",
                "cluster: a node stopped answering"
            );
            metrics::counter!(crate::cluster::NODES_LOST).increment(1);
        }
        Note::NodeLeft => {
            tracing::info!(kind = "cluster_node_left", "cluster: a node shut down");
            metrics::counter!(crate::cluster::NODES_LEFT).increment(1);
        }
        Note::NodeReturned => {
            tracing::warn!(
                kind = "cluster_node_returned",
                "cluster: a node let go at the TTL was alive after all; its chats here ended for nothing (is cluster.node_ttl_ms too tight for this machine and broker?)"
            );
            metrics::counter!(crate::cluster::NODES_RETURNED).increment(1);
        }
        Note::ReservationGranted => {
            metrics::counter!(crate::cluster::RESERVATIONS, "result" => "granted").increment(1);
        }
        Note::ReservationRefused => {
            metrics::counter!(crate::cluster::RESERVATIONS, "result" => "refused").increment(1);
        }
        Note::ReservationUnanswered => {
            metrics::counter!(crate::cluster::RESERVATIONS, "result" => "error").increment(1);
            tracing::debug!(
                kind = "cluster_reserve_timeout",
                "cluster: reservation not answered in time; withdrawn"
            );
        }
        Note::MatchedUnknown => tracing::debug!(
            kind = "cluster_matched_unknown",
            "cluster: matched for an offer no longer open; chat ended"
        ),
        Note::GrantWithdrawn => tracing::debug!(
            kind = "cluster_reserve_withdrawn",
            "cluster: reservation withdrawn before it was granted"
        ),
    }
}
